//! Consumed offsets of a clustering consumer group, kept in memory and committed to the brokers
//! (Java `RemoteBrokerOffsetStore`): every `persist_consumer_offset_interval`, when a queue is
//! taken away by a rebalance, and on shutdown.

use std::collections::HashMap;

use parking_lot::Mutex;
use remoting::body::client::MessageQueue;
use tracing::{debug, warn};

use crate::error::Result;
use crate::instance::ClientInstance;

#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: i64,
    /// The value the broker last acknowledged, to skip redundant commits.
    persisted: Option<i64>,
}

/// One group's offsets.
pub struct OffsetStore {
    group: String,
    instance: ClientInstance,
    table: Mutex<HashMap<MessageQueue, Entry>>,
}

impl std::fmt::Debug for OffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetStore")
            .field("group", &self.group)
            .finish()
    }
}

impl OffsetStore {
    /// An empty store for `group`.
    pub fn new(group: impl Into<String>, instance: ClientInstance) -> Self {
        OffsetStore {
            group: group.into(),
            instance,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Records `offset` for `mq`; with `increase_only` a smaller value is ignored (late
    /// completions must not move the commit point back).
    pub fn update(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        if offset < 0 {
            return;
        }
        let mut t = self.table.lock();
        match t.get_mut(mq) {
            Some(e) => {
                if !increase_only || offset > e.offset {
                    e.offset = offset;
                }
            }
            None => {
                t.insert(
                    mq.clone(),
                    Entry {
                        offset,
                        persisted: None,
                    },
                );
            }
        }
    }

    /// The offset held in memory for `mq`.
    pub fn read_local(&self, mq: &MessageQueue) -> Option<i64> {
        self.table.lock().get(mq).map(|e| e.offset)
    }

    /// The group's offset of `mq` as committed on the broker (`None`: never committed); a hit
    /// is also remembered locally.
    pub async fn read_from_broker(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        let o = self.instance.query_consumer_offset(&self.group, mq).await?;
        if let Some(o) = o {
            let mut t = self.table.lock();
            let e = t.entry(mq.clone()).or_insert(Entry {
                offset: o,
                persisted: Some(o),
            });
            e.offset = o;
            e.persisted = Some(o);
        }
        Ok(o)
    }

    /// Commits `mq`'s offset to its broker if it changed since the last commit.
    pub async fn persist(&self, mq: &MessageQueue) -> Result<()> {
        let Some(e) = self.table.lock().get(mq).copied() else {
            return Ok(());
        };
        if e.persisted == Some(e.offset) {
            return Ok(());
        }
        self.instance
            .update_consumer_offset(&self.group, mq, e.offset)
            .await?;
        if let Some(cur) = self.table.lock().get_mut(mq) {
            cur.persisted = Some(e.offset);
        }
        debug!(group = %self.group, topic = %mq.topic, broker = %mq.broker_name, queue_id = mq.queue_id, offset = e.offset, "offset committed");
        Ok(())
    }

    /// Commits every queue of `mqs` that changed; failures are logged and retried next time.
    pub async fn persist_all(&self, mqs: &[MessageQueue]) {
        for mq in mqs {
            if let Err(e) = self.persist(mq).await {
                warn!(group = %self.group, topic = %mq.topic, queue_id = mq.queue_id, error = %e, "offset commit failed");
            }
        }
    }

    /// Forgets `mq` (after its final commit on removal).
    pub fn remove(&self, mq: &MessageQueue) {
        self.table.lock().remove(mq);
    }

    /// Every queue held.
    pub fn queues(&self) -> Vec<MessageQueue> {
        self.table.lock().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientConfig;

    #[test]
    fn increase_only_never_moves_back() {
        let s = OffsetStore::new(
            "G",
            ClientInstance::new(ClientConfig::new("127.0.0.1:1")).unwrap(),
        );
        let mq = MessageQueue::new("T", "b", 0);
        assert_eq!(s.read_local(&mq), None);
        s.update(&mq, 5, true);
        s.update(&mq, 3, true);
        assert_eq!(s.read_local(&mq), Some(5));
        s.update(&mq, 3, false);
        assert_eq!(s.read_local(&mq), Some(3));
        s.update(&mq, -1, false);
        assert_eq!(s.read_local(&mq), Some(3));
        s.remove(&mq);
        assert!(s.queues().is_empty());
    }
}
