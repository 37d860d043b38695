//! The failover loop of the Kubernetes operator: every `poll`, for every RocketMQCluster with
//! `spec.broker.failover.enabled` (not paused, valid), one look of the failover controller at
//! each broker group — members at their pod IPs, the Ready name server pods — then the roles
//! ConfigMap, Events and switchover requests.
//!
//! It runs beside the reconcile (which is event-driven and may wait seconds between passes): a
//! lost master must be replaced within seconds. It writes only the roles ConfigMaps, Events and
//! the switchover annotation's removal; the reconcile (triggered by the ConfigMap change, which
//! it watches) turns the ConfigMaps into the status.

use std::collections::BTreeMap;
use std::time::Duration;

use broker::failover_proto::{
    FAILOVER_FENCE, FAILOVER_GET_STATE, FAILOVER_PROMOTE, FAILOVER_REPOINT, FailoverState,
};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::{Resource, ResourceExt};
use remoting::ExtFields;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::roles::{GroupRoles, RoleEvent, Roles};
use crate::crd::{Replication, RocketMQCluster, SWITCHOVER_ANNOTATION, SwitchoverStatus};
use crate::local::failover::{Controller, Event, FailoverConfig, GroupSpec};
use crate::names;
use crate::plan::{ClusterPlan, GroupPlan};
use crate::read::{Observed, group_index};

/// Between two looks.
pub const POLL: Duration = Duration::from_millis(1000);

/// Address given to a member whose pod has no IP (missing, being re-created): nothing listens
/// on port 0, so it counts as a member that does not answer (a SYNC_MASTER group then waits).
const NO_ADDRESS: &str = "127.0.0.1:0";

/// The failover loop's state: one controller per cluster (`namespace/name`).
pub struct Supervisor {
    client: kube::Client,
    namespace: Option<String>,
    recorder: Recorder,
    clusters: BTreeMap<String, Controller>,
}

/// What one group's members are, for mapping broker addresses back to pods.
struct Members {
    /// `(pod, address)` in ordinal order.
    pods: Vec<(String, String)>,
}

impl Members {
    fn pod_of(&self, addr: &str) -> Option<&str> {
        self.pods
            .iter()
            .find(|(_, a)| a == addr && a != NO_ADDRESS)
            .map(|(p, _)| p.as_str())
    }
    fn addr_of(&self, pod: &str) -> Option<&str> {
        self.pods
            .iter()
            .find(|(p, _)| p == pod)
            .map(|(_, a)| a.as_str())
    }
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

impl Supervisor {
    /// A supervisor over the clusters of `namespace` (all namespaces when `None`).
    pub fn new(client: kube::Client, namespace: Option<String>) -> Self {
        let reporter = Reporter {
            controller: names::FIELD_MANAGER.to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Supervisor {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            namespace,
            clusters: BTreeMap::new(),
        }
    }

    /// Looks every [`POLL`] until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.tick().await {
                warn!(error = %e, "failover look failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One look at every cluster with failover on.
    pub async fn tick(&mut self) -> Result<(), String> {
        let api: Api<RocketMQCluster> = match &self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let crs = api
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("list clusters: {e}"))?;
        let mut seen = Vec::new();
        for cr in crs.items {
            let (Some(ns), name) = (cr.namespace(), cr.name_any()) else {
                continue;
            };
            if cr.meta().deletion_timestamp.is_some() || crate::controller::paused(&cr) {
                continue;
            }
            let Ok(plan) = crate::validate::validate(&name, &ns, &cr.spec) else {
                continue;
            };
            let key = format!("{ns}/{name}");
            if !plan.failover_on() {
                if cr.annotations().contains_key(SWITCHOVER_ANNOTATION) {
                    let req = cr.annotations()[SWITCHOVER_ANNOTATION].clone();
                    self.refuse_switchover(
                        &cr,
                        &plan,
                        None,
                        &req,
                        "spec.broker.failover.enabled is false (or the groups have no slaves)"
                            .into(),
                    )
                    .await;
                }
                continue;
            }
            seen.push(key.clone());
            if let Err(e) = self.tick_cluster(&cr, &plan, &key).await {
                warn!(cluster = %key, error = %e, "failover look at a cluster failed");
            }
        }
        self.clusters.retain(|k, _| seen.contains(k));
        Ok(())
    }

    async fn tick_cluster(
        &mut self,
        cr: &RocketMQCluster,
        plan: &ClusterPlan,
        key: &str,
    ) -> Result<(), String> {
        let ns = plan.namespace.clone();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let sel = |component: &str| {
            format!(
                "{},app.kubernetes.io/component={component}",
                names::instance_selector(&plan.name)
            )
        };
        let broker_pods = pods
            .list(&ListParams::default().labels(&sel("broker")))
            .await
            .map_err(|e| format!("list broker pods: {e}"))?
            .items;
        let namesrv_pods = pods
            .list(&ListParams::default().labels(&sel("namesrv")))
            .await
            .map_err(|e| format!("list name server pods: {e}"))?
            .items;
        let namesrv = Observed {
            namesrv_pods,
            ..Observed::default()
        }
        .namesrv_addrs(plan);
        let members: Vec<Members> = plan
            .groups
            .iter()
            .map(|g| group_members(plan, g, &broker_pods))
            .collect();
        let specs: Vec<GroupSpec> = plan
            .groups
            .iter()
            .zip(&members)
            .map(|(g, m)| GroupSpec {
                name: g.broker_name.clone(),
                sync: plan.replication == Replication::Sync,
                members: m.pods.iter().map(|(_, a)| a.clone()).collect(),
            })
            .collect();
        let lost_after = Duration::from_secs(plan.failover.lost_after_seconds.max(1) as u64);
        let controller = self.clusters.entry(key.to_string()).or_insert_with(|| {
            Controller::new(FailoverConfig {
                namesrv: Vec::new(),
                groups: Vec::new(),
                lost_after,
                poll: POLL,
                request_timeout: Duration::from_millis(1500),
            })
        });
        controller.update_groups(namesrv, specs);
        let events = controller.tick().await;
        // The roles ConfigMaps: written when missing, updated with what happened.
        for (g, m) in plan.groups.iter().zip(&members) {
            let mut current = self.read_roles(plan, g).await?;
            // Missing: the ordinal rule; pods the group gained (scale-out) are added.
            let mut roles = current
                .roles
                .clone()
                .unwrap_or_else(|| Roles::initial(plan, g))
                .with_members(plan, g);
            let mut changed = current.roles.as_ref() != Some(&roles);
            for e in events.iter().filter(|e| event_group(e) == g.broker_name) {
                changed = true;
                self.apply_event(cr, g, m, e, &mut roles, &mut current)
                    .await;
            }
            if changed {
                current.roles = Some(roles);
                self.write_roles(cr, plan, g, &current).await?;
            }
        }
        if let Some(req) = cr.annotations().get(SWITCHOVER_ANNOTATION).cloned() {
            self.switchover(cr, plan, &members, &req, key).await;
        }
        Ok(())
    }

    /// A failover event: roles and the group's last event updated, a Kubernetes Event.
    async fn apply_event(
        &self,
        cr: &RocketMQCluster,
        g: &GroupPlan,
        m: &Members,
        e: &Event,
        roles: &mut Roles,
        current: &mut GroupRoles,
    ) {
        match e {
            Event::Failover {
                new_master,
                epoch,
                start,
                last_seen_end,
                detect_ms,
                ..
            } => {
                let old = roles.master().unwrap_or("-").to_string();
                let Some(new_pod) = m.pod_of(new_master).map(String::from) else {
                    warn!(group = %g.broker_name, %new_master, "promoted broker is no pod of the group");
                    return;
                };
                roles.promote(&new_pod, *epoch);
                let gap = last_seen_end.map_or("unknown".to_string(), |end| {
                    format!("{} bytes", (end - start).max(0))
                });
                let message = format!(
                    "group {}: master {old} lost for {detect_ms} ms; promoted {new_pod} ({new_master}) in epoch {epoch} from offset {start}; the old master's unreplicated tail was {gap}",
                    g.broker_name
                );
                info!(group = %g.broker_name, %old, new = %new_pod, epoch, "failover");
                self.publish(cr, EventType::Warning, "Failover", &message)
                    .await;
                current.event = Some(RoleEvent {
                    reason: "MasterLost".into(),
                    message,
                    time: now_rfc3339(),
                    replaced: true,
                });
            }
            Event::Rejoined {
                broker,
                broker_id,
                master,
                ..
            } => {
                let pod = m.pod_of(broker).unwrap_or(broker).to_string();
                let master_pod = m.pod_of(master).unwrap_or(master).to_string();
                if m.pod_of(broker).is_some() && *broker_id != 0 {
                    roles.ids.insert(pod.clone(), *broker_id);
                }
                let message = format!(
                    "group {}: {pod} re-pointed as slave (brokerId {broker_id}) of {master_pod}",
                    g.broker_name
                );
                self.publish(cr, EventType::Normal, "Rejoined", &message)
                    .await;
            }
            Event::Blocked { why, .. } => {
                let message = format!(
                    "group {}: the master is lost but no slave can be promoted now: {why}",
                    g.broker_name
                );
                self.publish(cr, EventType::Warning, "FailoverBlocked", &message)
                    .await;
                current.event = Some(RoleEvent {
                    reason: "FailoverBlocked".into(),
                    message,
                    time: now_rfc3339(),
                    replaced: false,
                });
            }
        }
    }

    async fn read_roles(&self, plan: &ClusterPlan, g: &GroupPlan) -> Result<GroupRoles, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &plan.namespace);
        let name = names::broker_roles(&g.broker_name);
        let Some(cm) = api
            .get_opt(&name)
            .await
            .map_err(|e| format!("get configmap {name}: {e}"))?
        else {
            return Ok(GroupRoles::default());
        };
        match GroupRoles::from_config_map(&cm) {
            Ok(r) => Ok(r),
            Err(e) => {
                // Rewritten from what the operator knows; the pods fell back to the ordinal.
                warn!(configmap = %name, error = %e, "roles ConfigMap unreadable; rewriting it");
                Ok(GroupRoles::default())
            }
        }
    }

    async fn write_roles(
        &self,
        cr: &RocketMQCluster,
        plan: &ClusterPlan,
        g: &GroupPlan,
        roles: &GroupRoles,
    ) -> Result<(), String> {
        let owner = cr
            .controller_owner_ref(&())
            .ok_or("the cluster has no uid")?;
        let cm = roles.config_map(plan, g, &owner);
        let name = names::broker_roles(&g.broker_name);
        Api::<ConfigMap>::namespaced(self.client.clone(), &plan.namespace)
            .patch(
                &name,
                &PatchParams::apply(names::FIELD_MANAGER).force(),
                &Patch::Apply(&cm),
            )
            .await
            .map_err(|e| format!("apply configmap {name}: {e}"))?;
        Ok(())
    }

    async fn publish(&self, cr: &RocketMQCluster, type_: EventType, reason: &str, note: &str) {
        let ev = KubeEvent {
            type_,
            reason: reason.to_string(),
            note: Some(note.to_string()),
            action: "Failover".to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &cr.object_ref(&())).await {
            warn!(error = %e, reason, "publishing event failed");
        }
    }

    /// Removes the switchover annotation (the request was handled: done or refused).
    async fn clear_switchover(&self, cr: &RocketMQCluster) {
        let (Some(ns), name) = (cr.namespace(), cr.name_any()) else {
            return;
        };
        let body = serde_json::json!({"metadata": {"annotations": {SWITCHOVER_ANNOTATION: null}}});
        if let Err(e) = Api::<RocketMQCluster>::namespaced(self.client.clone(), &ns)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            warn!(error = %e, "removing the switchover annotation failed");
        }
    }

    /// Records a switchover's outcome in the group's roles ConfigMap (group 0's when the request
    /// names no group of the cluster), publishes it and removes the annotation.
    async fn finish_switchover(
        &self,
        cr: &RocketMQCluster,
        plan: &ClusterPlan,
        group: Option<&GroupPlan>,
        req: &str,
        done: Option<(Roles, String)>,
        refused: Option<String>,
    ) {
        let Some(g) = group.or(plan.groups.first()) else {
            return;
        };
        let mut current = match self.read_roles(plan, g).await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "switchover outcome not recorded");
                return;
            }
        };
        let (result, message) = match (done, refused) {
            (Some((roles, message)), _) => {
                current.roles = Some(roles);
                current.event = Some(RoleEvent {
                    reason: "Switchover".into(),
                    message: message.clone(),
                    time: now_rfc3339(),
                    replaced: true,
                });
                self.publish(cr, EventType::Normal, "SwitchoverDone", &message)
                    .await;
                ("Done", message)
            }
            (None, refused) => {
                let message = refused.unwrap_or_default();
                if current.roles.is_none() {
                    current.roles = Some(Roles::initial(plan, g));
                }
                current.event = Some(RoleEvent {
                    reason: "SwitchoverRefused".into(),
                    message: message.clone(),
                    time: now_rfc3339(),
                    replaced: false,
                });
                self.publish(cr, EventType::Warning, "SwitchoverRefused", &message)
                    .await;
                ("Refused", message)
            }
        };
        current.switchover = Some((
            SwitchoverStatus {
                request: req.to_string(),
                result: result.to_string(),
                message,
            },
            now_rfc3339(),
        ));
        if let Err(e) = self.write_roles(cr, plan, g, &current).await {
            warn!(error = %e, "switchover outcome not recorded");
        }
        self.clear_switchover(cr).await;
    }

    async fn refuse_switchover(
        &self,
        cr: &RocketMQCluster,
        plan: &ClusterPlan,
        group: Option<&GroupPlan>,
        req: &str,
        why: String,
    ) {
        let message = format!("switchover {req:?} refused: {why}");
        warn!(%req, %why, "switchover refused");
        self.finish_switchover(cr, plan, group, req, None, Some(message))
            .await;
    }

    /// A manual switchover: the named slave, if in sync with a writable master, is promoted
    /// with the failover sequence (fence every member with a new epoch, promote, re-point the
    /// others, the old master as a slave with the promoted one's former id).
    async fn switchover(
        &mut self,
        cr: &RocketMQCluster,
        plan: &ClusterPlan,
        members: &[Members],
        req: &str,
        key: &str,
    ) {
        let Some((group_name, target)) = req.split_once('=').map(|(g, p)| (g.trim(), p.trim()))
        else {
            return self
                .refuse_switchover(cr, plan, None, req, "expected <group>=<pod>".into())
                .await;
        };
        let Some((gi, g)) = plan
            .groups
            .iter()
            .enumerate()
            .find(|(_, g)| g.broker_name == group_name)
        else {
            return self
                .refuse_switchover(
                    cr,
                    plan,
                    None,
                    req,
                    format!("{group_name} is no broker group of this cluster"),
                )
                .await;
        };
        let m = &members[gi];
        let Some(target_addr) = m.addr_of(target).filter(|a| *a != NO_ADDRESS) else {
            return self
                .refuse_switchover(
                    cr,
                    plan,
                    Some(g),
                    req,
                    format!("{target} is no running pod of group {group_name}"),
                )
                .await;
        };
        let Some(controller) = self.clusters.get(key) else {
            return;
        };
        let mut states: Vec<(String, FailoverState)> = Vec::new();
        for (pod, addr) in &m.pods {
            if let Ok(s) = controller
                .call(addr, FAILOVER_GET_STATE, ExtFields::default())
                .await
            {
                states.push((pod.clone(), s));
            }
        }
        let decision = plan_switchover(&states, target, target_addr);
        let (master_pod, master, slave) = match decision {
            Ok(d) => d,
            Err(SwitchoverPlan::AlreadyMaster) => {
                let roles = self
                    .read_roles(plan, g)
                    .await
                    .ok()
                    .and_then(|r| r.roles)
                    .unwrap_or_else(|| Roles::initial(plan, g));
                let msg = format!("group {group_name}: {target} is the master already");
                return self
                    .finish_switchover(cr, plan, Some(g), req, Some((roles, msg)), None)
                    .await;
            }
            Err(SwitchoverPlan::Refused(why)) => {
                return self.refuse_switchover(cr, plan, Some(g), req, why).await;
            }
        };
        let epoch = states
            .iter()
            .map(|(_, s)| s.known_epoch.max(s.epoch))
            .max()
            .unwrap_or(1)
            + 1;
        let Some(controller) = self.clusters.get(key) else {
            return;
        };
        let steps = Switch {
            cr,
            controller,
            group: group_name,
            epoch,
        };
        let sync = plan.replication == Replication::Sync;
        match self
            .switch(
                &steps,
                &states,
                (&master_pod, &master),
                (target, &slave),
                sync,
            )
            .await
        {
            Ok((start, old_end)) => {
                let mut roles = self
                    .read_roles(plan, g)
                    .await
                    .ok()
                    .and_then(|r| r.roles)
                    .unwrap_or_else(|| Roles::initial(plan, g))
                    .with_members(plan, g);
                roles.promote(target, epoch);
                let message = format!(
                    "group {group_name}: switched over from {master_pod} to {target} in epoch {epoch} (start offset {start}, the old master ended at {old_end})"
                );
                info!(group = %group_name, from = %master_pod, to = %target, epoch, "switchover done");
                self.finish_switchover(cr, plan, Some(g), req, Some((roles, message)), None)
                    .await;
            }
            Err(why) => self.refuse_switchover(cr, plan, Some(g), req, why).await,
        }
    }

    /// The switchover sequence, an Event per step: fence the master (it stops acknowledging),
    /// freeze the slaves, promote the target, re-point the others (the old master with the
    /// target's former id). Returns the new epoch's start offset and the old master's end.
    async fn switch(
        &self,
        s: &Switch<'_>,
        states: &[(String, FailoverState)],
        (master_pod, master): (&str, &FailoverState),
        (target, slave): (&str, &FailoverState),
        sync: bool,
    ) -> Result<(i64, i64), String> {
        let (group, epoch) = (s.group, s.epoch);
        self.publish(
            s.cr,
            EventType::Normal,
            "SwitchoverStarted",
            &format!(
                "group {group}: switching the master from {master_pod} to {target} (epoch {epoch}, gap {} bytes)",
                master.max_offset - slave.max_offset
            ),
        )
        .await;
        let fenced = s
            .call(&master.broker_addr, FAILOVER_FENCE, &[])
            .await
            .map_err(|e| format!("fencing the master {master_pod} failed: {e}"))?;
        for (_, st) in states.iter().filter(|(_, st)| st.role == "SLAVE") {
            if let Err(e) = s.call(&st.broker_addr, FAILOVER_FENCE, &[]).await {
                warn!(broker = %st.broker_addr, error = %e, "fence failed");
            }
        }
        self.publish(
            s.cr,
            EventType::Normal,
            "MasterFenced",
            &format!(
                "group {group}: {master_pod} fenced at offset {} (epoch {epoch}); slaves frozen",
                fenced.max_offset
            ),
        )
        .await;
        let role = if sync { "SYNC_MASTER" } else { "ASYNC_MASTER" };
        // A failed promotion leaves a fenced master: the failover loop replaces it once it is
        // gone from the name servers.
        let promoted = s
            .call(&slave.broker_addr, FAILOVER_PROMOTE, &[("role", role.to_string())])
            .await
            .map_err(|e| {
                format!("promoting {target} failed after the master was fenced: {e}; automatic failover takes over")
            })?;
        let start = promoted.epochs.last().map_or(promoted.max_offset, |e| e.1);
        self.publish(
            s.cr,
            EventType::Normal,
            "SlavePromoted",
            &format!("group {group}: {target} is master of epoch {epoch} from offset {start}"),
        )
        .await;
        for (pod, st) in states
            .iter()
            .filter(|(_, st)| st.broker_addr != promoted.broker_addr)
        {
            let id = if st.role == "SLAVE" {
                st.broker_id
            } else {
                slave.broker_id
            };
            let repoint = [
                ("brokerId", id.to_string()),
                ("masterAddr", promoted.broker_addr.clone()),
                ("masterHaAddr", promoted.ha_addr.clone()),
            ];
            match s.call(&st.broker_addr, FAILOVER_REPOINT, &repoint).await {
                Ok(_) => {
                    let note = format!(
                        "group {group}: {pod} re-pointed as slave (brokerId {id}) of {target}"
                    );
                    self.publish(s.cr, EventType::Normal, "Rejoined", &note)
                        .await
                }
                Err(e) => {
                    warn!(broker = %st.broker_addr, error = %e, "re-point failed (the failover loop retries)")
                }
            }
        }
        Ok((start, fenced.max_offset))
    }
}

/// One switchover's context: the cluster, the controller that speaks to its brokers, the
/// group and the new epoch.
struct Switch<'a> {
    cr: &'a RocketMQCluster,
    controller: &'a Controller,
    group: &'a str,
    epoch: u32,
}

impl Switch<'_> {
    /// One failover admin call with this switchover's epoch and `fields`.
    async fn call(
        &self,
        addr: &str,
        code: i32,
        fields: &[(&str, String)],
    ) -> Result<FailoverState, String> {
        let mut ext = ExtFields::default();
        ext.insert("epoch", self.epoch.to_string());
        for (k, v) in fields {
            ext.insert(*k, v.clone());
        }
        self.controller.call(addr, code, ext).await
    }
}

/// Why a switchover does not go ahead.
#[derive(Debug, PartialEq)]
pub enum SwitchoverPlan {
    /// The target is the writable master already.
    AlreadyMaster,
    /// Refused, with the reason.
    Refused(String),
}

/// Decides a switchover from the members' failover states (pure): `(master pod, master state,
/// target state)`, or why not. The target must be a slave connected to a writable master and
/// within [`crate::admin::CATCH_UP_SLACK`] of its commit-log end, and every member must
/// answer (a member that does not could be a second master the fence would miss).
pub fn plan_switchover(
    states: &[(String, FailoverState)],
    target: &str,
    target_addr: &str,
) -> Result<(String, FailoverState, FailoverState), SwitchoverPlan> {
    let refused = |s: String| Err(SwitchoverPlan::Refused(s));
    let Some((master_pod, master)) = states
        .iter()
        .find(|(_, s)| s.role != "SLAVE" && s.write_refused.is_none())
    else {
        return refused("no member answers as a writable master".into());
    };
    if master_pod == target {
        return Err(SwitchoverPlan::AlreadyMaster);
    }
    let Some((_, slave)) = states.iter().find(|(p, _)| p == target) else {
        return refused(format!("{target} ({target_addr}) does not answer"));
    };
    if slave.role != "SLAVE" {
        return refused(format!("{target} is {} (not a slave)", slave.role));
    }
    if !slave.ha_connected || slave.known_epoch != master.epoch {
        return refused(format!(
            "{target} is not in sync: it does not follow the current master (HA connected: {}, epoch {} vs {})",
            slave.ha_connected, slave.known_epoch, master.epoch
        ));
    }
    let gap = master.max_offset - slave.max_offset;
    if gap > crate::admin::CATCH_UP_SLACK {
        return refused(format!(
            "{target} is not in sync: {gap} bytes behind the master (at most {} allowed)",
            crate::admin::CATCH_UP_SLACK
        ));
    }
    Ok((master_pod.clone(), master.clone(), slave.clone()))
}

/// The group an event is about.
fn event_group(e: &Event) -> &str {
    match e {
        Event::Failover { group, .. }
        | Event::Rejoined { group, .. }
        | Event::Blocked { group, .. } => group,
    }
}

/// The members of group `g`: every ordinal of the plan, at its pod's IP (or [`NO_ADDRESS`]).
fn group_members(plan: &ClusterPlan, g: &GroupPlan, pods: &[Pod]) -> Members {
    Members {
        pods: g
            .members
            .iter()
            .map(|m| {
                let name = names::broker_pod(&plan.name, g.index, m.ordinal);
                let addr = pods
                    .iter()
                    .find(|p| {
                        p.metadata.name.as_deref() == Some(&name)
                            && group_index(&p.metadata) == Some(g.index)
                            && p.metadata.deletion_timestamp.is_none()
                    })
                    .and_then(|p| p.status.as_ref()?.pod_ip.clone())
                    .map_or(NO_ADDRESS.to_string(), |ip| {
                        format!("{ip}:{}", plan.broker_port)
                    });
                (name, addr)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(addr: &str, role: &str, id: i64, epoch: u32, end: i64, ha: bool) -> FailoverState {
        FailoverState {
            broker_name: "g".into(),
            broker_addr: addr.into(),
            ha_addr: format!("{addr}1"),
            role: role.into(),
            broker_id: id,
            epoch,
            known_epoch: epoch,
            epochs: vec![(epoch, 0)],
            max_offset: end,
            write_refused: None,
            ha_connected: ha,
            following: None,
            in_sync_slaves: 1,
        }
    }

    #[test]
    fn switchover_needs_a_writable_master_and_a_following_slave_in_sync() {
        let m = (
            "p0".to_string(),
            state("a:1", "SYNC_MASTER", 0, 2, 5000, false),
        );
        let s = ("p1".to_string(), state("b:1", "SLAVE", 1, 2, 4900, true));
        let ok = plan_switchover(&[m.clone(), s.clone()], "p1", "b:1").unwrap();
        assert_eq!((ok.0.as_str(), ok.2.broker_id), ("p0", 1));
        assert_eq!(
            plan_switchover(&[m.clone(), s.clone()], "p0", "a:1"),
            Err(SwitchoverPlan::AlreadyMaster)
        );
        let far = ("p1".to_string(), state("b:1", "SLAVE", 1, 2, 0, true));
        let far_master = (
            "p0".to_string(),
            state("a:1", "SYNC_MASTER", 0, 2, 5 << 20, false),
        );
        assert!(matches!(
            plan_switchover(&[far_master, far], "p1", "b:1"),
            Err(SwitchoverPlan::Refused(w)) if w.contains("bytes behind")
        ));
        let cut = ("p1".to_string(), state("b:1", "SLAVE", 1, 2, 5000, false));
        assert!(matches!(
            plan_switchover(&[m.clone(), cut], "p1", "b:1"),
            Err(SwitchoverPlan::Refused(w)) if w.contains("does not follow")
        ));
        let mut fenced = m.clone();
        fenced.1.write_refused = Some("fenced".into());
        assert!(matches!(
            plan_switchover(&[fenced, s.clone()], "p1", "b:1"),
            Err(SwitchoverPlan::Refused(w)) if w.contains("writable master")
        ));
        assert!(matches!(
            plan_switchover(&[m], "p1", "b:1"),
            Err(SwitchoverPlan::Refused(w)) if w.contains("does not answer")
        ));
    }
}
