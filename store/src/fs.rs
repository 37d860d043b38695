//! The file-system seam: every byte the store reads or writes goes through [`FileSystem`], so
//! tests can inject torn and short writes, flipped bytes, ENOSPC and failing fsyncs
//! ([`FaultyFs`]). [`StdFs`] is the real implementation (positional reads and writes; the
//! ASYNC_FLUSH commit log is appended to through a shared mapping, see [`crate::mapped`]).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::mapped::AppendMap;

/// An open file.
pub trait FsFile: Send + Sync + std::fmt::Debug {
    /// Reads exactly `buf.len()` bytes at `off` (bytes past the file end read as an error).
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()>;
    /// Writes all of `buf` at `off`.
    fn write_all_at(&self, buf: &[u8], off: u64) -> io::Result<()>;
    /// `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends (with zeros) to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Current length.
    fn len(&self) -> io::Result<u64>;
    /// Reserves `len` bytes on disk and maps them for appending (see [`crate::mapped`]).
    /// `Ok(None)`: this file is written with [`FsFile::write_all_at`] instead.
    fn map_for_append(&self, _len: u64) -> io::Result<Option<AppendMap>> {
        Ok(None)
    }
    /// The first offset at or after `off` that may hold data (`None`: only holes or
    /// unwritten space up to the end of the file). Lets recovery skip a preallocated segment's
    /// empty tail without reading it; the default says "maybe here".
    fn next_data(&self, off: u64) -> io::Result<Option<u64>> {
        Ok(Some(off))
    }
    /// True when the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Directory and file operations the store uses.
pub trait FileSystem: Send + Sync + std::fmt::Debug + 'static {
    /// Opens `path` read-write, creating it when `create`.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory, so that created, renamed or removed entries are durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Used fraction (0.0..=1.0) of the file system holding `path`.
    fn disk_usage(&self, path: &Path) -> io::Result<f64>;
}

/// Creates `path` and its missing parents, then fsyncs the parent of each directory it
/// created: a new directory entry is only durable once its parent is synced, and a consume
/// queue or index directory lost in a power failure after a checkpoint counted its entries
/// would lose them for good.
pub fn create_dir_all_durable(fs: &dyn FileSystem, path: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut p = Some(path);
    while let Some(d) = p
        && !d.as_os_str().is_empty()
        && !d.exists()
    {
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    fs.create_dir_all(path)?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent()
            && !parent.as_os_str().is_empty()
        {
            fs.sync_dir(parent)?;
        }
    }
    Ok(())
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile(File);

impl FsFile for StdFile {
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.0, buf, off)
    }
    fn write_all_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.0, buf, off)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn map_for_append(&self, len: u64) -> io::Result<Option<AppendMap>> {
        AppendMap::create(&self.0, len)
    }
    fn next_data(&self, off: u64) -> io::Result<Option<u64>> {
        match rustix::fs::seek(&self.0, rustix::fs::SeekFrom::Data(off)) {
            Ok(p) => Ok(Some(p)),
            Err(rustix::io::Errno::NXIO) => Ok(None),
            // No SEEK_DATA here: read everything.
            Err(_) => Ok(Some(off)),
        }
    }
}

impl FileSystem for StdFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(StdFile(f)))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn disk_usage(&self, path: &Path) -> io::Result<f64> {
        disk_used_ratio(path)
    }
}

/// Faults [`FaultyFs`] can inject. All switches apply to files whose path contains
/// `path_filter` (empty = all files).
#[derive(Debug, Default)]
pub struct Faults {
    /// Fail writes with ENOSPC (nothing written).
    pub enospc: AtomicBool,
    /// Write only the first half of the next write, then fail it with EIO (a short write).
    pub short_write_once: AtomicBool,
    /// Fail `sync_data` with EIO.
    pub fail_fsync: AtomicBool,
    /// Byte budget: after this many more bytes are written, writes are silently dropped (as if
    /// the machine died with them in the page cache). `u64::MAX` = off.
    pub torn_after_bytes: AtomicU64,
    /// Disk usage reported by `disk_usage`, in per-mille; `u64::MAX` = ask the real file system.
    pub usage_permille: AtomicU64,
    /// Only paths containing this string are affected.
    pub path_filter: Mutex<String>,
    /// Number of `sync_data` calls seen on affected files.
    pub fsyncs: AtomicU64,
    /// Let segments be written through a memory mapping, as [`StdFs`] does. Off by default so
    /// that every byte passes the write switches above; when on, `enospc` fails the space
    /// reservation that precedes a mapping (the mapped path's only write failure).
    pub mmap: AtomicBool,
}

/// A [`FileSystem`] wrapper over [`StdFs`] that injects [`Faults`]; for tests.
#[derive(Debug, Clone)]
pub struct FaultyFs {
    /// The switches, shared with the test.
    pub faults: Arc<Faults>,
}

impl Default for FaultyFs {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultyFs {
    /// No faults armed.
    pub fn new() -> Self {
        let faults = Faults {
            torn_after_bytes: AtomicU64::new(u64::MAX),
            usage_permille: AtomicU64::new(u64::MAX),
            ..Default::default()
        };
        FaultyFs {
            faults: Arc::new(faults),
        }
    }

    /// Flips one byte of a file in place (outside the store's view), for corruption tests.
    pub fn flip_byte(path: &Path, off: u64) -> io::Result<()> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        let mut b = [0u8; 1];
        FileExt::read_exact_at(&f, &mut b, off)?;
        b[0] ^= 0xFF;
        FileExt::write_all_at(&f, &b, off)
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: StdFile,
    path: PathBuf,
    faults: Arc<Faults>,
}

impl FaultyFile {
    fn armed(&self) -> bool {
        let f = self.faults.path_filter.lock();
        f.is_empty() || self.path.to_string_lossy().contains(f.as_str())
    }
}

impl FsFile for FaultyFile {
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, off)
    }
    fn write_all_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        if self.armed() {
            if self.faults.enospc.load(Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::NOSPC.raw_os_error(),
                ));
            }
            if self.faults.short_write_once.swap(false, Ordering::SeqCst) {
                self.inner.write_all_at(&buf[..buf.len() / 2], off)?;
                return Err(io::Error::other("injected short write"));
            }
            let budget = self.faults.torn_after_bytes.load(Ordering::SeqCst);
            if budget != u64::MAX {
                let n = (buf.len() as u64).min(budget) as usize;
                self.faults
                    .torn_after_bytes
                    .store(budget - n as u64, Ordering::SeqCst);
                // Pretend success: the rest "was in the page cache" when the machine died.
                return self.inner.write_all_at(&buf[..n], off);
            }
        }
        self.inner.write_all_at(buf, off)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.armed() {
            self.faults.fsyncs.fetch_add(1, Ordering::SeqCst);
        }
        if self.armed() && self.faults.fail_fsync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn next_data(&self, off: u64) -> io::Result<Option<u64>> {
        self.inner.next_data(off)
    }
    fn map_for_append(&self, len: u64) -> io::Result<Option<AppendMap>> {
        if !self.faults.mmap.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if self.armed() && self.faults.enospc.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::NOSPC.raw_os_error(),
            ));
        }
        self.inner.map_for_append(len)
    }
}

impl FileSystem for FaultyFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(FaultyFile {
            inner: StdFile(f),
            path: path.to_path_buf(),
            faults: self.faults.clone(),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_dir(path)
    }
    fn disk_usage(&self, path: &Path) -> io::Result<f64> {
        match self.faults.usage_permille.load(Ordering::SeqCst) {
            u64::MAX => StdFs.disk_usage(path),
            p => Ok(p as f64 / 1000.0),
        }
    }
}

/// One file-system operation recorded by [`RecordingFs`] (absolute paths).
#[derive(Debug, Clone)]
pub enum Op {
    /// `open` created the file (it did not exist).
    Create(PathBuf),
    /// A directory was created.
    Mkdir(PathBuf),
    /// `write_all_at`.
    Write {
        /// The file.
        path: PathBuf,
        /// Offset.
        off: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// `set_len`.
    SetLen {
        /// The file.
        path: PathBuf,
        /// New length.
        len: u64,
    },
    /// `sync_data` of a file: its earlier writes and length changes are durable.
    Sync(PathBuf),
    /// `sync_dir`: entries created or removed in the directory earlier are durable.
    SyncDir(PathBuf),
    /// `remove_file`.
    Remove(PathBuf),
}

/// A [`FileSystem`] over [`StdFs`] that records every write, length change, fsync, creation
/// and removal in order, for power-loss tests that rebuild the states a crash could leave
/// (only what was fsynced, plus any subset of the rest; see `tests/power_loss.rs`). Segments
/// are written with `pwrite` (no mapping), so every byte passes through the record.
#[derive(Debug, Clone, Default)]
pub struct RecordingFs {
    /// The operations so far.
    pub ops: Arc<Mutex<Vec<Op>>>,
}

#[derive(Debug)]
struct RecordingFile {
    inner: StdFile,
    path: PathBuf,
    ops: Arc<Mutex<Vec<Op>>>,
}

impl FsFile for RecordingFile {
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, off)
    }
    fn write_all_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        // Recorded under the lock with the write, so the record's order is the real order.
        let mut ops = self.ops.lock();
        self.inner.write_all_at(buf, off)?;
        ops.push(Op::Write {
            path: self.path.clone(),
            off,
            data: buf.to_vec(),
        });
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()?;
        self.ops.lock().push(Op::Sync(self.path.clone()));
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut ops = self.ops.lock();
        self.inner.set_len(len)?;
        ops.push(Op::SetLen {
            path: self.path.clone(),
            len,
        });
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn next_data(&self, off: u64) -> io::Result<Option<u64>> {
        self.inner.next_data(off)
    }
}

impl FileSystem for RecordingFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>> {
        let mut ops = self.ops.lock();
        let existed = path.exists();
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        if !existed {
            ops.push(Op::Create(path.to_path_buf()));
        }
        Ok(Arc::new(RecordingFile {
            inner: StdFile(f),
            path: path.to_path_buf(),
            ops: self.ops.clone(),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut ops = self.ops.lock();
        StdFs.remove_file(path)?;
        ops.push(Op::Remove(path.to_path_buf()));
        Ok(())
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut ops = self.ops.lock();
        let mut missing = Vec::new();
        let mut p = Some(path);
        while let Some(d) = p
            && !d.as_os_str().is_empty()
            && !d.exists()
        {
            missing.push(d.to_path_buf());
            p = d.parent();
        }
        StdFs.create_dir_all(path)?;
        ops.extend(missing.into_iter().rev().map(Op::Mkdir));
        Ok(())
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_dir(path)?;
        self.ops.lock().push(Op::SyncDir(path.to_path_buf()));
        Ok(())
    }
    fn disk_usage(&self, path: &Path) -> io::Result<f64> {
        StdFs.disk_usage(path)
    }
}

/// `(total, free)` bytes of the file system holding `path`, as Java's `File.getTotalSpace()` and
/// `File.getFreeSpace()`: free counts the blocks reserved for root (`f_bfree`, not `f_bavail`).
pub fn disk_space(path: &Path) -> io::Result<(u64, u64)> {
    let st = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok((
        st.f_blocks.saturating_mul(st.f_frsize),
        st.f_bfree.saturating_mul(st.f_frsize),
    ))
}

/// The used share of the file system holding `path`, as Java's
/// `UtilAll.getDiskPartitionSpaceUsedPercent`: `(total - free) / total` with [`disk_space`].
/// The one definition the store's disk checks and the broker's reports
/// (`commitLogDiskRatio`, `mqadmin clusterList`'s `#SPACE`) share.
pub fn disk_used_ratio(path: &Path) -> io::Result<f64> {
    let (total, free) = disk_space(path)?;
    Ok(used_ratio(total, free))
}

/// `(total - free) / total`, 0 for an empty or unknown file system.
pub fn used_ratio(total: u64, free: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    (total - free.min(total)) as f64 / total as f64
}
