//! Automatic failover on Kubernetes (docs/failover.md "Kubernetes").
//!
//! The decisions — when a master counts as lost, which slave to promote, the fence → promote →
//! re-point sequence, re-pointing a returned old master — are the failover controller of local
//! mode ([`crate::local::failover::Controller`]), run here with the members' pod IPs and the
//! name server pods' IPs, refreshed before every look. What this module adds is the Kubernetes
//! side:
//! - [`roles`]: the group's roles ConfigMap (`<group>-roles`): which pod has which brokerId and
//!   the epoch, read by the pod's entrypoint at start, so the ordinal no longer fixes the role;
//! - [`supervisor`]: the loop that runs the controller for every cluster with
//!   `spec.broker.failover.enabled`, writes the roles ConfigMap after every failover, publishes
//!   Events, and carries out manual switchovers ([`crate::crd::SWITCHOVER_ANNOTATION`]).
//!
//! The reconcile reads the roles ConfigMaps back for the status (current master and epoch per
//! group, the `Failover` condition, `status.switchover`) and for the roll, which replaces the
//! current master's pod last whatever its ordinal.

pub mod roles;
pub mod supervisor;

pub use roles::{GroupRoles, RoleEvent, Roles};
