//! [`BrokerAdmin`] over the remoting protocol.

use std::collections::BTreeMap;

use futures::FutureExt;
use futures::future::BoxFuture;
use remoting::body::admin::{ConsumerOffsetSerializeWrapper, TopicStatsTable};
use remoting::body::cluster::ClusterInfo;
use remoting::body::kv::KVTable;
use remoting::body::topic::{TopicConfigSerializeWrapper, perm};
use remoting::header::admin::{CreateTopicRequestHeader, GetTopicStatsInfoRequestHeader};
use remoting::{CommandHeader, ExtFields, RemotingCommand, RequestCode};

use super::{BrokerAdmin, CATCH_UP_SLACK, RemotingAdmin};
use crate::error::{Error, Result};

/// Topics every broker creates for itself: never copied.
fn is_system_topic(name: &str) -> bool {
    const FIXED: &[&str] = &[
        "TBW102",
        "SELF_TEST_TOPIC",
        "BenchmarkTest",
        "OFFSET_MOVED_EVENT",
        "SCHEDULE_TOPIC_XXXX",
        "TRANS_CHECK_MAX_TIME_TOPIC",
    ];
    FIXED.contains(&name)
        || name.starts_with("%RETRY%")
        || name.starts_with("%DLQ%")
        || name.starts_with("RMQ_SYS_")
        || name.starts_with("rmq_sys_")
        || name.ends_with("_REPLY_TOPIC")
}

impl RemotingAdmin {
    fn err(addr: &str, message: impl Into<String>) -> Error {
        Error::Admin {
            addr: addr.to_string(),
            message: message.into(),
        }
    }

    async fn call(&self, addr: &str, code: RequestCode, ext: ExtFields) -> Result<RemotingCommand> {
        self.client
            .invoke_ok(addr, RemotingCommand::request(code, ext), self.timeout)
            .await
            .map_err(|e| Self::err(addr, format!("{code}: {e}")))
    }

    async fn runtime_info(&self, addr: &str) -> Result<BTreeMap<String, String>> {
        let resp = self
            .call(
                addr,
                RequestCode::GET_BROKER_RUNTIME_INFO,
                ExtFields::default(),
            )
            .await?;
        Ok(KVTable::decode(&resp.body)
            .map_err(|e| Self::err(addr, e.to_string()))?
            .table)
    }

    async fn max_offset(&self, addr: &str) -> Result<i64> {
        let info = self.runtime_info(addr).await?;
        info.get("commitLogMaxOffset")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| Self::err(addr, "runtime info has no commitLogMaxOffset"))
    }

    async fn topics(&self, addr: &str) -> Result<TopicConfigSerializeWrapper> {
        let resp = self
            .call(
                addr,
                RequestCode::GET_ALL_TOPIC_CONFIG,
                ExtFields::default(),
            )
            .await?;
        TopicConfigSerializeWrapper::decode(&resp.body).map_err(|e| Self::err(addr, e.to_string()))
    }

    async fn caught_up(&self, master: &str, slaves: &[String]) -> Result<bool> {
        let m = self.max_offset(master).await?;
        for s in slaves {
            let o = self.max_offset(s).await?;
            tracing::debug!(master, slave = %s, master_offset = m, slave_offset = o, "replication state");
            if m - o > CATCH_UP_SLACK {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn copy(&self, from: &str, to: &str, skip: &[String]) -> Result<usize> {
        let src = self.topics(from).await?;
        let dst = self.topics(to).await?;
        let mut n = 0;
        for (name, t) in &src.topic_config_table {
            if is_system_topic(name)
                || skip.contains(name)
                || dst.topic_config_table.contains_key(name)
                || perm::is_inherited(t.perm)
            {
                continue;
            }
            let header = CreateTopicRequestHeader {
                topic: name.clone(),
                default_topic: "TBW102".to_string(),
                read_queue_nums: t.read_queue_nums,
                write_queue_nums: t.write_queue_nums,
                perm: t.perm,
                topic_filter_type: t.topic_filter_type.name().to_string(),
                topic_sys_flag: Some(t.topic_sys_flag),
                order: t.order,
                attributes: None,
                force: None,
            };
            self.call(to, RequestCode::UPDATE_AND_CREATE_TOPIC, header.to_ext())
                .await?;
            n += 1;
        }
        // Subscription groups too: consumers of the new group would otherwise get the broker's
        // defaults (or none, with autoCreateSubscriptionGroup off) instead of the retry policy.
        n += self.copy_groups(from, to).await?;
        Ok(n)
    }

    async fn drained(&self, master: &str) -> Result<bool> {
        // Write permission: the broker-wide `brokerPermission` (mqadmin updateBrokerConfig).
        let resp = self
            .call(master, RequestCode::GET_BROKER_CONFIG, ExtFields::default())
            .await?;
        let props = remoting::properties::parse(&String::from_utf8_lossy(&resp.body));
        let permission: i32 = props
            .get("brokerPermission")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(perm::READ_WRITE);
        if perm::is_writeable(permission) {
            return Ok(false);
        }
        // Consumer lag: every committed offset has reached its queue's max offset.
        let resp = self
            .call(
                master,
                RequestCode::GET_ALL_CONSUMER_OFFSET,
                ExtFields::default(),
            )
            .await?;
        let offsets: ConsumerOffsetSerializeWrapper = remoting::fastjson::from_slice(&resp.body)
            .map_err(|e| Self::err(master, e.to_string()))?;
        let mut stats_cache: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
        for (key, queues) in &offsets.offset_table {
            let Some((topic, _group)) = ConsumerOffsetSerializeWrapper::split_key(key) else {
                continue;
            };
            if !stats_cache.contains_key(topic) {
                let ext = GetTopicStatsInfoRequestHeader {
                    topic: topic.to_string(),
                }
                .to_ext();
                let resp = self
                    .call(master, RequestCode::GET_TOPIC_STATS_INFO, ext)
                    .await?;
                let stats: TopicStatsTable = remoting::fastjson::from_slice(&resp.body)
                    .map_err(|e| Self::err(master, e.to_string()))?;
                let max = stats
                    .offset_table
                    .iter()
                    .map(|(mq, o)| (mq.queue_id, o.max_offset))
                    .collect();
                stats_cache.insert(topic.to_string(), max);
            }
            let max = &stats_cache[topic];
            for (q, committed) in queues {
                if max.get(q).is_some_and(|m| m > committed) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

impl BrokerAdmin for RemotingAdmin {
    fn slaves_caught_up<'a>(
        &'a self,
        master: &'a str,
        slaves: &'a [String],
    ) -> BoxFuture<'a, Result<bool>> {
        self.caught_up(master, slaves).boxed()
    }
    fn copy_topics<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        skip: &'a [String],
    ) -> BoxFuture<'a, Result<usize>> {
        self.copy(from, to, skip).boxed()
    }
    fn is_drained<'a>(&'a self, master: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.drained(master).boxed()
    }
    fn master_registered<'a>(
        &'a self,
        namesrv: &'a str,
        cluster: &'a str,
        broker_name: &'a str,
        master_addr: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool>> {
        async move {
            let resp = self
                .call(
                    namesrv,
                    RequestCode::GET_BROKER_CLUSTER_INFO,
                    ExtFields::default(),
                )
                .await?;
            let info =
                ClusterInfo::decode(&resp.body).map_err(|e| Self::err(namesrv, e.to_string()))?;
            Ok(registered(&info, cluster, broker_name, master_addr))
        }
        .boxed()
    }
}

/// Whether `info` lists `broker_name` in `cluster` with a master (at `master_addr` when given).
fn registered(
    info: &ClusterInfo,
    cluster: &str,
    broker_name: &str,
    master_addr: Option<&str>,
) -> bool {
    let in_cluster = info
        .cluster_addr_table
        .get(cluster)
        .is_some_and(|g| g.contains(broker_name));
    let master = info
        .broker_addr_table
        .get(broker_name)
        .and_then(|b| b.master_addr());
    in_cluster
        && match (master, master_addr) {
            (Some(m), Some(want)) => m == want,
            (Some(_), None) => true,
            (None, _) => false,
        }
}

#[cfg(test)]
mod tests {
    use super::{ClusterInfo, is_system_topic, registered};

    #[test]
    fn registration_needs_the_group_in_the_cluster_with_its_master() {
        let info = ClusterInfo::decode(
            br#"{"brokerAddrTable":{"b-0":{"cluster":"C","brokerName":"b-0","brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}},"b-1":{"cluster":"C","brokerName":"b-1","brokerAddrs":{1:"10.0.0.4:10911"}}},"clusterAddrTable":{"C":["b-0","b-1"]}}"#,
        )
        .unwrap();
        assert!(registered(&info, "C", "b-0", None));
        assert!(registered(&info, "C", "b-0", Some("10.0.0.1:10911")));
        // A stale registration of the old pod's address does not count.
        assert!(!registered(&info, "C", "b-0", Some("10.0.0.9:10911")));
        // Only a slave registered.
        assert!(!registered(&info, "C", "b-1", None));
        assert!(!registered(&info, "D", "b-0", None));
    }

    #[test]
    fn system_topics_are_not_copied() {
        for t in [
            "TBW102",
            "%RETRY%g",
            "%DLQ%g",
            "RMQ_SYS_TRACE_TOPIC",
            "DefaultCluster_REPLY_TOPIC",
            "SCHEDULE_TOPIC_XXXX",
        ] {
            assert!(is_system_topic(t), "{t}");
        }
        assert!(!is_system_topic("orders"));
    }
}
