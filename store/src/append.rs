//! The write side of the commit log: encoding and appending puts (delay-level rewrite, batch
//! rules, offsets and store time patched in under the tail lock), the wait for durability, the
//! flush thread, the fatal-fsync rule, and the slave's side of HA (raw appends, truncation to a
//! record boundary, reset to an empty log) and a promoted slave's switch to puts
//! (`prepare_for_puts`).
//!
//! Group commit (SYNC_FLUSH): an appender wakes the flush thread and waits in `Inner::durable`
//! ([`crate::durable`]); the flush thread's one drain + fdatasync covers every record appended
//! before it started, so appenders that arrive while an fsync runs share the next one. Zeros
//! written ahead of the writer ([`crate::warm`]) spare those fsyncs the block allocation.
//! ASYNC_FLUSH acknowledges once the bytes are in the page cache and the flush thread syncs on
//! a cadence. A failed write fails only its put (`DiskError`) and puts are refused until a
//! write succeeds; a failed fsync is fatal (`Inner::fatal`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use remoting::message::record::{
    BLANK_MAGIC_CODE, POS_PHYSICAL_OFFSET, POS_QUEUE_OFFSET, encode_into, pos_store_timestamp,
};
use remoting::message::{MessageRecord, keys, push_offset_msg_id, sysflag};

use crate::config::FlushDiskType;
use crate::consume_queue::ConsumeQueue;
use crate::durable::Durable;
use crate::error::{Result, StoreError};
use crate::seglog::SyncFail;
use crate::store::{Inner, MessageStore, now_ms, qm_get, qm_set, valid_topic};
use crate::types::{AppendResult, PutResult, PutStatus};

const PAGE: u64 = 4096;

fn first_store_host(msgs: &[MessageRecord]) -> std::net::SocketAddr {
    msgs.first()
        .map(|m| m.store_host)
        .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
}

impl MessageStore {
    /// Appends one message and resolves when it is as durable as configured: under SYNC_FLUSH
    /// (and `WAIT` ≠ "false") after its fsync, else at once. `queue_offset`,
    /// `physical_offset`, `store_timestamp` and `body_crc` are assigned by the store. A
    /// message with `DELAY` > 0 (not prepared/rollback) is rewritten to
    /// `SCHEDULE_TOPIC_XXXX` (spec §5.2). The `WAIT` property is stripped before storage.
    pub async fn put_message(&self, mut msg: MessageRecord) -> PutResult {
        self.put_messages_with(std::slice::from_mut(&mut msg), true)
            .await
    }

    /// Appends a batch (all items to the first item's topic and queue, contiguous in one
    /// commit-log file), with the same durability rule as [`MessageStore::put_message`].
    pub async fn put_messages(&self, mut msgs: Vec<MessageRecord>) -> PutResult {
        self.put_messages_with(&mut msgs, true).await
    }

    /// Appends a message the schedule service delivers from `SCHEDULE_TOPIC_XXXX` to its real
    /// topic: stored as it is, `DELAY` property included (Java's delivered delayed messages keep
    /// `DELAY`, `REAL_TOPIC` and `REAL_QID`), without being delayed again.
    pub async fn put_delayed_delivery(&self, mut msg: MessageRecord) -> PutResult {
        self.put_messages_with(std::slice::from_mut(&mut msg), false)
            .await
    }

    /// Appends one message without waiting for any flush, whatever the flush type: the record
    /// is in the page cache (safe from a process crash) when this returns. `WAIT` is ignored
    /// and stripped. A caller that owes a producer durability under SYNC_FLUSH follows it with
    /// [`MessageStore::wait_flushed`]; the broker's send path does, so that its sends need
    /// no future of the store's and share group fsyncs while holding no turn.
    pub fn append_message(&self, mut msg: MessageRecord) -> PutResult {
        self.append_now(std::slice::from_mut(&mut msg), true)
    }

    /// [`MessageStore::append_message`] for a batch (see [`MessageStore::put_messages`]).
    pub fn append_messages(&self, mut msgs: Vec<MessageRecord>) -> PutResult {
        self.append_now(&mut msgs, true)
    }

    /// The records are borrowed, not owned: a single message needs no `Vec` of its own.
    async fn put_messages_with(&self, msgs: &mut [MessageRecord], honour_delay: bool) -> PutResult {
        let wait = msgs.first().is_some_and(|m| {
            m.properties
                .get(keys::WAIT)
                .map(|w| w.trim() != "false")
                .unwrap_or(true)
        });
        let put = self.append_now(msgs, honour_delay);
        match &put.append {
            Some(res)
                if put.status == PutStatus::PutOk
                    && self.inner.config.flush_disk_type == FlushDiskType::SyncFlush
                    && wait =>
            {
                let status = self.wait_flushed(res.end_offset as u64).await;
                PutResult {
                    status,
                    error: (status == PutStatus::UnknownError)
                        .then(|| "store stopped after a failed fsync".to_string()),
                    ..put
                }
            }
            _ => put,
        }
    }

    /// Appends, and under ASYNC_FLUSH writes the records through to the page cache; never
    /// waits for an fsync.
    fn append_now(&self, msgs: &mut [MessageRecord], honour_delay: bool) -> PutResult {
        let res = match self.inner.append(msgs, honour_delay) {
            Ok(r) => r,
            Err(r) => return r,
        };
        if self.inner.config.flush_disk_type == FlushDiskType::AsyncFlush
            && let Err(e) = self.inner.write_through(res.end_offset as u64)
        {
            return PutResult::fail(PutStatus::DiskError, e.to_string());
        }
        PutResult {
            status: PutStatus::PutOk,
            append: Some(res),
            error: None,
        }
    }

    /// Waits until the commit log is durable up to `end` (for callers that appended with
    /// `WAIT=false` and changed their mind, and for the HA layer).
    pub async fn wait_flushed(&self, end: u64) -> PutStatus {
        let pending = match self.inner.durable.wait(end) {
            Ok(Durable::Yes) => return PutStatus::PutOk,
            Ok(Durable::Never) => return PutStatus::UnknownError,
            Err(pending) => pending,
        };
        self.inner.wake_flusher();
        match tokio::time::timeout(self.inner.config.sync_flush_timeout(), pending).await {
            Ok(Ok(Durable::Yes)) => PutStatus::PutOk,
            // Never durable, or the store is gone.
            Ok(_) => PutStatus::UnknownError,
            Err(_) => PutStatus::FlushDiskTimeout,
        }
    }

    /// Slave side of HA: appends raw bytes received from the master at `offset`, which must
    /// equal [`MessageStore::commit_log_max_offset`] (or, on an empty log, any file-aligned
    /// offset: a fresh slave starts at the master's last file). Bytes may cut records anywhere;
    /// dispatch waits for whole records. Durability follows the flush settings.
    pub fn append_raw(&self, offset: i64, data: &[u8]) -> Result<()> {
        self.inner
            .check_writable()
            .map_err(|r| StoreError::Config(r.error.unwrap_or_default()))?;
        let inner = &self.inner;
        let fsz = inner.config.mapped_file_size_commit_log;
        let mut tail = inner.log.lock();
        let end = tail.end();
        let offset = u64::try_from(offset)
            .map_err(|_| StoreError::Config(format!("negative offset {offset}")))?;
        if offset != end {
            let empty = inner.log.segment_starts().is_empty() && end == inner.log.min_offset();
            if !(empty && offset % fsz == 0) {
                return Err(StoreError::Config(format!(
                    "raw append at {offset} but the commit log ends at {end}"
                )));
            }
            drop(tail);
            inner.log.set_end(offset)?;
            inner.reput.store(offset, Ordering::Release);
            tail = inner.log.lock();
        }
        let mut rest = data;
        while !rest.is_empty() {
            let room = inner.log.room(&tail) as usize;
            let n = rest.len().min(room);
            inner.log.prepare(&mut tail, n)?;
            inner.log.append(&mut tail, &rest[..n])?;
            rest = &rest[n..];
        }
        drop(tail);
        inner.after_append();
        let n = data.len() as u64;
        inner
            .stats
            .ha_bytes_appended
            .fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Cuts the commit log back to `offset` (a record boundary), e.g. a slave's tail that
    /// diverged from a new master. Consume-queue entries past it are dropped.
    pub fn truncate_commit_log(&self, offset: i64) -> Result<()> {
        let inner = &self.inner;
        let offset = u64::try_from(offset)
            .map_err(|_| StoreError::Config(format!("negative offset {offset}")))?;
        let _d = inner.dispatch_lock.lock();
        {
            let _t = inner.log.lock();
        }
        if offset >= inner.log.end() {
            return Ok(());
        }
        tracing::warn!(offset, end = inner.log.end(), "truncating commit log");
        // Everything kept must be durable before the durable mark moves to `offset`.
        inner.sync_log()?;
        inner.log.set_end(offset)?;
        for q in inner.all_queues() {
            q.truncate_from_phys(offset)?;
        }
        inner.index.set_skip_below(0);
        inner.damage.write().retain(|from, _| *from < offset);
        inner.reput.fetch_min(offset, Ordering::AcqRel);
        inner.rebuild_queue_offsets();
        // Durable up to the old end by the sync above, so up to `offset` now.
        inner.durable.reset(offset);
        Ok(())
    }

    /// Slave side of HA (reliability #3388): discards the whole commit log, every consume
    /// queue and the index, and restarts the empty log at `offset`, which must be a multiple of
    /// the commit-log file size (the master's min offset). Used when the slave's position no
    /// longer exists on the master (retention removed it): the next [`MessageStore::append_raw`]
    /// at `offset` continues, and dispatch rebuilds the queues at the logical offsets the
    /// replicated records carry. The checkpoint is rewritten before returning, so a crash
    /// afterwards recovers an empty log rather than the old one.
    pub fn reset_to(&self, offset: i64) -> Result<()> {
        let inner = &self.inner;
        let fsz = inner.config.mapped_file_size_commit_log;
        let offset = u64::try_from(offset)
            .map_err(|_| StoreError::Config(format!("negative offset {offset}")))?;
        if offset % fsz != 0 {
            return Err(StoreError::Config(format!(
                "reset offset {offset} is not a multiple of the commit-log file size {fsz}"
            )));
        }
        {
            // Dispatch is stopped for the whole swap: no entry of the old log lands in a queue
            // of the new one.
            let _d = inner.dispatch_lock.lock();
            tracing::warn!(
                offset,
                old_min = inner.log.min_offset(),
                old_end = inner.log.end(),
                "resetting the store: dropping the commit log, consume queues and index"
            );
            inner.log.destroy()?;
            inner.log.set_end(offset)?;
            let victims: Vec<(String, Vec<Arc<ConsumeQueue>>)> = {
                let mut qs = inner.queues.write();
                std::mem::take(&mut *qs)
                    .into_iter()
                    .map(|(t, m)| (t, m.into_values().collect()))
                    .collect()
            };
            {
                let _t = inner.log.lock();
                inner.queue_offsets.lock().clear();
            }
            for (topic, queues) in victims {
                for q in queues {
                    q.destroy()?;
                }
                let dir = inner.root.join("consumequeue").join(&topic);
                if valid_topic(&topic) && dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
                }
            }
            inner.index.clear()?;
            inner.index.set_skip_below(0);
            inner.damage.write().clear();
            inner.reput.store(offset, Ordering::Release);
            inner.durable.reset(offset);
        }
        inner.write_checkpoint(crate::store::IndexFlush::Now)
    }

    /// A slave promoted to master (issue #22, docs/failover.md): makes what replication
    /// appended durable and dispatched, then takes each queue's next offset from its consume
    /// queue (appends by HA do not advance the put path's queue offsets; without this the
    /// first puts would reuse queue offsets).
    /// Call it before the first put, after the HA client stopped appending.
    pub fn prepare_for_puts(&self) -> Result<()> {
        self.flush()?;
        self.inner.rebuild_queue_offsets();
        Ok(())
    }
}

/// Encode buffers kept up to this capacity between puts (a batch of about 48 records of
/// 1 KiB); a bigger batch's is freed, so an idle thread holds no more than this.
const KEEP_ENCODE_BUF: usize = 64 * 1024;

thread_local! {
    /// This thread's encode buffer, reused from put to put. A fresh one per put cost a
    /// `malloc` and a `free` of a size (a 1 KiB record encodes to ~1.3 KiB) above glibc's
    /// per-thread cache, each through the arena's bins (BENCHMARKS.md, session 24).
    static ENCODE_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The thread's encode buffer for one append, handed back when dropped (on every return path).
struct EncodeBuf(Vec<u8>);

impl EncodeBuf {
    /// The buffer, empty, with room for `estimate` bytes.
    fn take(estimate: usize) -> Self {
        let mut buf = ENCODE_BUF.with(|b| b.take());
        buf.clear();
        buf.reserve(estimate);
        EncodeBuf(buf)
    }
}

impl std::ops::Deref for EncodeBuf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for EncodeBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Drop for EncodeBuf {
    fn drop(&mut self) {
        if self.0.capacity() <= KEEP_ENCODE_BUF {
            let buf = std::mem::take(&mut self.0);
            // A thread that is exiting has no slot left: the buffer is simply freed.
            let _ = ENCODE_BUF.try_with(|b| b.set(buf));
        }
    }
}

impl Inner {
    #[allow(clippy::result_large_err)]
    fn check_writable(&self) -> std::result::Result<(), PutResult> {
        if self.read_only_flag.load(Ordering::Acquire)
            && let Err(e) = self.retry_recovery()
        {
            return Err(PutResult::fail(
                PutStatus::DiskError,
                format!(
                    "store is read-only: recovery could not write ({e}); writes resume when \
                     the disk accepts writes again"
                ),
            ));
        }
        if self.fatal_flag.load(Ordering::Acquire)
            && let Some(f) = self.fatal.lock().as_ref()
        {
            return Err(PutResult::fail(
                PutStatus::ServiceNotAvailable,
                format!("store stopped: {f}"),
            ));
        }
        if self.stopping.load(Ordering::Acquire) {
            return Err(PutResult::fail(
                PutStatus::ServiceNotAvailable,
                "store is shut down",
            ));
        }
        if self.disk_full.load(Ordering::Acquire) {
            return Err(PutResult::fail(
                PutStatus::ServiceNotAvailable,
                "disk full: store is not writable",
            ));
        }
        if self.write_failing.load(Ordering::Acquire) {
            // Retry the write here so that appends resume as soon as the disk recovers.
            if let Err(e) = self.sync_log() {
                return Err(PutResult::fail(
                    PutStatus::DiskError,
                    format!("commit log not writable: {e}"),
                ));
            }
        }
        Ok(())
    }

    /// Encodes and appends; returns where the records went. The encode happens before the
    /// lock; offsets and the store time are patched in under it.
    #[allow(clippy::result_large_err)]
    pub(crate) fn append(
        &self,
        msgs: &mut [MessageRecord],
        honour_delay: bool,
    ) -> std::result::Result<AppendResult, PutResult> {
        self.check_writable()?;
        let Some(first) = msgs.first() else {
            return Err(PutResult::fail(PutStatus::MessageIllegal, "empty batch"));
        };
        let ty = sysflag::transaction_type(first.sys_flag);
        let mut topic = first.topic.clone();
        let mut queue_id = first.queue_id;
        if !valid_topic(&topic) {
            return Err(PutResult::fail(
                PutStatus::MessageIllegal,
                format!("illegal topic {topic:?}"),
            ));
        }
        if msgs.len() > 1 && ty != sysflag::TRANSACTION_NOT_TYPE {
            return Err(PutResult::fail(
                PutStatus::MessageIllegal,
                "a batch cannot be transactional",
            ));
        }
        // Delay levels (spec §5.2): rewrite to the schedule topic before storage.
        if honour_delay
            && (ty == sysflag::TRANSACTION_NOT_TYPE || ty == sysflag::TRANSACTION_COMMIT_TYPE)
            && msgs.len() == 1
            && let Some(level) = first
                .properties
                .get(keys::DELAY)
                .and_then(|d| d.trim().parse::<i64>().ok())
            && level > 0
        {
            let level = level.min(self.delay_levels.len() as i64).max(1);
            let m = &mut msgs[0];
            m.properties.insert(keys::REAL_TOPIC, m.topic.clone());
            m.properties.insert(keys::REAL_QID, m.queue_id.to_string());
            m.topic = keys::SCHEDULE_TOPIC.to_string();
            m.queue_id = (level - 1) as i32;
            m.properties.insert(keys::DELAY, level.to_string());
            topic = m.topic.clone();
            queue_id = m.queue_id;
        } else if msgs.len() > 1
            && msgs.iter().any(|m| {
                m.properties
                    .get(keys::DELAY)
                    .is_some_and(|d| d.trim() != "0")
            })
        {
            return Err(PutResult::fail(
                PutStatus::MessageIllegal,
                "a batch cannot carry a delay level",
            ));
        }
        // Room for the whole batch (bodies + topic + a generous allowance for the fixed fields
        // and properties) at once: small records otherwise pay for several regrowths.
        let estimate: usize = msgs.iter().map(|m| m.body.len() + topic.len() + 256).sum();
        let mut buf = EncodeBuf::take(estimate);
        // (encoded size, position of STORETIMESTAMP) per record.
        let mut sizes: Vec<(usize, usize)> = Vec::with_capacity(msgs.len());
        for m in msgs.iter_mut() {
            m.properties.remove(keys::WAIT);
            if m.topic != topic {
                m.topic.clone_from(&topic);
            }
            m.queue_id = queue_id;
            if m.body.len() > self.config.max_message_size {
                return Err(PutResult::fail(
                    PutStatus::MessageIllegal,
                    format!(
                        "body of {} bytes exceeds maxMessageSize {}",
                        m.body.len(),
                        self.config.max_message_size
                    ),
                ));
            }
            let before = buf.len();
            if let Err(e) = encode_into(m, &mut buf) {
                let text = e.to_string();
                let status = if text.contains("properties of") {
                    PutStatus::PropertiesSizeExceeded
                } else {
                    PutStatus::MessageIllegal
                };
                return Err(PutResult::fail(status, text));
            }
            sizes.push((
                buf.len() - before,
                pos_store_timestamp(m.effective_sys_flag()),
            ));
        }
        if buf.len() > self.config.max_message_size + 32_767 + 1024 * msgs.len() {
            return Err(PutResult::fail(
                PutStatus::MessageIllegal,
                "batch too large",
            ));
        }
        let advances =
            ty == sysflag::TRANSACTION_NOT_TYPE || ty == sysflag::TRANSACTION_COMMIT_TYPE;
        let store_host = first_store_host(msgs);
        let disk_err = |e: StoreError| {
            self.write_failing.store(true, Ordering::Release);
            PutResult::fail(PutStatus::DiskError, e.to_string())
        };

        let mut tail = self.log.lock();
        let total = buf.len() as u64;
        if total + 8 > self.log.room(&tail) {
            let room = self.log.room(&tail);
            let mut blank = Vec::with_capacity(8);
            blank.extend_from_slice(&(room as i32).to_be_bytes());
            blank.extend_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
            self.log.prepare(&mut tail, 8).map_err(disk_err)?;
            self.log.append(&mut tail, &blank).map_err(disk_err)?;
            self.log.roll(&mut tail).map_err(disk_err)?;
        }
        self.log.prepare(&mut tail, buf.len()).map_err(disk_err)?;
        let store_ts = now_ms();
        let wrote_offset = tail.end();
        let mut qo_table = self.queue_offsets.lock();
        let first_qo = if advances {
            qm_get(&qo_table, &topic, queue_id).unwrap_or(0)
        } else {
            0
        };
        let mut pos = 0usize;
        for (i, &(sz, ts_pos)) in sizes.iter().enumerate() {
            let rec = &mut buf[pos..pos + sz];
            let phys = wrote_offset + pos as u64;
            let qo = if advances { first_qo + i as i64 } else { 0 };
            rec[POS_QUEUE_OFFSET..POS_QUEUE_OFFSET + 8].copy_from_slice(&qo.to_be_bytes());
            rec[POS_PHYSICAL_OFFSET..POS_PHYSICAL_OFFSET + 8]
                .copy_from_slice(&(phys as i64).to_be_bytes());
            rec[ts_pos..ts_pos + 8].copy_from_slice(&store_ts.to_be_bytes());
            pos += sz;
        }
        self.log.append(&mut tail, &buf).map_err(disk_err)?;
        if advances {
            qm_set(
                &mut qo_table,
                &topic,
                queue_id,
                first_qo + sizes.len() as i64,
            );
        }
        drop(qo_table);
        let end = tail.end();
        drop(tail);
        // Ids are derived from the offsets, so they are built after the lock is released.
        let mut msg_id = String::with_capacity(sizes.len() * 33);
        let mut phys = wrote_offset;
        for (i, &(sz, _)) in sizes.iter().enumerate() {
            if i > 0 {
                msg_id.push(',');
            }
            push_offset_msg_id(&mut msg_id, store_host, phys as i64);
            phys += sz as u64;
        }
        self.last_store_ts.store(store_ts, Ordering::Release);
        self.after_append();
        Ok(AppendResult {
            wrote_offset: wrote_offset as i64,
            wrote_bytes: buf.len(),
            end_offset: end as i64,
            msg_id,
            logics_offset: first_qo,
            msg_num: sizes.len(),
            store_timestamp: store_ts,
            topic,
            queue_id,
        })
    }

    /// ASYNC_FLUSH acknowledges a record only once its bytes are in the file (the page cache),
    /// so killing the process loses nothing acknowledged — as with Java's mmap'd commit log; only
    /// an OS crash can take back the unflushed tail. A mapped segment (the normal case) is
    /// already there when the append returns; this drains the tail buffer of the buffered
    /// fallback, and appenders that queued behind the lock find their bytes already written by
    /// whoever drained first, so concurrent puts share a write.
    fn write_through(&self, end: u64) -> Result<()> {
        if self.log.written() >= end {
            return Ok(());
        }
        let mut tail = self.log.lock();
        if self.log.written() >= end {
            return Ok(());
        }
        self.log.drain(&mut tail)
    }

    fn after_append(&self) {
        match self.config.flush_disk_type {
            // Under SYNC_FLUSH records become visible only once durable: the flusher wakes
            // the dispatcher (no phantom reads, reliability.md).
            FlushDiskType::SyncFlush => self.wake_flusher(),
            // ASYNC: the dispatcher polls every millisecond (as Java's reput service does);
            // waking it per append would cost a context switch per message.
            FlushDiskType::AsyncFlush => {}
        }
    }

    pub(crate) fn wake_flusher(&self) {
        let (m, cv) = &self.flush_signal;
        *m.lock() = true;
        cv.notify_one();
    }

    pub(crate) fn fatal(&self, msg: String) {
        {
            let mut f = self.fatal.lock();
            if f.is_some() {
                return;
            }
            *f = Some(msg.clone());
            self.fatal_flag.store(true, Ordering::Release);
        }
        tracing::error!(error = %msg, "fsync failed: the store stops acknowledging writes");
        // The hook (by default: exit) runs before waiters learn of the failure.
        (self.fatal_hook)(&msg);
        self.durable.fail();
    }

    /// Drains and fsyncs the commit log; publishes the durable offset.
    pub(crate) fn sync_log(&self) -> Result<u64> {
        if let Some(f) = self.fatal.lock().clone() {
            return Err(StoreError::Fatal(f));
        }
        let (before, started) = (self.log.flushed(), Instant::now());
        match self.log.sync_detailed() {
            Ok(flushed) => {
                self.stats
                    .record_flush(started.elapsed(), flushed.saturating_sub(before));
                if self.write_failing.swap(false, Ordering::AcqRel) {
                    tracing::info!("commit-log writes succeed again");
                }
                self.durable.advance(flushed);
                if self.config.flush_disk_type == FlushDiskType::SyncFlush {
                    self.wake_dispatcher();
                }
                Ok(flushed)
            }
            Err(SyncFail::Write(e)) => {
                if !self.write_failing.swap(true, Ordering::AcqRel) {
                    tracing::error!(error = %e, "commit-log write failed; refusing puts until it succeeds");
                }
                Err(e)
            }
            Err(SyncFail::Fsync(e)) => {
                self.fatal(e.to_string());
                Err(StoreError::Fatal(e.to_string()))
            }
        }
    }

    pub(crate) fn flush_loop(&self) {
        let sync = self.config.flush_disk_type == FlushDiskType::SyncFlush;
        let interval = Duration::from_millis(self.config.flush_interval_commit_log.max(1));
        let thorough = Duration::from_millis(self.config.flush_commit_log_thorough_interval);
        let least = self.config.flush_commit_log_least_pages * PAGE;
        let mut last_thorough = Instant::now();
        while !self.stopping.load(Ordering::Acquire) {
            {
                let (m, cv) = &self.flush_signal;
                let mut g = m.lock();
                if !*g {
                    // SYNC: group commit — everyone who appended while the previous fsync
                    // ran shares the next one. ASYNC: a fixed cadence.
                    let wait = if sync {
                        Duration::from_millis(10)
                    } else {
                        interval
                    };
                    cv.wait_for(&mut g, wait);
                }
                *g = false;
            }
            if self.fatal.lock().is_some() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let dirty = self.log.end().saturating_sub(self.log.flushed());
            if dirty == 0 {
                continue;
            }
            if !sync && dirty < least && last_thorough.elapsed() < thorough {
                continue;
            }
            if self.sync_log().is_err() {
                std::thread::sleep(Duration::from_millis(10));
            }
            last_thorough = Instant::now();
        }
    }
}
