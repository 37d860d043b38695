//! Index files for lookups by `KEYS` and `UNIQ_KEY` (spec §5.4), in Java's format:
//! a 40-byte header, `slot_num` i32 hash slots, then `index_num` 20-byte entries chained per
//! bucket (newest first). Files are named by creation time `yyyyMMddHHmmssSSS` (UTC).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use remoting::message::java_string_hash_of;

use crate::error::{Result, StoreError};
use crate::fs::{FileSystem, FsFile};
use crate::seglog::SyncFail;

const HEADER_SIZE: u64 = 40;
const ENTRY_SIZE: u64 = 20;

/// The 40-byte header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexHeader {
    /// Store time of the first entry.
    pub begin_timestamp: i64,
    /// Store time of the last entry.
    pub end_timestamp: i64,
    /// Commit-log offset of the first entry.
    pub begin_phy_offset: i64,
    /// Commit-log offset of the last entry.
    pub end_phy_offset: i64,
    /// Slots in use.
    pub hash_slot_count: i32,
    /// Next entry index (starts at 1).
    pub index_count: i32,
}

impl IndexHeader {
    fn encode(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[0..8].copy_from_slice(&self.begin_timestamp.to_be_bytes());
        b[8..16].copy_from_slice(&self.end_timestamp.to_be_bytes());
        b[16..24].copy_from_slice(&self.begin_phy_offset.to_be_bytes());
        b[24..32].copy_from_slice(&self.end_phy_offset.to_be_bytes());
        b[32..36].copy_from_slice(&self.hash_slot_count.to_be_bytes());
        b[36..40].copy_from_slice(&self.index_count.to_be_bytes());
        b
    }
    fn decode(b: &[u8; 40]) -> IndexHeader {
        let l = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            i64::from_be_bytes(a)
        };
        let w = |i: usize| i32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        IndexHeader {
            begin_timestamp: l(0),
            end_timestamp: l(8),
            begin_phy_offset: l(16),
            end_phy_offset: l(24),
            hash_slot_count: w(32),
            index_count: w(36),
        }
    }
}

/// Reads the header of an index file without opening a store (for `store-ctl`).
pub fn read_header(path: &Path) -> Option<IndexHeader> {
    use std::io::Read;
    let mut b = [0u8; 40];
    std::fs::File::open(path).ok()?.read_exact(&mut b).ok()?;
    Some(IndexHeader::decode(&b))
}

/// `abs(javaStringHashCode(topic#key))`, with `i32::MIN` → 0 as in Java.
pub fn key_hash(topic: &str, key: &str) -> i32 {
    let h = java_string_hash_of(&[topic, "#", key]);
    if h == i32::MIN { 0 } else { h.abs() }
}

/// Write-back state of the newest (writable) file: the slot table lives in memory and new
/// entries are buffered, so indexing a key costs no system call; `flush` writes the changed
/// slot pages, the buffered entries and the header, then fsyncs.
#[derive(Debug)]
struct Active {
    slots: Vec<i32>,
    dirty_pages: std::collections::BTreeSet<usize>,
    pending: Vec<u8>,
    pending_from: i32,
}

const SLOTS_PER_PAGE: usize = 1024;

#[derive(Debug)]
struct State {
    header: IndexHeader,
    active: Option<Active>,
    /// The header the last flush made durable: a flush with nothing new since skips its write
    /// and fsync (an idle store's checkpoints then touch no index file).
    flushed: Option<IndexHeader>,
}

/// One index file.
#[derive(Debug)]
pub struct IndexFile {
    /// Path.
    pub path: PathBuf,
    file: Arc<dyn FsFile>,
    slot_num: u32,
    index_num: u32,
    /// Created empty by this process: its slot table is known to be all zeros.
    fresh: bool,
    /// Set at open after a crash: the smallest record offset whose entries were dropped.
    dropped_from: Mutex<Option<u64>>,
    state: Mutex<State>,
    /// Held for a whole flush ([`IndexFile::flush_inner`]).
    flushing: Mutex<()>,
}

impl IndexFile {
    fn open(
        fs: &dyn FileSystem,
        path: &Path,
        slot_num: u32,
        index_num: u32,
        crashed: Option<u64>,
    ) -> Result<IndexFile> {
        let size = HEADER_SIZE + slot_num as u64 * 4 + index_num as u64 * ENTRY_SIZE;
        let file = fs.open(path, true).map_err(|e| StoreError::io(path, e))?;
        let len = file.len().map_err(|e| StoreError::io(path, e))?;
        let mut header = IndexHeader {
            index_count: 1,
            ..Default::default()
        };
        let fresh = len == 0;
        if fresh {
            file.set_len(size).map_err(|e| StoreError::io(path, e))?;
        } else {
            if len != size {
                file.set_len(size).map_err(|e| StoreError::io(path, e))?;
            }
            let mut b = [0u8; 40];
            file.read_exact_at(&mut b, 0)
                .map_err(|e| StoreError::io(path, e))?;
            let h = IndexHeader::decode(&b);
            if h.index_count >= 1 && h.index_count as u32 <= index_num {
                header = h;
            }
        }
        let f = IndexFile {
            path: path.to_path_buf(),
            file,
            slot_num,
            index_num,
            fresh,
            dropped_from: Mutex::new(None),
            state: Mutex::new(State {
                header,
                active: None,
                flushed: None,
            }),
            flushing: Mutex::new(()),
        };
        // Slots pointing past the kept entries are repaired in memory when the file is next
        // written (`load_active`), so opening writes nothing (a store on a full disk opens).
        if let Some(trusted_end) = crashed {
            *f.dropped_from.lock() = f.drop_unflushed_entries(trusted_end)?;
        }
        Ok(f)
    }

    /// After a crash the newest file's header and entries past its last fsync may be any mix
    /// of old, new and torn bytes: keep the entries up to the first all-zero one and, when the
    /// checkpoint recorded the durable index end (`trusted_end` > 0, the end of a header that
    /// was fsynced with its entries), only entries of records before it. Re-dispatch indexes
    /// the rest again (recovery starts it at the new end).
    fn drop_unflushed_entries(&self, trusted_end: u64) -> Result<Option<u64>> {
        let mut st = self.state.lock();
        let count = st.header.index_count;
        let mut keep = 1i32;
        let mut last_phy = None;
        let mut first_dropped = None;
        let per_chunk = 1 << 16;
        'scan: while keep < count {
            let n = (count - keep).min(per_chunk);
            let mut buf = vec![0u8; n as usize * ENTRY_SIZE as usize];
            self.file
                .read_exact_at(&mut buf, self.entry_pos(keep))
                .map_err(|e| StoreError::io(&self.path, e))?;
            for e in buf.chunks_exact(ENTRY_SIZE as usize) {
                let mut p = [0u8; 8];
                p.copy_from_slice(&e[4..12]);
                let phy = i64::from_be_bytes(p);
                if e.iter().all(|b| *b == 0)
                    || phy < 0
                    || (trusted_end > 0 && phy as u64 >= trusted_end)
                {
                    // The first dropped record: at most the checkpoint's end (a torn or
                    // zero entry stands for anything after the last kept one).
                    let after_kept = last_phy.map_or(0, |p: i64| p.max(0) as u64);
                    first_dropped = Some(if trusted_end > 0 {
                        trusted_end.min((phy.max(0) as u64).max(after_kept))
                    } else {
                        after_kept
                    });
                    break 'scan;
                }
                last_phy = Some(phy);
                keep += 1;
            }
        }
        if keep < count {
            tracing::warn!(file = %self.path.display(), kept = keep - 1, dropped = count - keep, "index entries past the last durable flush dropped; re-dispatch indexes them again");
        } else {
            first_dropped = None;
        }
        // The header may be newer (or torn) too: it describes the kept entries only.
        st.header.index_count = keep;
        match last_phy {
            Some(p) => st.header.end_phy_offset = p,
            None => {
                st.header = IndexHeader {
                    index_count: 1,
                    ..Default::default()
                }
            }
        }
        Ok(first_dropped)
    }

    /// Rebuilds the slot table from the entries below `count` (each slot → its newest entry),
    /// for a file whose slots point past its last flushed entry (a crash between writing a
    /// slot page and the header). Clearing such slots instead would cut the chains of the
    /// durable entries behind them.
    fn rebuild_slots(&self, count: i32) -> Result<Vec<i32>> {
        let mut slots = vec![0i32; self.slot_num as usize];
        let per_chunk = 1 << 16;
        let mut idx = 1i32;
        while idx < count {
            let n = (count - idx).min(per_chunk);
            let mut buf = vec![0u8; n as usize * ENTRY_SIZE as usize];
            self.file
                .read_exact_at(&mut buf, self.entry_pos(idx))
                .map_err(|e| StoreError::io(&self.path, e))?;
            for (i, e) in buf.chunks_exact(ENTRY_SIZE as usize).enumerate() {
                let hash = i32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                slots[self.slot_of(hash)] = idx + i as i32;
            }
            idx += n;
        }
        Ok(slots)
    }

    /// The in-memory header.
    pub fn header(&self) -> IndexHeader {
        self.state.lock().header
    }

    fn is_full(&self) -> bool {
        self.state.lock().header.index_count as u32 >= self.index_num
    }

    fn slot_of(&self, hash: i32) -> usize {
        (hash as u32 % self.slot_num) as usize
    }

    fn entry_pos(&self, idx: i32) -> u64 {
        HEADER_SIZE + self.slot_num as u64 * 4 + idx as u64 * ENTRY_SIZE
    }

    fn load_active(&self, st: &mut State) -> Result<()> {
        if st.active.is_some() {
            return Ok(());
        }
        // A file this process just created holds only zeros: skip reading (and converting) the
        // slot table, which is 20 MB at the default 5 M slots and would hold up dispatch.
        let mut dirty_pages = std::collections::BTreeSet::new();
        let slots = if self.fresh {
            vec![0i32; self.slot_num as usize]
        } else {
            let mut raw = vec![0u8; self.slot_num as usize * 4];
            self.file
                .read_exact_at(&mut raw, HEADER_SIZE)
                .map_err(|e| StoreError::io(&self.path, e))?;
            let slots: Vec<i32> = raw
                .chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let count = st.header.index_count;
            if slots.iter().any(|v| *v < 0 || *v >= count) {
                tracing::warn!(file = %self.path.display(), "index slots point past the last flushed entry; rebuilding the slot table");
                let rebuilt = self.rebuild_slots(count)?;
                for (i, (a, b)) in slots.iter().zip(&rebuilt).enumerate() {
                    if a != b {
                        dirty_pages.insert(i / SLOTS_PER_PAGE);
                    }
                }
                rebuilt
            } else {
                slots
            }
        };
        st.active = Some(Active {
            slots,
            dirty_pages,
            pending: Vec::new(),
            pending_from: st.header.index_count,
        });
        Ok(())
    }

    /// Adds `key` → `phy_offset`; false when the file is full.
    fn put(&self, hash: i32, phy_offset: i64, store_ts: i64) -> Result<bool> {
        let mut st = self.state.lock();
        if st.header.index_count as u32 >= self.index_num {
            return Ok(false);
        }
        self.load_active(&mut st)?;
        let st = &mut *st;
        let h = &mut st.header;
        let Some(a) = st.active.as_mut() else {
            return Ok(false);
        };
        if h.index_count == 1 {
            h.begin_timestamp = store_ts;
            h.begin_phy_offset = phy_offset;
        }
        let slot = self.slot_of(hash);
        let mut prev = a.slots[slot];
        if prev < 0 || prev >= h.index_count {
            prev = 0;
        }
        let diff = ((store_ts - h.begin_timestamp) / 1000).clamp(0, i32::MAX as i64) as i32;
        let idx = h.index_count;
        a.pending.extend_from_slice(&hash.to_be_bytes());
        a.pending.extend_from_slice(&phy_offset.to_be_bytes());
        a.pending.extend_from_slice(&diff.to_be_bytes());
        a.pending.extend_from_slice(&prev.to_be_bytes());
        a.slots[slot] = idx;
        a.dirty_pages.insert(slot / SLOTS_PER_PAGE);
        if prev == 0 {
            h.hash_slot_count += 1;
        }
        h.index_count += 1;
        h.end_timestamp = store_ts;
        h.end_phy_offset = phy_offset;
        if a.pending.len() >= 1 << 20 {
            self.write_pending(a)?;
        }
        Ok(true)
    }

    fn write_pending(&self, a: &mut Active) -> Result<()> {
        if a.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all_at(&a.pending, self.entry_pos(a.pending_from))
            .map_err(|e| StoreError::io(&self.path, e))?;
        a.pending_from += (a.pending.len() / ENTRY_SIZE as usize) as i32;
        a.pending.clear();
        Ok(())
    }

    fn query(&self, hash: i32, begin: i64, end: i64, max: usize, out: &mut Vec<i64>) -> Result<()> {
        // Held for the whole walk: queries are rare admin operations.
        let st = self.state.lock();
        let h = st.header;
        let mut idx = match &st.active {
            Some(a) => a.slots[self.slot_of(hash)],
            None => {
                let mut b = [0u8; 4];
                self.file
                    .read_exact_at(&mut b, HEADER_SIZE + self.slot_of(hash) as u64 * 4)
                    .map_err(|e| StoreError::io(&self.path, e))?;
                i32::from_be_bytes(b)
            }
        };
        let mut steps = 0u32;
        while idx > 0 && idx < h.index_count && out.len() < max && steps < self.index_num {
            steps += 1;
            let mut e = [0u8; 20];
            match &st.active {
                Some(a) if idx >= a.pending_from => {
                    let at = (idx - a.pending_from) as usize * ENTRY_SIZE as usize;
                    e.copy_from_slice(&a.pending[at..at + 20]);
                }
                _ => self
                    .file
                    .read_exact_at(&mut e, self.entry_pos(idx))
                    .map_err(|e| StoreError::io(&self.path, e))?,
            }
            let eh = i32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let mut p = [0u8; 8];
            p.copy_from_slice(&e[4..12]);
            let phy = i64::from_be_bytes(p);
            let diff = i32::from_be_bytes([e[12], e[13], e[14], e[15]]) as i64;
            let prev = i32::from_be_bytes([e[16], e[17], e[18], e[19]]);
            let t = h.begin_timestamp + diff * 1000;
            // Times are stored in whole seconds: compare at that resolution.
            if eh == hash && t.saturating_add(999) >= begin && t <= end {
                out.push(phy);
            }
            // Chains only go backwards; anything else is damage.
            if prev >= idx {
                break;
            }
            idx = prev;
        }
        Ok(())
    }

    /// Writes buffered entries, changed slot pages and the header, then fsyncs. With
    /// `release` the in-memory state is dropped (the file is full and no longer written).
    ///
    /// Only the entries' write and a copy of the changed slot pages happen under the state
    /// lock; the pages (thousands a second under keyed load) are written after it is
    /// released, so dispatch's index puts do not wait for those writes. The copy is consistent
    /// with the header taken with it; flushes run one at a time so an older copy never lands
    /// after a newer one.
    fn flush_inner(&self, release: bool) -> std::result::Result<IndexHeader, SyncFail> {
        let w = |e| SyncFail::Write(StoreError::io(&self.path, e));
        let _one_at_a_time = self.flushing.lock();
        let (header, pages, copy) = {
            let mut st = self.state.lock();
            let h = st.header;
            let unchanged = st.flushed == Some(h)
                && st
                    .active
                    .as_ref()
                    .is_none_or(|a| a.dirty_pages.is_empty() && a.pending.is_empty());
            if unchanged {
                if release {
                    st.active = None;
                }
                return Ok(h);
            }
            // (first slot, slots) of each changed page, and their bytes in `copy`.
            let mut pages: Vec<(usize, usize)> = Vec::new();
            let mut copy: Vec<u8> = Vec::new();
            if let Some(a) = st.active.as_mut() {
                self.write_pending(a).map_err(SyncFail::Write)?;
                let dirty = std::mem::take(&mut a.dirty_pages);
                copy.reserve(dirty.len() * SLOTS_PER_PAGE * 4);
                for p in dirty {
                    let from = p * SLOTS_PER_PAGE;
                    let to = (from + SLOTS_PER_PAGE).min(a.slots.len());
                    for v in &a.slots[from..to] {
                        copy.extend_from_slice(&v.to_be_bytes());
                    }
                    pages.push((from, to - from));
                }
            }
            if release {
                st.active = None;
            }
            (h, pages, copy)
        };
        let mut at = 0usize;
        for (i, &(from, slots)) in pages.iter().enumerate() {
            let len = slots * 4;
            if let Err(e) = self
                .file
                .write_all_at(&copy[at..at + len], HEADER_SIZE + from as u64 * 4)
            {
                // The pages not written stay dirty for the next flush.
                if let Some(a) = self.state.lock().active.as_mut() {
                    a.dirty_pages
                        .extend(pages[i..].iter().map(|(from, _)| from / SLOTS_PER_PAGE));
                }
                return Err(w(e));
            }
            at += len;
        }
        self.file.write_all_at(&header.encode(), 0).map_err(w)?;
        self.file
            .sync_data()
            .map_err(|e| SyncFail::Fsync(StoreError::io(&self.path, e)))?;
        self.state.lock().flushed = Some(header);
        Ok(header)
    }

    fn flush(&self) -> std::result::Result<IndexHeader, SyncFail> {
        self.flush_inner(false)
    }
}

/// Formats epoch ms as `yyyyMMddHHmmssSSS` (UTC).
pub fn time_file_name(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// All index files of a store.
#[derive(Debug)]
pub struct IndexService {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    slot_num: u32,
    index_num: u32,
    files: RwLock<Vec<Arc<IndexFile>>>,
    /// Records below this commit-log offset are already indexed (set by recovery, so that a
    /// re-dispatch from further back does not index them twice).
    skip_below: std::sync::atomic::AtomicU64,
}

impl IndexService {
    /// Loads the index files in `dir`. `crashed`: the previous run did not stop cleanly, with
    /// the checkpoint's durable index end (0 = unknown); the newest file then keeps only its
    /// verified entries (its entries past the last flush are rebuilt by re-dispatch).
    pub(crate) fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        slot_num: u32,
        index_num: u32,
        crashed: Option<u64>,
    ) -> Result<IndexService> {
        crate::fs::create_dir_all_durable(fs.as_ref(), dir).map_err(|e| StoreError::io(dir, e))?;
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| StoreError::io(dir, e))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        names.sort();
        let mut files = Vec::new();
        let n = names.len();
        for (i, name) in names.into_iter().enumerate() {
            let f = IndexFile::open(
                fs.as_ref(),
                &dir.join(name),
                slot_num,
                index_num,
                crashed.filter(|_| i + 1 == n),
            )?;
            files.push(Arc::new(f));
        }
        Ok(IndexService {
            dir: dir.to_path_buf(),
            fs,
            slot_num,
            index_num,
            files: RwLock::new(files),
            skip_below: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Offset of the last record indexed in the newest file (`None`: no entry at all).
    pub fn newest_end(&self) -> Option<u64> {
        self.files
            .read()
            .iter()
            .rev()
            .map(|f| f.header())
            .find(|h| h.index_count > 1)
            .map(|h| h.end_phy_offset.max(0) as u64)
    }

    /// After a crash: the smallest record offset whose entries the newest file dropped
    /// (re-dispatch must start at or before it).
    pub(crate) fn dropped_from(&self) -> Option<u64> {
        self.files
            .read()
            .last()
            .and_then(|f| *f.dropped_from.lock())
    }

    /// Records below `offset` are not indexed again (recovery; 0 after a truncation).
    pub(crate) fn set_skip_below(&self, offset: u64) {
        self.skip_below
            .store(offset, std::sync::atomic::Ordering::Release);
    }

    fn active(&self, now_ms: i64) -> Result<Arc<IndexFile>> {
        if let Some(f) = self.files.read().last()
            && !f.is_full()
        {
            return Ok(f.clone());
        }
        let mut files = self.files.write();
        if let Some(f) = files.last()
            && !f.is_full()
        {
            return Ok(f.clone());
        }
        if let Some(f) = files.last() {
            f.flush_inner(true).map_err(|e| match e {
                SyncFail::Write(e) | SyncFail::Fsync(e) => e,
            })?;
        }
        // Named by the wall clock (as Java does), never before the newest file: files are
        // ordered by name, and a re-dispatch of old records must not sort its new file
        // before the existing ones.
        let _ = now_ms;
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut name = time_file_name(wall);
        let newest = files
            .iter()
            .filter_map(|f| f.path.file_name()?.to_str()?.parse::<u64>().ok())
            .max();
        if let Some(n) = newest
            && name.parse::<u64>().unwrap_or(0) <= n
        {
            name = format!("{:017}", n + 1);
        }
        let path = self.dir.join(&name);
        let f = Arc::new(IndexFile::open(
            self.fs.as_ref(),
            &path,
            self.slot_num,
            self.index_num,
            None,
        )?);
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| StoreError::io(&self.dir, e))?;
        files.push(f.clone());
        Ok(f)
    }

    /// Indexes `key` of `topic` for the record at `phy_offset` stored at `store_ts`.
    pub(crate) fn put(&self, topic: &str, key: &str, phy_offset: i64, store_ts: i64) -> Result<()> {
        if (phy_offset.max(0) as u64) < self.skip_below.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let hash = key_hash(topic, key);
        for _ in 0..2 {
            let f = self.active(store_ts)?;
            if f.put(hash, phy_offset, store_ts)? {
                return Ok(());
            }
        }
        Err(StoreError::Config(
            "index file full right after creation".into(),
        ))
    }

    /// Commit-log offsets of records of `topic` indexed under `key` and stored in
    /// `[begin, end]` ms, newest first, at most `max` (unverified: callers check the record).
    pub fn query(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Result<Vec<i64>> {
        let hash = key_hash(topic, key);
        let files: Vec<Arc<IndexFile>> = self.files.read().clone();
        let mut out = Vec::new();
        for f in files.iter().rev() {
            if out.len() >= max {
                break;
            }
            let h = f.header();
            if h.index_count <= 1
                || h.end_timestamp < begin.saturating_sub(1000)
                || h.begin_timestamp > end
            {
                continue;
            }
            f.query(hash, begin, end, max, &mut out)?;
        }
        Ok(out)
    }

    /// Writes headers and fsyncs every file that may have changed (the newest).
    /// Returns the offset of the last record the durable index holds (what the checkpoint
    /// records as `index_end_offset`); `None`: no entry yet.
    pub(crate) fn flush(&self) -> std::result::Result<Option<u64>, SyncFail> {
        let last = self.files.read().last().cloned();
        if let Some(f) = last {
            let h = f.flush()?;
            if h.index_count > 1 {
                return Ok(Some(h.end_phy_offset.max(0) as u64));
            }
        }
        // The newest file is empty: older files are full and were flushed when they filled.
        let files = self.files.read();
        Ok(files
            .iter()
            .rev()
            .skip(1)
            .map(|f| f.header())
            .find(|h| h.index_count > 1)
            .map(|h| h.end_phy_offset.max(0) as u64))
    }

    /// Deletes files whose entries all point below `log_min` (never the newest).
    pub(crate) fn trim_below(&self, log_min: u64) -> Result<()> {
        let mut files = self.files.write();
        while files.len() > 1 && (files[0].header().end_phy_offset as u64) < log_min {
            let f = files.remove(0);
            self.fs
                .remove_file(&f.path)
                .map_err(|e| StoreError::io(&f.path, e))?;
        }
        Ok(())
    }

    /// Removes every index file (the store was reset to an empty log).
    pub(crate) fn clear(&self) -> Result<()> {
        let mut files = self.files.write();
        for f in files.drain(..) {
            self.fs
                .remove_file(&f.path)
                .map_err(|e| StoreError::io(&f.path, e))?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| StoreError::io(&self.dir, e))
    }

    /// Headers of all files, oldest first (for `store-ctl`).
    pub fn headers(&self) -> Vec<(PathBuf, IndexHeader)> {
        self.files
            .read()
            .iter()
            .map(|f| (f.path.clone(), f.header()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    #[test]
    fn names_and_hashes() {
        assert_eq!(time_file_name(0), "19700101000000000");
        assert_eq!(time_file_name(1_710_504_000_123), "20240315120000123");
        assert!(key_hash("T", "k") >= 0);
    }

    #[test]
    fn put_query_roll_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let idx = IndexService::open(fs.clone(), dir.path(), 7, 5, None).unwrap();
        for i in 0..10i64 {
            idx.put("T", &format!("k{}", i % 3), i * 100, 1_000_000 + i * 1000)
                .unwrap();
        }
        // 4 entries per file (entry 0 unused) → 3 files.
        assert_eq!(idx.headers().len(), 3);
        let got = idx.query("T", "k0", 10, 0, i64::MAX).unwrap();
        assert_eq!(got, vec![900, 600, 300, 0]);
        let got = idx.query("T", "k0", 10, 1_003_000, 1_006_000).unwrap();
        assert_eq!(got, vec![600, 300]);
        assert!(idx.query("U", "k0", 10, 0, i64::MAX).unwrap().is_empty());
        idx.flush().unwrap();
        drop(idx);
        let idx = IndexService::open(fs, dir.path(), 7, 5, Some(0)).unwrap();
        assert_eq!(
            idx.query("T", "k1", 10, 0, i64::MAX).unwrap(),
            vec![700, 400, 100]
        );
        idx.trim_below(500).unwrap();
        assert_eq!(
            idx.query("T", "k1", 10, 0, i64::MAX).unwrap(),
            vec![700, 400]
        );
    }

    /// Flushes copy the slot pages under the lock and write them after it: puts running
    /// meanwhile (keyed messages, several slot pages) must all be found after a reopen, and
    /// what the last flush's header claims must be on disk.
    #[test]
    fn flushes_during_puts_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        // 5,000 slots: five slot pages, so flushes copy several.
        let idx =
            Arc::new(IndexService::open(fs.clone(), dir.path(), 5_000, 20_000, None).unwrap());
        let writer = {
            let idx = idx.clone();
            std::thread::spawn(move || {
                for i in 0..6_000i64 {
                    idx.put("T", &format!("key-{i}"), i * 100, 1_000_000 + i)
                        .unwrap();
                }
            })
        };
        while !writer.is_finished() {
            idx.flush().unwrap();
        }
        writer.join().unwrap();
        let end = idx.flush().unwrap();
        assert_eq!(end, Some(599_900), "the last record is durable");
        drop(idx);
        let idx = IndexService::open(fs, dir.path(), 5_000, 20_000, None).unwrap();
        for i in (0..6_000i64).step_by(7) {
            assert_eq!(
                idx.query("T", &format!("key-{i}"), 10, 0, i64::MAX)
                    .unwrap(),
                vec![i * 100],
                "key-{i}"
            );
        }
    }
}
