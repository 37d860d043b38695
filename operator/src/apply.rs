//! Apply: server-side apply of every child with one field manager, in a fixed order —
//! ConfigMaps, Services, PDBs, then workloads — so a pod never starts before its config exists;
//! and the deletions that follow: children the spec dropped ([`prune`]), removed groups.

use std::collections::BTreeSet;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::build::Children;
use crate::error::{Error, Result};
use crate::names;
use crate::plan::ClusterPlan;
use crate::read::{self, Observed};
use crate::roll::Decision;

async fn apply_one<K>(client: &kube::Client, obj: &K) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let name = obj
        .meta()
        .name
        .clone()
        .ok_or(Error::MissingField("metadata.name"))?;
    let ns = obj
        .meta()
        .namespace
        .clone()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    let pp = PatchParams::apply(names::FIELD_MANAGER).force();
    api.patch(&name, &pp, &Patch::Apply(obj))
        .await
        .map_err(|e| {
            Error::kube(
                format!("apply {} {ns}/{name}", K::kind(&K::DynamicType::default())),
                e,
            )
        })?;
    Ok(())
}

/// Applies every child in order.
pub async fn apply(client: &kube::Client, c: &Children) -> Result<()> {
    for o in &c.config_maps {
        apply_one(client, o).await?;
    }
    for o in &c.services {
        apply_one(client, o).await?;
    }
    for o in &c.pdbs {
        apply_one(client, o).await?;
    }
    for o in &c.deployments {
        apply_one(client, o).await?;
    }
    for o in &c.stateful_sets {
        apply_one(client, o).await?;
    }
    Ok(())
}

/// Deletes a drained group's objects: StatefulSet first (its pods stop), then the rest. Claims
/// stay (retention policy `whenScaled`/`whenDeleted` of the StatefulSet decides).
/// `config_maps` are the group's config revisions.
pub async fn delete_group(
    client: &kube::Client,
    namespace: &str,
    group: &str,
    config_maps: &[String],
) -> Result<()> {
    let dp = DeleteParams::default();
    let ignore_missing = |r: std::result::Result<_, kube::Error>, what: &str| match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(format!("delete {what} {namespace}/{group}"), e)),
    };
    ignore_missing(
        Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .delete(group, &dp)
            .await
            .map(|_| ()),
        "statefulset",
    )?;
    ignore_missing(
        Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace)
            .delete(group, &dp)
            .await
            .map(|_| ()),
        "pdb",
    )?;
    ignore_missing(
        Api::<Service>::namespaced(client.clone(), namespace)
            .delete(group, &dp)
            .await
            .map(|_| ()),
        "service",
    )?;
    for cm in config_maps {
        delete_if_exists::<ConfigMap>(client, namespace, cm).await?;
    }
    Ok(())
}

/// Deletes one namespaced object; a missing one is fine.
pub async fn delete_if_exists<K>(client: &kube::Client, namespace: &str, name: &str) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope> + DeserializeOwned + Clone + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(
            format!(
                "delete {} {namespace}/{name}",
                K::kind(&K::DynamicType::default())
            ),
            e,
        )),
    }
}

/// Deletes children the spec no longer asks for: PodDisruptionBudgets (budget disabled, or the
/// cluster moved between masters-only and groups with slaves) and old broker config revisions of
/// settled groups (a held group keeps the revision its pods' template references).
pub async fn prune(
    client: &kube::Client,
    ns: &str,
    plan: &ClusterPlan,
    children: &Children,
    observed: &Observed,
    decision: &Decision,
) -> Result<()> {
    let pdbs: BTreeSet<&str> = children
        .pdbs
        .iter()
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    let config_maps: BTreeSet<&str> = children
        .config_maps
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    for pdb in &observed.pdbs {
        let Some(n) = pdb.metadata.name.as_deref() else {
            continue;
        };
        // A group kept for a refused scale-in keeps its budget until it is removed.
        let beyond = read::group_index(&pdb.metadata).is_some_and(|i| i >= plan.groups.len());
        if !pdbs.contains(n) && !beyond {
            delete_if_exists::<PodDisruptionBudget>(client, ns, n).await?;
        }
    }
    for cm in &observed.config_maps {
        let Some(n) = cm.metadata.name.as_deref() else {
            continue;
        };
        let Some(index) = read::group_index(&cm.metadata) else {
            continue;
        };
        // Groups beyond the spec keep theirs until drained and removed with the group.
        if index >= plan.groups.len() || !decision.group_settled(index) {
            continue;
        }
        // The roles ConfigMap is the failover controller's (crate::failover), not a config
        // revision; it stays when failover is switched off, so switching it on again does
        // not forget which pod is master.
        if n == names::broker_roles(&plan.groups[index].broker_name) {
            continue;
        }
        if !config_maps.contains(n) {
            delete_if_exists::<ConfigMap>(client, ns, n).await?;
        }
    }
    Ok(())
}
