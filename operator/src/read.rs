//! Read: what exists of a cluster (its StatefulSets, broker pods and name server Deployment).

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};

use crate::error::{Error, Result};
use crate::names;
use crate::plan::ClusterPlan;
use crate::roll::{ObservedGroup, ObservedPod};

/// The observed children of one cluster.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Broker StatefulSets (any group index, including groups no longer in the spec).
    pub stateful_sets: Vec<StatefulSet>,
    /// Broker pods.
    pub pods: Vec<Pod>,
    /// Name server pods (the operator asks them whether a restarted master registered).
    pub namesrv_pods: Vec<Pod>,
    /// The name server Deployment, if it exists.
    pub namesrv: Option<Deployment>,
    /// Broker ConfigMaps (every config revision still around).
    pub config_maps: Vec<ConfigMap>,
    /// PodDisruptionBudgets of the cluster.
    pub pdbs: Vec<PodDisruptionBudget>,
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
    let broker_pods = pods
        .list(&ListParams::default().labels(&broker_sel))
        .await
        .map_err(|e| Error::kube("list pods", e))?
        .items;
    let namesrv_pods = pods
        .list(&ListParams::default().labels(&ns_sel))
        .await
        .map_err(|e| Error::kube("list name server pods", e))?
        .items;
    let namesrv = deps
        .list(&ListParams::default().labels(&ns_sel))
        .await
        .map_err(|e| Error::kube("list deployments", e))?
        .items
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some(&names::namesrv(name)));
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&broker_sel))
        .await
        .map_err(|e| Error::kube("list configmaps", e))?
        .items;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&names::instance_selector(name)))
        .await
        .map_err(|e| Error::kube("list poddisruptionbudgets", e))?
        .items;
    Ok(Observed {
        stateful_sets,
        pods: broker_pods,
        namesrv_pods,
        namesrv,
        config_maps,
        pdbs,
    })
}

/// Group index of a broker object, from its group label.
pub fn group_index(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<usize> {
    meta.labels.as_ref()?.get(names::GROUP_LABEL)?.parse().ok()
}

/// Whether a pod's Ready condition is true and it is not terminating (a stopping pod may still
/// show Ready for a moment).
pub fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl Observed {
    /// Remoting address of a Ready broker pod, from its IP (the operator talks to pods
    /// directly); `None` while the pod is missing or not Ready.
    pub fn broker_addr(&self, plan: &ClusterPlan, group: usize, ordinal: u32) -> Option<String> {
        let name = names::broker_pod(&plan.name, group, ordinal);
        let pod = self
            .pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(&name))?;
        if !pod_ready(pod) {
            return None;
        }
        Some(format!(
            "{}:{}",
            pod.status.as_ref()?.pod_ip.as_ref()?,
            plan.broker_port
        ))
    }

    /// Ordinal of group `group`'s current master: with failover, the pod the roles ConfigMap
    /// gives brokerId 0 ([`crate::failover::roles`]); otherwise, or when it says nothing
    /// usable, 0.
    pub fn master_ordinal(&self, plan: &ClusterPlan, group: usize) -> u32 {
        if !plan.failover_on() {
            return 0;
        }
        let Some(g) = plan.groups.iter().find(|g| g.index == group) else {
            return 0;
        };
        let name = names::broker_roles(&g.broker_name);
        self.config_maps
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(&name))
            .and_then(|c| crate::failover::GroupRoles::from_config_map(c).ok()?.roles)
            .and_then(|r| {
                let master = r.master()?;
                let prefix = format!("{}-", g.broker_name);
                master.strip_prefix(&prefix)?.parse().ok()
            })
            .filter(|o| (*o as usize) < g.members.len())
            .unwrap_or(0)
    }

    /// Addresses of the Ready name servers, by pod IP (the operator needs no cluster DNS).
    pub fn namesrv_addrs(&self, plan: &ClusterPlan) -> Vec<String> {
        self.namesrv_pods
            .iter()
            .filter(|p| pod_ready(p))
            .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
            .map(|ip| format!("{ip}:{}", plan.namesrv.port))
            .collect()
    }

    /// The pods of group `index`, as the roll sees them.
    fn observed_pods(&self, index: usize) -> Vec<ObservedPod> {
        self.pods
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
                    terminating: p.metadata.deletion_timestamp.is_some(),
                    ip: p.status.as_ref().and_then(|s| s.pod_ip.clone()),
                })
            })
            .collect()
    }

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
                let pods = self.observed_pods(index);
                let partition = s
                    .spec
                    .as_ref()
                    .and_then(|sp| sp.update_strategy.as_ref())
                    .and_then(|u| u.rolling_update.as_ref())
                    .and_then(|r| r.partition);
                let revisions_differ = s.status.as_ref().is_some_and(|st| {
                    st.current_revision.is_some()
                        && st.update_revision.is_some()
                        && st.current_revision != st.update_revision
                });
                Some(ObservedGroup {
                    index,
                    template_hash,
                    partition,
                    revisions_differ,
                    pods,
                })
            })
            .collect();
        // Pods whose StatefulSet is gone (deleted with propagationPolicy Orphan to change its
        // claim template): their group is observed with an unknown template, so the roll holds
        // it instead of treating it as new.
        for p in &self.pods {
            let Some(index) = group_index(&p.metadata) else {
                continue;
            };
            if out.iter().any(|g| g.index == index) {
                continue;
            }
            out.push(ObservedGroup {
                index,
                template_hash: None,
                partition: None,
                revisions_differ: false,
                pods: self.observed_pods(index),
            });
        }
        out.sort_by_key(|g| g.index);
        out
    }
}
