//! Crash recovery: what [`MessageStore::open`](crate::MessageStore::open) verifies, truncates,
//! rebuilds and refuses before the store serves anything, and how dispatch steps over damage
//! afterwards. Read top down: the rules below, then the open sequence in the order it runs,
//! then the commit-log scan, the record checks and the resync search it uses, and last
//! dispatch's side.
//!
//! # The open sequence
//! 1. `previous_run`: the `abort` marker tells a clean stop (no marker) from a process crash
//!    in this boot (the marker holds this boot's id: the page cache kept every byte, in order)
//!    and from a crash of an earlier or unknown boot (treated as a power loss: holes possible).
//! 2. The checkpoint is read (CRC-guarded; absent, torn or foreign reads as none; a short
//!    file is left as it is), and the commit-log segments are opened: a file not of the
//!    configured length is remembered as untrusted and read as if zero-padded, but not
//!    changed yet.
//! 3. `recover` → `recover_log` finds the end of valid data. Only once it accepted the log are
//!    files of the wrong length resized (zeros appended, or a longer file cut): a refusal
//!    leaves every file of the commit log, queues and index as it found it. Every segment
//!    from the one the scan began in is fsynced (the scan accepted what may sit only in the
//!    page cache), then the log is cut at the end.
//! 4. `recover` opens the index and the consume queues, cuts them back, and chooses where
//!    re-dispatch starts.
//! 5. `Inner::finish_open`: re-dispatch to the end of the log, the next-queue-offset table
//!    rebuilt from the queues, a checkpoint, then the `abort` marker written with this boot's
//!    id and the root directory fsynced. Only then do the background threads start.
//!
//! # Invariants
//! - **Verified, not assumed.** Recovery trusts a commit-log segment below the checkpoint's
//!   durable offset only when its file had the preallocated length when opened. A short or
//!   resized segment, a missing segment between others, or a checkpoint offset that is not a
//!   record boundary (checked by reading the record there, else by walking the record headers
//!   of its segment from the segment start) moves the start of the verifying scan back to the
//!   start of that segment; without a checkpoint the scan starts at the first segment. From
//!   there every record is checked (size, magic, layout, position, body CRC when
//!   `checkCRCOnRecover`).
//! - **Truncated: only a torn tail of the commit log.** An invalid record (or zeros) that no
//!   valid record follows — in the rest of its segment or in any later segment — is a torn
//!   tail: the log ends there. The search for valid records after zeros (a hole a power loss
//!   can leave) is skipped only where no hole can exist: zeros at or past the checkpoint's
//!   durable offset after a clean stop or after a process crash in the same boot. Unwritten
//!   space is skipped with `SEEK_DATA`. The bytes past the end are zeroed and later segments
//!   deleted; the log end, and so the dispatch start and every later append, is never inside
//!   a hole. Nothing else in the commit log is removed (files of the wrong length are brought
//!   to length after the scan, step 3). A segment missing between others is a hole, not a
//!   tail: the segments after it are kept, and the hole is skipped or refused as below.
//! - **Cut back and rebuilt: queues and index.** Consume-queue entries that point at or past the
//!   re-dispatch start are kept on disk but not trusted: re-dispatch checks each against the
//!   record that claims its queue offset, and the queue reads as ending at the last entry a
//!   record vouched for. At the first entry that differs (or a gap in the records' queue
//!   offsets) the queue is cut there and written from the records as a rebuild would; entries
//!   no record vouches for are dropped when re-dispatch ends, and the kept files are fsynced
//!   (`ConsumeQueue::begin_check`). A full scan thus rewrites nothing that matches the log.
//!   Bytes after the last valid entry of a queue's last file and queue files wholly below the
//!   commit-log min offset are dropped. A hole in a queue's files — its first
//!   file missing (the files must start where `first-file` in its directory says, 0 without it:
//!   retention writes it before deleting the files below, and a queue starting past 0 writes it
//!   before its first file), a file missing between others, or a file other than the last shorter
//!   than the file size (from its first invalid entry) — cuts the queue back to the start of the
//!   hole: every file after it is removed, the queue is marked damaged, and the rebuild below
//!   re-creates each entry from the commit log. (A store written before `first-file` existed whose
//!   queues had files retired has no record of that: its first open rebuilds those queues once,
//!   from the commit log's start.) After a crash, or without a checkpoint, the newest index file
//!   keeps only its entries before the first zero (or negative-offset) entry and, when the
//!   checkpoint recorded one, before its durable index end. Re-dispatch starts at the smallest of:
//!   the checkpoint's dispatch offset (clamped into the log; the log start without a checkpoint),
//!   the last physical end of every consume queue whose files show damage (a hole as above, a last
//!   file of the wrong length, bytes after the last valid entry; the commit-log min offset when no
//!   valid entry precedes the damage), the first record the newest index file dropped, and — when
//!   the index is enabled and its newest file ends below the checkpoint's index end (a lost index
//!   file) — where the surviving index ends. Queue entries already present are recognised and
//!   skipped; with a checkpoint, records below the surviving index end are not indexed twice
//!   (without one everything is indexed again and lookups drop duplicates). A damaged queue is
//!   rebuilt from its last valid entry before the damage on, so what it lost — at its end or in a
//!   hole — comes back at the same queue offsets without blank padding, and a pull from any offset
//!   the queue reports finds its record (unless the commit log itself lost it). Blank entries are
//!   written only for queue offsets whose records the commit log lacks. Index files are named by
//!   creation time and records without keys are not indexed, so a lost older index file cannot be
//!   told from a stretch of records without keys: only a lost newest file is detected (its end
//!   below the checkpoint's index end); a lost older one loses its keys for `QUERY_MESSAGE` until
//!   `store-ctl repair` rebuilds the index.
//! - **Damage in the middle is skipped or refused, never truncated.** An invalid range that
//!   valid records follow is kept on disk. It is skipped (logged with its offsets, counted,
//!   kept in the damage map that dispatch consults) unless `skipCorruptRecordOnRecover=false`
//!   and the range starts in data the checkpoint recorded as durable (all data, without a
//!   checkpoint): then open fails with [`StoreError::Corrupt`], naming the offset and the
//!   `store-ctl repair DIR --skip-corrupt` command. Ranges an operator accepted with that
//!   command are listed in `<root>/skipped-ranges` and always skipped.
//! - **Refused.** Open fails, and so the broker does not start, when the configuration is
//!   invalid, when another process holds `<root>/lock`, on damage in the middle as above, and
//!   when reading a segment, opening the checkpoint, index or queue files, or fsyncing the
//!   verified segments fails. A refusal from the commit-log scan comes before any file was
//!   changed (step 3); one from opening the index or the queues comes after the commit log's
//!   files were brought to length and cut at the end of valid data.
//!   A write recovery cannot make after the scan (cutting the log, re-dispatch, checkpoint,
//!   `abort` marker; a full disk) does not fail the open: the store opens read-only, serving
//!   reads (queues filled in memory as far as dispatch gets, index writes deferred) and
//!   answering puts and HA appends with an error, and retries those writes on every put and
//!   every checkpoint interval until they succeed (`Inner::retry_recovery`).
//! - **Dispatch never stops for good.** A dispatch that meets an invalid record (or a missing
//!   segment) steps over a known damaged range, or resyncs to the next valid record (magic,
//!   position and CRC verified) below its target and counts it; with nothing valid after it,
//!   it waits for more data, warning once per offset (`Inner::step_over_damage`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use remoting::message::record::{
    BLANK_MAGIC_CODE, MAGIC_CODE_V1, MAGIC_CODE_V2, MIN_RECORD_LEN, decode_view, peek_header,
};

use crate::checkpoint::Checkpoint;
use crate::config::StoreConfig;
use crate::consume_queue::ConsumeQueue;
use crate::error::{Result, StoreError};
use crate::fs::FileSystem;
use crate::index::IndexService;
use crate::seglog::SegLog;
use crate::store::{Inner, QueueMap, qm_set};

/// File (under the store root) listing damaged ranges an operator accepted with
/// `store-ctl repair --skip-corrupt`: one `FROM TO` pair of commit-log offsets per line.
pub const SKIPPED_RANGES_FILE: &str = "skipped-ranges";

/// A damaged commit-log range `[from, to)` that recovery or dispatch stepped over (or, for a
/// torn tail, removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// First damaged offset.
    pub from: u64,
    /// Offset of the next valid record (for a torn tail: the old end of the files).
    pub to: u64,
    /// Why the record at `from` failed verification.
    pub reason: String,
}

/// What the last open found and did; see the module docs of `recovery` for the rules.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// The `abort` marker was present: the previous run did not stop cleanly.
    pub crashed: bool,
    /// The checkpoint was readable.
    pub checkpoint_ok: bool,
    /// Commit-log min offset after recovery.
    pub log_min: u64,
    /// Commit-log end after recovery (end of valid data).
    pub log_end: u64,
    /// Where the verifying scan began.
    pub scanned_from: u64,
    /// Bytes the verifying scan read.
    pub scanned_bytes: u64,
    /// Time the commit-log verification took (before queues and index), ms.
    pub scan_ms: u64,
    /// Segments (start, length found) whose file did not have the preallocated length.
    pub untrusted_segments: Vec<(u64, u64)>,
    /// The torn tail removed, if any.
    pub torn_tail: Option<Damage>,
    /// Damaged ranges in the middle of the log that were skipped (data after them kept).
    pub skipped: Vec<Damage>,
    /// Consume queues whose files showed damage (topic, queue id, length of the last file).
    pub damaged_queues: Vec<(String, i32)>,
    /// Commit-log offset re-dispatch started from.
    pub dispatch_from: u64,
    /// Set when recovery could not write (e.g. a full disk): the store serves reads and
    /// refuses writes until the pending recovery writes succeed.
    pub read_only: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The open sequence (steps 1, 3, 4 and 5 of the module docs).

/// How the previous run ended, read from the `abort` marker before anything else is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PreviousRun {
    /// The marker was present: the previous run did not stop cleanly.
    pub crashed: bool,
    /// It crashed in an earlier boot, or one that cannot be told: holes are possible, so the
    /// scan searches past zeros for valid records.
    pub power_loss: bool,
}

/// Reads the `abort` marker under `root`.
pub(crate) fn previous_run(root: &Path) -> PreviousRun {
    let abort_path = root.join("abort");
    let crashed = abort_path.exists();
    // A process crash in this boot (not a power loss): the files hold every byte written.
    let same_boot = crashed
        && boot_id().is_some_and(|id| std::fs::read(&abort_path).is_ok_and(|b| b == id.as_bytes()));
    PreviousRun {
        crashed,
        power_loss: crashed && !same_boot,
    }
}

/// This boot's id (Linux), recorded in the `abort` marker.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// What [`recover`] hands the store to build itself from.
pub(crate) struct Recovered {
    /// End of valid data in the commit log.
    pub log_end: u64,
    /// Where re-dispatch starts.
    pub dispatch_from: u64,
    pub index: IndexService,
    pub queues: QueueMap<Arc<ConsumeQueue>>,
    /// The skipped damaged ranges, for dispatch to step over.
    pub damage: DamageMap,
    /// `read_only` is still unset: [`Inner::finish_open`] decides it.
    pub report: RecoveryReport,
    /// A write recovery could not make (cutting the log at its end): the store opens read-only.
    pub write_failure: Option<String>,
}

/// Steps 3 and 4: verifies the commit log and cuts it at the end of valid data, opens the
/// index and the consume queues (cut back to the re-dispatch start), and chooses where
/// re-dispatch starts. `started`: when open began (for the logs).
pub(crate) fn recover(
    fs: &Arc<dyn FileSystem>,
    root: &Path,
    config: &StoreConfig,
    log: &SegLog,
    previous: PreviousRun,
    cp: Option<Checkpoint>,
    started: Instant,
) -> Result<Recovered> {
    let crashed = previous.crashed;
    let accepted = read_skipped_ranges(root);
    let rec = recover_log(
        log,
        root,
        previous.power_loss,
        cp.as_ref(),
        config.check_crc_on_recover,
        config.skip_corrupt_record_on_recover,
        &accepted,
    )?;
    // The scan accepted the log (a refusal returned above, with nothing changed): only now
    // are files of the wrong length resized.
    log.fix_lengths()?;
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
    let queues = load_queues(fs, root, config, dispatch_from, log_min)?;
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
    Ok(Recovered {
        log_end,
        dispatch_from,
        index,
        queues,
        damage,
        report,
        write_failure,
    })
}

fn load_queues(
    fs: &Arc<dyn FileSystem>,
    root: &Path,
    config: &StoreConfig,
    dispatch_from: u64,
    log_min: u64,
) -> Result<QueueMap<Arc<ConsumeQueue>>> {
    let mut out = QueueMap::default();
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
            cq.trim_below(log_min)?;
            // Entries at or past the re-dispatch point are checked against the re-dispatched
            // records, and rewritten from the first that differs.
            cq.begin_check(dispatch_from)?;
            qm_set(&mut out, &topic, qid, Arc::new(cq));
        }
    }
    Ok(out)
}

impl Inner {
    /// Step 5: re-dispatches the tail synchronously (the broker must not serve before the
    /// queues reflect the recovered log) and makes recovery's writes. When they fail (a full
    /// disk), or `write_failure` says an earlier one did, the store opens read-only: the queues
    /// fill in memory as far as they can, index writes are deferred, and `log_end` is kept to
    /// re-apply before writes resume ([`Inner::retry_recovery`]).
    pub(crate) fn finish_open(&self, write_failure: Option<String>, log_end: u64) {
        let finished = match write_failure {
            Some(e) => Err(e),
            None => self.finish_recovery().map_err(|e| e.to_string()),
        };
        if let Err(msg) = finished {
            tracing::error!(error = %msg, "recovery could not write; the store serves reads and refuses writes until the disk accepts writes again");
            self.report.lock().read_only = Some(msg.clone());
            *self.read_only.lock() = Some((msg, log_end));
            self.read_only_flag.store(true, Ordering::Release);
            // Queues fill in memory as far as they can; index writes are deferred.
            while matches!(self.dispatch_once(), Ok(true)) {}
            if let Err(e) = self.finish_queue_checks() {
                tracing::warn!(error = %e, "consume queue checks not finished; retried with recovery's writes");
            }
            self.rebuild_queue_offsets();
        }
    }
    /// The writes that end recovery: re-dispatch, queue offsets, checkpoint, `abort` marker.
    fn finish_recovery(&self) -> Result<()> {
        while self.dispatch_once()? {}
        self.finish_queue_checks()?;
        self.rebuild_queue_offsets();
        self.write_checkpoint(crate::store::IndexFlush::Now)?;
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

    /// Ends every queue's check of its kept entries (`ConsumeQueue::begin_check`): what no
    /// re-dispatched record vouched for is dropped, the rest synced.
    fn finish_queue_checks(&self) -> Result<()> {
        for q in self.all_queues() {
            q.finish_check()?;
        }
        Ok(())
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
}

// ---------------------------------------------------------------------------------------------
// The commit-log scan (step 3).

/// The result of [`recover_log`].
#[derive(Debug, Default)]
struct LogRecovery {
    pub end: u64,
    pub scanned_from: u64,
    pub scanned_bytes: u64,
    pub untrusted: Vec<(u64, u64)>,
    pub torn: Option<Damage>,
    pub skipped: Vec<Damage>,
}

/// Finds the end of valid data (module docs). `root` names the store in error messages;
/// `accepted` are ranges listed in `skipped-ranges`. `power_loss`: the previous run ended in
/// a crash in an earlier boot (or of unknown boot): holes are possible, so zeros at the end
/// of the data are searched past for valid records. Otherwise (a clean stop, or a process
/// crash in this boot, whose page cache kept every byte in order) zeros at a record boundary
/// are the end: searching past them would read up to a whole preallocated segment.
#[allow(clippy::too_many_arguments)]
fn recover_log(
    log: &SegLog,
    root: &Path,
    power_loss: bool,
    cp: Option<&Checkpoint>,
    check_crc: bool,
    skip_corrupt: bool,
    accepted: &[(u64, u64)],
) -> Result<LogRecovery> {
    let starts = log.segment_starts();
    let mut out = LogRecovery::default();
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Ok(out);
    };
    let fsz = log.seg_size;
    let limit = last + fsz;
    let read = file_reader(log);
    let next_data = file_next_data(log);
    let next_segment = |s: u64| log.segment_starts().into_iter().find(|x| *x > s);
    let cp_durable = cp.map(|c| c.log_safe_offset);
    let mut pos = match cp_durable {
        Some(d) if d >= first && d < limit => d,
        // At or past the end of the files (newer segments gone): verify the last one.
        Some(d) if d >= first => last,
        _ => first,
    };
    // Segments the scan must not trust: wrong length, or a missing neighbour.
    for (i, &s) in starts.iter().enumerate() {
        let open_len = log.segment(s).map(|g| g.open_len).unwrap_or(0);
        if open_len != fsz {
            out.untrusted.push((s, open_len));
            tracing::warn!(
                segment = s,
                len = open_len,
                expected = fsz,
                "commit-log segment has an unexpected length; scanning it from its start"
            );
            pos = pos.min(s);
        }
        if let Some(&n) = starts.get(i + 1)
            && n != s + fsz
        {
            tracing::warn!(
                segment = s + fsz,
                "commit-log segment missing between others"
            );
            pos = pos.min(s);
        }
    }
    // The checkpoint's offset must be a record boundary.
    let seg_start = pos - pos % fsz;
    if pos != seg_start {
        let room = seg_start + fsz - pos;
        let direct = match read(pos, 8)? {
            Some(h) => match peek_header(&h) {
                Some((s, m)) if m == BLANK_MAGIC_CODE => s as u64 == room,
                Some(_) => valid_record_at(&read, fsz, pos)?,
                None => false,
            },
            None => false,
        };
        if !direct && !hop_to(&read, seg_start, pos)? {
            tracing::warn!(
                offset = pos,
                "checkpoint offset is not a record boundary; scanning its segment from the start"
            );
            pos = seg_start;
        }
    }
    out.scanned_from = pos;
    let t0 = std::time::Instant::now();
    tracing::debug!(from = pos, "commit-log scan starts");
    'outer: while pos < limit {
        let seg_start = pos - pos % fsz;
        let seg_end = seg_start + fsz;
        let mut at = pos;
        let why: String;
        let _invalid: bool = match read(pos, CHUNK)? {
            None => {
                why = "missing segment file".into();
                true
            }
            Some(mut buf) => {
                if let Some((s, m)) = peek_header(&buf)
                    && (m == MAGIC_CODE_V1 || m == MAGIC_CODE_V2)
                    && s as u64 <= seg_end - pos
                    && s as usize > buf.len()
                    && let Some(b) = read(pos, s as usize)?
                {
                    buf = b;
                }
                out.scanned_bytes += buf.len() as u64;
                let mut off = 0usize;
                loop {
                    at = pos + off as u64;
                    if at >= seg_end {
                        pos = seg_end;
                        continue 'outer;
                    }
                    match scan_one(&buf[off..], at, seg_end - at, check_crc) {
                        Scan::Record(v) => off += v.total_size as usize,
                        Scan::Blank => {
                            pos = seg_end;
                            continue 'outer;
                        }
                        Scan::Incomplete if off > 0 => {
                            pos = at;
                            continue 'outer;
                        }
                        Scan::Incomplete => {
                            why = "record cut at the end of its segment".into();
                            break true;
                        }
                        Scan::Invalid(r) => {
                            why = r;
                            break true;
                        }
                    }
                    if off >= buf.len() {
                        pos += off as u64;
                        continue 'outer;
                    }
                }
            }
        };

        tracing::debug!(
            at,
            reason = why,
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "scan met an invalid record; looking for valid data after it"
        );
        // Without a power loss, zeros at a record boundary past every byte the checkpoint
        // recorded as durable are the end. Zeros below it mean damage: search.
        let clean_end = !power_loss && why == "end of data" && cp_durable.is_some_and(|d| at >= d);
        let found = if clean_end {
            None
        } else {
            find_next_valid(&read, &next_data, &next_segment, fsz, at, limit)?
        };
        tracing::debug!(
            ?found,
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "resync search done"
        );
        match found {
            None => {
                if why != "end of data" || at < cp_durable.unwrap_or(0) {
                    tracing::warn!(
                        offset = at,
                        reason = why,
                        "commit log ends at a torn tail; nothing valid follows, truncated"
                    );
                }
                out.torn = Some(Damage {
                    from: at,
                    to: limit,
                    reason: why,
                });
                out.end = at;
                return Ok(out);
            }
            Some(next) => {
                let known = accepted.iter().any(|(a, b)| *a <= at && next <= *b);
                let durable = cp_durable.is_none_or(|d| at < d);
                if !skip_corrupt && !known && durable {
                    return Err(StoreError::Corrupt {
                        offset: at,
                        reason: format!(
                            "{why}; valid records follow at {next}, so this is damage in the \
                             middle of the log, not a torn tail. Nothing in the commit log, the \
                             consume queues or the index was changed (files of the wrong \
                             length are resized only after the scan accepts the log). To skip \
                             the damaged range [{at}, {next}) and keep everything else, stop \
                             the broker and run `store-ctl repair {} --skip-corrupt` (or set \
                             skipCorruptRecordOnRecover=true)",
                            root.display()
                        ),
                    });
                }
                tracing::error!(
                    offset = at,
                    next_valid = next,
                    lost_bytes = next - at,
                    reason = why,
                    "damaged commit-log range skipped; the records after it are kept"
                );
                out.skipped.push(Damage {
                    from: at,
                    to: next,
                    reason: why,
                });
                pos = next;
            }
        }
    }
    out.end = pos.min(limit);
    Ok(out)
}

/// True when walking record headers (size, magic, position; no CRC) from `seg_start` lands
/// exactly on `target`: `target` is a record boundary.
fn hop_to(read: &ReadFn<'_>, seg_start: u64, target: u64) -> Result<bool> {
    let mut pos = seg_start;
    while pos < target {
        let want = (CHUNK as u64).min(target - pos + 36) as usize;
        let Some(buf) = read(pos, want)? else {
            return Ok(false);
        };
        let mut off = 0usize;
        while off + 36 <= buf.len() && pos + (off as u64) < target {
            let Some((size, magic)) = peek_header(&buf[off..]) else {
                return Ok(false);
            };
            let mut p = [0u8; 8];
            p.copy_from_slice(&buf[off + 28..off + 36]);
            let at = pos + off as u64;
            if (magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2)
                || size < MIN_RECORD_LEN as i32
                || i64::from_be_bytes(p) as u64 != at
                || at + size as u64 > target
            {
                return Ok(false);
            }
            off += size as usize;
        }
        if off == 0 {
            return Ok(false);
        }
        pos += off as u64;
    }
    Ok(pos == target)
}

/// Reads `<root>/skipped-ranges`.
fn read_skipped_ranges(root: &Path) -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string(root.join(SKIPPED_RANGES_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let a = it.next()?.parse().ok()?;
            let b = it.next()?.parse().ok()?;
            Some((a, b))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading and classifying records, and the resync search (shared by the scan and dispatch).

/// Bytes read at a time while scanning.
pub(crate) const CHUNK: usize = 4 * 1024 * 1024;

/// What a scan of the commit log found at one position.
pub(crate) enum Scan<'a> {
    Record(remoting::message::RecordView<'a>),
    Blank,
    Incomplete,
    Invalid(String),
}

/// Classifies the bytes at `buf` (commit-log offset `at`; `room` = bytes left in its file).
pub(crate) fn scan_one(buf: &[u8], at: u64, room: u64, check_crc: bool) -> Scan<'_> {
    let Some((size, magic)) = peek_header(buf) else {
        return if buf.iter().all(|b| *b == 0) {
            Scan::Invalid("end of data".into())
        } else {
            Scan::Incomplete
        };
    };
    if size == 0 && magic == 0 {
        return Scan::Invalid("end of data".into());
    }
    if magic == BLANK_MAGIC_CODE {
        return if size as u64 == room {
            Scan::Blank
        } else {
            Scan::Invalid(format!(
                "blank marker of size {size} with {room} bytes left"
            ))
        };
    }
    if magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2 {
        return Scan::Invalid(format!("bad magic {magic:#x}"));
    }
    if size < MIN_RECORD_LEN as i32 || size as u64 > room {
        return Scan::Invalid(format!("bad size {size}"));
    }
    if size as usize > buf.len() {
        return Scan::Incomplete;
    }
    match decode_view(buf) {
        Ok(v) if v.physical_offset as u64 != at => Scan::Invalid(format!(
            "PHYSICALOFFSET {} differs from position {at}",
            v.physical_offset
        )),
        Ok(v) if check_crc && !v.crc_ok() => Scan::Invalid("body CRC mismatch".into()),
        Ok(v) => Scan::Record(v),
        Err(e) => Scan::Invalid(e.to_string()),
    }
}

/// Reads up to `len` bytes at a commit-log offset, never past the end of its segment;
/// `Ok(None)` when no segment holds the offset; `Ok(Some(empty))` at the readable limit.
type ReadFn<'a> = dyn Fn(u64, usize) -> Result<Option<Vec<u8>>> + 'a;

/// A reader of the segment files themselves (recovery runs before the log's end is set).
fn file_reader(log: &SegLog) -> impl Fn(u64, usize) -> Result<Option<Vec<u8>>> + '_ {
    let fsz = log.seg_size;
    move |off, len| {
        let start = off - off % fsz;
        let Some(seg) = log.segment(start) else {
            return Ok(None);
        };
        let n = (len as u64).min(start + fsz - off) as usize;
        let mut b = vec![0u8; n];
        // Files of the wrong length keep it until the scan accepted the log: read zeros past
        // a short file's end, as after the resize.
        seg.read_padded(&mut b, off - start)?;
        Ok(Some(b))
    }
}

fn is_magic(b: &[u8]) -> bool {
    let m = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    m == MAGIC_CODE_V1 || m == MAGIC_CODE_V2
}

/// True when a whole, valid record (CRC checked) starts at `at`.
fn valid_record_at(read: &ReadFn<'_>, fsz: u64, at: u64) -> Result<bool> {
    let room = fsz - at % fsz;
    let Some(head) = read(at, 8)? else {
        return Ok(false);
    };
    let Some((size, magic)) = peek_header(&head) else {
        return Ok(false);
    };
    if (magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2)
        || size < MIN_RECORD_LEN as i32
        || size as u64 > room
    {
        return Ok(false);
    }
    let Some(buf) = read(at, size as usize)? else {
        return Ok(false);
    };
    Ok(matches!(scan_one(&buf, at, room, true), Scan::Record(_)))
}

/// The first commit-log offset at or after `off` that may hold data, within `off`'s segment
/// (`None`: nothing more in that segment). See [`crate::fs::FsFile::next_data`].
type NextDataFn<'a> = dyn Fn(u64) -> Result<Option<u64>> + 'a;

/// [`NextDataFn`] over the segment files.
fn file_next_data(log: &SegLog) -> impl Fn(u64) -> Result<Option<u64>> + '_ {
    let fsz = log.seg_size;
    move |off| {
        let start = off - off % fsz;
        let Some(seg) = log.segment(start) else {
            return Ok(Some(off));
        };
        let n = seg
            .file
            .next_data(off - start)
            .map_err(|e| StoreError::io(&seg.path, e))?;
        Ok(n.map(|n| start + n).filter(|n| *n < start + fsz))
    }
}

/// Resync: the offset of the first valid record after `from` and below `limit`, searching the
/// rest of `from`'s segment and then every later segment (`next_segment(s)`: the first
/// segment start after `s`), skipping space that holds no data (`next_data`). `None`: only
/// zeros, garbage or nothing follow — a torn tail.
fn find_next_valid(
    read: &ReadFn<'_>,
    next_data: &NextDataFn<'_>,
    next_segment: &dyn Fn(u64) -> Option<u64>,
    fsz: u64,
    from: u64,
    limit: u64,
) -> Result<Option<u64>> {
    let mut pos = from + 1;
    while pos < limit {
        let seg_start = pos - pos % fsz;
        match next_data(pos)? {
            Some(p) if p > pos => {
                pos = p;
                continue;
            }
            Some(_) => {}
            None => {
                pos = seg_start + fsz;
                continue;
            }
        }
        let want = (CHUNK as u64).min(limit - pos) as usize;
        let Some(buf) = read(pos, want)? else {
            match next_segment(seg_start) {
                Some(s) if s < limit => {
                    if valid_record_at(read, fsz, s)? {
                        return Ok(Some(s));
                    }
                    pos = s + 1;
                    continue;
                }
                _ => return Ok(None),
            }
        };
        if buf.is_empty() {
            return Ok(None);
        }
        if buf.iter().all(|b| *b == 0) {
            pos += buf.len() as u64;
            continue;
        }
        let mut i = 0usize;
        while i + 8 <= buf.len() {
            if is_magic(&buf[i + 4..i + 8]) && valid_record_at(read, fsz, pos + i as u64)? {
                return Ok(Some(pos + i as u64));
            }
            i += 1;
        }
        // Overlap by 7 bytes so a header cut by the chunk end is tried again.
        pos += if buf.len() > 8 {
            buf.len() as u64 - 7
        } else {
            buf.len() as u64
        };
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Dispatch's side: damage met after open.

/// Damaged ranges known to dispatch: start → end.
pub(crate) type DamageMap = BTreeMap<u64, u64>;

/// The end of the damaged range holding `at`, if any.
fn damage_covering(map: &DamageMap, at: u64) -> Option<u64> {
    map.range(..=at)
        .next_back()
        .filter(|(_, to)| at < **to)
        .map(|(_, to)| *to)
}

impl Inner {
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
}
