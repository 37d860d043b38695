//! Roll decisions (pure): which pods may take a new template now.
//!
//! Within a group the slaves roll first (StatefulSet ordinals >= 1, updated from the highest down),
//! then the master (ordinal 0) only once a broker admin call says its slaves have caught up; one
//! group at a time, in index order. Expressed as each StatefulSet's `rollingUpdate.partition`:
//! `n` (members) holds the whole group, 1 lets only the slaves update, 0 everything.

use crate::build::Partitions;

/// What was observed of one broker pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedPod {
    /// StatefulSet ordinal (0 = master).
    pub ordinal: u32,
    /// The pod's config-hash annotation (the template it runs).
    pub hash: Option<String>,
    /// Ready condition.
    pub ready: bool,
    /// Pod IP.
    pub ip: Option<String>,
}

/// What was observed of one broker group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedGroup {
    /// Group index.
    pub index: usize,
    /// Config hash of the live StatefulSet's pod template.
    pub template_hash: Option<String>,
    /// Its pods.
    pub pods: Vec<ObservedPod>,
}

impl ObservedGroup {
    /// The pod with `ordinal`.
    pub fn pod(&self, ordinal: u32) -> Option<&ObservedPod> {
        self.pods.iter().find(|p| p.ordinal == ordinal)
    }
}

/// Where the single active roll stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Slaves of the group are being replaced.
    RollingSlaves,
    /// Slaves are updated; waiting until they have caught up with the master.
    WaitingForCatchUp,
    /// The master is being replaced.
    RollingMaster,
}

impl Phase {
    /// Reason string for conditions and Events.
    pub fn reason(self) -> &'static str {
        match self {
            Phase::RollingSlaves => "RollingSlaves",
            Phase::WaitingForCatchUp => "WaitingForSlaveCatchUp",
            Phase::RollingMaster => "RollingMaster",
        }
    }
}

/// The roll decision for the whole cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// Partition of every desired group.
    pub partitions: Partitions,
    /// The group being rolled and its phase.
    pub active: Option<(usize, Phase)>,
    /// Groups waiting for the active one.
    pub held: Vec<usize>,
}

/// One desired group: index, member count and the template hash it should run.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredGroup {
    /// Group index.
    pub index: usize,
    /// Members (1 + slaves).
    pub members: u32,
    /// Desired config hash.
    pub hash: String,
}

fn pending(d: &DesiredGroup, o: Option<&ObservedGroup>) -> bool {
    match o {
        // A new StatefulSet has nothing to roll.
        None => false,
        Some(o) => {
            o.template_hash.as_deref() != Some(d.hash.as_str())
                || o.pods
                    .iter()
                    .any(|p| p.hash.as_deref() != Some(d.hash.as_str()))
        }
    }
}

/// Decides the partitions. `caught_up` answers "have the active group's slaves caught up with its
/// master?" once asked (`None`: not asked yet; the decision then waits and the caller may ask and
/// decide again).
pub fn decide(
    desired: &[DesiredGroup],
    observed: &[ObservedGroup],
    caught_up: Option<bool>,
) -> Decision {
    let mut d = Decision::default();
    for g in desired {
        let o = observed.iter().find(|o| o.index == g.index);
        if !pending(g, o) {
            d.partitions.insert(g.index, 0);
            continue;
        }
        if d.active.is_some() {
            d.partitions.insert(g.index, g.members as i32);
            d.held.push(g.index);
            continue;
        }
        let o = o.cloned().unwrap_or_default();
        let updated = |ord: u32| {
            o.pod(ord)
                .is_some_and(|p| p.ready && p.hash.as_deref() == Some(g.hash.as_str()))
        };
        let (partition, phase) = if g.members <= 1 {
            (0, Phase::RollingMaster)
        } else if !(1..g.members).all(updated) {
            (1, Phase::RollingSlaves)
        } else if caught_up == Some(true)
            || o.pod(0)
                .is_some_and(|p| p.hash.as_deref() == Some(g.hash.as_str()))
        {
            // The master may go once its slaves caught up (or it already runs the new template).
            (0, Phase::RollingMaster)
        } else {
            (1, Phase::WaitingForCatchUp)
        };
        d.partitions.insert(g.index, partition);
        d.active = Some((g.index, phase));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: u32, hash: &str, ready: bool) -> ObservedPod {
        ObservedPod {
            ordinal,
            hash: Some(hash.to_string()),
            ready,
            ip: Some(format!("10.0.0.{ordinal}")),
        }
    }
    fn group(index: usize, tpl: &str, pods: Vec<ObservedPod>) -> ObservedGroup {
        ObservedGroup {
            index,
            template_hash: Some(tpl.to_string()),
            pods,
        }
    }
    fn want(index: usize, members: u32, hash: &str) -> DesiredGroup {
        DesiredGroup {
            index,
            members,
            hash: hash.to_string(),
        }
    }

    #[test]
    fn settled_and_new_groups_update_freely() {
        let desired = [want(0, 2, "h1"), want(1, 2, "h1")];
        let observed = [group(0, "h1", vec![pod(0, "h1", true), pod(1, "h1", true)])];
        let d = decide(&desired, &observed, None);
        assert_eq!(d.partitions, [(0, 0), (1, 0)].into());
        assert_eq!(d.active, None);
    }

    #[test]
    fn slaves_first_then_master_after_catch_up_one_group_at_a_time() {
        let desired = [want(0, 2, "new"), want(1, 2, "new")];
        let old = |i| group(i, "old", vec![pod(0, "old", true), pod(1, "old", true)]);
        // Start: group 0 rolls its slave, group 1 is held.
        let d = decide(&desired, &[old(0), old(1)], None);
        assert_eq!(d.partitions, [(0, 1), (1, 2)].into());
        assert_eq!(d.active, Some((0, Phase::RollingSlaves)));
        assert_eq!(d.held, vec![1]);
        // Slave updated but not ready yet: still rolling slaves.
        let g0 = group(0, "new", vec![pod(0, "old", true), pod(1, "new", false)]);
        assert_eq!(
            decide(&desired, &[g0, old(1)], None).active,
            Some((0, Phase::RollingSlaves))
        );
        // Slave ready: wait for catch-up unless the admin says so.
        let g0 = group(0, "new", vec![pod(0, "old", true), pod(1, "new", true)]);
        let d = decide(&desired, &[g0.clone(), old(1)], None);
        assert_eq!(
            (d.partitions[&0], d.active),
            (1, Some((0, Phase::WaitingForCatchUp)))
        );
        let d = decide(&desired, &[g0.clone(), old(1)], Some(false));
        assert_eq!(d.partitions[&0], 1);
        let d = decide(&desired, &[g0, old(1)], Some(true));
        assert_eq!(
            (d.partitions[&0], d.active),
            (0, Some((0, Phase::RollingMaster)))
        );
        assert_eq!(d.partitions[&1], 2);
        // Group 0 done: group 1 starts with its slaves.
        let g0 = group(0, "new", vec![pod(0, "new", true), pod(1, "new", true)]);
        let d = decide(&desired, &[g0, old(1)], None);
        assert_eq!(d.partitions, [(0, 0), (1, 1)].into());
        assert_eq!(d.active, Some((1, Phase::RollingSlaves)));
    }

    #[test]
    fn masters_without_slaves_roll_directly() {
        let desired = [want(0, 1, "new"), want(1, 1, "new")];
        let old = |i| group(i, "old", vec![pod(0, "old", true)]);
        let d = decide(&desired, &[old(0), old(1)], None);
        assert_eq!(d.partitions, [(0, 0), (1, 1)].into());
        assert_eq!(d.active, Some((0, Phase::RollingMaster)));
    }
}
