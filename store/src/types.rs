//! Result types of the store's public API; statuses mirror Java's so the broker maps them to
//! response codes one to one.

use bytes::Bytes;

/// Outcome of a put (Java `PutMessageStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    /// Stored (and durable / replicated as configured).
    PutOk,
    /// Stored, but the sync flush did not complete within `syncFlushTimeout` (code 10).
    FlushDiskTimeout,
    /// Stored, replication wait timed out (code 12; set by the broker's HA layer).
    FlushSlaveTimeout,
    /// Stored, no usable slave (code 11; set by the broker's HA layer).
    SlaveNotAvailable,
    /// Not stored: the store is shut down, read-only or the disk is full (SERVICE_NOT_AVAILABLE).
    ServiceNotAvailable,
    /// Not stored: a commit-log file could not be created or written (ENOSPC, EIO); the
    /// broker answers SYSTEM_ERROR with the remark in [`PutResult::error`].
    DiskError,
    /// Not stored: topic too long, body over `maxMessageSize`, bad properties, bad batch
    /// (MESSAGE_ILLEGAL).
    MessageIllegal,
    /// Not stored: properties over 32767 bytes (MESSAGE_ILLEGAL).
    PropertiesSizeExceeded,
    /// Not stored: the append lock was busy too long (SYSTEM_BUSY). Not produced today.
    OsPageCacheBusy,
    /// Not durable: the store hit a fatal error (failed fsync) after buffering the record;
    /// never reported as success (SYSTEM_ERROR).
    UnknownError,
}

impl PutStatus {
    /// True when the message is in the commit log (OK or one of the timeout statuses).
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            PutStatus::PutOk
                | PutStatus::FlushDiskTimeout
                | PutStatus::FlushSlaveTimeout
                | PutStatus::SlaveNotAvailable
        )
    }
}

/// Where a put landed (Java `AppendMessageResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// Commit-log offset of the first record.
    pub wrote_offset: i64,
    /// Total bytes written (all records of a batch).
    pub wrote_bytes: usize,
    /// Commit-log end after this put (what a sync flush or a slave ack must reach).
    pub end_offset: i64,
    /// Offset message id(s), comma-joined for a batch (SendMessageResponseHeader.msgId).
    pub msg_id: String,
    /// Queue offset of the first record (0 for prepared/rollback transactional messages).
    pub logics_offset: i64,
    /// Number of records.
    pub msg_num: usize,
    /// STORETIMESTAMP written.
    pub store_timestamp: i64,
    /// The topic and queue the records went to (after a delay-level rewrite).
    pub topic: String,
    /// Queue id used.
    pub queue_id: i32,
}

/// Answer to a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// Status.
    pub status: PutStatus,
    /// Set when the records were appended.
    pub append: Option<AppendResult>,
    /// Human-readable detail for error statuses (the response remark).
    pub error: Option<String>,
}

impl PutResult {
    pub(crate) fn fail(status: PutStatus, error: impl Into<String>) -> Self {
        PutResult {
            status,
            append: None,
            error: Some(error.into()),
        }
    }
}

/// Outcome of a read (Java `GetMessageStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    /// At least one message returned.
    Found,
    /// Entries were scanned but the filter matched none (PULL_RETRY_IMMEDIATELY / NOT_FOUND).
    NoMatchedMessage,
    /// The commit-log data of the entries is gone (retention) (PULL_RETRY_IMMEDIATELY).
    MessageWasRemoving,
    /// No such queue (PULL_NOT_FOUND, next = 0).
    NoMatchedLogicQueue,
    /// The queue is empty (PULL_NOT_FOUND, next = 0).
    NoMessageInQueue,
    /// offset < min (PULL_OFFSET_MOVED, next = min).
    OffsetTooSmall,
    /// offset == max (PULL_NOT_FOUND: nothing new yet; long polling parks here).
    OffsetOverflowOne,
    /// offset > max (PULL_OFFSET_MOVED, next = max).
    OffsetOverflowBadly,
    /// The consume queue could not be read (PULL_RETRY_IMMEDIATELY).
    OffsetFoundNull,
}

/// Answer to [`crate::MessageStore::get_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetResult {
    /// Status.
    pub status: GetStatus,
    /// Where the consumer should pull next.
    pub next_begin_offset: i64,
    /// Queue min offset.
    pub min_offset: i64,
    /// Queue max offset (next offset to be written).
    pub max_offset: i64,
    /// The records, each exactly as stored (spec §4.1).
    pub messages: Vec<Bytes>,
    /// Queue offset of each record in `messages`.
    pub queue_offsets: Vec<i64>,
    /// All of `messages` back to back, as one buffer they are slices of: a pull response
    /// body without gathering the records into a new buffer. Set by this store whenever
    /// `messages` is not empty.
    pub joined: Option<Bytes>,
    /// Always false: this store keeps no RAM-ratio bookkeeping (see the crate docs).
    pub suggest_pulling_from_slave: bool,
}

impl GetResult {
    /// Sum of the record sizes.
    pub fn buffer_total_size(&self) -> usize {
        self.messages.iter().map(|m| m.len()).sum()
    }

    /// The records concatenated: a pull response body.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_total_size());
        for m in &self.messages {
            out.extend_from_slice(m);
        }
        out
    }

    pub(crate) fn empty(status: GetStatus, next: i64, min: i64, max: i64) -> Self {
        GetResult {
            status,
            next_begin_offset: next,
            min_offset: min,
            max_offset: max,
            messages: Vec::new(),
            queue_offsets: Vec::new(),
            joined: None,
            suggest_pulling_from_slave: false,
        }
    }
}

/// Tag-code filter for pulls: given an entry's tags code, keep it?
pub type TagFilter<'a> = &'a (dyn Fn(i64) -> bool + Sync);
