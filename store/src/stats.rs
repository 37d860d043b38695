//! Counters the store keeps for the broker's metrics, all lock-free: the store has no metrics
//! library; the broker installs a [`FlushObserver`] and reads the counters at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Called after every commit-log fsync with how long it took and how many bytes it made
/// durable (under SYNC_FLUSH: one group commit).
pub type FlushObserver = Arc<dyn Fn(Duration, u64) + Send + Sync>;

/// The store's counters ([`crate::MessageStore::stats`]).
#[derive(Default)]
pub struct StoreStats {
    flush_observer: OnceLock<FlushObserver>,
    /// Commit-log fsyncs that made bytes durable.
    pub fsyncs: AtomicU64,
    /// Commit-log bytes read for replication (`read_commit_log`: the master's HA transfers).
    pub ha_bytes_read: AtomicU64,
    /// Commit-log bytes appended from a master (`append_raw`: a slave's HA copy).
    pub ha_bytes_appended: AtomicU64,
}

impl std::fmt::Debug for StoreStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreStats")
            .field("fsyncs", &self.fsyncs)
            .field("ha_bytes_read", &self.ha_bytes_read)
            .field("ha_bytes_appended", &self.ha_bytes_appended)
            .finish_non_exhaustive()
    }
}

impl StoreStats {
    /// Installs the fsync observer; false when one is already installed (the first stays).
    pub fn set_flush_observer(&self, observer: FlushObserver) -> bool {
        self.flush_observer.set(observer).is_ok()
    }

    pub(crate) fn record_flush(&self, took: Duration, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        if let Some(o) = self.flush_observer.get() {
            o(took, bytes);
        }
    }
}
