//! Consume queues (spec §5.3): per topic and queue id, fixed 20-byte entries
//! `(commit-log offset i64, size i32, tags code i64)`; entry index = logical queue offset.
//!
//! A queue's files are contiguous from the one [`FIRST_FILE`] names (0 without it) to the
//! last; every file but the last is full. Anything else is a hole, which open cuts the queue
//! back to and recovery rebuilds from the commit log (module docs of `recovery`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::{Result, StoreError};
use crate::fs::FileSystem;
use crate::seglog::SegLog;

/// Bytes per entry (`CQ_STORE_UNIT_SIZE`).
pub const CQ_ENTRY_SIZE: u64 = 20;

/// One consume-queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqEntry {
    /// Commit-log offset of the record.
    pub phys_offset: i64,
    /// Record size.
    pub size: i32,
    /// Tags hash code (or the delivery time for `SCHEDULE_TOPIC_XXXX`).
    pub tags_code: i64,
}

impl CqEntry {
    /// Encodes as 20 big-endian bytes.
    pub fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.phys_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    /// Decodes 20 bytes (`b` must hold at least 20).
    pub fn decode(b: &[u8]) -> CqEntry {
        let mut p = [0u8; 8];
        p.copy_from_slice(&b[..8]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[12..20]);
        CqEntry {
            phys_offset: i64::from_be_bytes(p),
            size: i32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            tags_code: i64::from_be_bytes(t),
        }
    }

    /// A filler entry written for offsets before a queue's first real entry.
    pub fn blank() -> CqEntry {
        CqEntry {
            phys_offset: 0,
            size: i32::MAX,
            tags_code: 0,
        }
    }

    fn is_valid(&self) -> bool {
        self.phys_offset >= 0 && self.size > 0
    }
}

/// File in a queue's directory naming (in decimal) the byte offset its first file starts at,
/// written before files below it are deleted (retention) and when a queue starts past 0. A
/// first file starting later than this was lost, not retired. Absent: 0.
pub const FIRST_FILE: &str = "first-file";

/// Reads [`FIRST_FILE`] (0 when absent or unreadable: the safe side, a later first file is
/// then rebuilt from the commit log).
fn read_first_file(dir: &Path, file_size: u64) -> u64 {
    std::fs::read_to_string(dir.join(FIRST_FILE))
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map(|v| v - v % file_size)
        .unwrap_or(0)
}

/// Records `start` as the queue's first file, durably (temporary file, fsync, rename, fsync
/// of the directory), before anything below it is deleted.
fn write_first_file(fs: &dyn FileSystem, dir: &Path, start: u64) -> Result<()> {
    let tmp = dir.join(format!("{FIRST_FILE}.tmp"));
    let f = fs.open(&tmp, true).map_err(|e| StoreError::io(&tmp, e))?;
    let text = start.to_string();
    f.set_len(0)
        .and_then(|_| f.write_all_at(text.as_bytes(), 0))
        .and_then(|_| f.sync_data())
        .map_err(|e| StoreError::io(&tmp, e))?;
    let dst = dir.join(FIRST_FILE);
    std::fs::rename(&tmp, &dst).map_err(|e| StoreError::io(&dst, e))?;
    fs.sync_dir(dir).map_err(|e| StoreError::io(dir, e))
}

/// Number of valid entries at the start of a queue file, and whether non-zero bytes follow
/// them (damage, not just unwritten space).
fn valid_entries(seg: &crate::seglog::Segment, file_size: u64) -> Result<(u64, bool)> {
    let mut buf = vec![0u8; file_size as usize];
    seg.read_padded(&mut buf, 0)?;
    let n = buf
        .chunks_exact(CQ_ENTRY_SIZE as usize)
        .take_while(|c| CqEntry::decode(c).is_valid())
        .count();
    let garbage = buf[n * CQ_ENTRY_SIZE as usize..].iter().any(|b| *b != 0);
    Ok((n as u64, garbage))
}

/// One consume queue.
#[derive(Debug)]
pub struct ConsumeQueue {
    /// Topic.
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    log: SegLog,
    fs: Arc<dyn FileSystem>,
    min_logical: AtomicI64,
    /// Highest commit-log end (offset + size) referenced; entries at or below are duplicates.
    max_phys_end: AtomicU64,
    /// The files showed damage when opened (a hole, cut back by [`ConsumeQueue::open`]; a last
    /// file of the wrong length; bytes after the last valid entry): recovery re-dispatches
    /// from [`ConsumeQueue::max_phys_end`] (the commit log's start when no entry is left) to
    /// rebuild what was lost.
    pub(crate) damaged: bool,
    /// Set while recovery checks the entries this queue kept against the re-dispatched
    /// records ([`ConsumeQueue::begin_check`]).
    checking: AtomicBool,
    check: Mutex<Option<Check>>,
}

/// Recovery's check of a queue's kept entries: `[next, end)` are on disk but no record has
/// vouched for them yet. The queue reads as ending at `next` until the check finishes.
#[derive(Debug)]
struct Check {
    /// Where the check began: the kept files from here on are synced when it ends.
    from: i64,
    next: i64,
    end: i64,
    /// Entries read ahead, starting at queue offset `ahead_from`.
    ahead: Vec<u8>,
    ahead_from: i64,
}

/// Entries read at once while walking a queue's files (64 KiB).
const WALK_ENTRIES: usize = 3276;

impl ConsumeQueue {
    /// Opens (or creates) the queue in `dir`, finding its end by scanning the last file.
    ///
    /// A hole — the first file missing (the files should start at the one [`FIRST_FILE`]
    /// names, 0 without it), a file missing between others, or a file other than the last
    /// shorter than the file size — cuts the queue back to the start of the hole: the files
    /// from there on are removed and the queue is marked damaged, so that recovery
    /// re-dispatches from the end of the last entry before the hole (or from the commit log's
    /// start when none) and rebuilds every entry after it. Nothing is padded with blanks.
    pub(crate) fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        topic: &str,
        queue_id: i32,
        file_size: u64,
    ) -> Result<ConsumeQueue> {
        let log = SegLog::open(fs.clone(), dir, file_size, 64 * 1024, false)?.defer_dir_sync();
        // Queue files are rebuilt from the commit log, so their lengths are fixed at once
        // (recovery opens them only after the commit-log scan accepted the log).
        log.fix_lengths()?;
        let first_expected = read_first_file(dir, file_size);
        // Retention records the new first file before deleting the ones below it: files still
        // below it are what a crash left of that deletion.
        log.remove_below(first_expected)?;
        let starts = log.segment_starts();
        let mut damaged = false;
        let mut hole: Option<u64> = None;
        let mut note = |at: u64, why: &'static str| {
            if hole.is_none_or(|h| at < h) {
                tracing::warn!(topic, queue_id, dir = %dir.display(), at, why, "hole in the consume-queue files");
                hole = Some(at);
            }
        };
        if let Some(&first) = starts.first()
            && first > first_expected
        {
            note(first_expected, "first file missing");
        }
        for (i, &s) in starts.iter().enumerate() {
            let Some(seg) = log.segment(s) else { continue };
            let is_last = i + 1 == starts.len();
            if seg.open_len != file_size {
                damaged = true;
                if !is_last {
                    // Entries in a short file other than the last: a hole from its first
                    // invalid entry on.
                    let (n, _) = valid_entries(&seg, file_size)?;
                    if n * CQ_ENTRY_SIZE < file_size {
                        note(s + n * CQ_ENTRY_SIZE, "file cut short");
                    }
                }
            }
            if let Some(&next) = starts.get(i + 1)
                && next != s + file_size
            {
                note(s + file_size, "file missing between others");
            }
        }
        let mut end = first_expected;
        if let Some(h) = hole {
            damaged = true;
            end = h;
        } else if let Some(&last) = starts.last()
            && let Some(seg) = log.segment(last)
        {
            let (n, garbage) = valid_entries(&seg, file_size)?;
            end = last + n * CQ_ENTRY_SIZE;
            damaged |= garbage;
        }
        if damaged {
            tracing::warn!(topic, queue_id, dir = %dir.display(), end, "consume queue files damaged; rebuilt from the commit log");
        }
        // Removes the files past a hole, zeroes the rest of the file it is in.
        log.set_end(end)?;
        let q = ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            log,
            fs,
            min_logical: AtomicI64::new(0),
            max_phys_end: AtomicU64::new(0),
            damaged,
            checking: AtomicBool::new(false),
            check: Mutex::new(None),
        };
        q.min_logical.store(
            (q.log.min_offset() / CQ_ENTRY_SIZE) as i64,
            Ordering::Release,
        );
        // A read error leaves it at 0: the first put then rechecks against the files.
        let end = q.phys_end_before(q.max_offset()).unwrap_or(0);
        q.max_phys_end.store(end, Ordering::Release);
        Ok(q)
    }

    /// The next logical offset (number of entries, counting deleted ones). While recovery
    /// checks the kept entries, the end of those vouched for so far.
    pub fn max_offset(&self) -> i64 {
        let end = (self.log.end() / CQ_ENTRY_SIZE) as i64;
        if self.checking.load(Ordering::Acquire)
            && let Some(c) = &*self.check.lock()
        {
            return end.min(c.next);
        }
        end
    }

    /// The smallest logical offset still readable.
    pub fn min_offset(&self) -> i64 {
        self.min_logical
            .load(Ordering::Acquire)
            .min(self.max_offset())
    }

    /// The commit-log end referenced by the last entry.
    pub fn max_phys_end(&self) -> u64 {
        self.max_phys_end.load(Ordering::Acquire)
    }

    /// The entry at logical `offset`.
    pub fn entry(&self, offset: i64) -> Result<Option<CqEntry>> {
        // Offsets come from clients: anything outside the queue is simply absent.
        if offset < 0 || offset >= self.max_offset() {
            return Ok(None);
        }
        Ok(self
            .log
            .read(offset as u64 * CQ_ENTRY_SIZE, CQ_ENTRY_SIZE as usize)?
            .map(|b| CqEntry::decode(&b)))
    }

    /// Up to `max` entries from `offset` (fewer at a file boundary or the end).
    pub fn entries(&self, offset: i64, max: usize) -> Result<Vec<CqEntry>> {
        if offset < 0 || offset >= self.max_offset() {
            return Ok(Vec::new());
        }
        let max = max.min(1 << 20);
        let bytes = self
            .log
            .read_upto(offset as u64 * CQ_ENTRY_SIZE, max * CQ_ENTRY_SIZE as usize)?
            .unwrap_or_default();
        Ok(bytes
            .chunks_exact(CQ_ENTRY_SIZE as usize)
            .map(CqEntry::decode)
            .collect())
    }

    /// Writes the entry for logical `offset`. Offsets below the end are duplicates (skipped);
    /// a gap is filled with blank entries.
    pub(crate) fn put(&self, offset: i64, entry: CqEntry) -> Result<bool> {
        let phys_end = entry.phys_offset as u64 + entry.size as u64;
        if phys_end <= self.max_phys_end() && self.max_offset() > 0 {
            return Ok(false);
        }
        if self.checking.load(Ordering::Acquire)
            && let Some(done) = self.check_put(offset, &entry)?
        {
            return Ok(done);
        }
        let mut tail = self.log.lock();
        let mut next = (tail.end() / CQ_ENTRY_SIZE) as i64;
        if offset < next {
            return Ok(false);
        }
        if offset > next && next == 0 {
            // A queue that starts past 0 (after deletions or on a fresh slave): start the
            // files at the first real entry; the space before it stays absent.
            drop(tail);
            let start = offset as u64 * CQ_ENTRY_SIZE;
            let aligned = start - start % self.log.seg_size;
            if aligned > 0 {
                // So that the next open does not take the absent files for lost ones.
                write_first_file(self.fs.as_ref(), &self.log.dir, aligned)?;
            }
            self.log.set_end(aligned)?;
            self.min_logical.store(offset, Ordering::Release);
            tail = self.log.lock();
            next = (tail.end() / CQ_ENTRY_SIZE) as i64;
        }
        if next < offset {
            // Only when the commit log itself lacks the records of these queue offsets
            // (damage skipped in the commit log): recovery re-dispatches damaged queue files
            // from far enough back that their own gaps never get here.
            tracing::warn!(topic = %self.topic, queue_id = self.queue_id, from = next, to = offset, "queue offsets without a record in the commit log; blank entries written");
        }
        while next < offset {
            self.log.prepare(&mut tail, CQ_ENTRY_SIZE as usize)?;
            self.log.append(&mut tail, &CqEntry::blank().encode())?;
            next += 1;
        }
        self.log.prepare(&mut tail, CQ_ENTRY_SIZE as usize)?;
        self.log.append(&mut tail, &entry.encode())?;
        self.max_phys_end.fetch_max(phys_end, Ordering::AcqRel);
        Ok(true)
    }

    /// Writes buffered entries to the files and fsyncs them.
    pub(crate) fn sync(&self) -> std::result::Result<(), crate::seglog::SyncFail> {
        self.log.sync_detailed().map(|_| ())
    }

    /// Drops entries that reference commit-log bytes at or past `phys`. Used by recovery.
    pub(crate) fn truncate_from_phys(&self, phys: u64) -> Result<()> {
        let end = self.kept_below(phys)?;
        if end != self.max_offset() {
            tracing::info!(topic = %self.topic, queue_id = self.queue_id, end, "consume queue truncated");
            self.log.set_end(end as u64 * CQ_ENTRY_SIZE)?;
        }
        self.max_phys_end
            .store(self.phys_end_before(end)?, Ordering::Release);
        Ok(())
    }

    /// The queue offset after the last entry, counting from the end, that points below `phys`
    /// or is a blank: the entries from there on reference `phys` or later.
    fn kept_below(&self, phys: u64) -> Result<i64> {
        let min = (self.log.min_offset() / CQ_ENTRY_SIZE) as i64;
        let mut end = self.max_offset();
        while end > min {
            // Read backwards in chunks, never across a file start.
            let file_start = ((end - 1) as u64 * CQ_ENTRY_SIZE / self.log.seg_size
                * self.log.seg_size
                / CQ_ENTRY_SIZE) as i64;
            let from = (end - WALK_ENTRIES as i64).max(file_start).max(min);
            let Some(bytes) = self.log.read(
                from as u64 * CQ_ENTRY_SIZE,
                (end - from) as usize * CQ_ENTRY_SIZE as usize,
            )?
            else {
                break;
            };
            for c in bytes.chunks_exact(CQ_ENTRY_SIZE as usize).rev() {
                let e = CqEntry::decode(c);
                if e.size == i32::MAX || (e.phys_offset as u64) < phys {
                    return Ok(end);
                }
                end -= 1;
            }
        }
        Ok(end)
    }

    /// The commit-log end referenced by the entry before `offset` (0 for none or a blank).
    fn phys_end_before(&self, offset: i64) -> Result<u64> {
        Ok(self
            .entry(offset - 1)?
            .filter(|e| e.size != i32::MAX)
            .map_or(0, |e| e.phys_offset as u64 + e.size as u64))
    }

    /// Recovery: instead of dropping the entries that reference `phys` or later and writing
    /// them again from the re-dispatched records (thousands of queue files deleted and
    /// re-created on a full scan), keeps them and checks each against the record that claims
    /// its queue offset ([`ConsumeQueue::put`]). The first difference, or a gap, drops the
    /// entries from there on and the put writes normally; [`ConsumeQueue::finish_check`]
    /// drops what no record vouched for. The result is the same queue a rebuild writes.
    pub(crate) fn begin_check(&self, phys: u64) -> Result<()> {
        let next = self.kept_below(phys)?;
        let end = self.max_offset();
        self.max_phys_end
            .store(self.phys_end_before(next)?, Ordering::Release);
        if next < end {
            *self.check.lock() = Some(Check {
                from: next,
                next,
                end,
                ahead: Vec::new(),
                ahead_from: next,
            });
            self.checking.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// The check's part of [`ConsumeQueue::put`]: `Some` when the put is done (a duplicate,
    /// or an entry already on disk as the record says), `None` when it must write.
    fn check_put(&self, offset: i64, entry: &CqEntry) -> Result<Option<bool>> {
        let mut guard = self.check.lock();
        let Some(c) = guard.as_mut() else {
            return Ok(None);
        };
        if offset < c.next {
            return Ok(Some(false));
        }
        if offset == c.next && offset < c.end {
            let ahead_end = c.ahead_from + (c.ahead.len() as u64 / CQ_ENTRY_SIZE) as i64;
            if offset >= ahead_end {
                c.ahead = self
                    .log
                    .read_upto(
                        offset as u64 * CQ_ENTRY_SIZE,
                        WALK_ENTRIES * CQ_ENTRY_SIZE as usize,
                    )?
                    .unwrap_or_default();
                c.ahead_from = offset;
            }
            let at = ((offset - c.ahead_from) as usize) * CQ_ENTRY_SIZE as usize;
            if let Some(b) = c.ahead.get(at..at + CQ_ENTRY_SIZE as usize)
                && CqEntry::decode(b) == *entry
            {
                c.next += 1;
                self.max_phys_end.fetch_max(
                    entry.phys_offset as u64 + entry.size as u64,
                    Ordering::AcqRel,
                );
                return Ok(Some(true));
            }
            tracing::warn!(topic = %self.topic, queue_id = self.queue_id, offset, "consume queue entry differs from its record; rewriting the queue from there");
        }
        self.end_check(&mut guard)?;
        Ok(None)
    }

    /// Ends the check: the entries no record vouched for are dropped, and the kept files are
    /// made durable (they may have been only in the page cache of a process that crashed).
    fn end_check(&self, guard: &mut Option<Check>) -> Result<()> {
        let Some(c) = guard.as_ref() else {
            return Ok(());
        };
        let kept_from = c.from as u64 * CQ_ENTRY_SIZE;
        if c.next < c.end {
            tracing::info!(topic = %self.topic, queue_id = self.queue_id, end = c.next, dropped = c.end - c.next, "consume queue entries no record vouches for dropped");
            self.log.set_end(c.next as u64 * CQ_ENTRY_SIZE)?;
        }
        self.log.sync_from(kept_from)?;
        *guard = None;
        self.checking.store(false, Ordering::Release);
        Ok(())
    }

    /// Ends recovery's check (see [`ConsumeQueue::begin_check`]); a failure leaves it on, so
    /// the queue still reads as ending at the last vouched-for entry and a retry finishes it.
    pub(crate) fn finish_check(&self) -> Result<()> {
        if !self.checking.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut guard = self.check.lock();
        self.end_check(&mut guard)
    }

    /// Deletes files wholly below commit-log offset `log_min` and moves the minimum logical
    /// offset past entries that point below it.
    pub(crate) fn trim_below(&self, log_min: u64) -> Result<()> {
        let seg = self.log.seg_size;
        // Delete whole files whose last entry points below log_min.
        for start in self.log.segment_starts() {
            if start + seg > self.log.end() {
                break;
            }
            let last_idx = ((start + seg) / CQ_ENTRY_SIZE) as i64 - 1;
            match self.entry(last_idx)? {
                Some(e) if e.size == i32::MAX || (e.phys_offset as u64) < log_min => {
                    // Recorded first: after a crash the next open tells retired files from
                    // lost ones.
                    write_first_file(self.fs.as_ref(), &self.log.dir, start + seg)?;
                    self.log.delete_before(start + seg)?;
                }
                _ => break,
            }
        }
        let mut min = (self.log.min_offset() / CQ_ENTRY_SIZE) as i64;
        min = min.max(self.min_logical.load(Ordering::Acquire));
        while min < self.max_offset() {
            match self.entry(min)? {
                Some(e) if e.size == i32::MAX || (e.phys_offset as u64) < log_min => min += 1,
                _ => break,
            }
        }
        self.min_logical.store(min, Ordering::Release);
        Ok(())
    }

    /// Removes the queue's files.
    pub(crate) fn destroy(&self) -> Result<()> {
        self.log.destroy()?;
        let marker = self.log.dir.join(FIRST_FILE);
        match std::fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(&marker, e)),
            _ => Ok(()),
        }
    }

    /// Logical offset of the first entry whose record was stored at or after `timestamp`
    /// (binary search, reading store times through `store_time`); the max offset if none.
    pub(crate) fn offset_for_time(
        &self,
        timestamp: i64,
        store_time: impl Fn(&CqEntry) -> Option<i64>,
    ) -> Result<i64> {
        let (mut lo, mut hi) = (self.min_offset(), self.max_offset());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let t = match self.entry(mid)? {
                Some(e) if e.size != i32::MAX => store_time(&e),
                _ => None,
            };
            match t {
                Some(t) if t < timestamp => lo = mid + 1,
                Some(_) => hi = mid,
                // Unreadable (deleted) entries are older than anything readable.
                None => lo = mid + 1,
            }
        }
        Ok(lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn entry_round_trip(p in any::<i64>(), s in any::<i32>(), t in any::<i64>()) {
            let e = CqEntry { phys_offset: p, size: s, tags_code: t };
            prop_assert_eq!(CqEntry::decode(&e.encode()), e);
        }
    }

    fn entry(i: i64) -> CqEntry {
        CqEntry {
            phys_offset: i * 100,
            size: 100,
            tags_code: i,
        }
    }

    #[test]
    fn put_read_reopen_truncate_trim() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        // 10 entries per file.
        let q = ConsumeQueue::open(fs.clone(), dir.path(), "T", 0, 200).unwrap();
        for i in 0..35 {
            assert!(q.put(i, entry(i)).unwrap());
        }
        assert!(!q.put(3, entry(3)).unwrap(), "duplicate skipped");
        assert_eq!(q.max_offset(), 35);
        assert_eq!(q.entry(34).unwrap(), Some(entry(34)));
        // Reads stop at a file boundary.
        assert_eq!(q.entries(8, 5).unwrap().len(), 2);
        q.sync().map_err(|_| ()).unwrap();
        drop(q);
        let q = ConsumeQueue::open(fs.clone(), dir.path(), "T", 0, 200).unwrap();
        assert_eq!(q.max_offset(), 35);
        assert_eq!(q.max_phys_end(), 3500);
        q.truncate_from_phys(2000).unwrap();
        assert_eq!(q.max_offset(), 20);
        assert!(q.put(20, entry(20)).unwrap());
        q.trim_below(1250).unwrap();
        assert_eq!(q.min_offset(), 13);
        assert_eq!(q.entries(0, 1).unwrap().len(), 0, "first file deleted");
        let t = q.offset_for_time(17, |e| Some(e.tags_code)).unwrap();
        assert_eq!(t, 17);
    }

    #[test]
    fn queue_starting_past_zero() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let q = ConsumeQueue::open(fs.clone(), dir.path(), "T", 1, 200).unwrap();
        assert!(q.put(25, entry(25)).unwrap());
        assert_eq!(q.max_offset(), 26);
        assert_eq!(q.min_offset(), 25);
        assert_eq!(q.entry(20).unwrap(), Some(CqEntry::blank()));
        assert_eq!(q.entry(25).unwrap(), Some(entry(25)));
        q.sync().map_err(|_| ()).unwrap();
        drop(q);
        // The recorded first file: the absent files below it are not a hole.
        let q = ConsumeQueue::open(fs, dir.path(), "T", 1, 200).unwrap();
        assert!(!q.damaged);
        assert_eq!(q.max_offset(), 26);
        assert_eq!(q.entry(25).unwrap(), Some(entry(25)));
    }

    #[test]
    fn holes_cut_the_queue_back_to_their_start() {
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let fill = |dir: &Path| {
            let q = ConsumeQueue::open(fs.clone(), dir, "T", 0, 200).unwrap();
            for i in 0..45 {
                q.put(i, entry(i)).unwrap();
            }
            q.sync().map_err(|_| ()).unwrap();
        };
        let name = |n: u64| dir_file(n * 200);
        // A middle file missing, a middle file cut, the first file missing.
        for (damage, hole) in [(0, 20), (1, 27), (2, 0)] {
            let dir = tempfile::tempdir().unwrap();
            fill(dir.path());
            match damage {
                0 => std::fs::remove_file(dir.path().join(name(2))).unwrap(),
                1 => std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.path().join(name(2)))
                    .unwrap()
                    .set_len(7 * 20 + 3)
                    .unwrap(),
                _ => std::fs::remove_file(dir.path().join(name(0))).unwrap(),
            }
            let q = ConsumeQueue::open(fs.clone(), dir.path(), "T", 0, 200).unwrap();
            assert!(q.damaged);
            assert_eq!(q.max_offset(), hole, "case {damage}");
            let want = if hole == 0 { 0 } else { hole as u64 * 100 };
            assert_eq!(q.max_phys_end(), want);
            // Nothing past the hole is left to block the rebuild.
            assert!(
                q.log
                    .segment_starts()
                    .iter()
                    .all(|s| *s <= hole as u64 * 20)
            );
            for i in hole..45 {
                assert!(q.put(i, entry(i)).unwrap());
            }
            assert_eq!(q.entry(44).unwrap(), Some(entry(44)));
        }
        // Files below the recorded first file (a retention round cut short) are removed.
        let dir = tempfile::tempdir().unwrap();
        fill(dir.path());
        write_first_file(fs.as_ref(), dir.path(), 400).unwrap();
        let q = ConsumeQueue::open(fs.clone(), dir.path(), "T", 0, 200).unwrap();
        assert!(!q.damaged);
        assert_eq!((q.min_offset(), q.max_offset()), (20, 45));
        assert!(!dir.path().join(name(0)).exists());
    }

    fn dir_file(start: u64) -> String {
        crate::seglog::file_name(start)
    }
}
