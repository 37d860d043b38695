//! Bringing the commit log's pages into the page cache ahead of the mapped writer, on a thread
//! of its own.
//!
//! Why: a mapped segment's space is reserved with `fallocate`, so its blocks are "unwritten".
//! The first touch of such a page through the mapping made the kernel allocate page-cache
//! folios and zero them, for a whole readahead window at once (`read_ahead_kb`, 8 MiB on the
//! machine this was measured on). The writer holds the append lock while it faults, so every
//! sender waited for the zeroing: a profile of the broker at 30 k msgs/s showed 20–30 ms stalls
//! every ~250 ms inside the `memcpy` into the mapping, and the send p999 sat at about 27 ms.
//!
//! Now this thread reads the 16 MiB ahead of the writer sequentially, so the kernel's readahead
//! allocates and zeroes there, in large folios; and the mapping is `MADV_RANDOM`
//! ([`crate::mapped`]), so the writer's own faults never start a readahead window. They find
//! the folios cached and map a whole folio per fault (0.04 faults per 1 KiB message). Reading
//! rather than `posix_fadvise(WILLNEED)`, which was measured too: the kernel fills an advised
//! range with single pages, so the writer faulted once per 4 KiB (0.3 per message), and batches
//! of 32 reached 197 k msgs/s against 244 k this way, in the same run.
//!
//! The work is advisory: a request that does not fit the queue is dropped, a failed read is
//! ignored, and a writer that catches up faults its pages in itself, one at a time.
//!
//! The same thread makes the next segment of a large log ahead of the writer
//! ([`Warmer::run`], `SegLog`'s `Prepared`), so that a roll finds it made, reserved, mapped
//! and partly read in.
//!
//! For the commit log under SYNC_FLUSH (written with `pwrite`, acknowledged after each group
//! fsync) it writes zeros ahead of the writer instead ([`Warmer::zero`]) and fdatasyncs them
//! in small units (a group fsync that runs at the same time waits for that much).
//! Why: a segment file is sparse until written, so every group fsync also allocated the blocks
//! its records landed in and wrote the file's block map: on this machine's ext4 an fdatasync of
//! 15 KiB into a hole took 330 µs and 142 µs of CPU, into written zeros 160–180 µs and 64–71 µs
//! (BENCHMARKS.md, session 12). File systems with a journal pay more (a journal commit per
//! fsync for the allocation, or for converting fallocated "unwritten" extents). The price is
//! that every byte of the log reaches the disk twice, zeros first, off the acknowledgement
//! path. Java's `warmMapedFileEnable` writes zeros for the same reason.
//!
//! The zeros must never land on a record: [`ZeroFront`] is the boundary between the two
//! writers. The thread writes zeros only at or above it, holding its lock per write; the writer
//! raises it past every write it is about to make, taking the lock only when it has caught up
//! with the zeroing (so it waits at most for one [`STEP`]-sized write). The thread fdatasyncs
//! through a descriptor of its own: an error it sees must still reach the flush thread's
//! descriptor, which reports each write-back error once per open file.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use parking_lot::Mutex;

use crate::fs::{FileSystem, FsFile};

/// How far ahead of the writer pages are asked for.
pub(crate) const AHEAD: u64 = 16 << 20;
/// The size of one request: the writer asks again when it is within `AHEAD - CHUNK` of the
/// end of what it asked for.
pub(crate) const CHUNK: u64 = 2 << 20;
/// One read: small enough to cost little to copy, large enough that the kernel sees a
/// sequential reader and grows its readahead window to the full size.
const STEP: u64 = 64 << 10;
/// Requests queued at most (a full queue drops the newest: the writer is far ahead anyway).
const QUEUE: usize = 64;

/// Zeros are fdatasynced in units of this size ([`zero_region`]).
const ZERO_UNIT: u64 = 256 << 10;
/// What a zero write copies from (in the binary's zero-initialised data, no allocation).
static ZEROS: [u8; STEP as usize] = [0; STEP as usize];

/// Work run on the thread, given its read buffer.
type Work = Box<dyn FnOnce(&mut [u8]) + Send>;

/// What the thread does for the writer.
enum Job {
    /// Bring a region of a segment file into the page cache.
    Read {
        file: Arc<dyn FsFile>,
        off: u64,
        len: u64,
    },
    /// Anything else the writer wants done off its path (making the next segment), given the
    /// thread's read buffer.
    Run(Work),
    /// Write zeros over `[from, to)` (log offsets) of the segment starting at `seg_start`.
    Zero {
        fs: Arc<dyn FileSystem>,
        path: PathBuf,
        seg_start: u64,
        from: u64,
        to: u64,
        front: Arc<ZeroFront>,
    },
}

/// The boundary, in log offsets, below which the zeroing thread never writes (module docs).
#[derive(Debug, Default)]
pub(crate) struct ZeroFront {
    /// Held by the thread for each zero write, and by a writer that moves `front` over it.
    lock: Mutex<()>,
    front: AtomicU64,
}

impl ZeroFront {
    /// The writer is about to write below `end`: zeros stay clear of it from now on.
    pub fn claim(&self, end: u64) {
        if end > self.front.load(Ordering::Acquire) {
            // Waits for a zero write in progress, which may overlap.
            let _held = self.lock.lock();
            self.front.fetch_max(end, Ordering::AcqRel);
        }
    }

    /// No zeros are written any more (the log stops, or is given up).
    pub fn stop(&self) {
        self.claim(u64::MAX);
    }

    /// Below this offset no zero is written any more.
    #[cfg(test)]
    pub fn position(&self) -> u64 {
        self.front.load(Ordering::Acquire)
    }
}

/// The handle the writer asks through; the thread ends when it is dropped.
#[derive(Debug)]
pub(crate) struct Warmer {
    tx: SyncSender<Job>,
}

impl Warmer {
    /// Starts the thread (`name` for `top` and profiles).
    pub fn start(name: &str) -> io::Result<Warmer> {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || run(rx))?;
        Ok(Warmer { tx })
    }

    /// Asks for `len` bytes at `off` of `file`; never waits.
    pub fn ask(&self, file: Arc<dyn FsFile>, off: u64, len: u64) {
        self.send(Job::Read { file, off, len });
    }

    /// Runs `work` on the thread after what was asked before; never waits (dropped when the
    /// queue is full, like a read).
    pub fn run(&self, work: impl FnOnce(&mut [u8]) + Send + 'static) {
        self.send(Job::Run(Box::new(work)));
    }

    /// Asks for zeros over `[from, to)` (log offsets, within the segment at `seg_start` whose
    /// file is `path`) and an fdatasync of them; never waits.
    pub fn zero(
        &self,
        fs: Arc<dyn FileSystem>,
        path: PathBuf,
        seg_start: u64,
        range: std::ops::Range<u64>,
        front: Arc<ZeroFront>,
    ) {
        self.send(Job::Zero {
            fs,
            path,
            seg_start,
            from: range.start,
            to: range.end,
            front,
        });
    }

    fn send(&self, job: Job) {
        match self.tx.try_send(job) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => {
                tracing::debug!("commit-log warm-up thread is gone");
            }
        }
    }
}

/// Reads `len` bytes at `off` of `file` in [`STEP`]s into `scratch`, stopping at an error.
pub(crate) fn read_region(file: &dyn FsFile, off: u64, len: u64, scratch: &mut [u8]) {
    let end = off + len;
    let mut at = off;
    while at < end {
        let n = (STEP as usize).min(scratch.len()).min((end - at) as usize);
        if let Err(e) = file.read_exact_at(&mut scratch[..n], at) {
            tracing::debug!(error = %e, offset = at, "commit-log warm-up read failed");
            return;
        }
        at += n as u64;
    }
}

/// Writes zeros over `[from, to)` (log offsets) of `file`, the segment at `seg_start`, where
/// `front` allows, in [`STEP`]s, and fdatasyncs each [`ZERO_UNIT`] of them. `file` must be a
/// descriptor of the thread's own (module docs). Stops at the first error: the writer's own
/// write and fsync report it.
pub(crate) fn zero_region(
    file: &dyn FsFile,
    seg_start: u64,
    from: u64,
    to: u64,
    front: &ZeroFront,
) {
    let mut at = from;
    while at < to {
        let unit_end = (at - at % ZERO_UNIT + ZERO_UNIT).min(to);
        let mut wrote = false;
        while at < unit_end {
            let _held = front.lock.lock();
            at = at.max(front.front.load(Ordering::Acquire));
            if at >= unit_end {
                break;
            }
            let n = STEP.min(unit_end - at);
            if let Err(e) = file.write_all_at(&ZEROS[..n as usize], at - seg_start) {
                tracing::debug!(error = %e, offset = at, "commit-log zeroing write failed");
                return;
            }
            wrote = true;
            at += n;
            front.front.fetch_max(at, Ordering::AcqRel);
        }
        // Synced here, not by the next group fsync, which would otherwise write these zeros
        // and the block map they changed; in small units, so that a group fsync running at
        // the same time waits for little.
        if wrote && let Err(e) = file.sync_data() {
            tracing::debug!(error = %e, "commit-log zeroing fdatasync failed");
            return;
        }
    }
}

/// A descriptor of the thread's own for `path`, kept while requests name the same file.
fn own_file(
    cache: &mut Option<(PathBuf, Arc<dyn FsFile>)>,
    fs: &dyn FileSystem,
    path: &Path,
) -> Option<Arc<dyn FsFile>> {
    if let Some((p, f)) = cache
        && p == path
    {
        return Some(f.clone());
    }
    match fs.open(path, false) {
        Ok(f) => {
            *cache = Some((path.to_path_buf(), f.clone()));
            Some(f)
        }
        Err(e) => {
            tracing::debug!(error = %e, path = %path.display(), "commit-log zeroing: no file");
            None
        }
    }
}

fn run(rx: Receiver<Job>) {
    let mut scratch = vec![0u8; STEP as usize];
    let mut zero_file = None;
    while let Ok(job) = rx.recv() {
        match job {
            Job::Read { file, off, len } => read_region(file.as_ref(), off, len, &mut scratch),
            Job::Run(work) => work(&mut scratch),
            Job::Zero {
                fs,
                path,
                seg_start,
                from,
                to,
                front,
            } => {
                if let Some(file) = own_file(&mut zero_file, fs.as_ref(), &path) {
                    zero_region(file.as_ref(), seg_start, from, to, &front);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // mmap and mincore(2), to see what is in the page cache
mod tests {
    use super::*;
    use crate::fs::{FileSystem, StdFs};
    use std::time::{Duration, Instant};

    /// How many of the 4 KiB pages of `map` are in the page cache.
    fn resident_pages(map: &memmap2::Mmap) -> usize {
        let pages = map.len().div_ceil(4096);
        let mut vec = vec![0u8; pages];
        // SAFETY: `map` is a live mapping of `map.len()` bytes and `vec` holds one byte per
        // page of it, as mincore(2) requires.
        let rc = unsafe {
            libc::mincore(
                map.as_ptr() as *mut libc::c_void,
                map.len(),
                vec.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        vec.iter().filter(|b| *b & 1 == 1).count()
    }

    /// What the writer asks for ends up in the page cache, the file is unchanged, and the
    /// thread ends with its handle.
    #[test]
    fn asked_regions_come_into_the_page_cache_and_stay_unchanged() {
        // On the crate's own (disk) file system: a tmpfs would answer reads of a hole with
        // the shared zero page and cache nothing.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("seg");
        let len = 4 * CHUNK;
        let file = StdFs.open(&path, true).unwrap();
        file.set_len(len).unwrap();
        file.write_all_at(b"kept", 100).unwrap();
        // SAFETY: the file is private to this test and its length does not change while
        // mapped.
        let map = unsafe { memmap2::Mmap::map(&std::fs::File::open(&path).unwrap()) }.unwrap();
        assert!(
            resident_pages(&map) <= 1,
            "a new sparse file has nothing cached but the written page"
        );

        let w = Warmer::start("test-warm").unwrap();
        // The first three chunks; the fourth is not asked for.
        for i in 0..3 {
            w.ask(file.clone(), i * CHUNK, CHUNK);
        }
        drop(w);
        let asked = (3 * CHUNK / 4096) as usize;
        let deadline = Instant::now() + Duration::from_secs(30);
        while resident_pages(&map) < asked && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let resident = resident_pages(&map);
        assert!(
            resident >= asked,
            "{resident} of the {asked} asked-for pages are cached"
        );

        let mut back = [0u8; 4];
        file.read_exact_at(&mut back, 100).unwrap();
        assert_eq!(&back, b"kept");
        assert_eq!(file.len().unwrap(), len);
    }

    /// Allocated bytes of the file at `path` (what was written, zeros included; holes not).
    fn allocated(path: &std::path::Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().blocks() * 512
    }

    /// Zeros go only where the front allows: never below what the writer claimed, nothing at
    /// all once stopped.
    #[test]
    fn zeros_stay_above_the_front_and_stop_with_it() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("seg");
        let file = StdFs.open(&path, true).unwrap();
        file.set_len(4 * CHUNK).unwrap();
        let records = vec![7u8; CHUNK as usize];
        let base = 10 * CHUNK; // the segment's start, in log offsets
        file.write_all_at(&records, 0).unwrap();

        let front = ZeroFront::default();
        front.claim(base + CHUNK);
        // Asked from the segment's start: the claimed records are skipped.
        zero_region(file.as_ref(), base, base, base + 2 * CHUNK, &front);
        assert_eq!(std::fs::read(&path).unwrap()[..CHUNK as usize], records[..]);
        assert!(
            allocated(&path) >= 2 * CHUNK,
            "the chunk above the front is written"
        );
        assert_eq!(front.front.load(Ordering::Acquire), base + 2 * CHUNK);

        front.stop();
        zero_region(
            file.as_ref(),
            base,
            base + 2 * CHUNK,
            base + 4 * CHUNK,
            &front,
        );
        assert!(
            allocated(&path) < 3 * CHUNK,
            "nothing written after the stop"
        );
    }
}
