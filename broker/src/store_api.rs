//! The storage operations the broker needs, as a trait (Java's `MessageStore` interface, cut to
//! what the request processors call).
//!
//! The processors are written against this trait rather than the `store` crate's types so the
//! request logic (spec §3) stays separate from the storage engine (spec §4–6); the one
//! implementation for the real store lives in [`crate::store_adapter`].

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use remoting::message::MessageRecord;

/// The outcome of an append (Java `PutMessageStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutStatus {
    /// Stored (and flushed / replicated as the configuration requires).
    Ok,
    /// Stored, but the SYNC_FLUSH wait timed out.
    FlushDiskTimeout,
    /// Stored, but the SYNC_MASTER wait for the slave timed out.
    FlushSlaveTimeout,
    /// Stored, but no slave is in sync.
    SlaveNotAvailable,
    /// Not stored: store closed, read-only, disk full or slave role.
    ServiceNotAvailable(String),
    /// Not stored: the message is malformed or too large.
    MessageIllegal(String),
    /// Not stored: the append lock has been held too long.
    OsPageCacheBusy,
    /// Not stored: any other failure.
    Error(String),
}

/// The result of an append of one message or one batch.
#[derive(Debug, Clone)]
pub struct PutOutcome {
    /// What happened.
    pub status: PutStatus,
    /// Queue offset of the (first) message, when stored.
    pub queue_offset: i64,
    /// Commit-log offset of the first stored record; `None` when nothing was stored.
    pub first_offset: Option<i64>,
    /// The offset message ids of the stored records as the store wrote them (comma-joined for
    /// a batch): the send answer's `msgId`, passed on as they are rather than rebuilt.
    pub msg_id: String,
    /// Commit-log end after the last stored record (what a SYNC_MASTER's slave must hold);
    /// 0 when nothing was stored.
    pub end_offset: i64,
}

impl PutOutcome {
    /// Bytes the append wrote to the commit log (Java's `wroteBytes`): from the first record's
    /// offset to the end; `None` when nothing was stored.
    pub fn wrote_bytes(&self) -> Option<u64> {
        let first = self.first_offset?;
        u64::try_from(self.end_offset - first)
            .ok()
            .filter(|n| *n > 0)
    }
}

/// The status of a read for a pull (Java `GetMessageStatus`, spec §5.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    /// Records returned.
    Found,
    /// Entries scanned, none matched the filter.
    NoMatchedMessage,
    /// The commit-log data of an entry is gone.
    MessageWasRemoving,
    /// An entry could not be read.
    OffsetFoundNull,
    /// Offset beyond max.
    OffsetOverflowBadly,
    /// Offset equals max: nothing new yet.
    OffsetOverflowOne,
    /// Offset below min.
    OffsetTooSmall,
    /// No such queue.
    NoMatchedLogicQueue,
    /// The queue exists but has never held a message.
    NoMessageInQueue,
}

impl GetStatus {
    /// The Java enum name, used as the pull response remark.
    pub fn name(self) -> &'static str {
        match self {
            GetStatus::Found => "FOUND",
            GetStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
            GetStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
            GetStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
            GetStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
            GetStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
            GetStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
            GetStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
            GetStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
        }
    }
}

/// The result of a read for a pull.
#[derive(Debug, Clone)]
pub struct GetOutcome {
    /// What happened.
    pub status: GetStatus,
    /// Offset the consumer should read next.
    pub next_begin_offset: i64,
    /// Smallest logical offset of the queue.
    pub min_offset: i64,
    /// Next logical offset to be written.
    pub max_offset: i64,
    /// Raw stored records, exactly as on disk.
    pub records: Vec<Bytes>,
    /// `records` as one buffer when the store has them back to back in one (ours always
    /// does): the response body without a copy. `None` whenever `records` is changed.
    pub joined: Option<Bytes>,
    /// True when the last entry examined was far behind (read from disk).
    pub suggest_pull_from_slave: bool,
}

/// A record found by a key query.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    /// Raw records.
    pub records: Vec<Bytes>,
    /// Store time of the newest index entry.
    pub index_last_update_timestamp: i64,
    /// Commit-log offset of the newest indexed record.
    pub index_last_update_phy_offset: i64,
}

/// Counters for GET_BROKER_RUNTIME_INFO.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// Smallest commit-log offset still on disk.
    pub commit_log_min_offset: i64,
    /// Next commit-log offset to be written.
    pub commit_log_max_offset: i64,
    /// Bytes appended but not yet in the consume queues.
    pub dispatch_behind_bytes: i64,
    /// Store time of the oldest message, ms.
    pub earliest_message_time: i64,
    /// How long the append lock has been held now, ms (0 when free).
    pub page_cache_lock_time_millis: i64,
    /// Total bytes of the commit-log file system.
    pub disk_total_bytes: u64,
    /// Free bytes of the commit-log file system.
    pub disk_free_bytes: u64,
    /// Appends that stored nothing since start (Java `putMessageFailedTimes`).
    pub put_message_failed_times: u64,
}

/// A filter on consume-queue tag codes: `None` passes everything.
pub type TagFilter<'a> = Option<&'a (dyn Fn(i64) -> bool + Send + Sync)>;

/// Called with (topic, queue id, new max offset) when messages become readable.
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64) + Send + Sync>;

/// What the broker asks of its store.
pub trait MessageStoreApi: Send + Sync + 'static {
    /// Appends one message (topic, queue, body, properties, flags, born info set; offsets and
    /// store time are the store's). Resolves once the flush policy allows an acknowledgement.
    fn put(&self, msg: MessageRecord) -> BoxFuture<'_, PutOutcome>;

    /// Appends a delayed message the schedule service delivers to its real topic: kept as it
    /// is, `DELAY` included (as Java's delivered messages are), never delayed again. A store
    /// without that distinction gets the message without `DELAY`.
    fn put_delayed_delivery(&self, mut msg: MessageRecord) -> BoxFuture<'_, PutOutcome> {
        msg.properties.remove(remoting::message::keys::DELAY);
        self.put(msg)
    }

    /// Appends one message and returns at once, whatever the flush type: the send path's
    /// put. Under SYNC_FLUSH ([`supports_flush_wait`](Self::supports_flush_wait)) the caller
    /// then waits with [`wait_flushed`](Self::wait_flushed), after its turn at the store, so
    /// that every send appended meanwhile shares the next fsync. Being synchronous, a send
    /// that waits for nothing needs no future at all (see `send::answer_now`).
    fn append(&self, msg: MessageRecord) -> PutOutcome;

    /// [`append`](Self::append) for a batch of one topic and queue.
    fn append_batch(&self, msgs: Vec<MessageRecord>) -> PutOutcome;

    /// True when an acknowledged send must wait for [`wait_flushed`](Self::wait_flushed)
    /// after its [`append`](Self::append) (SYNC_FLUSH): after its turn, so that a slow disk
    /// delays answers, not the turns of other sends (group commit).
    fn supports_flush_wait(&self) -> bool {
        false
    }

    /// Resolves when the commit log is durable up to `end_offset` (SYNC_FLUSH), or with
    /// [`PutStatus::FlushDiskTimeout`] after `syncFlushTimeout`.
    fn wait_flushed(&self, _end_offset: i64) -> BoxFuture<'_, PutStatus> {
        Box::pin(async { PutStatus::Ok })
    }

    /// Reads up to `max_msgs` records of a queue from `offset` (spec §5.12).
    fn get(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msgs: i32,
        filter: TagFilter<'_>,
    ) -> GetOutcome;

    /// Next logical offset to be written (0 if the queue is missing).
    fn max_offset(&self, topic: &str, queue_id: i32) -> i64;

    /// Smallest logical offset still readable (0 if the queue is missing).
    fn min_offset(&self, topic: &str, queue_id: i32) -> i64;

    /// The logical offset of the first message stored at or after `timestamp` (ms).
    fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64;

    /// Store time of the oldest readable message of a queue, -1 when none.
    fn earliest_store_time(&self, topic: &str, queue_id: i32) -> i64;

    /// Store time of the message at a logical offset, -1 when none.
    fn store_time_at(&self, topic: &str, queue_id: i32, offset: i64) -> i64;

    /// The raw record at a commit-log offset.
    fn read_record(&self, physical_offset: i64) -> Option<Bytes>;

    /// Records whose KEYS (or UNIQ_KEY) contain `key`, stored within [begin, end] ms.
    fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> QueryOutcome;

    /// True when the message at `offset` of a queue is still in memory (Java's
    /// `checkInDiskByConsumeOffset` negated); used by QUERY_CONSUMER_OFFSET.
    fn in_memory(&self, topic: &str, queue_id: i32, offset: i64) -> bool;

    /// Drops the consume queues of a topic.
    fn delete_topic(&self, topic: &str);

    /// Counters for runtime info.
    fn stats(&self) -> StoreStats;

    /// Registers a callback the store calls after it makes new consume-queue entries visible:
    /// (topic, queue id, new max offset). Long polling wakes held pulls with it. It may run on
    /// a store thread, so it must not block.
    fn on_arrival(&self, listener: ArrivalListener);

    /// Flushes and closes.
    fn shutdown(&self);
}
