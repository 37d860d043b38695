//! Writing commit-log segments through a shared memory mapping (under ASYNC_FLUSH; see `seglog`
//! for when the tail buffer is used instead).
//!
//! Why: an ASYNC_FLUSH acknowledgement promises that the record survives the broker process
//! dying (only an OS crash may take back the unflushed tail), as with Java's mmap'd commit log.
//! Bytes in an in-process buffer do not survive SIGKILL; bytes in the page cache do. Putting
//! them there with one `pwrite` per message costs a system call per message, which dominated
//! small appends; copying them into a shared mapping of the file costs a `memcpy`.
//!
//! Readers never touch the mapping: they use positional reads of the same page cache (coherent
//! with the mapping on Linux), so a disk error while reading is an `EIO`, not a signal.
//!
//! # Safety
//! This module holds the workspace's only `unsafe` code: creating the mapping and releasing
//! pages behind the writer. Writing through a `MAP_SHARED` mapping is sound while
//! 1. the file keeps at least the mapped length: the store owns its directory (an exclusive
//!    lock file) and the segmented log drops the mapping before it ever changes a
//!    segment's length;
//! 2. every mapped page has disk blocks reserved, so a write fault never needs space the
//!    disk lacks (which would be `SIGBUS`, not an error): [`AppendMap::create`] reserves the
//!    whole segment with `fallocate` first and maps nothing when that fails (`ENOSPC` reaches
//!    the appender as an error; file systems without `fallocate` fall back to `pwrite`).
//!
//! A disk that fails to read back a partly written tail page while the writer faults it in
//! would still raise `SIGBUS`, as it does for the Java broker.

use std::fs::File;
use std::io;

use memmap2::{MmapMut, MmapOptions, UncheckedAdvice};

/// Pages released behind the writer in steps of this many bytes (keeps the broker's resident
/// set small: written pages stay in the page cache, just not in our page tables).
const RELEASE_STEP: usize = 16 << 20;

/// A writable shared mapping of one whole segment file.
pub struct AppendMap {
    map: MmapMut,
    /// Bytes below this were handed back with `MADV_DONTNEED`.
    released: usize,
}

impl std::fmt::Debug for AppendMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendMap")
            .field("len", &self.map.len())
            .field("released", &self.released)
            .finish()
    }
}

impl AppendMap {
    /// Reserves `len` bytes of disk for `file` and maps them. `Ok(None)` when the file system
    /// cannot reserve space (no `fallocate`): the caller writes with `pwrite` instead.
    pub fn create(file: &File, len: u64) -> io::Result<Option<AppendMap>> {
        if len == 0 {
            return Ok(None);
        }
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => {}
            Err(rustix::io::Errno::OPNOTSUPP) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let len = usize::try_from(len).map_err(|_| io::Error::other("segment too large"))?;
        // SAFETY: see the module docs: the length is reserved on disk and never shrinks while
        // mapped; nothing else in this process maps or truncates the file.
        #[allow(unsafe_code)]
        let map = unsafe { MmapOptions::new().len(len).map_mut(file)? };
        // No readahead from the writer's faults: a fault on a page not yet in the page cache
        // would otherwise read (for unwritten space: allocate and zero) a whole readahead
        // window with the append lock held. The warm-up thread (`crate::warm`) brings the pages
        // in ahead instead; a fault it did not get to brings in only its own page.
        if let Err(e) = map.advise(memmap2::Advice::Random) {
            tracing::debug!(error = %e, "madvise(RANDOM) on the commit-log mapping failed");
        }
        Ok(Some(AppendMap { map, released: 0 }))
    }

    /// Copies `data` to byte `off` of the segment.
    pub fn write(&mut self, off: u64, data: &[u8]) -> io::Result<()> {
        let start = usize::try_from(off).map_err(|_| io::Error::other("offset too large"))?;
        let dst = start
            .checked_add(data.len())
            .and_then(|end| self.map.get_mut(start..end))
            .ok_or_else(|| io::Error::other("write past the end of the mapped segment"))?;
        dst.copy_from_slice(data);
        self.release_before(start);
        Ok(())
    }

    /// Drops the page-table entries of whole steps below `upto` (the data stays in the page
    /// cache and dirty pages stay dirty: the kernel carries the dirty bit over).
    fn release_before(&mut self, upto: usize) {
        if upto < self.released + 2 * RELEASE_STEP {
            return;
        }
        // Whole steps only: multiples of 16 MiB are page-aligned whatever the page size.
        let until = (upto / RELEASE_STEP - 1) * RELEASE_STEP;
        // SAFETY: MADV_DONTNEED on a shared file mapping only drops our page-table entries;
        // the next access reads the same page-cache page back. No reference into the released
        // range is live (only `write` borrows the map, and it is done with it here).
        #[allow(unsafe_code)]
        let r = unsafe {
            self.map.unchecked_advise_range(
                UncheckedAdvice::DontNeed,
                self.released,
                until - self.released,
            )
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "madvise(DONTNEED) behind the commit-log writer failed");
        }
        self.released = until;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// Pages released behind the writer read back unchanged, through the file and the map.
    #[test]
    fn released_pages_keep_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.path().join("seg"))
            .unwrap();
        let len = 3 * RELEASE_STEP as u64 + 4096;
        let mut m = AppendMap::create(&f, len).unwrap().unwrap();
        assert_eq!(f.metadata().unwrap().len(), len, "space reserved up front");
        let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        let mut off = 0u64;
        while off + chunk.len() as u64 <= len {
            m.write(off, &chunk).unwrap();
            off += chunk.len() as u64;
        }
        assert!(m.released >= RELEASE_STEP, "something was released: {m:?}");
        let mut back = vec![0u8; chunk.len()];
        for at in [0, RELEASE_STEP as u64, off - chunk.len() as u64] {
            f.read_exact_at(&mut back, at).unwrap();
            assert_eq!(back, chunk, "at {at}");
        }
        assert!(
            m.write(len - 10, &[1; 11]).is_err(),
            "past the end is an error"
        );
    }
}
