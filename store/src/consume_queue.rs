//! Consume queues (spec §5.3): per topic and queue id, fixed 20-byte entries
//! `(commit-log offset i64, size i32, tags code i64)`; entry index = logical queue offset.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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

/// One consume queue.
#[derive(Debug)]
pub struct ConsumeQueue {
    /// Topic.
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    log: SegLog,
    min_logical: AtomicI64,
    /// Highest commit-log end (offset + size) referenced; entries at or below are duplicates.
    max_phys_end: AtomicU64,
    /// The files showed damage when opened (a file of the wrong length, a missing file between
    /// others, or bytes after the last valid entry): recovery re-dispatches from
    /// [`ConsumeQueue::max_phys_end`] to rebuild what was lost.
    pub(crate) damaged: bool,
}

impl ConsumeQueue {
    /// Opens (or creates) the queue in `dir`, finding its end by scanning the last file.
    pub(crate) fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        topic: &str,
        queue_id: i32,
        file_size: u64,
    ) -> Result<ConsumeQueue> {
        let log = SegLog::open(fs, dir, file_size, 64 * 1024, false)?;
        let starts = log.segment_starts();
        let mut end = starts.first().copied().unwrap_or(0);
        let mut damaged = false;
        for (i, &s) in starts.iter().enumerate() {
            if log.segment(s).is_some_and(|g| g.open_len != file_size)
                || starts.get(i + 1).is_some_and(|n| *n != s + file_size)
            {
                damaged = true;
            }
        }
        if let Some(&last) = starts.last() {
            let seg = log.segment(last);
            if let Some(seg) = seg {
                let mut buf = vec![0u8; file_size as usize];
                seg.file
                    .read_exact_at(&mut buf, 0)
                    .map_err(|e| StoreError::io(&seg.path, e))?;
                let n = buf
                    .chunks_exact(CQ_ENTRY_SIZE as usize)
                    .take_while(|c| CqEntry::decode(c).is_valid())
                    .count();
                end = last + n as u64 * CQ_ENTRY_SIZE;
                if buf[n * CQ_ENTRY_SIZE as usize..].iter().any(|b| *b != 0) {
                    damaged = true;
                }
            }
        }
        if damaged {
            tracing::warn!(topic, queue_id, dir = %dir.display(), "consume queue files damaged; rebuilt from the commit log");
        }
        log.set_end(end)?;
        let q = ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            log,
            min_logical: AtomicI64::new(0),
            max_phys_end: AtomicU64::new(0),
            damaged,
        };
        q.min_logical.store(
            (q.log.min_offset() / CQ_ENTRY_SIZE) as i64,
            Ordering::Release,
        );
        if let Some(last) = q
            .max_offset()
            .checked_sub(1)
            .and_then(|i| q.entry(i).ok().flatten())
        {
            q.max_phys_end.store(
                last.phys_offset as u64 + last.size as u64,
                Ordering::Release,
            );
        }
        Ok(q)
    }

    /// The next logical offset (number of entries, counting deleted ones).
    pub fn max_offset(&self) -> i64 {
        (self.log.end() / CQ_ENTRY_SIZE) as i64
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
        let mut end = self.max_offset();
        let min = (self.log.min_offset() / CQ_ENTRY_SIZE) as i64;
        while end > min {
            match self.entry(end - 1)? {
                Some(e) if e.size != i32::MAX && (e.phys_offset as u64) >= phys => end -= 1,
                _ => break,
            }
        }
        if end != self.max_offset() {
            tracing::info!(topic = %self.topic, queue_id = self.queue_id, end, "consume queue truncated");
            self.log.set_end(end as u64 * CQ_ENTRY_SIZE)?;
        }
        let last = self
            .max_offset()
            .checked_sub(1)
            .and_then(|i| self.entry(i).ok().flatten());
        let pe = last
            .filter(|e| e.size != i32::MAX)
            .map(|e| e.phys_offset as u64 + e.size as u64)
            .unwrap_or(0);
        self.max_phys_end.store(pe, Ordering::Release);
        Ok(())
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
        self.log.destroy()
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
        let q = ConsumeQueue::open(fs, dir.path(), "T", 1, 200).unwrap();
        assert!(q.put(25, entry(25)).unwrap());
        assert_eq!(q.max_offset(), 26);
        assert_eq!(q.min_offset(), 25);
        assert_eq!(q.entry(20).unwrap(), Some(CqEntry::blank()));
        assert_eq!(q.entry(25).unwrap(), Some(entry(25)));
    }
}
