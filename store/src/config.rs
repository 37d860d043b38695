//! Store configuration: the `broker.conf` keys of spec §9 that concern the store.
//!
//! Field names follow RocketMQ's keys in snake case; each doc comment gives the Java default. The
//! broker maps its `BrokerConfig` into this struct.

use std::path::PathBuf;
use std::time::Duration;

/// `flushDiskType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushDiskType {
    /// `ASYNC_FLUSH` (default): background flush; puts return before the data is on disk.
    #[default]
    AsyncFlush,
    /// `SYNC_FLUSH`: a put (with `WAIT` ≠ false) returns once its record is fsynced.
    SyncFlush,
}

impl FlushDiskType {
    /// Parses `ASYNC_FLUSH` / `SYNC_FLUSH`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "ASYNC_FLUSH" => Some(Self::AsyncFlush),
            "SYNC_FLUSH" => Some(Self::SyncFlush),
            _ => None,
        }
    }
}

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `storePathRootDir` (default `~/store`).
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog` (default `<root>/commitlog`); `None` = default.
    pub store_path_commit_log: Option<PathBuf>,
    /// `mappedFileSizeCommitLog` / `mapedFileSizeCommitLog` (default 1 GiB).
    pub mapped_file_size_commit_log: u64,
    /// `mappedFileSizeConsumeQueue` (default 6,000,000 = 300,000 entries; rounded up to 20).
    pub mapped_file_size_consume_queue: u64,
    /// `flushDiskType` (default ASYNC_FLUSH).
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog` in ms (default 500).
    pub flush_interval_commit_log: u64,
    /// `flushCommitLogLeastPages` (default 4 pages of 4 KiB).
    pub flush_commit_log_least_pages: u64,
    /// `flushCommitLogThoroughInterval` in ms (default 10,000).
    pub flush_commit_log_thorough_interval: u64,
    /// `flushIntervalConsumeQueue` in ms (default 1000); also the checkpoint interval.
    pub flush_interval_consume_queue: u64,
    /// `flushIntervalIndex` in ms (default 10,000; no Java counterpart): how often a checkpoint
    /// also flushes the index files. Their slot table (20 MB at the default size) is rewritten
    /// and fsynced whole by each flush once keys are spread over it, so flushing it with every
    /// checkpoint made it most of the disk's writes at moderate rates (BENCHMARKS.md, session
    /// 19). Between its flushes the checkpoint claims records as dispatched only as far as the
    /// last index flush covered them, so a crash re-indexes at most this long a stretch of the
    /// log. Java flushes an index file only when it is full and by default does not re-index
    /// after a crash.
    pub flush_interval_index: u64,
    /// `transientStorePoolEnable` (default false). Under ASYNC_FLUSH, appends go to an
    /// in-memory buffer that the put writes to the file with one `pwrite` before it is
    /// acknowledged (puts queued behind it share the write), instead of being copied into a
    /// mapping of the segment. Either way an acknowledged record is in the page cache and
    /// survives the process. The buffer keeps page faults out of the append lock: batches are
    /// about twice as fast and the latency tail shorter, single small sends cost a little more
    /// CPU (BENCHMARKS.md, session 7). Like Java's transient store pool, a buffer in front of
    /// the file; unlike it, nothing is acknowledged before it reached the file.
    pub transient_store_pool_enable: bool,
    /// `syncFlushTimeout` in ms (default 5000).
    pub sync_flush_timeout: u64,
    /// `deleteWhen`: `;`-separated hours of the day when expired files are deleted (default "04").
    pub delete_when: String,
    /// `fileReservedTime` in hours (default 72).
    pub file_reserved_time: u64,
    /// `diskMaxUsedSpaceRatio` in percent (default 75, clamped to 10..=95).
    pub disk_max_used_space_ratio: u32,
    /// `diskSpaceCleanForciblyRatio` in percent (default 85): above it expired-or-not files go.
    pub disk_space_clean_forcibly_ratio: u32,
    /// `diskSpaceWarningLevelRatio` in percent (default 90): above it puts are refused.
    pub disk_space_warning_level_ratio: u32,
    /// `cleanFileForciblyEnable` (default true).
    pub clean_file_forcibly_enable: bool,
    /// `cleanResourceInterval` in ms (default 10,000).
    pub clean_resource_interval: u64,
    /// `maxMessageSize` in bytes (default 4 MiB).
    pub max_message_size: usize,
    /// `messageIndexEnable` (default true).
    pub message_index_enable: bool,
    /// `maxHashSlotNum` (default 5,000,000).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum` (default 20,000,000).
    pub max_index_num: u32,
    /// `checkCRCOnRecover` (default true).
    pub check_crc_on_recover: bool,
    /// `skipCorruptRecordOnRecover` (this store's key; default true): what recovery does with
    /// a damaged commit-log record that valid records follow (corruption in the middle, not a
    /// torn tail). `true`: skip it — log its offset, count it
    /// ([`crate::MessageStore::corrupt_records_skipped`]) and serve everything else. `false`:
    /// refuse to start when the damage lies in data the checkpoint had recorded as durable,
    /// naming the offset and the `store-ctl repair DIR --skip-corrupt` command (damage in the
    /// unflushed tail, a torn write, is always skipped). Neither ever deletes what follows.
    pub skip_corrupt_record_on_recover: bool,
    /// `messageDelayLevel` (default `1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h`).
    pub message_delay_level: String,
    /// `maxTransferBytesOnMessageInMemory` (default 262,144): byte cap of one pull.
    pub max_transfer_bytes_on_message_in_memory: usize,
    /// `maxTransferCountOnMessageInMemory` (default 32): message cap of one pull.
    pub max_transfer_count_on_message_in_memory: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        StoreConfig {
            store_path_root_dir: home.join("store"),
            store_path_commit_log: None,
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue: 300_000 * 20,
            flush_disk_type: FlushDiskType::AsyncFlush,
            flush_interval_commit_log: 500,
            flush_commit_log_least_pages: 4,
            flush_commit_log_thorough_interval: 10_000,
            flush_interval_consume_queue: 1000,
            flush_interval_index: 10_000,
            transient_store_pool_enable: false,
            sync_flush_timeout: 5000,
            delete_when: "04".into(),
            file_reserved_time: 72,
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 85,
            disk_space_warning_level_ratio: 90,
            clean_file_forcibly_enable: true,
            clean_resource_interval: 10_000,
            max_message_size: 4 * 1024 * 1024,
            message_index_enable: true,
            max_hash_slot_num: 5_000_000,
            max_index_num: 20_000_000,
            check_crc_on_recover: true,
            skip_corrupt_record_on_recover: true,
            message_delay_level: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
                .into(),
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            max_transfer_count_on_message_in_memory: 32,
        }
    }
}

impl StoreConfig {
    /// A config rooted at `root` with Java defaults otherwise.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        StoreConfig {
            store_path_root_dir: root.into(),
            ..Default::default()
        }
    }

    /// The commit-log directory.
    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
    }

    /// The consume-queue file size, rounded up to a whole number of 20-byte entries.
    pub fn consume_queue_file_size(&self) -> u64 {
        self.mapped_file_size_consume_queue.div_ceil(20).max(1) * 20
    }

    /// The hours of `deleteWhen`.
    pub fn delete_hours(&self) -> Vec<u32> {
        self.delete_when
            .split(';')
            .filter_map(|h| h.trim().parse().ok())
            .collect()
    }

    /// `syncFlushTimeout` as a duration.
    pub fn sync_flush_timeout(&self) -> Duration {
        Duration::from_millis(self.sync_flush_timeout)
    }

    /// The delay of each level of `messageDelayLevel` in ms (index 0 = level 1).
    pub fn delay_levels_ms(&self) -> Vec<i64> {
        self.message_delay_level
            .split_whitespace()
            .filter_map(|t| {
                // "ms" (not in Java) lets tests use sub-second levels.
                let unit_len = if t.ends_with("ms") { 2 } else { 1 };
                let (num, unit) = t.split_at(t.len().checked_sub(unit_len)?);
                let n: i64 = num.parse().ok()?;
                let mul = match unit {
                    "ms" => 1,
                    "s" => 1000,
                    "m" => 60_000,
                    "h" => 3_600_000,
                    "d" => 86_400_000,
                    _ => return None,
                };
                Some(n * mul)
            })
            .collect()
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        if self.mapped_file_size_commit_log < 4096 {
            return Err(crate::StoreError::Config(format!(
                "mappedFileSizeCommitLog {} is below 4096",
                self.mapped_file_size_commit_log
            )));
        }
        // The largest record (body + properties + topic + fixed fields) plus a blank marker
        // must fit in one file, since records never span files.
        if (self.max_message_size as u64) + 32_767 + 127 + 256 > self.mapped_file_size_commit_log {
            return Err(crate::StoreError::Config(format!(
                "maxMessageSize {} does not fit in a commit-log file of {} bytes",
                self.max_message_size, self.mapped_file_size_commit_log
            )));
        }
        if self.max_hash_slot_num == 0 || self.max_index_num < 2 {
            return Err(crate::StoreError::Config(
                "maxHashSlotNum and maxIndexNum must be positive".into(),
            ));
        }
        Ok(())
    }
}
