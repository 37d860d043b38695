//! Build: the Kubernetes objects of a cluster, from a [`ClusterPlan`] and the roll decisions.
//! Pure (no client), so every object is unit-tested from YAML fixtures.
//!
//! Field order inside each object is fixed by the code, so applying the same plan twice sends
//! the same bytes and never makes the controller loop.

mod broker;
mod console;
mod namesrv;
pub mod security;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, EmptyDirVolumeSource, SeccompProfile, SecurityContext, Service, Volume,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::error::Result;
use crate::names::{self, Component};
use crate::plan::ClusterPlan;
use crate::roll::DesiredGroup;

pub use broker::{broker_group_hash, entrypoint_script};

/// Every child object of one cluster, in apply order within each kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Children {
    /// Name server config and one ConfigMap per broker group.
    pub config_maps: Vec<ConfigMap>,
    /// Name server headless + client Services, one headless Service per broker group.
    pub services: Vec<Service>,
    /// Name server and per-group PodDisruptionBudgets.
    pub pdbs: Vec<PodDisruptionBudget>,
    /// The name server Deployment.
    pub deployments: Vec<Deployment>,
    /// One StatefulSet per broker group.
    pub stateful_sets: Vec<StatefulSet>,
}

/// Roll decisions the builder needs: the StatefulSet `partition` of each group (pods with an
/// ordinal >= partition get the new template). Missing groups get 0 (update everything).
pub type Partitions = BTreeMap<usize, i32>;

/// Builds every child of `plan`, owned by `owner`.
pub fn build(
    plan: &ClusterPlan,
    owner: &OwnerReference,
    partitions: &Partitions,
) -> Result<Children> {
    let mut c = Children::default();
    c.config_maps.push(namesrv::config_map(plan, owner));
    c.services.push(namesrv::headless_service(plan, owner));
    c.services.push(namesrv::client_service(plan, owner));
    if plan.namesrv_pdb.enabled {
        c.pdbs.push(namesrv::pdb(plan, owner));
    }
    c.deployments.push(namesrv::deployment(plan, owner));
    let masters_only = plan.replicas_per_group() == 0;
    if plan.broker_pdb.enabled && masters_only {
        // One budget over every master: a drain never stops two groups at once.
        c.pdbs.push(broker::pdb(plan, None, owner));
    }
    for g in &plan.groups {
        let cm = broker::config_map(plan, g, owner)?;
        c.services.push(broker::headless_service(plan, g, owner));
        if plan.broker_pdb.enabled && !masters_only {
            c.pdbs.push(broker::pdb(plan, Some(g), owner));
        }
        let partition = partitions.get(&g.index).copied().unwrap_or(0);
        c.stateful_sets
            .push(broker::stateful_set(plan, g, owner, &cm, partition));
        c.config_maps.push(cm);
    }
    if plan.console.enabled {
        c.services.push(console::service(plan, owner));
        c.deployments.push(console::deployment(plan, owner));
    }
    Ok(c)
}

impl Children {
    /// What the roll aims at: each group's member count and the config hash of its built
    /// StatefulSet's pod template (the master at ordinal 0: the caller sets the current
    /// master's ordinal of failover groups, see [`crate::read::Observed::master_ordinal`]).
    pub fn roll_targets(&self, plan: &ClusterPlan) -> Vec<DesiredGroup> {
        plan.groups
            .iter()
            .filter_map(|g| {
                let hash = self
                    .stateful_set(&g.broker_name)?
                    .spec
                    .as_ref()?
                    .template
                    .metadata
                    .as_ref()?
                    .annotations
                    .as_ref()?
                    .get(names::CONFIG_HASH_ANNOTATION)?
                    .clone();
                Some(DesiredGroup {
                    index: g.index,
                    members: g.members.len() as u32,
                    hash,
                    master: 0,
                    on_delete: plan.failover_on(),
                })
            })
            .collect()
    }

    /// Writes the roll's partitions into the built StatefulSets (a group the roll did not
    /// decide gets 0).
    pub fn set_partitions(&mut self, plan: &ClusterPlan, partitions: &Partitions) {
        for g in &plan.groups {
            let p = partitions.get(&g.index).copied().unwrap_or(0);
            if let Some(ru) = self
                .stateful_sets
                .iter_mut()
                .find(|s| s.metadata.name.as_deref() == Some(&g.broker_name))
                .and_then(|s| {
                    s.spec
                        .as_mut()?
                        .update_strategy
                        .as_mut()?
                        .rolling_update
                        .as_mut()
                })
            {
                ru.partition = Some(p);
            }
        }
    }

    /// Leaves out the StatefulSets named in `names` (being re-created for a new claim template:
    /// they are applied again once their deletion finished).
    pub fn skip_stateful_sets(&mut self, names: &[String]) {
        self.stateful_sets
            .retain(|s| !s.metadata.name.as_ref().is_some_and(|n| names.contains(n)));
    }

    fn stateful_set(&self, name: &str) -> Option<&StatefulSet> {
        self.stateful_sets
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
    }
}

/// Pod template annotations: the spec's, plus the manual-restart token when set.
pub(crate) fn pod_annotations(plan: &ClusterPlan) -> BTreeMap<String, String> {
    let mut a = plan.overrides.annotations.clone();
    if let Some(token) = &plan.restart {
        a.insert(crate::crd::RESTART_ANNOTATION.to_string(), token.clone());
    }
    a
}

/// The container security context of every pod the operator creates: Pod Security
/// "restricted" (no privilege escalation, every capability dropped, read-only root filesystem;
/// the writable paths are emptyDir or claim volumes).
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            ..SeccompProfile::default()
        }),
        ..SecurityContext::default()
    }
}

/// A writable scratch volume.
pub(crate) fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// Metadata of a child object: name, namespace, recommended labels, the owner reference.
pub(crate) fn meta(
    plan: &ClusterPlan,
    name: String,
    component: Component,
    group: Option<usize>,
    owner: &OwnerReference,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(plan.namespace.clone()),
        labels: Some(names::labels(&plan.name, component, group, &plan.version)),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
mod tests;
