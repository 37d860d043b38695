//! [`MessageStore`]: the commit log plus consume queues, index, flush, dispatch, recovery and
//! retention, behind one handle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, RwLock};
use tokio::sync::{broadcast, watch};

use crate::append::FlushState;
use crate::checkpoint::{Checkpoint, CheckpointFile};
use crate::config::{FlushDiskType, StoreConfig};
use crate::consume_queue::ConsumeQueue;
use crate::error::{Result, StoreError};
use crate::fs::{FileSystem, StdFs};
use crate::index::IndexService;
use crate::recovery::{
    DamageMap, RecoveryReport, damage_covering, find_next_valid, read_skipped_ranges, recover_log,
};
use crate::seglog::{SegLog, SyncFail};
use crate::types::QueueAdvance;

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

/// Per topic, per queue id: nested so that lookups by `&str` allocate nothing.
pub(crate) type QueueMap<V> = HashMap<String, HashMap<i32, V>>;

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

pub(crate) struct Inner {
    pub(crate) config: StoreConfig,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) root: PathBuf,
    pub(crate) log: SegLog,
    /// Next queue offset per queue; only touched with the commit-log tail lock held.
    pub(crate) queue_offsets: Mutex<QueueMap<i64>>,
    pub(crate) queues: RwLock<QueueMap<Arc<ConsumeQueue>>>,
    pub(crate) index: IndexService,
    pub(crate) checkpoint: CheckpointFile,
    /// Commit-log offset up to which records are dispatched.
    pub(crate) reput: AtomicU64,
    pub(crate) dispatch_lock: Mutex<()>,
    pub(crate) dispatch_signal: (Mutex<bool>, Condvar),
    pub(crate) flush_signal: (Mutex<bool>, Condvar),
    pub(crate) flush_tx: watch::Sender<FlushState>,
    pub(crate) advance_tx: broadcast::Sender<QueueAdvance>,
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
        rustix::fs::flock(
            &lock_file,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        )
        .map_err(|_| StoreError::Locked(root.clone()))?;
        let abort_path = root.join("abort");
        let crashed = abort_path.exists();
        // A process crash in this boot (not a power loss): the files hold every byte written.
        let same_boot = crashed
            && crate::recovery::boot_id()
                .is_some_and(|id| std::fs::read(&abort_path).is_ok_and(|b| b == id.as_bytes()));
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
            // written back made 128 appenders 3x slower (store bench, same run).
            config.flush_disk_type == FlushDiskType::AsyncFlush,
        )?;
        let started = Instant::now();
        let accepted = read_skipped_ranges(&root);
        let rec = recover_log(
            &log,
            &root,
            crashed && !same_boot,
            cp.as_ref(),
            config.check_crc_on_recover,
            config.skip_corrupt_record_on_recover,
            &accepted,
        )?;
        let log_end = rec.end;
        let scan_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            scanned_from = rec.scanned_from,
            scanned_bytes = rec.scanned_bytes,
            "commit log verified"
        );
        // What the scan accepted may still sit only in the page cache (the process died, the
        // machine did not): make it durable before a checkpoint can claim it.
        let verified_from = rec.scanned_from;
        for start in log.segment_starts() {
            if start + config.mapped_file_size_commit_log > verified_from
                && let Some(seg) = log.segment(start)
            {
                seg.file
                    .sync_data()
                    .map_err(|e| StoreError::io(&seg.path, e))?;
            }
        }
        // Writes recovery could not make (a full disk): the store opens read-only.
        let mut write_failure: Option<String> = None;
        if let Err(e) = log.set_end(log_end) {
            tracing::error!(error = %e, "cannot cut the commit log at its end; opening read-only");
            write_failure.get_or_insert(e.to_string());
        }
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "commit log synced and cut"
        );
        let log_min = log.min_offset();
        let mut dispatch_from = match cp {
            Some(cp) => cp.dispatch_safe_offset.min(log_end).max(log_min),
            None => log_min,
        };
        let index = IndexService::open(
            fs.clone(),
            &root.join("index"),
            config.max_hash_slot_num,
            config.max_index_num,
            (crashed || cp.is_none()).then(|| cp.map_or(0, |c| c.index_end_offset)),
        )?;
        let queues = load_queues(&fs, &root, &config, dispatch_from, log_min)?;
        // Re-dispatch from far enough back to rebuild damaged queue files and lost index files
        // (module docs of `recovery`).
        let mut damaged_queues = Vec::new();
        for q in queues.values().flat_map(|m| m.values()) {
            if q.damaged {
                damaged_queues.push((q.topic.clone(), q.queue_id));
                dispatch_from = dispatch_from.min(q.max_phys_end().max(log_min));
            }
        }
        let index_end = index.newest_end();
        if let Some(d) = index.dropped_from() {
            // Entries dropped after a crash (past the durable index) are indexed again.
            dispatch_from = dispatch_from.min(d.max(log_min));
        }
        if config.message_index_enable
            && let Some(cp) = cp
            && index_end.unwrap_or(0) < cp.index_end_offset
        {
            let from = index_end.unwrap_or(0).max(log_min);
            tracing::warn!(
                index_end = index_end.unwrap_or(0),
                checkpoint_index_end = cp.index_end_offset,
                from,
                "index files lost entries; re-indexing from the commit log"
            );
            dispatch_from = dispatch_from.min(from);
        }
        // Without a checkpoint everything is re-dispatched and re-indexed (lookups drop
        // duplicates); with one, records the index already holds are not indexed twice.
        index.set_skip_below(if cp.is_some() {
            index_end
                .unwrap_or(0)
                .min(log_end)
                .min(index.dropped_from().unwrap_or(u64::MAX))
        } else {
            0
        });
        let report = RecoveryReport {
            crashed,
            checkpoint_ok: cp.is_some(),
            log_min,
            log_end,
            scanned_from: rec.scanned_from,
            scanned_bytes: rec.scanned_bytes,
            scan_ms,
            untrusted_segments: rec.untrusted.clone(),
            torn_tail: rec.torn.clone(),
            skipped: rec.skipped.clone(),
            damaged_queues,
            dispatch_from,
            read_only: None,
        };
        let damage: DamageMap = rec.skipped.iter().map(|d| (d.from, d.to)).collect();
        let (flush_tx, _) = watch::channel(FlushState {
            flushed: log_end,
            fatal: false,
        });
        let (advance_tx, _) = broadcast::channel(4096);
        let delay_levels = config.delay_levels_ms();
        let inner = Arc::new(Inner {
            config,
            fs: fs.clone(),
            root: root.clone(),
            log,
            queue_offsets: Mutex::new(HashMap::new()),
            queues: RwLock::new(queues),
            index,
            checkpoint,
            reput: AtomicU64::new(dispatch_from),
            dispatch_lock: Mutex::new(()),
            dispatch_signal: (Mutex::new(false), Condvar::new()),
            flush_signal: (Mutex::new(false), Condvar::new()),
            flush_tx,
            advance_tx,
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
            corrupt_skipped: AtomicU64::new(rec.skipped.len() as u64),
            deleted_topics: Mutex::new(HashMap::new()),
            has_deleted_topics: AtomicBool::new(false),
            damage: RwLock::new(damage),
            warned_at: AtomicU64::new(u64::MAX),
            index_deferred: Mutex::new(None),
            stats: Default::default(),
            report: Mutex::new(report),
            read_only: Mutex::new(None),
            read_only_flag: AtomicBool::new(false),
            _lock_file: lock_file,
        });
        // Re-dispatch the tail synchronously: the broker must not serve before the queues
        // reflect the recovered log. On a full disk the queues fill in memory as far as they
        // can, and the store opens read-only (module docs of `recovery`).
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            dispatch_from,
            "queues and index loaded"
        );
        let finished = match write_failure {
            Some(e) => Err(e),
            None => inner.finish_recovery().map_err(|e| e.to_string()),
        };
        if let Err(msg) = finished {
            tracing::error!(error = %msg, "recovery could not write; the store serves reads and refuses writes until the disk accepts writes again");
            inner.report.lock().read_only = Some(msg.clone());
            *inner.read_only.lock() = Some((msg, log_end));
            inner.read_only_flag.store(true, Ordering::Release);
            // Queues fill in memory as far as they can; index writes are deferred.
            while matches!(inner.dispatch_once(), Ok(true)) {}
            inner.rebuild_queue_offsets();
        }
        tracing::info!(
            root = %root.display(),
            crashed,
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
        self.inner.write_checkpoint()
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
        self.inner.write_checkpoint()?;
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

pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    match std::thread::Builder::new().name(name.into()).spawn(f) {
        Ok(h) => h,
        // Thread creation only fails when the process is out of resources.
        Err(e) => panic!("cannot spawn {name}: {e}"),
    }
}

pub(crate) fn load_queues(
    fs: &Arc<dyn FileSystem>,
    root: &Path,
    config: &StoreConfig,
    dispatch_from: u64,
    log_min: u64,
) -> Result<QueueMap<Arc<ConsumeQueue>>> {
    let mut out = HashMap::new();
    let cq_root = root.join("consumequeue");
    let Ok(topics) = std::fs::read_dir(&cq_root) else {
        return Ok(out);
    };
    for t in topics.flatten() {
        let Some(topic) = t.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Ok(qids) = std::fs::read_dir(t.path()) else {
            continue;
        };
        for q in qids.flatten() {
            let Some(qid) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let cq = ConsumeQueue::open(
                fs.clone(),
                &q.path(),
                &topic,
                qid,
                config.consume_queue_file_size(),
            )?;
            // Entries at or past the re-dispatch point are rebuilt from the commit log.
            cq.truncate_from_phys(dispatch_from)?;
            cq.trim_below(log_min)?;
            qm_set(&mut out, &topic, qid, Arc::new(cq));
        }
    }
    Ok(out)
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

    /// The writes that end recovery: re-dispatch, queue offsets, checkpoint, `abort` marker.
    pub(crate) fn finish_recovery(&self) -> Result<()> {
        while self.dispatch_once()? {}
        self.rebuild_queue_offsets();
        self.write_checkpoint()?;
        let abort = self.root.join("abort");
        let f = self
            .fs
            .open(&abort, true)
            .map_err(|e| StoreError::io(&abort, e))?;
        // The boot the marker was written in: a crash within the same boot was a process
        // death, whose page cache kept every written byte (no holes), see `recovery`.
        if let Some(id) = crate::recovery::boot_id() {
            f.set_len(0)
                .and_then(|_| f.write_all_at(id.as_bytes(), 0))
                .and_then(|_| f.sync_data())
                .map_err(|e| StoreError::io(&abort, e))?;
        }
        self.fs
            .sync_dir(&self.root)
            .map_err(|e| StoreError::io(&self.root, e))
    }

    /// Read-only after a full disk at open: retries recovery's writes; on success writes are
    /// accepted again.
    pub(crate) fn retry_recovery(&self) -> Result<()> {
        let mut ro = self.read_only.lock();
        let Some((_, end)) = ro.clone() else {
            return Ok(());
        };
        {
            // Nothing was appended meanwhile: re-apply the end (zeroing past it).
            let _d = self.dispatch_lock.lock();
            if self.log.end() == end {
                self.log.set_end(end)?;
            }
            // Index what was deferred (queue entries already there are recognised).
            if let Some(from) = self.index_deferred.lock().take() {
                self.reput.fetch_min(from, Ordering::AcqRel);
            }
        }
        self.finish_recovery()?;
        *ro = None;
        self.read_only_flag.store(false, Ordering::Release);
        self.report.lock().read_only = None;
        tracing::info!("recovery's writes succeeded; the store accepts writes again");
        Ok(())
    }

    /// Dispatch met an invalid record at `at` (or a missing file): steps over a known damaged
    /// range, or resyncs to the next valid record below `target` and counts the damage. With
    /// nothing valid after it yet, waits (false) without giving up.
    pub(crate) fn step_over_damage(&self, at: u64, target: u64, reason: String) -> Result<bool> {
        let known = damage_covering(&self.damage.read(), at);
        if let Some(to) = known {
            self.reput.store(to, Ordering::Release);
            return Ok(true);
        }
        let fsz = self.config.mapped_file_size_commit_log;
        let read = |off: u64, len: usize| -> Result<Option<Vec<u8>>> {
            if off >= target {
                return Ok(Some(Vec::new()));
            }
            self.log.read_upto(off, len.min((target - off) as usize))
        };
        let next_segment = |s: u64| self.log.segment_starts().into_iter().find(|x| *x > s);
        let next_data = |off: u64| -> Result<Option<u64>> { Ok(Some(off)) };
        match find_next_valid(&read, &next_data, &next_segment, fsz, at, target)? {
            Some(next) => {
                tracing::error!(
                    offset = at,
                    next_valid = next,
                    reason,
                    "dispatch stepped over a damaged commit-log range"
                );
                self.corrupt_skipped.fetch_add(1, Ordering::AcqRel);
                self.damage.write().insert(at, next);
                self.reput.store(next, Ordering::Release);
                Ok(true)
            }
            None => {
                if self.warned_at.swap(at, Ordering::AcqRel) != at {
                    tracing::warn!(
                        offset = at,
                        reason,
                        "dispatch waits at an invalid record: no valid record follows it yet"
                    );
                }
                Ok(false)
            }
        }
    }

    pub(crate) fn housekeeping_loop(&self) {
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
                if let Err(e) = self.write_checkpoint() {
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

    /// Flushes consume queues and index files, then records how far the log and the
    /// dispatch are durable. Order matters: the checkpoint never claims more than is on disk.
    pub(crate) fn write_checkpoint(&self) -> Result<()> {
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
        let index_end = match self.index.flush() {
            Ok(end) => end,
            Err(SyncFail::Write(e)) => return Err(e),
            Err(SyncFail::Fsync(e)) => {
                self.fatal(e.to_string());
                return Err(e);
            }
        };
        let log_safe = self.log.flushed();
        let cp = Checkpoint {
            physic_msg_timestamp: self.last_store_ts.load(Ordering::Acquire),
            logics_msg_timestamp: ts,
            index_msg_timestamp: ts,
            log_safe_offset: log_safe,
            dispatch_safe_offset: dispatched,
            index_end_offset: index_end.unwrap_or(0),
        };
        self.checkpoint.write(&cp)
    }
}
