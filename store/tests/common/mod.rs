//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use remoting::message::MessageRecord;
use store::fs::{FaultyFs, FileSystem};
use store::{FatalHook, FlushDiskType, MessageStore, StoreConfig};

pub fn config(root: &Path, flush: FlushDiskType) -> StoreConfig {
    StoreConfig {
        mapped_file_size_commit_log: 64 * 1024,
        mapped_file_size_consume_queue: 20 * 100,
        max_message_size: 16 * 1024,
        flush_disk_type: flush,
        flush_interval_commit_log: 10,
        flush_interval_consume_queue: 50,
        max_hash_slot_num: 101,
        max_index_num: 200,
        sync_flush_timeout: 2000,
        ..StoreConfig::with_root(root)
    }
}

pub fn msg(topic: &str, queue_id: i32, body: &[u8], key: &str) -> MessageRecord {
    MessageRecord {
        topic: topic.into(),
        queue_id,
        body: Bytes::copy_from_slice(body),
        born_timestamp: 1,
        born_host: "127.0.0.1:4000".parse().unwrap(),
        store_host: "127.0.0.1:10911".parse().unwrap(),
        properties: [
            ("TAGS", "TagA"),
            ("KEYS", key),
            ("UNIQ_KEY", &format!("U{key}")),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}

pub fn panic_on_fatal() -> FatalHook {
    Arc::new(|m: &str| panic!("unexpected fatal: {m}"))
}

pub fn open(cfg: StoreConfig) -> MessageStore {
    MessageStore::open_with(cfg, Arc::new(store::fs::StdFs), panic_on_fatal()).unwrap()
}

pub fn open_faulty(cfg: StoreConfig, fs: &FaultyFs, hook: FatalHook) -> MessageStore {
    let fs: Arc<dyn FileSystem> = Arc::new(fs.clone());
    MessageStore::open_with(cfg, fs, hook).unwrap()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Pulls everything from a queue until the max offset is reached.
pub fn pull_all(s: &MessageStore, topic: &str, qid: i32) -> Vec<MessageRecord> {
    let mut out = Vec::new();
    let mut off = s.min_offset_in_queue(topic, qid);
    loop {
        let r = s
            .get_message("g", topic, qid, off, 32, 1 << 20, None)
            .unwrap();
        if r.status != store::GetStatus::Found {
            break;
        }
        for m in &r.messages {
            out.push(remoting::message::decode(m).unwrap());
        }
        off = r.next_begin_offset;
    }
    out
}

/// Waits until dispatch made `n` messages visible in a queue.
pub fn wait_visible(s: &MessageStore, topic: &str, qid: i32, n: i64) {
    for _ in 0..500 {
        if s.max_offset_in_queue(topic, qid) >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("only {} of {n} visible", s.max_offset_in_queue(topic, qid));
}
