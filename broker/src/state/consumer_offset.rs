//! Committed consumer offsets (`ConsumerOffsetManager`): `topic@group → queue → offset`, flushed
//! to `consumerOffset.json`.
//!
//! reliability.md: offsets never jump backwards to 0. A negative commit is refused; a commit
//! beyond the queue's end is clamped to the end; on load, an offset beyond a queue's recovered end
//! is corrected to that end rather than dropped (a dropped offset would make the group replay the
//! queue from its start).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use remoting::body::admin::ConsumerOffsetSerializeWrapper;
use tracing::warn;

use crate::error::Result;
use crate::state::persist;

/// The file and GET_ALL_CONSUMER_OFFSET body.
pub type ConsumerOffsetWrapper = ConsumerOffsetSerializeWrapper;

/// The key of a (topic, group) pair.
pub fn key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

/// The broker's committed offsets.
pub struct ConsumerOffsetManager {
    path: PathBuf,
    table: RwLock<ConsumerOffsetWrapper>,
    dirty: AtomicBool,
}

impl ConsumerOffsetManager {
    /// Loads `consumerOffset.json` (or its backup). `max_offset(topic, queue)` gives each queue's
    /// recovered end, to which larger stored offsets are corrected.
    pub fn load(path: PathBuf, max_offset: impl Fn(&str, i32) -> i64) -> Result<Self> {
        let loaded = persist::read_with_backup(&path, |b| {
            remoting::fastjson::from_slice::<ConsumerOffsetWrapper>(b).ok()
        })?;
        let mut table = loaded.unwrap_or_default();
        for (k, queues) in table.offset_table.iter_mut() {
            let Some((topic, _group)) = k.split_once('@') else {
                continue;
            };
            for (q, off) in queues.iter_mut() {
                let end = max_offset(topic, *q);
                if *off > end {
                    warn!(key = %k, queue_id = q, stored = *off, end, "consumer offset beyond queue end; corrected to the end");
                    *off = end;
                }
                if *off < 0 {
                    *off = 0;
                }
            }
        }
        Ok(ConsumerOffsetManager {
            path,
            table: RwLock::new(table),
            dirty: AtomicBool::new(false),
        })
    }

    /// Stores a commit. Negative offsets are refused (returns false); offsets beyond `max` (the
    /// queue's end) are clamped to it.
    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64, max: i64) -> bool {
        if offset < 0 || queue_id < 0 {
            return false;
        }
        let offset = offset.min(max.max(0));
        self.table
            .write()
            .offset_table
            .entry(key(topic, group))
            .or_default()
            .insert(queue_id, offset);
        self.dirty.store(true, Ordering::Release);
        true
    }

    /// Stores the offset a consumer piggy-backs on a pull only if it moves the queue forward.
    ///
    /// Requests are not answered strictly in order (one that waits lets later ones pass, and
    /// a consumer may use several connections), so a pull sent just before the consumer's final
    /// UPDATE_CONSUMER_OFFSET (a member leaving, a queue handed to another member) can be
    /// handled after it; stored unconditionally (as Java does) its older offset would roll the
    /// queue back and the next owner would consume the difference again. Explicit commits
    /// ([`commit`](Self::commit)) still move offsets either way (resets, seeks).
    pub fn commit_forward(
        &self,
        group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max: i64,
    ) -> bool {
        if offset < 0 || queue_id < 0 {
            return false;
        }
        let offset = offset.min(max.max(0));
        let mut t = self.table.write();
        let queues = t.offset_table.entry(key(topic, group)).or_default();
        match queues.get(&queue_id) {
            Some(cur) if *cur >= offset => return false,
            _ => {
                queues.insert(queue_id, offset);
            }
        }
        drop(t);
        self.dirty.store(true, Ordering::Release);
        true
    }

    /// The committed offset, if any.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.table
            .read()
            .offset_table
            .get(&key(topic, group))
            .and_then(|q| q.get(&queue_id))
            .copied()
    }

    /// All offsets of a (topic, group).
    pub fn queue_offsets(&self, group: &str, topic: &str) -> BTreeMap<i32, i64> {
        self.table
            .read()
            .offset_table
            .get(&key(topic, group))
            .cloned()
            .unwrap_or_default()
    }

    /// The topics a group has offsets for.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        self.table
            .read()
            .offset_table
            .keys()
            .filter_map(|k| k.split_once('@'))
            .filter(|(_, g)| *g == group)
            .map(|(t, _)| t.to_string())
            .collect()
    }

    /// Drops every offset of a topic.
    pub fn remove_topic(&self, topic: &str) {
        let prefix = format!("{topic}@");
        self.table
            .write()
            .offset_table
            .retain(|k, _| !k.starts_with(&prefix));
        self.dirty.store(true, Ordering::Release);
    }

    /// Drops every offset of a group.
    pub fn remove_group(&self, group: &str) {
        let suffix = format!("@{group}");
        self.table
            .write()
            .offset_table
            .retain(|k, _| !k.ends_with(&suffix));
        self.dirty.store(true, Ordering::Release);
    }

    /// A copy of the table.
    pub fn snapshot(&self) -> ConsumerOffsetWrapper {
        self.table.read().clone()
    }

    /// Writes the file if anything changed since the last flush.
    pub fn flush(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let text = serde_json::to_string_pretty(&*self.table.read()).unwrap_or_default();
        let r = persist::write_atomic(&self.path, &text);
        if r.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_refuses_and_corrects_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("consumerOffset.json");
        let m = ConsumerOffsetManager::load(p.clone(), |_, _| 0).unwrap();
        assert!(m.commit("G", "T", 0, 50, 100));
        assert!(m.commit("G", "T", 1, 500, 100));
        assert!(!m.commit("G", "T", 2, -5, 100));
        assert_eq!(m.query("G", "T", 1), Some(100));
        assert_eq!(m.query("G", "T", 2), None);
        m.flush().unwrap();
        // After a crash the queue recovered only to 80: offset 100 becomes 80, never 0.
        let m =
            ConsumerOffsetManager::load(p.clone(), |_, q| if q == 1 { 80 } else { 1000 }).unwrap();
        assert_eq!(m.query("G", "T", 1), Some(80));
        assert_eq!(m.query("G", "T", 0), Some(50));
        // Java's unquoted integer keys read too.
        std::fs::write(&p, r#"{"offsetTable":{"T@G":{0:7,3:9}}}"#).unwrap();
        let m = ConsumerOffsetManager::load(p, |_, _| 1000).unwrap();
        assert_eq!(m.query("G", "T", 3), Some(9));
    }

    #[test]
    fn pull_commits_only_move_forward() {
        let dir = tempfile::tempdir().unwrap();
        let m = ConsumerOffsetManager::load(dir.path().join("o.json"), |_, _| 0).unwrap();
        assert!(m.commit_forward("G", "T", 0, 10, 100));
        // The final explicit commit of a leaving member, then its older pull handled late.
        assert!(m.commit("G", "T", 0, 128, 200));
        assert!(!m.commit_forward("G", "T", 0, 119, 200));
        assert_eq!(m.query("G", "T", 0), Some(128));
        assert!(m.commit_forward("G", "T", 0, 130, 200));
        // Explicit commits still go back (a reset).
        assert!(m.commit("G", "T", 0, 5, 200));
        assert_eq!(m.query("G", "T", 0), Some(5));
        assert!(!m.commit_forward("G", "T", 0, -1, 200));
    }
}
