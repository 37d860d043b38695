//! The roll (pure): a state machine that moves every broker group from the pods it runs to the
//! template the spec asks for, one pod at a time, and that can be resumed from what the API
//! objects show at any moment.
//!
//! # Persisted state
//! Nothing lives only in the operator's memory. The state of a group's roll is read back from:
//! - the live StatefulSet's template hash (annotation [`crate::names::CONFIG_HASH_ANNOTATION`]):
//!   which change the roll is about;
//! - its `spec.updateStrategy.rollingUpdate.partition` `P`: pods with ordinal `>= P` are released
//!   for the new template (the StatefulSet controller replaces them), pods below are held;
//! - the pods: their template hash, Ready condition and `deletionTimestamp` (terminating).
//!
//! An operator restarted mid-roll therefore continues exactly where the last one stopped, and a
//! reconcile that fails half-way (API error, admin call error) decides the same again next time.
//!
//! # States of one group (see [`GroupState`])
//! ```text
//!             template changes                 its turn (previous group Ready, slaves caught up
//!  Settled ────────────────────► Held(P=n) ──── or master registered) ────────────┐
//!     ▲                                                                            ▼
//!     │                                  ┌──────────── Replacing(k) ◄── P=k=n-1 (highest slave)
//!     │      pods k..n run the new       │   pod k: old & running → terminating → missing
//!     │      template and are Ready      │          → new & not ready → new & Ready
//!     │                                  ▼
//!     │                    k>=2: P=k-1 (next slave) ─► Replacing(k-1)
//!     │                    k==1: WaitingForCatchUp ── admin: slaves caught up ──► P=0
//!     │                    k==0 (master new & Ready, all pods Ready) ────────────────────────┐
//!     └───────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//! A group of one member (no slaves) goes from `Held` straight to `Replacing(0)`.
//!
//! # Transitions (what moves a group from one [`GroupState`] to the next)
//! | from | to | when |
//! |---|---|---|
//! | `Settled` | `Held` | the template changes while an earlier group is not settled |
//! | `Settled`, `Held` | `WaitingForPreviousGroup` | its turn, but the previous group's gate question (slaves caught up / master registered) is not answered yes yet |
//! | `Settled`, `Held`, `WaitingForPreviousGroup` | `Replacing(n-1, Old)` | its turn and the gate answered yes: `P = n-1` releases the highest ordinal |
//! | `Replacing(k, Old)` | `Replacing(k, Terminating)` → `Replacing(k, Missing)` → `Replacing(k, Starting)` | the StatefulSet controller deletes pod `k` and re-creates it from the new template |
//! | `Replacing(k, Starting)`, `k >= 2` | `Replacing(k-1, Old)` | pods `k..n` run the new template and are Ready: `P = k-1` |
//! | `Replacing(1, Starting)` | `WaitingForCatchUp` | every slave runs the new template and is Ready |
//! | `WaitingForCatchUp` | `Replacing(0, Old)` | admin call: the slaves caught up with the master: `P = 0` |
//! | `Replacing(0, Starting)` | `Settled` | the master runs the new template and every pod is Ready |
//! | `Settled` | `WaitingForPods` | a pod on the desired template is not Ready (crash, node loss): later groups wait |
//! | `WaitingForPods` | `Settled` | every pod is Ready again |
//! | any rolling state | `Held` (`P = n`, never above a released pod in flight) | the template changes again mid-roll |
//!
//! # One place
//! [`decide`] computes every state and partition; [`settle`] is the only loop that asks the
//! admin questions a decision raises and decides again; the controller, [`crate::apply`]'s
//! pruning and [`crate::status`] read the resulting [`Decision`] (its `states`,
//! [`Decision::group_settled`], [`Decision::progress`]) and never re-derive a state themselves.
//!
//! # Invariants (each has a test below or in `reconcile_tests` / `sim_tests`)
//! - While the live template is the desired one, the partition only goes down: a terminating,
//!   missing or not-ready pod, a failed admin call or a restart never raises it, so the
//!   StatefulSet controller never re-creates a released pod from the old revision.
//! - The partition goes down by one ordinal at a time, and only when every pod at or above the
//!   current partition runs the new template and is Ready: each pod is replaced exactly once.
//! - The master (ordinal 0) is released only after the slaves run the new template, are Ready and
//!   a broker admin call said they caught up.
//! - One group at a time, in index order; a group starts only when every group before it is
//!   settled (all pods new and Ready) and the group just before it answered the gate question:
//!   slaves caught up (groups with slaves) or master registered with the name server (masters
//!   only clusters).
//! - A new change (the template changes again mid-roll) starts a new roll for that change: the
//!   group is held again (`P = n`) until its turn — except that the partition is never raised
//!   above a pod the earlier change released that is still stopping or gone (it comes back on
//!   the newest template). Pods already replaced for the earlier change are replaced once more
//!   for the new one, never twice for the same one.

use std::collections::BTreeMap;

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
    /// `deletionTimestamp` is set: the pod is stopping and will disappear.
    pub terminating: bool,
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
    /// The live StatefulSet's `rollingUpdate.partition` (`None`: unset, i.e. 0).
    pub partition: Option<i32>,
    /// The StatefulSet controller's own view: `status.currentRevision != status.updateRevision`
    /// (some pod does not run the latest template yet). Tells a released pod that is gone from
    /// a crashed one of a settled group, which the pods alone cannot.
    pub revisions_differ: bool,
    /// Its pods.
    pub pods: Vec<ObservedPod>,
}

impl ObservedGroup {
    /// The pod with `ordinal`.
    pub fn pod(&self, ordinal: u32) -> Option<&ObservedPod> {
        self.pods.iter().find(|p| p.ordinal == ordinal)
    }
}

/// What a pod being replaced is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodStep {
    /// Still runs the old template; the StatefulSet controller has not deleted it yet.
    Old,
    /// Stopping (`deletionTimestamp` set); the broker flushes and unregisters.
    Terminating,
    /// Gone; the StatefulSet controller will create it from the new template.
    Missing,
    /// Runs the new template but is not Ready yet.
    Starting,
}

/// Where one group stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// Every pod runs the desired template and is Ready (or the StatefulSet is new).
    Settled,
    /// Every pod runs the desired template but some are not Ready (crash, node loss).
    WaitingForPods,
    /// Needs the new template but waits for an earlier group.
    Held,
    /// Needs the new template; waits for the gate question about the previous group.
    WaitingForPreviousGroup,
    /// The pod with this ordinal is being replaced.
    Replacing(u32, PodStep),
    /// The slaves are replaced and Ready; waiting until they caught up with the master.
    WaitingForCatchUp,
    /// Failover group (pods deleted by the operator): the slave pod with this ordinal is
    /// being replaced.
    ReplacingSlave(u32, PodStep),
    /// Failover group: the current master's pod (this ordinal, whatever it is) is being
    /// replaced, last.
    ReplacingMaster(u32, PodStep),
}

impl GroupState {
    /// Whether the group is in the middle of (or waiting for) a roll.
    pub fn rolling(self) -> bool {
        !matches!(self, GroupState::Settled | GroupState::WaitingForPods)
    }

    /// Reason string for conditions and Events.
    pub fn reason(self) -> &'static str {
        match self {
            GroupState::Settled => "Settled",
            GroupState::WaitingForPods => "WaitingForPods",
            GroupState::Held => "Held",
            GroupState::WaitingForPreviousGroup => "WaitingForPreviousGroup",
            GroupState::Replacing(0, _) => "RollingMaster",
            GroupState::Replacing(_, _) => "RollingSlaves",
            GroupState::WaitingForCatchUp => "WaitingForSlaveCatchUp",
            GroupState::ReplacingSlave(_, _) => "RollingSlaves",
            GroupState::ReplacingMaster(_, _) => "RollingMaster",
        }
    }

    /// Human description.
    pub fn describe(self) -> String {
        match self {
            GroupState::Replacing(k, step)
            | GroupState::ReplacingSlave(k, step)
            | GroupState::ReplacingMaster(k, step) => format!(
                "{} (pod ordinal {k}: {})",
                self.reason(),
                match step {
                    PodStep::Old => "release requested",
                    PodStep::Terminating => "terminating",
                    PodStep::Missing => "being re-created",
                    PodStep::Starting => "starting, not Ready yet",
                }
            ),
            _ => self.reason().to_string(),
        }
    }
}

/// A question the roll needs a broker admin call to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Question {
    /// Have the slaves of this group caught up with its master?
    CaughtUp(usize),
    /// Is the master of this group registered with the name server?
    Registered(usize),
}

/// Answers to [`Question`]s; a missing answer means "not known", which never lets a roll go on.
pub type Answers = BTreeMap<Question, bool>;

/// The roll decision for the whole cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// Partition of every desired group.
    pub partitions: Partitions,
    /// State of every desired group.
    pub states: BTreeMap<usize, GroupState>,
    /// The group being rolled and its state.
    pub active: Option<(usize, GroupState)>,
    /// Groups waiting for the active one.
    pub held: Vec<usize>,
    /// Questions whose answers would let the roll go on (ask, then decide again).
    pub questions: Vec<Question>,
    /// Pods the operator deletes now, `(group, ordinal)`: failover groups (StatefulSet
    /// `OnDelete`) are replaced by deleting one pod at a time, slaves first, the current
    /// master last whatever its ordinal (a partition can only release the highest ordinals).
    pub deletions: Vec<(usize, u32)>,
}

impl Decision {
    /// Whether every group is settled (no roll in progress or waiting).
    pub fn settled(&self) -> bool {
        self.states.values().all(|s| *s == GroupState::Settled)
    }

    /// Whether group `index` is settled (its old config revisions may go).
    pub fn group_settled(&self, index: usize) -> bool {
        self.states.get(&index) == Some(&GroupState::Settled)
    }

    /// The roll in progress as a Progressing reason and message (`group_name` names a group by
    /// index), or `None` when no group rolls.
    pub fn progress(&self, group_name: impl Fn(usize) -> String) -> Option<(&'static str, String)> {
        let (g, state) = self.active?;
        let held = if self.held.is_empty() {
            String::new()
        } else {
            format!(
                "; held: {}",
                self.held
                    .iter()
                    .map(|i| group_name(*i))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Some((
            state.reason(),
            format!(
                "rolling group {}: {}{held}",
                group_name(g),
                state.describe()
            ),
        ))
    }
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
    /// Ordinal of the current master (the roles ConfigMap's with failover; else 0).
    pub master: u32,
    /// The StatefulSet is `OnDelete` (failover on): the roll deletes pods itself, in the
    /// order slaves (highest ordinal first) then the master, instead of lowering a partition.
    pub on_delete: bool,
}

/// The partition a group gets when its template changes (a new change): `n` (hold every pod)
/// unless a pod the previous change released is in flight — stopping while it runs another hash
/// than the template it was released to, or gone while that roll was incomplete. Such a pod is
/// re-created by the StatefulSet controller anyway; the partition stays at or below its ordinal
/// so it comes back on the newest template, never on the revision before (which would replace
/// it twice for one change).
fn in_flight_floor(o: &ObservedGroup, n: i32) -> i32 {
    let Some(old) = o.template_hash.as_deref() else {
        return n;
    };
    let old_p = o.partition.unwrap_or(0).clamp(0, n);
    let incomplete = o.revisions_differ || o.pods.iter().any(|p| p.hash.as_deref() != Some(old));
    (old_p..n)
        .find(|&k| match o.pod(k as u32) {
            Some(p) => p.terminating && p.hash.as_deref() != Some(old),
            None => incomplete,
        })
        .unwrap_or(n)
}

/// Decides the partitions and states of every group from what was observed and the answers
/// known so far. Pure and deterministic: the same inputs give the same decision.
///
/// Groups are decided in index order. A group whose pods all run the desired template is
/// settled (or waits for its pods); the first group that still needs the new template rolls
/// (after its gate question) and every later one is held.
pub fn decide(desired: &[DesiredGroup], observed: &[ObservedGroup], answers: &Answers) -> Decision {
    let mut d = Decision::default();
    // Whether an earlier group is not settled: later groups must not start.
    let mut blocked = false;
    let mut previous: Option<&DesiredGroup> = None;
    for g in desired {
        // (partition, state, whether this is the group being rolled)
        let (partition, state, active) = match observed.iter().find(|o| o.index == g.index) {
            // A new StatefulSet: nothing to roll, create every pod.
            None => (0, GroupState::Settled, false),
            Some(o) => {
                let v = View::new(g, o);
                if v.replaced() {
                    let state = if v.all_up() {
                        GroupState::Settled
                    } else {
                        GroupState::WaitingForPods
                    };
                    (0, state, false)
                } else if blocked {
                    // An earlier group rolls: hold (never raise a partition this change released).
                    (v.live_p, GroupState::Held, false)
                } else if let Some(q) = previous
                    .filter(|_| !v.started())
                    .map(gate)
                    .filter(|q| answers.get(q) != Some(&true))
                {
                    if !answers.contains_key(&q) {
                        d.questions.push(q);
                    }
                    (v.live_p, GroupState::WaitingForPreviousGroup, true)
                } else if g.on_delete {
                    let (p, state) = v.walk_on_delete(answers, &mut d.questions, &mut d.deletions);
                    (p, state, true)
                } else {
                    let (p, state) = v.walk(answers, &mut d.questions);
                    (p, state, true)
                }
            }
        };
        d.partitions.insert(g.index, partition);
        d.states.insert(g.index, state);
        if state == GroupState::Held {
            d.held.push(g.index);
        }
        if active {
            d.active = Some((g.index, state));
        }
        blocked |= state != GroupState::Settled;
        previous = Some(g);
    }
    d
}

/// The question that must be answered yes before the group after `prev` starts: its slaves
/// caught up (a group with slaves) or its master is registered (a master alone).
fn gate(prev: &DesiredGroup) -> Question {
    if prev.members > 1 {
        Question::CaughtUp(prev.index)
    } else {
        Question::Registered(prev.index)
    }
}

/// One group in one decision: the template it should run against what runs.
struct View<'a> {
    g: &'a DesiredGroup,
    o: &'a ObservedGroup,
    /// Members, as a partition value.
    n: i32,
    /// The live template is the desired one: the live partition is this change's progress.
    same_change: bool,
    /// The partition this decision starts from.
    live_p: i32,
}

impl<'a> View<'a> {
    fn new(g: &'a DesiredGroup, o: &'a ObservedGroup) -> Self {
        let n = g.members as i32;
        let same_change = o.template_hash.as_deref() == Some(g.hash.as_str());
        let live_p = if same_change {
            o.partition.unwrap_or(0).clamp(0, n)
        } else {
            in_flight_floor(o, n)
        };
        View {
            g,
            o,
            n,
            same_change,
            live_p,
        }
    }

    /// Pod `k` exists, is not stopping and runs the desired template.
    fn on_target(&self, k: u32) -> bool {
        self.o
            .pod(k)
            .is_some_and(|p| !p.terminating && p.hash.as_deref() == Some(self.g.hash.as_str()))
    }

    /// Pod `k` is on target and Ready.
    fn up(&self, k: u32) -> bool {
        self.on_target(k) && self.o.pod(k).is_some_and(|p| p.ready)
    }

    fn all_up(&self) -> bool {
        (0..self.g.members).all(|k| self.up(k))
    }

    /// Pod `k` exists and runs another template (terminating ones included).
    fn stale(&self, k: u32) -> bool {
        self.o
            .pod(k)
            .is_some_and(|p| p.hash.as_deref() != Some(self.g.hash.as_str()))
    }

    /// What pod `k`, being replaced, is doing now.
    fn step(&self, k: u32) -> PodStep {
        match self.o.pod(k) {
            None => PodStep::Missing,
            Some(p) if p.terminating => PodStep::Terminating,
            Some(p) if p.hash.as_deref() == Some(self.g.hash.as_str()) => PodStep::Starting,
            Some(_) => PodStep::Old,
        }
    }

    /// Nothing left to replace: every pod is on target, or this change released every pod and
    /// none runs another template.
    fn replaced(&self) -> bool {
        (0..self.g.members).all(|k| self.on_target(k))
            || (self.same_change && self.live_p == 0 && !(0..self.g.members).any(|k| self.stale(k)))
    }

    /// This change has begun on this group (a pod was released or already runs it). An
    /// `OnDelete` group has no partition: only a pod on the new template (or one stopping or
    /// gone, which comes back on it) says so.
    fn started(&self) -> bool {
        let released = if self.g.on_delete {
            (0..self.g.members).any(|k| self.o.pod(k).is_none_or(|p| p.terminating))
        } else {
            self.live_p < self.n
        };
        self.same_change && (released || (0..self.g.members).any(|k| self.on_target(k)))
    }

    /// The roll of an `OnDelete` group: the first pod in the order slaves (highest ordinal
    /// first), then the current master, that is not up is the one being replaced; it is
    /// deleted when it still runs the old template, the live StatefulSet has the new one (the
    /// StatefulSet controller re-creates it from that), and — for the master — the slaves
    /// caught up. A pod stopping, gone or starting is waited for. The partition is unused (0).
    fn walk_on_delete(
        &self,
        answers: &Answers,
        questions: &mut Vec<Question>,
        deletions: &mut Vec<(usize, u32)>,
    ) -> (i32, GroupState) {
        let members = self.g.members;
        let m = self.g.master.min(members.saturating_sub(1));
        let order = (0..members).rev().filter(|&k| k != m).chain([m]);
        for k in order {
            if self.up(k) {
                continue;
            }
            let step = self.step(k);
            let state = if k == m {
                GroupState::ReplacingMaster(k, step)
            } else {
                GroupState::ReplacingSlave(k, step)
            };
            if step != PodStep::Old || !self.same_change {
                return (0, state);
            }
            if k == m && members > 1 {
                let q = Question::CaughtUp(self.g.index);
                match answers.get(&q) {
                    Some(true) => {}
                    Some(false) => return (0, GroupState::WaitingForCatchUp),
                    None => {
                        questions.push(q);
                        return (0, GroupState::WaitingForCatchUp);
                    }
                }
            }
            deletions.push((self.g.index, k));
            return (0, state);
        }
        (0, GroupState::WaitingForPods)
    }

    /// Walks the partition down as far as the pods allow, one ordinal at a time: the highest
    /// slave first, the next once every pod above is up, the master once the slaves caught up.
    fn walk(&self, answers: &Answers, questions: &mut Vec<Question>) -> (i32, GroupState) {
        let (n, members) = (self.n, self.g.members);
        let mut p = self.live_p;
        let state = loop {
            if p == n {
                p = n - 1;
                continue;
            }
            let k = p as u32;
            if !(k..members).all(|j| self.up(j)) {
                let first_not_up = (k..members).find(|&j| !self.up(j)).unwrap_or(k);
                break GroupState::Replacing(first_not_up, self.step(first_not_up));
            }
            if k >= 2 {
                p -= 1;
                continue;
            }
            if k == 1 {
                let q = Question::CaughtUp(self.g.index);
                match answers.get(&q) {
                    Some(true) => {
                        p = 0;
                        continue;
                    }
                    Some(false) => break GroupState::WaitingForCatchUp,
                    None => {
                        questions.push(q);
                        break GroupState::WaitingForCatchUp;
                    }
                }
            }
            // k == 0 and every pod up is handled above (all on target); unreachable in practice.
            break GroupState::WaitingForPods;
        };
        debug_assert!(!self.same_change || p <= self.live_p);
        (p, state)
    }
}

/// Decides, asks the questions the decision raises (`ask`: a broker admin call; `Err` is a note
/// for the status and counts as "no"), and decides again with the answers, until no question is
/// open. Each round answers every open question; the rounds are bounded by `desired.len() + 1`
/// (a decision only asks about the group that rolls and the one before it).
/// Returns the final decision and the notes of failed questions.
pub async fn settle<F, Fut>(
    desired: &[DesiredGroup],
    observed: &[ObservedGroup],
    mut ask: F,
) -> (Decision, Vec<String>)
where
    F: FnMut(Question) -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let mut notes = Vec::new();
    let mut answers = Answers::new();
    let mut decision = decide(desired, observed, &answers);
    for _ in 0..desired.len() + 1 {
        let open: Vec<Question> = decision
            .questions
            .iter()
            .filter(|q| !answers.contains_key(q))
            .copied()
            .collect();
        if open.is_empty() {
            break;
        }
        for q in open {
            let a = ask(q).await.unwrap_or_else(|note| {
                notes.push(note);
                false
            });
            answers.insert(q, a);
        }
        decision = decide(desired, observed, &answers);
    }
    (decision, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: u32, hash: &str, ready: bool) -> ObservedPod {
        ObservedPod {
            ordinal,
            hash: Some(hash.to_string()),
            ready,
            terminating: false,
            ip: Some(format!("10.0.0.{ordinal}")),
        }
    }
    fn terminating(ordinal: u32, hash: &str) -> ObservedPod {
        ObservedPod {
            terminating: true,
            ready: false,
            ..pod(ordinal, hash, false)
        }
    }
    fn group(index: usize, tpl: &str, partition: i32, pods: Vec<ObservedPod>) -> ObservedGroup {
        ObservedGroup {
            index,
            template_hash: Some(tpl.to_string()),
            partition: Some(partition),
            revisions_differ: pods.iter().any(|p| p.hash.as_deref() != Some(tpl)),
            pods,
        }
    }
    fn want(index: usize, members: u32, hash: &str) -> DesiredGroup {
        DesiredGroup {
            index,
            members,
            hash: hash.to_string(),
            master: 0,
            on_delete: false,
        }
    }
    fn yes(q: Question) -> Answers {
        [(q, true)].into()
    }

    #[test]
    fn settled_and_new_groups_update_freely() {
        let desired = [want(0, 2, "h1"), want(1, 2, "h1")];
        let observed = [group(
            0,
            "h1",
            0,
            vec![pod(0, "h1", true), pod(1, "h1", true)],
        )];
        let d = decide(&desired, &observed, &Answers::new());
        assert_eq!(d.partitions, [(0, 0), (1, 0)].into());
        assert_eq!(d.active, None);
        assert!(d.questions.is_empty());
        assert!(d.settled());
    }

    #[test]
    fn slaves_first_then_master_after_catch_up_one_group_at_a_time() {
        let desired = [want(0, 2, "new"), want(1, 2, "new")];
        let old = |i| group(i, "old", 0, vec![pod(0, "old", true), pod(1, "old", true)]);
        // Start: group 0 releases its slave, group 1 is held.
        let d = decide(&desired, &[old(0), old(1)], &Answers::new());
        assert_eq!(d.partitions, [(0, 1), (1, 2)].into());
        assert_eq!(d.active, Some((0, GroupState::Replacing(1, PodStep::Old))));
        assert_eq!(d.held, vec![1]);
        // Slave updated but not ready yet: still replacing it.
        let g0 = group(0, "new", 1, vec![pod(0, "old", true), pod(1, "new", false)]);
        let d = decide(&desired, &[g0, old(1)], &Answers::new());
        assert_eq!(
            d.active,
            Some((0, GroupState::Replacing(1, PodStep::Starting)))
        );
        assert!(d.questions.is_empty());
        // Slave ready: ask about catch-up; not known or false keeps the master.
        let g0 = group(0, "new", 1, vec![pod(0, "old", true), pod(1, "new", true)]);
        let d = decide(&desired, &[g0.clone(), old(1)], &Answers::new());
        assert_eq!(
            (d.partitions[&0], d.active, d.questions.clone()),
            (
                1,
                Some((0, GroupState::WaitingForCatchUp)),
                vec![Question::CaughtUp(0)]
            )
        );
        let no = [(Question::CaughtUp(0), false)].into();
        let d = decide(&desired, &[g0.clone(), old(1)], &no);
        assert_eq!((d.partitions[&0], d.questions.len()), (1, 0));
        let d = decide(&desired, &[g0, old(1)], &yes(Question::CaughtUp(0)));
        assert_eq!(
            (d.partitions[&0], d.active),
            (0, Some((0, GroupState::Replacing(0, PodStep::Old))))
        );
        assert_eq!(d.partitions[&1], 2);
        // Group 0 done: group 1 waits for the gate (group 0's slaves caught up), then starts.
        let g0 = group(0, "new", 0, vec![pod(0, "new", true), pod(1, "new", true)]);
        let d = decide(&desired, &[g0.clone(), old(1)], &Answers::new());
        assert_eq!(d.partitions, [(0, 0), (1, 2)].into());
        assert_eq!(d.questions, vec![Question::CaughtUp(0)]);
        let d = decide(&desired, &[g0, old(1)], &yes(Question::CaughtUp(0)));
        assert_eq!(d.partitions, [(0, 0), (1, 1)].into());
        assert_eq!(d.active, Some((1, GroupState::Replacing(1, PodStep::Old))));
    }

    /// The wedge of issue 12: the master released (partition 0) is terminating, then missing,
    /// then starting. Catch-up cannot be asked; the partition must stay 0 throughout.
    #[test]
    fn a_terminating_or_missing_master_never_raises_the_partition() {
        let desired = [want(0, 2, "new")];
        let cases = [
            vec![terminating(0, "old"), pod(1, "new", true)],
            vec![pod(1, "new", true)],
            vec![pod(0, "new", false), pod(1, "new", true)],
        ];
        let states = [
            GroupState::Replacing(0, PodStep::Terminating),
            GroupState::WaitingForPods,
            GroupState::WaitingForPods,
        ];
        for (pods, state) in cases.into_iter().zip(states) {
            let d = decide(&desired, &[group(0, "new", 0, pods)], &Answers::new());
            assert_eq!(d.partitions[&0], 0, "{state:?}");
            assert_eq!(d.states[&0], state);
            assert!(d.questions.is_empty());
        }
    }

    #[test]
    fn a_released_slave_keeps_its_partition_while_terminating_and_missing() {
        let desired = [want(0, 3, "new")];
        for pods in [
            vec![
                pod(0, "old", true),
                pod(1, "old", true),
                terminating(2, "old"),
            ],
            vec![pod(0, "old", true), pod(1, "old", true)],
        ] {
            let d = decide(&desired, &[group(0, "new", 2, pods)], &Answers::new());
            assert_eq!(d.partitions[&0], 2);
        }
        // Slave 2 new and ready: release slave 1 only (one at a time).
        let pods = vec![
            pod(0, "old", true),
            pod(1, "old", true),
            pod(2, "new", true),
        ];
        let d = decide(&desired, &[group(0, "new", 2, pods)], &Answers::new());
        assert_eq!(d.partitions[&0], 1);
        // An already-updated slave that crashed holds the next release.
        let pods = vec![
            pod(0, "old", true),
            pod(1, "new", true),
            pod(2, "new", false),
        ];
        let d = decide(
            &desired,
            &[group(0, "new", 1, pods)],
            &yes(Question::CaughtUp(0)),
        );
        assert_eq!(d.partitions[&0], 1);
        assert_eq!(
            d.active,
            Some((0, GroupState::Replacing(2, PodStep::Starting)))
        );
    }

    #[test]
    fn masters_only_roll_one_at_a_time_after_registration() {
        let desired = [want(0, 1, "new"), want(1, 1, "new")];
        let old = |i| group(i, "old", 0, vec![pod(0, "old", true)]);
        let d = decide(&desired, &[old(0), old(1)], &Answers::new());
        assert_eq!(d.partitions, [(0, 0), (1, 1)].into());
        assert_eq!(d.active, Some((0, GroupState::Replacing(0, PodStep::Old))));
        // Master 0 new but not ready: group 1 held.
        let g0 = |ready| group(0, "new", 0, vec![pod(0, "new", ready)]);
        let d = decide(&desired, &[g0(false), old(1)], &Answers::new());
        assert_eq!(d.partitions[&1], 1);
        assert_eq!(d.states[&0], GroupState::WaitingForPods);
        // Ready: group 1 waits until master 0 registered with the name server.
        let d = decide(&desired, &[g0(true), old(1)], &Answers::new());
        assert_eq!(d.partitions[&1], 1);
        assert_eq!(d.questions, vec![Question::Registered(0)]);
        let d = decide(&desired, &[g0(true), old(1)], &yes(Question::Registered(0)));
        assert_eq!(d.partitions[&1], 0);
    }

    #[test]
    fn restart_mid_roll_resumes_from_the_objects() {
        // The first operator released slave 1 of group 1 (group 0 done) and died; a fresh one
        // (no memory, no answers) must not hold group 1 again nor touch group 0.
        let desired = [want(0, 2, "new"), want(1, 2, "new")];
        let g0 = group(0, "new", 0, vec![pod(0, "new", true), pod(1, "new", true)]);
        let g1 = group(
            1,
            "new",
            1,
            vec![pod(0, "old", true), terminating(1, "old")],
        );
        let d = decide(&desired, &[g0, g1], &Answers::new());
        assert_eq!(d.partitions, [(0, 0), (1, 1)].into());
        assert!(d.questions.is_empty(), "{:?}", d.questions);
    }

    #[test]
    fn a_new_change_mid_roll_holds_and_restarts_from_the_slaves() {
        let desired = [want(0, 3, "v3")];
        // v2 was rolling: slave 2 done, slave 1 released and Ready; master still v1.
        let g0 = group(
            0,
            "v2",
            1,
            vec![pod(0, "v1", true), pod(1, "v2", true), pod(2, "v2", true)],
        );
        let d = decide(&desired, &[g0], &Answers::new());
        // Nothing in flight: the new change starts from the highest slave again.
        assert_eq!(d.partitions[&0], 2);
    }

    /// A pod released for the previous change and still stopping (or gone) keeps its release:
    /// the partition is not raised above it, so it comes back on the newest template instead
    /// of the revision before (which would replace it twice).
    #[test]
    fn a_new_change_never_raises_the_partition_above_a_pod_in_flight() {
        let desired = [want(0, 2, "v3"), want(1, 2, "v3")];
        let g1 = group(1, "v2", 2, vec![pod(0, "v1", true), pod(1, "v1", true)]);
        for pods in [
            vec![terminating(0, "v1"), pod(1, "v2", true)],
            vec![pod(1, "v2", true)],
        ] {
            // The StatefulSet controller still has v1 as its current revision.
            let g0 = ObservedGroup {
                revisions_differ: true,
                ..group(0, "v2", 0, pods)
            };
            let d = decide(&desired, &[g0, g1.clone()], &Answers::new());
            assert_eq!(d.partitions[&0], 0, "{:?}", d.states);
            // The held group stays held.
            assert_eq!(d.partitions[&1], 2);
        }
        // A crash in a settled group (pod stopping on the template's own hash) is no release:
        // a held group's crashed pod must not come back on the new template early.
        let desired = [want(0, 2, "v3"), want(1, 2, "v3")];
        let busy = || group(0, "v3", 1, vec![pod(0, "v2", true), pod(1, "v3", false)]);
        for pods in [
            vec![terminating(0, "v2"), pod(1, "v2", true)],
            vec![pod(1, "v2", true)],
        ] {
            let settled = group(1, "v2", 0, pods);
            let d = decide(&desired, &[busy(), settled], &Answers::new());
            assert_eq!(d.partitions[&1], 2, "{:?}", d.states);
        }
    }

    /// Failover groups (`OnDelete`): the current master is replaced last whatever its ordinal;
    /// the operator deletes one pod at a time, never before the live template is the new one,
    /// never a pod in flight, and the master only after the slaves caught up.
    #[test]
    fn on_delete_groups_replace_slaves_first_and_the_current_master_last() {
        let desired = [DesiredGroup {
            master: 1,
            on_delete: true,
            ..want(0, 3, "new")
        }];
        let g = |tpl: &str, pods| ObservedGroup {
            partition: None,
            ..group(0, tpl, 0, pods)
        };
        let old3 = || {
            vec![
                pod(0, "old", true),
                pod(1, "old", true),
                pod(2, "old", true),
            ]
        };
        // The live template is still the old one: nothing is deleted (it would come back old).
        let d = decide(&desired, &[g("old", old3())], &Answers::new());
        assert!(d.deletions.is_empty());
        assert_eq!(d.states[&0], GroupState::ReplacingSlave(2, PodStep::Old));
        // Applied: the highest slave first.
        let d = decide(&desired, &[g("new", old3())], &Answers::new());
        assert_eq!(d.deletions, vec![(0, 2)]);
        // In flight: nothing more.
        let pods = vec![
            pod(0, "old", true),
            pod(1, "old", true),
            terminating(2, "old"),
        ];
        let d = decide(&desired, &[g("new", pods)], &Answers::new());
        assert!(d.deletions.is_empty());
        assert_eq!(
            d.states[&0],
            GroupState::ReplacingSlave(2, PodStep::Terminating)
        );
        // Slave 2 back: ordinal 0 (a slave) goes before ordinal 1 (the master).
        let pods = vec![
            pod(0, "old", true),
            pod(1, "old", true),
            pod(2, "new", true),
        ];
        let d = decide(&desired, &[g("new", pods)], &Answers::new());
        assert_eq!(d.deletions, vec![(0, 0)]);
        // Both slaves back: the master waits for catch-up, then goes.
        let pods = vec![
            pod(0, "new", true),
            pod(1, "old", true),
            pod(2, "new", true),
        ];
        let d = decide(&desired, &[g("new", pods.clone())], &Answers::new());
        assert_eq!(
            (d.deletions.clone(), d.states[&0], d.questions.clone()),
            (
                vec![],
                GroupState::WaitingForCatchUp,
                vec![Question::CaughtUp(0)]
            )
        );
        let d = decide(&desired, &[g("new", pods)], &yes(Question::CaughtUp(0)));
        assert_eq!(d.deletions, vec![(0, 1)]);
        assert_eq!(d.states[&0], GroupState::ReplacingMaster(1, PodStep::Old));
        assert_eq!(d.states[&0].reason(), "RollingMaster");
        // Everything new and Ready: settled, nothing deleted.
        let pods = vec![
            pod(0, "new", true),
            pod(1, "new", true),
            pod(2, "new", true),
        ];
        let d = decide(&desired, &[g("new", pods)], &Answers::new());
        assert!(d.deletions.is_empty() && d.settled());
    }

    #[tokio::test]
    async fn settle_asks_each_open_question_once_and_a_failed_answer_is_a_note_and_a_no() {
        let desired = [want(0, 2, "new"), want(1, 2, "new")];
        let old1 = group(1, "old", 0, vec![pod(0, "old", true), pod(1, "old", true)]);
        // Slave replaced and Ready: the roll needs to know whether it caught up.
        let g0 = group(0, "new", 1, vec![pod(0, "old", true), pod(1, "new", true)]);
        let observed = [g0, old1];
        let mut asked = Vec::new();
        let (d, notes) = settle(&desired, &observed, |q| {
            asked.push(q);
            async { Err("replication state unknown".to_string()) }
        })
        .await;
        assert_eq!(asked, vec![Question::CaughtUp(0)]);
        assert_eq!(notes, vec!["replication state unknown".to_string()]);
        assert_eq!(
            (d.partitions[&0], d.active),
            (1, Some((0, GroupState::WaitingForCatchUp)))
        );
        // Answered yes: the master is released in the same settle; group 1 stays held.
        let (d, notes) = settle(&desired, &observed, |_| async { Ok(true) }).await;
        assert!(notes.is_empty());
        assert_eq!(d.partitions, [(0, 0), (1, 2)].into());
        assert_eq!(
            d.progress(|i| format!("g{i}")),
            Some((
                "RollingMaster",
                "rolling group g0: RollingMaster (pod ordinal 0: release requested); held: g1"
                    .to_string()
            ))
        );
        assert!(!d.group_settled(0) && !d.group_settled(1));
    }
}
