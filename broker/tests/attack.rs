//! The attacks of issue 14 against the **release binaries** of the name server and the broker,
//! on 127.0.0.1 only, with each server's RSS (VmRSS of its process) before, at the peak of and
//! after every attack, and a live client's experience meanwhile. Figures go to BENCHMARKS.md
//! ("Hostile and overloaded clients").
//!
//! ```text
//! cargo build --release -p broker -p namesrv
//! ulimit -n 20000   # the idle-connection attack opens 10,050 sockets
//! cargo test --release -p broker --test attack -- --ignored --nocapture
//! ```
//!
//! `BIN=<dir>` picks another directory of binaries (default `target/release`). Without the
//! binaries the test prints SKIPPED and returns.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use futures::future::BoxFuture;
use remoting::body::kv::KVTable;
use remoting::{
    ClientConfig, Connection, ConnectionConfig, ExtFields, RemotingClient, RemotingCommand,
    RequestCode, RequestHandler, ResponseCode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

fn bin_dir() -> PathBuf {
    match std::env::var_os("BIN") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Samples a process's RSS every 20 ms in the background; `peak` is the highest seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    pid: u32,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler { stop, peak, pid }
    }
    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed).max(rss_kib(self.pid))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_port(addr: &str) {
    for _ in 0..500 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} never listened");
}

/// Prints one table row: attack, server, baseline → peak → after, note.
fn row(attack: &str, server: &str, base: u64, peak: u64, after: u64, note: &str) {
    println!(
        "| {attack} | {server} | {} → {} → {} | {note} |",
        mib(base),
        mib(peak),
        mib(after)
    );
}

async fn runtime_info(
    client: &RemotingClient,
    addr: &str,
) -> std::collections::BTreeMap<String, String> {
    let r = invoke(
        client,
        addr,
        RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, ExtFields::new()),
    )
    .await;
    KVTable::decode(&r.body)
        .unwrap()
        .table
        .into_iter()
        .collect()
}

fn frame(mut cmd: RemotingCommand, opaque: i32) -> Vec<u8> {
    cmd.opaque = opaque;
    remoting::frame::encode_to_bytes(&cmd).unwrap().to_vec()
}

/// A live client's round trip now: (code, milliseconds).
async fn probe(addr: &str) -> (String, u128) {
    let c = RemotingClient::new(ClientConfig {
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let t = Instant::now();
    let h = remoting::header::offset::GetMaxOffsetRequestHeader {
        topic: "AttackT".into(),
        queue_id: 0,
        committed: None,
        bname: None,
    };
    let r = c
        .invoke(
            addr,
            request(RequestCode::GET_MAX_OFFSET, &h),
            Duration::from_secs(5),
        )
        .await;
    c.shutdown();
    let code = match r {
        Ok(r) => format!("{:?}", r.response_code()),
        Err(e) => format!("error: {e}"),
    };
    (code, t.elapsed().as_millis())
}

struct CountNotify(Arc<AtomicUsize>);
impl RequestHandler for CountNotify {
    fn handle<'a>(
        &'a self,
        _conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        if request.request_code() == RequestCode::NOTIFY_CONSUMER_IDS_CHANGED {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async { None })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "attack harness against the release binaries; see the module docs"]
async fn attacks_against_release_binaries() {
    let bins = bin_dir();
    let (nsbin, bbin) = (bins.join("namesrv"), bins.join("broker"));
    if !nsbin.exists() || !bbin.exists() {
        println!(
            "SKIPPED (no release binaries in {}: cargo build --release -p broker -p namesrv)",
            bins.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns_port = free_port();
    let ns_conf = dir.path().join("namesrv.conf");
    std::fs::write(
        &ns_conf,
        format!(
            "bindAddress=127.0.0.1\nlistenPort={ns_port}\nkvConfigPath={}\n",
            dir.path().join("kv.json").display()
        ),
    )
    .unwrap();
    let ns = Proc(
        Command::new(&nsbin)
            .arg("-c")
            .arg(&ns_conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ns_addr = format!("127.0.0.1:{ns_port}");
    wait_port(&ns_addr).await;
    let b_port = free_port();
    // Its own free port too: the default (listenPort + 1) may be held by the TIME_WAIT
    // sockets a previous run's 10,000 connections left behind, which a listener cannot reuse.
    let ha_port = free_port();
    let b_conf = dir.path().join("broker.conf");
    std::fs::write(
        &b_conf,
        format!(
            "brokerName=attack\nbindAddress=127.0.0.1\nbrokerIP1=127.0.0.1\nlistenPort={b_port}\n\
             haListenPort={ha_port}\nstorePathRootDir={}\nmappedFileSizeCommitLog=67108864\n\
             namesrvAddr={ns_addr}\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let broker = Proc(
        Command::new(&bbin)
            .arg("-c")
            .arg(&b_conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{b_port}");
    wait_port(&addr).await;
    let (ns_pid, b_pid) = (ns.0.id(), broker.0.id());
    let client = RemotingClient::new(ClientConfig::default());
    let r = send(&client, &addr, "AttackT", 0, b"seed", None, None).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let next = wait_max_offset(&client, &addr, "AttackT", 0, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("| attack | server | RSS MiB: baseline → peak → after | live client / notes |");
    println!("|---|---|---|---|");

    // 1. 2,000 connections park a pull each, then vanish.
    {
        let base = rss_kib(b_pid);
        let s = Sampler::start(b_pid);
        let mut socks = Vec::new();
        for i in 0..2000 {
            let mut t = TcpStream::connect(&addr).await.unwrap();
            let pull = pull_request("AttackG", "AttackT", 0, next, 15_000, "*");
            t.write_all(&frame(pull, i + 1)).await.unwrap();
            socks.push(t);
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let parked = runtime_info(&client, &addr).await["pullThreadPoolQueueSize"].clone();
        for t in &socks {
            // Resets, as vanished clients' kernels would send.
            let _ = socket_reset(t);
        }
        drop(socks);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let left = runtime_info(&client, &addr).await["pullThreadPoolQueueSize"].clone();
        let (code, ms) = probe(&addr).await;
        row(
            "2,000 connections with parked pulls reset",
            "broker",
            base,
            s.peak(),
            rss_kib(b_pid),
            &format!(
                "parked {parked} → {left} 3 s after the resets; live GET_MAX_OFFSET {code} in {ms} ms"
            ),
        );
    }

    // 2. A peer pipelines pulls of a 2 MiB message and never reads.
    {
        let big = vec![b'x'; 2 * 1024 * 1024];
        let r = send(&client, &addr, "AttackBig", 0, &big, None, None).await;
        assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
        wait_max_offset(&client, &addr, "AttackBig", 0, 1).await;
        let base = rss_kib(b_pid);
        let s = Sampler::start(b_pid);
        let mut greedy = TcpStream::connect(&addr).await.unwrap();
        let mut bytes = Vec::new();
        for i in 0..1000 {
            bytes.extend(frame(
                pull_request("BigG", "AttackBig", 0, 0, 0, "*"),
                i + 1,
            ));
        }
        greedy.write_all(&bytes).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (code, ms) = probe(&addr).await;
        drop(greedy);
        tokio::time::sleep(Duration::from_secs(2)).await;
        row(
            "1,000 pipelined pulls of a 2 MiB message, never read",
            "broker",
            base,
            s.peak(),
            rss_kib(b_pid),
            &format!("live GET_MAX_OFFSET {code} in {ms} ms"),
        );
    }

    // 3. Incomplete 16 MiB frames on 32 connections, against each server.
    for (name, pid, target) in [
        ("broker", b_pid, addr.clone()),
        ("name server", ns_pid, ns_addr.clone()),
    ] {
        let base = rss_kib(pid);
        let s = Sampler::start(pid);
        let mut prefix = Vec::with_capacity(15 << 20);
        prefix.extend_from_slice(&((16u32 << 20) - 8).to_be_bytes());
        prefix.extend_from_slice(&2u32.to_be_bytes());
        prefix.extend_from_slice(b"{}");
        prefix.resize(15 << 20, b' ');
        let mut socks = Vec::new();
        let (mut closed, mut stalled) = (0, 0);
        for _ in 0..32 {
            let mut t = TcpStream::connect(&target).await.unwrap();
            match tokio::time::timeout(Duration::from_secs(5), t.write_all(&prefix)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => closed += 1,
                Err(_) => stalled += 1,
            }
            socks.push(t);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (code, ms) = probe(&target).await;
        let peak = s.peak();
        drop(socks);
        tokio::time::sleep(Duration::from_secs(2)).await;
        row(
            "32 connections each send 15 MiB of a 16 MiB frame",
            name,
            base,
            peak,
            rss_kib(pid),
            &format!(
                "{closed} connections closed by the server, {stalled} writes stalled 5 s; live request {code} in {ms} ms"
            ),
        );
    }

    // 4. One 15 MiB frame with 1.4 M header fields.
    for (name, pid, target) in [
        ("broker", b_pid, addr.clone()),
        ("name server", ns_pid, ns_addr.clone()),
    ] {
        let base = rss_kib(pid);
        let s = Sampler::start(pid);
        let mut header = String::with_capacity(15 << 20);
        header.push_str("{\"code\":30,\"extFields\":{");
        let mut i = 0u32;
        while header.len() < (15 << 20) - 32 {
            if i > 0 {
                header.push(',');
            }
            header.push_str(&format!("\"{i:x}\":\"\""));
            i += 1;
        }
        header.push_str("}}");
        let mut f = Vec::with_capacity(header.len() + 8);
        f.extend_from_slice(&((header.len() + 4) as u32).to_be_bytes());
        f.extend_from_slice(&(header.len() as u32).to_be_bytes());
        f.extend_from_slice(header.as_bytes());
        let mut t = TcpStream::connect(&target).await.unwrap();
        let _ = t.write_all(&f).await;
        let mut buf = [0u8; 64];
        let answered = matches!(
            tokio::time::timeout(Duration::from_secs(10), t.read(&mut buf)).await,
            Ok(Ok(n)) if n > 0
        );
        let peak = s.peak();
        drop(t);
        tokio::time::sleep(Duration::from_secs(2)).await;
        row(
            &format!(
                "one 15 MiB frame with {:.1} M header fields",
                f64::from(i) / 1e6
            ),
            name,
            base,
            peak,
            rss_kib(pid),
            if answered {
                "answered"
            } else {
                "connection closed, no answer"
            },
        );
    }

    // 5. 500 consumers join one group.
    {
        let base = rss_kib(b_pid);
        let s = Sampler::start(b_pid);
        let shutdown = CancellationToken::new();
        let mut members = Vec::new();
        for _ in 0..500 {
            let count = Arc::new(AtomicUsize::new(0));
            let stream = TcpStream::connect(&addr).await.unwrap();
            let conn = Connection::spawn(
                stream,
                Arc::new(CountNotify(count.clone())),
                &ConnectionConfig::default(),
                &shutdown,
            )
            .unwrap();
            members.push((conn, count));
        }
        let joins = members.iter().enumerate().map(|(i, (conn, _))| {
            let req = heartbeat_request(&format!("attack-{i}"), None, "JoinG", "AttackT", 0);
            async move { conn.request(req, TIMEOUT).await.map(|r| r.response_code()) }
        });
        let t = Instant::now();
        let answers = futures::future::join_all(joins).await;
        let join_ms = t.elapsed().as_millis();
        let ok = answers
            .iter()
            .filter(|r| matches!(r, Ok(ResponseCode::SUCCESS)))
            .count();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let counts: Vec<usize> = members
            .iter()
            .map(|(_, c)| c.load(Ordering::SeqCst))
            .collect();
        let total: usize = counts.iter().sum();
        let max = counts.iter().max().copied().unwrap_or(0);
        shutdown.cancel();
        drop(members);
        tokio::time::sleep(Duration::from_secs(1)).await;
        row(
            "500 consumers join one group",
            "broker",
            base,
            s.peak(),
            rss_kib(b_pid),
            &format!(
                "{ok} joins answered in {join_ms} ms; {total} NOTIFY_CONSUMER_IDS_CHANGED, at most {max} per client"
            ),
        );
    }

    // 6. 10,050 idle sockets, then a new client (needs ulimit -n above 10,100).
    let nofile = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(3)
                        .and_then(|v| v.parse::<u64>().ok())
                })
        })
        .unwrap_or(0);
    for (name, pid, target) in [
        ("broker", b_pid, addr.clone()),
        ("name server", ns_pid, ns_addr.clone()),
    ] {
        if nofile < 10_200 {
            println!("| 10,050 idle connections | {name} | SKIPPED (ulimit -n {nofile}) | |");
            continue;
        }
        let base = rss_kib(pid);
        let s = Sampler::start(pid);
        let mut socks = Vec::new();
        for _ in 0..10_050 {
            match TcpStream::connect(&target).await {
                Ok(t) => socks.push(t),
                Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (code, ms) = probe(&target).await;
        let peak = s.peak();
        let n = socks.len();
        drop(socks);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (code_after, ms_after) = probe(&target).await;
        row(
            &format!("{n} idle connections, then a new client"),
            name,
            base,
            peak,
            rss_kib(pid),
            &format!(
                "new client: {code} in {ms} ms; after the idle ones left: {code_after} in {ms_after} ms"
            ),
        );
    }
    client.shutdown();
    drop(broker);
    drop(ns);
}

/// Sets SO_LINGER 0 so that dropping the socket sends a reset.
fn socket_reset(t: &TcpStream) -> std::io::Result<()> {
    #[allow(deprecated)]
    t.set_linger(Some(Duration::ZERO))
}
