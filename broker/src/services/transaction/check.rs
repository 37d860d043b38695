//! The check-back service (Java `TransactionalMessageCheckService`): every
//! `transactionCheckInterval` it walks the unresolved half messages older than
//! `transactionTimeOut` (or their `CHECK_IMMUNITY_TIME_IN_SECONDS`) and sends
//! CHECK_TRANSACTION_STATE to one live producer of the message's group; after
//! `transactionCheckMax` checks a message is discarded (copied to `TRANS_CHECK_MAX_TIME_TOPIC`,
//! resolved by an op record, logged). Only a master checks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use remoting::header::transaction::CheckTransactionStateRequestHeader;
use remoting::message::{MessageRecord, decode, encode_offset_msg_id, keys, record};
use remoting::{CommandHeader, RemotingCommand, RequestCode};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{CHECK_MAX_TIME_TOPIC, HALF_TOPIC, Handle, TransactionService, stored, write_op};
use crate::state::stats::now_millis;

/// Longest time one round may take (Java: 60 s).
const ROUND_LIMIT: Duration = Duration::from_secs(60);

/// Runs check rounds until `shutdown`.
pub async fn run(svc: Arc<TransactionService>, ctx: Handle, shutdown: CancellationToken) {
    let every = Duration::from_millis(ctx.config.transaction_check_interval.max(10));
    info!(
        interval_ms = every.as_millis() as u64,
        "transaction check service started"
    );
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        if ctx.write_refused().is_some() {
            // A slave, or a fenced master (docs/failover.md): no check-backs.
            continue;
        }
        check_round(&svc, &ctx, &shutdown).await;
    }
    info!("transaction check service stopped");
}

/// One pass over the unresolved half messages.
pub async fn check_round(svc: &TransactionService, ctx: &Handle, shutdown: &CancellationToken) {
    let started = Instant::now();
    let now = now_millis();
    let timeout = ctx.live().transaction_time_out as i64;
    let max_checks = ctx.live().transaction_check_max;
    let min = ctx.store.min_offset(HALF_TOPIC, 0);
    let max = ctx.store.max_offset(HALF_TOPIC, 0);
    let mut off = svc.scan_from().max(min);
    while off < max && started.elapsed() < ROUND_LIMIT && !shutdown.is_cancelled() {
        if svc.is_resolved(off) {
            off += 1;
            continue;
        }
        let got = ctx.store.get(HALF_TOPIC, 0, off, 1, None);
        let Some(raw) = got.records.first() else {
            if got.next_begin_offset > off {
                off = got.next_begin_offset;
                continue;
            }
            break;
        };
        let half = match decode(raw) {
            Ok(r) => r,
            Err(e) => {
                warn!(offset = off, error = %e, "undecodable half message skipped");
                off += 1;
                continue;
            }
        };
        let immunity = half
            .properties
            .get(keys::CHECK_IMMUNITY_TIME_IN_SECONDS)
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(|s| s.saturating_mul(1000))
            .unwrap_or(timeout);
        if now.saturating_sub(half.store_timestamp) < immunity {
            if immunity <= timeout {
                // Later half messages are younger still.
                break;
            }
            off += 1;
            continue;
        }
        if svc.check_times(off) >= max_checks {
            discard(svc, ctx, &half).await;
        } else {
            svc.count_check(off);
            send_check(ctx, &half, svc.check_times(off));
        }
        off += 1;
    }
    if let Err(e) = svc.compact_and_save(min) {
        warn!(error = %e, "saving transactionCheck.json failed");
    }
}

/// Gives up on a half message that stayed unknown through every check.
async fn discard(svc: &TransactionService, ctx: &Handle, half: &MessageRecord) {
    if !svc.claim(half.queue_offset) {
        return;
    }
    let mut copy = half.clone();
    copy.topic = CHECK_MAX_TIME_TOPIC.to_string();
    copy.queue_id = 0;
    copy.store_host = ctx.store_host;
    let out = ctx.store.put(copy).await;
    if !stored(&out.status) {
        warn!(offset = half.queue_offset, status = ?out.status, "copying a discarded half message failed; will retry");
        svc.unclaim(half.queue_offset);
        return;
    }
    if let Err(why) = write_op(&*ctx.store, ctx.store_host, half.queue_offset).await {
        warn!(offset = half.queue_offset, error = %why, "op record for a discarded half message not written");
        return;
    }
    warn!(
        half_offset = half.queue_offset,
        group = half.properties.get(keys::PGROUP).unwrap_or(""),
        topic = half.properties.get(keys::REAL_TOPIC).unwrap_or(""),
        msg_id = half.properties.get(keys::UNIQ_KEY).unwrap_or(""),
        checks = ctx.live().transaction_check_max,
        "half message discarded after the maximum number of checks"
    );
}

/// Sends CHECK_TRANSACTION_STATE to one live producer of the half message's group.
fn send_check(ctx: &Handle, half: &MessageRecord, times: u32) {
    let group = half.properties.get(keys::PGROUP).unwrap_or("").to_string();
    let channels = ctx.clients.producer_channels(&group);
    if channels.is_empty() {
        debug!(
            group,
            half_offset = half.queue_offset,
            "no live producer for a transaction check"
        );
        return;
    }
    let ch = channels[rand::random_range(0..channels.len())].clone();
    let uniq = half.properties.get(keys::UNIQ_KEY).map(str::to_string);
    let header = CheckTransactionStateRequestHeader {
        tran_state_table_offset: half.queue_offset,
        commit_log_offset: half.physical_offset,
        msg_id: uniq.clone(),
        transaction_id: half
            .properties
            .get(keys::TRANSACTION_ID)
            .map(str::to_string)
            .or(uniq),
        offset_msg_id: Some(encode_offset_msg_id(half.store_host, half.physical_offset)),
        topic: half.properties.get(keys::REAL_TOPIC).map(str::to_string),
        bname: Some(ctx.config.broker_name.clone()),
    };
    // The producer sees the message as it sent it: real topic and queue, and (as Java's
    // re-appended copies carry) how many times it has been checked.
    let mut shown = half.clone();
    shown
        .properties
        .insert(keys::TRANSACTION_CHECK_TIMES, times.to_string());
    if let Some(t) = half.properties.get(keys::REAL_TOPIC) {
        shown.topic = t.to_string();
    }
    if let Some(q) = half
        .properties
        .get(keys::REAL_QID)
        .and_then(|q| q.parse().ok())
    {
        shown.queue_id = q;
    }
    let body = match record::encode(&shown) {
        Ok(b) => b,
        Err(e) => {
            warn!(half_offset = half.queue_offset, error = %e, "cannot encode a half message for a check");
            return;
        }
    };
    let req = RemotingCommand::request(RequestCode::CHECK_TRANSACTION_STATE, header.to_ext())
        .with_body(body);
    let offset = half.queue_offset;
    tokio::spawn(async move {
        match ch.conn.oneway(req).await {
            Ok(()) => {
                debug!(group, client = %ch.client_id, half_offset = offset, "transaction check sent")
            }
            Err(e) => {
                debug!(group, client = %ch.client_id, error = %e, "transaction check not sent")
            }
        }
    });
}
