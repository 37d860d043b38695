//! Client-management headers (spec §3.7): HEART_BEAT has no header (its body is
//! [`crate::body::client::HeartbeatData`]); these are the rest.

crate::header! {
    /// `UnregisterClientRequestHeader` (UNREGISTER_CLIENT, 35). Response: SUCCESS, no header.
    pub struct UnregisterClientRequestHeader {
        /// Client id, `ip@instance` (required; note the capital `ID` of the Java field).
        pub client_id: String = "clientID",
        /// Producer group leaving; optional.
        pub producer_group: Option<String> = "producerGroup",
        /// Consumer group leaving; optional.
        pub consumer_group: Option<String> = "consumerGroup",
    }
}

crate::header! {
    /// `GetConsumerListByGroupRequestHeader` (GET_CONSUMER_LIST_BY_GROUP, 38). The response body is
    /// [`crate::body::client::GetConsumerListByGroupResponseBody`].
    pub struct GetConsumerListByGroupRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
    }
}

crate::header! {
    /// `NotifyConsumerIdsChangedRequestHeader` (NOTIFY_CONSUMER_IDS_CHANGED, 40; broker to client,
    /// oneway): the membership of the group changed, rebalance now.
    pub struct NotifyConsumerIdsChangedRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
    }
}
