//! Query and view headers (spec §3.6).

crate::header! {
    /// `QueryMessageRequestHeader` (QUERY_MESSAGE, 12): messages by key through the index.
    pub struct QueryMessageRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// The key, or a UNIQ_KEY when `_UNIQUE_KEY_QUERY` is true (required).
        pub key: String = "key",
        /// Most messages wanted (required; the broker caps it at `maxMsgsNumBatch`, 64).
        pub max_num: i32 = "maxNum",
        /// Lower bound of store time, ms (required).
        pub begin_timestamp: i64 = "beginTimestamp",
        /// Upper bound of store time, ms (required).
        pub end_timestamp: i64 = "endTimestamp",
        /// Ext field `_UNIQUE_KEY_QUERY` that Java adds beside the header: `key` is a UNIQ_KEY
        /// (the broker then returns at most `defaultQueryMaxNum`, 32). Absent means false.
        pub unique_key_query: Option<bool> = "_UNIQUE_KEY_QUERY",
    }
}

crate::header! {
    /// `QueryMessageResponseHeader`: with a body of concatenated raw records.
    pub struct QueryMessageResponseHeader {
        /// When the index was last updated, ms (required).
        pub index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        /// Commit-log offset the index covers (required).
        pub index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

crate::header! {
    /// `ViewMessageRequestHeader` (VIEW_MESSAGE_BY_ID, 33): one record by commit-log offset. The
    /// response has no header; its body is the raw record.
    pub struct ViewMessageRequestHeader {
        /// Physical commit-log offset (decoded from an offset msgId) (required).
        pub offset: i64 = "offset",
        /// 5.x: topic of the message; optional.
        pub topic: Option<String> = "topic",
    }
}
