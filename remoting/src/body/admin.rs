//! Admin and broker-sync bodies (spec §3.10): topic and consume statistics, consumer and delay
//! offsets, offset resets, subscription groups.
//!
//! Bodies keyed by [`MessageQueue`] ([`TopicStatsTable`], [`ConsumeStats`], [`ResetOffsetBody`])
//! encode with the queue objects as inline map keys (fastjson form 2, spec §1.7): that is what the
//! Java broker sends and the only form Java admin tools parse back. They decode from that form and
//! from standard JSON with the key objects as strings. Everything else encodes as standard JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::body::client::{MessageQueue, json_body};
use crate::body::topic::DataVersion;
use crate::error::Result;
use crate::fastjson::{self, ObjectKeyMap};

/// Implements `decode` (both dialects) and `encode` (object keys inline, form 2) plus
/// `encode_standard` (keys as JSON strings) for bodies keyed by [`MessageQueue`].
macro_rules! object_key_body {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// Decodes the JSON body (standard JSON or the fastjson dialect).
            pub fn decode(body: &[u8]) -> Result<Self> {
                fastjson::from_slice(body)
            }

            /// Encodes as the Java broker does: queue keys written inline as objects (form 2).
            pub fn encode(&self) -> Result<Vec<u8>> {
                fastjson::to_vec_object_keys(self)
            }

            /// Encodes as standard JSON, each queue key a string holding its JSON text.
            pub fn encode_standard(&self) -> Result<Vec<u8>> {
                fastjson::to_vec(self)
            }
        }
    )*};
}

/// Offsets of one queue in GET_TOPIC_STATS_INFO (`TopicOffset`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    /// Smallest offset still stored.
    pub min_offset: i64,
    /// Next offset to be written.
    pub max_offset: i64,
    /// Store time of the last message, ms (0 when the queue is empty).
    pub last_update_timestamp: i64,
}

/// GET_TOPIC_STATS_INFO body (`TopicStatsTable`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicStatsTable {
    /// Queue → offsets.
    pub offset_table: ObjectKeyMap<MessageQueue, TopicOffset>,
    /// 5.x: put TPS of the topic; omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_put_tps: Option<f64>,
}

/// Offsets of one queue for a group in GET_CONSUME_STATS (`OffsetWrapper`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// Next offset to be written in the queue.
    pub broker_offset: i64,
    /// The group's committed offset.
    pub consumer_offset: i64,
    /// 5.x: the group's pull offset; omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_offset: Option<i64>,
    /// Store time of the message at the consumer offset, ms (0 when unknown).
    pub last_timestamp: i64,
}

/// GET_CONSUME_STATS body (`ConsumeStats`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStats {
    /// Queue → offsets.
    pub offset_table: ObjectKeyMap<MessageQueue, OffsetWrapper>,
    /// Consume rate of the group, messages per second.
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// Messages not yet consumed: the sum of `brokerOffset - consumerOffset` (Java
    /// `computeTotalDiff`).
    pub fn total_diff(&self) -> i64 {
        self.offset_table
            .values()
            .map(|w| w.broker_offset.saturating_sub(w.consumer_offset))
            .sum()
    }
}

/// INVOKE_BROKER_TO_RESET_OFFSET answer and RESET_CONSUMER_CLIENT_OFFSET body (`ResetOffsetBody`):
/// the new offset of each queue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResetOffsetBody {
    /// Queue → offset to resume from.
    pub offset_table: ObjectKeyMap<MessageQueue, i64>,
}

object_key_body!(TopicStatsTable, ConsumeStats, ResetOffsetBody);

/// GET_ALL_CONSUMER_OFFSET body and the broker's `consumerOffset.json`
/// (`ConsumerOffsetSerializeWrapper`): `{"offsetTable":{"topic@group":{0:5,1:7}}}`. Java writes
/// the queue ids unquoted; this type reads that and writes them quoted (standard JSON, which
/// fastjson reads too).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerOffsetSerializeWrapper {
    /// `topic@group` → queue id → committed offset.
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
    /// 5.x: version of the table; omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_version: Option<DataVersion>,
}

/// The separator of the `topic@group` keys of [`ConsumerOffsetSerializeWrapper`].
pub const TOPIC_GROUP_SEPARATOR: char = '@';

impl ConsumerOffsetSerializeWrapper {
    /// The key of a (topic, group) pair.
    pub fn key(topic: &str, group: &str) -> String {
        format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}")
    }

    /// Splits a `topic@group` key. Topic names cannot contain `@`, so the first one separates.
    pub fn split_key(key: &str) -> Option<(&str, &str)> {
        key.split_once(TOPIC_GROUP_SEPARATOR)
    }
}

/// GET_ALL_DELAY_OFFSET body and the broker's `delayOffset.json`
/// (`DelayOffsetSerializeWrapper`): `{"offsetTable":{1:0,2:14}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DelayOffsetSerializeWrapper {
    /// Delay level → offset of the schedule topic's queue delivered so far.
    pub offset_table: BTreeMap<i32, i64>,
    /// 5.x: version of the table; omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_version: Option<DataVersion>,
}

/// Time span of one queue for a group in QUERY_CONSUME_TIME_SPAN (`QueueTimeSpan`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueTimeSpan {
    /// The queue.
    pub message_queue: MessageQueue,
    /// Store time of the queue's first message, ms.
    pub min_time_stamp: i64,
    /// Store time of the queue's last message, ms.
    pub max_time_stamp: i64,
    /// Store time of the message at the group's offset, ms.
    pub consume_time_stamp: i64,
    /// `maxTimeStamp - consumeTimeStamp`, ms.
    pub delay_time: i64,
}

/// QUERY_CONSUME_TIME_SPAN body (`QueryConsumeTimeSpanBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryConsumeTimeSpanBody {
    /// One entry per queue.
    pub consume_time_span_set: Vec<QueueTimeSpan>,
}

/// QUERY_TOPIC_CONSUME_BY_WHO body (`GroupList`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    /// Consumer groups.
    pub group_list: BTreeSet<String>,
}

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn sixteen() -> i32 {
    16
}

/// A consumer group's settings (`SubscriptionGroupConfig`, 4.9.8 fields and defaults), as in
/// `subscriptionGroup.json` and UPDATE_AND_CREATE_SUBSCRIPTIONGROUP bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionGroupConfig {
    /// Group name.
    #[serde(default)]
    pub group_name: String,
    /// Whether the group may consume; default true.
    #[serde(default = "yes")]
    pub consume_enable: bool,
    /// Whether a new group starts from the queue's min offset; default true.
    #[serde(default = "yes")]
    pub consume_from_min_enable: bool,
    /// Whether broadcasting consumption is allowed; default true.
    #[serde(default = "yes")]
    pub consume_broadcast_enable: bool,
    /// Queue count of the group's `%RETRY%` topic; default 1.
    #[serde(default = "one")]
    pub retry_queue_nums: i32,
    /// Deliveries before a message goes to the DLQ; default 16.
    #[serde(default = "sixteen")]
    pub retry_max_times: i32,
    /// Broker id the group normally reads from; default 0 (master).
    #[serde(default)]
    pub broker_id: i64,
    /// Broker id suggested when the group lags (reads from disk); default 1.
    #[serde(default = "one_i64")]
    pub which_broker_when_consume_slowly: i64,
    /// Whether members are told when membership changes; default true.
    #[serde(default = "yes")]
    pub notify_consumer_ids_changed_enable: bool,
    /// 5.x: group sysFlag; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_sys_flag: Option<i32>,
    /// 5.x: orderly consumption; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_message_orderly: Option<bool>,
    /// 5.x: consume timeout, minutes; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_timeout_minute: Option<i32>,
    /// 5.x: attributes; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

fn one_i64() -> i64 {
    1
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig::new("")
    }
}

impl SubscriptionGroupConfig {
    /// A group with every Java default.
    pub fn new(group_name: impl Into<String>) -> Self {
        SubscriptionGroupConfig {
            group_name: group_name.into(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: None,
            consume_message_orderly: None,
            consume_timeout_minute: None,
            attributes: None,
        }
    }
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG body and the broker's `subscriptionGroup.json`
/// (`SubscriptionGroupWrapper`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    /// Group name → settings.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    /// Version of the table.
    pub data_version: DataVersion,
}

/// Keys of the GET_BROKER_RUNTIME_INFO answer (a `KVTable`, every value a string) as the 4.9.8
/// broker fills it: `AdminBrokerProcessor.prepareRuntimeInfo` plus the store's
/// `getRuntimeInfo`. Java tools read several of them without a null check (spec §14), so a broker
/// should send all of them. Value formats: counts, sizes, offsets and timestamps (ms) as decimal
/// integers; `putTps`, `getFoundTps`, `getMissTps`, `getTotalTps` and `getTransferedTps` as three
/// space-separated decimals (rates over 10 s, 1 min, 10 min, e.g. `"12.5 11.0 9.8"`);
/// `commitLogDiskRatio` and `consumeQueueDiskRatio` as a used fraction of the disk (`"0.42"`);
/// `brokerVersionDesc` as the version name (`"V4_9_8"`) and `brokerVersion` as its ordinal
/// (`"409"`). The store also adds `commitLogDiskRatio_<path>` per commit-log path and the schedule
/// service `scheduleMessageOffset_<level>` = `"<delivered>,<max>"` per delay level.
pub const BROKER_RUNTIME_INFO_KEYS: &[&str] = &[
    // AdminBrokerProcessor.prepareRuntimeInfo
    "brokerVersionDesc",
    "brokerVersion",
    "msgPutTotalYesterdayMorning",
    "msgPutTotalTodayMorning",
    "msgPutTotalTodayNow",
    "msgGetTotalYesterdayMorning",
    "msgGetTotalTodayMorning",
    "msgGetTotalTodayNow",
    "sendThreadPoolQueueSize",
    "sendThreadPoolQueueCapacity",
    "pullThreadPoolQueueSize",
    "pullThreadPoolQueueCapacity",
    "queryThreadPoolQueueSize",
    "queryThreadPoolQueueCapacity",
    "EndTransactionQueueSize",
    "EndTransactionThreadPoolQueueCapacity",
    "dispatchBehindBytes",
    "pageCacheLockTimeMills",
    "sendThreadPoolQueueHeadWaitTimeMills",
    "pullThreadPoolQueueHeadWaitTimeMills",
    "queryThreadPoolQueueHeadWaitTimeMills",
    "earliestMessageTimeStamp",
    "startAcceptSendRequestTimeStamp",
    "remainTransientStoreBufferNumbs",
    "remainHowManyDataToCommit",
    "remainHowManyDataToFlush",
    "commitLogDirCapacity",
    // StoreStatsService.getRuntimeInfo
    "bootTimestamp",
    "runtime",
    "putMessageEntireTimeMax",
    "putMessageTimesTotal",
    "putMessageFailedTimes",
    "putMessageSizeTotal",
    "putMessageDistributeTime",
    "putMessageAverageSize",
    "dispatchMaxBuffer",
    "getMessageEntireTimeMax",
    "putTps",
    "getFoundTps",
    "getMissTps",
    "getTotalTps",
    "getTransferedTps",
    "putLatency99",
    "putLatency999",
    // DefaultMessageStore.getRuntimeInfo
    "commitLogDiskRatio",
    "consumeQueueDiskRatio",
    "commitLogMinOffset",
    "commitLogMaxOffset",
];

/// The runtime-info keys `mqadmin clusterList` (4.9.8 `ClusterListSubCommand`) reads; it throws
/// when `putTps` or `getTransferedTps` is missing.
pub const CLUSTER_LIST_RUNTIME_KEYS: &[&str] = &[
    "brokerVersionDesc",
    "putTps",
    "getTransferedTps",
    "sendThreadPoolQueueSize",
    "pullThreadPoolQueueSize",
    "sendThreadPoolQueueHeadWaitTimeMills",
    "pullThreadPoolQueueHeadWaitTimeMills",
    "pageCacheLockTimeMills",
    "earliestMessageTimeStamp",
    "commitLogDiskRatio",
    "msgPutTotalYesterdayMorning",
    "msgPutTotalTodayMorning",
    "msgPutTotalTodayNow",
    "msgGetTotalYesterdayMorning",
    "msgGetTotalTodayMorning",
    "msgGetTotalTodayNow",
];

/// GET_BROKER_CONSUME_STATS (317) body (`ConsumeStatsList`): per subscription group, the
/// consume statistics of each of its topics, and the total lag.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStatsList {
    /// One map per group: group → statistics of each topic it consumes.
    pub consume_stats_list: Vec<BTreeMap<String, Vec<ConsumeStats>>>,
    /// The answering broker's address.
    pub broker_addr: String,
    /// Sum of every statistic's lag.
    pub total_diff: i64,
}

object_key_body!(ConsumeStatsList);

/// One producer connection in GET_ALL_PRODUCER_INFO (`ProducerInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerInfo {
    /// Client id.
    pub client_id: String,
    /// Client socket address, `ip:port`.
    #[serde(rename = "remoteIP")]
    pub remote_ip: String,
    /// Client language.
    pub language: crate::LanguageCode,
    /// Client `MQVersion` ordinal.
    pub version: i32,
    /// Last heartbeat, ms since the epoch.
    pub last_update_timestamp: i64,
}

/// GET_ALL_PRODUCER_INFO (328) body (`ProducerTableInfo`): producer group → connections.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerTableInfo {
    /// Producer group → its connections.
    pub data: BTreeMap<String, Vec<ProducerInfo>>,
}

/// One consume-queue entry in QUERY_CONSUME_QUEUE (`ConsumeQueueData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeQueueData {
    /// Commit-log offset of the message.
    pub physic_offset: i64,
    /// Size of the stored record.
    pub physic_size: i32,
    /// Tag hash code (delivery time for the schedule topic).
    pub tags_code: i64,
    /// Extended unit as JSON (consume-queue ext); absent here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend_data_json: Option<String>,
    /// Bloom filter bits of the ext unit; absent here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_map: Option<String>,
    /// Whether the group's filter matches the entry.
    pub eval: bool,
    /// A note about the entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

/// QUERY_CONSUME_QUEUE (321) body (`QueryConsumeQueueResponseBody`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryConsumeQueueResponseBody {
    /// The asking group's subscription of the topic, when it is online.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_data: Option<crate::body::client::SubscriptionData>,
    /// The group's filter data, or why there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_data: Option<String>,
    /// The entries.
    pub queue_data: Vec<ConsumeQueueData>,
    /// Next index to be written.
    pub max_queue_index: i64,
    /// Smallest index still readable.
    pub min_queue_index: i64,
}

json_body!(
    ConsumerOffsetSerializeWrapper,
    DelayOffsetSerializeWrapper,
    QueryConsumeTimeSpanBody,
    GroupList,
    SubscriptionGroupConfig,
    SubscriptionGroupWrapper,
    ProducerTableInfo,
    QueryConsumeQueueResponseBody,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_stats_java_form() {
        let text = br#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":7,"consumerOffset":7,"lastTimestamp":0},{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":1700000000000}}}"#;
        let cs = ConsumeStats::decode(text).unwrap();
        assert_eq!(cs.offset_table.len(), 2);
        assert_eq!(cs.total_diff(), 6);
        let mq = MessageQueue::new("T", "broker-a", 1);
        assert_eq!(cs.offset_table[&mq].consumer_offset, 4);
        let out = cs.encode().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            std::str::from_utf8(text).unwrap()
        );
        let std = cs.encode_standard().unwrap();
        serde_json::from_slice::<serde_json::Value>(&std).unwrap();
        assert_eq!(ConsumeStats::decode(&std).unwrap(), cs);
    }

    #[test]
    fn topic_stats_and_reset_offsets() {
        let mut t = TopicStatsTable::default();
        t.offset_table.insert(
            MessageQueue::new("T", "b", 0),
            TopicOffset {
                min_offset: 0,
                max_offset: 9,
                last_update_timestamp: 5,
            },
        );
        let out = String::from_utf8(t.encode().unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"lastUpdateTimestamp":5,"maxOffset":9,"minOffset":0}}}"#
        );
        assert_eq!(TopicStatsTable::decode(out.as_bytes()).unwrap(), t);
        let r = ResetOffsetBody {
            offset_table: [(MessageQueue::new("T", "b", 3), 42)].into_iter().collect(),
        };
        assert_eq!(ResetOffsetBody::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn consumer_offsets_unquoted_keys() {
        let w = ConsumerOffsetSerializeWrapper::decode(
            br#"{"offsetTable":{"T@G":{0:5,1:7},"%RETRY%G@G":{0:0}}}"#,
        )
        .unwrap();
        assert_eq!(w.offset_table["T@G"][&1], 7);
        assert_eq!(
            ConsumerOffsetSerializeWrapper::split_key("%RETRY%G@G"),
            Some(("%RETRY%G", "G"))
        );
        let out = String::from_utf8(w.encode().unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"offsetTable":{"%RETRY%G@G":{"0":0},"T@G":{"0":5,"1":7}}}"#
        );
        assert_eq!(
            ConsumerOffsetSerializeWrapper::decode(out.as_bytes()).unwrap(),
            w
        );
        let d = DelayOffsetSerializeWrapper::decode(br#"{"offsetTable":{1:0,2:14}}"#).unwrap();
        assert_eq!(d.offset_table[&2], 14);
    }

    #[test]
    fn cluster_list_keys_are_runtime_keys() {
        for k in CLUSTER_LIST_RUNTIME_KEYS {
            assert!(BROKER_RUNTIME_INFO_KEYS.contains(k), "{k}");
        }
    }

    #[test]
    fn subscription_group_defaults() {
        let g = SubscriptionGroupConfig::decode(br#"{"groupName":"CG"}"#).unwrap();
        assert_eq!(g, SubscriptionGroupConfig::new("CG"));
        assert_eq!(g.retry_max_times, 16);
        assert_eq!(g.which_broker_when_consume_slowly, 1);
        let w = SubscriptionGroupWrapper::decode(
            br#"{"subscriptionGroupTable":{"CG":{"groupName":"CG","retryMaxTimes":3,"consumeEnable":false}},"dataVersion":{"timestamp":1,"counter":2}}"#,
        )
        .unwrap();
        assert_eq!(w.subscription_group_table["CG"].retry_max_times, 3);
        assert!(!w.subscription_group_table["CG"].consume_enable);
        assert_eq!(w.data_version.counter, 2);
        assert_eq!(
            SubscriptionGroupWrapper::decode(&w.encode().unwrap()).unwrap(),
            w
        );
    }
}
