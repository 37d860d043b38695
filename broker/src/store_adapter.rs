//! [`MessageStoreApi`] over the `store` crate's [`MessageStore`], and the mapping of
//! [`BrokerConfig`] to [`StoreConfig`].

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use remoting::message::MessageRecord;
use remoting::message::record::POS_PHYSICAL_OFFSET;
use store::{MessageStore, StoreConfig};
use tracing::warn;

use crate::config::{BrokerConfig, FlushDiskType};
use crate::error::{BrokerError, Result};
use crate::store_api::*;

/// The store settings of a broker config.
pub fn store_config(c: &BrokerConfig) -> StoreConfig {
    StoreConfig {
        store_path_root_dir: PathBuf::from(&c.store_path_root_dir),
        store_path_commit_log: c.store_path_commit_log.as_ref().map(PathBuf::from),
        mapped_file_size_commit_log: c.mapped_file_size_commit_log,
        mapped_file_size_consume_queue: c.mapped_file_size_consume_queue,
        flush_disk_type: match c.flush_disk_type {
            FlushDiskType::AsyncFlush => store::FlushDiskType::AsyncFlush,
            FlushDiskType::SyncFlush => store::FlushDiskType::SyncFlush,
        },
        flush_interval_commit_log: c.flush_interval_commit_log,
        flush_commit_log_least_pages: u64::from(c.flush_commit_log_least_pages),
        flush_commit_log_thorough_interval: c.flush_commit_log_thorough_interval,
        flush_interval_consume_queue: c.flush_interval_consume_queue,
        flush_interval_index: c.flush_interval_index,
        transient_store_pool_enable: c.transient_store_pool_enable,
        sync_flush_timeout: c.sync_flush_timeout,
        delete_when: c.delete_when.clone(),
        file_reserved_time: u64::from(c.file_reserved_time),
        disk_max_used_space_ratio: c.disk_max_used_space_ratio,
        clean_file_forcibly_enable: c.clean_file_forcibly_enable,
        max_message_size: c.max_message_size as usize,
        message_index_enable: c.message_index_enable,
        max_hash_slot_num: c.max_hash_slot_num,
        max_index_num: c.max_index_num,
        check_crc_on_recover: c.check_crc_on_recover,
        message_delay_level: c.message_delay_level.clone(),
        max_transfer_bytes_on_message_in_memory: c.max_transfer_bytes_on_message_in_memory as usize,
        max_transfer_count_on_message_in_memory: c.max_transfer_count_on_message_in_memory as usize,
        ..StoreConfig::default()
    }
}

/// The real store behind the broker's trait.
pub struct StoreAdapter {
    store: Arc<MessageStore>,
    memory_bytes: u64,
    access_ratio: u64,
    /// Appends that stored nothing (Java `putMessageFailedTimes`).
    put_failed: std::sync::atomic::AtomicU64,
}

impl StoreAdapter {
    /// Opens (and recovers) the store of `config` on a blocking thread.
    pub async fn open(config: &BrokerConfig) -> Result<StoreAdapter> {
        let sc = store_config(config);
        let store = tokio::task::spawn_blocking(move || MessageStore::open(sc))
            .await
            .map_err(|e| BrokerError::Store(e.to_string()))?
            .map_err(|e| BrokerError::Store(e.to_string()))?;
        let adapter = StoreAdapter::from_store(Arc::new(store), config);
        tracing::info!(
            memory_bytes = adapter.memory_bytes,
            in_memory_bytes = adapter.in_memory_bytes(),
            "pulls count as in memory this far behind the commit log's end"
        );
        Ok(adapter)
    }

    /// How far behind the log's end a message counts as in memory (Java's
    /// `accessMessageInMemoryMaxRatio` rule).
    fn in_memory_bytes(&self) -> u64 {
        self.memory_bytes / 100 * self.access_ratio
    }

    /// Wraps a store opened elsewhere (e.g. over a test file system) with the broker's
    /// settings.
    pub fn from_store(store: Arc<MessageStore>, config: &BrokerConfig) -> StoreAdapter {
        StoreAdapter {
            store,
            memory_bytes: crate::memory::broker_memory(),
            access_ratio: u64::from(config.access_message_in_memory_max_ratio),
            put_failed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Counts an append that stored nothing.
    fn count(&self, o: PutOutcome) -> PutOutcome {
        if !matches!(
            o.status,
            PutStatus::Ok
                | PutStatus::FlushDiskTimeout
                | PutStatus::FlushSlaveTimeout
                | PutStatus::SlaveNotAvailable
        ) {
            self.put_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        o
    }

    /// The underlying store (for HA and tools).
    pub fn inner(&self) -> &Arc<MessageStore> {
        &self.store
    }
}

fn outcome(r: store::PutResult) -> PutOutcome {
    use store::PutStatus as S;
    let why = r.error.unwrap_or_default();
    let status = match r.status {
        S::PutOk => PutStatus::Ok,
        S::FlushDiskTimeout => PutStatus::FlushDiskTimeout,
        S::FlushSlaveTimeout => PutStatus::FlushSlaveTimeout,
        S::SlaveNotAvailable => PutStatus::SlaveNotAvailable,
        S::ServiceNotAvailable | S::DiskError => PutStatus::ServiceNotAvailable(why),
        S::MessageIllegal | S::PropertiesSizeExceeded => PutStatus::MessageIllegal(why),
        S::OsPageCacheBusy => PutStatus::OsPageCacheBusy,
        S::UnknownError => PutStatus::Error(why),
    };
    let (queue_offset, first_offset, end_offset, msg_id) = match r.append {
        Some(a) => (
            a.logics_offset,
            Some(a.wrote_offset),
            a.end_offset,
            a.msg_id,
        ),
        None => (0, None, 0, String::new()),
    };
    PutOutcome {
        status,
        queue_offset,
        first_offset,
        msg_id,
        end_offset,
    }
}

impl MessageStoreApi for StoreAdapter {
    fn put(&self, msg: MessageRecord) -> BoxFuture<'_, PutOutcome> {
        Box::pin(async move { self.count(outcome(self.store.put_message(msg).await)) })
    }

    fn put_delayed_delivery(&self, msg: MessageRecord) -> BoxFuture<'_, PutOutcome> {
        Box::pin(async move { self.count(outcome(self.store.put_delayed_delivery(msg).await)) })
    }

    fn append(&self, msg: MessageRecord) -> PutOutcome {
        self.count(outcome(self.store.append_message(msg)))
    }

    fn append_batch(&self, msgs: Vec<MessageRecord>) -> PutOutcome {
        self.count(outcome(self.store.append_messages(msgs)))
    }

    fn supports_flush_wait(&self) -> bool {
        self.store.config().flush_disk_type == store::FlushDiskType::SyncFlush
    }

    fn wait_flushed(&self, end_offset: i64) -> BoxFuture<'_, PutStatus> {
        Box::pin(async move {
            use store::PutStatus as S;
            match self.store.wait_flushed(end_offset.max(0) as u64).await {
                S::PutOk => PutStatus::Ok,
                S::FlushDiskTimeout => PutStatus::FlushDiskTimeout,
                other => PutStatus::Error(format!("flush failed: {other:?}")),
            }
        })
    }

    fn get(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msgs: i32,
        filter: TagFilter<'_>,
    ) -> GetOutcome {
        let f = filter.map(|f| f as &(dyn Fn(i64) -> bool + Sync));
        let max_bytes = self.store.config().max_transfer_bytes_on_message_in_memory;
        match self.store.get_message(
            "",
            topic,
            queue_id,
            offset,
            usize::try_from(max_msgs).unwrap_or(1).max(1),
            max_bytes,
            f,
        ) {
            Ok(r) => GetOutcome {
                status: match r.status {
                    store::GetStatus::Found => GetStatus::Found,
                    store::GetStatus::NoMatchedMessage => GetStatus::NoMatchedMessage,
                    store::GetStatus::MessageWasRemoving => GetStatus::MessageWasRemoving,
                    store::GetStatus::NoMatchedLogicQueue => GetStatus::NoMatchedLogicQueue,
                    store::GetStatus::NoMessageInQueue => GetStatus::NoMessageInQueue,
                    store::GetStatus::OffsetTooSmall => GetStatus::OffsetTooSmall,
                    store::GetStatus::OffsetOverflowOne => GetStatus::OffsetOverflowOne,
                    store::GetStatus::OffsetOverflowBadly => GetStatus::OffsetOverflowBadly,
                    store::GetStatus::OffsetFoundNull => GetStatus::OffsetFoundNull,
                },
                next_begin_offset: r.next_begin_offset,
                min_offset: r.min_offset,
                max_offset: r.max_offset,
                records: r.messages,
                joined: r.joined,
                suggest_pull_from_slave: r.suggest_pulling_from_slave,
            },
            Err(e) => {
                warn!(topic, queue_id, offset, error = %e, "store read failed");
                GetOutcome {
                    status: GetStatus::OffsetFoundNull,
                    next_begin_offset: offset,
                    min_offset: self.store.min_offset_in_queue(topic, queue_id),
                    max_offset: self.store.max_offset_in_queue(topic, queue_id),
                    records: Vec::new(),
                    joined: None,
                    suggest_pull_from_slave: false,
                }
            }
        }
    }

    fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.store.max_offset_in_queue(topic, queue_id)
    }

    fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.store.min_offset_in_queue(topic, queue_id)
    }

    fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64 {
        self.store
            .offset_in_queue_by_time(topic, queue_id, timestamp)
            .unwrap_or(0)
    }

    fn earliest_store_time(&self, topic: &str, queue_id: i32) -> i64 {
        self.store
            .earliest_message_time(topic, queue_id)
            .ok()
            .flatten()
            .unwrap_or(-1)
    }

    fn store_time_at(&self, topic: &str, queue_id: i32, offset: i64) -> i64 {
        self.store
            .message_store_timestamp(topic, queue_id, offset)
            .ok()
            .flatten()
            .unwrap_or(-1)
    }

    fn read_record(&self, physical_offset: i64) -> Option<bytes::Bytes> {
        self.store
            .look_message_by_offset(physical_offset)
            .ok()
            .flatten()
    }

    fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> QueryOutcome {
        let records = self
            .store
            .query_message(topic, key, max, begin, end)
            .unwrap_or_default();
        QueryOutcome {
            records,
            index_last_update_timestamp: crate::state::stats::now_millis(),
            index_last_update_phy_offset: self.store.dispatched_offset(),
        }
    }

    fn in_memory(&self, topic: &str, queue_id: i32, offset: i64) -> bool {
        if self.store.min_offset_in_queue(topic, queue_id) > offset {
            return false;
        }
        let r = self.get(topic, queue_id, offset, 1, None);
        // No entry at the offset (an empty or unknown queue) counts as "in memory", as Java's
        // `checkInDiskByConsumeOffset` returns false when the entry is missing.
        let Some(rec) = r.records.first() else {
            return true;
        };
        let Some(raw) = rec.get(POS_PHYSICAL_OFFSET..POS_PHYSICAL_OFFSET + 8) else {
            return false;
        };
        let mut b = [0u8; 8];
        b.copy_from_slice(raw);
        let phys = i64::from_be_bytes(b);
        let behind = self
            .store
            .commit_log_max_offset()
            .saturating_sub(phys)
            .max(0) as u64;
        behind <= self.in_memory_bytes()
    }

    fn delete_topic(&self, topic: &str) {
        if let Err(e) = self.store.delete_topic(topic) {
            warn!(topic, error = %e, "deleting the topic's queues failed");
        }
    }

    fn stats(&self) -> StoreStats {
        let root = self.store.config().commit_log_dir();
        let (total, free) = disk_space(&root);
        StoreStats {
            commit_log_min_offset: self.store.commit_log_min_offset(),
            commit_log_max_offset: self.store.commit_log_max_offset(),
            dispatch_behind_bytes: (self.store.commit_log_max_offset()
                - self.store.dispatched_offset())
            .max(0),
            earliest_message_time: self
                .store
                .look_message_by_offset(self.store.commit_log_min_offset())
                .ok()
                .flatten()
                .and_then(|r| {
                    remoting::message::decode_view(&r)
                        .ok()
                        .map(|v| v.store_timestamp)
                })
                .unwrap_or(0),
            page_cache_lock_time_millis: 0,
            disk_total_bytes: total,
            disk_free_bytes: free,
            put_message_failed_times: self.put_failed.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn on_arrival(&self, listener: ArrivalListener) {
        // Runs on the store's dispatch thread; the listener only wakes parked pulls.
        self.store
            .on_advance(move |topic, queue_id, max| listener(topic, queue_id, max));
    }

    fn shutdown(&self) {
        if let Err(e) = self.store.shutdown() {
            warn!(error = %e, "store shutdown failed");
        }
    }
}

/// (total, free) bytes of the file system holding `path` by the store's own definition (Java's:
/// free includes root-reserved blocks); zeros when unknown.
fn disk_space(path: &std::path::Path) -> (u64, u64) {
    store::fs::disk_space(path).unwrap_or((0, 0))
}
