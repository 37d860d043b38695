//! END_TRANSACTION (37, spec §3.9): the producer's commit or rollback of a half message, sent
//! after its local transaction or in answer to a check-back.

use remoting::header::transaction::{
    EndTransactionRequestHeader, TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
};
use remoting::message::{MessageRecord, decode, keys, sysflag};
use remoting::{Connection, RemotingCommand, ResponseCode};
use tracing::{debug, info, warn};

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use crate::services::transaction::{HALF_TOPIC, TransactionService, stored, write_op};
use crate::state::fencing::RoleState;
use crate::state::long_polling::LongPolling;
use crate::store_api::MessageStoreApi;

/// What END_TRANSACTION touches (built per request in [`crate::processor`]).
pub struct Deps<'a> {
    /// The role now: only an unfenced master commits.
    pub role: &'a RoleState,
    /// Where the half message is read and the commit and op records go.
    pub store: &'a dyn MessageStoreApi,
    /// The half-message service (set once at start-up).
    pub transactions: &'a OnceLock<Arc<TransactionService>>,
    /// Parked pulls, woken by a committed message.
    pub long_polling: &'a LongPolling,
    /// STOREHOST stamped into the committed message and the op record.
    pub store_host: SocketAddr,
}

fn reply(req: &RemotingCommand, code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    let remark = remark.into();
    // END_TRANSACTION is usually oneway: the producer never sees this answer, the log does.
    if code != ResponseCode::SUCCESS {
        warn!(%code, remark, "END_TRANSACTION refused");
    }
    req.response_to(code, Some(remark))
}

/// The committed message: the half message re-addressed to its real topic and queue, type
/// COMMIT, `PREPARED_TRANSACTION_OFFSET` = the half message's commit-log offset.
pub fn committed_message(
    half: &MessageRecord,
    store_host: std::net::SocketAddr,
) -> Option<MessageRecord> {
    let topic = half.properties.get(keys::REAL_TOPIC)?.to_string();
    crate::names::check_topic(&topic).ok()?;
    let queue_id: i32 = half.properties.get(keys::REAL_QID)?.trim().parse().ok()?;
    if queue_id < 0 {
        return None;
    }
    let mut props = half.properties.clone();
    props.remove(keys::REAL_TOPIC);
    props.remove(keys::REAL_QID);
    props.remove(keys::TRAN_MSG);
    props.remove(keys::TRANSACTION_CHECK_TIMES);
    Some(MessageRecord {
        queue_id,
        flag: half.flag,
        sys_flag: sysflag::with_transaction_type(half.sys_flag, sysflag::TRANSACTION_COMMIT_TYPE),
        born_timestamp: half.born_timestamp,
        born_host: half.born_host,
        store_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half.physical_offset,
        body: half.body.clone(),
        topic,
        properties: props,
        ..Default::default()
    })
}

/// The half message at `offset`. The store serves a record only once dispatch has reached it
/// (no phantom reads), and a producer's END_TRANSACTION can follow its send faster than that:
/// a record appended but not yet readable is waited for, briefly.
async fn read_half(ctx: &Deps<'_>, offset: i64) -> Option<MessageRecord> {
    for _ in 0..HALF_READ_TRIES {
        if let Some(raw) = ctx.store.read_record(offset) {
            return decode(&raw)
                .ok()
                .filter(|r| r.physical_offset == offset && r.topic == HALF_TOPIC);
        }
        if offset < 0 || offset >= ctx.store.stats().commit_log_max_offset {
            return None;
        }
        tokio::time::sleep(HALF_READ_PAUSE).await;
    }
    None
}

/// Waits for an appended half message to become readable: tries and pause between them.
const HALF_READ_TRIES: usize = 60;
const HALF_READ_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Handles END_TRANSACTION.
pub async fn end_transaction(
    ctx: &Deps<'_>,
    conn: &Connection,
    req: RemotingCommand,
) -> RemotingCommand {
    let h = match req.ext_fields.decode::<EndTransactionRequestHeader>() {
        Ok(h) => h,
        Err(e) => return reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    if ctx.role.is_slave() {
        return reply(
            &req,
            ResponseCode::SLAVE_NOT_AVAILABLE,
            "the broker is a slave; END_TRANSACTION goes to the master",
        );
    }
    if let Some(why) = ctx.role.write_refused() {
        return reply(&req, ResponseCode::SERVICE_NOT_AVAILABLE, why);
    }
    let commit = match h.commit_or_rollback {
        TRANSACTION_COMMIT_TYPE => true,
        TRANSACTION_ROLLBACK_TYPE => false,
        TRANSACTION_NOT_TYPE => {
            // Unknown: the check service will ask again.
            debug!(group = %h.producer_group, offset = h.tran_state_table_offset, "transaction state unknown");
            return req.success();
        }
        other => {
            return reply(
                &req,
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "illegal commitOrRollback {other}: expected 0, 8 (commit) or 12 (rollback)"
                ),
            );
        }
    };
    let Some(svc) = ctx.transactions.get() else {
        return reply(
            &req,
            ResponseCode::SYSTEM_ERROR,
            "transaction service not started",
        );
    };
    // The half message must be exactly the one named: an unknown or mismatching offset
    // stores nothing.
    let half = read_half(ctx, h.commit_log_offset).await;
    let Some(half) = half else {
        return reply(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "find prepared transaction message failed: no half message at commit-log offset {}",
                h.commit_log_offset
            ),
        );
    };
    if half.queue_offset != h.tran_state_table_offset {
        return reply(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "the half message at {} has queue offset {}, not tranStateTableOffset {}",
                h.commit_log_offset, half.queue_offset, h.tran_state_table_offset
            ),
        );
    }
    if half.properties.get(keys::PGROUP) != Some(h.producer_group.as_str()) {
        return reply(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "the producer group {} does not own this half message",
                h.producer_group
            ),
        );
    }
    if !svc.claim(half.queue_offset) {
        return reply(
            &req,
            ResponseCode::SUCCESS,
            format!("half message {} was already resolved", half.queue_offset),
        );
    }
    if commit {
        let Some(msg) = committed_message(&half, ctx.store_host) else {
            svc.unclaim(half.queue_offset);
            return reply(
                &req,
                ResponseCode::SYSTEM_ERROR,
                "the half message has no valid REAL_TOPIC/REAL_QID",
            );
        };
        let (topic, qid) = (msg.topic.clone(), msg.queue_id);
        let out = ctx.store.put(msg).await;
        if !stored(&out.status) {
            svc.unclaim(half.queue_offset);
            return reply(
                &req,
                ResponseCode::SYSTEM_ERROR,
                format!("storing the committed message failed: {:?}", out.status),
            );
        }
        ctx.long_polling.wake(&topic, qid);
    }
    if let Err(why) = write_op(ctx.store, ctx.store_host, half.queue_offset).await {
        // The commit (if any) is stored; without the op the check-back may ask again.
        warn!(offset = half.queue_offset, error = %why, "op record not written");
        return reply(&req, ResponseCode::SYSTEM_ERROR, why);
    }
    info!(
        group = %h.producer_group,
        half_offset = half.queue_offset,
        commit,
        from_check = h.from_transaction_check.unwrap_or(false),
        peer = %conn.peer(),
        "transaction ended"
    );
    req.success()
}
