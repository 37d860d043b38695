//! Crash-test child: appends to a store from several concurrent writers and prints one line per
//! acknowledged record, `ACK <commit-log offset> <writer> <seq> <body len>`, until killed.
//! Run by `tests/crash.rs` (which SIGKILLs it); not meant for anything else.
//!
//! Usage: `store-crash-child DIR sync|async WRITERS ROUND`.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use remoting::message::MessageRecord;
use store::{FlushDiskType, MessageStore, PutStatus, StoreConfig};

/// The body a writer sends for `(round, writer, seq)`; the test regenerates it to compare.
fn body(round: u64, writer: u64, seq: u64) -> Vec<u8> {
    let mut b = format!("{round}:{writer}:{seq}:").into_bytes();
    let mut x = round
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(writer << 32)
        .wrapping_add(seq)
        | 1;
    let len = 16 + (x % 700) as usize;
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.push(b'a' + (x % 26) as u8);
    }
    b
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        bail!("usage: store-crash-child DIR sync|async|async-pool WRITERS ROUND");
    }
    let flush = match args[2].as_str() {
        "sync" => FlushDiskType::SyncFlush,
        "async" | "async-pool" => FlushDiskType::AsyncFlush,
        other => bail!("unknown mode {other}"),
    };
    let writers: u64 = args[3].parse().context("WRITERS")?;
    let round: u64 = args[4].parse().context("ROUND")?;
    // The benchmark reuses this child on a large store with its own file size.
    let seg: u64 = std::env::var("STORE_CHILD_FILE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 * 1024);
    let cfg = StoreConfig {
        mapped_file_size_commit_log: seg,
        mapped_file_size_consume_queue: 20 * 500,
        max_message_size: 64 * 1024,
        flush_disk_type: flush,
        flush_interval_commit_log: if seg > 256 * 1024 { 500 } else { 5 },
        flush_commit_log_least_pages: if seg > 256 * 1024 { 4 } else { 0 },
        flush_interval_consume_queue: if seg > 256 * 1024 { 1000 } else { 20 },
        // Small stores: the index flushes with every checkpoint in even rounds and only when
        // a file fills in odd ones, so kills land both where it is as durable as the queues
        // and where it lags them by the whole run.
        flush_interval_index: if seg > 256 * 1024 || round % 2 == 1 {
            10_000
        } else {
            20
        },
        max_hash_slot_num: if seg > 256 * 1024 { 5_000_000 } else { 1009 },
        max_index_num: if seg > 256 * 1024 { 20_000_000 } else { 4000 },
        transient_store_pool_enable: args[2] == "async-pool",
        ..StoreConfig::with_root(&args[1])
    };
    let store = Arc::new(MessageStore::open(cfg)?);
    println!("READY {}", store.commit_log_max_offset());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for seq in 0u64.. {
                    let msg = MessageRecord {
                        topic: "Crash".into(),
                        queue_id: (w % 4) as i32,
                        body: Bytes::from(body(round, w, seq)),
                        born_host: "127.0.0.1:1"
                            .parse()
                            .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 1))),
                        store_host: std::net::SocketAddr::from(([127, 0, 0, 1], 10911)),
                        properties: [("KEYS", format!("r{round}w{w}s{seq}"))]
                            .into_iter()
                            .collect(),
                        ..Default::default()
                    };
                    let len = msg.body.len();
                    let r = store.put_message(msg).await;
                    if r.status != PutStatus::PutOk {
                        eprintln!("put failed: {r:?}");
                        continue;
                    }
                    if let Some(a) = r.append {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "ACK {} {w} {seq} {len}", a.wrote_offset);
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok(())
}
