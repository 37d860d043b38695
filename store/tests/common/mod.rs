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

/// A message body of 150–239 bytes that names its index.
pub fn body_of(i: usize) -> Vec<u8> {
    format!("body-{i:06}-")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(150 + i % 90)
        .collect()
}

/// The names of the files in `dir` (none if it is missing).
pub fn files(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `store-ctl <args[0]> <root> <args[1..]>`: (success, stdout and stderr).
pub fn ctl(args: &[&str], root: &Path) -> (bool, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_store-ctl"));
    c.arg(args[0]).arg(root).args(&args[1..]);
    let out = c.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every file below `root` (but the lock) with its bytes, sorted: equal digests mean no file
/// was changed.
pub fn tree_digest(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name() != "lock" {
                out.push((
                    p.strip_prefix(root).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}
