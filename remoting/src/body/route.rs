//! Route bodies (spec §3.11, §8.2): [`TopicRouteData`] with its [`QueueData`] and [`BrokerData`].
//!
//! Read with [`crate::fastjson`] (the Java name server writes `brokerAddrs` with unquoted integer
//! keys); written as standard JSON with quoted keys plus `enableActingMaster:false`, which every
//! client accepts (spec §14).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fastjson;

/// The broker id of a master.
pub const MASTER_ID: i64 = 0;

/// One broker group's queues of a topic (`QueueData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    /// Broker group name.
    pub broker_name: String,
    /// Queues consumers read.
    pub read_queue_nums: i32,
    /// Queues producers write.
    pub write_queue_nums: i32,
    /// [`perm`](crate::body::topic::perm) bits.
    pub perm: i32,
    /// [`sys_flag`](crate::body::topic::sys_flag) bits.
    pub topic_sys_flag: i32,
}

/// One broker group: its cluster, name and the address of each member by broker id (`BrokerData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    /// Cluster name.
    pub cluster: String,
    /// Broker group name.
    pub broker_name: String,
    /// Broker id (0 = master) → `ip:port`.
    pub broker_addrs: BTreeMap<i64, String>,
    /// 5.x zone name; omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
    /// 5.x acting-master flag. Always written (false) because some 5.x-era clients require it.
    pub enable_acting_master: bool,
}

impl BrokerData {
    /// An empty group.
    pub fn new(cluster: impl Into<String>, broker_name: impl Into<String>) -> Self {
        BrokerData {
            cluster: cluster.into(),
            broker_name: broker_name.into(),
            ..Default::default()
        }
    }

    /// The master's address, if a master is registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }

    /// Java's `selectBrokerAddr`: the master if present, otherwise any member (the lowest id, so
    /// the choice is stable).
    pub fn select_broker_addr(&self) -> Option<&str> {
        self.master_addr()
            .or_else(|| self.broker_addrs.values().next().map(String::as_str))
    }
}

/// The route of a topic: the body of GET_ROUTEINFO_BY_TOPIC (`TopicRouteData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    /// Order config from KV namespace ORDER_TOPIC_CONFIG (only when the name server has
    /// `orderMessageEnable`); omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    /// Queues per broker group.
    pub queue_datas: Vec<QueueData>,
    /// The broker groups named by `queue_datas`.
    pub broker_datas: Vec<BrokerData>,
    /// Broker address → filter server addresses.
    pub filter_server_table: BTreeMap<String, Vec<String>>,
}

impl TopicRouteData {
    /// Decodes the JSON (Java dialect accepted).
    pub fn decode(body: &[u8]) -> Result<Self> {
        fastjson::from_slice(body)
    }

    /// Encodes as standard JSON.
    pub fn encode(&self) -> Result<Vec<u8>> {
        fastjson::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_java_unquoted_keys_and_writes_quoted_ones() {
        let java = br#"{"queueDatas":[{"brokerName":"broker-a","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicSynFlag":0}],
            "brokerDatas":[{"cluster":"DefaultCluster","brokerName":"broker-a","brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}}],
            "filterServerTable":{}}"#;
        let route = TopicRouteData::decode(java).unwrap();
        let b = &route.broker_datas[0];
        assert_eq!(b.master_addr(), Some("10.0.0.1:10911"));
        assert_eq!(b.broker_addrs[&1], "10.0.0.2:10911");
        let out = String::from_utf8(route.encode().unwrap()).unwrap();
        assert!(
            out.contains(r#""brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"}"#),
            "{out}"
        );
        assert!(out.contains(r#""enableActingMaster":false"#), "{out}");
        assert_eq!(TopicRouteData::decode(out.as_bytes()).unwrap(), route);
    }

    #[test]
    fn select_prefers_the_master() {
        let mut b = BrokerData::new("c", "b");
        assert_eq!(b.select_broker_addr(), None);
        b.broker_addrs.insert(2, "s2".into());
        b.broker_addrs.insert(1, "s1".into());
        assert_eq!(b.select_broker_addr(), Some("s1"));
        b.broker_addrs.insert(0, "m".into());
        assert_eq!(b.select_broker_addr(), Some("m"));
    }
}
