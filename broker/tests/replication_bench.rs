//! Replication benchmarks, one run on this machine (ignored by default; run in release):
//!
//! ```text
//! cargo test -p broker --release --test replication_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - sync sends (16 concurrent producers, 1 KiB bodies) msgs/s and p50/p99 latency for
//!   ASYNC_MASTER vs SYNC_MASTER, both with a slave connected (the seed: double-write costs ~10 %).
//!   One name server + master + slave per mode, both started up front; the modes then run in
//!   alternating rounds (A S A S …, `BENCH_PAIRS` pairs, 10 by default, `BENCH_PER_PRODUCER`
//!   sends per producer and round, 2000 by default: about a second a round) after one
//!   unrecorded warm-up round each, so drift on the shared machine (other builds, page-cache
//!   writeback, store growth) hits both modes alike; the per-round figures, the median of each
//!   mode, the ratio of the medians and the median (and spread) of the per-pair ratios are
//!   printed, with the process CPU time per message (user + system, both clusters and the
//!   producers: what the mode costs in work rather than in waiting); `BENCH_ONLY=async|sync`
//!   runs one mode only, to profile it; `BENCH_PRODUCERS=1` measures the unloaded latency;
//! - replication lag (master max − slave max, bytes) sampled every 5 ms under that full load;
//! - catch-up speed of a fresh slave in MB/s vs a raw sequential write (+ fsync) of the same
//!   size in the same directory.
//!
//! Master and slave run in-process on loopback; figures are printed, nothing is asserted about
//! them (a shared machine). Producers, master and slave share one runtime here, so the
//! SYNC_MASTER cost this prints is larger than between processes (17–23 % here against 6 % in
//! BENCHMARKS.md, sessions 16–17). For that figure run the processes:
//! `SLAVE=1 BASE_DIR=<dir whose target/release is this checkout's> OLD_ROLE=ASYNC_MASTER
//! ROLE=SYNC_MASTER cli/bench/compare.sh`.

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
/// Sends per producer and round (`BENCH_PER_PRODUCER` overrides).
const PER_PRODUCER: usize = 2000;

fn cfg(store: &std::path::Path, ns: &str, role: BrokerRole) -> BrokerConfig {
    let mut c = pair_config(store, Some(ns.to_string()), role);
    c.mapped_file_size_commit_log = 64 << 20;
    c
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
    /// Process CPU time (user + system) per message, µs.
    cpu_us_per_msg: f64,
    p50_ms: f64,
    p99_ms: f64,
    not_ok: usize,
    lag_max: i64,
    lag_mean: f64,
}

/// A name server, a master in `role` and its slave, kept for all rounds of that mode.
struct Cluster {
    _dir: tempfile::TempDir,
    ns: namesrv::NameServerHandle,
    master: Arc<BrokerHandle>,
    slave: Arc<BrokerHandle>,
    client: Arc<RemotingClient>,
    addr: String,
}

async fn cluster(role: BrokerRole) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let master = Arc::new(
        Broker::start(cfg(&dir.path().join("m"), &ns_addr, role))
            .await
            .unwrap(),
    );
    let slave = Arc::new(
        Broker::start(cfg(&dir.path().join("s"), &ns_addr, BrokerRole::Slave))
            .await
            .unwrap(),
    );
    wait_in_sync(&master, Duration::from_secs(60)).await;
    let client = Arc::new(RemotingClient::new(Default::default()));
    let addr = master.broker_addr().to_string();
    // Warm-up (topic creation, connections).
    for q in 0..4 {
        send(&client, &addr, "BenchT", q, &[7u8; 1024], None, None).await;
    }
    Cluster {
        _dir: dir,
        ns,
        master,
        slave,
        client,
        addr,
    }
}

impl Cluster {
    async fn shutdown(self) {
        Arc::try_unwrap(self.slave).ok().unwrap().shutdown().await;
        Arc::try_unwrap(self.master).ok().unwrap().shutdown().await;
        self.ns.shutdown().await;
    }
}

/// Concurrent producers (`BENCH_PRODUCERS` overrides; 1 shows the unloaded round trip).
fn producers() -> usize {
    std::env::var("BENCH_PRODUCERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PRODUCERS)
        .max(1)
}

/// One round: [`producers`] tasks each sending `per_producer` sync sends back to back.
async fn load(c: &Cluster, per_producer: usize) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (m, s, stop) = (c.master.clone(), c.slave.clone(), stop.clone());
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
    let cpu0 = process_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..producers() {
        let (client, addr) = (c.client.clone(), c.addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_producer);
            let mut not_ok = 0;
            let body = vec![b'x'; 1024];
            for i in 0..per_producer {
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
    let cpu = process_cpu() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let (lag_max, lag_mean) = sampler.await.unwrap();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    Run {
        msgs_per_s: lat.len() as f64 / elapsed.as_secs_f64(),
        cpu_us_per_msg: cpu.as_secs_f64() * 1e6 / lat.len() as f64,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        not_ok,
        lag_max,
        lag_mean,
    }
}

/// User + system CPU time of this process so far (`/proc/self/stat`, clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn print_round(round: usize, name: &str, r: &Run) {
    println!(
        "round {round:2} {name:12} {:6.0} msgs/s  p50 {:5.2} ms  p99 {:5.2} ms  CPU {:5.1} µs/msg  not OK {}  lag max {} B mean {:.0} B",
        r.msgs_per_s, r.p50_ms, r.p99_ms, r.cpu_us_per_msg, r.not_ok, r.lag_max, r.lag_mean
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn bench_async_vs_sync_master() {
    let pairs: usize = std::env::var("BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .max(1);
    let per_producer: usize = std::env::var("BENCH_PER_PRODUCER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PER_PRODUCER)
        .max(1);
    // Both clusters live for the whole run, so the idle one's background work weighs on every
    // round alike; each mode's stores grow the same way round after round.
    let async_c = cluster(BrokerRole::AsyncMaster).await;
    let sync_c = cluster(BrokerRole::SyncMaster).await;
    // One unrecorded round each: connections, topic routes, first commit-log pages.
    load(&async_c, per_producer / 4).await;
    load(&sync_c, per_producer / 4).await;
    // `BENCH_ONLY=async` or `sync` loads one mode only (for profiling it with perf); the
    // other cluster still runs, idle, as in a full run.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let (mut a, mut s) = (Vec::new(), Vec::new());
    for pair in 0..pairs {
        if only != "sync" {
            let r = load(&async_c, per_producer).await;
            print_round(2 * pair + 1, "ASYNC_MASTER", &r);
            a.push(r);
        }
        if only != "async" {
            let r = load(&sync_c, per_producer).await;
            print_round(2 * pair + 2, "SYNC_MASTER", &r);
            s.push(r);
        }
    }
    if a.is_empty() || s.is_empty() {
        return;
    }
    async_c.shutdown().await;
    sync_c.shutdown().await;
    let med = |runs: &[Run], f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    let (a_tps, s_tps) = (med(&a, |r| r.msgs_per_s), med(&s, |r| r.msgs_per_s));
    let (a_p50, s_p50) = (med(&a, |r| r.p50_ms), med(&s, |r| r.p50_ms));
    let (a_p99, s_p99) = (med(&a, |r| r.p99_ms), med(&s, |r| r.p99_ms));
    let (a_cpu, s_cpu) = (med(&a, |r| r.cpu_us_per_msg), med(&s, |r| r.cpu_us_per_msg));
    println!("median of {pairs} rounds each:");
    println!(
        "  ASYNC_MASTER {a_tps:6.0} msgs/s  p50 {a_p50:5.2} ms  p99 {a_p99:5.2} ms  CPU {a_cpu:5.1} µs/msg"
    );
    println!(
        "  SYNC_MASTER  {s_tps:6.0} msgs/s  p50 {s_p50:5.2} ms  p99 {s_p99:5.2} ms  CPU {s_cpu:5.1} µs/msg"
    );
    println!(
        "SYNC/ASYNC ratio of medians: throughput {:.3} (cost {:.1} %), p50 {:.2}, p99 {:.2}, CPU/msg {:.2}",
        s_tps / a_tps,
        (1.0 - s_tps / a_tps) * 100.0,
        s_p50 / a_p50,
        s_p99 / a_p99,
        s_cpu / a_cpu
    );
    // Each SYNC round against the ASYNC round just before it: the spread shows the noise.
    let mut pair: Vec<f64> = a
        .iter()
        .zip(&s)
        .map(|(a, s)| s.msgs_per_s / a.msgs_per_s)
        .collect();
    pair.sort_by(f64::total_cmp);
    println!(
        "per-pair SYNC/ASYNC throughput ratios: median {:.3} (cost {:.1} %), min {:.3}, max {:.3}",
        median(pair.clone()),
        (1.0 - median(pair.clone())) * 100.0,
        pair[0],
        pair[pair.len() - 1]
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
