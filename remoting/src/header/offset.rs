//! Offset headers (spec §3.5): consumer offsets and queue bounds.

crate::header! {
    /// `QueryConsumerOffsetRequestHeader` (QUERY_CONSUMER_OFFSET, 14).
    pub struct QueryConsumerOffsetRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
        /// Topic (required).
        pub topic: String = "topic",
        /// Queue id (required).
        pub queue_id: i32 = "queueId",
        /// 5.x: answer 0 instead of QUERY_NOT_FOUND when no offset is stored; absent means the
        /// 4.x rule (spec §3.5).
        pub set_zero_if_not_found: Option<bool> = "setZeroIfNotFound",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

crate::header! {
    /// `QueryConsumerOffsetResponseHeader`: on SUCCESS.
    pub struct QueryConsumerOffsetResponseHeader {
        /// The stored offset (required).
        pub offset: i64 = "offset",
    }
}

crate::header! {
    /// `UpdateConsumerOffsetRequestHeader` (UPDATE_CONSUMER_OFFSET, 15; usually oneway). The
    /// response has no header.
    pub struct UpdateConsumerOffsetRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
        /// Topic (required).
        pub topic: String = "topic",
        /// Queue id (required).
        pub queue_id: i32 = "queueId",
        /// Offset to store (required).
        pub commit_offset: i64 = "commitOffset",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

crate::header! {
    /// `GetMaxOffsetRequestHeader` (GET_MAX_OFFSET, 30).
    pub struct GetMaxOffsetRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// Queue id (required).
        pub queue_id: i32 = "queueId",
        /// 5.x: only count committed (replicated) messages; absent means true.
        pub committed: Option<bool> = "committed",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

crate::header! {
    /// `GetMaxOffsetResponseHeader`.
    pub struct GetMaxOffsetResponseHeader {
        /// Next offset to be written in the consume queue; 0 if the queue is missing (required).
        pub offset: i64 = "offset",
    }
}

crate::header! {
    /// `GetMinOffsetRequestHeader` (GET_MIN_OFFSET, 31).
    pub struct GetMinOffsetRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// Queue id (required).
        pub queue_id: i32 = "queueId",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

crate::header! {
    /// `GetMinOffsetResponseHeader`.
    pub struct GetMinOffsetResponseHeader {
        /// Smallest offset still in the consume queue (required).
        pub offset: i64 = "offset",
    }
}

crate::header! {
    /// `SearchOffsetRequestHeader` (SEARCH_OFFSET_BY_TIMESTAMP, 29).
    pub struct SearchOffsetRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// Queue id (required).
        pub queue_id: i32 = "queueId",
        /// Store time to search for, ms since the epoch (required).
        pub timestamp: i64 = "timestamp",
        /// 5.x: `LOWER` (default when absent) or `UPPER` bound among equal store times.
        pub boundary_type: Option<String> = "boundaryType",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

crate::header! {
    /// `SearchOffsetResponseHeader`.
    pub struct SearchOffsetResponseHeader {
        /// The offset found (required).
        pub offset: i64 = "offset",
    }
}

crate::header! {
    /// `GetEarliestMsgStoretimeRequestHeader` (GET_EARLIEST_MSG_STORETIME, 32).
    pub struct GetEarliestMsgStoretimeRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// Queue id (required).
        pub queue_id: i32 = "queueId",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

crate::header! {
    /// `GetEarliestMsgStoretimeResponseHeader`.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// Store time of the queue's first message, ms since the epoch (required).
        pub timestamp: i64 = "timestamp",
    }
}
