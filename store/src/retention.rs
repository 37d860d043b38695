//! Retention: deleting expired commit-log segments, then trimming the consume queues and the
//! index below the new min offset; and the disk-full state that refuses puts.
//!
//! A round deletes at most ten segments, oldest first, and only segments wholly below both the
//! log end and the dispatch offset. It runs at a `deleteWhen` hour, whenever disk use passes
//! `diskMaxUsedSpaceRatio`, or on request; segments younger than `fileReservedTime` are kept
//! unless disk use passes `diskSpaceCleanForciblyRatio` (with `cleanFileForciblyEnable`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::Result;
use crate::store::{Inner, MessageStore, now_ms};

impl MessageStore {
    /// Runs one retention round now (what the background thread does every
    /// `cleanResourceInterval`): deletes expired commit-log files at a `deleteWhen` hour,
    /// or whenever disk use passes `diskMaxUsedSpaceRatio`, or regardless of age past the
    /// forced ratio. Returns the number of commit-log files deleted.
    pub fn run_retention(&self) -> Result<usize> {
        self.inner.retention(false)
    }

    /// Deletes expired commit-log files now regardless of the hour (TRIGGER_DELETE_FILES).
    pub fn delete_expired_files_now(&self) -> Result<usize> {
        self.inner.retention(true)
    }

    /// Used fraction (0–1) of the file system holding the commit log, measured now the way
    /// retention and the disk-full check measure it (`diskMaxUsedSpaceRatio` compares with it).
    pub fn disk_usage_ratio(&self) -> Option<f64> {
        let dir = self.inner.config.commit_log_dir();
        self.inner.fs.disk_usage(&dir).ok()
    }

    /// True while puts are refused because disk use passed `diskSpaceWarningLevelRatio`.
    pub fn is_disk_full(&self) -> bool {
        self.inner.disk_full.load(Ordering::Acquire)
    }
}

impl Inner {
    pub(crate) fn retention(&self, manual: bool) -> Result<usize> {
        let cfg = &self.config;
        let dir = cfg.commit_log_dir();
        let usage = self.fs.disk_usage(&dir).unwrap_or(0.0);
        let max_ratio = cfg.disk_max_used_space_ratio.clamp(10, 95) as f64 / 100.0;
        let force_ratio = cfg.disk_space_clean_forcibly_ratio as f64 / 100.0;
        let warn_ratio = cfg.disk_space_warning_level_ratio as f64 / 100.0;
        let full = usage > warn_ratio;
        if full != self.disk_full.swap(full, Ordering::AcqRel) {
            tracing::warn!(usage, full, "disk usage state changed");
        }
        let hour_ok = {
            let secs = now_ms() / 1000;
            let hour = ((secs / 3600) % 24) as u32;
            cfg.delete_hours().contains(&hour)
        };
        let space_pressure = usage > max_ratio;
        let forced = cfg.clean_file_forcibly_enable && usage > force_ratio;
        if !(manual || hour_ok || space_pressure || forced) {
            return Ok(0);
        }
        let reserved = Duration::from_secs(cfg.file_reserved_time * 3600);
        let starts = self.log.segment_starts();
        let end = self.log.end();
        let fsz = cfg.mapped_file_size_commit_log;
        let mut deleted = 0usize;
        let mut new_min = None;
        for s in starts {
            if deleted >= 10 || s + fsz > end || s + fsz > self.reput.load(Ordering::Acquire) {
                break;
            }
            let Some(seg) = self.log.segment(s) else {
                continue;
            };
            let age = std::fs::metadata(&seg.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .unwrap_or_default();
            if age < reserved && !forced {
                break;
            }
            new_min = Some(s + fsz);
            deleted += 1;
        }
        let Some(new_min) = new_min else { return Ok(0) };
        let removed = self.log.delete_before(new_min)?;
        tracing::info!(
            files = removed.len(),
            new_min,
            usage,
            manual,
            forced,
            "commit-log files deleted"
        );
        let log_min = self.log.min_offset();
        for q in self.all_queues() {
            q.trim_below(log_min)?;
        }
        self.index.trim_below(log_min)?;
        Ok(removed.len())
    }
}
