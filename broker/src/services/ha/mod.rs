//! Classic master/slave replication (spec §7): the master's HA service on `haListenPort`, the
//! slave's HA client, the SYNC_MASTER wait and the in-sync bookkeeping shown by `brokerStatus`.
//!
//! # Layout
//! - [`wire`]: the byte format of spec §7.3 (8-byte reports, 12-byte frame headers).
//! - [`master`]: accepts slaves, streams the commit log, checks their acks.
//! - [`slave`]: follows the master, appends what it sends, truncates a diverged tail.
//! - [`epochs`]: the epoch handshake of `epochFencingEnable` (docs/failover.md).
//! - this module: [`HaService`] (state shared by both sides, the SYNC_MASTER waiter, the
//!   runtime-info keys) and [`start`], which the broker calls once at start-up.
//!
//! Decisions beyond Java (reliability.md, Replication):
//! - a slave's ack above what this connection was sent closes the connection (#3015);
//! - an empty slave is sent the whole commit log from the master's min offset, not only the last
//!   file (#3661), and a slave counts as in sync only once it has caught up;
//! - a slave reporting more than this master incarnation can vouch for (beyond the end the
//!   master recovered to at start and beyond anything sent since) has a diverged tail: the
//!   master answers with a frame at its recovered end and the slave truncates to it;
//! - a slave whose position was deleted by retention on the master (#3388) is ordered to reset
//!   (a header-only first frame at the master's min offset): it drops its store and follows
//!   from there instead of being disconnected forever.

pub mod auth;
pub mod epochs;
pub mod master;
pub mod slave;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use remoting::message::{Properties, keys};
use store::MessageStore;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{BrokerConfig, BrokerRole};
use crate::error::{BrokerError, Result};
use crate::state::fencing::RoleState;
use crate::store_api::{PutOutcome, PutStatus};

/// Where a slave learns its master from: `(master remoting addr, master HA addr)` as the name
/// servers last said (`haMasterAddress` overrides the HA address).
pub type MasterLookup = Arc<dyn Fn() -> (Option<String>, Option<String>) + Send + Sync>;

/// One slave connected to this master.
#[derive(Debug)]
pub struct SlaveLink {
    /// Connection id (log correlation).
    pub id: u64,
    /// The slave's address.
    pub peer: SocketAddr,
    /// Highest offset the slave acknowledged (its reported max offset).
    pub acked: AtomicI64,
    /// End of what this connection sent: an ack beyond it is refused.
    pub sent: AtomicI64,
    /// Set once the slave's gap first fell within one transfer window: from then on it may
    /// count as in sync. A fresh slave copying old files is never in sync before.
    pub caught_up: AtomicBool,
    /// Unix ms of the connection.
    pub connected_at: i64,
}

/// What a slave knows about its link to the master.
#[derive(Debug, Clone, Default)]
pub struct SlaveView {
    /// The master HA address in use.
    pub master_ha_addr: Option<String>,
    /// True while connected.
    pub connected: bool,
    /// End of the last frame received (the master's transfer position).
    pub master_offset: i64,
    /// Reconnections so far.
    pub reconnects: u64,
    /// Bytes truncated from a diverged tail so far.
    pub truncated_bytes: i64,
    /// Times the store was reset because our position was deleted on the master (#3388).
    pub resets: u64,
    /// Bytes discarded by those resets.
    pub discarded_bytes: i64,
}

/// The replication state of one broker (either side).
pub struct HaService {
    config: Arc<BrokerConfig>,
    store: Arc<MessageStore>,
    /// The role and epoch now (they change at run time with `epochFencingEnable`).
    role: Arc<RoleState>,
    /// Commit-log end when this incarnation started (or was promoted): what the master
    /// vouches for.
    start_end: AtomicI64,
    /// Highest offset sent to any slave in this incarnation.
    sent_high: AtomicI64,
    links: Mutex<BTreeMap<u64, Arc<SlaveLink>>>,
    next_id: AtomicU64,
    /// Java's `push2SlaveMaxOffset`: the highest offset any slave acknowledged.
    acked: AtomicI64,
    /// SYNC_MASTER waiters by (commit-log end they wait for, id): an ack completes exactly
    /// the ones it covers, in one split, instead of waking every waiter to re-check.
    waiters: Mutex<BTreeMap<(i64, u64), oneshot::Sender<()>>>,
    next_waiter: AtomicU64,
    /// Woken after every local append so transfers start at once.
    appended: Notify,
    slave_view: Mutex<SlaveView>,
    ha_port: u16,
}

/// The master's `WAIT` property: "false" opts a message out of the replication wait.
pub fn wants_wait(properties: &Properties) -> bool {
    properties
        .get(keys::WAIT)
        .map(|w| w.trim() != "false")
        .unwrap_or(true)
}

fn now_ms() -> i64 {
    crate::state::stats::now_millis()
}

impl HaService {
    fn new(
        config: Arc<BrokerConfig>,
        store: Arc<MessageStore>,
        ha_port: u16,
        role: Arc<RoleState>,
    ) -> Self {
        let start_end = store.commit_log_max_offset();
        HaService {
            config,
            store,
            role,
            start_end: AtomicI64::new(start_end),
            sent_high: AtomicI64::new(start_end),
            links: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            acked: AtomicI64::new(0),
            waiters: Mutex::new(BTreeMap::new()),
            next_waiter: AtomicU64::new(0),
            appended: Notify::new(),
            slave_view: Mutex::new(SlaveView::default()),
            ha_port,
        }
    }

    /// The store replicated.
    pub fn store(&self) -> &Arc<MessageStore> {
        &self.store
    }

    /// The role and epoch state.
    pub fn role(&self) -> &Arc<RoleState> {
        &self.role
    }

    /// A promotion: the log as it is now is what this master vouches for (a slave's tail up
    /// to here is not a diverged one).
    pub fn vouch_for_current_log(&self) {
        let end = self.store.commit_log_max_offset();
        self.start_end.store(end, Ordering::Release);
        self.sent_high.fetch_max(end, Ordering::AcqRel);
    }

    /// The port the HA service listens on.
    pub fn ha_port(&self) -> u16 {
        self.ha_port
    }

    /// Java's `push2SlaveMaxOffset`.
    pub fn push_to_slave_max_offset(&self) -> i64 {
        self.acked.load(Ordering::Acquire)
    }

    /// The connected slaves.
    pub fn links(&self) -> Vec<Arc<SlaveLink>> {
        self.links.lock().values().cloned().collect()
    }

    /// The slave side's view.
    pub fn slave_view(&self) -> SlaveView {
        self.slave_view.lock().clone()
    }

    /// Bytes a link is behind the local commit log.
    pub fn gap(&self, link: &SlaveLink) -> i64 {
        (self.store.commit_log_max_offset() - link.acked.load(Ordering::Acquire)).max(0)
    }

    /// True when `link` has caught up once and is within `haMaxGapNotInSync`.
    pub fn in_sync(&self, link: &SlaveLink) -> bool {
        link.caught_up.load(Ordering::Acquire)
            && (self.gap(link) as u64) < self.config.ha_max_gap_not_in_sync
    }

    /// Number of in-sync slaves.
    pub fn in_sync_count(&self) -> usize {
        self.links().iter().filter(|l| self.in_sync(l)).count()
    }

    /// Tells transfers that the commit log grew.
    pub fn notify_appended(&self) {
        self.appended.notify_waiters();
    }

    /// Records an ack from `link` and wakes SYNC_MASTER waiters. The caller checked it against
    /// what was sent.
    fn ack(&self, link: &SlaveLink, offset: i64) {
        link.acked.fetch_max(offset, Ordering::AcqRel);
        let window = (self.config.ha_transfer_batch_size as i64 * 8).max(1 << 20);
        if !link.caught_up.load(Ordering::Acquire)
            && self.store.commit_log_max_offset() - offset <= window
        {
            link.caught_up.store(true, Ordering::Release);
            info!(slave = %link.peer, conn = link.id, offset, "slave caught up: in sync");
        }
        if self.acked.fetch_max(offset, Ordering::AcqRel) >= offset {
            return;
        }
        // Raised before the lock: a waiter registering after this split sees the new value.
        let done = {
            let mut w = self.waiters.lock();
            let rest = w.split_off(&(offset + 1, 0));
            std::mem::replace(&mut *w, rest)
        };
        for tx in done.into_values() {
            let _ = tx.send(());
        }
    }

    /// SYNC_MASTER: resolves when a slave holds the commit log up to `end`: PUT_OK, else
    /// SLAVE_NOT_AVAILABLE at once when no slave is in sync (or the best one is more than
    /// `haSlaveFallbehindMax` behind `end`), else FLUSH_SLAVE_TIMEOUT after `slaveTimeout`.
    pub async fn wait_for_slave(&self, end: i64) -> PutStatus {
        let best = self
            .links()
            .iter()
            .filter(|l| self.in_sync(l))
            .map(|l| l.acked.load(Ordering::Acquire))
            .max();
        let Some(best) = best else {
            return PutStatus::SlaveNotAvailable;
        };
        if (end - best) as u64 >= self.config.ha_slave_fallbehind_max && end > best {
            return PutStatus::SlaveNotAvailable;
        }
        let rx = {
            let mut w = self.waiters.lock();
            // Checked under the lock [`HaService::ack`] splits under: no ack slips between.
            if self.acked.load(Ordering::Acquire) >= end {
                return PutStatus::Ok;
            }
            let (tx, rx) = oneshot::channel();
            let key = (end, self.next_waiter.fetch_add(1, Ordering::Relaxed));
            w.insert(key, tx);
            Waiter {
                ha: self,
                key,
                rx,
                done: false,
            }
        };
        let timeout = Duration::from_millis(self.config.slave_timeout.max(1));
        match tokio::time::timeout(timeout, rx).await {
            Ok(true) => PutStatus::Ok,
            _ => PutStatus::FlushSlaveTimeout,
        }
    }

    /// The HA keys of GET_BROKER_RUNTIME_INFO (`brokerStatus`).
    pub fn runtime_info(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let max = self.store.commit_log_max_offset();
        if self.role.role().is_master() {
            let links = self.links();
            let in_sync = links.iter().filter(|l| self.in_sync(l)).count();
            let worst_gap = links.iter().map(|l| self.gap(l)).max().unwrap_or(0);
            out.push(("haConnectedSlaves".into(), links.len().to_string()));
            out.push(("haInSyncSlaves".into(), in_sync.to_string()));
            out.push((
                "haPush2SlaveMaxOffset".into(),
                self.push_to_slave_max_offset().to_string(),
            ));
            out.push(("haMaxGap".into(), worst_gap.to_string()));
            out.push((
                "slaveFallBehindMuch".into(),
                if links.is_empty() {
                    "0".into()
                } else {
                    (max - self.push_to_slave_max_offset()).max(0).to_string()
                },
            ));
            for (i, l) in links.iter().enumerate() {
                out.push((
                    format!("haSlave{i}"),
                    format!(
                        "addr={} ackOffset={} gap={} inSync={}",
                        l.peer,
                        l.acked.load(Ordering::Acquire),
                        self.gap(l),
                        self.in_sync(l)
                    ),
                ));
            }
        } else {
            let v = self.slave_view();
            out.push((
                "haMasterAddress".into(),
                v.master_ha_addr.clone().unwrap_or_default(),
            ));
            out.push(("haConnected".into(), v.connected.to_string()));
            out.push(("haMasterOffset".into(), v.master_offset.to_string()));
            out.push(("haLocalMaxOffset".into(), max.to_string()));
            out.push(("haReconnects".into(), v.reconnects.to_string()));
            out.push(("haTruncatedBytes".into(), v.truncated_bytes.to_string()));
            out.push(("haResets".into(), v.resets.to_string()));
        }
        out
    }
}

/// A registered SYNC_MASTER waiter: resolves to true once an ack covers its end; leaves the
/// queue when dropped (timed out, or the request abandoned), so nothing piles up while no
/// slave acknowledges.
struct Waiter<'a> {
    ha: &'a HaService,
    key: (i64, u64),
    rx: oneshot::Receiver<()>,
    /// Set once the ack came: the ack already took the entry out of the queue.
    done: bool,
}

impl std::future::Future for Waiter<'_> {
    type Output = bool;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<bool> {
        let r = std::pin::Pin::new(&mut self.rx).poll(cx).map(|r| r.is_ok());
        if r == std::task::Poll::Ready(true) {
            self.done = true;
        }
        r
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.ha.waiters.lock().remove(&self.key);
        }
    }
}

/// The send path's hook after a local put: wakes transfers and, on a SYNC_MASTER, waits for a
/// slave (spec §7.4). `wait` is the message's `WAIT` property. Without an HA service (a store
/// the broker did not open) only a SYNC_MASTER's OK changes, to SLAVE_NOT_AVAILABLE.
/// `ha` is the broker's HA service when it runs one; `role` the broker's role now. With
/// `epochFencingEnable` a put stored by a master fenced meanwhile (before or during the wait)
/// is answered SERVICE_NOT_AVAILABLE, never SEND_OK.
pub async fn after_put(
    ha: Option<&Arc<HaService>>,
    role: &RoleState,
    outcome: PutOutcome,
    wait: bool,
) -> PutOutcome {
    match after_put_now(ha, role, outcome, wait) {
        AfterPut::Done(outcome) => outcome,
        AfterPut::WaitForSlave { ha, end, outcome } => {
            let status = ha.wait_for_slave(end).await;
            // Fenced while waiting (a controller promoted a slave): never SEND_OK from a
            // stale master.
            let outcome = fenced_outcome(role, outcome);
            if status == PutStatus::Ok {
                // A flush timeout stays the answer when the slave has it (spec §7.4: the
                // non-OK one).
                return outcome;
            }
            PutOutcome { status, ..outcome }
        }
    }
}

/// What is left of [`after_put`] once its synchronous part has run.
pub enum AfterPut<'a> {
    /// The answer.
    Done(PutOutcome),
    /// A SYNC_MASTER's put that waits for a slave to hold the log up to `end`.
    WaitForSlave {
        /// The HA service to wait on.
        ha: &'a Arc<HaService>,
        /// The commit-log offset the slave must ack.
        end: i64,
        /// The outcome to answer once it has.
        outcome: PutOutcome,
    },
}

/// The part of [`after_put`] that never waits: wakes the transfers and settles every outcome
/// but a SYNC_MASTER's stored put that waits for its slave.
pub fn after_put_now<'a>(
    ha: Option<&'a Arc<HaService>>,
    role: &RoleState,
    outcome: PutOutcome,
    wait: bool,
) -> AfterPut<'a> {
    let Some(ha) = ha else {
        // No replication at all (a store the broker did not open): a SYNC_MASTER still never
        // claims a replicated write.
        if role.role() == BrokerRole::SyncMaster && wait && outcome.status == PutStatus::Ok {
            return AfterPut::Done(PutOutcome {
                status: PutStatus::SlaveNotAvailable,
                ..outcome
            });
        }
        return AfterPut::Done(outcome);
    };
    ha.notify_appended();
    let outcome = fenced_outcome(role, outcome);
    if role.role() != BrokerRole::SyncMaster
        || !wait
        || !matches!(outcome.status, PutStatus::Ok | PutStatus::FlushDiskTimeout)
    {
        return AfterPut::Done(outcome);
    }
    let Some(first) = outcome.first_offset else {
        return AfterPut::Done(outcome);
    };
    // The store reports where the put ended; a record is never empty, so an end at or below
    // its start means "unknown": wait for everything appended so far instead.
    let end = if outcome.end_offset > first {
        outcome.end_offset
    } else {
        ha.store.commit_log_max_offset()
    };
    AfterPut::WaitForSlave { ha, end, outcome }
}

/// A stored put of a broker fenced meanwhile becomes SERVICE_NOT_AVAILABLE (docs/failover.md).
fn fenced_outcome(role: &RoleState, outcome: PutOutcome) -> PutOutcome {
    let stored = matches!(
        outcome.status,
        PutStatus::Ok
            | PutStatus::FlushDiskTimeout
            | PutStatus::FlushSlaveTimeout
            | PutStatus::SlaveNotAvailable
    );
    match role.refuse_after_put() {
        Some(why) if stored => PutOutcome {
            status: PutStatus::ServiceNotAvailable(why),
            ..outcome
        },
        _ => outcome,
    }
}

/// Binds the HA listener on `bindAddress:haListenPort` (port 0 when listenPort is 0: a free one).
pub async fn bind(config: &BrokerConfig) -> Result<TcpListener> {
    let addr = format!("{}:{}", config.bind_address, config.ha_listen_port());
    TcpListener::bind(&addr)
        .await
        .map_err(|source| BrokerError::Bind { addr, source })
}

/// Starts replication for a broker whose store it can reach (`store`, the broker's own): the
/// HA service on `listener` (masters accept slaves; Java listens on slaves too), the slave's HA
/// client and metadata sync (over `sync`, the tables it copies into). `role` is the broker's
/// role state (it changes at run time with `epochFencingEnable`). Returns the service and the
/// tasks to await on shutdown.
pub fn start(
    store: Arc<MessageStore>,
    sync: super::slave_sync::Handle,
    role: &Arc<RoleState>,
    listener: TcpListener,
    master: MasterLookup,
    shutdown: CancellationToken,
) -> (Arc<HaService>, Vec<JoinHandle<()>>) {
    let config = sync.config.clone();
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let ha = Arc::new(HaService::new(config.clone(), store, port, role.clone()));
    info!(
        role = %config.broker_role,
        ha_port = port,
        commit_log_end = ha.start_end.load(Ordering::Acquire),
        "HA service started"
    );
    let mut tasks = vec![tokio::spawn(master::accept_loop(
        ha.clone(),
        listener,
        shutdown.clone(),
    ))];
    // With fencing the role may change at run time: the follower tasks run always and idle
    // while the broker is a master.
    if role.is_slave() || role.enabled() {
        tasks.push(tokio::spawn(slave::run(
            ha.clone(),
            master.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(super::slave_sync::run(sync, master, shutdown)));
    }
    (ha, tasks)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn service(dir: &std::path::Path, slave_timeout: u64) -> Arc<HaService> {
        let config = BrokerConfig {
            store_path_root_dir: dir.display().to_string(),
            broker_role: BrokerRole::SyncMaster,
            slave_timeout,
            ..Default::default()
        };
        let store = MessageStore::open(crate::store_adapter::store_config(&config)).unwrap();
        let role = Arc::new(RoleState::new(&config, None));
        Arc::new(HaService::new(Arc::new(config), Arc::new(store), 0, role))
    }

    fn in_sync_link(ha: &HaService) -> Arc<SlaveLink> {
        let link = Arc::new(SlaveLink {
            id: 1,
            peer: "127.0.0.1:1".parse().unwrap(),
            acked: AtomicI64::new(0),
            sent: AtomicI64::new(1 << 20),
            caught_up: AtomicBool::new(true),
            connected_at: 0,
        });
        ha.links.lock().insert(1, link.clone());
        link
    }

    #[tokio::test]
    async fn an_ack_completes_the_waiters_it_covers_and_the_rest_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let ha = service(dir.path(), 200);
        let link = in_sync_link(&ha);
        let (h1, h2) = (ha.clone(), ha.clone());
        let covered = tokio::spawn(async move { h1.wait_for_slave(100).await });
        let beyond = tokio::spawn(async move { h2.wait_for_slave(300).await });
        while ha.waiters.lock().len() < 2 {
            tokio::task::yield_now().await;
        }
        ha.ack(&link, 150);
        assert_eq!(covered.await.unwrap(), PutStatus::Ok);
        // Nothing acknowledges 300: FLUSH_SLAVE_TIMEOUT after slaveTimeout, and it left the
        // queue.
        assert_eq!(beyond.await.unwrap(), PutStatus::FlushSlaveTimeout);
        assert!(ha.waiters.lock().is_empty());
        // Already acknowledged: answered at once, never queued.
        assert_eq!(ha.wait_for_slave(150).await, PutStatus::Ok);
        // An abandoned wait (the request dropped) leaves the queue too.
        let abandoned = tokio::time::timeout(Duration::from_millis(1), ha.wait_for_slave(400));
        assert!(abandoned.await.is_err());
        assert!(ha.waiters.lock().is_empty());
        // A later ack covering several ends completes them all at once.
        let waits: Vec<_> = [500, 600, 700]
            .into_iter()
            .map(|end| {
                let h = ha.clone();
                tokio::spawn(async move { h.wait_for_slave(end).await })
            })
            .collect();
        while ha.waiters.lock().len() < 3 {
            tokio::task::yield_now().await;
        }
        ha.ack(&link, 700);
        for w in waits {
            assert_eq!(w.await.unwrap(), PutStatus::Ok);
        }
        assert_eq!(ha.push_to_slave_max_offset(), 700);
    }
}
