//! Name server headers (spec §3.11). Field keys keep Java's spelling.

use crate::header;

header! {
    /// REGISTER_BROKER (103) request.
    pub struct RegisterBrokerRequestHeader {
        /// Broker group name.
        pub broker_name: String = "brokerName",
        /// `brokerIP1:listenPort`.
        pub broker_addr: String = "brokerAddr",
        /// Cluster name.
        pub cluster_name: String = "clusterName",
        /// `brokerIP2:haListenPort`.
        pub ha_server_addr: String = "haServerAddr",
        /// 0 = master, >0 slave.
        pub broker_id: i64 = "brokerId",
        /// The body is in the compressed form (Java sends it always; absent = false).
        pub compressed: Option<bool> = "compressed",
        /// Masked CRC32 of the body as sent; absent or 0 = not checked.
        pub body_crc32: Option<i32> = "bodyCrc32",
        /// 5.x: this broker's own expiry instead of the name server's.
        pub heartbeat_timeout_millis: Option<i64> = "heartbeatTimeoutMillis",
        /// 5.x acting-master flag.
        pub enable_acting_master: Option<bool> = "enableActingMaster",
    }
}

header! {
    /// REGISTER_BROKER response: the master's addresses, for a slave whose master is live.
    pub struct RegisterBrokerResponseHeader {
        /// The master's HA address.
        pub ha_server_addr: Option<String> = "haServerAddr",
        /// The master's address.
        pub master_addr: Option<String> = "masterAddr",
    }
}

header! {
    /// UNREGISTER_BROKER (104) request.
    pub struct UnRegisterBrokerRequestHeader {
        /// Broker group name.
        pub broker_name: String = "brokerName",
        /// Broker address.
        pub broker_addr: String = "brokerAddr",
        /// Cluster name.
        pub cluster_name: String = "clusterName",
        /// Broker id.
        pub broker_id: i64 = "brokerId",
    }
}

header! {
    /// QUERY_DATA_VERSION (322) request; the body is the broker's DataVersion JSON.
    pub struct QueryDataVersionRequestHeader {
        /// Broker group name.
        pub broker_name: String = "brokerName",
        /// Broker address.
        pub broker_addr: String = "brokerAddr",
        /// Cluster name.
        pub cluster_name: String = "clusterName",
        /// Broker id.
        pub broker_id: i64 = "brokerId",
    }
}

header! {
    /// QUERY_DATA_VERSION response.
    pub struct QueryDataVersionResponseHeader {
        /// True when the name server's stored version differs or is missing.
        pub changed: bool = "changed",
    }
}

header! {
    /// GET_ROUTEINFO_BY_TOPIC (105) request.
    pub struct GetRouteInfoRequestHeader {
        /// Topic.
        pub topic: String = "topic",
        /// Ask for standard JSON (we always write it).
        pub accept_standard_json_only: Option<bool> = "acceptStandardJsonOnly",
    }
}

header! {
    /// GET_TOPICS_BY_CLUSTER (224) request.
    pub struct GetTopicsByClusterRequestHeader {
        /// Cluster name.
        pub cluster: String = "cluster",
    }
}

header! {
    /// DELETE_TOPIC_IN_NAMESRV (216) request.
    pub struct DeleteTopicFromNamesrvRequestHeader {
        /// Topic.
        pub topic: String = "topic",
        /// Only remove this cluster's queues of the topic.
        pub cluster_name: Option<String> = "clusterName",
    }
}

header! {
    /// WIPE_WRITE_PERM_OF_BROKER (205) request.
    pub struct WipeWritePermOfBrokerRequestHeader {
        /// Broker group name.
        pub broker_name: String = "brokerName",
    }
}

header! {
    /// WIPE_WRITE_PERM_OF_BROKER response.
    pub struct WipeWritePermOfBrokerResponseHeader {
        /// Number of topics whose write bit was cleared.
        pub wipe_topic_count: i32 = "wipeTopicCount",
    }
}

header! {
    /// ADD_WRITE_PERM_OF_BROKER (327) request.
    pub struct AddWritePermOfBrokerRequestHeader {
        /// Broker group name.
        pub broker_name: String = "brokerName",
    }
}

header! {
    /// ADD_WRITE_PERM_OF_BROKER response.
    pub struct AddWritePermOfBrokerResponseHeader {
        /// Number of topics set back to read-write.
        pub add_topic_count: i32 = "addTopicCount",
    }
}

header! {
    /// PUT_KV_CONFIG (100) request.
    pub struct PutKVConfigRequestHeader {
        /// Namespace.
        pub namespace: String = "namespace",
        /// Key.
        pub key: String = "key",
        /// Value.
        pub value: String = "value",
    }
}

header! {
    /// GET_KV_CONFIG (101) request.
    pub struct GetKVConfigRequestHeader {
        /// Namespace.
        pub namespace: String = "namespace",
        /// Key.
        pub key: String = "key",
    }
}

header! {
    /// GET_KV_CONFIG response.
    pub struct GetKVConfigResponseHeader {
        /// The value, when found.
        pub value: Option<String> = "value",
    }
}

header! {
    /// DELETE_KV_CONFIG (102) request.
    pub struct DeleteKVConfigRequestHeader {
        /// Namespace.
        pub namespace: String = "namespace",
        /// Key.
        pub key: String = "key",
    }
}

header! {
    /// GET_KVLIST_BY_NAMESPACE (219) request.
    pub struct GetKVListByNamespaceRequestHeader {
        /// Namespace.
        pub namespace: String = "namespace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext::{CommandHeader, ExtFields};

    #[test]
    fn register_header_reads_lenient_values() {
        let ext: ExtFields = [
            ("brokerName", "broker-a"),
            ("brokerAddr", "127.0.0.1:10911"),
            ("clusterName", "C"),
            ("haServerAddr", "127.0.0.1:10912"),
            ("brokerId", "1"),
            ("compressed", "1"),
            ("bodyCrc32", "12345"),
        ]
        .into_iter()
        .collect();
        let h: RegisterBrokerRequestHeader = ext.decode().unwrap();
        assert_eq!(h.broker_id, 1);
        assert_eq!(h.compressed, Some(true));
        assert_eq!(h.body_crc32, Some(12345));
        assert_eq!(
            RegisterBrokerRequestHeader::from_ext(&h.to_ext()).unwrap(),
            h
        );
        let missing: ExtFields = [("brokerName", "b")].into_iter().collect();
        assert!(missing.decode::<RegisterBrokerRequestHeader>().is_err());
    }
}
