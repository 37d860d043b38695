//! GET_CONSUMER_RUNNING_INFO (307): what a push consumer reports about itself when an admin asks
//! through the broker (Java `ConsumerRunningInfo`, read by `mqadmin consumerStatus`).

use std::collections::BTreeMap;

use remoting::body::client::{MessageQueue, SubscriptionData};
use remoting::fastjson::{self, ObjectKeyMap};
use serde::Serialize;

use crate::error::Result;

/// One held queue (Java `ProcessQueueInfo`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessQueueInfo {
    /// Offset the next commit sends.
    pub commit_offset: i64,
    /// Smallest offset held.
    pub cached_msg_min_offset: i64,
    /// Largest offset held.
    pub cached_msg_max_offset: i64,
    /// Messages held.
    pub cached_msg_count: i32,
    /// Size of the held messages, MiB.
    #[serde(rename = "cachedMsgSizeInMiB")]
    pub cached_msg_size_in_mib: i32,
    /// Transactional messages (unused by this client).
    pub transaction_msg_min_offset: i64,
    /// Transactional messages (unused by this client).
    pub transaction_msg_max_offset: i64,
    /// Transactional messages (unused by this client).
    pub transaction_msg_count: i32,
    /// Orderly: locked on the broker.
    pub locked: bool,
    /// Orderly: unlock attempts.
    pub try_unlock_times: i64,
    /// Orderly: last lock, ms.
    pub last_lock_timestamp: i64,
    /// Released (Java's spelling).
    pub droped: bool,
    /// Last pull, ms.
    pub last_pull_timestamp: i64,
    /// Last consumption, ms.
    pub last_consume_timestamp: i64,
}

/// The whole report (Java `ConsumerRunningInfo`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRunningInfo {
    /// `PROP_*` facts about the consumer.
    pub properties: BTreeMap<String, String>,
    /// Subscriptions, retry topic included.
    pub subscription_set: Vec<SubscriptionData>,
    /// Held queues.
    pub mq_table: ObjectKeyMap<MessageQueue, ProcessQueueInfo>,
    /// Per-topic rates (not measured by this client; empty).
    pub status_table: BTreeMap<String, serde_json::Value>,
}

impl ConsumerRunningInfo {
    /// Encodes as the Java client does: queue keys inline as objects (fastjson form 2).
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(fastjson::to_vec_object_keys(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_queue_keys_inline() {
        let mut info = ConsumerRunningInfo::default();
        info.properties
            .insert("PROP_CONSUME_TYPE".into(), "CONSUME_PASSIVELY".into());
        info.mq_table.0.insert(
            MessageQueue::new("T", "b", 1),
            ProcessQueueInfo {
                commit_offset: 7,
                ..Default::default()
            },
        );
        let text = String::from_utf8(info.encode().unwrap()).unwrap();
        assert!(
            text.contains(r#"{{"brokerName":"b","queueId":1,"topic":"T"}:{"#),
            "{text}"
        );
        assert!(text.contains(r#""commitOffset":7"#), "{text}");
        assert!(text.contains(r#""cachedMsgSizeInMiB":0"#), "{text}");
    }
}
