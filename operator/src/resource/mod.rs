//! What `RocketMQTopic` ([`crate::topic`]) and `RocketMQConsumerGroup` ([`crate::group`]) share:
//! the status they report, the annotations and deletion policy they honour (Strimzi's KafkaTopic
//! semantics), applying a declaration onto every broker group ([`sync`]) and the kube-rs
//! controllers ([`controller`]). Local mode uses [`sync`] directly.
//!
//! Semantics, in one place:
//! - A declaration is applied onto the master of every broker group of the referenced cluster;
//!   a group added later by a scale-out gets it on the next reconcile (the controller watches the
//!   clusters, whose status changes when the group becomes Ready).
//! - Drift (a topic or group changed or deleted with mqadmin) is corrected on the next resync
//!   (`ROCKETMQ_OPERATOR_RESYNC_SECS`, default 60).
//! - A topic that would lose queues is left alone with a Warning Event and `Ready=False`
//!   (`QueueShrinkRefused`): messages in the removed queues would be stranded. The annotation
//!   [`ALLOW_SHRINK_ANNOTATION`] `"true"` allows it.
//! - A topic or group that exists before its resource is adopted (an `Adopted` Event), then
//!   managed like one the operator created.
//! - [`MANAGED_ANNOTATION`] `"false"` makes a resource unmanaged: the operator changes nothing on
//!   the brokers, removes its finalizer (deleting the resource leaves the topic), and reports
//!   `Ready=True` with reason `Unmanaged`; removing the annotation manages it again.
//! - Deletion runs through a finalizer: `deletionPolicy: Delete` removes the topic (brokers and
//!   name-server routes) or group, `Orphan` leaves it. A cluster that is gone or being deleted
//!   has nothing left to clean.
//! - Two resources declaring the same topic (or group) of one cluster: the older one owns it; the
//!   other reports `Ready=False` with reason `ResourceConflict` and changes nothing.

pub mod controller;
pub mod sync;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::{Deserialize, Serialize};

/// Annotation: `"false"` makes a RocketMQTopic / RocketMQConsumerGroup unmanaged (Strimzi's
/// `strimzi.io/managed`).
pub const MANAGED_ANNOTATION: &str = "rocketmq.rocketmq-rs.io/managed";
/// Annotation on a RocketMQTopic: `"true"` lets a spec lower the queue counts of an existing
/// topic (messages in the removed queues are no longer consumed).
pub const ALLOW_SHRINK_ANNOTATION: &str = "rocketmq.rocketmq-rs.io/allow-queue-shrink";
/// Finalizer of RocketMQTopics.
pub const TOPIC_FINALIZER: &str = "rocketmq.rocketmq-rs.io/topic";
/// Finalizer of RocketMQConsumerGroups.
pub const GROUP_FINALIZER: &str = "rocketmq.rocketmq-rs.io/consumer-group";
/// The one condition type these resources report.
pub const READY: &str = "Ready";

/// What deleting the resource does to what it declared.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// Remove it from the brokers (the default).
    #[default]
    Delete,
    /// Leave it on the brokers.
    Orphan,
}

/// Observed state of a RocketMQTopic or RocketMQConsumerGroup, written by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, with the reason (`Applied`, `QueueShrinkRefused`, `BrokerUnreachable`,
    /// `WaitingForBrokers`, `ClusterNotFound`, `Invalid`, `ResourceConflict`, `Unmanaged`,
    /// `DeletionFailed`).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The topic or group name on the brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `applied/total` broker groups, e.g. `2/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_groups: Option<String>,
    /// Per broker group of the cluster.
    #[serde(default)]
    pub groups: Vec<GroupResult>,
}

/// The declaration on one broker group.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupResult {
    /// `brokerName` of the group.
    pub broker_name: String,
    /// Whether the group's master has the declared settings.
    pub applied: bool,
    /// Why not, when not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ResourceStatus {
    /// The Ready condition, if any.
    pub fn ready(&self) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == READY)
    }
}

/// A topic or group name as the broker accepts it (`^[%|a-zA-Z0-9_-]+$`, at most 127).
pub fn check_broker_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > crate::topic::MAX_NAME_LEN {
        return Err(format!(
            "{what} name must have 1 to {} characters",
            crate::topic::MAX_NAME_LEN
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'-' | b'_'))
    {
        return Err(format!(
            "{what} name {name:?}: only letters, digits, '%', '|', '-' and '_'"
        ));
    }
    Ok(())
}

/// The RocketMQTopic CRD as YAML, exactly as written to `crds/rocketmqtopics.yaml`.
pub fn topic_crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    let body = serde_yaml::to_string(&crate::topic::RocketMQTopic::crd())?;
    Ok(format!(
        "# Generated by `operator crd --kind topic` from operator/src/topic/mod.rs; do not edit.\n---\n{body}"
    ))
}

/// The RocketMQConsumerGroup CRD as YAML, exactly as written to
/// `crds/rocketmqconsumergroups.yaml`.
pub fn group_crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    let body = serde_yaml::to_string(&crate::group::RocketMQConsumerGroup::crd())?;
    Ok(format!(
        "# Generated by `operator crd --kind consumer-group` from operator/src/group/mod.rs; do not edit.\n---\n{body}"
    ))
}
