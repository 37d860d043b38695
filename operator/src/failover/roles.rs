//! The roles of a broker group (pure): which pod has which brokerId (0 = master) and the
//! group's epoch, as the roles ConfigMap `<group>-roles` holds them.
//!
//! With failover the StatefulSet ordinal no longer says who is master: after a failover the
//! promoted slave keeps its pod name and ordinal. The pod's entrypoint reads its brokerId from
//! this file at start ([`crate::build::entrypoint_script`]), so a pod restarted after a failover
//! starts in its current role. The file is line-based so a POSIX shell can read it:
//!
//! ```text
//! epoch=2
//! master=demo-broker-0-1
//! demo-broker-0-0=1
//! demo-broker-0-1=0
//! ```
//!
//! The ConfigMap's other keys are for the operator only: the last failover action of the group
//! (`event.*`, the source of the `Failover` condition) and the last switchover request handled
//! (`switchover.*`, the source of `status.switchover`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::crd::SwitchoverStatus;
use crate::names::{self, Component};
use crate::plan::{ClusterPlan, GroupPlan};

/// The roles of one group's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// The newest epoch the operator started (a failover or switchover adds one).
    pub epoch: u32,
    /// brokerId by pod name; the master has 0.
    pub ids: BTreeMap<String, i64>,
}

/// Why a roles file is not used (the pod then falls back to its ordinal).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RolesError {
    /// No `epoch=` line with a number.
    #[error("roles file has no epoch line")]
    NoEpoch,
    /// A line that is neither a comment nor `key=value` with a numeric id.
    #[error("roles file line {0}: {1:?} is not key=value")]
    BadLine(usize, String),
    /// Two pods with brokerId 0.
    #[error("roles file names two masters: {0} and {1}")]
    TwoMasters(String, String),
}

impl Roles {
    /// The roles before any failover: ordinal 0 is the master, ordinal n the slave with
    /// brokerId n (today's ordinal rule), epoch 1 (a log without epoch entries is epoch 1).
    pub fn initial(plan: &ClusterPlan, g: &GroupPlan) -> Roles {
        Roles {
            epoch: 1,
            ids: g
                .members
                .iter()
                .map(|m| {
                    (
                        names::broker_pod(&plan.name, g.index, m.ordinal),
                        i64::from(m.ordinal),
                    )
                })
                .collect(),
        }
    }

    /// The pod with brokerId 0.
    pub fn master(&self) -> Option<&str> {
        self.ids
            .iter()
            .find(|(_, id)| **id == 0)
            .map(|(p, _)| p.as_str())
    }

    /// Adds pods the group gained (scale-out) with the ordinal rule's id when it is free, else
    /// the lowest free one; pods already listed keep theirs.
    pub fn with_members(mut self, plan: &ClusterPlan, g: &GroupPlan) -> Roles {
        for m in &g.members {
            let pod = names::broker_pod(&plan.name, g.index, m.ordinal);
            if self.ids.contains_key(&pod) {
                continue;
            }
            let used: Vec<i64> = self.ids.values().copied().collect();
            let want = i64::from(m.ordinal);
            let id = if want != 0 && !used.contains(&want) {
                want
            } else {
                (1..).find(|i| !used.contains(i)).unwrap_or(want)
            };
            self.ids.insert(pod, id);
        }
        self
    }

    /// `pod` became master in `epoch`; the former master takes `pod`'s former id (so the ids
    /// stay distinct, as the failover controller re-points it with).
    pub fn promote(&mut self, pod: &str, epoch: u32) {
        let former = self.ids.get(pod).copied().unwrap_or(1);
        if let Some(old) = self.master().map(String::from)
            && old != pod
        {
            self.ids.insert(old, former);
        }
        self.ids.insert(pod.to_string(), 0);
        self.epoch = self.epoch.max(epoch);
    }

    /// The file the pods read.
    pub fn render(&self) -> String {
        let mut s = format!(
            "# Written by the rocketmq operator: brokerId of each pod (0 = master).\nepoch={}\n",
            self.epoch
        );
        if let Some(m) = self.master() {
            s.push_str(&format!("master={m}\n"));
        }
        for (pod, id) in &self.ids {
            s.push_str(&format!("{pod}={id}\n"));
        }
        s
    }

    /// Parses [`Roles::render`]'s format.
    pub fn parse(text: &str) -> Result<Roles, RolesError> {
        let mut epoch = None;
        let mut ids = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || RolesError::BadLine(n + 1, line.to_string());
            let (k, v) = line.split_once('=').ok_or_else(bad)?;
            match k {
                "epoch" => epoch = Some(v.parse::<u32>().map_err(|_| bad())?),
                "master" => {}
                pod => {
                    let id: i64 = v.parse().map_err(|_| bad())?;
                    if id < 0 {
                        return Err(bad());
                    }
                    ids.insert(pod.to_string(), id);
                }
            }
        }
        let roles = Roles {
            epoch: epoch.ok_or(RolesError::NoEpoch)?,
            ids,
        };
        let masters: Vec<&String> = roles
            .ids
            .iter()
            .filter(|(_, id)| **id == 0)
            .map(|(p, _)| p)
            .collect();
        if let [a, b, ..] = masters.as_slice() {
            return Err(RolesError::TwoMasters((*a).clone(), (*b).clone()));
        }
        Ok(roles)
    }
}

/// The last failover action of a group, for the `Failover` condition and Events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleEvent {
    /// Condition reason: `MasterLost`, `Switchover`, `SwitchoverRefused`, `FailoverBlocked`.
    pub reason: String,
    /// What happened.
    pub message: String,
    /// RFC 3339 time it happened.
    pub time: String,
    /// Whether the master was replaced (the condition's status).
    pub replaced: bool,
}

/// Everything a roles ConfigMap holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupRoles {
    /// The roles (`None`: the file is missing or unparseable).
    pub roles: Option<Roles>,
    /// The last failover action.
    pub event: Option<RoleEvent>,
    /// The last switchover request handled, and when.
    pub switchover: Option<(SwitchoverStatus, String)>,
}

const EVENT_REASON: &str = "event.reason";
const EVENT_MESSAGE: &str = "event.message";
const EVENT_TIME: &str = "event.time";
const EVENT_REPLACED: &str = "event.replaced";
const SWITCHOVER_REQUEST: &str = "switchover.request";
const SWITCHOVER_RESULT: &str = "switchover.result";
const SWITCHOVER_MESSAGE: &str = "switchover.message";
const SWITCHOVER_TIME: &str = "switchover.time";

impl GroupRoles {
    /// Reads a roles ConfigMap; a damaged file gives `roles: None` (the caller logs it).
    pub fn from_config_map(cm: &ConfigMap) -> Result<GroupRoles, RolesError> {
        let empty = BTreeMap::new();
        let d = cm.data.as_ref().unwrap_or(&empty);
        let get = |k: &str| d.get(k).cloned();
        let roles = Roles::parse(d.get(names::ROLES_KEY).map_or("", String::as_str))?;
        let event = match (get(EVENT_REASON), get(EVENT_MESSAGE), get(EVENT_TIME)) {
            (Some(reason), Some(message), Some(time)) => Some(RoleEvent {
                reason,
                message,
                time,
                replaced: get(EVENT_REPLACED).as_deref() == Some("true"),
            }),
            _ => None,
        };
        let switchover = match (
            get(SWITCHOVER_REQUEST),
            get(SWITCHOVER_RESULT),
            get(SWITCHOVER_MESSAGE),
            get(SWITCHOVER_TIME),
        ) {
            (Some(request), Some(result), Some(message), Some(time)) => Some((
                SwitchoverStatus {
                    request,
                    result,
                    message,
                },
                time,
            )),
            _ => None,
        };
        Ok(GroupRoles {
            roles: Some(roles),
            event,
            switchover,
        })
    }

    /// The ConfigMap of group `g` holding this, owned by the cluster.
    pub fn config_map(
        &self,
        plan: &ClusterPlan,
        g: &GroupPlan,
        owner: &OwnerReference,
    ) -> ConfigMap {
        let mut data = BTreeMap::new();
        if let Some(r) = &self.roles {
            data.insert(names::ROLES_KEY.to_string(), r.render());
        }
        if let Some(e) = &self.event {
            data.insert(EVENT_REASON.to_string(), e.reason.clone());
            data.insert(EVENT_MESSAGE.to_string(), e.message.clone());
            data.insert(EVENT_TIME.to_string(), e.time.clone());
            data.insert(EVENT_REPLACED.to_string(), e.replaced.to_string());
        }
        if let Some((s, time)) = &self.switchover {
            data.insert(SWITCHOVER_REQUEST.to_string(), s.request.clone());
            data.insert(SWITCHOVER_RESULT.to_string(), s.result.clone());
            data.insert(SWITCHOVER_MESSAGE.to_string(), s.message.clone());
            data.insert(SWITCHOVER_TIME.to_string(), time.clone());
        }
        ConfigMap {
            metadata: crate::build::meta(
                plan,
                names::broker_roles(&g.broker_name),
                Component::Broker,
                Some(g.index),
                owner,
            ),
            data: Some(data),
            ..ConfigMap::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(groups: i32, slaves: i32) -> ClusterPlan {
        let spec: crate::crd::RocketMQClusterSpec = serde_json::from_value(serde_json::json!({
            "broker": {"groups": groups, "replicasPerGroup": slaves,
                       "failover": {"enabled": true}}
        }))
        .unwrap();
        crate::validate::validate("demo", "rmq", &spec).unwrap()
    }

    #[test]
    fn initial_roles_follow_the_ordinal_and_round_trip() {
        let p = plan(1, 2);
        let r = Roles::initial(&p, &p.groups[0]);
        assert_eq!(r.master(), Some("demo-broker-0-0"));
        assert_eq!(r.epoch, 1);
        let text = r.render();
        assert!(text.contains("\nepoch=1\n"));
        assert!(text.contains("master=demo-broker-0-0\n"));
        assert!(text.contains("demo-broker-0-2=2\n"));
        assert_eq!(Roles::parse(&text).unwrap(), r);
    }

    #[test]
    fn promotion_swaps_ids_and_raises_the_epoch() {
        let p = plan(1, 2);
        let mut r = Roles::initial(&p, &p.groups[0]);
        r.promote("demo-broker-0-2", 2);
        assert_eq!(r.master(), Some("demo-broker-0-2"));
        assert_eq!(r.ids["demo-broker-0-0"], 2);
        assert_eq!(r.ids["demo-broker-0-1"], 1);
        assert_eq!(r.epoch, 2);
        // A switchover back: ids stay a permutation of 0..n.
        r.promote("demo-broker-0-0", 3);
        let mut ids: Vec<i64> = r.ids.values().copied().collect();
        ids.sort();
        assert_eq!(ids, vec![0, 1, 2]);
        assert_eq!(r.master(), Some("demo-broker-0-0"));
    }

    #[test]
    fn scale_out_adds_slaves_with_free_ids() {
        let p = plan(1, 1);
        let mut r = Roles::initial(&p, &p.groups[0]);
        r.promote("demo-broker-0-1", 2);
        let p3 = plan(1, 3);
        let r = r.with_members(&p3, &p3.groups[0]);
        assert_eq!(r.master(), Some("demo-broker-0-1"));
        assert_eq!(r.ids["demo-broker-0-0"], 1);
        assert_eq!(r.ids["demo-broker-0-2"], 2);
        assert_eq!(r.ids["demo-broker-0-3"], 3);
    }

    #[test]
    fn damaged_files_are_refused_not_guessed() {
        assert_eq!(Roles::parse("demo-0=0\n"), Err(RolesError::NoEpoch));
        assert!(matches!(
            Roles::parse("epoch=x\n"),
            Err(RolesError::BadLine(1, _))
        ));
        assert!(matches!(
            Roles::parse("epoch=2\na=0\nb=0\n"),
            Err(RolesError::TwoMasters(_, _))
        ));
        assert!(matches!(
            Roles::parse("epoch=2\na=-1\n"),
            Err(RolesError::BadLine(2, _))
        ));
        assert!(matches!(
            Roles::parse("epoch=2\ngarbage\n"),
            Err(RolesError::BadLine(2, _))
        ));
    }

    #[test]
    fn config_map_round_trips_event_and_switchover() {
        let p = plan(1, 1);
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "RocketMQCluster".into(),
            name: "demo".into(),
            uid: "u".into(),
            ..OwnerReference::default()
        };
        let gr = GroupRoles {
            roles: Some(Roles::initial(&p, &p.groups[0])),
            event: Some(RoleEvent {
                reason: "MasterLost".into(),
                message: "m".into(),
                time: "2026-01-01T00:00:00Z".into(),
                replaced: true,
            }),
            switchover: Some((
                SwitchoverStatus {
                    request: "demo-broker-0=demo-broker-0-1".into(),
                    result: "Done".into(),
                    message: "ok".into(),
                },
                "2026-01-01T00:00:01Z".into(),
            )),
        };
        let cm = gr.config_map(&p, &p.groups[0], &owner);
        assert_eq!(cm.metadata.name.as_deref(), Some("demo-broker-0-roles"));
        assert_eq!(GroupRoles::from_config_map(&cm).unwrap(), gr);
    }
}
