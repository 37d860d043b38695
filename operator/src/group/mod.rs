//! The `RocketMQConsumerGroup` custom resource: one subscription group (retry policy, where a new
//! group starts, broadcast, consume-enable), applied onto every broker group of the referenced
//! `RocketMQCluster`. Applying, drift and deletion are shared with topics in
//! [`crate::resource`].

use kube::{CustomResource, KubeSchema};
use remoting::body::admin::SubscriptionGroupConfig;
use serde::{Deserialize, Serialize};

use crate::resource::{DeletionPolicy, ResourceStatus};

/// CEL rule on the whole resource: without `spec.groupName`, `metadata.name` is the group name.
pub const GROUP_NAME_DEFAULT_RULE: &str = "has(self.spec.groupName) || (self.metadata.name.size() <= 127 && self.metadata.name.matches('^[a-z0-9-]+$'))";

/// CEL rule: `groupName` keeps its value (set or unset) once the resource exists.
pub const GROUP_NAME_IMMUTABLE_RULE: &str = "has(self.groupName) == has(oldSelf.groupName) && (!has(self.groupName) || self.groupName == oldSelf.groupName)";

/// A consumer (subscription) group on every broker group of a RocketMQCluster.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rocketmq.rocketmq-rs.io",
    version = "v1alpha1",
    kind = "RocketMQConsumerGroup",
    plural = "rocketmqconsumergroups",
    shortname = "rmqgroup",
    category = "rocketmq",
    namespaced,
    status = "ResourceStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.clusterRef"}"#,
    printcolumn = r#"{"name":"Group","type":"string","jsonPath":".status.name"}"#,
    printcolumn = r#"{"name":"Retries","type":"integer","jsonPath":".spec.retryPolicy.maxReconsumeTimes"}"#,
    printcolumn = r#"{"name":"Applied","type":"string","jsonPath":".status.appliedGroups"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube::core::Rule::new(GROUP_NAME_DEFAULT_RULE).message("without spec.groupName, metadata.name is the group name: at most 127 characters of a-z, 0-9 and '-' (set spec.groupName for other names)")
)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = kube::core::Rule::new(GROUP_NAME_IMMUTABLE_RULE).message("groupName is immutable: create a new RocketMQConsumerGroup for another group"))]
pub struct RocketMQConsumerGroupSpec {
    /// Name of the RocketMQCluster (same namespace) whose broker groups get the group.
    /// Immutable.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("clusterRef is immutable"))]
    pub cluster_ref: String,
    /// Group name on the brokers (letters, digits, `%`, `|`, `-`, `_`; at most 127).
    /// Default: `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 127))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[%|a-zA-Z0-9_-]+$')").message("groupName: letters, digits, '%', '|', '-', '_'"))]
    pub group_name: Option<String>,
    /// Redelivery of messages the consumer failed. Default: 16 times over 1 retry queue.
    #[serde(default)]
    pub retry_policy: RetryPolicy,
    /// Where a group without a committed offset starts on the broker side
    /// (`consumeFromMinEnable`: from the queue's first message when true); the client's
    /// `consumeFromWhere` decides for clients that send it. Default: true.
    #[serde(default = "default_true")]
    pub consume_from_min_enable: bool,
    /// Whether broadcasting consumers of this group may consume (`consumeBroadcastEnable`).
    /// Default: true.
    #[serde(default = "default_true")]
    pub consume_broadcast_enable: bool,
    /// Whether the group may consume at all (`consumeEnable`; false pauses every consumer of
    /// the group). Default: true.
    #[serde(default = "default_true")]
    pub consume_enable: bool,
    /// What deleting this resource does to the group: `Delete` removes it from every broker
    /// group (committed offsets are kept), `Orphan` leaves it. Default: `Delete`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Redelivery settings of a consumer group.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Deliveries of a failed message before it goes to the group's `%DLQ%` topic
    /// (`retryMaxTimes`). Default: 16.
    #[serde(default = "default_retries")]
    #[schemars(range(min = 0, max = 1000))]
    pub max_reconsume_times: i32,
    /// Queues of the group's `%RETRY%` topic (`retryQueueNums`). Default: 1.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 64))]
    pub retry_queue_nums: i32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_reconsume_times: 16,
            retry_queue_nums: 1,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_retries() -> i32 {
    16
}
fn default_one() -> i32 {
    1
}

/// The group name on the brokers: `spec.groupName`, else `metadata.name`.
pub fn group_name(g: &RocketMQConsumerGroup) -> String {
    g.spec
        .group_name
        .clone()
        .or_else(|| g.metadata.name.clone())
        .unwrap_or_default()
}

/// Checks the operator makes itself (the CEL rules' limits, for a CRD without them and for
/// local mode). Returns every problem.
pub fn check(name: &str, spec: &RocketMQConsumerGroupSpec) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = crate::resource::check_broker_name("group", name) {
        out.push(e);
    }
    if !(0..=1000).contains(&spec.retry_policy.max_reconsume_times) {
        out.push("retryPolicy.maxReconsumeTimes must be 0..=1000".to_string());
    }
    if !(1..=64).contains(&spec.retry_policy.retry_queue_nums) {
        out.push("retryPolicy.retryQueueNums must be 1..=64".to_string());
    }
    out
}

/// Applies the spec onto a group config: the fields the resource owns are set, the others
/// (5.x flags, `brokerId`) keep what `base` has, so an adopted group keeps its other settings.
pub fn desired_from(
    base: Option<&SubscriptionGroupConfig>,
    name: &str,
    spec: &RocketMQConsumerGroupSpec,
) -> SubscriptionGroupConfig {
    let mut g = base
        .cloned()
        .unwrap_or_else(|| SubscriptionGroupConfig::new(name));
    g.group_name = name.to_string();
    g.consume_enable = spec.consume_enable;
    g.consume_from_min_enable = spec.consume_from_min_enable;
    g.consume_broadcast_enable = spec.consume_broadcast_enable;
    g.retry_queue_nums = spec.retry_policy.retry_queue_nums;
    g.retry_max_times = spec.retry_policy.max_reconsume_times;
    g
}

/// The fields the resource owns that differ between `current` and `want`, by name.
pub fn differences(
    current: &SubscriptionGroupConfig,
    want: &SubscriptionGroupConfig,
) -> Vec<String> {
    let mut d = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            d.push(format!("{name} {a} -> {b}"));
        }
    };
    field(
        "consumeEnable",
        current.consume_enable.to_string(),
        want.consume_enable.to_string(),
    );
    field(
        "consumeFromMinEnable",
        current.consume_from_min_enable.to_string(),
        want.consume_from_min_enable.to_string(),
    );
    field(
        "consumeBroadcastEnable",
        current.consume_broadcast_enable.to_string(),
        want.consume_broadcast_enable.to_string(),
    );
    field(
        "retryQueueNums",
        current.retry_queue_nums.to_string(),
        want.retry_queue_nums.to_string(),
    );
    field(
        "retryMaxTimes",
        current.retry_max_times.to_string(),
        want.retry_max_times.to_string(),
    );
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_maps_onto_the_broker_group_and_keeps_other_fields() {
        let spec: RocketMQConsumerGroupSpec = serde_json::from_str(
            r#"{"clusterRef":"c","retryPolicy":{"maxReconsumeTimes":3,"retryQueueNums":2},"consumeBroadcastEnable":false}"#,
        )
        .unwrap();
        let mut base = SubscriptionGroupConfig::new("g");
        base.which_broker_when_consume_slowly = 7;
        let d = desired_from(Some(&base), "g", &spec);
        assert_eq!((d.retry_max_times, d.retry_queue_nums), (3, 2));
        assert!(!d.consume_broadcast_enable && d.consume_enable && d.consume_from_min_enable);
        assert_eq!(d.which_broker_when_consume_slowly, 7);
        assert_eq!(
            differences(&base, &d).len(),
            3,
            "{:?}",
            differences(&base, &d)
        );
        assert!(differences(&d, &d).is_empty());
        assert!(check("g", &spec).is_empty());
        assert!(!check("a b", &spec).is_empty());
    }

    #[test]
    fn cel_rules_keep_cluster_and_group_name() {
        let ok = serde_json::json!({"clusterRef": "c", "groupName": "CID_A",
            "retryPolicy": {"maxReconsumeTimes": 16, "retryQueueNums": 1},
            "consumeFromMinEnable": true, "consumeBroadcastEnable": true, "consumeEnable": true,
            "deletionPolicy": "Orphan"});
        assert!(RocketMQConsumerGroupSpec::validate_cel(&ok, None).is_ok());
        let mut bad = ok.clone();
        bad["groupName"] = "a b".into();
        assert!(RocketMQConsumerGroupSpec::validate_cel(&bad, None).is_err());
        let mut moved = ok.clone();
        moved["clusterRef"] = "d".into();
        assert!(RocketMQConsumerGroupSpec::validate_cel(&moved, Some(&ok)).is_err());
        let mut renamed = ok.clone();
        renamed["groupName"] = "CID_B".into();
        assert!(RocketMQConsumerGroupSpec::validate_cel(&renamed, Some(&ok)).is_err());
        let mut retuned = ok.clone();
        retuned["retryPolicy"]["maxReconsumeTimes"] = 3.into();
        assert!(RocketMQConsumerGroupSpec::validate_cel(&retuned, Some(&ok)).is_ok());
    }
}
