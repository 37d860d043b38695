//! Bodies exchanged with producers and consumers (spec §3.7, §3.8, §3.12): heartbeats,
//! subscriptions, connection lists, queue locks, and the [`MessageQueue`] shared by many bodies.
//!
//! Every body decodes with [`fastjson::from_slice`] (standard JSON and the Java dialect) and
//! encodes as standard JSON. Fields absent on input take their Java defaults, unknown fields are
//! ignored, and enum names this crate does not know are kept as they were sent.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::command::LanguageCode;
use crate::error::Result;
use crate::fastjson;

/// Implements `decode` (Java dialect accepted) and `encode` (standard JSON) for body types.
macro_rules! json_body {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// Decodes the JSON body (standard JSON or the fastjson dialect).
            pub fn decode(body: &[u8]) -> Result<Self> {
                fastjson::from_slice(body)
            }

            /// Encodes as standard JSON.
            pub fn encode(&self) -> Result<Vec<u8>> {
                fastjson::to_vec(self)
            }
        }
    )*};
}
pub(crate) use json_body;

/// Declares an enum written by its Java name, with an `Other` variant that keeps names this crate
/// does not know (a newer client must not fail its heartbeat over a new enum constant).
macro_rules! name_enum {
    ($(#[$meta:meta])* $name:ident default $default:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A name this crate does not know, kept verbatim.
            Other(String),
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl $name {
            /// The Java enum name.
            pub fn name(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(s) => s,
                }
            }

            /// Parses a Java enum name; unknown names become `Other`.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// The Java name, or (as the C++ client and fastjson write enums) the ordinal: the
            /// variants are declared in Java's order.
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum NameOrOrdinal {
                    Ordinal(u64),
                    Name(String),
                }
                Ok(match NameOrOrdinal::deserialize(d)? {
                    NameOrOrdinal::Name(name) => $name::from_name(&name),
                    NameOrOrdinal::Ordinal(i) => {
                        let all = [$($name::$variant,)*];
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| all.get(i).cloned())
                            .unwrap_or_else(|| $name::Other(i.to_string()))
                    }
                })
            }
        }
    };
}

name_enum! {
    /// How a consumer obtains messages (`ConsumeType`).
    ConsumeType default ConsumePassively {
        /// Pull consumer.
        ConsumeActively = "CONSUME_ACTIVELY",
        /// Push consumer (the default).
        ConsumePassively = "CONSUME_PASSIVELY",
        /// 5.x pop consumer.
        ConsumePop = "CONSUME_POP",
    }
}

name_enum! {
    /// Clustering (each message to one member) or broadcasting (`MessageModel`).
    MessageModel default Clustering {
        /// Every member gets every message.
        Broadcasting = "BROADCASTING",
        /// Members share the queues (the default).
        Clustering = "CLUSTERING",
    }
}

name_enum! {
    /// Where a new consumer group starts (`ConsumeFromWhere`).
    ConsumeFromWhere default ConsumeFromLastOffset {
        /// The queue's end (the default).
        ConsumeFromLastOffset = "CONSUME_FROM_LAST_OFFSET",
        /// Deprecated.
        ConsumeFromLastOffsetAndFromMinWhenBootFirst = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        /// Deprecated.
        ConsumeFromMinOffset = "CONSUME_FROM_MIN_OFFSET",
        /// Deprecated.
        ConsumeFromMaxOffset = "CONSUME_FROM_MAX_OFFSET",
        /// The queue's start.
        ConsumeFromFirstOffset = "CONSUME_FROM_FIRST_OFFSET",
        /// The first message stored at or after the consumer's timestamp.
        ConsumeFromTimestamp = "CONSUME_FROM_TIMESTAMP",
    }
}

/// One queue of a topic on one broker (`MessageQueue`): `{"topic":..,"brokerName":..,"queueId":..}`.
/// Ordered by topic, then broker name, then queue id, as Java's `compareTo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    /// Topic.
    pub topic: String,
    /// Broker name (not address).
    pub broker_name: String,
    /// Queue id within the topic on that broker.
    pub queue_id: i32,
}

impl MessageQueue {
    /// A queue.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.topic
            .cmp(&other.topic)
            .then_with(|| self.broker_name.cmp(&other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

/// Tag expression type `TAG` (the default).
pub const EXPRESSION_TYPE_TAG: &str = "TAG";
/// Tag expression type `SQL92`.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";
/// The subscription expression that matches every tag.
pub const SUB_ALL: &str = "*";

fn default_expression_type() -> String {
    EXPRESSION_TYPE_TAG.to_string()
}

/// One topic subscription of a consumer group (`SubscriptionData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    /// Topic.
    pub topic: String,
    /// The expression as written: `*`, `TagA || TagB`, or SQL92 text.
    pub sub_string: String,
    /// The tags of a TAG expression (empty for `*`).
    pub tags_set: BTreeSet<String>,
    /// Java `String.hashCode()` of each tag. Numbers or numeric strings on input.
    #[serde(deserialize_with = "lenient::i32_set")]
    pub code_set: BTreeSet<i32>,
    /// Version (a timestamp, ms) of this subscription; pulls with a newer version than the
    /// registered one get SUBSCRIPTION_NOT_LATEST. The C++ client sends it as a string.
    #[serde(deserialize_with = "lenient::i64")]
    pub sub_version: i64,
    /// `TAG` (default) or `SQL92`.
    pub expression_type: String,
    /// Class filter mode (removed feature); default false.
    pub class_filter_mode: bool,
    /// Class filter source (removed feature); Java never serialises it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_class_source: Option<String>,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            topic: String::new(),
            sub_string: String::new(),
            tags_set: BTreeSet::new(),
            code_set: BTreeSet::new(),
            sub_version: 0,
            expression_type: default_expression_type(),
            class_filter_mode: false,
            filter_class_source: None,
        }
    }
}

impl SubscriptionData {
    /// True for a TAG subscription to every tag.
    pub fn is_all(&self) -> bool {
        let s = self.sub_string.trim();
        s.is_empty() || s == SUB_ALL
    }

    /// True for a TAG expression (also when the type is absent or empty).
    pub fn is_tag_type(&self) -> bool {
        self.expression_type.is_empty() || self.expression_type.eq_ignore_ascii_case("TAG")
    }
}

/// A producer group a client belongs to (`ProducerData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    /// Producer group.
    pub group_name: String,
}

/// A consumer group a client belongs to, with its subscriptions (`ConsumerData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    /// Consumer group.
    pub group_name: String,
    /// Pull or push.
    pub consume_type: ConsumeType,
    /// Clustering or broadcasting.
    pub message_model: MessageModel,
    /// Where a new group starts.
    pub consume_from_where: ConsumeFromWhere,
    /// Subscriptions, one per topic.
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit mode; default false.
    pub unit_mode: bool,
}

/// HEART_BEAT body (`HeartbeatData`, spec §3.7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    /// Client id, `ip@instance` (note the capital `ID` of the Java field).
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Producer groups of the client.
    pub producer_data_set: Vec<ProducerData>,
    /// Consumer groups of the client.
    pub consumer_data_set: Vec<ConsumerData>,
    /// 5.x: fingerprint of the subscriptions, so unchanged heartbeats can omit them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_fingerprint: Option<i32>,
    /// 5.x: this heartbeat omits the subscriptions (they did not change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_without_sub: Option<bool>,
}

/// One client connection as admin tools see it (`Connection`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    /// Client id.
    pub client_id: String,
    /// Client socket address, `ip:port`.
    pub client_addr: String,
    /// Client language.
    pub language: LanguageCode,
    /// Client `MQVersion` ordinal.
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST body (`ConsumerConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    /// Connected members.
    pub connection_set: Vec<Connection>,
    /// Topic → subscription.
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    /// Pull or push.
    pub consume_type: ConsumeType,
    /// Clustering or broadcasting.
    pub message_model: MessageModel,
    /// Where the group starts.
    pub consume_from_where: ConsumeFromWhere,
}

/// GET_PRODUCER_CONNECTION_LIST body (`ProducerConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    /// Connected producers.
    pub connection_set: Vec<Connection>,
}

/// LOCK_BATCH_MQ and UNLOCK_BATCH_MQ request body (`LockBatchRequestBody`,
/// `UnlockBatchRequestBody`: the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    /// Consumer group.
    pub consumer_group: String,
    /// Client asking.
    pub client_id: String,
    /// 5.x: do not forward to the other brokers of the group; default false.
    pub only_this_broker: bool,
    /// Queues to lock (or unlock).
    pub mq_set: BTreeSet<MessageQueue>,
}

/// UNLOCK_BATCH_MQ body: the same shape as the lock request.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

/// LOCK_BATCH_MQ response body (`LockBatchResponseBody`): the queues this client now holds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    /// Queues locked by the client.
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

/// GET_CONSUMER_LIST_BY_GROUP response body (`GetConsumerListByGroupResponseBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerListByGroupResponseBody {
    /// Client ids of the group's live members.
    pub consumer_id_list: Vec<String>,
}

/// CHECK_CLIENT_CONFIG request body (`CheckClientRequestBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckClientRequestBody {
    /// Client id.
    pub client_id: String,
    /// Consumer group.
    pub group: String,
    /// The subscription to validate.
    pub subscription_data: SubscriptionData,
}

json_body!(
    MessageQueue,
    SubscriptionData,
    HeartbeatData,
    ConsumerConnection,
    ProducerConnection,
    LockBatchRequestBody,
    LockBatchResponseBody,
    GetConsumerListByGroupResponseBody,
    CheckClientRequestBody,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_from_spec() {
        let text = br#"{"clientID":"10.0.0.5@12345",
 "producerDataSet":[{"groupName":"PG1"}],
 "consumerDataSet":[{"groupName":"CG1","consumeType":"CONSUME_PASSIVELY",
    "messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","unitMode":false,
    "subscriptionDataSet":[{"topic":"T1","subString":"TagA || TagB","tagsSet":["TagA","TagB"],
       "codeSet":[2598919,2598920],"subVersion":1700000000000,"expressionType":"TAG",
       "classFilterMode":false}]}]}"#;
        let hb = HeartbeatData::decode(text).unwrap();
        assert_eq!(hb.client_id, "10.0.0.5@12345");
        assert_eq!(hb.producer_data_set[0].group_name, "PG1");
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
        assert_eq!(c.message_model, MessageModel::Clustering);
        assert_eq!(
            c.consume_from_where,
            ConsumeFromWhere::ConsumeFromLastOffset
        );
        let s = &c.subscription_data_set[0];
        assert!(s.tags_set.contains("TagB"));
        assert!(s.code_set.contains(&2598920));
        assert_eq!(s.sub_version, 1_700_000_000_000);
        let back = HeartbeatData::decode(&hb.encode().unwrap()).unwrap();
        assert_eq!(back, hb);
        // Enum names are written back as sent.
        let text = String::from_utf8(hb.encode().unwrap()).unwrap();
        assert!(
            text.contains(r#""consumeType":"CONSUME_PASSIVELY""#),
            "{text}"
        );
        assert!(text.contains(r#""clientID":"10.0.0.5@12345""#), "{text}");
    }

    #[test]
    fn cpp_client_heartbeat_with_string_numbers_decodes() {
        // What the C++ client (PyPI rocketmq 0.4.4) sends: enums as ordinals, subVersion as a string.
        let json = r#"{"clientID":"127.0.0.1@1","consumerDataSet":[{"consumeFromWhere":4,"consumeType":1,"groupName":"g","messageModel":1,"subscriptionDataSet":[{"codeSet":[2598919,"2598920"],"subString":"TagA || TagB","subVersion":"1795706799900","tagsSet":["TagA","TagB"],"topic":"T"}]}],"producerDataSet":[{"groupName":"p"}]}"#;
        let hb = HeartbeatData::decode(json.as_bytes()).unwrap();
        let c = &hb.consumer_data_set[0];
        assert_eq!(
            c.consume_from_where,
            ConsumeFromWhere::ConsumeFromFirstOffset
        );
        assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
        assert_eq!(c.message_model, MessageModel::Clustering);
        let sub = &c.subscription_data_set[0];
        assert_eq!(sub.sub_version, 1795706799900);
        assert_eq!(sub.code_set.len(), 2);
    }

    #[test]
    fn unknown_enum_names_and_fields_survive() {
        let hb = HeartbeatData::decode(
            br#"{"clientID":"c","consumerDataSet":[{"groupName":"G","consumeType":"CONSUME_SOMEHOW",
            "newField":1}],"heartbeatFingerprint":7,"isWithoutSub":true}"#,
        )
        .unwrap();
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.consume_type, ConsumeType::Other("CONSUME_SOMEHOW".into()));
        assert_eq!(c.consume_type.name(), "CONSUME_SOMEHOW");
        assert_eq!(c.message_model.name(), "CLUSTERING");
        assert_eq!(c.message_model, MessageModel::Clustering);
        assert_eq!(hb.heartbeat_fingerprint, Some(7));
    }

    #[test]
    fn lock_bodies() {
        let body = LockBatchRequestBody::decode(
            br#"{"consumerGroup":"CG","clientId":"id","mqSet":[{"topic":"T","brokerName":"b","queueId":1},{"topic":"T","brokerName":"b","queueId":0}]}"#,
        )
        .unwrap();
        assert_eq!(body.mq_set.len(), 2);
        assert_eq!(body.mq_set.iter().next().unwrap().queue_id, 0);
        let resp = LockBatchResponseBody {
            lock_ok_mq_set: body.mq_set.clone(),
        };
        let text = String::from_utf8(resp.encode().unwrap()).unwrap();
        assert!(text.starts_with(r#"{"lockOKMQSet":[{"#), "{text}");
        assert_eq!(
            LockBatchResponseBody::decode(text.as_bytes()).unwrap(),
            resp
        );
    }

    #[test]
    fn connections() {
        let text = br#"{"connectionSet":[{"clientId":"c1","clientAddr":"127.0.0.1:5000","language":"JAVA","version":409},{"clientId":"c2","clientAddr":"x","language":"SOMETHING","version":1}],
            "subscriptionTable":{"T":{"topic":"T","subString":"*","subVersion":1}},"consumeType":"CONSUME_ACTIVELY","messageModel":"BROADCASTING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET"}"#;
        let cc = ConsumerConnection::decode(text).unwrap();
        assert_eq!(cc.connection_set[0].language, LanguageCode::Java);
        assert_eq!(cc.connection_set[1].language, LanguageCode::Other);
        assert!(cc.subscription_table["T"].is_all());
        assert_eq!(cc.subscription_table["T"].expression_type, "TAG");
        assert_eq!(
            ConsumerConnection::decode(&cc.encode().unwrap()).unwrap(),
            cc
        );
    }

    #[test]
    fn message_queue_order_is_javas() {
        let a = MessageQueue::new("A", "z", 5);
        let b = MessageQueue::new("B", "a", 0);
        let c = MessageQueue::new("B", "a", 1);
        assert!(a < b && b < c);
    }
}

/// Numbers that some clients write as strings (the C++ client's `subVersion`, `codeSet`).
mod lenient {
    use serde::{Deserialize, Deserializer, de::Error};
    use std::collections::BTreeSet;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(i64),
        Float(f64),
        Text(String),
    }

    impl NumOrText {
        fn to_i64<E: Error>(&self) -> Result<i64, E> {
            match self {
                NumOrText::Num(n) => Ok(*n),
                NumOrText::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
                NumOrText::Float(f) => Err(E::custom(format!("not an integer: {f}"))),
                NumOrText::Text(t) => t
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("not an integer: {t:?}"))),
            }
        }
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        NumOrText::deserialize(d)?.to_i64()
    }

    pub fn i32_set<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<i32>, D::Error> {
        let items = Option::<Vec<NumOrText>>::deserialize(d)?.unwrap_or_default();
        items
            .iter()
            .map(|v| {
                let n = v.to_i64::<D::Error>()?;
                i32::try_from(n).map_err(|_| D::Error::custom(format!("tag hash {n} out of range")))
            })
            .collect()
    }
}
