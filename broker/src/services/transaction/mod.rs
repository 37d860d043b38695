//! Transactional messages (spec §3.9, §10.8).
//!
//! A send with `TRAN_MSG=true` stores a **half message** in `RMQ_SYS_TRANS_HALF_TOPIC` queue 0
//! (the real topic and queue kept in `REAL_TOPIC` / `REAL_QID`). No topic config exists for the
//! half topic, so no consumer can pull it. END_TRANSACTION ([`crate::handlers::end_transaction`]) commits (the message is
//! re-put to its real topic) or rolls back; either way an **op record** (tag `d`, body = the
//! half queue offset) goes to `RMQ_SYS_TRANS_OP_HALF_TOPIC`. The check service ([`check`])
//! asks a live producer of the group about half messages left unresolved past
//! `transactionTimeOut`, at most `transactionCheckMax` times, then discards them.
//!
//! Progress survives restarts: resolutions are the op records in the store itself (re-read at
//! start), and the check counters and the scan start live in `config/transactionCheck.json`,
//! written atomically after every check round.
//!
//! # Layout
//! - this module: [`TransactionService`] (resolved set, check counters, persistence),
//!   [`half_record`], [`write_op`], and the [`Handle`] the check-back loop works through.
//! - [`crate::handlers::end_transaction`]: the END_TRANSACTION handler.
//! - [`check`]: the check-back loop.

pub mod check;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use remoting::message::{MessageRecord, keys, sysflag};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::config::BrokerConfig;
use crate::error::Result;
use crate::state::client_manager::ClientManager;
use crate::state::fencing::RoleState;
use crate::state::persist;
use crate::state::runtime_config::RuntimeConfig;
use crate::state::stats::now_millis;
use crate::store_api::{MessageStoreApi, PutStatus};

/// What the check-back loop reaches of the broker.
pub struct Handle {
    /// The start-up configuration (role, check interval, broker name).
    pub config: Arc<BrokerConfig>,
    /// The live configuration (timeout and check limit may change at run time).
    pub runtime: Arc<RuntimeConfig>,
    /// The store holding half messages and op records.
    pub store: Arc<dyn MessageStoreApi>,
    /// STOREHOST stamped into op records and discarded copies.
    pub store_host: SocketAddr,
    /// Producers, asked about their unresolved transactions.
    pub clients: Arc<ClientManager>,
    /// The role now (a failover changes it): only an unfenced master checks back.
    pub role: Arc<RoleState>,
}

impl Handle {
    /// The config in effect now (see [`RuntimeConfig::get`]).
    pub fn live(&self) -> Arc<BrokerConfig> {
        self.runtime.get()
    }

    /// True for a slave (the role now, which a failover may have changed).
    pub fn is_slave(&self) -> bool {
        self.role.is_slave()
    }

    /// Whether this broker may write now: `None` on an unfenced master, else why not (a
    /// slave, or a master fenced by a newer epoch or an expired lease: docs/failover.md).
    pub fn write_refused(&self) -> Option<String> {
        self.role.write_refused()
    }
}

/// Topic of half messages.
pub const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// Topic of op (resolution) records.
pub const OP_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Topic discarded half messages are copied to.
pub const CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Tag of an op record that removes a half message.
pub const REMOVE_TAG: &str = "d";
/// Entries read from the op queue per store read at start-up.
const OP_READ_BATCH: i32 = 256;

/// `transactionCheck.json`: the check counters and the first half offset not yet resolved.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CheckProgress {
    /// Every half offset below this one is resolved (committed, rolled back or discarded).
    pub scan_from: i64,
    /// Half offset → check-backs sent so far.
    pub check_times: BTreeMap<i64, u32>,
}

#[derive(Debug, Default)]
struct State {
    progress: CheckProgress,
    /// Resolved half offsets at or above `scan_from`.
    resolved: BTreeSet<i64>,
}

/// What the broker knows about its half messages.
pub struct TransactionService {
    path: PathBuf,
    state: Mutex<State>,
}

impl TransactionService {
    /// Loads `config/transactionCheck.json` and re-reads the op queue from the store.
    pub fn load(config: &BrokerConfig, store: &dyn MessageStoreApi) -> Result<TransactionService> {
        let path = PathBuf::from(&config.store_path_root_dir)
            .join("config")
            .join("transactionCheck.json");
        let progress =
            persist::read_with_backup(&path, |b| serde_json::from_slice::<CheckProgress>(b).ok())?
                .unwrap_or_default();
        let mut resolved = BTreeSet::new();
        let max = store.max_offset(OP_TOPIC, 0);
        let mut off = store.min_offset(OP_TOPIC, 0);
        while off < max {
            let got = store.get(OP_TOPIC, 0, off, OP_READ_BATCH, None);
            if got.records.is_empty() {
                if got.next_begin_offset > off {
                    off = got.next_begin_offset;
                    continue;
                }
                break;
            }
            let before = off;
            for raw in &got.records {
                if let Ok(v) = remoting::message::record::decode_view(raw) {
                    if let Some(half) = std::str::from_utf8(v.body)
                        .ok()
                        .and_then(|s| s.trim().parse::<i64>().ok())
                        && half >= progress.scan_from
                    {
                        resolved.insert(half);
                    }
                    off = v.queue_offset + 1;
                }
            }
            if off <= before {
                // Undecodable entries: step over them rather than loop.
                off = before + got.records.len() as i64;
            }
        }
        info!(
            scan_from = progress.scan_from,
            resolved = resolved.len(),
            pending_checks = progress.check_times.len(),
            "transaction state loaded"
        );
        Ok(TransactionService {
            path,
            state: Mutex::new(State { progress, resolved }),
        })
    }

    /// True when the half message at `offset` is committed, rolled back or discarded.
    pub fn is_resolved(&self, offset: i64) -> bool {
        let s = self.state.lock();
        offset < s.progress.scan_from || s.resolved.contains(&offset)
    }

    /// Claims `offset` for resolution; false when it is already resolved (or being resolved).
    pub fn claim(&self, offset: i64) -> bool {
        let mut s = self.state.lock();
        offset >= s.progress.scan_from && s.resolved.insert(offset)
    }

    /// Gives back a claim after a failed resolution.
    pub fn unclaim(&self, offset: i64) {
        self.state.lock().resolved.remove(&offset);
    }

    /// Check-backs sent for `offset`.
    pub fn check_times(&self, offset: i64) -> u32 {
        self.state
            .lock()
            .progress
            .check_times
            .get(&offset)
            .copied()
            .unwrap_or(0)
    }

    /// Counts one more check-back for `offset`.
    pub fn count_check(&self, offset: i64) {
        *self
            .state
            .lock()
            .progress
            .check_times
            .entry(offset)
            .or_insert(0) += 1;
    }

    /// The first half offset not known to be resolved.
    pub fn scan_from(&self) -> i64 {
        self.state.lock().progress.scan_from
    }

    /// Moves the scan start past resolved offsets (and those below `min`, deleted by
    /// retention), forgets what lies below it, and writes the file.
    pub fn compact_and_save(&self, min: i64) -> Result<()> {
        let snapshot = {
            let mut s = self.state.lock();
            let mut from = s.progress.scan_from.max(min);
            while s.resolved.contains(&from) {
                from += 1;
            }
            s.progress.scan_from = from;
            s.resolved = s.resolved.split_off(&from);
            s.progress.check_times = s.progress.check_times.split_off(&from);
            s.progress.clone()
        };
        let text = serde_json::to_string_pretty(&snapshot).unwrap_or_default();
        persist::write_atomic(&self.path, &text)
    }

    /// A copy of the persisted progress.
    pub fn progress(&self) -> CheckProgress {
        self.state.lock().progress.clone()
    }
}

/// Loads the transaction state and starts the check service (the broker calls it at start-up):
/// the service (END_TRANSACTION resolves through it) and the check task.
pub fn start(
    ctx: Handle,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<(Arc<TransactionService>, tokio::task::JoinHandle<()>)> {
    let svc = Arc::new(TransactionService::load(&ctx.config, &*ctx.store)?);
    let task = tokio::spawn(check::run(svc.clone(), ctx, shutdown.clone()));
    Ok((svc, task))
}

/// True for statuses under which the record was stored.
pub fn stored(status: &PutStatus) -> bool {
    matches!(
        status,
        PutStatus::Ok
            | PutStatus::FlushDiskTimeout
            | PutStatus::FlushSlaveTimeout
            | PutStatus::SlaveNotAvailable
    )
}

/// Turns `rec` (a send with `TRAN_MSG=true`) into the half message the send path stores: real
/// topic and queue kept in properties, transaction type reset so the half queue indexes it,
/// `DELAY` dropped (Java clients clear it too; a delay applies to nothing before the commit).
pub fn half_record(mut rec: MessageRecord, producer_group: &str) -> MessageRecord {
    rec.properties.insert(keys::REAL_TOPIC, rec.topic.clone());
    rec.properties
        .insert(keys::REAL_QID, rec.queue_id.to_string());
    if rec.properties.get(keys::PGROUP).is_none_or(str::is_empty) {
        rec.properties.insert(keys::PGROUP, producer_group);
    }
    rec.properties.remove(keys::DELAY);
    rec.sys_flag = sysflag::with_transaction_type(rec.sys_flag, sysflag::TRANSACTION_NOT_TYPE);
    rec.topic = HALF_TOPIC.to_string();
    rec.queue_id = 0;
    rec
}

/// Writes the op record that resolves the half message at `half_offset` (`store_host`: the
/// broker's STOREHOST).
pub async fn write_op(
    store: &dyn MessageStoreApi,
    store_host: SocketAddr,
    half_offset: i64,
) -> std::result::Result<(), String> {
    let mut rec = MessageRecord {
        topic: OP_TOPIC.to_string(),
        queue_id: 0,
        born_timestamp: now_millis(),
        born_host: store_host,
        store_host,
        body: Bytes::from(half_offset.to_string()),
        ..Default::default()
    };
    rec.properties.insert(keys::TAGS, REMOVE_TAG);
    let out = store.put(rec).await;
    if stored(&out.status) {
        Ok(())
    } else {
        Err(format!("writing the op record failed: {:?}", out.status))
    }
}
