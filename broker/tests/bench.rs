//! A rough in-process throughput probe (ignored by default; the project's bench tool is the real
//! benchmark): `cargo test --release -p broker --test bench -- --ignored --nocapture`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use broker::Broker;
use common::*;
use remoting::message::decode_all;
use remoting::{ClientConfig, RemotingClient, ResponseCode};

async fn run(flush: broker::FlushDiskType, senders: usize, secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.flush_disk_type = flush;
    cfg.mapped_file_size_commit_log = 256 << 20;
    let b = Broker::start(cfg).await.unwrap();
    let addr = b.local_addr().to_string();
    let body = vec![b'x'; 1024];
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for t in 0..senders {
        let (addr, body) = (addr.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let client = RemotingClient::new(ClientConfig::default());
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let s = Instant::now();
                let r = client
                    .invoke(
                        &addr,
                        send_request("Bench", (t % 4) as i32, &body, props(None, None)),
                        TIMEOUT,
                    )
                    .await
                    .unwrap();
                assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "send {flush:?} threads={senders} 1KiB: {:.0} msgs/s p50={:?} p99={:?} p999={:?} (n={})",
        all.len() as f64 / secs as f64,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        all.len()
    );
    // Pull everything back from queue 0.
    let client = RemotingClient::new(ClientConfig::default());
    let (mut off, mut n) = (0i64, 0usize);
    let start = Instant::now();
    loop {
        let r = client
            .invoke(&addr, pull_request("BG", "Bench", 0, off, 0, "*"), TIMEOUT)
            .await
            .unwrap();
        if r.response_code() != ResponseCode::SUCCESS {
            break;
        }
        let recs = decode_all(&r.body).unwrap();
        n += recs.len();
        off = recs.last().unwrap().queue_offset + 1;
    }
    println!(
        "pull queue 0: {n} msgs in {:?} = {:.0} msgs/s",
        start.elapsed(),
        n as f64 / start.elapsed().as_secs_f64()
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn send_and_pull_throughput() {
    for (flush, threads) in [
        (broker::FlushDiskType::AsyncFlush, 1),
        (broker::FlushDiskType::AsyncFlush, 64),
        (broker::FlushDiskType::SyncFlush, 1),
        (broker::FlushDiskType::SyncFlush, 64),
    ] {
        run(flush, threads, 3).await;
    }
}
