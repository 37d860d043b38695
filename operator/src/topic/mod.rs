//! The `RocketMQTopic` custom resource: one topic, declared in git, applied by the operator onto
//! every broker group of the referenced `RocketMQCluster` (Strimzi's KafkaTopic for RocketMQ).
//!
//! The spec maps onto the broker's `TopicConfig` ([`desired`]); everything about applying it,
//! drift, refusals and deletion is shared with consumer groups in [`crate::resource`].

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use remoting::body::topic::{TopicConfig, TopicFilterType, perm};
use serde::{Deserialize, Serialize};

use crate::resource::{DeletionPolicy, ResourceStatus};

/// Longest topic (and group) name the broker accepts (`TOPIC_MAX_LENGTH` of 4.x).
pub const MAX_NAME_LEN: usize = 127;

/// The attribute key `spec.messageType` sets (RocketMQ 5.x `TopicAttributes`).
pub const MESSAGE_TYPE_ATTRIBUTE: &str = "message.type";

/// Most `spec.attributes` entries (the CRD's `maxProperties`, bounding CEL cost).
pub const MAX_ATTRIBUTES: usize = 16;

/// CEL rule on the whole resource: without `spec.topicName`, `metadata.name` is the topic name
/// and must be one the broker accepts (a Kubernetes name is lowercase and may hold `.`).
pub const TOPIC_NAME_DEFAULT_RULE: &str = "has(self.spec.topicName) || (self.metadata.name.size() <= 127 && self.metadata.name.matches('^[a-z0-9-]+$'))";

/// CEL rule: `topicName` keeps its value (set or unset) once the resource exists.
pub const TOPIC_NAME_IMMUTABLE_RULE: &str = "has(self.topicName) == has(oldSelf.topicName) && (!has(self.topicName) || self.topicName == oldSelf.topicName)";

/// CEL rule: a name the broker accepts and that is no retry or dead-letter topic.
pub const BROKER_NAME_RULE: &str = "self.matches('^[%|a-zA-Z0-9_-]+$') && !self.startsWith('%RETRY%') && !self.startsWith('%DLQ%') && self != 'TBW102'";

/// A topic on every broker group of a RocketMQCluster.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rocketmq.rocketmq-rs.io",
    version = "v1alpha1",
    kind = "RocketMQTopic",
    plural = "rocketmqtopics",
    shortname = "rmqtopic",
    category = "rocketmq",
    namespaced,
    status = "ResourceStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.clusterRef"}"#,
    printcolumn = r#"{"name":"Topic","type":"string","jsonPath":".status.name"}"#,
    printcolumn = r#"{"name":"Queues","type":"integer","jsonPath":".spec.writeQueues"}"#,
    printcolumn = r#"{"name":"Applied","type":"string","jsonPath":".status.appliedGroups"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube::core::Rule::new(TOPIC_NAME_DEFAULT_RULE).message("without spec.topicName, metadata.name is the topic name: at most 127 characters of a-z, 0-9 and '-' (set spec.topicName for other names)")
)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = kube::core::Rule::new(TOPIC_NAME_IMMUTABLE_RULE).message("topicName is immutable: create a new RocketMQTopic for another topic"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.messageType) || !has(self.attributes) || !('message.type' in self.attributes)").message("set the message type with messageType, not attributes['message.type']"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.readQueues) || self.readQueues >= self.writeQueues").message("readQueues below writeQueues strands what producers write to the queues nobody reads"))]
pub struct RocketMQTopicSpec {
    /// Name of the RocketMQCluster (same namespace) whose broker groups get the topic.
    /// Immutable.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("clusterRef is immutable"))]
    pub cluster_ref: String,
    /// Topic name on the brokers (letters, digits, `%`, `|`, `-`, `_`; at most 127).
    /// Default: `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 127))]
    #[x_kube(validation = kube::core::Rule::new(BROKER_NAME_RULE).message("topicName: letters, digits, '%', '|', '-', '_'; not a %RETRY%/%DLQ% topic or TBW102"))]
    pub topic_name: Option<String>,
    /// Write queues per broker group (`writeQueueNums`). Default: 8 (as `mqadmin updateTopic`).
    #[serde(default = "default_queues")]
    #[schemars(range(min = 1, max = 1024))]
    pub write_queues: i32,
    /// Read queues per broker group (`readQueueNums`), at least `writeQueues`.
    /// Default: `writeQueues`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub read_queues: Option<i32>,
    /// Permission: 6 read-write, 4 read-only, 2 write-only (`mqadmin updateTopic -p`).
    /// Default: 6.
    #[serde(default = "default_perm")]
    #[x_kube(validation = kube::core::Rule::new("self == 2 || self == 4 || self == 6").message("perm must be 6 (read-write), 4 (read-only) or 2 (write-only)"))]
    pub perm: i32,
    /// Ordered topic (`order`). Default: false.
    #[serde(default)]
    pub order: bool,
    /// RocketMQ 5.x message type (the `message.type` attribute). Default: unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<MessageType>,
    /// Other 5.x topic attributes (`key: value`, sent as `+key=value`; keys the broker stores
    /// that are not listed here are removed). At most 16. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_ATTRIBUTES, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    #[x_kube(validation = kube::core::Rule::new("self.all(k, k.size() <= 64)").message("attribute keys have at most 64 characters"))]
    pub attributes: BTreeMap<String, String>,
    /// What deleting this resource does to the topic: `Delete` removes it from every broker
    /// group and name server, `Orphan` leaves it. Default: `Delete`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// RocketMQ 5.x message types (`TopicMessageType`).
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageType {
    /// Normal messages.
    #[default]
    Normal,
    /// FIFO (ordered) messages.
    Fifo,
    /// Delayed messages.
    Delay,
    /// Transactional messages.
    Transaction,
    /// Any type.
    Mixed,
}

impl MessageType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Normal => "NORMAL",
            MessageType::Fifo => "FIFO",
            MessageType::Delay => "DELAY",
            MessageType::Transaction => "TRANSACTION",
            MessageType::Mixed => "MIXED",
        }
    }
}

fn default_queues() -> i32 {
    8
}
fn default_perm() -> i32 {
    perm::READ_WRITE
}

/// The topic name on the brokers: `spec.topicName`, else `metadata.name`.
pub fn topic_name(t: &RocketMQTopic) -> String {
    t.spec
        .topic_name
        .clone()
        .or_else(|| t.metadata.name.clone())
        .unwrap_or_default()
}

/// Checks the operator makes itself (a CRD installed without its rules, local mode): the same
/// limits as the CEL rules, plus attribute key syntax. Returns every problem.
pub fn check(name: &str, spec: &RocketMQTopicSpec) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = crate::resource::check_broker_name("topic", name) {
        out.push(e);
    }
    if name.starts_with("%RETRY%") || name.starts_with("%DLQ%") || name == "TBW102" {
        out.push(format!(
            "topic {name:?} is a system topic the broker manages itself"
        ));
    }
    let read = spec.read_queues.unwrap_or(spec.write_queues);
    if !(1..=1024).contains(&spec.write_queues) || !(1..=1024).contains(&read) {
        out.push("queue counts must be 1..=1024".to_string());
    }
    if read < spec.write_queues {
        out.push("readQueues below writeQueues".to_string());
    }
    if ![2, 4, 6].contains(&spec.perm) {
        out.push(format!("perm {} is not 2, 4 or 6", spec.perm));
    }
    if spec.attributes.len() > MAX_ATTRIBUTES {
        out.push(format!("more than {MAX_ATTRIBUTES} attributes"));
    }
    for (k, v) in &spec.attributes {
        let key_ok = !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !key_ok {
            out.push(format!(
                "attribute key {k:?}: 1-64 letters, digits, '.', '_' or '-'"
            ));
        }
        if v.len() > 256 || v.contains(',') || v.contains('=') {
            out.push(format!(
                "attribute {k}: value of at most 256 characters without ',' or '='"
            ));
        }
        if k == MESSAGE_TYPE_ATTRIBUTE && spec.message_type.is_some() {
            out.push("message.type set twice (messageType and attributes)".to_string());
        }
    }
    out
}

/// The broker's `TopicConfig` for this resource.
pub fn desired(name: &str, spec: &RocketMQTopicSpec) -> TopicConfig {
    let mut attributes = spec.attributes.clone();
    if let Some(t) = spec.message_type {
        attributes.insert(MESSAGE_TYPE_ATTRIBUTE.to_string(), t.as_str().to_string());
    }
    TopicConfig {
        topic_name: name.to_string(),
        read_queue_nums: spec.read_queues.unwrap_or(spec.write_queues),
        write_queue_nums: spec.write_queues,
        perm: spec.perm,
        topic_filter_type: TopicFilterType::SingleTag,
        topic_sys_flag: 0,
        order: spec.order,
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> serde_json::Value {
        let mut base = serde_json::json!({"clusterRef": "c", "writeQueues": 8, "perm": 6,
            "order": false, "deletionPolicy": "Delete"});
        if let (Some(b), Some(o)) = (base.as_object_mut(), v.as_object()) {
            for (k, x) in o {
                b.insert(k.clone(), x.clone());
            }
        }
        base
    }

    #[test]
    fn defaults_and_desired_config() {
        let s: RocketMQTopicSpec = serde_json::from_str(r#"{"clusterRef":"c"}"#).unwrap();
        assert_eq!(s.write_queues, 8);
        assert_eq!(s.perm, 6);
        assert_eq!(s.deletion_policy, DeletionPolicy::Delete);
        let mut s2 = s.clone();
        s2.message_type = Some(MessageType::Fifo);
        s2.read_queues = Some(16);
        let d = desired("orders", &s2);
        assert_eq!((d.read_queue_nums, d.write_queue_nums), (16, 8));
        assert_eq!(d.attributes["message.type"], "FIFO");
        assert!(check("orders", &s2).is_empty());
    }

    #[test]
    fn operator_checks_match_the_cel_rules() {
        let mut s: RocketMQTopicSpec = serde_json::from_str(r#"{"clusterRef":"c"}"#).unwrap();
        assert!(!check("%RETRY%g", &s).is_empty());
        assert!(!check("has space", &s).is_empty());
        assert!(!check(&"t".repeat(128), &s).is_empty());
        s.perm = 7;
        s.read_queues = Some(4);
        s.attributes.insert("bad key".into(), "v".into());
        assert_eq!(check("ok", &s).len(), 3, "{:?}", check("ok", &s));
    }

    #[test]
    fn cel_rules_refuse_bad_specs_and_changes_of_immutable_fields() {
        let ok = spec(serde_json::json!({"topicName": "TopicTest"}));
        assert!(RocketMQTopicSpec::validate_cel(&ok, None).is_ok());
        for (bad, needle) in [
            (serde_json::json!({"topicName": "%DLQ%x"}), "topicName"),
            (serde_json::json!({"topicName": "a b"}), "topicName"),
            (serde_json::json!({"perm": 5}), "perm"),
            (serde_json::json!({"readQueues": 2}), "readQueues"),
            (
                serde_json::json!({"messageType": "FIFO", "attributes": {"message.type": "FIFO"}}),
                "messageType",
            ),
        ] {
            let err = format!(
                "{:?}",
                RocketMQTopicSpec::validate_cel(&spec(bad.clone()), None).unwrap_err()
            );
            assert!(err.contains(needle), "{bad}: {err}");
        }
        // Transition rules: clusterRef and topicName keep their values.
        let moved = spec(serde_json::json!({"topicName": "TopicTest", "clusterRef": "other"}));
        let err = format!(
            "{:?}",
            RocketMQTopicSpec::validate_cel(&moved, Some(&ok)).unwrap_err()
        );
        assert!(err.contains("clusterRef is immutable"), "{err}");
        let renamed = spec(serde_json::json!({"topicName": "Other"}));
        assert!(RocketMQTopicSpec::validate_cel(&renamed, Some(&ok)).is_err());
        let unset = spec(serde_json::json!({}));
        assert!(RocketMQTopicSpec::validate_cel(&unset, Some(&ok)).is_err());
        let grown = spec(serde_json::json!({"topicName": "TopicTest", "writeQueues": 16}));
        assert!(RocketMQTopicSpec::validate_cel(&grown, Some(&ok)).is_ok());
    }
}
