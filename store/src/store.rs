//! [`MessageStore`]: the commit log plus consume queues, index, flush, dispatch, recovery and
//! retention, behind one handle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};
use remoting::message::record::{
    BLANK_MAGIC_CODE, MAGIC_CODE_V1, MAGIC_CODE_V2, MIN_RECORD_LEN, POS_PHYSICAL_OFFSET,
    POS_QUEUE_OFFSET, decode_view, encode_into, peek_header, pos_store_timestamp,
};
use remoting::message::{MessageRecord, keys, push_offset_msg_id, sysflag, tags_code};
use tokio::sync::{broadcast, watch};

use crate::checkpoint::{Checkpoint, CheckpointFile};
use crate::config::{FlushDiskType, StoreConfig};
use crate::consume_queue::{ConsumeQueue, CqEntry};
use crate::error::{Result, StoreError};
use crate::fs::{FileSystem, StdFs};
use crate::index::IndexService;
use crate::recovery::{
    CHUNK, DamageMap, RecoveryReport, Scan, damage_covering, find_next_valid, read_skipped_ranges,
    recover_log, scan_one,
};
use crate::seglog::{SegLog, SyncFail};
use crate::types::{
    AppendResult, GetResult, GetStatus, PutResult, PutStatus, QueueAdvance, TagFilter,
};

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

const PAGE: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlushState {
    flushed: u64,
    fatal: bool,
}

/// Per topic, per queue id: nested so that lookups by `&str` allocate nothing.
type QueueMap<V> = HashMap<String, HashMap<i32, V>>;

fn qm_get<V: Clone>(m: &QueueMap<V>, topic: &str, queue_id: i32) -> Option<V> {
    m.get(topic).and_then(|q| q.get(&queue_id)).cloned()
}

fn qm_set<V>(m: &mut QueueMap<V>, topic: &str, queue_id: i32, v: V) {
    match m.get_mut(topic) {
        Some(q) => {
            q.insert(queue_id, v);
        }
        None => {
            m.entry(topic.to_string()).or_default().insert(queue_id, v);
        }
    }
}

struct Inner {
    config: StoreConfig,
    fs: Arc<dyn FileSystem>,
    root: PathBuf,
    log: SegLog,
    /// Next queue offset per queue; only touched with the commit-log tail lock held.
    queue_offsets: Mutex<QueueMap<i64>>,
    queues: RwLock<QueueMap<Arc<ConsumeQueue>>>,
    index: IndexService,
    checkpoint: CheckpointFile,
    /// Commit-log offset up to which records are dispatched.
    reput: AtomicU64,
    dispatch_lock: Mutex<()>,
    dispatch_signal: (Mutex<bool>, Condvar),
    flush_signal: (Mutex<bool>, Condvar),
    flush_tx: watch::Sender<FlushState>,
    advance_tx: broadcast::Sender<QueueAdvance>,
    stopping: AtomicBool,
    shut_down: AtomicBool,
    fatal: Mutex<Option<String>>,
    /// Mirrors `fatal.is_some()` so the append path checks it without a lock.
    fatal_flag: AtomicBool,
    fatal_hook: FatalHook,
    disk_full: AtomicBool,
    /// Set while writing the commit log fails (ENOSPC, EIO); puts are refused meanwhile.
    write_failing: AtomicBool,
    last_store_ts: AtomicI64,
    last_dispatched_ts: AtomicI64,
    delay_levels: Vec<i64>,
    /// Deleted topics → the commit-log end at deletion: records of the topic below it are
    /// not dispatched (they belong to the deleted incarnation), so a queue re-created after
    /// the deletion holds only the new records.
    deleted_topics: Mutex<HashMap<String, u64>>,
    has_deleted_topics: AtomicBool,
    /// Damaged commit-log ranges (start → end) that dispatch steps over.
    damage: RwLock<DamageMap>,
    /// Damaged records skipped so far (recovery and dispatch).
    corrupt_skipped: AtomicU64,
    /// Read-only mode: the first record whose index entries could not be written; dispatch
    /// is rewound to it when writes succeed again.
    index_deferred: Mutex<Option<u64>>,
    /// Last offset dispatch warned about waiting at (one log line per offset, not per poll).
    warned_at: AtomicU64,
    /// What the last open found.
    report: Mutex<RecoveryReport>,
    /// Set while recovery's writes are pending (a full disk at open): reads are served, writes
    /// refused. Holds the commit-log end recovery found, to re-apply before writes resume.
    read_only: Mutex<Option<(String, u64)>>,
    read_only_flag: AtomicBool,
    /// Counters for the broker's metrics.
    stats: crate::stats::StoreStats,
    _lock_file: std::fs::File,
}

/// The broker's message store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct MessageStore {
    inner: Arc<Inner>,
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn valid_topic(t: &str) -> bool {
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

    /// Appends one message and resolves when it is as durable as configured: under SYNC_FLUSH
    /// (and `WAIT` ≠ "false") after its fsync, else at once. `queue_offset`,
    /// `physical_offset`, `store_timestamp` and `body_crc` are assigned by the store. A
    /// message with `DELAY` > 0 (not prepared/rollback) is rewritten to
    /// `SCHEDULE_TOPIC_XXXX` (spec §5.2). The `WAIT` property is stripped before storage.
    pub async fn put_message(&self, msg: MessageRecord) -> PutResult {
        self.put_messages(vec![msg]).await
    }

    /// Appends a batch (all items to the first item's topic and queue, contiguous in one
    /// commit-log file), with the same durability rule as [`MessageStore::put_message`].
    pub async fn put_messages(&self, msgs: Vec<MessageRecord>) -> PutResult {
        self.put_messages_with(msgs, true).await
    }

    /// Appends a message the schedule service delivers from `SCHEDULE_TOPIC_XXXX` to its real
    /// topic: stored as it is, `DELAY` property included (Java's delivered delayed messages keep
    /// `DELAY`, `REAL_TOPIC` and `REAL_QID`), without being delayed again.
    pub async fn put_delayed_delivery(&self, msg: MessageRecord) -> PutResult {
        self.put_messages_with(vec![msg], false).await
    }

    async fn put_messages_with(&self, msgs: Vec<MessageRecord>, honour_delay: bool) -> PutResult {
        let wait = msgs.first().is_some_and(|m| {
            m.properties
                .get(keys::WAIT)
                .map(|w| w.trim() != "false")
                .unwrap_or(true)
        });
        let res = match self.inner.append(msgs, honour_delay) {
            Ok(r) => r,
            Err(r) => return r,
        };
        if self.inner.config.flush_disk_type == FlushDiskType::AsyncFlush
            && let Err(e) = self.inner.write_through(res.end_offset as u64)
        {
            return PutResult::fail(PutStatus::DiskError, e.to_string());
        }
        if self.inner.config.flush_disk_type == FlushDiskType::SyncFlush && wait {
            let status = self.wait_flushed(res.end_offset as u64).await;
            return PutResult {
                status,
                append: Some(res),
                error: (status == PutStatus::UnknownError)
                    .then(|| "store stopped after a failed fsync".to_string()),
            };
        }
        PutResult {
            status: PutStatus::PutOk,
            append: Some(res),
            error: None,
        }
    }

    /// Waits until the commit log is durable up to `end` (for callers that appended with
    /// `WAIT=false` and changed their mind, and for the HA layer).
    pub async fn wait_flushed(&self, end: u64) -> PutStatus {
        let mut rx = self.inner.flush_tx.subscribe();
        self.inner.wake_flusher();
        let fut = rx.wait_for(|s| s.fatal || s.flushed >= end);
        match tokio::time::timeout(self.inner.config.sync_flush_timeout(), fut).await {
            Ok(Ok(s)) if !s.fatal => PutStatus::PutOk,
            Ok(_) => PutStatus::UnknownError,
            Err(_) => PutStatus::FlushDiskTimeout,
        }
    }

    /// Reads up to `max_msgs` records (and about `max_bytes`; at least one record when any
    /// matches) from a queue, following Java's `getMessage` rules for statuses and next
    /// offsets (spec §5.12). `filter` sees each entry's tags code. `_group` is accepted for
    /// API parity and unused.
    #[allow(clippy::too_many_arguments)]
    pub fn get_message(
        &self,
        _group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msgs: usize,
        max_bytes: usize,
        filter: Option<TagFilter<'_>>,
    ) -> Result<GetResult> {
        let Some(q) = self.inner.queue(topic, queue_id) else {
            return Ok(GetResult::empty(GetStatus::NoMatchedLogicQueue, 0, 0, 0));
        };
        let (min, max) = (q.min_offset(), q.max_offset());
        if max == 0 {
            return Ok(GetResult::empty(GetStatus::NoMessageInQueue, 0, min, max));
        }
        if offset < min {
            return Ok(GetResult::empty(GetStatus::OffsetTooSmall, min, min, max));
        }
        if offset == max {
            return Ok(GetResult::empty(
                GetStatus::OffsetOverflowOne,
                offset,
                min,
                max,
            ));
        }
        if offset > max {
            return Ok(GetResult::empty(
                GetStatus::OffsetOverflowBadly,
                max,
                min,
                max,
            ));
        }
        let max_msgs = max_msgs.max(1);
        let scan = (16000 / 20)
            .max(max_msgs.saturating_mul(20))
            .min((max - offset) as usize);
        let entries = q.entries(offset, scan)?;
        if entries.is_empty() {
            return Ok(GetResult::empty(
                GetStatus::OffsetFoundNull,
                offset,
                min,
                max,
            ));
        }
        let log_min = self.inner.log.min_offset();
        let mut out = GetResult::empty(GetStatus::NoMatchedMessage, offset, min, max);
        let mut bytes = 0usize;
        let mut scanned = 0i64;
        let mut removed = false;
        let mut i = 0;
        while i < entries.len() {
            if out.messages.len() >= max_msgs || (bytes >= max_bytes && !out.messages.is_empty()) {
                break;
            }
            let e = entries[i];
            if e.size == i32::MAX || e.size <= 0 {
                scanned += 1;
                i += 1;
                continue;
            }
            if (e.phys_offset as u64) < log_min {
                removed = true;
                scanned += 1;
                i += 1;
                continue;
            }
            if let Some(f) = filter
                && !f(e.tags_code)
            {
                scanned += 1;
                i += 1;
                continue;
            }
            // Read a run of adjacent matching records with one read.
            let mut j = i + 1;
            let mut run_len = e.size as usize;
            let mut take = 1;
            while j < entries.len()
                && out.messages.len() + take < max_msgs
                && bytes + run_len < max_bytes
                && entries[j].phys_offset == entries[j - 1].phys_offset + entries[j - 1].size as i64
                && entries[j].size > 0
                && entries[j].size != i32::MAX
                && filter.is_none_or(|f| f(entries[j].tags_code))
                && run_len + (entries[j].size as usize) <= 1 << 20
                && (entries[j].phys_offset as u64) / self.inner.config.mapped_file_size_commit_log
                    == (e.phys_offset as u64) / self.inner.config.mapped_file_size_commit_log
            {
                run_len += entries[j].size as usize;
                take += 1;
                j += 1;
            }
            let Some(buf) = self.inner.log.read(e.phys_offset as u64, run_len)? else {
                removed = true;
                scanned += 1;
                i += 1;
                continue;
            };
            let buf = Bytes::from(buf);
            let mut pos = 0usize;
            for (k, ent) in entries.iter().enumerate().take(j).skip(i) {
                let sz = ent.size as usize;
                let rec = buf.slice(pos..pos + sz);
                pos += sz;
                // A record that fails verification (size, layout, body CRC) is not served.
                let ok = decode_view(&rec).is_ok_and(|v| {
                    v.total_size as usize == sz
                        && v.physical_offset == ent.phys_offset
                        && v.crc_ok()
                });
                if !ok {
                    tracing::error!(
                        topic,
                        queue_id,
                        offset = ent.phys_offset,
                        "record failed verification; not served"
                    );
                }
                if ok {
                    bytes += sz;
                    out.messages.push(rec);
                    out.queue_offsets.push(offset + k as i64);
                }
            }
            scanned += (j - i) as i64;
            i = j;
        }
        out.next_begin_offset = offset + scanned;
        out.status = if !out.messages.is_empty() {
            GetStatus::Found
        } else if removed {
            GetStatus::MessageWasRemoving
        } else {
            GetStatus::NoMatchedMessage
        };
        Ok(out)
    }

    /// Max offset (next offset to be written) of a queue; 0 if unknown.
    pub fn max_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .queue(topic, queue_id)
            .map(|q| q.max_offset())
            .unwrap_or(0)
    }

    /// Min offset of a queue; 0 if unknown.
    pub fn min_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .queue(topic, queue_id)
            .map(|q| q.min_offset())
            .unwrap_or(0)
    }

    /// Queue offset of the first message stored at or after `timestamp` ms
    /// (SEARCH_OFFSET_BY_TIMESTAMP); the max offset when all are older, 0 for no queue.
    pub fn offset_in_queue_by_time(
        &self,
        topic: &str,
        queue_id: i32,
        timestamp: i64,
    ) -> Result<i64> {
        let Some(q) = self.inner.queue(topic, queue_id) else {
            return Ok(0);
        };
        q.offset_for_time(timestamp, |e| {
            self.inner.store_time_at(e.phys_offset as u64)
        })
    }

    /// Store time of the message at `offset` of a queue.
    pub fn message_store_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Result<Option<i64>> {
        let Some(q) = self.inner.queue(topic, queue_id) else {
            return Ok(None);
        };
        Ok(match q.entry(offset)? {
            Some(e) if e.size > 0 && e.size != i32::MAX => {
                self.inner.store_time_at(e.phys_offset as u64)
            }
            _ => None,
        })
    }

    /// Store time of the oldest readable message of a queue (GET_EARLIEST_MSG_STORETIME).
    pub fn earliest_message_time(&self, topic: &str, queue_id: i32) -> Result<Option<i64>> {
        let min = self.min_offset_in_queue(topic, queue_id);
        self.message_store_timestamp(topic, queue_id, min)
    }

    /// The record at commit-log offset `offset` (VIEW_MESSAGE_BY_ID), verified.
    pub fn look_message_by_offset(&self, offset: i64) -> Result<Option<Bytes>> {
        if offset < 0 {
            return Ok(None);
        }
        self.inner.read_record(offset as u64)
    }

    /// Records of `topic` whose `KEYS` entry or `UNIQ_KEY` equals `key`, stored within
    /// `[begin, end]` ms, newest first, at most `max` (QUERY_MESSAGE).
    pub fn query_message(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Result<Vec<Bytes>> {
        let offs =
            self.inner
                .index
                .query(topic, key, max.saturating_mul(2).max(max), begin, end)?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for off in offs {
            if out.len() >= max || !seen.insert(off) {
                continue;
            }
            let Some(rec) = self.inner.read_record(off as u64)? else {
                continue;
            };
            let Ok(v) = decode_view(&rec) else { continue };
            let matches = v.topic == topic
                && (v.property(keys::UNIQ_KEY) == Some(key)
                    || v.property(keys::KEYS)
                        .is_some_and(|ks| ks.split(keys::KEY_SEPARATOR).any(|k| k == key)));
            if matches {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Subscribes to queue advances: one event per queue per dispatch round, sent only for
    /// records that are readable (under SYNC_FLUSH: durable). A lagging receiver gets
    /// `RecvError::Lagged` and should then re-check all parked pulls.
    pub fn subscribe_advances(&self) -> broadcast::Receiver<QueueAdvance> {
        self.inner.advance_tx.subscribe()
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

    /// Raw commit-log bytes from `offset`, at most `max` and never across a file boundary
    /// (HA transfer). `None` when `offset` is below the min offset (deleted); empty at the end.
    pub fn read_commit_log(&self, offset: i64, max: usize) -> Result<Option<Bytes>> {
        if offset < 0 || (offset as u64) < self.inner.log.min_offset() {
            return Ok(None);
        }
        let data = self.inner.log.read_upto(offset as u64, max)?;
        if let Some(d) = &data {
            let n = d.len() as u64;
            self.inner
                .stats
                .ha_bytes_read
                .fetch_add(n, Ordering::Relaxed);
        }
        Ok(data.map(Bytes::from))
    }

    /// Slave side of HA: appends raw bytes received from the master at `offset`, which must
    /// equal [`MessageStore::commit_log_max_offset`] (or, on an empty log, any file-aligned
    /// offset: a fresh slave starts at the master's last file). Bytes may cut records anywhere;
    /// dispatch waits for whole records. Durability follows the flush settings.
    pub fn append_raw(&self, offset: i64, data: &[u8]) -> Result<()> {
        self.inner
            .check_writable()
            .map_err(|r| StoreError::Config(r.error.unwrap_or_default()))?;
        let inner = &self.inner;
        let fsz = inner.config.mapped_file_size_commit_log;
        let mut tail = inner.log.lock();
        let end = tail.end();
        let offset = u64::try_from(offset)
            .map_err(|_| StoreError::Config(format!("negative offset {offset}")))?;
        if offset != end {
            let empty = inner.log.segment_starts().is_empty() && end == inner.log.min_offset();
            if !(empty && offset % fsz == 0) {
                return Err(StoreError::Config(format!(
                    "raw append at {offset} but the commit log ends at {end}"
                )));
            }
            drop(tail);
            inner.log.set_end(offset)?;
            inner.reput.store(offset, Ordering::Release);
            tail = inner.log.lock();
        }
        let mut rest = data;
        while !rest.is_empty() {
            let room = inner.log.room(&tail) as usize;
            let n = rest.len().min(room);
            inner.log.prepare(&mut tail, n)?;
            inner.log.append(&mut tail, &rest[..n])?;
            rest = &rest[n..];
        }
        drop(tail);
        inner.after_append();
        let n = data.len() as u64;
        inner
            .stats
            .ha_bytes_appended
            .fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Cuts the commit log back to `offset` (a record boundary), e.g. a slave's tail that
    /// diverged from a new master. Consume-queue entries past it are dropped.
    pub fn truncate_commit_log(&self, offset: i64) -> Result<()> {
        let inner = &self.inner;
        let offset = u64::try_from(offset)
            .map_err(|_| StoreError::Config(format!("negative offset {offset}")))?;
        let _d = inner.dispatch_lock.lock();
        {
            let _t = inner.log.lock();
        }
        if offset >= inner.log.end() {
            return Ok(());
        }
        tracing::warn!(offset, end = inner.log.end(), "truncating commit log");
        // Everything kept must be durable before the durable mark moves to `offset`.
        inner.sync_log()?;
        inner.log.set_end(offset)?;
        for q in inner.all_queues() {
            q.truncate_from_phys(offset)?;
        }
        inner.index.set_skip_below(0);
        inner.damage.write().retain(|from, _| *from < offset);
        inner.reput.fetch_min(offset, Ordering::AcqRel);
        inner.rebuild_queue_offsets();
        inner
            .flush_tx
            .send_modify(|s| s.flushed = s.flushed.min(offset));
        Ok(())
    }

    /// Slave side of HA (reliability #3388): discards the whole commit log, every consume
    /// queue and the index, and restarts the empty log at `offset`, which must be a multiple of
    /// the commit-log file size (the master's min offset). Used when the slave's position no
    /// longer exists on the master (retention removed it): the next [`MessageStore::append_raw`]
    /// at `offset` continues, and dispatch rebuilds the queues at the logical offsets the
    /// replicated records carry. The checkpoint is rewritten before returning, so a crash
    /// afterwards recovers an empty log rather than the old one.
    pub fn reset_to(&self, offset: i64) -> Result<()> {
        let inner = &self.inner;
        let fsz = inner.config.mapped_file_size_commit_log;
        let offset = u64::try_from(offset)
            .map_err(|_| StoreError::Config(format!("negative offset {offset}")))?;
        if offset % fsz != 0 {
            return Err(StoreError::Config(format!(
                "reset offset {offset} is not a multiple of the commit-log file size {fsz}"
            )));
        }
        {
            // Dispatch is stopped for the whole swap: no entry of the old log lands in a queue
            // of the new one.
            let _d = inner.dispatch_lock.lock();
            tracing::warn!(
                offset,
                old_min = inner.log.min_offset(),
                old_end = inner.log.end(),
                "resetting the store: dropping the commit log, consume queues and index"
            );
            inner.log.destroy()?;
            inner.log.set_end(offset)?;
            let victims: Vec<(String, Vec<Arc<ConsumeQueue>>)> = {
                let mut qs = inner.queues.write();
                std::mem::take(&mut *qs)
                    .into_iter()
                    .map(|(t, m)| (t, m.into_values().collect()))
                    .collect()
            };
            {
                let _t = inner.log.lock();
                inner.queue_offsets.lock().clear();
            }
            for (topic, queues) in victims {
                for q in queues {
                    q.destroy()?;
                }
                let dir = inner.root.join("consumequeue").join(&topic);
                if valid_topic(&topic) && dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
                }
            }
            inner.index.clear()?;
            inner.index.set_skip_below(0);
            inner.damage.write().clear();
            inner.reput.store(offset, Ordering::Release);
            inner.flush_tx.send_modify(|s| s.flushed = offset);
        }
        inner.write_checkpoint()
    }

    /// Drops a topic's consume queues (DELETE_TOPIC_IN_BROKER). Its records stay in the
    /// commit log until retention removes them.
    pub fn delete_topic(&self, topic: &str) -> Result<()> {
        // Serialised with queue creation: queues are only created by dispatch, under this
        // lock, so a queue of `topic` cannot be re-created (and its new files then unlinked
        // by the removal below) until the old files are gone.
        let _d = self.inner.dispatch_lock.lock();
        let victims: Vec<Arc<ConsumeQueue>> = {
            let mut qs = self.inner.queues.write();
            qs.remove(topic)
                .map(|m| m.into_values().collect())
                .unwrap_or_default()
        };
        {
            let t = self.inner.log.lock();
            self.inner.queue_offsets.lock().remove(topic);
            self.inner
                .deleted_topics
                .lock()
                .insert(topic.to_string(), t.end());
            self.inner.has_deleted_topics.store(true, Ordering::Release);
        }
        for q in victims {
            q.destroy()?;
        }
        let dir = self.inner.root.join("consumequeue").join(topic);
        if valid_topic(topic) && dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        Ok(())
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

    /// Topics and queue ids known to the store.
    pub fn queues(&self) -> Vec<(String, i32)> {
        let mut v: Vec<(String, i32)> = self
            .inner
            .queues
            .read()
            .iter()
            .flat_map(|(t, m)| m.keys().map(move |q| (t.clone(), *q)))
            .collect();
        v.sort();
        v
    }

    /// Runs one retention round now (what the background thread does every
    /// `cleanResourceInterval`): deletes expired commit-log files at a `deleteWhen` hour,
    /// or whenever disk use passes `diskMaxUsedSpaceRatio`, or regardless of age past the
    /// forced ratio. Returns the number of commit-log files deleted.
    pub fn run_retention(&self) -> Result<usize> {
        self.inner.retention(false)
    }

    /// Deletes expired commit-log files now regardless of the hour (TRIGGER_DELETE_FILES).
    pub fn delete_expired_files_now(&self) -> Result<usize> {
        self.inner.retention(true)
    }

    /// The store's counters (fsyncs, replication bytes) and its fsync observer hook.
    pub fn stats(&self) -> &crate::stats::StoreStats {
        &self.inner.stats
    }

    /// Used fraction (0–1) of the file system holding the commit log, measured now the way
    /// retention and the disk-full check measure it (`diskMaxUsedSpaceRatio` compares with it).
    pub fn disk_usage_ratio(&self) -> Option<f64> {
        let dir = self.inner.config.commit_log_dir();
        self.inner.fs.disk_usage(&dir).ok()
    }

    /// True while puts are refused because disk use passed `diskSpaceWarningLevelRatio`.
    pub fn is_disk_full(&self) -> bool {
        self.inner.disk_full.load(Ordering::Acquire)
    }

    /// Makes everything appended durable now and writes a checkpoint.
    pub fn flush(&self) -> Result<()> {
        self.inner.sync_log()?;
        while self.inner.dispatch_once()? {}
        self.inner.write_checkpoint()
    }

    // ---- failover hook (issue #22, docs/failover.md): the only failover edit in this file ----
    /// A slave promoted to master: makes what replication appended durable and dispatched,
    /// then takes each queue's next offset from its consume queue (appends by HA do not advance
    /// the put path's queue offsets; without this the first puts would reuse queue offsets).
    /// Call it before the first put, after the HA client stopped appending.
    pub fn prepare_for_puts(&self) -> Result<()> {
        self.flush()?;
        self.inner.rebuild_queue_offsets();
        Ok(())
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

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    match std::thread::Builder::new().name(name.into()).spawn(f) {
        Ok(h) => h,
        // Thread creation only fails when the process is out of resources.
        Err(e) => panic!("cannot spawn {name}: {e}"),
    }
}

fn load_queues(
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
    fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        qm_get(&self.queues.read(), topic, queue_id)
    }

    fn all_queues(&self) -> Vec<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    fn queue_or_create(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>> {
        if let Some(q) = self.queue(topic, queue_id) {
            return Ok(q);
        }
        let mut qs = self.queues.write();
        if let Some(q) = qm_get(&qs, topic, queue_id) {
            return Ok(q);
        }
        let dir = self
            .root
            .join("consumequeue")
            .join(topic)
            .join(queue_id.to_string());
        let q = Arc::new(ConsumeQueue::open(
            self.fs.clone(),
            &dir,
            topic,
            queue_id,
            self.config.consume_queue_file_size(),
        )?);
        qm_set(&mut qs, topic, queue_id, q.clone());
        Ok(q)
    }

    /// The writes that end recovery: re-dispatch, queue offsets, checkpoint, `abort` marker.
    fn finish_recovery(&self) -> Result<()> {
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
    fn retry_recovery(&self) -> Result<()> {
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
    fn step_over_damage(&self, at: u64, target: u64, reason: String) -> Result<bool> {
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

    fn rebuild_queue_offsets(&self) {
        let _t = self.log.lock();
        let mut qo = self.queue_offsets.lock();
        qo.clear();
        for q in self.all_queues() {
            qm_set(&mut qo, &q.topic, q.queue_id, q.max_offset());
        }
    }

    #[allow(clippy::result_large_err)]
    fn check_writable(&self) -> std::result::Result<(), PutResult> {
        if self.read_only_flag.load(Ordering::Acquire)
            && let Err(e) = self.retry_recovery()
        {
            return Err(PutResult::fail(
                PutStatus::DiskError,
                format!(
                    "store is read-only: recovery could not write ({e}); writes resume when \
                     the disk accepts writes again"
                ),
            ));
        }
        if self.fatal_flag.load(Ordering::Acquire)
            && let Some(f) = self.fatal.lock().as_ref()
        {
            return Err(PutResult::fail(
                PutStatus::ServiceNotAvailable,
                format!("store stopped: {f}"),
            ));
        }
        if self.stopping.load(Ordering::Acquire) {
            return Err(PutResult::fail(
                PutStatus::ServiceNotAvailable,
                "store is shut down",
            ));
        }
        if self.disk_full.load(Ordering::Acquire) {
            return Err(PutResult::fail(
                PutStatus::ServiceNotAvailable,
                "disk full: store is not writable",
            ));
        }
        if self.write_failing.load(Ordering::Acquire) {
            // Retry the write here so that appends resume as soon as the disk recovers.
            if let Err(e) = self.sync_log() {
                return Err(PutResult::fail(
                    PutStatus::DiskError,
                    format!("commit log not writable: {e}"),
                ));
            }
        }
        Ok(())
    }

    /// Encodes and appends; returns where the records went. The encode happens before the
    /// lock; offsets and the store time are patched in under it.
    #[allow(clippy::result_large_err)]
    fn append(
        &self,
        mut msgs: Vec<MessageRecord>,
        honour_delay: bool,
    ) -> std::result::Result<AppendResult, PutResult> {
        self.check_writable()?;
        let Some(first) = msgs.first() else {
            return Err(PutResult::fail(PutStatus::MessageIllegal, "empty batch"));
        };
        let ty = sysflag::transaction_type(first.sys_flag);
        let mut topic = first.topic.clone();
        let mut queue_id = first.queue_id;
        if !valid_topic(&topic) {
            return Err(PutResult::fail(
                PutStatus::MessageIllegal,
                format!("illegal topic {topic:?}"),
            ));
        }
        if msgs.len() > 1 && ty != sysflag::TRANSACTION_NOT_TYPE {
            return Err(PutResult::fail(
                PutStatus::MessageIllegal,
                "a batch cannot be transactional",
            ));
        }
        // Delay levels (spec §5.2): rewrite to the schedule topic before storage.
        if honour_delay
            && (ty == sysflag::TRANSACTION_NOT_TYPE || ty == sysflag::TRANSACTION_COMMIT_TYPE)
            && msgs.len() == 1
            && let Some(level) = first
                .properties
                .get(keys::DELAY)
                .and_then(|d| d.trim().parse::<i64>().ok())
            && level > 0
        {
            let level = level.min(self.delay_levels.len() as i64).max(1);
            let m = &mut msgs[0];
            m.properties.insert(keys::REAL_TOPIC, m.topic.clone());
            m.properties.insert(keys::REAL_QID, m.queue_id.to_string());
            m.topic = keys::SCHEDULE_TOPIC.to_string();
            m.queue_id = (level - 1) as i32;
            m.properties.insert(keys::DELAY, level.to_string());
            topic = m.topic.clone();
            queue_id = m.queue_id;
        } else if msgs.len() > 1
            && msgs.iter().any(|m| {
                m.properties
                    .get(keys::DELAY)
                    .is_some_and(|d| d.trim() != "0")
            })
        {
            return Err(PutResult::fail(
                PutStatus::MessageIllegal,
                "a batch cannot carry a delay level",
            ));
        }
        // One allocation sized for the whole batch (bodies + topic + a generous allowance for
        // the fixed fields and properties): small records otherwise pay for several regrowths.
        let estimate: usize = msgs.iter().map(|m| m.body.len() + topic.len() + 256).sum();
        let mut buf = Vec::with_capacity(estimate);
        // (encoded size, position of STORETIMESTAMP) per record.
        let mut sizes: Vec<(usize, usize)> = Vec::with_capacity(msgs.len());
        for m in &mut msgs {
            m.properties.remove(keys::WAIT);
            if m.topic != topic {
                m.topic.clone_from(&topic);
            }
            m.queue_id = queue_id;
            if m.body.len() > self.config.max_message_size {
                return Err(PutResult::fail(
                    PutStatus::MessageIllegal,
                    format!(
                        "body of {} bytes exceeds maxMessageSize {}",
                        m.body.len(),
                        self.config.max_message_size
                    ),
                ));
            }
            let before = buf.len();
            if let Err(e) = encode_into(m, &mut buf) {
                let text = e.to_string();
                let status = if text.contains("properties of") {
                    PutStatus::PropertiesSizeExceeded
                } else {
                    PutStatus::MessageIllegal
                };
                return Err(PutResult::fail(status, text));
            }
            sizes.push((
                buf.len() - before,
                pos_store_timestamp(m.effective_sys_flag()),
            ));
        }
        if buf.len() > self.config.max_message_size + 32_767 + 1024 * msgs.len() {
            return Err(PutResult::fail(
                PutStatus::MessageIllegal,
                "batch too large",
            ));
        }
        let advances =
            ty == sysflag::TRANSACTION_NOT_TYPE || ty == sysflag::TRANSACTION_COMMIT_TYPE;
        let store_host = first_store_host(&msgs);
        let disk_err = |e: StoreError| {
            self.write_failing.store(true, Ordering::Release);
            PutResult::fail(PutStatus::DiskError, e.to_string())
        };

        let mut tail = self.log.lock();
        let total = buf.len() as u64;
        if total + 8 > self.log.room(&tail) {
            let room = self.log.room(&tail);
            let mut blank = Vec::with_capacity(8);
            blank.extend_from_slice(&(room as i32).to_be_bytes());
            blank.extend_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
            self.log.prepare(&mut tail, 8).map_err(disk_err)?;
            self.log.append(&mut tail, &blank).map_err(disk_err)?;
            self.log.roll(&mut tail).map_err(disk_err)?;
        }
        self.log.prepare(&mut tail, buf.len()).map_err(disk_err)?;
        let store_ts = now_ms();
        let wrote_offset = tail.end();
        let mut qo_table = self.queue_offsets.lock();
        let first_qo = if advances {
            qm_get(&qo_table, &topic, queue_id).unwrap_or(0)
        } else {
            0
        };
        let mut pos = 0usize;
        for (i, &(sz, ts_pos)) in sizes.iter().enumerate() {
            let rec = &mut buf[pos..pos + sz];
            let phys = wrote_offset + pos as u64;
            let qo = if advances { first_qo + i as i64 } else { 0 };
            rec[POS_QUEUE_OFFSET..POS_QUEUE_OFFSET + 8].copy_from_slice(&qo.to_be_bytes());
            rec[POS_PHYSICAL_OFFSET..POS_PHYSICAL_OFFSET + 8]
                .copy_from_slice(&(phys as i64).to_be_bytes());
            rec[ts_pos..ts_pos + 8].copy_from_slice(&store_ts.to_be_bytes());
            pos += sz;
        }
        self.log.append(&mut tail, &buf).map_err(disk_err)?;
        if advances {
            qm_set(
                &mut qo_table,
                &topic,
                queue_id,
                first_qo + sizes.len() as i64,
            );
        }
        drop(qo_table);
        let end = tail.end();
        drop(tail);
        // Ids are derived from the offsets, so they are built after the lock is released.
        let mut msg_id = String::with_capacity(sizes.len() * 33);
        let mut phys = wrote_offset;
        for (i, &(sz, _)) in sizes.iter().enumerate() {
            if i > 0 {
                msg_id.push(',');
            }
            push_offset_msg_id(&mut msg_id, store_host, phys as i64);
            phys += sz as u64;
        }
        self.last_store_ts.store(store_ts, Ordering::Release);
        self.after_append();
        Ok(AppendResult {
            wrote_offset: wrote_offset as i64,
            wrote_bytes: buf.len(),
            end_offset: end as i64,
            msg_id,
            logics_offset: first_qo,
            msg_num: sizes.len(),
            store_timestamp: store_ts,
            topic,
            queue_id,
        })
    }

    /// ASYNC_FLUSH acknowledges a record only once its bytes are in the file (the page cache),
    /// so killing the process loses nothing acknowledged — as with Java's mmap'd commit log; only
    /// an OS crash can take back the unflushed tail. A mapped segment (the normal case) is
    /// already there when the append returns; this drains the tail buffer of the buffered
    /// fallback, and appenders that queued behind the lock find their bytes already written by
    /// whoever drained first, so concurrent puts share a write.
    fn write_through(&self, end: u64) -> Result<()> {
        if self.log.written() >= end {
            return Ok(());
        }
        let mut tail = self.log.lock();
        if self.log.written() >= end {
            return Ok(());
        }
        self.log.drain(&mut tail)
    }

    fn after_append(&self) {
        match self.config.flush_disk_type {
            // Under SYNC_FLUSH records become visible only once durable: the flusher wakes
            // the dispatcher (no phantom reads, reliability.md).
            FlushDiskType::SyncFlush => self.wake_flusher(),
            // ASYNC: the dispatcher polls every millisecond (as Java's reput service does);
            // waking it per append would cost a context switch per message.
            FlushDiskType::AsyncFlush => {}
        }
    }

    fn wake_flusher(&self) {
        let (m, cv) = &self.flush_signal;
        *m.lock() = true;
        cv.notify_one();
    }

    fn wake_dispatcher(&self) {
        let (m, cv) = &self.dispatch_signal;
        *m.lock() = true;
        cv.notify_one();
    }

    fn fatal(&self, msg: String) {
        {
            let mut f = self.fatal.lock();
            if f.is_some() {
                return;
            }
            *f = Some(msg.clone());
            self.fatal_flag.store(true, Ordering::Release);
        }
        tracing::error!(error = %msg, "fsync failed: the store stops acknowledging writes");
        // The hook (by default: exit) runs before waiters learn of the failure.
        (self.fatal_hook)(&msg);
        self.flush_tx.send_modify(|s| s.fatal = true);
    }

    /// Drains and fsyncs the commit log; publishes the durable offset.
    fn sync_log(&self) -> Result<u64> {
        if let Some(f) = self.fatal.lock().clone() {
            return Err(StoreError::Fatal(f));
        }
        let (before, started) = (self.log.flushed(), Instant::now());
        match self.log.sync_detailed() {
            Ok(flushed) => {
                self.stats
                    .record_flush(started.elapsed(), flushed.saturating_sub(before));
                if self.write_failing.swap(false, Ordering::AcqRel) {
                    tracing::info!("commit-log writes succeed again");
                }
                self.flush_tx.send_if_modified(|s| {
                    if flushed > s.flushed {
                        s.flushed = flushed;
                        true
                    } else {
                        false
                    }
                });
                if self.config.flush_disk_type == FlushDiskType::SyncFlush {
                    self.wake_dispatcher();
                }
                Ok(flushed)
            }
            Err(SyncFail::Write(e)) => {
                if !self.write_failing.swap(true, Ordering::AcqRel) {
                    tracing::error!(error = %e, "commit-log write failed; refusing puts until it succeeds");
                }
                Err(e)
            }
            Err(SyncFail::Fsync(e)) => {
                self.fatal(e.to_string());
                Err(StoreError::Fatal(e.to_string()))
            }
        }
    }

    fn flush_loop(&self) {
        let sync = self.config.flush_disk_type == FlushDiskType::SyncFlush;
        let interval = Duration::from_millis(self.config.flush_interval_commit_log.max(1));
        let thorough = Duration::from_millis(self.config.flush_commit_log_thorough_interval);
        let least = self.config.flush_commit_log_least_pages * PAGE;
        let mut last_thorough = Instant::now();
        while !self.stopping.load(Ordering::Acquire) {
            {
                let (m, cv) = &self.flush_signal;
                let mut g = m.lock();
                if !*g {
                    // SYNC: group commit — everyone who appended while the previous fsync
                    // ran shares the next one. ASYNC: a fixed cadence.
                    let wait = if sync {
                        Duration::from_millis(10)
                    } else {
                        interval
                    };
                    cv.wait_for(&mut g, wait);
                }
                *g = false;
            }
            if self.fatal.lock().is_some() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let dirty = self.log.end().saturating_sub(self.log.flushed());
            if dirty == 0 {
                continue;
            }
            if !sync && dirty < least && last_thorough.elapsed() < thorough {
                continue;
            }
            if self.sync_log().is_err() {
                std::thread::sleep(Duration::from_millis(10));
            }
            last_thorough = Instant::now();
        }
    }

    fn dispatch_target(&self) -> u64 {
        match self.config.flush_disk_type {
            FlushDiskType::SyncFlush => self.log.flushed(),
            FlushDiskType::AsyncFlush => self.log.end(),
        }
    }

    fn dispatch_loop(&self) {
        while !self.stopping.load(Ordering::Acquire) {
            match self.dispatch_once() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "dispatch failed; retrying"),
            }
            let idle = match self.config.flush_disk_type {
                FlushDiskType::AsyncFlush => Duration::from_millis(1),
                FlushDiskType::SyncFlush => Duration::from_millis(100),
            };
            let (m, cv) = &self.dispatch_signal;
            let mut g = m.lock();
            if !*g {
                cv.wait_for(&mut g, idle);
            }
            *g = false;
        }
    }

    /// Dispatches one chunk of records past `reput`; true when progress was made.
    fn dispatch_once(&self) -> Result<bool> {
        let _d = self.dispatch_lock.lock();
        let start = self.reput.load(Ordering::Acquire);
        let target = self.dispatch_target();
        if start >= target {
            return Ok(false);
        }
        let fsz = self.config.mapped_file_size_commit_log;
        let room_in_file = fsz - start % fsz;
        let want = ((target - start) as usize)
            .min(CHUNK)
            .min(room_in_file as usize);
        let Some(mut buf) = self.log.read(start, want)? else {
            // Below the min offset (deleted): skip to the first file.
            let min = self.log.min_offset();
            if min > start {
                self.reput.store(min, Ordering::Release);
                return Ok(true);
            }
            // A file missing between others.
            return self.step_over_damage(start, target, "missing segment file".into());
        };
        // A record larger than the chunk: read it whole.
        if let Some((s, m)) = peek_header(&buf)
            && m != BLANK_MAGIC_CODE
            && s as usize > buf.len()
            && start + s as u64 <= target
            && let Some(b) = self.log.read(start, s as usize)?
        {
            buf = b;
        }
        let mut pos = 0usize;
        let mut advanced: QueueMap<i64> = HashMap::new();
        let mut last_ts = 0;
        while pos < buf.len() {
            let at = start + pos as u64;
            let room = fsz - at % fsz;
            match scan_one(&buf[pos..], at, room, false) {
                Scan::Record(v) => {
                    self.dispatch_record(&v, &mut advanced)?;
                    last_ts = v.store_timestamp;
                    pos += v.total_size as usize;
                }
                Scan::Blank => {
                    self.reput.store(at + room, Ordering::Release);
                    break;
                }
                Scan::Incomplete => break,
                Scan::Invalid(reason) => {
                    // Never serve what fails verification, never stop for good: step over it.
                    self.step_over_damage(at, target, reason)?;
                    break;
                }
            }
            self.reput.store(start + pos as u64, Ordering::Release);
        }
        if last_ts > 0 {
            self.last_dispatched_ts.store(last_ts, Ordering::Release);
        }
        if self.has_deleted_topics.load(Ordering::Acquire) {
            let reput = self.reput.load(Ordering::Acquire);
            let mut d = self.deleted_topics.lock();
            d.retain(|_, end| *end > reput);
            self.has_deleted_topics
                .store(!d.is_empty(), Ordering::Release);
        }
        for (topic, m) in advanced {
            for (queue_id, max_offset) in m {
                let _ = self.advance_tx.send(QueueAdvance {
                    topic: topic.clone(),
                    queue_id,
                    max_offset,
                });
            }
        }
        Ok(self.reput.load(Ordering::Acquire) > start)
    }

    fn dispatch_record(
        &self,
        v: &remoting::message::RecordView<'_>,
        advanced: &mut QueueMap<i64>,
    ) -> Result<()> {
        let ty = sysflag::transaction_type(v.sys_flag);
        if !valid_topic(v.topic) {
            tracing::warn!(
                offset = v.physical_offset,
                topic = v.topic,
                "record with an illegal topic not dispatched"
            );
            return Ok(());
        }
        if ty == sysflag::TRANSACTION_NOT_TYPE || ty == sysflag::TRANSACTION_COMMIT_TYPE {
            let tags = if v.topic == keys::SCHEDULE_TOPIC {
                // tagsCode of a delayed message is its delivery time (spec §10.5).
                let level = v
                    .property(keys::DELAY)
                    .and_then(|d| d.parse::<usize>().ok())
                    .unwrap_or(1);
                let delay = self
                    .delay_levels
                    .get(
                        level
                            .saturating_sub(1)
                            .min(self.delay_levels.len().saturating_sub(1)),
                    )
                    .copied()
                    .unwrap_or(1000);
                v.store_timestamp + delay
            } else {
                tags_code(v.property(keys::TAGS))
            };
            if self.has_deleted_topics.load(Ordering::Acquire)
                && self
                    .deleted_topics
                    .lock()
                    .get(v.topic)
                    .is_some_and(|d| (v.physical_offset as u64) < *d)
            {
                return Ok(());
            }
            let q = self.queue_or_create(v.topic, v.queue_id)?;
            let entry = CqEntry {
                phys_offset: v.physical_offset,
                size: v.total_size,
                tags_code: tags,
            };
            if q.put(v.queue_offset, entry)? {
                qm_set(advanced, v.topic, v.queue_id, q.max_offset());
            }
        }
        if self.config.message_index_enable && ty != sysflag::TRANSACTION_ROLLBACK_TYPE {
            let r = self.index_record(v);
            if let Err(e) = r {
                if !self.read_only_flag.load(Ordering::Acquire) {
                    return Err(e);
                }
                // Read-only (a full disk at open): serve the queues now, index this record
                // and the rest once writes succeed again (`retry_recovery`).
                let mut d = self.index_deferred.lock();
                if d.is_none() {
                    tracing::warn!(offset = v.physical_offset, error = %e, "index writes deferred until the disk accepts writes");
                }
                let at = v.physical_offset as u64;
                *d = Some(d.map_or(at, |x: u64| x.min(at)));
            }
        }
        Ok(())
    }

    fn index_record(&self, v: &remoting::message::RecordView<'_>) -> Result<()> {
        if let Some(u) = v.property(keys::UNIQ_KEY) {
            self.index
                .put(v.topic, u, v.physical_offset, v.store_timestamp)?;
        }
        if let Some(ks) = v.property(keys::KEYS) {
            for k in ks.split(keys::KEY_SEPARATOR).filter(|k| !k.is_empty()) {
                self.index
                    .put(v.topic, k, v.physical_offset, v.store_timestamp)?;
            }
        }
        Ok(())
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
    fn write_checkpoint(&self) -> Result<()> {
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

    fn store_time_at(&self, phys: u64) -> Option<i64> {
        let head = self.log.read(phys, 80).ok()??;
        let sys_flag = i32::from_be_bytes([head[36], head[37], head[38], head[39]]);
        let p = pos_store_timestamp(sys_flag);
        let mut b = [0u8; 8];
        b.copy_from_slice(head.get(p..p + 8)?);
        Some(i64::from_be_bytes(b))
    }

    fn read_record(&self, phys: u64) -> Result<Option<Bytes>> {
        if phys < self.log.min_offset() {
            return Ok(None);
        }
        let Some(head) = self.log.read(phys, 8)? else {
            return Ok(None);
        };
        let Some((size, magic)) = peek_header(&head) else {
            return Ok(None);
        };
        if (magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2) || size < MIN_RECORD_LEN as i32 {
            return Ok(None);
        }
        // Only what dispatch has reached (and so what is durable under SYNC_FLUSH) is served.
        if phys + size as u64 > self.reput.load(Ordering::Acquire) {
            return Ok(None);
        }
        let Some(rec) = self.log.read(phys, size as usize)? else {
            return Ok(None);
        };
        match decode_view(&rec) {
            Ok(v) if v.physical_offset as u64 == phys && v.crc_ok() => Ok(Some(Bytes::from(rec))),
            _ => Ok(None),
        }
    }

    fn retention(&self, manual: bool) -> Result<usize> {
        let cfg = &self.config;
        let dir = cfg.commit_log_dir();
        let usage = self.fs.disk_usage(&dir).unwrap_or(0.0);
        let max_ratio = cfg.disk_max_used_space_ratio.clamp(10, 95) as f64 / 100.0;
        let force_ratio = cfg.disk_space_clean_forcibly_ratio as f64 / 100.0;
        let warn_ratio = cfg.disk_space_warning_level_ratio as f64 / 100.0;
        let full = usage > warn_ratio;
        if full != self.disk_full.swap(full, Ordering::AcqRel) {
            tracing::warn!(usage, full, "disk usage state changed");
        }
        let hour_ok = {
            let secs = now_ms() / 1000;
            let hour = ((secs / 3600) % 24) as u32;
            cfg.delete_hours().contains(&hour)
        };
        let space_pressure = usage > max_ratio;
        let forced = cfg.clean_file_forcibly_enable && usage > force_ratio;
        if !(manual || hour_ok || space_pressure || forced) {
            return Ok(0);
        }
        let reserved = Duration::from_secs(cfg.file_reserved_time * 3600);
        let starts = self.log.segment_starts();
        let end = self.log.end();
        let fsz = cfg.mapped_file_size_commit_log;
        let mut deleted = 0usize;
        let mut new_min = None;
        for s in starts {
            if deleted >= 10 || s + fsz > end || s + fsz > self.reput.load(Ordering::Acquire) {
                break;
            }
            let Some(seg) = self.log.segment(s) else {
                continue;
            };
            let age = std::fs::metadata(&seg.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .unwrap_or_default();
            if age < reserved && !forced {
                break;
            }
            new_min = Some(s + fsz);
            deleted += 1;
        }
        let Some(new_min) = new_min else { return Ok(0) };
        let removed = self.log.delete_before(new_min)?;
        tracing::info!(
            files = removed.len(),
            new_min,
            usage,
            manual,
            forced,
            "commit-log files deleted"
        );
        let log_min = self.log.min_offset();
        for q in self.all_queues() {
            q.trim_below(log_min)?;
        }
        self.index.trim_below(log_min)?;
        Ok(removed.len())
    }
}

fn first_store_host(msgs: &[MessageRecord]) -> std::net::SocketAddr {
    msgs.first()
        .map(|m| m.store_host)
        .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
}
