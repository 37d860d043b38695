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

use std::io;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use crate::fs::FsFile;

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

fn run(rx: Receiver<Job>) {
    let mut scratch = vec![0u8; STEP as usize];
    while let Ok(job) = rx.recv() {
        match job {
            Job::Read { file, off, len } => read_region(file.as_ref(), off, len, &mut scratch),
            Job::Run(work) => work(&mut scratch),
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
}
