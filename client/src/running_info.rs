//! GET_CONSUMER_RUNNING_INFO (307): what a push consumer reports about itself when an admin asks
//! through the broker (Java `ConsumerRunningInfo`, read by `mqadmin consumerStatus`).

use std::collections::BTreeMap;

use remoting::body::client::{MessageQueue, SubscriptionData};
use remoting::fastjson::{self, ObjectKeyMap};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One held queue (Java `ProcessQueueInfo`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
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

    /// Decodes a report (Java's or ours; `jstack` and unknown fields ignored).
    pub fn decode(body: &[u8]) -> Result<Self> {
        Ok(fastjson::from_slice(body)?)
    }

    /// Java's `ConsumerRunningInfo.formatString()`, as `mqadmin consumerStatus -i` prints it
    /// (times in UTC, `yyyyMMddHHmmssSSS`; the rate table is empty: this client does not
    /// measure rates).
    pub fn format_string(&self) -> String {
        let mut sb = String::from("#Consumer Properties#\n");
        for (k, v) in &self.properties {
            sb.push_str(&format!("{k:<40}: {v}\n"));
        }
        sb.push_str("\n\n#Consumer Subscription#\n");
        for (i, s) in self.subscription_set.iter().enumerate() {
            sb.push_str(&format!(
                "{:03} Topic: {:<40} ClassFilter: {:<8} SubExpression: {}\n",
                i + 1,
                s.topic,
                s.class_filter_mode,
                s.sub_string
            ));
        }
        sb.push_str("\n\n#Consumer Offset#\n");
        sb.push_str(&format!(
            "{:<64}  {:<32}  {:<20}\n",
            "#Topic", "#Broker Name", "#QID"
        ));
        for (mq, pq) in &self.mq_table.0 {
            sb.push_str(&format!(
                "{:<32}  {:<32}  {:<4}  {:<20}\n",
                mq.topic, mq.broker_name, mq.queue_id, pq.commit_offset
            ));
        }
        sb.push_str("\n\n#Consumer MQ Detail#\n");
        sb.push_str(&format!(
            "{:<64}  {:<32}  {:<20}\n",
            "#Topic", "#Broker Name", "#QID"
        ));
        for (mq, pq) in &self.mq_table.0 {
            sb.push_str(&format!(
                "{:<64}  {:<32}  {:<4}  {}\n",
                mq.topic,
                mq.broker_name,
                mq.queue_id,
                pq.java_text()
            ));
        }
        sb.push_str("\n\n#Consumer RT&TPS#\n");
        sb.push_str(&format!(
            "{:<64}  {:>14} {:>14} {:>14} {:>14} {:>18} {:>25}\n",
            "#Topic",
            "#Pull RT",
            "#Pull TPS",
            "#Consume RT",
            "#ConsumeOK TPS",
            "#ConsumeFailed TPS",
            "#ConsumeFailedMsgsInHour"
        ));
        sb
    }
}

impl ProcessQueueInfo {
    /// Java's `ProcessQueueInfo.toString()`.
    pub fn java_text(&self) -> String {
        format!(
            "ProcessQueueInfo [commitOffset={}, cachedMsgMinOffset={}, cachedMsgMaxOffset={}, \
             cachedMsgCount={}, cachedMsgSizeInMiB={}, transactionMsgMinOffset={}, \
             transactionMsgMaxOffset={}, transactionMsgCount={}, locked={}, tryUnlockTimes={}, \
             lastLockTimestamp={}, droped={}, lastPullTimestamp={}, lastConsumeTimestamp={}]",
            self.commit_offset,
            self.cached_msg_min_offset,
            self.cached_msg_max_offset,
            self.cached_msg_count,
            self.cached_msg_size_in_mib,
            self.transaction_msg_min_offset,
            self.transaction_msg_max_offset,
            self.transaction_msg_count,
            self.locked,
            self.try_unlock_times,
            human_time(self.last_lock_timestamp),
            self.droped,
            human_time(self.last_pull_timestamp),
            human_time(self.last_consume_timestamp),
        )
    }
}

/// Java's `UtilAll.timeMillisToHumanString` (`yyyyMMddHHmmssSSS`), in UTC.
pub fn human_time(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}{milli:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_time_is_javas_layout_in_utc() {
        assert_eq!(human_time(0), "19700101000000000");
        assert_eq!(human_time(1_700_000_000_123), "20231114221320123");
    }

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
        // Read back (as mqadmin consumerStatus does) and laid out as Java's formatString.
        let back = ConsumerRunningInfo::decode(text.as_bytes()).unwrap();
        let f = back.format_string();
        assert!(
            f.starts_with("#Consumer Properties#\nPROP_CONSUME_TYPE"),
            "{f}"
        );
        assert!(
            f.contains(&format!("{:<32}  {:<32}  {:<4}  {:<20}\n", "T", "b", 1, 7)),
            "{f}"
        );
        assert!(f.contains("ProcessQueueInfo [commitOffset=7, "), "{f}");
    }
}
