//! Read: what exists of a cluster (its StatefulSets, broker pods and name server Deployment).

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::error::{Error, Result};
use crate::names;
use crate::roll::{ObservedGroup, ObservedPod};

/// The observed children of one cluster.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Broker StatefulSets (any group index, including groups no longer in the spec).
    pub stateful_sets: Vec<StatefulSet>,
    /// Broker pods.
    pub pods: Vec<Pod>,
    /// The name server Deployment, if it exists.
    pub namesrv: Option<Deployment>,
}

/// Lists the children of cluster `name` in `namespace`.
pub async fn read(client: &kube::Client, namespace: &str, name: &str) -> Result<Observed> {
    let broker_sel = format!(
        "{},app.kubernetes.io/component=broker",
        names::instance_selector(name)
    );
    let ns_sel = format!(
        "{},app.kubernetes.io/component=namesrv",
        names::instance_selector(name)
    );
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let deps: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let stateful_sets = sts
        .list(&ListParams::default().labels(&broker_sel))
        .await
        .map_err(|e| Error::kube("list statefulsets", e))?
        .items;
    let pods = pods
        .list(&ListParams::default().labels(&broker_sel))
        .await
        .map_err(|e| Error::kube("list pods", e))?
        .items;
    let namesrv = deps
        .list(&ListParams::default().labels(&ns_sel))
        .await
        .map_err(|e| Error::kube("list deployments", e))?
        .items
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some(&names::namesrv(name)));
    Ok(Observed {
        stateful_sets,
        pods,
        namesrv,
    })
}

/// Group index of a broker object, from its group label.
pub fn group_index(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<usize> {
    meta.labels.as_ref()?.get(names::GROUP_LABEL)?.parse().ok()
}

/// Whether a pod's Ready condition is true.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl Observed {
    /// Per group: the live template hash and the pods, for [`crate::roll::decide`].
    pub fn groups(&self) -> Vec<ObservedGroup> {
        let mut out: Vec<ObservedGroup> = self
            .stateful_sets
            .iter()
            .filter_map(|s| {
                let index = group_index(&s.metadata)?;
                let template_hash = s
                    .spec
                    .as_ref()
                    .and_then(|sp| sp.template.metadata.as_ref())
                    .and_then(|m| m.annotations.as_ref())
                    .and_then(|a| a.get(names::CONFIG_HASH_ANNOTATION))
                    .cloned();
                let pods = self
                    .pods
                    .iter()
                    .filter(|p| group_index(&p.metadata) == Some(index))
                    .filter_map(|p| {
                        let name = p.metadata.name.as_deref()?;
                        let ordinal = name.rsplit('-').next()?.parse().ok()?;
                        Some(ObservedPod {
                            ordinal,
                            hash: p
                                .metadata
                                .annotations
                                .as_ref()
                                .and_then(|a| a.get(names::CONFIG_HASH_ANNOTATION))
                                .cloned(),
                            ready: pod_ready(p),
                            ip: p.status.as_ref().and_then(|s| s.pod_ip.clone()),
                        })
                    })
                    .collect();
                Some(ObservedGroup {
                    index,
                    template_hash,
                    pods,
                })
            })
            .collect();
        out.sort_by_key(|g| g.index);
        out
    }
}
