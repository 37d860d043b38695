//! Answers to the roll's [`Question`]s, each with broker admin calls against the observed pods.
//! The roll ([`crate::roll::settle`]) asks; this module only knows whom to ask and how.

use super::BrokerAdmin;
use crate::crd::Advertise;
use crate::names;
use crate::plan::ClusterPlan;
use crate::read::Observed;
use crate::roll::Question;

/// Answers one roll question; `Err` carries a note for the status. A member that is not Ready
/// answers "no" (the roll waits), which is not an error.
pub async fn answer(
    admin: &dyn BrokerAdmin,
    plan: &ClusterPlan,
    observed: &Observed,
    q: Question,
) -> Result<bool, String> {
    match q {
        Question::CaughtUp(g) => caught_up(admin, plan, observed, g).await,
        Question::Registered(g) => registered(admin, plan, observed, g).await,
    }
}

/// Whether the slaves of group `g` caught up with its master.
async fn caught_up(
    admin: &dyn BrokerAdmin,
    plan: &ClusterPlan,
    observed: &Observed,
    g: usize,
) -> Result<bool, String> {
    let members = plan
        .groups
        .iter()
        .find(|x| x.index == g)
        .map(|x| x.members.len() as u32)
        .unwrap_or(1);
    let m = observed.master_ordinal(plan, g);
    let master = observed.broker_addr(plan, g, m);
    let slaves: Option<Vec<String>> = (0..members)
        .filter(|o| *o != m)
        .map(|o| observed.broker_addr(plan, g, o))
        .collect();
    let (Some(master), Some(slaves)) = (master, slaves) else {
        return Ok(false);
    };
    admin.slaves_caught_up(&master, &slaves).await.map_err(|e| {
        format!(
            "replication state of {}: {e}",
            names::broker_group(&plan.name, g)
        )
    })
}

/// Whether every Ready name server lists the master of group `g` (clients ask any of them).
async fn registered(
    admin: &dyn BrokerAdmin,
    plan: &ClusterPlan,
    observed: &Observed,
    g: usize,
) -> Result<bool, String> {
    let Some(master) = observed.broker_addr(plan, g, observed.master_ordinal(plan, g)) else {
        return Ok(false);
    };
    let want = match plan.advertise {
        Advertise::PodIp => Some(master.as_str()),
        Advertise::PodDns => None,
    };
    let servers = observed.namesrv_addrs(plan);
    if servers.is_empty() {
        return Ok(false);
    }
    let group = names::broker_group(&plan.name, g);
    for namesrv in &servers {
        let registered = admin
            .master_registered(namesrv, &plan.cluster_name, &group, want)
            .await
            .map_err(|e| format!("registration of {group} at {namesrv}: {e}"))?;
        if !registered {
            return Ok(false);
        }
    }
    Ok(true)
}
