//! Run-time role changes for automatic failover (docs/failover.md): the failover admin codes
//! of [`crate::failover_proto`] over [`crate::state::fencing::RoleState`].

use std::time::Duration;

use remoting::{RemotingCommand, ResponseCode};
use tracing::{info, warn};

use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use crate::config::{BrokerConfig, BrokerRole};
use crate::failover_proto::{
    FAILOVER_FENCE, FAILOVER_GET_STATE, FAILOVER_PROMOTE, FAILOVER_REPOINT, FailoverState,
};
use crate::services::ha::HaService;
use crate::services::schedule::ScheduleService;
use crate::state::fencing::{MasterAddrs, RoleState};

/// What the failover codes touch (built per request in [`crate::processor`]).
pub struct Deps<'a> {
    /// The start-up config (broker name).
    pub config: &'a BrokerConfig,
    /// The role, broker id and epoch: what these codes change.
    pub role: &'a RoleState,
    /// Replication (set once HA runs): a promotion waits until no master is followed.
    pub ha: &'a OnceLock<Arc<HaService>>,
    /// The advertised HA address (set once HA runs).
    pub ha_addr: &'a OnceLock<String>,
    /// Delayed delivery, restarted from its offsets on promotion.
    pub schedule: &'a OnceLock<Arc<ScheduleService>>,
    /// Fired after a role change, to re-register at once.
    pub topics_changed: &'a Notify,
    /// The advertised `host:port`.
    pub broker_addr: &'a str,
}

/// The broker's failover state (the answer to every failover code).
pub fn state(ctx: &Deps<'_>) -> FailoverState {
    let role = &ctx.role;
    let es = role.epoch_state().effective();
    let ha = ctx.ha.get();
    let view = ha.map(|h| h.slave_view()).unwrap_or_default();
    FailoverState {
        broker_name: ctx.config.broker_name.clone(),
        broker_addr: ctx.broker_addr.to_string(),
        ha_addr: ctx.ha_addr.get().cloned().unwrap_or_default(),
        role: role.role().as_str().to_string(),
        broker_id: role.broker_id(),
        epoch: role.epoch(),
        known_epoch: role.known_epoch(),
        epochs: es
            .entries
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect(),
        max_offset: ha.map_or(0, |h| h.store().commit_log_max_offset()),
        write_refused: role.write_refused(),
        ha_connected: view.connected && role.is_slave(),
        // A controller's re-point, else what the HA client last used.
        following: if role.is_slave() {
            role.master_override()
                .map(|m| m.ha_addr)
                .or(view.master_ha_addr)
        } else {
            None
        },
        in_sync_slaves: ha.map_or(0, |h| h.in_sync_count()),
    }
}

fn answer(req: &RemotingCommand, ctx: &Deps<'_>) -> RemotingCommand {
    match serde_json::to_vec(&state(ctx)) {
        Ok(b) => req.success().with_body(b),
        Err(e) => req.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
    }
}

fn error(req: &RemotingCommand, remark: impl Into<String>) -> RemotingCommand {
    req.response_to(ResponseCode::SYSTEM_ERROR, Some(remark.into()))
}

fn epoch_of(req: &RemotingCommand) -> Result<u32, String> {
    req.ext_fields
        .get("epoch")
        .and_then(|e| e.trim().parse::<u32>().ok())
        .filter(|e| *e > 0)
        .ok_or_else(|| "header `epoch` (a positive integer) is required".to_string())
}

/// Serves the failover codes.
pub async fn handle(ctx: &Deps<'_>, req: &RemotingCommand) -> RemotingCommand {
    if !ctx.role.enabled() || ctx.role.epochs().is_none() {
        return error(
            req,
            "failover requests need epochFencingEnable=true (and a store the broker opened)",
        );
    }
    match req.code {
        FAILOVER_GET_STATE => answer(req, ctx),
        FAILOVER_FENCE => {
            let epoch = match epoch_of(req) {
                Ok(e) => e,
                Err(e) => return error(req, e),
            };
            if let Err(e) = ctx.role.learn_epoch(epoch, "a controller's FENCE") {
                return error(req, e);
            }
            // A frozen slave stops appending before it answers, so the offset it reports is
            // final until a master of the new epoch exists.
            wait_unfollowed(ctx).await;
            answer(req, ctx)
        }
        FAILOVER_PROMOTE => promote(ctx, req).await,
        FAILOVER_REPOINT => repoint(ctx, req),
        _ => error(req, "unknown failover code"),
    }
}

/// Waits (up to 3 s) until the slave side of HA has let go of its connection.
async fn wait_unfollowed(ctx: &Deps<'_>) {
    let Some(ha) = ctx.ha.get() else { return };
    for _ in 0..300 {
        if !ha.slave_view().connected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    warn!("HA client still connected 3 s after a role or epoch change");
}

async fn promote(ctx: &Deps<'_>, req: &RemotingCommand) -> RemotingCommand {
    let epoch = match epoch_of(req) {
        Ok(e) => e,
        Err(e) => return error(req, e),
    };
    let role = match req.ext_fields.get("role").unwrap_or("ASYNC_MASTER") {
        "SYNC_MASTER" => BrokerRole::SyncMaster,
        "ASYNC_MASTER" => BrokerRole::AsyncMaster,
        other => return error(req, format!("role {other:?} is not a master role")),
    };
    let Some(ha) = ctx.ha.get() else {
        return error(req, "no HA service");
    };
    if ctx.role.role().is_master() && ctx.role.epoch() == epoch {
        // Repeated request (the controller retried): already done.
        return answer(req, ctx);
    }
    // Freeze first: no frame of the old master is appended after the start offset is read.
    if let Err(e) = ctx.role.learn_epoch(epoch, "a controller's PROMOTE") {
        return error(req, e);
    }
    wait_unfollowed(ctx).await;
    // The replicated tail becomes durable and dispatched, and queue offsets continue from it.
    if let Err(e) = ha.store().prepare_for_puts() {
        return error(req, format!("store not ready for writes: {e}"));
    }
    let start = ha.store().commit_log_max_offset();
    if let Err(e) = ctx.role.become_master(epoch, start, role) {
        return error(req, e);
    }
    ha.vouch_for_current_log();
    if let Some(s) = ctx.schedule.get()
        && let Err(e) = s.reload_after_promotion()
    {
        warn!(error = %e, "delay progress not reloaded after promotion");
    }
    info!(epoch, start, role = %role, "promotion done: registering as master");
    // Registers at once (the registrar re-registers when topics change).
    ctx.topics_changed.notify_one();
    answer(req, ctx)
}

fn repoint(ctx: &Deps<'_>, req: &RemotingCommand) -> RemotingCommand {
    let epoch = match epoch_of(req) {
        Ok(e) => e,
        Err(e) => return error(req, e),
    };
    let broker_id = match req.ext_fields.get("brokerId").map(str::parse::<i64>) {
        Some(Ok(id)) if id > 0 => id,
        _ => return error(req, "header `brokerId` (> 0) is required"),
    };
    let master = match (
        req.ext_fields.get("masterAddr"),
        req.ext_fields.get("masterHaAddr"),
    ) {
        (Some(a), Some(h)) if !a.is_empty() && !h.is_empty() => Some(MasterAddrs {
            addr: a.to_string(),
            ha_addr: h.to_string(),
        }),
        _ => None,
    };
    if master.as_ref().is_some_and(|m| m.addr == ctx.broker_addr) {
        return error(req, "a broker cannot follow itself");
    }
    if let Err(e) = ctx.role.become_slave(epoch, broker_id, master) {
        return error(req, e);
    }
    // Registers at once with the new id (the name servers drop the old id-0 entry of this
    // address when it re-registers as a slave).
    ctx.topics_changed.notify_one();
    answer(req, ctx)
}
