//! Broker admin headers (spec §3.10) sent by `mqadmin` and Java admin tools, and the requests a
//! broker forwards to clients on an admin's behalf.

crate::header! {
    /// `CreateTopicRequestHeader` (UPDATE_AND_CREATE_TOPIC, 17).
    pub struct CreateTopicRequestHeader {
        /// Topic name (required).
        pub topic: String = "topic",
        /// Template topic (required; any string, `mqadmin` sends `TBW102`).
        pub default_topic: String = "defaultTopic",
        /// Read queue count (required).
        pub read_queue_nums: i32 = "readQueueNums",
        /// Write queue count (required).
        pub write_queue_nums: i32 = "writeQueueNums",
        /// Permission bits (required; 6 = read + write).
        pub perm: i32 = "perm",
        /// `SINGLE_TAG` or `MULTI_TAG` (required).
        pub topic_filter_type: String = "topicFilterType",
        /// Topic sysFlag bits; absent means 0.
        pub topic_sys_flag: Option<i32> = "topicSysFlag",
        /// Ordered topic (required; Java default false).
        pub order: bool = "order",
        /// 5.x: attribute changes such as `+k=v,-k`; optional.
        pub attributes: Option<String> = "attributes",
        /// 5.x: force the change; absent means false.
        pub force: Option<bool> = "force",
    }
}

crate::header! {
    /// `DeleteTopicRequestHeader` (DELETE_TOPIC_IN_BROKER, 215).
    pub struct DeleteTopicRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
    }
}

crate::header! {
    /// `GetTopicStatsInfoRequestHeader` (GET_TOPIC_STATS_INFO, 202). Response body:
    /// [`crate::body::admin::TopicStatsTable`].
    pub struct GetTopicStatsInfoRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
    }
}

crate::header! {
    /// `GetTopicConfigRequestHeader` (GET_TOPIC_CONFIG, 351; 5.x admin and proxy).
    pub struct GetTopicConfigRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
    }
}

crate::header! {
    /// `GetConsumeStatsRequestHeader` (GET_CONSUME_STATS, 208). Response body:
    /// [`crate::body::admin::ConsumeStats`].
    pub struct GetConsumeStatsRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
        /// Only this topic; absent means every topic the group subscribes to.
        pub topic: Option<String> = "topic",
    }
}

crate::header! {
    /// `GetConsumerConnectionListRequestHeader` (GET_CONSUMER_CONNECTION_LIST, 203). Response body:
    /// [`crate::body::client::ConsumerConnection`]; CONSUMER_NOT_ONLINE when the group is offline.
    pub struct GetConsumerConnectionListRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
    }
}

crate::header! {
    /// `GetProducerConnectionListRequestHeader` (GET_PRODUCER_CONNECTION_LIST, 204). Response body:
    /// [`crate::body::client::ProducerConnection`].
    pub struct GetProducerConnectionListRequestHeader {
        /// Producer group (required).
        pub producer_group: String = "producerGroup",
    }
}

crate::header! {
    /// `DeleteSubscriptionGroupRequestHeader` (DELETE_SUBSCRIPTIONGROUP, 207).
    pub struct DeleteSubscriptionGroupRequestHeader {
        /// Group to delete (required).
        pub group_name: String = "groupName",
        /// Also delete the group's consumer offsets; absent means false.
        pub remove_offset: Option<bool> = "removeOffset",
    }
}

crate::header! {
    /// `GetSubscriptionGroupConfigRequestHeader` (GET_SUBSCRIPTIONGROUP_CONFIG, 352; 5.x).
    pub struct GetSubscriptionGroupConfigRequestHeader {
        /// Group (required).
        pub group: String = "group",
    }
}

crate::header! {
    /// `ResetOffsetRequestHeader`: INVOKE_BROKER_TO_RESET_OFFSET (222, admin to broker) and
    /// RESET_CONSUMER_CLIENT_OFFSET (220, broker to each client of the group, with a
    /// [`crate::body::admin::ResetOffsetBody`]).
    pub struct ResetOffsetRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// Consumer group (required).
        pub group: String = "group",
        /// Reset each queue to the first offset stored at or after this time, ms; -1 means the
        /// queue's max offset (required).
        pub timestamp: i64 = "timestamp",
        /// Also move offsets forwards (required; false only ever moves them back).
        pub is_force: bool = "isForce",
        /// 5.x: only this queue; optional.
        pub queue_id: Option<i32> = "queueId",
        /// 5.x: reset to this offset rather than by time; optional.
        pub offset: Option<i64> = "offset",
    }
}

crate::header! {
    /// `GetConsumerStatusRequestHeader`: INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223, admin to
    /// broker) and GET_CONSUMER_STATUS_FROM_CLIENT (221, broker to client).
    pub struct GetConsumerStatusRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// Consumer group (required).
        pub group: String = "group",
        /// Only this client; optional.
        pub client_addr: Option<String> = "clientAddr",
    }
}

crate::header! {
    /// `GetConsumerRunningInfoRequestHeader` (GET_CONSUMER_RUNNING_INFO, 307; admin to broker,
    /// forwarded to the client).
    pub struct GetConsumerRunningInfoRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
        /// Client id (required).
        pub client_id: String = "clientId",
        /// Include a thread dump; absent means false.
        pub jstack_enable: Option<bool> = "jstackEnable",
    }
}

crate::header! {
    /// `ConsumeMessageDirectlyResultRequestHeader` (CONSUME_MESSAGE_DIRECTLY, 309; admin to broker,
    /// forwarded to a client).
    pub struct ConsumeMessageDirectlyResultRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
        /// Client that should consume; optional.
        pub client_id: Option<String> = "clientId",
        /// Offset msgId of the message; optional.
        pub msg_id: Option<String> = "msgId",
        /// Broker holding the message; optional.
        pub broker_name: Option<String> = "brokerName",
    }
}

crate::header! {
    /// `QueryTopicConsumeByWhoRequestHeader` (QUERY_TOPIC_CONSUME_BY_WHO, 300). Response body: a
    /// `GroupList` `{"groupList":[..]}`.
    pub struct QueryTopicConsumeByWhoRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
    }
}

crate::header! {
    /// `QueryConsumeTimeSpanRequestHeader` (QUERY_CONSUME_TIME_SPAN, 303). Response body:
    /// [`crate::body::admin::QueryConsumeTimeSpanBody`].
    pub struct QueryConsumeTimeSpanRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// Consumer group (required).
        pub group: String = "group",
    }
}

crate::header! {
    /// `QueryCorrectionOffsetHeader` (QUERY_CORRECTION_OFFSET, 308).
    pub struct QueryCorrectionOffsetHeader {
        /// Comma-separated groups to compare against; optional.
        pub filter_groups: Option<String> = "filterGroups",
        /// Group whose offsets are corrected (required).
        pub compare_group: String = "compareGroup",
        /// Topic (required).
        pub topic: String = "topic",
    }
}

crate::header! {
    /// `CloneGroupOffsetRequestHeader` (CLONE_GROUP_OFFSET, 314).
    pub struct CloneGroupOffsetRequestHeader {
        /// Source group (required).
        pub src_group: String = "srcGroup",
        /// Destination group (required).
        pub dest_group: String = "destGroup",
        /// Only this topic; absent means all of the source group's topics.
        pub topic: Option<String> = "topic",
        /// The source group is offline; absent means false.
        pub offline: Option<bool> = "offline",
    }
}

crate::header! {
    /// `ViewBrokerStatsDataRequestHeader` (VIEW_BROKER_STATS_DATA, 315).
    pub struct ViewBrokerStatsDataRequestHeader {
        /// Statistic name, e.g. `TOPIC_PUT_NUMS` (required).
        pub stats_name: String = "statsName",
        /// Statistic key, e.g. a topic (required).
        pub stats_key: String = "statsKey",
    }
}

crate::header! {
    /// `GetConsumeStatsInBrokerHeader` (GET_BROKER_CONSUME_STATS, 317).
    pub struct GetConsumeStatsInBrokerHeader {
        /// Only ordered groups (required).
        pub is_order: bool = "isOrder",
    }
}

crate::header! {
    /// `QueryConsumeQueueRequestHeader` (QUERY_CONSUME_QUEUE, 321). Java declares every field
    /// primitive, so a Java sender always includes them.
    pub struct QueryConsumeQueueRequestHeader {
        /// Topic (required).
        pub topic: String = "topic",
        /// Queue id (required).
        pub queue_id: i32 = "queueId",
        /// First consume-queue index to show (required).
        pub index: i64 = "index",
        /// Entries to show (required).
        pub count: i32 = "count",
        /// Group whose filter is applied; optional.
        pub consumer_group: Option<String> = "consumerGroup",
    }
}

crate::header! {
    /// `ResumeCheckHalfMessageRequestHeader` (RESUME_CHECK_HALF_MESSAGE, 323).
    pub struct ResumeCheckHalfMessageRequestHeader {
        /// UNIQ_KEY of the half message; optional.
        pub msg_id: Option<String> = "msgId",
    }
}
