//! The cluster body (spec §3.11): [`ClusterInfo`], the answer to GET_BROKER_CLUSTER_INFO.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::body::route::BrokerData;
use crate::error::Result;
use crate::fastjson;

/// Every broker group and which cluster holds it (`ClusterInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    /// Broker group name → group.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → broker group names.
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

impl ClusterInfo {
    /// Decodes the JSON (Java dialect with unquoted broker-id keys accepted).
    pub fn decode(body: &[u8]) -> Result<Self> {
        fastjson::from_slice(body)
    }

    /// Encodes as standard JSON.
    pub fn encode(&self) -> Result<Vec<u8>> {
        fastjson::to_vec(self)
    }

    /// Every broker address of a cluster (`ClusterInfo.retrieveAllAddrByCluster`), masters and
    /// slaves, in group-name then id order. Unknown cluster → empty.
    pub fn all_addrs_of_cluster(&self, cluster: &str) -> Vec<String> {
        self.groups_of_cluster(cluster)
            .flat_map(|b| b.broker_addrs.values().cloned())
            .collect()
    }

    /// The master address of every group of a cluster that has a master.
    pub fn master_addrs_of_cluster(&self, cluster: &str) -> Vec<String> {
        self.groups_of_cluster(cluster)
            .filter_map(|b| b.master_addr().map(str::to_string))
            .collect()
    }

    fn groups_of_cluster<'a>(&'a self, cluster: &str) -> impl Iterator<Item = &'a BrokerData> {
        self.cluster_addr_table
            .get(cluster)
            .into_iter()
            .flatten()
            .filter_map(|name| self.broker_addr_table.get(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_java_form_and_lists_addresses() {
        let java = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"m:10911",1:"s:10911"},"brokerName":"broker-a","cluster":"C1"},
            "broker-b":{"brokerAddrs":{1:"s2:10911"},"brokerName":"broker-b","cluster":"C1"}},
            "clusterAddrTable":{"C1":["broker-a","broker-b"]}}"#;
        let info = ClusterInfo::decode(java).unwrap();
        assert_eq!(
            info.all_addrs_of_cluster("C1"),
            ["m:10911", "s:10911", "s2:10911"]
        );
        assert_eq!(info.master_addrs_of_cluster("C1"), ["m:10911"]);
        assert!(info.all_addrs_of_cluster("nope").is_empty());
        assert_eq!(ClusterInfo::decode(&info.encode().unwrap()).unwrap(), info);
    }
}
