//! Plain ACL admin headers (4.x, codes 50–54, spec §2): what `mqadmin updateAclConfig`,
//! `deleteAccessConfig`, `updateGlobalWhiteAddr` and `clusterAclConfigVersion` send.

crate::header! {
    /// `CreateAccessConfigRequestHeader` (UPDATE_AND_CREATE_ACL_CONFIG, 50). Lists are
    /// comma-separated (`topicA=PUB,topicB=SUB`).
    pub struct CreateAccessConfigRequestHeader {
        /// Account name (required).
        pub access_key: String = "accessKey",
        /// Secret; absent keeps the account's current one.
        pub secret_key: Option<String> = "secretKey",
        /// Per-account white list.
        pub white_remote_address: Option<String> = "whiteRemoteAddress",
        /// Admin account; absent means false.
        pub admin: Option<bool> = "admin",
        /// Permission on unlisted topics.
        pub default_topic_perm: Option<String> = "defaultTopicPerm",
        /// Permission on unlisted groups.
        pub default_group_perm: Option<String> = "defaultGroupPerm",
        /// `topic=PERM,...`.
        pub topic_perms: Option<String> = "topicPerms",
        /// `group=PERM,...`.
        pub group_perms: Option<String> = "groupPerms",
    }
}

crate::header! {
    /// `DeleteAccessConfigRequestHeader` (DELETE_ACL_CONFIG, 51).
    pub struct DeleteAccessConfigRequestHeader {
        /// Account name (required).
        pub access_key: String = "accessKey",
    }
}

crate::header! {
    /// `UpdateGlobalWhiteAddrsConfigRequestHeader` (UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, 53).
    pub struct UpdateGlobalWhiteAddrsConfigRequestHeader {
        /// Comma-separated addresses (required; empty clears the list).
        pub global_white_addrs: String = "globalWhiteAddrs",
        /// 4.9.x: which ACL file to change; only the broker's own file is accepted.
        pub acl_file_full_path: Option<String> = "aclFileFullPath",
    }
}

crate::header! {
    /// `GetBrokerAclConfigResponseHeader` (GET_BROKER_CLUSTER_ACL_INFO, 52 response).
    pub struct GetBrokerAclConfigResponseHeader {
        /// The ACL file's data version as JSON (`{"counter":..,"timestamp":..}`).
        pub version: String = "version",
        /// 4.9.x: versions of every ACL file, JSON map path → version.
        pub all_acl_file_version: Option<String> = "allAclFileVersion",
        /// Broker name.
        pub broker_name: String = "brokerName",
        /// Broker address.
        pub broker_addr: String = "brokerAddr",
        /// Cluster name.
        pub cluster_name: String = "clusterName",
    }
}
