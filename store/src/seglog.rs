//! A segmented append-only file: fixed-size segments named by their 20-digit start offset
//! (spec §5.1), an in-memory tail buffer in front of them, positional reads that see buffered
//! bytes, and explicit durability (`sync`). Used by the commit log and the consume queues.
//!
//! Two ways to write, chosen per log at open:
//! - *mapped* (the commit log under ASYNC_FLUSH): each append is copied into a shared mapping
//!   of the current segment ([`crate::mapped`]), so it is in the page cache (safe from a
//!   process crash) at once, for the price of a `memcpy`; the tail buffer stays empty.
//! - *buffered* (consume queues, the commit log under SYNC_FLUSH — acknowledged only after the
//!   fsync — and file systems that cannot reserve space): appends collect in the tail buffer
//!   up to a drain threshold and go out as one large `pwrite`, which is what lets small entries
//!   approach the disk's sequential bandwidth.
//!
//! Invariants: bytes below `written` are in the files (not necessarily durable); bytes in
//! `[written, end)` are in the tail buffer; bytes below `flushed` are durable. Writes never span
//! two segments: callers check [`Tail::room`] and [`SegLog::roll`] first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard, RwLock};

use crate::error::{Result, StoreError};
use crate::fs::{FileSystem, FsFile};
use crate::mapped::AppendMap;
use crate::warm::{self, Warmer, ZeroFront};

/// One segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub start: u64,
    pub file: Arc<dyn FsFile>,
    pub path: PathBuf,
    /// The file's length when the log was opened (before any resize): a length other than
    /// the segment size means a torn preallocation or a cut file, which recovery must not
    /// trust (it scans such a segment from its start).
    pub open_len: u64,
}

impl Segment {
    /// Reads `buf.len()` bytes at `off` within the segment, reading zeros past the end of a
    /// file shorter than that (a file not yet brought to length by [`SegLog::fix_lengths`]).
    pub fn read_padded(&self, buf: &mut [u8], off: u64) -> Result<()> {
        // `open_len`: the file keeps that length until resized, and a resize only appends
        // zeros (or cuts past the segment size, which no read reaches).
        let have = self.open_len.saturating_sub(off).min(buf.len() as u64) as usize;
        buf[have..].fill(0);
        if have > 0 {
            self.file
                .read_exact_at(&mut buf[..have], off)
                .map_err(|e| StoreError::io(&self.path, e))?;
        }
        Ok(())
    }
}

/// The writer's state, guarded by [`SegLog::lock`].
#[derive(Debug)]
pub(crate) struct Tail {
    seg: Option<Arc<Segment>>,
    /// Log offset of `buf[0]`.
    base: u64,
    buf: Vec<u8>,
    /// Segments written since the last sync (besides the current one).
    unsynced: Vec<Arc<Segment>>,
    /// A segment was created whose directory entry is not yet durable (logs that defer it,
    /// see [`SegLog::defer_dir_sync`]).
    dir_unsynced: bool,
    /// For mapped logs: the segment start a mapping was attempted for, and the mapping
    /// (`None`: the file system cannot reserve space, so that segment is written buffered).
    map: Option<(u64, Option<AppendMap>)>,
    /// For mapped logs: the log offset up to which the [`Warmer`] was asked for pages.
    warmed: u64,
    /// For mapped logs: the end of log at which to ask the [`Warmer`] again (the next
    /// segment's start once the current one is all asked for).
    warm_at: u64,
    /// For mapped logs: the start of the last segment the [`Warmer`] was asked to make ahead.
    next_asked: u64,
}

impl Tail {
    /// The logical end (next append offset).
    pub fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }
}

/// Segments at least this large get their successor made ahead of the writer ([`SegLog`]'s
/// `next`). Smaller ones (tests, tiny disks) make theirs on demand: the writer would ask at
/// their first append already, so an empty next file would always be on disk beside them.
const PREPARE_MIN_SEGMENT: u64 = 4 * warm::AHEAD;

/// A segment made ahead of the writer by the warm-up thread: created, its directory entry
/// durable, its space reserved and mapped, its first pages in the page cache. Not in the
/// segment map until the writer takes it, so nothing else sees it meanwhile.
#[derive(Debug)]
struct Prepared {
    start: u64,
    file: Arc<dyn FsFile>,
    path: PathBuf,
    map: Option<AppendMap>,
}

/// Why a sync failed.
#[derive(Debug)]
pub(crate) enum SyncFail {
    /// Writing the buffer failed; nothing was lost and a retry may succeed.
    Write(StoreError),
    /// fsync failed: fatal.
    Fsync(StoreError),
}

impl Drop for SegLog {
    /// Zero writes still queued must not land in files a later opener of the directory writes.
    fn drop(&mut self) {
        self.stop_zeroing();
    }
}

/// Name of a segment file: its start offset in 20 decimal digits.
pub(crate) fn file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// A segmented log in one directory.
#[derive(Debug)]
pub(crate) struct SegLog {
    pub dir: PathBuf,
    pub seg_size: u64,
    drain_bytes: usize,
    /// Append through a memory mapping when the file system allows it.
    mapped: bool,
    /// Brings pages ahead of the mapped writer into the page cache (mapped logs), or writes
    /// zeros ahead of the buffered one ([`SegLog::zero_ahead`]).
    warmer: Option<Warmer>,
    /// Set when zeros are written ahead of the writer: where they stop (see [`crate::warm`]).
    zero: Option<Arc<ZeroFront>>,
    /// The next segment, once the warm-up thread has made it (see [`Prepared`]). Without it a
    /// roll cost the writer an `open`, a directory `fsync` (up to 43 ms when the flush
    /// thread's `fdatasync` ran at the same time) and a `fallocate` (3.5–6.5 ms for 1 GiB),
    /// on a tokio worker with the append lock held. Java makes its next mapped file ahead on
    /// a service thread, too.
    next: Arc<Mutex<Option<Prepared>>>,
    /// New segments' directory entries are made durable by the next [`SegLog::sync`] instead
    /// of at creation (see [`SegLog::defer_dir_sync`]).
    defer_dir_sync: bool,
    fs: Arc<dyn FileSystem>,
    segs: RwLock<BTreeMap<u64, Arc<Segment>>>,
    tail: Mutex<Tail>,
    written: AtomicU64,
    end: AtomicU64,
    flushed: AtomicU64,
}

impl SegLog {
    /// Opens the segments in `dir` (created if missing). The log's end is set by the caller
    /// (recovery) with [`SegLog::set_end`]; until then it is the start of the first segment.
    /// `mapped` selects the write mode (module docs); `drain_bytes` is the buffered mode's
    /// write size.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        seg_size: u64,
        drain_bytes: usize,
        mapped: bool,
    ) -> Result<SegLog> {
        crate::fs::create_dir_all_durable(fs.as_ref(), dir).map_err(|e| StoreError::io(dir, e))?;
        let mut segs = BTreeMap::new();
        let rd = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| StoreError::io(dir, e))?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(start) = name.parse::<u64>() else {
                continue;
            };
            if start % seg_size != 0 {
                tracing::warn!(file = %ent.path().display(), "segment not aligned to the file size; ignored");
                continue;
            }
            let path = ent.path();
            let file = fs
                .open(&path, false)
                .map_err(|e| StoreError::io(&path, e))?;
            let len = file.len().map_err(|e| StoreError::io(&path, e))?;
            if len != seg_size {
                // A torn preallocation, a cut file or one from a different size setting. Left
                // as it is until the caller decided to keep the log ([`SegLog::fix_lengths`]):
                // a refused open must change nothing.
                tracing::warn!(file = %path.display(), len, seg_size, "segment has an unexpected length");
            }
            segs.insert(
                start,
                Arc::new(Segment {
                    start,
                    file,
                    path,
                    open_len: len,
                }),
            );
        }
        let first = segs.keys().next().copied().unwrap_or(0);
        let warmer = if mapped {
            Some(Warmer::start("store-warm").map_err(|e| StoreError::io(dir, e))?)
        } else {
            None
        };
        Ok(SegLog {
            dir: dir.to_path_buf(),
            seg_size,
            drain_bytes,
            mapped,
            warmer,
            zero: None,
            next: Arc::new(Mutex::new(None)),
            defer_dir_sync: false,
            fs,
            segs: RwLock::new(segs),
            tail: Mutex::new(Tail {
                seg: None,
                base: first,
                buf: Vec::new(),
                unsynced: Vec::new(),
                dir_unsynced: false,
                map: None,
                warmed: first,
                warm_at: first,
                next_asked: 0,
            }),
            written: AtomicU64::new(first),
            end: AtomicU64::new(first),
            flushed: AtomicU64::new(first),
        })
    }

    /// For a log nothing is acknowledged from before its [`sync`](Self::sync) (the consume
    /// queues: the checkpoint syncs them before it records how far they were built, and a
    /// lost queue file is rebuilt from the commit log): the directory is fsynced once per sync
    /// rather than once per new segment, which a rebuild of many small queue files paid for
    /// every file.
    pub fn defer_dir_sync(mut self) -> Self {
        self.defer_dir_sync = true;
        self
    }

    /// Writes zeros (and fdatasyncs them) ahead of the buffered writer, on a thread of its own,
    /// so that group fsyncs find the blocks allocated (see [`crate::warm`]). For the commit log
    /// under SYNC_FLUSH; segments smaller than `PREPARE_MIN_SEGMENT` (tests, tiny disks) are
    /// left sparse. Also makes the next segment ahead of the writer.
    pub fn zero_ahead(mut self) -> Result<Self> {
        if self.mapped || self.seg_size < PREPARE_MIN_SEGMENT {
            return Ok(self);
        }
        if self.warmer.is_none() {
            self.warmer =
                Some(Warmer::start("store-zero").map_err(|e| StoreError::io(&self.dir, e))?);
        }
        self.zero = Some(Arc::new(ZeroFront::default()));
        Ok(self)
    }

    /// Stops writing zeros ahead of the writer (the store stops; also on drop): none lands in
    /// the files after this returns.
    pub fn stop_zeroing(&self) {
        if let Some(z) = &self.zero {
            z.stop();
        }
    }

    /// Brings every segment whose file did not have the segment size when opened to that size
    /// (zeros appended, or a longer file cut). Until then reads of such a file must go
    /// through [`Segment::read_padded`]; recovery calls this once it decided to keep the log.
    pub fn fix_lengths(&self) -> Result<()> {
        let segs: Vec<Arc<Segment>> = self.segs.read().values().cloned().collect();
        for seg in segs {
            // Files created since open have the segment size from the start.
            let len = seg.open_len;
            if len != self.seg_size {
                tracing::warn!(file = %seg.path.display(), len, seg_size = self.seg_size, "segment resized to the configured length");
                seg.file
                    .set_len(self.seg_size)
                    .map_err(|e| StoreError::io(&seg.path, e))?;
            }
        }
        Ok(())
    }

    /// Removes the segments wholly below `offset` whatever the log's end (used at open, before
    /// the end is set).
    pub fn remove_below(&self, offset: u64) -> Result<()> {
        let victims: Vec<Arc<Segment>> = self
            .segs
            .read()
            .values()
            .filter(|s| s.start + self.seg_size <= offset)
            .cloned()
            .collect();
        for s in victims {
            tracing::warn!(file = %s.path.display(), "segment below the recorded first file; removed");
            self.remove_segment(&s)?;
        }
        Ok(())
    }

    /// Start of the first segment (the log's minimum offset), or the end when empty.
    pub fn min_offset(&self) -> u64 {
        self.segs
            .read()
            .keys()
            .next()
            .copied()
            .unwrap_or_else(|| self.end())
    }

    /// Starts of all segments.
    pub fn segment_starts(&self) -> Vec<u64> {
        self.segs.read().keys().copied().collect()
    }

    /// The segment starting at `start`.
    pub fn segment(&self, start: u64) -> Option<Arc<Segment>> {
        self.segs.read().get(&start).cloned()
    }

    /// Logical end.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// End of the bytes written to the files (the rest is in the tail buffer).
    #[allow(dead_code)]
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Durable end.
    pub fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }

    /// Locks the writer state.
    pub fn lock(&self) -> MutexGuard<'_, Tail> {
        self.tail.lock()
    }

    /// Sets the end after recovery: everything below `end` is in the files and durable; the
    /// current segment's bytes past `end` are zeroed and later segments removed.
    pub fn set_end(&self, end: u64) -> Result<()> {
        let mut tail = self.tail.lock();
        // Never change a mapped file's length (module docs of `mapped`). A prepared next
        // segment is dropped too; its file stays, beyond the end, until the writer reaches it
        // or the next recovery removes it with the other segments past the end.
        tail.map = None;
        *self.next.lock() = None;
        let later: Vec<Arc<Segment>> = {
            let mut segs = self.segs.write();
            let keys: Vec<u64> = segs
                .range(end.saturating_add(1)..)
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| segs.remove(k)).collect()
        };
        let seg_start = end - end % self.seg_size;
        let cur = self.segs.read().get(&seg_start).cloned();
        // The in-memory state first, so that a failed file operation below (a full disk)
        // still leaves the log ending at `end`; the caller may retry for the files.
        tail.seg = cur.clone();
        tail.base = end;
        // Warming starts over at the new end (which may lie below what was asked for).
        tail.warmed = end;
        tail.warm_at = end;
        tail.next_asked = 0;
        tail.buf.clear();
        tail.unsynced.clear();
        self.written.store(end, Ordering::Release);
        self.end.store(end, Ordering::Release);
        self.flushed.store(end, Ordering::Release);
        let mut first_err = None;
        for s in later {
            if let Err(e) = self.unlink_segment(&s) {
                first_err.get_or_insert(e);
            }
        }
        if let Some(seg) = &cur {
            let within = end - seg.start;
            // Zero the bytes past the end so that stale records from a torn run can never
            // reappear after a later crash (durability depends on this).
            if let Err(e) = seg
                .file
                .set_len(within)
                .and_then(|_| seg.file.set_len(self.seg_size))
                .and_then(|_| seg.file.sync_data())
            {
                first_err.get_or_insert(StoreError::io(&seg.path, e));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn remove_segment(&self, s: &Segment) -> Result<()> {
        self.segs.write().remove(&s.start);
        self.unlink_segment(s)
    }

    fn unlink_segment(&self, s: &Segment) -> Result<()> {
        self.fs
            .remove_file(&s.path)
            .map_err(|e| StoreError::io(&s.path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| StoreError::io(&self.dir, e))
    }

    /// Bytes left in the current segment at the end (a full segment's size when a new one is
    /// due).
    pub fn room(&self, tail: &Tail) -> u64 {
        let end = tail.end();
        match &tail.seg {
            Some(seg) if end < seg.start + self.seg_size => seg.start + self.seg_size - end,
            _ => self.seg_size - end % self.seg_size,
        }
    }

    /// Writes the tail buffer to its file (not durable yet). On error nothing is lost: the
    /// buffer is kept and a later drain retries.
    pub fn drain(&self, tail: &mut Tail) -> Result<()> {
        if tail.buf.is_empty() {
            return Ok(());
        }
        let seg = self.current_segment(tail)?;
        if let Some(z) = &self.zero {
            z.claim(tail.end());
        }
        seg.file
            .write_all_at(&tail.buf, tail.base - seg.start)
            .map_err(|e| StoreError::io(&seg.path, e))?;
        tail.base += tail.buf.len() as u64;
        tail.buf.clear();
        self.written.store(tail.base, Ordering::Release);
        Ok(())
    }

    fn current_segment(&self, tail: &mut Tail) -> Result<Arc<Segment>> {
        let seg = self.current_file(tail)?;
        if self.mapped
            && tail
                .map
                .as_ref()
                .is_none_or(|(start, _)| *start != seg.start)
        {
            // Drop the old mapping first (its dirty pages stay in the page cache and are
            // synced through the file); a failed reservation (ENOSPC) is retried next time.
            tail.map = None;
            let map = seg
                .file
                .map_for_append(self.seg_size)
                .map_err(|e| StoreError::io(&seg.path, e))?;
            tail.map = Some((seg.start, map));
        }
        Ok(seg)
    }

    fn current_file(&self, tail: &mut Tail) -> Result<Arc<Segment>> {
        let end = tail.base;
        if let Some(seg) = &tail.seg
            && end >= seg.start
            && end < seg.start + self.seg_size
        {
            return Ok(seg.clone());
        }
        let start = end - end % self.seg_size;
        if let Some(seg) = self.segs.read().get(&start).cloned() {
            tail.seg = Some(seg.clone());
            return Ok(seg);
        }
        if let Some(p) = self.take_prepared(start) {
            let seg = Arc::new(Segment {
                start,
                file: p.file,
                path: p.path,
                open_len: self.seg_size,
            });
            self.segs.write().insert(start, seg.clone());
            if let Some(old) = tail.seg.replace(seg.clone()) {
                tail.unsynced.push(old);
            }
            tail.map = Some((start, p.map));
            // Its first pages are read in by the thread that made it.
            tail.warmed = tail.warmed.max(start + warm::AHEAD.min(self.seg_size));
            tail.warm_at = start + warm::CHUNK;
            return Ok(seg);
        }
        let path = self.dir.join(file_name(start));
        let file = self
            .fs
            .open(&path, true)
            .map_err(|e| StoreError::io(&path, e))?;
        file.set_len(self.seg_size)
            .map_err(|e| StoreError::io(&path, e))?;
        if self.defer_dir_sync {
            // Made durable by the next sync, before anything may rely on the file.
            tail.dir_unsynced = true;
        } else {
            // The new name must survive a crash before any acknowledged byte lives in it.
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| StoreError::io(&self.dir, e))?;
        }
        let seg = Arc::new(Segment {
            start,
            file,
            path,
            open_len: self.seg_size,
        });
        self.segs.write().insert(start, seg.clone());
        if let Some(old) = tail.seg.replace(seg.clone()) {
            tail.unsynced.push(old);
        }
        Ok(seg)
    }

    /// Writes the buffer out first if `incoming` more bytes would overflow it, and makes sure
    /// the segment for the next append exists. Call before a group of appends: an error here
    /// leaves the log unchanged, and the following appends cannot fail.
    pub fn prepare(&self, tail: &mut Tail, incoming: usize) -> Result<()> {
        // The buffer never spans two segments: at a boundary it is written out first.
        let at_boundary = tail.end().is_multiple_of(self.seg_size);
        if !tail.buf.is_empty() && (at_boundary || tail.buf.len() + incoming > self.drain_bytes) {
            self.drain(tail)?;
        }
        if tail.buf.is_empty() {
            self.current_segment(tail)?;
        }
        Ok(())
    }

    /// Appends `data` (which must fit in [`SegLog::room`]) to the buffer.
    pub fn append(&self, tail: &mut Tail, data: &[u8]) -> Result<u64> {
        if tail.buf.is_empty() {
            // Make sure the segment exists before buffering into it (ENOSPC on creation is
            // reported to this appender, not to a later one).
            self.current_segment(tail)?;
        }
        let at = tail.end();
        if let Some((start, Some(map))) = &mut tail.map
            && tail.buf.is_empty()
            && at >= *start
            && at + data.len() as u64 <= *start + self.seg_size
        {
            map.write(at - *start, data)
                .map_err(|e| StoreError::io(&self.dir, e))?;
            tail.base += data.len() as u64;
            self.written.store(tail.base, Ordering::Release);
            if tail.base >= tail.warm_at {
                self.warm_ahead(tail);
            }
        } else {
            tail.buf.extend_from_slice(data);
            if self.zero.is_some() && tail.end() >= tail.warm_at {
                self.warm_ahead(tail);
            }
        }
        self.end.store(tail.end(), Ordering::Release);
        Ok(at)
    }

    /// Asks the warmer for the pages (or zeros) up to [`warm::AHEAD`] past the end, within the
    /// current segment, in [`warm::CHUNK`]s.
    fn warm_ahead(&self, tail: &mut Tail) {
        let (Some(warmer), Some(seg)) = (&self.warmer, &tail.seg) else {
            return;
        };
        let pos = tail.end();
        let seg_end = seg.start + self.seg_size;
        let want = (pos + warm::AHEAD).min(seg_end);
        // A new segment starts over at the writer's position.
        let mut from = tail.warmed.max(pos).max(seg.start);
        while from < want {
            let to = (from + warm::CHUNK).min(seg_end);
            match &self.zero {
                Some(front) => warmer.zero(
                    self.fs.clone(),
                    seg.path.clone(),
                    seg.start,
                    from..to,
                    front.clone(),
                ),
                None => warmer.ask(seg.file.clone(), from - seg.start, to - from),
            }
            from = to;
        }
        tail.warmed = from;
        // Half way through a segment, its successor is asked for: time enough to make it
        // even behind a queue of reads (a quarter of the way before the last AHEAD in the
        // smallest segment made ahead).
        if pos >= seg.start + self.seg_size / 2 && tail.next_asked != seg_end {
            tail.next_asked = seg_end;
            self.prepare_next(seg_end);
        }
        tail.warm_at = if from >= seg_end {
            seg_end
        } else {
            (from + warm::CHUNK).saturating_sub(warm::AHEAD)
        };
    }

    /// Asks the warm-up thread to make the segment at `start` (see [`Prepared`]). Whatever
    /// fails there is left for the writer, which makes the segment itself as before and so
    /// reports the error (a full disk) to the appender.
    fn prepare_next(&self, start: u64) {
        let Some(warmer) = &self.warmer else {
            return;
        };
        if self.seg_size < PREPARE_MIN_SEGMENT || self.defer_dir_sync {
            return;
        }
        let (fs, slot, seg_size) = (self.fs.clone(), self.next.clone(), self.seg_size);
        let (dir, path) = (self.dir.clone(), self.dir.join(file_name(start)));
        let (mapped, zero) = (self.mapped, self.zero.clone());
        warmer.run(move |scratch| {
            // The writer got there first (or a stale one is left from before a truncation).
            if fs.open(&path, false).is_ok() {
                return;
            }
            let made = fs.open(&path, true).and_then(|file| {
                file.set_len(seg_size)?;
                fs.sync_dir(&dir)?;
                let map = if mapped {
                    file.map_for_append(seg_size)?
                } else {
                    None
                };
                Ok((file, map))
            });
            match made {
                Ok((file, map)) => {
                    // Handed over first: the first pages are read in after, so a writer that
                    // arrives meanwhile takes the segment and faults in what is not there yet.
                    *slot.lock() = Some(Prepared {
                        start,
                        file: file.clone(),
                        path: path.clone(),
                        map,
                    });
                    let ahead = warm::AHEAD.min(seg_size);
                    match zero {
                        // Through a descriptor of its own (see `crate::warm`).
                        Some(front) => match fs.open(&path, false) {
                            Ok(own) => {
                                warm::zero_region(own.as_ref(), start, start, start + ahead, &front)
                            }
                            Err(e) => tracing::debug!(error = %e, "next segment not zeroed"),
                        },
                        None => warm::read_region(file.as_ref(), 0, ahead, scratch),
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, path = %path.display(), "next segment not made ahead; the writer makes it");
                }
            }
        });
    }

    /// The prepared segment for `start`, if that is the one made (any other is dropped).
    fn take_prepared(&self, start: u64) -> Option<Prepared> {
        self.next.lock().take().filter(|p| p.start == start)
    }

    /// Skips to the start of the next segment (after a blank marker was appended).
    pub fn roll(&self, tail: &mut Tail) -> Result<()> {
        self.drain(tail)?;
        let end = tail.end();
        let next = end - end % self.seg_size
            + if end.is_multiple_of(self.seg_size) {
                0
            } else {
                self.seg_size
            };
        tail.base = next;
        self.written.store(next, Ordering::Release);
        self.end.store(next, Ordering::Release);
        Ok(())
    }

    /// Makes everything appended so far durable: drains the buffer under the lock, then
    /// fdatasyncs outside it so appenders keep going. Returns the new durable end.
    #[allow(dead_code)]
    pub fn sync(&self) -> Result<u64> {
        self.sync_detailed().map_err(|f| match f {
            SyncFail::Write(e) | SyncFail::Fsync(e) => e,
        })
    }

    /// [`SegLog::sync`], telling a failed write (retryable: ENOSPC, EIO) from a failed fsync
    /// (fatal: the kernel may have dropped the dirty pages, so nothing written can be trusted).
    pub fn sync_detailed(&self) -> std::result::Result<u64, SyncFail> {
        let (target, segs, dir_unsynced) = {
            let mut tail = self.tail.lock();
            self.drain(&mut tail).map_err(SyncFail::Write)?;
            let mut segs = std::mem::take(&mut tail.unsynced);
            if let Some(s) = &tail.seg {
                segs.push(s.clone());
            }
            (tail.end(), segs, std::mem::take(&mut tail.dir_unsynced))
        };
        if dir_unsynced && let Err(e) = self.fs.sync_dir(&self.dir) {
            // Retried by the next sync; nothing is reported durable meanwhile.
            let mut tail = self.tail.lock();
            tail.dir_unsynced = true;
            tail.unsynced.extend(segs.iter().cloned());
            return Err(SyncFail::Write(StoreError::io(&self.dir, e)));
        }
        if target <= self.flushed() {
            return Ok(self.flushed());
        }
        for s in &segs {
            if let Err(e) = s.file.sync_data() {
                // Put them back so nobody believes they are durable.
                self.tail.lock().unsynced.extend(segs.iter().cloned());
                return Err(SyncFail::Fsync(StoreError::io(&s.path, e)));
            }
        }
        self.flushed.fetch_max(target, Ordering::AcqRel);
        Ok(target)
    }

    /// Fsyncs every segment holding bytes at or past `offset`: what an earlier process wrote
    /// and this one keeps without rewriting may still be only in the page cache.
    pub fn sync_from(&self, offset: u64) -> Result<()> {
        let segs: Vec<Arc<Segment>> = self
            .segs
            .read()
            .values()
            .filter(|s| s.start + self.seg_size > offset)
            .cloned()
            .collect();
        for s in segs {
            s.file.sync_data().map_err(|e| StoreError::io(&s.path, e))?;
        }
        Ok(())
    }

    /// Reads `len` bytes at `offset`, within one segment. `None` when the range is not (or no
    /// longer) in the log.
    pub fn read(&self, offset: u64, len: usize) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::with_capacity(len);
        Ok(self.read_into(offset, len, &mut out)?.then_some(out))
    }

    /// Appends the `len` bytes at `offset` to `out`; false (and `out` unchanged) when they
    /// are not all in the log (past the end, or in a removed segment).
    pub fn read_into(&self, offset: u64, len: usize, out: &mut Vec<u8>) -> Result<bool> {
        if offset + len as u64 > self.end() {
            return Ok(false);
        }
        let at = out.len();
        out.resize(at + len, 0);
        let read = self.read_exact(offset, &mut out[at..]);
        if !matches!(read, Ok(true)) {
            out.truncate(at);
        }
        read
    }

    /// Fills `out` with the bytes at `offset`; false when they are not all in the log (past
    /// the end, or in a removed segment), `out` then holding anything.
    pub fn read_at(&self, offset: u64, out: &mut [u8]) -> Result<bool> {
        if offset + out.len() as u64 > self.end() {
            return Ok(false);
        }
        self.read_exact(offset, out)
    }

    /// Fills `out` from `offset`: from the files, the write buffer, or both.
    fn read_exact(&self, offset: u64, out: &mut [u8]) -> Result<bool> {
        let len = out.len();
        let end_req = offset + len as u64;
        if end_req <= self.written.load(Ordering::Acquire) {
            return self.read_file(offset, out);
        }
        let tail = self.tail.lock();
        if end_req > tail.end() {
            return Ok(false);
        }
        if end_req <= tail.base {
            // Drained to the file since the check above.
            drop(tail);
            return self.read_file(offset, out);
        } else if offset >= tail.base {
            let from = (offset - tail.base) as usize;
            out.copy_from_slice(&tail.buf[from..from + len]);
        } else {
            let split = (tail.base - offset) as usize;
            if !self.read_file(offset, &mut out[..split])? {
                return Ok(false);
            }
            out[split..].copy_from_slice(&tail.buf[..len - split]);
        }
        Ok(true)
    }

    fn read_file(&self, offset: u64, out: &mut [u8]) -> Result<bool> {
        let start = offset - offset % self.seg_size;
        let Some(seg) = self.segs.read().get(&start).cloned() else {
            return Ok(false);
        };
        if offset - start + out.len() as u64 > self.seg_size {
            return Ok(false);
        }
        seg.file
            .read_exact_at(out, offset - start)
            .map_err(|e| StoreError::io(&seg.path, e))?;
        Ok(true)
    }

    /// Reads up to `max` bytes at `offset`, clamped to the end and to the segment.
    pub fn read_upto(&self, offset: u64, max: usize) -> Result<Option<Vec<u8>>> {
        let end = self.end();
        if offset >= end {
            return Ok(Some(Vec::new()));
        }
        let seg_end = offset - offset % self.seg_size + self.seg_size;
        let len = (max as u64).min(end - offset).min(seg_end - offset) as usize;
        self.read(offset, len)
    }

    /// Deletes whole segments that end at or below `offset` (never the one holding the end).
    pub fn delete_before(&self, offset: u64) -> Result<Vec<u64>> {
        let end = self.end();
        let victims: Vec<Arc<Segment>> = self
            .segs
            .read()
            .values()
            .filter(|s| s.start + self.seg_size <= offset && s.start + self.seg_size <= end)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for s in victims {
            self.remove_segment(&s)?;
            out.push(s.start);
        }
        Ok(out)
    }

    /// Removes every segment (topic deletion).
    pub fn destroy(&self) -> Result<()> {
        let all: Vec<Arc<Segment>> = self.segs.read().values().cloned().collect();
        let mut tail = self.tail.lock();
        tail.map = None;
        tail.seg = None;
        tail.buf.clear();
        tail.unsynced.clear();
        for s in all {
            self.remove_segment(&s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    #[test]
    fn append_read_roll_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let log = SegLog::open(fs.clone(), dir.path(), 100, 30, false).unwrap();
        log.set_end(0).unwrap();
        let mut t = log.lock();
        for i in 0..9u8 {
            log.prepare(&mut t, 10).unwrap();
            log.append(&mut t, &[i; 10]).unwrap();
        }
        // 90 bytes: drained in part (threshold 30), rest buffered; both readable.
        drop(t);
        assert_eq!(log.read(0, 10).unwrap().unwrap(), vec![0; 10]);
        assert_eq!(log.read(85, 5).unwrap().unwrap(), vec![8; 5]);
        assert!(log.read(85, 10).unwrap().is_none(), "past the end");
        let mut t = log.lock();
        log.roll(&mut t).unwrap();
        assert_eq!(t.end(), 100);
        log.prepare(&mut t, 10).unwrap();
        log.append(&mut t, &[42; 10]).unwrap();
        drop(t);
        assert_eq!(log.sync().unwrap(), 110);
        assert_eq!(log.segment_starts(), vec![0, 100]);
        assert_eq!(
            std::fs::metadata(dir.path().join(file_name(100)))
                .unwrap()
                .len(),
            100
        );
        assert_eq!(
            log.read_upto(95, 50).unwrap().unwrap().len(),
            5,
            "clamped to the file"
        );
        log.set_end(50).unwrap();
        assert_eq!(log.segment_starts(), vec![0]);
        let f = std::fs::read(dir.path().join(file_name(0))).unwrap();
        assert!(
            f[50..].iter().all(|b| *b == 0),
            "bytes past the end are zeroed"
        );
        assert_eq!(&f[40..50], &[4; 10]);
    }

    /// The mapped mode: appends land in the file at once (nothing buffered), across segment
    /// rolls; `set_end` unmaps before it zeroes, and appends after it map again.
    #[test]
    fn mapped_appends_are_in_the_file_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let log = SegLog::open(fs.clone(), dir.path(), 100, 30, true).unwrap();
        log.set_end(0).unwrap();
        let file0 = dir.path().join(file_name(0));
        let mut t = log.lock();
        for i in 0..9u8 {
            log.prepare(&mut t, 10).unwrap();
            log.append(&mut t, &[i + 1; 10]).unwrap();
            assert_eq!(log.written(), u64::from(i + 1) * 10, "nothing buffered");
        }
        assert!(
            t.map
                .as_ref()
                .is_some_and(|(start, m)| *start == 0 && m.is_some())
        );
        // Another handle (another process after a crash) sees the bytes without any flush.
        let on_disk = std::fs::read(&file0).unwrap();
        assert_eq!(&on_disk[80..90], &[9; 10]);
        log.roll(&mut t).unwrap();
        log.prepare(&mut t, 10).unwrap();
        log.append(&mut t, &[42; 10]).unwrap();
        assert!(t.map.as_ref().is_some_and(|(start, _)| *start == 100));
        drop(t);
        assert_eq!(log.read(100, 10).unwrap().unwrap(), vec![42; 10]);
        assert_eq!(log.sync().unwrap(), 110);
        log.set_end(50).unwrap();
        assert!(
            log.lock().map.is_none(),
            "unmapped before the length changed"
        );
        let mut t = log.lock();
        log.prepare(&mut t, 10).unwrap();
        log.append(&mut t, &[7; 10]).unwrap();
        drop(t);
        let f = std::fs::read(&file0).unwrap();
        assert_eq!(f.len(), 100);
        assert_eq!(&f[40..50], &[5; 10]);
        assert_eq!(&f[50..60], &[7; 10]);
        assert!(f[60..].iter().all(|b| *b == 0), "zeroed past the end");
    }

    /// A mapped log asks for the pages ahead of its end in chunks, stops asking once the
    /// segment's end is asked for, and starts over in the next segment and after `set_end`.
    #[test]
    fn mapped_log_asks_ahead_within_each_segment() {
        const MIB: u64 = 1 << 20;
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let seg = 24 * MIB;
        let log = SegLog::open(fs.clone(), dir.path(), seg, 64 << 10, true).unwrap();
        log.set_end(0).unwrap();
        let record = vec![1u8; 64 << 10];
        let mut t = log.lock();
        let append = |t: &mut Tail| {
            log.prepare(t, record.len()).unwrap();
            log.append(t, &record).unwrap();
        };
        append(&mut t);
        let first = t.base;
        assert_eq!(
            t.warmed,
            first + warm::AHEAD,
            "the first append asks for AHEAD"
        );
        assert_eq!(
            t.warm_at,
            first + warm::CHUNK,
            "and again once a chunk is written"
        );
        while t.base < first + warm::CHUNK {
            append(&mut t);
        }
        assert_eq!(t.warmed, first + warm::AHEAD + warm::CHUNK);
        while t.base < seg - 4 * MIB {
            append(&mut t);
        }
        assert_eq!(t.warmed, seg, "never past the segment's end");
        assert_eq!(t.warm_at, seg, "nothing more to ask for in this segment");
        while t.base < seg {
            append(&mut t);
        }
        append(&mut t);
        assert_eq!(t.base, seg + record.len() as u64);
        assert_eq!(
            t.warmed,
            t.base + warm::AHEAD,
            "the next segment from its start"
        );
        drop(t);
        log.set_end(5 * MIB).unwrap();
        let mut t = log.lock();
        assert_eq!((t.warmed, t.warm_at), (5 * MIB, 5 * MIB));
        log.prepare(&mut t, record.len()).unwrap();
        log.append(&mut t, &record).unwrap();
        assert_eq!(
            t.warmed,
            t.base + warm::AHEAD,
            "after a truncation, from the new end"
        );
    }

    /// Waits until the warm-up thread has made the segment at `start` ahead of the writer.
    fn wait_prepared(log: &SegLog, start: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while log.next.lock().as_ref().is_none_or(|p| p.start != start) {
            assert!(
                std::time::Instant::now() < deadline,
                "segment {start} never made ahead"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Under SYNC_FLUSH the buffered writer gets zeros written (and synced) ahead of it, and
    /// its next segment made and zeroed ahead, while it writes as fast as it can: every record
    /// reads back as written (no zero ever lands on one), and the space ahead is allocated.
    #[test]
    fn zeros_run_ahead_of_the_buffered_writer_and_never_over_it() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let seg = PREPARE_MIN_SEGMENT;
        let log = SegLog::open(fs.clone(), dir.path(), seg, 1 << 20, false)
            .unwrap()
            .zero_ahead()
            .unwrap();
        log.set_end(0).unwrap();
        const REC: u64 = 4096;
        // No zero byte in any record, and each one different from its neighbours.
        let record = |at: u64| -> Vec<u8> {
            (0..REC)
                .map(|j| ((at / REC * 7 + j) % 251 + 1) as u8)
                .collect()
        };
        let total = seg + seg / 4;
        let write_to = |t: &mut Tail, to: u64| {
            while t.end() < to {
                let r = record(t.end());
                log.prepare(t, r.len()).unwrap();
                log.append(t, &r).unwrap();
            }
        };
        // The zeroing thread is held up while the writer passes everything it was asked to
        // zero: released, it must find all of it claimed.
        let (release, held) = std::sync::mpsc::channel::<()>();
        log.warmer.as_ref().unwrap().run(move |_| {
            let _ = held.recv();
        });
        let mut t = log.lock();
        write_to(&mut t, 3 * warm::AHEAD);
        drop(t);
        log.sync().unwrap();
        release.send(()).unwrap();
        let mut t = log.lock();
        write_to(&mut t, total);
        let asked = t.warmed;
        drop(t);
        assert_eq!(log.sync().unwrap(), total);
        assert!(
            log.segment(seg).is_some(),
            "rolled into the segment made ahead"
        );

        let front = log.zero.clone().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while front.position() < asked {
            assert!(
                std::time::Instant::now() < deadline,
                "zeroing never caught up"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        for start in [0, seg] {
            let bytes = std::fs::read(dir.path().join(file_name(start))).unwrap();
            let written = (total - start).min(seg);
            for at in (0..written).step_by(REC as usize) {
                let got = &bytes[at as usize..(at + REC) as usize];
                assert!(
                    got == record(start + at).as_slice(),
                    "record at {} intact",
                    start + at
                );
            }
        }
        let second = std::fs::metadata(dir.path().join(file_name(seg))).unwrap();
        assert!(
            second.blocks() * 512 >= asked - seg,
            "allocated up to what was asked: {} < {}",
            second.blocks() * 512,
            asked - seg
        );
        assert!(
            asked >= total + warm::AHEAD - warm::CHUNK,
            "asked ahead of the end"
        );

        // Stopped: nothing more is written ahead.
        log.stop_zeroing();
        assert_eq!(front.position(), u64::MAX);
    }

    /// A large mapped log's next segment is made ahead (on disk, full length, mapped) once
    /// half of the current one is written; the roll takes it; `set_end` drops one not yet
    /// taken.
    #[test]
    fn the_next_segment_is_made_ahead_and_taken_at_the_roll() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let seg = PREPARE_MIN_SEGMENT;
        let log = SegLog::open(fs.clone(), dir.path(), seg, 64 << 10, true).unwrap();
        log.set_end(0).unwrap();
        let record: Vec<u8> = (0..64 << 10).map(|i| (i % 251) as u8).collect();
        let append = |t: &mut Tail| {
            log.prepare(t, record.len()).unwrap();
            log.append(t, &record).unwrap();
        };
        let mut t = log.lock();
        while t.base < seg / 2 - (1 << 20) {
            append(&mut t);
        }
        assert!(
            log.next.lock().is_none(),
            "not asked before half of the segment is written"
        );
        let second = dir.path().join(file_name(seg));
        assert!(!second.exists());
        while t.base < seg / 2 + (1 << 20) {
            append(&mut t);
        }
        wait_prepared(&log, seg);
        assert_eq!(
            std::fs::metadata(&second).unwrap().len(),
            seg,
            "made at full length"
        );
        assert!(
            log.segment(seg).is_none(),
            "not in the segment map before the roll"
        );
        while t.base < seg {
            append(&mut t);
        }
        append(&mut t);
        assert!(log.next.lock().is_none(), "taken");
        assert!(log.segment(seg).is_some());
        assert!(
            matches!(&t.map, Some((start, Some(_))) if *start == seg),
            "its mapping is used"
        );
        assert_eq!(
            t.warmed,
            seg + warm::AHEAD,
            "its first pages are read in with it"
        );
        let end = t.base;
        drop(t);
        assert_eq!(log.read(seg, record.len()).unwrap().unwrap(), record);
        assert_eq!(std::fs::read(&second).unwrap()[..record.len()], record[..]);

        // Near the end of the second segment a third is made; a truncation drops it.
        let mut t = log.lock();
        while t.base < seg + seg / 2 + (1 << 20) {
            append(&mut t);
        }
        drop(t);
        wait_prepared(&log, 2 * seg);
        log.set_end(end).unwrap();
        assert!(log.next.lock().is_none(), "dropped by set_end");
        let mut t = log.lock();
        append(&mut t);
        assert_eq!(t.base, end + record.len() as u64);
        drop(t);
        assert_eq!(log.read(end, record.len()).unwrap().unwrap(), record);
    }
}
