//! [`MessageStore`], the one handle the broker holds; this file is its façade: the shared state
//! (`Inner`), open (lock, recovery, background threads), the positions, flush, checkpoint and
//! shutdown. What the store does lives beside it, one module a part:
//! - `append`: puts, the durability wait (SYNC_FLUSH group commit), the flush thread, the
//!   fatal-fsync rule, the slave's side of HA (raw append, truncate, reset);
//! - `dispatch`: the dispatch thread building consume queues and the index from the log;
//! - `read`: pulls, queue offsets, lookups by time, offset and key, HA reads;
//! - [`crate::recovery`]: what open verifies, truncates, rebuilds and refuses;
//! - `retention`: deleting expired segments, the disk-full state.
//!
//! Three threads run per store: `store-flush` (`append`), `store-dispatch` (`dispatch`) and
//! `store-housekeeping` (here: a checkpoint every `flushIntervalConsumeQueue`, retention every
//! `cleanResourceInterval`, and while read-only the retry of recovery's writes). A mapped
//! commit log adds `store-warm` (`warm`: pages brought into the page cache ahead of the writer,
//! and the next segment made before the writer reaches it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::checkpoint::{Checkpoint, CheckpointFile};
use crate::config::{FlushDiskType, StoreConfig};
use crate::consume_queue::ConsumeQueue;
use crate::durable::FlushWaiters;
use crate::error::{Result, StoreError};
use crate::fs::{FileSystem, StdFs};
use crate::index::IndexService;
use crate::recovery::{self, DamageMap, RecoveryReport};
use crate::seglog::{SegLog, SyncFail};

/// Called once when the store hits a fatal error (a failed fsync). The default logs and exits
/// the process: after a failed fsync the kernel may have dropped dirty pages, so continuing
/// could acknowledge data that is not on disk.
pub type FatalHook = Arc<dyn Fn(&str) + Send + Sync>;

/// The default [`FatalHook`]: log and `exit(70)`.
pub fn exit_on_fatal() -> FatalHook {
    Arc::new(|msg: &str| {
        tracing::error!(error = msg, "fatal store error; exiting");
        std::process::exit(70);
    })
}

/// The broker's message store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct MessageStore {
    pub(crate) inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for MessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStore")
            .field("root", &self.inner.root)
            .field("max_offset", &self.inner.log.end())
            .finish()
    }
}

/// The state the store's parts share: the commit log, the queue and index tables, the dispatch
/// position, the signals of the background threads and the error states. Each module adds the
/// methods of its part (`impl Inner` in `append`, `dispatch`, `read`, `recovery`,
/// `retention`).
pub(crate) struct Inner {
    pub(crate) config: StoreConfig,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) root: PathBuf,
    pub(crate) log: SegLog,
    /// Next queue offset per queue; only touched with the commit-log tail lock held.
    pub(crate) queue_offsets: Mutex<QueueMap<i64>>,
    pub(crate) queues: RwLock<QueueMap<Arc<ConsumeQueue>>>,
    pub(crate) index: IndexService,
    /// What the last index flush made durable (`None` before the first): checkpoints between
    /// index flushes claim no more than it.
    pub(crate) index_durable: Mutex<Option<IndexDurable>>,
    pub(crate) checkpoint: CheckpointFile,
    /// Commit-log offset up to which records are dispatched.
    pub(crate) reput: AtomicU64,
    /// Held by a dispatch round and by whatever must not run beside one; holds the rounds'
    /// read buffer (`dispatch`).
    pub(crate) dispatch_lock: Mutex<Vec<u8>>,
    pub(crate) dispatch_signal: (Mutex<bool>, Condvar),
    pub(crate) flush_signal: (Mutex<bool>, Condvar),
    /// The durable offset of the commit log and the puts waiting for it.
    pub(crate) durable: FlushWaiters,
    /// Called by dispatch for each queue that advanced ([`MessageStore::on_advance`]).
    pub(crate) advance_listeners: RwLock<Vec<AdvanceListener>>,
    pub(crate) stopping: AtomicBool,
    pub(crate) shut_down: AtomicBool,
    pub(crate) fatal: Mutex<Option<String>>,
    /// Mirrors `fatal.is_some()` so the append path checks it without a lock.
    pub(crate) fatal_flag: AtomicBool,
    pub(crate) fatal_hook: FatalHook,
    pub(crate) disk_full: AtomicBool,
    /// Set while writing the commit log fails (ENOSPC, EIO); puts are refused meanwhile.
    pub(crate) write_failing: AtomicBool,
    pub(crate) last_store_ts: AtomicI64,
    pub(crate) last_dispatched_ts: AtomicI64,
    pub(crate) delay_levels: Vec<i64>,
    /// Deleted topics → the commit-log end at deletion: records of the topic below it are
    /// not dispatched (they belong to the deleted incarnation), so a queue re-created after
    /// the deletion holds only the new records.
    pub(crate) deleted_topics: Mutex<HashMap<String, u64>>,
    pub(crate) has_deleted_topics: AtomicBool,
    /// Damaged commit-log ranges (start → end) that dispatch steps over.
    pub(crate) damage: RwLock<DamageMap>,
    /// Damaged records skipped so far (recovery and dispatch).
    pub(crate) corrupt_skipped: AtomicU64,
    /// Read-only mode: the first record whose index entries could not be written; dispatch
    /// is rewound to it when writes succeed again.
    pub(crate) index_deferred: Mutex<Option<u64>>,
    /// Last offset dispatch warned about waiting at (one log line per offset, not per poll).
    pub(crate) warned_at: AtomicU64,
    /// What the last open found.
    pub(crate) report: Mutex<RecoveryReport>,
    /// Set while recovery's writes are pending (a full disk at open): reads are served, writes
    /// refused. Holds the commit-log end recovery found, to re-apply before writes resume.
    pub(crate) read_only: Mutex<Option<(String, u64)>>,
    pub(crate) read_only_flag: AtomicBool,
    /// Counters for the broker's metrics.
    pub(crate) stats: crate::stats::StoreStats,
    pub(crate) _lock_file: std::fs::File,
}

/// Per topic, per queue id: nested so that lookups by `&str` allocate nothing. Hashed with
/// foldhash (randomly seeded per map) rather than SipHash: a put and a dispatch look a queue
/// up several times, and SipHash was most of what those lookups cost.
pub(crate) type QueueMap<V> = HashMap<String, HashMap<i32, V, FastHash>, FastHash>;

/// The hasher of the store's per-message maps.
pub(crate) type FastHash = foldhash::fast::RandomState;

/// See [`MessageStore::on_advance`].
pub(crate) type AdvanceListener = Box<dyn Fn(&str, i32, i64) + Send + Sync>;

pub(crate) fn qm_get<V: Clone>(m: &QueueMap<V>, topic: &str, queue_id: i32) -> Option<V> {
    m.get(topic).and_then(|q| q.get(&queue_id)).cloned()
}

pub(crate) fn qm_set<V>(m: &mut QueueMap<V>, topic: &str, queue_id: i32, v: V) {
    match m.get_mut(topic) {
        Some(q) => {
            q.insert(queue_id, v);
        }
        None => {
            m.entry(topic.to_string()).or_default().insert(queue_id, v);
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 127
        && t != "."
        && t != ".."
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"%|_-.".contains(&b))
}

impl MessageStore {
    /// Opens (creating if needed) the store at `config.store_path_root_dir` on the real file
    /// system, recovering after a crash, and starts its background threads. A failed fsync
    /// later exits the process ([`exit_on_fatal`]).
    pub fn open(config: StoreConfig) -> Result<MessageStore> {
        Self::open_with(config, Arc::new(StdFs), exit_on_fatal())
    }

    /// [`MessageStore::open`] with an explicit file system (tests inject faults) and fatal hook.
    pub fn open_with(
        config: StoreConfig,
        fs: Arc<dyn FileSystem>,
        fatal_hook: FatalHook,
    ) -> Result<MessageStore> {
        config.validate()?;
        let root = config.store_path_root_dir.clone();
        crate::fs::create_dir_all_durable(fs.as_ref(), &root)
            .map_err(|e| StoreError::io(&root, e))?;
        let lock_path = root.join("lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, e))?;
        lock_exclusive(&lock_file, &root, &lock_path)?;
        let previous = recovery::previous_run(&root);
        let (checkpoint, cp) = CheckpointFile::open(fs.as_ref(), &root.join("checkpoint"))?;
        let log = SegLog::open(
            fs.clone(),
            &config.commit_log_dir(),
            config.mapped_file_size_commit_log,
            1024 * 1024,
            // ASYNC_FLUSH acknowledges before any fsync, so its records must reach the page
            // cache at once: mapped. SYNC_FLUSH acknowledges after the group commit's fsync, so
            // the tail buffer loses nothing acknowledged, and it lets appenders keep filling
            // memory while the fdatasync writes back; appending into the very pages being
            // written back made 128 appenders 3x slower (store bench, same run). With
            // `transientStorePoolEnable` ASYNC_FLUSH uses the buffer too, written through by
            // each put before its acknowledgement (`Inner::write_through`).
            config.flush_disk_type == FlushDiskType::AsyncFlush
                && !config.transient_store_pool_enable,
        )?;
        // Group fsyncs then find their blocks allocated (see `crate::warm`).
        let log = match config.flush_disk_type {
            FlushDiskType::SyncFlush => log.zero_ahead()?,
            FlushDiskType::AsyncFlush => log,
        };
        let started = Instant::now();
        let rec = recovery::recover(&fs, &root, &config, &log, previous, cp, started)?;
        let (log_min, log_end, dispatch_from) =
            (rec.report.log_min, rec.log_end, rec.dispatch_from);
        let delay_levels = config.delay_levels_ms();
        let inner = Arc::new(Inner {
            config,
            fs: fs.clone(),
            root: root.clone(),
            log,
            queue_offsets: Mutex::new(QueueMap::default()),
            queues: RwLock::new(rec.queues),
            index: rec.index,
            index_durable: Mutex::new(None),
            checkpoint,
            reput: AtomicU64::new(dispatch_from),
            dispatch_lock: Mutex::new(Vec::new()),
            dispatch_signal: (Mutex::new(false), Condvar::new()),
            flush_signal: (Mutex::new(false), Condvar::new()),
            durable: FlushWaiters::new(log_end),
            advance_listeners: RwLock::new(Vec::new()),
            stopping: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            fatal: Mutex::new(None),
            fatal_flag: AtomicBool::new(false),
            fatal_hook,
            disk_full: AtomicBool::new(false),
            write_failing: AtomicBool::new(false),
            last_store_ts: AtomicI64::new(0),
            last_dispatched_ts: AtomicI64::new(0),
            delay_levels,
            corrupt_skipped: AtomicU64::new(rec.report.skipped.len() as u64),
            deleted_topics: Mutex::new(HashMap::new()),
            has_deleted_topics: AtomicBool::new(false),
            damage: RwLock::new(rec.damage),
            warned_at: AtomicU64::new(u64::MAX),
            index_deferred: Mutex::new(None),
            stats: Default::default(),
            report: Mutex::new(rec.report),
            read_only: Mutex::new(None),
            read_only_flag: AtomicBool::new(false),
            _lock_file: lock_file,
        });
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            dispatch_from,
            "queues and index loaded"
        );
        inner.finish_open(rec.write_failure, log_end);
        tracing::info!(
            root = %root.display(),
            crashed = previous.crashed,
            log_min,
            log_end,
            dispatch_from,
            skipped = inner.report.lock().skipped.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "store recovered"
        );
        let store = MessageStore {
            inner,
            threads: Mutex::new(Vec::new()),
        };
        store.start_threads();
        Ok(store)
    }

    fn start_threads(&self) {
        let mut th = self.threads.lock();
        let i = self.inner.clone();
        th.push(spawn("store-flush", move || i.flush_loop()));
        let i = self.inner.clone();
        th.push(spawn("store-dispatch", move || i.dispatch_loop()));
        let i = self.inner.clone();
        th.push(spawn("store-housekeeping", move || i.housekeeping_loop()));
    }

    /// The configuration in use.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Commit-log min offset (start of the oldest file).
    pub fn commit_log_min_offset(&self) -> i64 {
        self.inner.log.min_offset() as i64
    }

    /// Commit-log max offset (end of the last record appended; HA: the slave's report).
    pub fn commit_log_max_offset(&self) -> i64 {
        self.inner.log.end() as i64
    }

    /// Commit-log offset below which everything is fsynced ("confirmed").
    pub fn commit_log_flushed_offset(&self) -> i64 {
        self.inner.log.flushed() as i64
    }

    /// Commit-log offset up to which records are visible in consume queues.
    pub fn dispatched_offset(&self) -> i64 {
        self.inner.reput.load(Ordering::Acquire) as i64
    }

    /// Commit-log file size.
    pub fn commit_log_file_size(&self) -> u64 {
        self.inner.config.mapped_file_size_commit_log
    }

    /// Damaged commit-log records skipped since open (by recovery and by dispatch): never
    /// served, never deleting what follows them. For the broker's metrics; each one is also
    /// logged with its offset.
    pub fn corrupt_records_skipped(&self) -> u64 {
        self.inner.corrupt_skipped.load(Ordering::Acquire)
    }

    /// What the last open found and did (scan range, torn tail, skipped damage, rebuilt
    /// queues, read-only state).
    pub fn recovery_report(&self) -> RecoveryReport {
        self.inner.report.lock().clone()
    }

    /// True while the store serves reads but refuses writes because recovery could not write
    /// (a full disk at open). Each put retries the pending writes; the first that succeeds
    /// ends this state.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only_flag.load(Ordering::Acquire)
    }

    /// The store's counters (fsyncs, replication bytes) and its fsync observer hook.
    pub fn stats(&self) -> &crate::stats::StoreStats {
        &self.inner.stats
    }

    /// Makes everything appended durable now and writes a checkpoint.
    pub fn flush(&self) -> Result<()> {
        self.inner.sync_log()?;
        while self.inner.dispatch_once()? {}
        self.inner.write_checkpoint(IndexFlush::Now)
    }

    /// Clean stop: stops the background threads, flushes everything, writes the checkpoint
    /// and removes `abort`, so the next open skips crash recovery.
    pub fn shutdown(&self) -> Result<()> {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop_threads();
        if let Some(f) = self.inner.fatal.lock().clone() {
            return Err(StoreError::Fatal(f));
        }
        self.inner.sync_log()?;
        while self.inner.dispatch_once()? {}
        self.inner.write_checkpoint(IndexFlush::Now)?;
        let abort = self.inner.root.join("abort");
        self.inner
            .fs
            .remove_file(&abort)
            .map_err(|e| StoreError::io(&abort, e))?;
        self.inner
            .fs
            .sync_dir(&self.inner.root)
            .map_err(|e| StoreError::io(&self.inner.root, e))?;
        tracing::info!(root = %self.inner.root.display(), end = self.inner.log.end(), "store shut down");
        Ok(())
    }

    fn stop_threads(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        self.inner.log.stop_zeroing();
        self.inner.wake_flusher();
        self.inner.wake_dispatcher();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for MessageStore {
    /// Without [`MessageStore::shutdown`] the threads stop but `abort` stays: the next open
    /// runs crash recovery (and ASYNC_FLUSH data not yet written is lost, as in a crash).
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// How long `open` keeps asking for a lock that another descriptor holds.
///
/// A process that forks (any `Command::spawn`) while it has a store open hands a copy of the
/// lock's descriptor to the child until the child execs, so a lock released a moment ago can
/// still look held for a few milliseconds. Only a holder that stays past this is "another
/// process" using the directory.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes the directory's exclusive lock, waiting out briefly inherited copies of it.
fn lock_exclusive(file: &std::fs::File, root: &Path, lock_path: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(StoreError::Locked(root.to_path_buf()));
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(StoreError::io(lock_path, std::io::Error::from(e))),
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    match std::thread::Builder::new().name(name.into()).spawn(f) {
        Ok(h) => h,
        // Thread creation only fails when the process is out of resources.
        Err(e) => panic!("cannot spawn {name}: {e}"),
    }
}

impl Inner {
    pub(crate) fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        qm_get(&self.queues.read(), topic, queue_id)
    }

    pub(crate) fn all_queues(&self) -> Vec<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    fn housekeeping_loop(&self) {
        let cp_every = Duration::from_millis(self.config.flush_interval_consume_queue.max(10));
        let clean_every = Duration::from_millis(self.config.clean_resource_interval.max(10));
        let mut last_cp = Instant::now();
        let mut last_clean = Instant::now();
        while !self.stopping.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(20).min(cp_every));
            if self.fatal.lock().is_some() {
                continue;
            }
            if last_cp.elapsed() >= cp_every && self.read_only_flag.load(Ordering::Acquire) {
                last_cp = Instant::now();
                if let Err(e) = self.retry_recovery() {
                    tracing::debug!(error = %e, "store still read-only");
                }
            } else if last_cp.elapsed() >= cp_every {
                last_cp = Instant::now();
                if let Err(e) = self.write_checkpoint(IndexFlush::IfDue) {
                    tracing::warn!(error = %e, "checkpoint failed");
                }
            }
            if last_clean.elapsed() >= clean_every {
                last_clean = Instant::now();
                if let Err(e) = self.retention(false) {
                    tracing::warn!(error = %e, "retention failed");
                }
            }
        }
    }

    /// Flushes consume queues (and the index files when `index` says so), then records how
    /// far the log and the dispatch are durable. Order matters: the checkpoint never claims
    /// more than is on disk, so between index flushes it claims records as dispatched only up
    /// to where the last index flush covered them.
    pub(crate) fn write_checkpoint(&self, index: IndexFlush) -> Result<()> {
        let (dispatched, ts) = {
            let _d = self.dispatch_lock.lock();
            (
                self.reput.load(Ordering::Acquire),
                self.last_dispatched_ts.load(Ordering::Acquire),
            )
        };
        let queues = self.all_queues();
        for q in queues {
            match q.sync() {
                Ok(()) => {}
                Err(SyncFail::Write(e)) => return Err(e),
                Err(SyncFail::Fsync(e)) => {
                    self.fatal(e.to_string());
                    return Err(e);
                }
            }
        }
        let every = Duration::from_millis(self.config.flush_interval_index);
        let last = *self.index_durable.lock();
        let index_state = match last {
            Some(d)
                if index == IndexFlush::IfDue
                    && self.config.message_index_enable
                    && d.at.elapsed() < every =>
            {
                d
            }
            _ => {
                let end = match self.index.flush() {
                    Ok(end) => end,
                    Err(SyncFail::Write(e)) => return Err(e),
                    Err(SyncFail::Fsync(e)) => {
                        self.fatal(e.to_string());
                        return Err(e);
                    }
                };
                // Every record below `dispatched` was indexed before this flush began.
                let d = IndexDurable {
                    covered: dispatched,
                    ts,
                    end,
                    at: Instant::now(),
                };
                *self.index_durable.lock() = Some(d);
                d
            }
        };
        let log_safe = self.log.flushed();
        let cp = Checkpoint {
            physic_msg_timestamp: self.last_store_ts.load(Ordering::Acquire),
            logics_msg_timestamp: ts,
            index_msg_timestamp: index_state.ts,
            log_safe_offset: log_safe,
            dispatch_safe_offset: dispatched.min(index_state.covered),
            index_end_offset: index_state.end.unwrap_or(0),
        };
        self.checkpoint.write(&cp)
    }
}

/// Whether a checkpoint flushes the index files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexFlush {
    /// When [`StoreConfig::flush_interval_index`] has passed since the last index flush (the
    /// periodic checkpoint).
    IfDue,
    /// Always: a clean stop, an explicit flush, the end of recovery, a truncation.
    Now,
}

/// What the index files held durably after their last flush.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexDurable {
    /// Dispatch offset when the flush began: every record below it is in the durable index.
    covered: u64,
    /// Store time of the last record dispatched then (the checkpoint's `indexMsgTimestamp`).
    ts: i64,
    /// Offset of the last record the durable index holds (`None`: no entry yet).
    end: Option<u64>,
    /// When the flush ran.
    at: Instant,
}
