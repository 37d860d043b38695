//! The broker's storage engine: commit log, consume queues, index, flush, recovery, retention
//! (spec §4–6). Records are stored in exactly the V1 layout of spec §4.1 (codec in
//! [`remoting::message`]), so stored bytes go unchanged into pull responses and to slaves.
//!
//! # Layout
//! Read in this order: the handle, then its parts, then the files they write.
//! - [`store`]: [`MessageStore`], the one handle the broker uses, as a façade: the state the
//!   parts share, open (lock, recovery, threads), positions, flush, checkpoint, shutdown.
//!   Three background threads: flush (`append`), dispatch (`dispatch`), housekeeping
//!   (checkpoint every `flushIntervalConsumeQueue`, retention every `cleanResourceInterval`).
//! - `append` (private): puts (encode, delay-level rewrite, offsets under the tail lock), the
//!   durability wait and SYNC_FLUSH group commit (the waiters: `durable`), the flush thread,
//!   the fatal-fsync rule, and the slave's side of HA (raw append, truncate, reset) and a
//!   promoted slave's `prepare_for_puts`.
//! - `dispatch` (private): commit log → consume queues + index (Java's reput service), queue
//!   creation, topic deletion, the queue-advance listeners long polling registers.
//! - `read` (private): pulls (`get_message`), queue offsets, lookups by time, offset and key,
//!   HA reads.
//! - [`recovery`]: what open verifies, truncates, rebuilds and refuses (its invariants are at
//!   the top of the module): the `abort` marker, the checkpoint-bounded scan, torn tail vs
//!   damage in the middle, the re-dispatch start, read-only opening on a full disk, the damage
//!   map dispatch steps over, the [`RecoveryReport`].
//! - `retention` (private): deleting expired commit-log files, the disk-full state.
//! - `seglog` (private): fixed-size segment files named by 20-digit start offsets, written
//!   through a shared mapping (the commit log under ASYNC_FLUSH) or an in-memory tail buffer
//!   drained in large sequential writes (consume queues; the commit log under SYNC_FLUSH).
//! - `warm` (private): the thread that works ahead of the commit-log writer (reads pages in,
//!   or under SYNC_FLUSH writes zeros; makes the next segment).
//! - [`mapped`]: the commit log's memory-mapped append path (the workspace's only `unsafe`).
//! - [`consume_queue`]: 20-byte entries per topic and queue.
//! - [`index`]: Java-format index files for `KEYS` / `UNIQ_KEY`.
//! - [`epoch`]: the epoch file (`epochFileCheckpoint`): which master epoch wrote which part of
//!   the commit log, for fencing and divergent-tail truncation after a failover.
//! - [`checkpoint`]: the checkpoint file (Java's timestamps plus the durable offsets that bound
//!   crash recovery).
//! - [`fs`]: the file-system seam ([`fs::FileSystem`]), the real [`fs::StdFs`] and the
//!   fault-injecting [`fs::FaultyFs`] used by tests.
//! - [`config`]: [`StoreConfig`] with the §9 keys; [`types`]: statuses and results;
//!   [`error`]: [`StoreError`]; [`stats`]: counters for the broker's metrics.
//! - `src/bin/store-ctl.rs`: `store-ctl dump DIR` / `check DIR` (names every problem) /
//!   `repair DIR [--dry-run] [--skip-corrupt]` (offline rebuild of queues and index).
//!   `src/bin/store-crash-child.rs`: the writer process the crash tests kill.
//!   `benches/store_bench.rs`: benchmarks.
//!
//! # Durability rules
//! - Under SYNC_FLUSH a put with `WAIT` ≠ false resolves only after the fdatasync covering its
//!   record; appenders waiting at the same time share one fdatasync. Records become visible to
//!   readers (consume queues, lookups, long-polling wake-ups) only once durable, so a crash never
//!   takes back a record a consumer has seen.
//! - A failed fsync is fatal: the store stops acknowledging, pending waiters get
//!   [`PutStatus::UnknownError`], and the [`FatalHook`] runs (by default: log and exit).
//! - A failed write (ENOSPC, EIO) fails only the put that hit it ([`PutStatus::DiskError`]);
//!   nothing partial becomes visible and appends resume when the disk recovers.
//! - Order of fsyncs (power loss, not just process death): commit-log data is fsynced before a
//!   checkpoint claims it (`log_safe_offset` is the durable end); consume queues and the index
//!   are fsynced before the checkpoint that records their dispatch offset and index end (the
//!   index only every `flushIntervalIndex`: in between, the recorded dispatch offset stays at
//!   the last index flush's, so a crash re-indexes at most that stretch); a new
//!   segment, queue or index file (and a new directory) is made durable in its parent
//!   directory (directory fsync) before any acknowledged byte lives in it. Tested by replaying
//!   recorded crash states (`tests/power_loss.rs`).
//! - Recovery after a crash verifies records from the checkpoint's durable offset, after
//!   checking that offset is a record boundary and that no segment below it was cut or resized
//!   (else it scans from the damaged segment's start). Only a torn tail (nothing valid after the
//!   first invalid record) is truncated; damage that valid records follow is skipped and counted
//!   (or, with `skipCorruptRecordOnRecover=false`, refused with the `store-ctl` command that
//!   repairs it); a refused open changes no file. Consume queues and the index are
//!   re-dispatched from the smallest of the checkpoint's dispatch offset, the last valid entry
//!   before every damaged queue's first hole or damaged end (a lost first queue file: the log's
//!   start) and the end of the surviving index: work proportional to the unflushed tail unless
//!   files were damaged. See [`recovery`].
//! - Recovery that cannot write (a full disk) opens the store read-only: reads are served,
//!   puts get [`PutStatus::DiskError`] naming the cause, and writes resume once the pending
//!   recovery writes succeed.
//!
//! # Calling it from async code
//! `put_message` / `put_messages` / `wait_flushed` are async: the append itself is a short
//! critical section (encode outside it, then a copy into the mapped segment or the tail
//! buffer) and
//! the wait for the group commit is a `tokio::sync::watch`; they need a tokio runtime with
//! timers. Everything else (`get_message`, lookups, HA reads and appends, retention, `open`,
//! `shutdown`) is synchronous positional I/O, usually served from the page cache; call `open`
//! and `shutdown` from `spawn_blocking`.
//!
//! Not modelled: the transient store pool, multiple commit-log directories, the RAM-ratio
//! "suggest pulling from slave" bookkeeping, the consume-queue extension and 5.x V2 records
//! (decoded, never written).

mod append;
pub mod checkpoint;
pub mod config;
pub mod consume_queue;
mod dispatch;
mod durable;
pub mod epoch;
pub mod error;
pub mod fs;
pub mod index;
pub mod mapped;
mod read;
pub mod recovery;
mod retention;
mod seglog;
pub mod stats;
pub mod store;
pub mod types;
mod warm;

pub use config::{FlushDiskType, StoreConfig};
pub use error::{Result, StoreError};
pub use recovery::{Damage, RecoveryReport};
pub use stats::{FlushObserver, StoreStats};
pub use store::{FatalHook, MessageStore, exit_on_fatal};
pub use types::{AppendResult, GetResult, GetStatus, PutResult, PutStatus, TagFilter};
