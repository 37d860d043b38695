//! The topic table (`TopicConfigManager`): built-in topics, auto-creation from `TBW102`
//! (spec §9.2), `topics.json` persisted atomically on every change, and a change signal that makes
//! the broker re-register with the name servers at once. The registrar reports back which table
//! version the name servers were sent, so UPDATE_AND_CREATE_TOPIC can answer only once the route
//! exists (as Java's broker does: `mqadmin updateTopic` followed at once by `updateTopicPerm` or a
//! producer must find the topic).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use remoting::body::topic::{TopicConfig, TopicConfigSerializeWrapper, perm};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::BrokerConfig;
use crate::error::Result;
use crate::names::{self, TBW102};
use crate::state::persist;

/// The broker's topics.
pub struct TopicConfigManager {
    path: PathBuf,
    config: Arc<BrokerConfig>,
    table: RwLock<TopicConfigSerializeWrapper>,
    changed: Arc<Notify>,
    /// The data version counter of the last finished registration round; `None` while nothing
    /// registers this broker (no name server configured), so nobody waits for one.
    announced: watch::Sender<Option<i64>>,
}

impl TopicConfigManager {
    /// Loads `topics.json` from `path` (or its backup) and adds the built-in topics that are
    /// missing. `changed` is notified after every change.
    pub fn load(config: Arc<BrokerConfig>, path: PathBuf, changed: Arc<Notify>) -> Result<Self> {
        let loaded =
            persist::read_with_backup(&path, |b| TopicConfigSerializeWrapper::decode(b).ok())?;
        let mut table = loaded.unwrap_or_default();
        // Files written by another tool may hold names we would refuse; they must not name
        // queue directories.
        table.topic_config_table.retain(|name, _| {
            let ok = names::check_topic(name).is_ok();
            if !ok {
                warn!(topic = %name, "dropping invalid topic name from topics.json");
            }
            ok
        });
        for tc in builtin_topics(&config) {
            table
                .topic_config_table
                .entry(tc.topic_name.clone())
                .or_insert(tc);
        }
        let mgr = TopicConfigManager {
            path,
            config,
            table: RwLock::new(table),
            changed,
            announced: watch::Sender::new(None),
        };
        mgr.persist()?;
        Ok(mgr)
    }

    /// A topic's config.
    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.table.read().topic_config_table.get(topic).cloned()
    }

    /// A copy of the whole table and its version.
    pub fn snapshot(&self) -> TopicConfigSerializeWrapper {
        self.table.read().clone()
    }

    /// The table's data version counter (bumped by every change).
    pub fn version(&self) -> i64 {
        self.table.read().data_version.counter
    }

    /// Called by the registrar after each round: the name servers were sent (or failed to take)
    /// the table as of `counter`. The first call also turns [`Self::wait_announced`] on.
    pub fn mark_announced(&self, counter: i64) {
        self.announced.send_modify(|a| {
            *a = Some(a.map_or(counter, |prev| prev.max(counter)));
        });
    }

    /// Waits until a registration round carrying the table as it is now has finished, at most
    /// `limit`. Returns at once when nothing registers this broker. A name server that refuses
    /// or is down does not hold the caller beyond that round, as with Java's broker, which logs
    /// the failure and answers anyway.
    pub async fn wait_announced(&self, limit: Duration) {
        let target = self.version();
        let mut rx = self.announced.subscribe();
        if rx.borrow().is_none() {
            return;
        }
        let done = rx.wait_for(|a| a.is_none_or(|v| v >= target));
        if tokio::time::timeout(limit, done).await.is_err() {
            warn!(
                version = target,
                waited_ms = limit.as_millis() as u64,
                "name servers not yet told of the topic change; answering anyway"
            );
        }
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.table.read().topic_config_table.len()
    }

    /// True when there is no topic.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Creates or replaces a topic, persists and signals the change.
    pub fn upsert(&self, tc: TopicConfig) -> Result<()> {
        {
            let mut t = self.table.write();
            t.topic_config_table
                .insert(tc.topic_name.clone(), tc.clone());
            t.data_version.next_version();
        }
        info!(topic = %tc.topic_name, read = tc.read_queue_nums, write = tc.write_queue_nums, perm = tc.perm, "topic config updated");
        self.persist()?;
        self.changed.notify_one();
        Ok(())
    }

    /// Marks the table changed without changing a topic (the broker permission that masks every
    /// topic's perm in registrations changed): a new data version, so name servers re-read the
    /// queue data, and an immediate re-registration.
    pub fn touch(&self) -> Result<()> {
        self.table.write().data_version.next_version();
        self.persist()?;
        self.changed.notify_one();
        Ok(())
    }

    /// Removes a topic. Returns whether it existed.
    pub fn delete(&self, topic: &str) -> Result<bool> {
        let existed = {
            let mut t = self.table.write();
            let existed = t.topic_config_table.remove(topic).is_some();
            if existed {
                t.data_version.next_version();
            }
            existed
        };
        if existed {
            info!(topic, "topic deleted");
            self.persist()?;
            self.changed.notify_one();
        }
        Ok(existed)
    }

    /// The send path's auto-creation (spec §9.2): `topic` from the template `default_topic` when
    /// the template inherits. `None` when the topic neither exists nor may be created.
    pub fn create_in_send(
        &self,
        topic: &str,
        default_topic: &str,
        client_queue_nums: i32,
        topic_sys_flag: i32,
    ) -> Result<Option<TopicConfig>> {
        if let Some(tc) = self.get(topic) {
            return Ok(Some(tc));
        }
        let Some(mut template) = self.get(default_topic) else {
            return Ok(None);
        };
        if default_topic == TBW102 && !self.config.auto_create_topic_enable {
            template.perm = perm::READ_WRITE;
        }
        if !perm::is_inherited(template.perm) {
            return Ok(None);
        }
        let queues = client_queue_nums.clamp(1, template.write_queue_nums.max(1));
        let mut tc =
            TopicConfig::with_queues(topic, queues, queues, template.perm & !perm::INHERIT);
        tc.topic_sys_flag = topic_sys_flag;
        tc.topic_filter_type = template.topic_filter_type;
        info!(
            topic,
            template = default_topic,
            queues,
            "auto-creating topic"
        );
        self.upsert(tc.clone())?;
        Ok(Some(tc))
    }

    /// Returns the topic, creating it with `queues` queues and `perm` when missing (retry and
    /// dead-letter topics).
    pub fn ensure(&self, topic: &str, queues: i32, perm_bits: i32) -> Result<TopicConfig> {
        if let Some(tc) = self.get(topic) {
            return Ok(tc);
        }
        let tc = TopicConfig::with_queues(topic, queues, queues, perm_bits);
        self.upsert(tc.clone())?;
        Ok(tc)
    }

    fn persist(&self) -> Result<()> {
        let text = {
            let t = self.table.read();
            serde_json::to_string_pretty(&*t).unwrap_or_default()
        };
        persist::write_atomic(&self.path, &text)
    }
}

/// The topics every broker has (spec §9.2).
pub(crate) fn builtin_topics(c: &BrokerConfig) -> Vec<TopicConfig> {
    let mut out = Vec::new();
    if c.auto_create_topic_enable {
        let n = c.default_topic_queue_nums as i32;
        out.push(TopicConfig::with_queues(
            TBW102,
            n,
            n,
            perm::READ_WRITE | perm::INHERIT,
        ));
    }
    out.push(TopicConfig::with_queues(
        "SELF_TEST_TOPIC",
        1,
        1,
        perm::READ_WRITE,
    ));
    out.push(TopicConfig::with_queues(
        "BenchmarkTest",
        1024,
        1024,
        perm::READ_WRITE,
    ));
    let cluster_perm = if c.cluster_topic_enable {
        perm::INHERIT | perm::READ_WRITE
    } else {
        perm::INHERIT
    };
    out.push(TopicConfig::with_queues(
        c.broker_cluster_name.clone(),
        16,
        16,
        cluster_perm,
    ));
    let broker_perm = if c.broker_topic_enable {
        perm::INHERIT | perm::READ_WRITE
    } else {
        perm::INHERIT
    };
    out.push(TopicConfig::with_queues(
        c.broker_name.clone(),
        1,
        1,
        broker_perm,
    ));
    out.push(TopicConfig::with_queues(
        "OFFSET_MOVED_EVENT",
        1,
        1,
        perm::READ_WRITE,
    ));
    let levels = c.delay_levels_millis().len().max(1) as i32;
    out.push(TopicConfig::with_queues(
        "SCHEDULE_TOPIC_XXXX",
        levels,
        levels,
        perm::READ_WRITE,
    ));
    out.push(TopicConfig::with_queues(
        format!("{}_REPLY_TOPIC", c.broker_cluster_name),
        1,
        1,
        perm::READ_WRITE,
    ));
    if c.trace_topic_enable {
        out.push(TopicConfig::with_queues(
            c.msg_trace_topic_name.clone(),
            1,
            1,
            perm::READ_WRITE,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(auto: bool) -> Arc<BrokerConfig> {
        Arc::new(BrokerConfig {
            broker_name: "b1".into(),
            auto_create_topic_enable: auto,
            ..Default::default()
        })
    }

    #[test]
    fn builtins_autocreate_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("topics.json");
        let m = TopicConfigManager::load(cfg(true), path.clone(), Arc::default()).unwrap();
        assert_eq!(m.get(TBW102).unwrap().perm, 7);
        let tc = m.create_in_send("T1", TBW102, 4, 0).unwrap().unwrap();
        assert_eq!((tc.read_queue_nums, tc.perm), (4, 6));
        let v1 = m.snapshot().data_version;
        m.delete("T1").unwrap();
        assert!(m.snapshot().data_version.counter > v1.counter);
        m.upsert(TopicConfig::with_queues("T2", 2, 2, 6)).unwrap();
        drop(m);
        let m = TopicConfigManager::load(cfg(false), path, Arc::default()).unwrap();
        assert!(m.get("T2").is_some());
        assert!(m.get("T1").is_none());
        // TBW102 survives in the file but no longer inherits when auto-create is off.
        assert!(m.create_in_send("T3", TBW102, 4, 0).unwrap().is_none());
    }
}
