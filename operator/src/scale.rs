//! Scaling the broker groups, two steps of the cluster pipeline ([`crate::controller`]):
//! - scale in: a group the spec dropped is removed only once its master is drained (write
//!   permission wiped, no consumer lag); until then it is kept and the status says why;
//! - scale out: a group added after the cluster first came up gets the topics and subscription
//!   groups of a group that has them, so clients find their topics on every group.
//!
//! Both answer through the broker admin calls ([`crate::admin::BrokerAdmin`]) and record what
//! happened in the reconcile's [`Outcome`].

use std::collections::BTreeSet;

use kube::runtime::events::EventType;

use crate::controller::Pass;
use crate::crd::RocketMQClusterStatus;
use crate::error::Result;
use crate::names;
use crate::plan::ClusterPlan;
use crate::read::{self, Observed};
use crate::status::Outcome;

/// Removes the groups beyond the spec whose master is drained; the others are listed in
/// `outcome.scale_in_refused`.
pub(crate) async fn scale_in(
    pass: &Pass<'_>,
    plan: &ClusterPlan,
    observed: &Observed,
    outcome: &mut Outcome,
) -> Result<()> {
    for sts in &observed.stateful_sets {
        let Some(index) = read::group_index(&sts.metadata) else {
            continue;
        };
        if index < plan.groups.len() {
            continue;
        }
        let group = names::broker_group(&plan.name, index);
        if drained(pass, plan, observed, index, &group, &mut outcome.notes).await {
            remove_group(pass, observed, index, &group).await?;
        } else {
            outcome.scale_in_refused.push(group);
        }
    }
    Ok(())
}

/// Whether the master of group `index` is Ready and drained; a failed check is a note.
async fn drained(
    pass: &Pass<'_>,
    plan: &ClusterPlan,
    observed: &Observed,
    index: usize,
    group: &str,
    notes: &mut Vec<String>,
) -> bool {
    let Some(addr) = observed.broker_addr(plan, index, 0) else {
        return false;
    };
    pass.ctx.admin.is_drained(&addr).await.unwrap_or_else(|e| {
        notes.push(format!("drain check of {group}: {e}"));
        false
    })
}

/// Deletes a drained group (StatefulSet, Service, budget, config revisions; claims are kept).
async fn remove_group(
    pass: &Pass<'_>,
    observed: &Observed,
    index: usize,
    group: &str,
) -> Result<()> {
    let cms: Vec<String> = observed
        .config_maps
        .iter()
        .filter(|c| read::group_index(&c.metadata) == Some(index))
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    crate::apply::delete_group(&pass.ctx.client, &pass.ns, group, &cms).await?;
    pass.publish(
        EventType::Normal,
        "GroupRemoved",
        format!("{group} was drained and removed; its claims are kept"),
    )
    .await;
    Ok(())
}

/// Groups that have their topics already: every group of a cluster coming up for the first
/// time, and the groups the previous status marked.
pub fn topics_present(prev: Option<&RocketMQClusterStatus>, plan: &ClusterPlan) -> BTreeSet<usize> {
    let fresh = prev.is_none_or(|p| p.groups.is_empty());
    plan.groups
        .iter()
        .filter(|g| {
            let before =
                prev.and_then(|p| p.groups.iter().find(|s| s.broker_name == g.broker_name));
            fresh || before.is_some_and(|b| b.topics_copied)
        })
        .map(|g| g.index)
        .collect()
}

/// Copies topics and subscription groups to every group that lacks them, from the first Ready
/// master of a group that has them; records the groups that have them in
/// `outcome.topics_copied`.
pub(crate) async fn scale_out(
    pass: &Pass<'_>,
    plan: &ClusterPlan,
    observed: &Observed,
    outcome: &mut Outcome,
) {
    outcome
        .topics_copied
        .extend(topics_present(pass.prev, plan));
    // Broker and cluster names: every broker creates these topics for itself.
    let skip: Vec<String> = plan
        .groups
        .iter()
        .map(|g| g.broker_name.clone())
        .chain(std::iter::once(plan.cluster_name.clone()))
        .collect();
    let sources: BTreeSet<usize> = outcome.topics_copied.clone();
    for g in &plan.groups {
        if outcome.topics_copied.contains(&g.index) {
            continue;
        }
        let target = observed.broker_addr(plan, g.index, 0);
        let source = sources
            .iter()
            .find_map(|&s| observed.broker_addr(plan, s, 0));
        let (Some(target), Some(source)) = (target, source) else {
            continue;
        };
        match pass.ctx.admin.copy_topics(&source, &target, &skip).await {
            Ok(n) => {
                outcome.topics_copied.insert(g.index);
                pass.publish(
                    EventType::Normal,
                    "TopicsCopied",
                    format!(
                        "copied {n} topic(s) and subscription group(s) from {source} to {}",
                        g.broker_name
                    ),
                )
                .await;
            }
            Err(e) => outcome
                .notes
                .push(format!("topic copy to {}: {e}", g.broker_name)),
        }
    }
}
