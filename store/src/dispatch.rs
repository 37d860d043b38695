//! Dispatch (Java's reput service): the dispatch thread reads the commit log past `reput` and
//! builds the consume queues and the index from it, then announces the queues that advanced
//! (long-polling pulls wake on it).
//!
//! It stops at the durable offset under SYNC_FLUSH (at the written end under ASYNC_FLUSH), so a
//! consumer never sees a record a crash could take back. A record that fails verification is
//! stepped over (`Inner::step_over_damage` in [`crate::recovery`]), never served and never a
//! reason to stop for good. Records of a deleted topic written before its deletion are not
//! dispatched. Queues are created here, under `dispatch_lock`, and nowhere else.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use remoting::message::record::{BLANK_MAGIC_CODE, peek_header};
use remoting::message::{keys, sysflag, tags_code};

use crate::config::FlushDiskType;
use crate::consume_queue::{ConsumeQueue, CqEntry};
use crate::error::{Result, StoreError};
use crate::recovery::{CHUNK, Scan, scan_one};
use crate::store::{FastHash, Inner, MessageStore, qm_get, qm_set, valid_topic};

impl MessageStore {
    /// Calls `listener(topic, queue_id, max_offset)` once per queue per dispatch round in
    /// which the queue got new readable records (under SYNC_FLUSH: durable ones).
    ///
    /// It runs on the dispatch thread and must not block (waking parked pulls is what it is
    /// for). Called in place rather than through a channel to a task: a relay task was woken
    /// on every dispatch round, up to a few thousand times a second, whether or not any pull
    /// was parked.
    pub fn on_advance(&self, listener: impl Fn(&str, i32, i64) + Send + Sync + 'static) {
        self.inner
            .advance_listeners
            .write()
            .push(Box::new(listener));
    }

    /// Drops a topic's consume queues (DELETE_TOPIC_IN_BROKER). Its records stay in the
    /// commit log until retention removes them.
    pub fn delete_topic(&self, topic: &str) -> Result<()> {
        // Serialised with queue creation: queues are only created by dispatch, under this
        // lock, so a queue of `topic` cannot be re-created (and its new files then unlinked
        // by the removal below) until the old files are gone.
        let _d = self.inner.dispatch_lock.lock();
        let victims: Vec<Arc<ConsumeQueue>> = {
            let mut qs = self.inner.queues.write();
            qs.remove(topic)
                .map(|m| m.into_values().collect())
                .unwrap_or_default()
        };
        {
            let t = self.inner.log.lock();
            self.inner.queue_offsets.lock().remove(topic);
            self.inner
                .deleted_topics
                .lock()
                .insert(topic.to_string(), t.end());
            self.inner.has_deleted_topics.store(true, Ordering::Release);
        }
        for q in victims {
            q.destroy()?;
        }
        let dir = self.inner.root.join("consumequeue").join(topic);
        if valid_topic(topic) && dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        Ok(())
    }
}

/// The dispatch read buffer is kept up to this size between rounds (a steady-state round reads
/// what was appended since the last one, some tens of KiB); a catch-up round's (up to 4 MiB)
/// is freed after it.
const KEEP_READ_BUF: usize = 1 << 20;

impl Inner {
    fn queue_or_create(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>> {
        if let Some(q) = self.queue(topic, queue_id) {
            return Ok(q);
        }
        let mut qs = self.queues.write();
        if let Some(q) = qm_get(&qs, topic, queue_id) {
            return Ok(q);
        }
        let dir = self
            .root
            .join("consumequeue")
            .join(topic)
            .join(queue_id.to_string());
        let q = Arc::new(ConsumeQueue::open(
            self.fs.clone(),
            &dir,
            topic,
            queue_id,
            self.config.consume_queue_file_size(),
        )?);
        qm_set(&mut qs, topic, queue_id, q.clone());
        Ok(q)
    }

    pub(crate) fn rebuild_queue_offsets(&self) {
        let _t = self.log.lock();
        let mut qo = self.queue_offsets.lock();
        qo.clear();
        for q in self.all_queues() {
            qm_set(&mut qo, &q.topic, q.queue_id, q.max_offset());
        }
    }

    pub(crate) fn wake_dispatcher(&self) {
        let (m, cv) = &self.dispatch_signal;
        *m.lock() = true;
        cv.notify_one();
    }

    fn dispatch_target(&self) -> u64 {
        match self.config.flush_disk_type {
            FlushDiskType::SyncFlush => self.log.flushed(),
            FlushDiskType::AsyncFlush => self.log.end(),
        }
    }

    pub(crate) fn dispatch_loop(&self) {
        while !self.stopping.load(Ordering::Acquire) {
            match self.dispatch_once() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "dispatch failed; retrying"),
            }
            let idle = match self.config.flush_disk_type {
                FlushDiskType::AsyncFlush => Duration::from_millis(1),
                FlushDiskType::SyncFlush => Duration::from_millis(100),
            };
            let (m, cv) = &self.dispatch_signal;
            let mut g = m.lock();
            if !*g {
                cv.wait_for(&mut g, idle);
            }
            *g = false;
        }
    }

    /// Dispatches one chunk of records past `reput`; true when progress was made.
    pub(crate) fn dispatch_once(&self) -> Result<bool> {
        let mut scratch = self.dispatch_lock.lock();
        let progressed = self.dispatch_round(&mut scratch);
        if scratch.len() > KEEP_READ_BUF {
            // A catch-up round's: not kept for the small rounds of the steady state.
            *scratch = Vec::new();
        }
        progressed
    }

    /// [`Inner::dispatch_once`] under the dispatch lock, reading into `scratch`.
    fn dispatch_round(&self, scratch: &mut Vec<u8>) -> Result<bool> {
        let start = self.reput.load(Ordering::Acquire);
        let target = self.dispatch_target();
        if start >= target {
            return Ok(false);
        }
        let fsz = self.config.mapped_file_size_commit_log;
        let room_in_file = fsz - start % fsz;
        let want = ((target - start) as usize)
            .min(CHUNK)
            .min(room_in_file as usize);
        // Read into the buffer kept between rounds, which is zeroed only where it grows: a
        // fresh one per round was zeroed whole before the read overwrote it, a tenth of this
        // thread's time (BENCHMARKS.md, session 24).
        if scratch.len() < want {
            scratch.resize(want, 0);
        }
        if !self.log.read_at(start, &mut scratch[..want])? {
            // Below the min offset (deleted): skip to the first file.
            let min = self.log.min_offset();
            if min > start {
                self.reput.store(min, Ordering::Release);
                return Ok(true);
            }
            // A file missing between others.
            return self.step_over_damage(start, target, "missing segment file".into());
        }
        let mut buf = &scratch[..want];
        // A record larger than the chunk: read it whole.
        let whole;
        if let Some((s, m)) = peek_header(buf)
            && m != BLANK_MAGIC_CODE
            && s as usize > buf.len()
            && start + s as u64 <= target
            && let Some(b) = self.log.read(start, s as usize)?
        {
            whole = b;
            buf = &whole;
        }
        let mut pos = 0usize;
        // Keyed by names borrowed from `buf`: a round allocates no topic name.
        let mut advanced: HashMap<(&str, i32), i64, FastHash> = HashMap::default();
        let mut last_ts = 0;
        while pos < buf.len() {
            let at = start + pos as u64;
            let room = fsz - at % fsz;
            match scan_one(&buf[pos..], at, room, false) {
                Scan::Record(v) => {
                    self.dispatch_record(&v, &mut advanced)?;
                    last_ts = v.store_timestamp;
                    pos += v.total_size as usize;
                }
                Scan::Blank => {
                    self.reput.store(at + room, Ordering::Release);
                    break;
                }
                Scan::Incomplete => break,
                Scan::Invalid(reason) => {
                    // Never serve what fails verification, never stop for good: step over it.
                    self.step_over_damage(at, target, reason)?;
                    break;
                }
            }
            self.reput.store(start + pos as u64, Ordering::Release);
        }
        if last_ts > 0 {
            self.last_dispatched_ts.store(last_ts, Ordering::Release);
        }
        if self.has_deleted_topics.load(Ordering::Acquire) {
            let reput = self.reput.load(Ordering::Acquire);
            let mut d = self.deleted_topics.lock();
            d.retain(|_, end| *end > reput);
            self.has_deleted_topics
                .store(!d.is_empty(), Ordering::Release);
        }
        if !advanced.is_empty() {
            let listeners = self.advance_listeners.read();
            for (&(topic, queue_id), &max_offset) in &advanced {
                for l in listeners.iter() {
                    l(topic, queue_id, max_offset);
                }
            }
        }
        Ok(self.reput.load(Ordering::Acquire) > start)
    }

    fn dispatch_record<'b>(
        &self,
        v: &remoting::message::RecordView<'b>,
        advanced: &mut HashMap<(&'b str, i32), i64, FastHash>,
    ) -> Result<()> {
        let ty = sysflag::transaction_type(v.sys_flag);
        if !valid_topic(v.topic) {
            tracing::warn!(
                offset = v.physical_offset,
                topic = v.topic,
                "record with an illegal topic not dispatched"
            );
            return Ok(());
        }
        // The three names every record is asked for, in one pass over its properties.
        let [tags_prop, uniq_key, keys_prop] =
            v.properties_of([keys::TAGS, keys::UNIQ_KEY, keys::KEYS]);
        if ty == sysflag::TRANSACTION_NOT_TYPE || ty == sysflag::TRANSACTION_COMMIT_TYPE {
            let tags = if v.topic == keys::SCHEDULE_TOPIC {
                // tagsCode of a delayed message is its delivery time (spec §10.5).
                let level = v
                    .property(keys::DELAY)
                    .and_then(|d| d.parse::<usize>().ok())
                    .unwrap_or(1);
                let delay = self
                    .delay_levels
                    .get(
                        level
                            .saturating_sub(1)
                            .min(self.delay_levels.len().saturating_sub(1)),
                    )
                    .copied()
                    .unwrap_or(1000);
                v.store_timestamp + delay
            } else {
                tags_code(tags_prop)
            };
            if self.has_deleted_topics.load(Ordering::Acquire)
                && self
                    .deleted_topics
                    .lock()
                    .get(v.topic)
                    .is_some_and(|d| (v.physical_offset as u64) < *d)
            {
                return Ok(());
            }
            let q = self.queue_or_create(v.topic, v.queue_id)?;
            let entry = CqEntry {
                phys_offset: v.physical_offset,
                size: v.total_size,
                tags_code: tags,
            };
            if q.put(v.queue_offset, entry)? {
                advanced.insert((v.topic, v.queue_id), q.max_offset());
            }
        }
        if self.config.message_index_enable && ty != sysflag::TRANSACTION_ROLLBACK_TYPE {
            let r = self.index_record(v, uniq_key, keys_prop);
            if let Err(e) = r {
                if !self.read_only_flag.load(Ordering::Acquire) {
                    return Err(e);
                }
                // Read-only (a full disk at open): serve the queues now, index this record
                // and the rest once writes succeed again (`retry_recovery`).
                let mut d = self.index_deferred.lock();
                if d.is_none() {
                    tracing::warn!(offset = v.physical_offset, error = %e, "index writes deferred until the disk accepts writes");
                }
                let at = v.physical_offset as u64;
                *d = Some(d.map_or(at, |x: u64| x.min(at)));
            }
        }
        Ok(())
    }

    /// Indexes the record under its UNIQ_KEY and each of its KEYS (both read by the caller).
    fn index_record(
        &self,
        v: &remoting::message::RecordView<'_>,
        uniq_key: Option<&str>,
        keys_prop: Option<&str>,
    ) -> Result<()> {
        if let Some(u) = uniq_key {
            self.index
                .put(v.topic, u, v.physical_offset, v.store_timestamp)?;
        }
        if let Some(ks) = keys_prop {
            for k in ks.split(keys::KEY_SEPARATOR).filter(|k| !k.is_empty()) {
                self.index
                    .put(v.topic, k, v.physical_offset, v.store_timestamp)?;
            }
        }
        Ok(())
    }
}
