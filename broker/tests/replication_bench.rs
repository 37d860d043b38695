//! Replication benchmarks, one run on this machine (ignored by default; run in release):
//!
//! ```text
//! cargo test -p broker --release --test replication_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - sync sends (16 concurrent producers, 1 KiB bodies) msgs/s and p50/p99 latency for
//!   ASYNC_MASTER vs SYNC_MASTER, both with a slave connected (the seed: double-write costs ~10 %);
//! - replication lag (master max − slave max, bytes) sampled every 5 ms under that full load;
//! - catch-up speed of a fresh slave in MB/s vs a raw sequential write (+ fsync) of the same
//!   size in the same directory.
//!
//! Master and slave run in-process on loopback; figures are printed, nothing is asserted about
//! them (a shared machine).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use broker::config::{BrokerConfig, BrokerRole};
use broker::{Broker, BrokerHandle};
use bytes::Bytes;
use common::*;
use remoting::message::MessageRecord;
use remoting::{RemotingClient, ResponseCode};

const PRODUCERS: usize = 16;
const PER_PRODUCER: usize = 1500;

fn cfg(store: &std::path::Path, ns: &str, role: BrokerRole) -> BrokerConfig {
    let mut c = broker_config(store, Some(ns.to_string()));
    c.broker_role = role;
    c.broker_id = if role.is_master() { 0 } else { 1 };
    c.mapped_file_size_commit_log = 64 << 20;
    c
}

async fn wait_in_sync(master: &BrokerHandle) {
    let ha = master.context().ha.get().unwrap();
    for _ in 0..3000 {
        if ha.in_sync_count() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no slave in sync");
}

fn max_of(b: &BrokerHandle) -> i64 {
    b.context()
        .message_store
        .as_ref()
        .unwrap()
        .commit_log_max_offset()
}

struct Run {
    msgs_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    not_ok: usize,
    lag_max: i64,
    lag_mean: f64,
}

async fn load(role: BrokerRole) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let master = Broker::start(cfg(&dir.path().join("m"), &ns_addr, role))
        .await
        .unwrap();
    let slave = Arc::new(
        Broker::start(cfg(&dir.path().join("s"), &ns_addr, BrokerRole::Slave))
            .await
            .unwrap(),
    );
    let master = Arc::new(master);
    wait_in_sync(&master).await;
    let client = Arc::new(RemotingClient::new(Default::default()));
    let addr = master.broker_addr().to_string();
    // Warm-up (topic creation, connections).
    for q in 0..4 {
        send(&client, &addr, "BenchT", q, &[7u8; 1024], None, None).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (m, s, stop) = (master.clone(), slave.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut max, mut sum, mut n) = (0i64, 0f64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let lag = (max_of(&m) - max_of(&s)).max(0);
                max = max.max(lag);
                sum += lag as f64;
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (max, sum / n.max(1) as f64)
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..PRODUCERS {
        let (client, addr) = (client.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(PER_PRODUCER);
            let mut not_ok = 0;
            let body = vec![b'x'; 1024];
            for i in 0..PER_PRODUCER {
                let t0 = Instant::now();
                let r = client
                    .invoke(
                        &addr,
                        send_request("BenchT", ((t + i) % 4) as i32, &body, props(None, None)),
                        TIMEOUT,
                    )
                    .await
                    .unwrap();
                lat.push(t0.elapsed());
                if r.code != ResponseCode::SUCCESS.0 {
                    not_ok += 1;
                }
            }
            (lat, not_ok)
        }));
    }
    let mut lat = Vec::new();
    let mut not_ok = 0;
    for t in tasks {
        let (l, n) = t.await.unwrap();
        lat.extend(l);
        not_ok += n;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (lag_max, lag_mean) = sampler.await.unwrap();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    let run = Run {
        msgs_per_s: lat.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        not_ok,
        lag_max,
        lag_mean,
    };
    let slave = Arc::try_unwrap(slave).ok().unwrap();
    slave.shutdown().await;
    Arc::try_unwrap(master).ok().unwrap().shutdown().await;
    ns.shutdown().await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn bench_async_vs_sync_master() {
    let a = load(BrokerRole::AsyncMaster).await;
    let s = load(BrokerRole::SyncMaster).await;
    for (name, r) in [("ASYNC_MASTER", &a), ("SYNC_MASTER", &s)] {
        println!(
            "{name}: {:.0} msgs/s, p50 {:.2} ms, p99 {:.2} ms, not OK {}, replication lag max {} B mean {:.0} B",
            r.msgs_per_s, r.p50_ms, r.p99_ms, r.not_ok, r.lag_max, r.lag_mean
        );
    }
    println!(
        "SYNC/ASYNC throughput ratio {:.3} (cost {:.1} %), p99 ratio {:.2}",
        s.msgs_per_s / a.msgs_per_s,
        (1.0 - s.msgs_per_s / a.msgs_per_s) * 100.0,
        s.p99_ms / a.p99_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn bench_fresh_slave_catch_up() {
    const TOTAL: usize = 256 << 20;
    let dir = tempfile::tempdir().unwrap();
    // Raw sequential write baseline in the same directory.
    let raw = {
        use std::io::Write;
        let p = dir.path().join("raw.bin");
        let mut f = std::fs::File::create(&p).unwrap();
        let chunk = vec![0x5au8; 1 << 20];
        let t0 = Instant::now();
        for _ in 0..TOTAL >> 20 {
            f.write_all(&chunk).unwrap();
        }
        f.sync_all().unwrap();
        let mbps = TOTAL as f64 / 1e6 / t0.elapsed().as_secs_f64();
        std::fs::remove_file(&p).unwrap();
        mbps
    };
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let master = Broker::start(cfg(
        &dir.path().join("m"),
        &ns_addr,
        BrokerRole::AsyncMaster,
    ))
    .await
    .unwrap();
    let store = master.context().message_store.clone().unwrap();
    let body = Bytes::from(vec![b'y'; 4000]);
    while (store.commit_log_max_offset() as usize) < TOTAL {
        let r = store
            .put_message(MessageRecord {
                topic: "CatchUpT".into(),
                queue_id: 0,
                body: body.clone(),
                ..Default::default()
            })
            .await;
        assert!(r.status.is_stored(), "{:?}", r.status);
    }
    store.flush().unwrap();
    let bytes = store.commit_log_max_offset() - store.commit_log_min_offset();
    let t0 = Instant::now();
    let slave = Broker::start(cfg(&dir.path().join("s"), &ns_addr, BrokerRole::Slave))
        .await
        .unwrap();
    while max_of(&slave) < max_of(&master) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let catch_up = bytes as f64 / 1e6 / t0.elapsed().as_secs_f64();
    println!(
        "fresh slave caught up {:.0} MB in {:.2} s: {:.0} MB/s; raw sequential write + fsync here: {:.0} MB/s (ratio {:.2})",
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64(),
        catch_up,
        raw,
        catch_up / raw
    );
    slave.shutdown().await;
    master.shutdown().await;
    ns.shutdown().await;
}
