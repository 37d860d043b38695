//! Storage changes. A StatefulSet's `volumeClaimTemplates` are immutable, so a changed
//! `spec.broker.storage` cannot simply be applied (the API server would refuse the whole
//! StatefulSet and wedge every later change). Instead:
//! - a larger size on a StorageClass with `allowVolumeExpansion` expands every existing claim,
//!   then deletes the StatefulSet with `propagationPolicy: Orphan` (its pods keep running) so the
//!   next apply re-creates it with the new claim template and adopts the same pods: no restart;
//! - anything else (smaller size, another class, ephemeral on/off, a class that cannot expand)
//!   is refused with a Degraded message, and the StatefulSet keeps its live storage while every
//!   other change of the spec still applies.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy};

use crate::error::{Error, Result};
use crate::names;
use crate::plan::{ClusterPlan, StoragePlan};
use crate::quantity::parse_bytes;

/// The storage a live StatefulSet was created with.
pub fn live_storage(sts: &StatefulSet) -> Option<StoragePlan> {
    let spec = sts.spec.as_ref()?;
    let claim = spec
        .volume_claim_templates
        .as_ref()
        .and_then(|v| {
            v.iter()
                .find(|c| c.metadata.name.as_deref() == Some(names::STORE_VOLUME))
        })
        .cloned();
    match claim {
        Some(c) => {
            let cs = c.spec?;
            let size = cs.resources?.requests?.get("storage")?.0.clone();
            Some(StoragePlan {
                bytes: parse_bytes(&size)?,
                size,
                storage_class_name: cs.storage_class_name,
                ephemeral: false,
                delete_claims_on_deletion: false,
            })
        }
        None => {
            let vol = spec
                .template
                .spec
                .as_ref()?
                .volumes
                .as_ref()?
                .iter()
                .find(|v| v.name == names::STORE_VOLUME)?;
            let size = vol.empty_dir.as_ref()?.size_limit.as_ref()?.0.clone();
            Some(StoragePlan {
                bytes: parse_bytes(&size)?,
                size,
                storage_class_name: None,
                ephemeral: true,
                delete_claims_on_deletion: false,
            })
        }
    }
}

/// What to do about the difference between the live and the desired storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Same storage.
    None,
    /// Only the size grew, on claims: expand if the class allows it.
    Expand,
    /// Not possible in place; the message says why and what to do.
    Refuse(String),
}

/// Compares the live storage with the desired one (pure).
pub fn classify(live: &StoragePlan, want: &StoragePlan) -> Change {
    if live.ephemeral != want.ephemeral {
        return Change::Refuse(format!(
            "storage.ephemeral cannot change from {} to {} on a running cluster (the data would move between an emptyDir and a claim); create a new cluster instead",
            live.ephemeral, want.ephemeral
        ));
    }
    if live.ephemeral {
        // emptyDir size lives in the pod template: an ordinary (rolled) change.
        return Change::None;
    }
    if live.storage_class_name != want.storage_class_name {
        return Change::Refuse(format!(
            "storage.storageClassName cannot change ({} -> {}): claims keep their class; migrate the data to a new cluster",
            live.storage_class_name.as_deref().unwrap_or("<default>"),
            want.storage_class_name.as_deref().unwrap_or("<default>")
        ));
    }
    match want.bytes.cmp(&live.bytes) {
        std::cmp::Ordering::Equal => Change::None,
        std::cmp::Ordering::Less => Change::Refuse(format!(
            "storage.size cannot shrink ({} -> {}): claims only grow; the brokers keep {}",
            live.size, want.size, live.size
        )),
        std::cmp::Ordering::Greater => Change::Expand,
    }
}

/// Outcome of the storage step of one reconcile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageOutcome {
    /// StatefulSets deleted (orphaning their pods) or still being deleted: not applied this time.
    pub recreating: Vec<String>,
    /// Why a storage change was refused.
    pub refused: Option<String>,
    /// Claims whose size was raised now.
    pub expanded: Vec<String>,
}

async fn class_allows_expansion(client: &kube::Client, class: Option<&str>) -> Result<bool> {
    let api: Api<StorageClass> = Api::all(client.clone());
    let sc = match class {
        Some(name) => api
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("get storageclass {name}"), e))?,
        None => api
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::kube("list storageclasses", e))?
            .items
            .into_iter()
            .find(|sc| {
                sc.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                    .is_some_and(|v| v == "true")
            }),
    };
    Ok(sc.and_then(|sc| sc.allow_volume_expansion).unwrap_or(false))
}

/// Handles a storage change of `plan` against the live StatefulSets. On refusal `plan.storage`
/// becomes the live storage, so the rest of the spec still applies.
pub async fn reconcile(
    client: &kube::Client,
    plan: &mut ClusterPlan,
    live: &[StatefulSet],
) -> Result<StorageOutcome> {
    let mut out = StorageOutcome::default();
    for sts in live {
        if sts.metadata.deletion_timestamp.is_some()
            && let Some(n) = &sts.metadata.name
        {
            out.recreating.push(n.clone());
        }
    }
    // The smallest live storage: after a half-finished expansion some StatefulSets already
    // have the new size and the rest must still follow.
    let Some(current) = live
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .filter_map(live_storage)
        .min_by_key(|s| s.bytes)
    else {
        return Ok(out);
    };
    let mut want = plan.storage.clone();
    want.delete_claims_on_deletion = false;
    match classify(&current, &want) {
        Change::None => {}
        Change::Refuse(msg) => {
            keep_live(plan, current);
            out.refused = Some(msg);
        }
        Change::Expand => {
            if !class_allows_expansion(client, current.storage_class_name.as_deref()).await? {
                let msg = format!(
                    "storage.size {} -> {}: the StorageClass {} does not allow volume expansion; the brokers keep {}",
                    current.size,
                    want.size,
                    current.storage_class_name.as_deref().unwrap_or("<default>"),
                    current.size
                );
                keep_live(plan, current);
                out.refused = Some(msg);
                return Ok(out);
            }
            expand(client, plan, live, &mut out).await?;
        }
    }
    Ok(out)
}

fn keep_live(plan: &mut ClusterPlan, live: StoragePlan) {
    let delete = plan.storage.delete_claims_on_deletion;
    plan.storage = StoragePlan {
        delete_claims_on_deletion: delete,
        ..live
    };
}

async fn expand(
    client: &kube::Client,
    plan: &ClusterPlan,
    live: &[StatefulSet],
    out: &mut StorageOutcome,
) -> Result<()> {
    let ns = plan.namespace.as_str();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let sel = format!(
        "{},app.kubernetes.io/component=broker",
        names::instance_selector(&plan.name)
    );
    let claims = pvcs
        .list(&ListParams::default().labels(&sel))
        .await
        .map_err(|e| Error::kube("list persistentvolumeclaims", e))?
        .items;
    for c in claims {
        let Some(name) = c.metadata.name.clone() else {
            continue;
        };
        let size = c
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref()?.requests.as_ref()?.get("storage"))
            .and_then(|q| parse_bytes(&q.0))
            .unwrap_or(0);
        if size >= plan.storage.bytes {
            continue;
        }
        let body = serde_json::json!({
            "spec": {"resources": {"requests": {"storage": plan.storage.size}}}
        });
        pvcs.patch(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|e| Error::kube(format!("expand claim {ns}/{name}"), e))?;
        out.expanded.push(name);
    }
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    for sts in live {
        let Some(name) = sts.metadata.name.clone() else {
            continue;
        };
        if sts.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(s) = live_storage(sts) else { continue };
        if s.ephemeral || s.bytes >= plan.storage.bytes {
            continue;
        }
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Orphan),
            ..DeleteParams::default()
        };
        match sts_api.delete(&name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(Error::kube(
                    format!("delete statefulset {ns}/{name} (orphan)"),
                    e,
                ));
            }
        }
        out.recreating.push(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(size: &str, class: Option<&str>, ephemeral: bool) -> StoragePlan {
        StoragePlan {
            size: size.into(),
            bytes: parse_bytes(size).unwrap(),
            storage_class_name: class.map(str::to_string),
            ephemeral,
            delete_claims_on_deletion: false,
        }
    }

    #[test]
    fn only_growth_on_the_same_class_expands() {
        let live = sp("10Gi", Some("fast"), false);
        assert_eq!(
            classify(&live, &sp("10Gi", Some("fast"), false)),
            Change::None
        );
        assert_eq!(
            classify(&live, &sp("20Gi", Some("fast"), false)),
            Change::Expand
        );
        for want in [
            sp("5Gi", Some("fast"), false),
            sp("10Gi", Some("slow"), false),
            sp("10Gi", None, true),
        ] {
            assert!(
                matches!(classify(&live, &want), Change::Refuse(_)),
                "{want:?}"
            );
        }
        // emptyDir sizes are template fields: not a storage change.
        assert_eq!(
            classify(&sp("1Gi", None, true), &sp("2Gi", None, true)),
            Change::None
        );
    }
}
