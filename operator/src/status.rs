//! Status (pure): conditions Ready / Progressing / Degraded, observedGeneration, the name server
//! address and per-group members, from what was observed and decided.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{Advertise, GroupStatus, MemberStatus, RocketMQClusterStatus};
use crate::failover::GroupRoles;
use crate::names;
use crate::plan::ClusterPlan;
use crate::read::{Observed, pod_ready};
use crate::roll::Decision;
use crate::validate::Refusal;

/// Condition type: every group's master and a name server serve.
pub const READY: &str = "Ready";
/// Condition type: the operator is creating, rolling or scaling something.
pub const PROGRESSING: &str = "Progressing";
/// Condition type: something needs a human (invalid spec, refused scale-in, failed admin call).
pub const DEGRADED: &str = "Degraded";
/// Condition type (failover on): the last failover action of any group — True when a master
/// was replaced (reason `MasterLost` or `Switchover`), False when none happened yet or the last
/// action was refused or blocked (`SwitchoverRefused`, `FailoverBlocked`).
pub const FAILOVER: &str = "Failover";

/// What happened in a reconcile of a valid spec.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Roll decision.
    pub decision: Decision,
    /// Groups kept although the spec dropped them (not drained).
    pub scale_in_refused: Vec<String>,
    /// Groups whose topics were copied (now or earlier).
    pub topics_copied: BTreeSet<usize>,
    /// Admin-call failures worth surfacing.
    pub notes: Vec<String>,
    /// Why a storage change was refused (the StatefulSets keep their live storage).
    pub storage_refused: Option<String>,
}

fn condition(
    prev: Option<&RocketMQClusterStatus>,
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if ok { "True" } else { "False" }.to_string();
    // Keep the transition time while the status does not change.
    let last = prev
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: last,
    }
}

/// Status of a refused spec: Degraded with the refusal; the rest of the previous status (the
/// cluster built from the last valid spec keeps running) stays.
pub fn refused(
    prev: Option<&RocketMQClusterStatus>,
    refusal: &Refusal,
    generation: Option<i64>,
    now: &Time,
) -> RocketMQClusterStatus {
    let mut s = prev.cloned().unwrap_or_default();
    s.observed_generation = generation;
    let was_ready = prev
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == READY))
        .is_some_and(|c| c.status == "True");
    s.conditions = vec![
        condition(
            prev,
            READY,
            was_ready,
            if was_ready {
                "PreviousSpecRunning"
            } else {
                "InvalidSpec"
            },
            "the current spec was refused; see Degraded".to_string(),
            generation,
            now,
        ),
        condition(
            prev,
            PROGRESSING,
            false,
            "InvalidSpec",
            "nothing is applied until the spec is fixed".to_string(),
            generation,
            now,
        ),
        condition(
            prev,
            DEGRADED,
            true,
            refusal.reason(),
            refusal.message(),
            generation,
            now,
        ),
    ];
    s
}

/// Status after a failed reconcile: Degraded=True `ReconcileFailed` with the error; Progressing
/// True (the operator retries with a backoff); Ready is kept only when the previous status was
/// about this generation (otherwise the spec is not applied yet: never Ready at a stale one).
pub fn failed(
    prev: Option<&RocketMQClusterStatus>,
    error: &str,
    generation: Option<i64>,
    now: &Time,
) -> RocketMQClusterStatus {
    let mut s = prev.cloned().unwrap_or_default();
    let same_gen = prev.is_some_and(|p| p.observed_generation == generation);
    let was_ready = same_gen
        && prev
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == READY))
            .is_some_and(|c| c.status == "True");
    s.observed_generation = generation;
    s.conditions = vec![
        condition(
            prev,
            READY,
            was_ready,
            if was_ready {
                "AllGroupsReady"
            } else {
                "SpecNotApplied"
            },
            "the last reconcile failed; see Degraded".to_string(),
            generation,
            now,
        ),
        condition(
            prev,
            PROGRESSING,
            true,
            "Retrying",
            "the operator retries with an exponential backoff".to_string(),
            generation,
            now,
        ),
        condition(
            prev,
            DEGRADED,
            true,
            "ReconcileFailed",
            error.to_string(),
            generation,
            now,
        ),
    ];
    s
}

/// Status of a paused resource (pause annotation): Progressing=False `ReconciliationPaused`;
/// Ready says the spec of this generation is not applied unless it was before the pause.
pub fn paused(
    prev: Option<&RocketMQClusterStatus>,
    generation: Option<i64>,
    now: &Time,
) -> RocketMQClusterStatus {
    let mut s = prev.cloned().unwrap_or_default();
    let same_gen = prev.is_some_and(|p| p.observed_generation == generation);
    let was_ready = same_gen
        && prev
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == READY))
            .is_some_and(|c| c.status == "True");
    let degraded = prev
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == DEGRADED))
        .cloned();
    s.observed_generation = generation;
    let mut conditions = vec![
        condition(
            prev,
            READY,
            was_ready,
            if was_ready {
                "AllGroupsReady"
            } else {
                "ReconciliationPaused"
            },
            format!(
                "reconciliation is paused ({}); nothing is applied",
                crate::crd::PAUSE_ANNOTATION
            ),
            generation,
            now,
        ),
        condition(
            prev,
            PROGRESSING,
            false,
            "ReconciliationPaused",
            format!(
                "remove the {} annotation to resume",
                crate::crd::PAUSE_ANNOTATION
            ),
            generation,
            now,
        ),
    ];
    conditions.push(match degraded {
        Some(mut d) => {
            d.observed_generation = generation;
            d
        }
        None => condition(
            prev,
            DEGRADED,
            false,
            "AsExpected",
            "no problem found".to_string(),
            generation,
            now,
        ),
    });
    s.conditions = conditions;
    s
}

/// Advertised address of a broker pod.
fn address(plan: &ClusterPlan, group: &str, pod: &str, ip: Option<&str>) -> Option<String> {
    match plan.advertise {
        Advertise::PodIp => ip.map(|ip| format!("{ip}:{}", plan.broker_port)),
        Advertise::PodDns => Some(format!(
            "{pod}.{group}.{}.svc:{}",
            plan.namespace, plan.broker_port
        )),
    }
}

/// Whether a status says the operator is still moving something (Progressing=True).
pub fn progressing(s: &RocketMQClusterStatus) -> bool {
    s.conditions
        .iter()
        .any(|c| c.type_ == PROGRESSING && c.status == "True")
}

/// A condition's value: status, reason, message.
type Verdict = (bool, &'static str, String);

/// Status of a reconciled valid spec.
pub fn reconciled(
    prev: Option<&RocketMQClusterStatus>,
    plan: &ClusterPlan,
    observed: &Observed,
    outcome: &Outcome,
    generation: Option<i64>,
    now: &Time,
) -> RocketMQClusterStatus {
    let groups = group_statuses(plan, observed, outcome);
    let health = Health::of(plan, observed, &groups);
    let cond = |type_, (ok, reason, message): Verdict| {
        condition(prev, type_, ok, reason, message, generation, now)
    };
    let mut conditions = vec![
        cond(READY, health.ready(plan)),
        cond(PROGRESSING, health.progressing(plan, observed, outcome)),
        cond(DEGRADED, degraded(outcome)),
    ];
    let roles = group_roles(plan, observed);
    if plan.failover_on() {
        conditions.push(failover_condition(prev, &roles, generation, now));
    }
    RocketMQClusterStatus {
        observed_generation: generation,
        conditions,
        switchover: roles
            .iter()
            .filter_map(|r| r.switchover.clone())
            .max_by(|a, b| a.1.cmp(&b.1))
            .map(|(s, _)| s),
        mode: Some(plan.mode()),
        ready_groups: Some(format!("{}/{}", health.ready_groups, plan.groups.len())),
        name_server_address: Some(format!(
            "{}.{}.svc:{}",
            names::namesrv_service(&plan.name),
            plan.namespace,
            plan.namesrv.port
        )),
        groups,
    }
}

/// The groups to list: the desired ones, then those kept for a refused scale-in (their member
/// count from their live StatefulSet), as `(index, broker name, members)`.
fn listed_groups(
    plan: &ClusterPlan,
    observed: &Observed,
    outcome: &Outcome,
) -> Vec<(usize, String, usize)> {
    let mut out: Vec<(usize, String, usize)> = plan
        .groups
        .iter()
        .map(|g| (g.index, g.broker_name.clone(), g.members.len()))
        .collect();
    for n in &outcome.scale_in_refused {
        if let Some(i) = n.rsplit('-').next().and_then(|i| i.parse().ok()) {
            let members = observed
                .stateful_sets
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(n))
                .and_then(|s| s.spec.as_ref()?.replicas)
                .unwrap_or(1) as usize;
            out.push((i, n.clone(), members));
        }
    }
    out
}

/// One member of group `index`: its pod, readiness and advertised address.
fn member_status(
    plan: &ClusterPlan,
    observed: &Observed,
    index: usize,
    group: &str,
    ord: u32,
) -> MemberStatus {
    let pod_name = names::broker_pod(&plan.name, index, ord);
    let pod = observed
        .pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(&pod_name));
    MemberStatus {
        broker_id: i64::from(ord),
        ready: pod.is_some_and(pod_ready),
        address: address(
            plan,
            group,
            &pod_name,
            pod.and_then(|p| p.status.as_ref()?.pod_ip.as_deref()),
        ),
        pod: pod_name,
    }
}

/// The roles ConfigMaps of the desired groups (failover on), index order; a missing or
/// damaged one is empty.
fn group_roles(plan: &ClusterPlan, observed: &Observed) -> Vec<GroupRoles> {
    if !plan.failover_on() {
        return Vec::new();
    }
    plan.groups
        .iter()
        .map(|g| {
            let name = names::broker_roles(&g.broker_name);
            observed
                .config_maps
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(&name))
                .and_then(|c| GroupRoles::from_config_map(c).ok())
                .unwrap_or_default()
        })
        .collect()
}

/// The `Failover` condition: the newest action recorded in any group's roles ConfigMap, its
/// time as the transition time.
fn failover_condition(
    prev: Option<&RocketMQClusterStatus>,
    roles: &[GroupRoles],
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let last = roles
        .iter()
        .filter_map(|r| r.event.as_ref())
        .max_by(|a, b| a.time.cmp(&b.time));
    match last {
        Some(e) => Condition {
            type_: FAILOVER.to_string(),
            status: if e.replaced { "True" } else { "False" }.to_string(),
            reason: e.reason.clone(),
            message: e.message.clone(),
            observed_generation: generation,
            last_transition_time: e.time.parse().map(Time).unwrap_or_else(|_| now.clone()),
        },
        None => condition(
            prev,
            FAILOVER,
            false,
            "NoFailover",
            "no master was replaced; the operator watches every group's master".to_string(),
            generation,
            now,
        ),
    }
}

/// Per-group status, in [`listed_groups`] order. With failover the roles ConfigMap says which
/// pod is master and each pod's brokerId; otherwise ordinal 0 is the master.
fn group_statuses(plan: &ClusterPlan, observed: &Observed, outcome: &Outcome) -> Vec<GroupStatus> {
    let roles = group_roles(plan, observed);
    listed_groups(plan, observed, outcome)
        .into_iter()
        .map(|(index, name, members)| {
            let mut all: Vec<MemberStatus> = (0..members as u32)
                .map(|ord| member_status(plan, observed, index, &name, ord))
                .collect();
            let r = roles.get(index).and_then(|r| r.roles.as_ref());
            if let Some(r) = r {
                for m in &mut all {
                    if let Some(id) = r.ids.get(&m.pod) {
                        m.broker_id = *id;
                    }
                }
                all.sort_by_key(|m| m.broker_id);
            }
            let mut all = all.into_iter();
            GroupStatus {
                master: all.next(),
                slaves: all.collect(),
                broker_name: name,
                topics_copied: outcome.topics_copied.contains(&index),
                epoch: r.map(|r| r.epoch),
            }
        })
        .collect()
}

/// What the group statuses and the name server Deployment say about readiness.
struct Health {
    /// Desired groups with a Ready master (groups kept for a refused scale-in are listed but
    /// never counted: readyGroups is about the desired groups).
    ready_groups: usize,
    /// Every member of every listed group is Ready.
    all_members_ready: bool,
    /// Every desired group's master is Ready.
    masters_ready: bool,
    /// Ready name server replicas.
    namesrv_ready: i32,
}

impl Health {
    fn of(plan: &ClusterPlan, observed: &Observed, groups: &[GroupStatus]) -> Self {
        let total = plan.groups.len();
        let master_ready = |g: &GroupStatus| g.master.as_ref().is_some_and(|m| m.ready);
        Health {
            ready_groups: groups
                .iter()
                .take(total)
                .filter(|g| master_ready(g))
                .count(),
            all_members_ready: groups
                .iter()
                .all(|g| master_ready(g) && g.slaves.iter().all(|s| s.ready)),
            masters_ready: groups.iter().take(total).all(master_ready),
            namesrv_ready: observed
                .namesrv
                .as_ref()
                .and_then(|d| d.status.as_ref()?.ready_replicas)
                .unwrap_or(0),
        }
    }

    /// Ready: a name server and every desired group's master serve.
    fn ready(&self, plan: &ClusterPlan) -> Verdict {
        let total = plan.groups.len();
        let ready = self.namesrv_ready >= 1 && self.ready_groups >= total && self.masters_ready;
        (
            ready,
            if ready {
                "AllGroupsReady"
            } else {
                "GroupsNotReady"
            },
            format!(
                "{}/{total} broker groups have a ready master; {}/{} name servers ready",
                self.ready_groups, self.namesrv_ready, plan.namesrv.replicas
            ),
        )
    }

    /// Progressing: a roll, the first creation, or pods not Ready yet.
    fn progressing(&self, plan: &ClusterPlan, observed: &Observed, outcome: &Outcome) -> Verdict {
        if let Some((reason, message)) = outcome
            .decision
            .progress(|i| names::broker_group(&plan.name, i))
        {
            (true, reason, message)
        } else if observed.stateful_sets.is_empty() {
            (true, "Creating", "creating the cluster".to_string())
        } else if !self.all_members_ready || self.namesrv_ready < plan.namesrv.replicas {
            (
                true,
                "WaitingForPods",
                "waiting for pods to become ready".to_string(),
            )
        } else {
            (false, "Stable", "all pods run the desired spec".to_string())
        }
    }
}

/// Degraded: a refused storage change or scale-in, or failed admin calls.
fn degraded(outcome: &Outcome) -> Verdict {
    if let Some(msg) = &outcome.storage_refused {
        (true, "StorageChangeRefused", msg.clone())
    } else if !outcome.scale_in_refused.is_empty() {
        (
            true,
            "ScaleInRefused",
            format!(
                "broker.groups was lowered but {} still hold(s) data: wipe the write permission (mqadmin updateBrokerConfig -k brokerPermission -v 4) and let consumers catch up; the groups are kept until drained",
                outcome.scale_in_refused.join(", ")
            ),
        )
    } else if !outcome.notes.is_empty() {
        (true, "AdminCallFailed", outcome.notes.join("; "))
    } else {
        (false, "AsExpected", "no problem found".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::{RoleEvent, Roles};
    use k8s_openapi::api::core::v1::Pod;

    fn ready_pod(name: &str, ip: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {names::GROUP_LABEL: "0"}},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    }

    /// With failover the roles ConfigMap, not the ordinal, says who is master; its last event
    /// is the `Failover` condition, its time the transition time.
    #[test]
    fn failover_status_follows_the_roles_config_map() {
        let spec: crate::crd::RocketMQClusterSpec =
            serde_yaml::from_str("broker: {replicasPerGroup: 1, failover: {enabled: true}}")
                .unwrap();
        let plan = crate::validate::validate("fo", "rmq", &spec).unwrap();
        let g = &plan.groups[0];
        let mut roles = Roles::initial(&plan, g);
        roles.promote("fo-broker-0-1", 2);
        let owner = k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference::default();
        let cm = GroupRoles {
            roles: Some(roles),
            event: Some(RoleEvent {
                reason: "MasterLost".into(),
                message: "promoted fo-broker-0-1".into(),
                time: "2026-12-02T21:00:00Z".into(),
                replaced: true,
            }),
            switchover: None,
        }
        .config_map(&plan, g, &owner);
        let observed = Observed {
            pods: vec![
                ready_pod("fo-broker-0-0", "10.0.0.1"),
                ready_pod("fo-broker-0-1", "10.0.0.2"),
            ],
            config_maps: vec![cm],
            ..Observed::default()
        };
        assert_eq!(observed.master_ordinal(&plan, 0), 1);
        let now = Time("2026-12-02T22:00:00Z".parse().unwrap());
        let s = reconciled(None, &plan, &observed, &Outcome::default(), Some(1), &now);
        let g = &s.groups[0];
        assert_eq!(
            g.master.as_ref().map(|m| (m.pod.as_str(), m.broker_id)),
            Some(("fo-broker-0-1", 0))
        );
        assert_eq!(
            (g.slaves[0].pod.as_str(), g.slaves[0].broker_id),
            ("fo-broker-0-0", 1)
        );
        assert_eq!(g.epoch, Some(2));
        let c = s.conditions.iter().find(|c| c.type_ == FAILOVER).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "MasterLost")
        );
        assert_eq!(c.last_transition_time.0.to_string(), "2026-12-02T21:00:00Z");
        // Without the ConfigMap: ordinal 0, no Failover yet.
        let bare = Observed {
            config_maps: Vec::new(),
            ..observed
        };
        let s = reconciled(None, &plan, &bare, &Outcome::default(), Some(1), &now);
        assert_eq!(s.groups[0].master.as_ref().unwrap().pod, "fo-broker-0-0");
        let c = s.conditions.iter().find(|c| c.type_ == FAILOVER).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "NoFailover")
        );
    }
}
