//! Kubernetes operator for `RocketMQCluster` resources, and the local mode that runs the same
//! cluster file as processes on one machine.
//!
//! # Layout
//! Reconcile is a pipeline, one module a step (the Stackable operators' shape):
//! - [`crd`]: the custom resource types; `operator crd` writes `crds/` from them.
//! - [`validate`] (pure): spec → one [`plan::ClusterPlan`] or every problem ([`validate::Refusal`]).
//! - [`plan`]: the validated cluster, shared by the Kubernetes builder and [`local`] mode; renders
//!   broker.conf through the broker crate's own `BrokerConfig`.
//! - [`build`] (pure, no client): Kubernetes objects from a plan and the roll decisions.
//! - [`roll`] (pure): the roll state machine (states and transitions documented at its top):
//!   which pods may be updated now (slaves first, master once caught up, one group at a time),
//!   resumable from the StatefulSets' partitions; the only place a roll state is computed.
//! - [`storage`]: claim expansion with an orphaning StatefulSet re-create, or a refusal.
//! - [`read`]: the observed children (StatefulSets, pods) of a cluster.
//! - [`apply`]: server-side apply in a fixed order (ConfigMaps, Services, PDBs, workloads), and
//!   pruning what the spec dropped.
//! - [`status`] (pure): conditions and per-group status from what was observed.
//! - [`scale`]: scale-in of drained groups the spec dropped, topic copy to added groups.
//! - [`admin`]: the broker admin calls the roll needs, behind a trait tests can answer;
//!   [`admin::questions`] answers the roll's questions with them.
//! - [`controller`]: the kube-rs controller: `reconcile` calls the steps above in order (one
//!   call a step), writes Events and the status, and owns the error policy.
//! - [`failover`]: automatic failover on Kubernetes: the roles ConfigMap each broker pod reads
//!   its brokerId from, and the loop that promotes a slave when a master is lost (the decisions
//!   are local mode's failover controller) or on a switchover annotation.
//! - [`leader`]: Lease-based leader election, so one of several replicas reconciles.
//! - [`local`]: `operator local -f cluster.yaml`: the same plan as local processes.
//! - [`topic`], [`group`]: the RocketMQTopic and RocketMQConsumerGroup resources (GitOps topics
//!   and consumer groups); [`resource`]: applying them onto every broker group, their
//!   controllers, and what local mode shares with them.
//! - [`metrics`]: the Prometheus metrics of both modes (reconciles, conditions, roll phase,
//!   admin calls, local restarts).
//! - [`names`], [`quantity`], [`error`]: names declared once, sizes, the error type.

pub mod admin;
pub mod apply;
pub mod build;
pub mod controller;
pub mod crd;
pub mod error;
pub mod failover;
pub mod group;
pub mod leader;
pub mod local;
pub mod metrics;
pub mod names;
pub mod plan;
pub mod quantity;
pub mod read;
pub mod resource;
pub mod roll;
pub mod scale;
pub mod status;
pub mod storage;
pub mod topic;
pub mod validate;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod reconcile_tests;
#[cfg(test)]
mod sim_tests;

pub use error::{Error, Result};
