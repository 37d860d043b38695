//! Handing the commit log's page cache back to the kernel behind a window of the newest bytes.
//!
//! Why: a log that only grows keeps asking the kernel for fresh page-cache memory, and every
//! fresh page must be zeroed (or read) before the writer's copy lands in it. On a VM that
//! returns free memory to its host (free page reporting, balloons: Firecracker, many cloud
//! and Kubernetes nodes), that first touch also makes the host back the page again: on the
//! machine this was measured on, bringing 1 GiB of fresh page cache in took 2.80 s of CPU
//! (381 MB/s), and 1 GiB of page cache just handed back by the same file 0.25 s (4.4 GB/s).
//! That was a quarter of the broker's CPU at full load (`store-warm`'s `memset`,
//! BENCHMARKS.md). Pages the log hands back itself are reused at once, still backed.
//!
//! It also bounds the memory the log's cache takes: in a container the page cache counts
//! against the memory limit, and a log that fills the limit makes whichever thread asks for
//! the next page reclaim first (the warm-up thread, or the writer's own fault).
//!
//! What is kept: the newest `window` bytes below the durable end, which is what the broker
//! counts as "in memory" (Java's `accessMessageInMemoryMaxRatio` of the machine's or the
//! container's memory), so tailing consumers, the dispatcher and a slave keep reading from
//! memory. Older pages are handed back with `POSIX_FADV_DONTNEED` once they are durable: the
//! kernel drops only clean pages that nobody maps, so nothing unwritten is ever lost, and a
//! later read of them just comes from the disk. A page read again after that stays cached
//! until the kernel reclaims it: each stretch of the log is handed back once.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::fs::FsFile;

/// The smallest window the store keeps (see `StoreConfig::page_cache_window`): the pages the
/// writer still maps (which cannot be handed back) and the dispatcher's reads sit within it.
pub const MIN_WINDOW: u64 = 64 << 20;

/// Pages are handed back in stretches of at least this many bytes (one `fadvise` per
/// segment file in the stretch), so a busy log makes a few calls a second.
const STEP: u64 = 16 << 20;

// The writer keeps up to two release steps behind it mapped (`crate::mapped`).
const _: () = assert!(MIN_WINDOW >= 2 * crate::mapped::RELEASE_STEP as u64 + STEP);

/// How much of the log stays cached, and how far it was handed back.
#[derive(Debug)]
pub(crate) struct Window {
    bytes: u64,
    /// Log offsets below this were handed back (or asked to be).
    asked: AtomicU64,
}

impl Window {
    /// Keeps the newest `bytes` of a log that starts at `first`.
    pub fn new(bytes: u64, first: u64) -> Window {
        Window {
            bytes,
            asked: AtomicU64::new(first),
        }
    }

    /// The bytes kept.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The stretch to hand back now that the log is durable below `durable`: everything
    /// more than the window behind it and not asked for yet, in whole [`STEP`]s of log
    /// offsets. `None` while less than a step is due.
    pub fn due(&self, durable: u64) -> Option<Range<u64>> {
        let upto = durable.saturating_sub(self.bytes) / STEP * STEP;
        let from = self.asked.load(Ordering::Acquire);
        (upto >= from.saturating_add(STEP)).then_some(from..upto)
    }

    /// `range` (from [`Window::due`]) was handed back or queued to be.
    pub fn asked(&self, range: &Range<u64>) {
        self.asked.fetch_max(range.end, Ordering::AcqRel);
    }
}

/// Hands back the page cache of the files' ranges (`(file, offset in file, length)`):
/// advisory, so a failure is only logged.
pub(crate) fn hand_back(ranges: &[(Arc<dyn FsFile>, u64, u64)]) {
    for (file, off, len) in ranges {
        if let Err(e) = file.evict(*off, *len) {
            tracing::debug!(error = %e, offset = off, len, "handing commit-log pages back failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_in_whole_steps_once_past_the_window() {
        let w = Window::new(3 * STEP, 0);
        assert_eq!(w.due(3 * STEP), None, "nothing is behind the window yet");
        assert_eq!(w.due(4 * STEP - 1), None, "less than a step is behind it");
        assert_eq!(w.due(5 * STEP + 7), Some(0..2 * STEP));
        w.asked(&(0..2 * STEP));
        assert_eq!(w.due(5 * STEP + 7), None, "asked for already");
        assert_eq!(w.due(6 * STEP), Some(2 * STEP..3 * STEP));
    }

    #[test]
    fn a_log_starting_late_hands_back_from_its_start() {
        let w = Window::new(STEP, 100 * STEP);
        assert_eq!(w.due(100 * STEP + STEP), None);
        assert_eq!(w.due(103 * STEP), Some(100 * STEP..102 * STEP));
    }
}
