//! Automatic failover (docs/failover.md) with real processes in network namespaces: a name
//! server, a broker group with `epochFencingEnable=true` and the failover controller
//! (`operator failover`), each in its own namespace (see `common/cluster.rs`). Needs root and
//! iproute2; prints SKIPPED otherwise.
//!
//! Every round puts the current master under load (two producers that re-read the master from
//! the name server after a failed send), then either SIGKILLs it or cuts it off from the name
//! server, the other brokers and the controller (blackhole routes in its namespace: the test
//! process, the producers' side, still reaches it). It then checks:
//! - a slave is promoted and writes resume; the time from the fault to the first acknowledged
//!   send on the new master is printed (`FAILOVER_FIGURES`);
//! - a partitioned old master that keeps running refuses sends once fenced;
//! - the old master comes back (restarted, or the partition healed), is re-pointed, truncates
//!   its divergent tail and follows the new master;
//! - every acknowledged message is readable from the new master under SYNC_MASTER; under
//!   ASYNC_MASTER the lost ones fit in the tail the old master truncated (the reported gap);
//! - a consumer offset committed on the old master is on the new one.
//!
//! Rounds alternate SIGKILL and partition; `FAILOVER_ROUNDS` (default 2) sets how many.

#![allow(clippy::unwrap_used)]

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use broker::failover_proto::{FAILOVER_GET_STATE, FailoverState};
use cluster::{Cluster, can_run, ip};
use common::{TIMEOUT, props, pull_request, send_request};
use parking_lot::Mutex;
use remoting::body::cluster::ClusterInfo;
use remoting::body::kv::KVTable;
use remoting::header::offset::{
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use remoting::{
    CommandHeader, ExtFields, RemotingClient, RemotingCommand, RequestCode, ResponseCode,
};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NS: u8 = 1;
const CONTROLLER: u8 = 9;
const TOPIC: &str = "FoTopic";
const GROUP: &str = "fo";
const LEASE_MS: u64 = 3000;
const LOST_AFTER_MS: u64 = LEASE_MS + 1000;
const BODY_LEN: usize = 120;

fn addr(c: &Cluster, n: u8) -> String {
    format!("{}:10911", c.addr(n))
}

/// The operator binary next to the broker's, built if missing (`cargo test --workspace`
/// builds it with the rest).
fn operator_bin() -> PathBuf {
    let broker = cluster::broker_bin();
    let dir = broker.parent().unwrap().to_path_buf();
    let bin = dir.join("operator");
    if bin.exists() {
        return bin;
    }
    let target = dir.parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args([
            "build",
            "-p",
            "operator",
            "--bin",
            "operator",
            "--target-dir",
        ])
        .arg(target)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok && bin.exists(), "cannot build the operator binary");
    bin
}

fn rounds() -> usize {
    std::env::var("FAILOVER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

async fn state(client: &RemotingClient, a: &str) -> Option<FailoverState> {
    let req = RemotingCommand::request(RequestCode(FAILOVER_GET_STATE), ExtFields::default());
    let r = client.invoke(a, req, Duration::from_secs(2)).await.ok()?;
    serde_json::from_slice(&r.body).ok()
}

async fn runtime(client: &RemotingClient, a: &str) -> BTreeMap<String, String> {
    let req = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, ExtFields::default());
    match client.invoke(a, req, Duration::from_secs(2)).await {
        Ok(r) => KVTable::decode(&r.body)
            .map(|t| t.table)
            .unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    }
}

/// The group's master at the name server.
async fn listed_master(client: &RemotingClient, ns: &str) -> Option<String> {
    let req = RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO, ExtFields::default());
    let r = client.invoke(ns, req, Duration::from_secs(2)).await.ok()?;
    ClusterInfo::decode(&r.body)
        .ok()?
        .broker_addr_table
        .get(GROUP)
        .and_then(|b| b.broker_addrs.get(&0).cloned())
}

/// Waits until `master` is a writable master with `slaves` in-sync slaves.
async fn wait_healthy(client: &RemotingClient, master: &str, slaves: usize) {
    for _ in 0..600 {
        if let Some(s) = state(client, master).await
            && s.role != "SLAVE"
            && s.write_refused.is_none()
            && s.in_sync_slaves >= slaves
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{master} never became a writable master with {slaves} in-sync slaves: {:?}",
        state(client, master).await
    );
}

/// One send; the response code and remark.
async fn send_one(client: &RemotingClient, a: &str, queue: i32, body: &[u8]) -> (i32, String) {
    match client
        .invoke(
            a,
            send_request(TOPIC, queue, body, props(Some("T"), None)),
            Duration::from_secs(5),
        )
        .await
    {
        Ok(r) => (r.code, r.remark_str().to_string()),
        Err(e) => (-1, e.to_string()),
    }
}

/// Every body of `TOPIC` queues 0..4 readable from `a`.
async fn pull_all(client: &RemotingClient, a: &str) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    for q in 0..4 {
        let mut offset = 0;
        let mut tries = 0;
        loop {
            let r = client
                .invoke(a, pull_request("FoCG", TOPIC, q, offset, 0, "*"), TIMEOUT)
                .await
                .unwrap();
            if r.code == ResponseCode::SUCCESS.0 {
                for m in remoting::message::record::decode_all(&r.body).unwrap() {
                    out.insert(m.body.to_vec());
                }
                offset = r
                    .ext_fields
                    .get("nextBeginOffset")
                    .unwrap()
                    .parse()
                    .unwrap();
                continue;
            }
            if (r.code == ResponseCode::TOPIC_NOT_EXIST.0
                || r.code == ResponseCode::PULL_RETRY_IMMEDIATELY.0)
                && tries < 100
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            assert_eq!(
                r.code,
                ResponseCode::PULL_NOT_FOUND.0,
                "pull from {a} q{q}@{offset}: {:?}",
                r.remark
            );
            break;
        }
    }
    out
}

async fn commit_offset(client: &RemotingClient, a: &str, offset: i64) -> bool {
    let h = UpdateConsumerOffsetRequestHeader {
        consumer_group: "FoCG".into(),
        topic: TOPIC.into(),
        queue_id: 0,
        commit_offset: offset,
        bname: None,
    };
    let req = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, h.to_ext());
    client
        .invoke(a, req, Duration::from_secs(2))
        .await
        .is_ok_and(|r| r.code == ResponseCode::SUCCESS.0)
}

async fn query_offset(client: &RemotingClient, a: &str) -> i64 {
    let h = QueryConsumerOffsetRequestHeader {
        consumer_group: "FoCG".into(),
        topic: TOPIC.into(),
        queue_id: 0,
        set_zero_if_not_found: None,
        bname: None,
    };
    let req = RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET, h.to_ext());
    match client.invoke(a, req, Duration::from_secs(2)).await {
        Ok(r) if r.code == ResponseCode::SUCCESS.0 => {
            QueryConsumerOffsetResponseHeader::from_ext(&r.ext_fields)
                .map(|h| h.offset)
                .unwrap_or(-1)
        }
        _ => -1,
    }
}

/// Blackholes (or restores) node `n`'s routes to every other node but the test process.
fn partition(c: &mut Cluster, n: u8, others: &[u8], cut: bool) {
    let ns = c.node(n);
    for o in others {
        let dst = format!("{}/32", c.addr(*o));
        let verb = if cut { "add" } else { "del" };
        assert!(ip(&["-n", &ns, "route", verb, "blackhole", &dst]));
    }
}

struct Figures {
    mode: &'static str,
    rows: Vec<String>,
}

/// What one round saw.
struct Round {
    fault: &'static str,
    resume: Duration,
    acked: usize,
    lost: usize,
    truncated: i64,
}

async fn run(mode: &'static str, subnet: u8) {
    let test = format!("failover_{mode}");
    if !can_run(&test) {
        return;
    }
    let _serial = SERIAL.lock().await;
    let Some(mut c) = Cluster::create(subnet) else {
        eprintln!("SKIPPED {test}: cannot create network namespaces here");
        return;
    };
    let sync = mode == "sync";
    // Name server: silent brokers are looked for every second (the lease timing needs it).
    let conf = c.dir.path().join("ns.properties");
    c.node(NS);
    std::fs::write(
        &conf,
        format!(
            "listenPort=9876\nbindAddress={}\nscanNotActiveBrokerInterval=1000\nkvConfigPath={}\nconfigStorePath={}\n",
            c.addr(NS),
            c.dir.path().join("kv.json").display(),
            c.dir.path().join("ns-conf.properties").display()
        ),
    )
    .unwrap();
    c.spawn(
        "ns",
        NS,
        &cluster::namesrv_bin(),
        &["-c".into(), conf.display().to_string()],
        &[],
    );
    let ns_addr = format!("{}:9876", c.addr(NS));
    // SYNC groups get two slaves: after a failover the new master still has one to wait for.
    let nodes: Vec<u8> = if sync { vec![11, 12, 13] } else { vec![11, 12] };
    let master_role = if sync { "SYNC_MASTER" } else { "ASYNC_MASTER" };
    let conf_of = |i: usize| {
        format!(
            "brokerName={GROUP}\nbrokerId={i}\nbrokerRole={}\nepochFencingEnable=true\nfencingLeaseMillis={LEASE_MS}\nhaHousekeepingInterval=3000",
            if i == 0 { master_role } else { "SLAVE" }
        )
    };
    for (i, n) in nodes.iter().enumerate() {
        c.broker(&format!("b{n}"), *n, NS, &conf_of(i));
    }
    let members: Vec<String> = nodes.iter().map(|n| addr(&c, *n)).collect();
    let op = operator_bin();
    c.spawn(
        "controller",
        CONTROLLER,
        &op,
        &[
            "failover".into(),
            "--namesrv".into(),
            ns_addr.clone(),
            "--group".into(),
            format!(
                "{GROUP}={}:{}",
                if sync { "SYNC" } else { "ASYNC" },
                members.join(",")
            ),
            "--lost-after-ms".into(),
            LOST_AFTER_MS.to_string(),
            "--poll-ms".into(),
            "250".into(),
        ],
        &[],
    );
    let client = Arc::new(RemotingClient::new(Default::default()));
    let mut master_node = nodes[0];
    wait_healthy(&client, &addr(&c, master_node), nodes.len() - 1).await;
    let mut rows = Vec::new();
    let mut truncated_before: BTreeMap<u8, i64> = BTreeMap::new();
    for round in 0..rounds() {
        let fault = if round % 2 == 0 {
            "SIGKILL"
        } else {
            "partition"
        };
        let old = master_node;
        let old_addr = addr(&c, old);
        wait_healthy(&client, &old_addr, nodes.len() - 1).await;

        // Load: two producers; a failed send re-reads the master from the name server.
        let stop = Arc::new(AtomicBool::new(false));
        let faulted: Arc<Mutex<Option<Instant>>> = Arc::default();
        let resumed: Arc<Mutex<Option<Instant>>> = Arc::default();
        let mut producers = Vec::new();
        for p in 0..2usize {
            let (client, stop, faulted, resumed) = (
                client.clone(),
                stop.clone(),
                faulted.clone(),
                resumed.clone(),
            );
            let (ns_addr, old_addr) = (ns_addr.clone(), old_addr.clone());
            producers.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut target = old_addr.clone();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let tag = format!("r{round:02}-p{p}-{i:07}-");
                    let mut b = tag.into_bytes();
                    b.resize(BODY_LEN, b'x');
                    let (code, _) = send_one(&client, &target, (i % 4) as i32, &b).await;
                    if code == ResponseCode::SUCCESS.0 {
                        if target != old_addr
                            && faulted.lock().is_some()
                            && resumed.lock().is_none()
                        {
                            *resumed.lock() = Some(Instant::now());
                        }
                        acked.push(b);
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if let Some(m) = listed_master(&client, &ns_addr).await {
                            target = m;
                        }
                    }
                    i += 1;
                }
                acked
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // A committed consumer offset (within the queue, which holds hundreds by now) must
        // survive the failover: slave sync copies it every 500 ms here.
        let committed = 10 * (round as i64 + 1);
        assert!(commit_offset(&client, &old_addr, committed).await);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let others: Vec<u8> = nodes
            .iter()
            .copied()
            .filter(|n| *n != old)
            .chain([NS, CONTROLLER])
            .collect();
        *faulted.lock() = Some(Instant::now());
        if fault == "SIGKILL" {
            c.kill(&format!("b{old}"));
        } else {
            partition(&mut c, old, &others, true);
        }
        // A new master appears at the name server.
        let deadline = Instant::now() + Duration::from_secs(60);
        let new_addr = loop {
            assert!(Instant::now() < deadline, "no failover within 60 s");
            if let Some(m) = listed_master(&client, &ns_addr).await
                && m != old_addr
            {
                break m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Writes resume on it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while resumed.lock().is_none() {
            assert!(
                Instant::now() < deadline,
                "writes did not resume on {new_addr}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let resume = resumed.lock().unwrap() - faulted.lock().unwrap();
        if fault == "partition" {
            // The old master still runs, reachable by this (the producers') side: fenced.
            let mut b = b"fenced-probe".to_vec();
            b.resize(BODY_LEN, b'y');
            let (code, remark) = send_one(&client, &old_addr, 0, &b).await;
            assert_eq!(
                code,
                ResponseCode::SERVICE_NOT_AVAILABLE.0,
                "the partitioned old master accepted a send: {remark}"
            );
            assert!(remark.contains("fenced"), "{remark}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::Relaxed);
        let mut acked = BTreeSet::new();
        for p in producers {
            acked.extend(p.await.unwrap());
        }
        // The old master comes back and is made a slave of the new one.
        if fault == "SIGKILL" {
            // Restarted with its original (master) configuration: it must not take over.
            let i = nodes.iter().position(|n| *n == old).unwrap();
            c.broker(
                &format!("b{old}"),
                old,
                NS,
                &conf_of(if i == 0 { 0 } else { i }),
            );
            truncated_before.insert(old, 0);
        } else {
            partition(&mut c, old, &others, false);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "old master {old_addr} did not rejoin as a slave: {:?}",
                state(&client, &old_addr).await
            );
            if let Some(s) = state(&client, &old_addr).await
                && s.role == "SLAVE"
                && s.ha_connected
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let rt = runtime(&client, &old_addr).await;
        let truncated_total: i64 = rt
            .get("haTruncatedBytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let truncated = truncated_total - truncated_before.get(&old).copied().unwrap_or(0);
        truncated_before.insert(old, truncated_total);

        let readable = pull_all(&client, &new_addr).await;
        let lost_set: Vec<String> = acked
            .difference(&readable)
            .map(|b| String::from_utf8_lossy(&b[..18]).into_owned())
            .collect();
        let lost = lost_set.len();
        if lost > 0 {
            eprintln!(
                "round {round}: {lost} acknowledged messages not readable on {new_addr} (of {} acked, {} readable): first {:?} last {:?}",
                acked.len(),
                readable.len(),
                lost_set.first(),
                lost_set.last()
            );
        }
        if sync {
            assert_eq!(lost, 0, "SYNC_MASTER lost {lost} acknowledged messages");
        } else {
            assert!(
                (lost * BODY_LEN) as i64 <= truncated,
                "ASYNC_MASTER lost {lost} acknowledged messages, more than the {truncated} bytes the old master truncated"
            );
        }
        assert_eq!(
            query_offset(&client, &new_addr).await,
            committed,
            "the consumer offset did not carry over"
        );
        eprintln!(
            "FAILOVER_FIGURES mode={mode} round={round} fault={fault} resume_ms={} acked={} lost={lost} truncated_bytes={truncated}",
            resume.as_millis(),
            acked.len()
        );
        rows.push(Round {
            fault,
            resume,
            acked: acked.len(),
            lost,
            truncated,
        });
        master_node = nodes
            .iter()
            .copied()
            .find(|n| addr(&c, *n) == new_addr)
            .unwrap();
    }
    let fig = Figures {
        mode,
        rows: rows
            .iter()
            .map(|r| format!("{}:{}ms", r.fault, r.resume.as_millis()))
            .collect(),
    };
    for fault in ["SIGKILL", "partition"] {
        let mut t: Vec<u128> = rows
            .iter()
            .filter(|r| r.fault == fault)
            .map(|r| r.resume.as_millis())
            .collect();
        if t.is_empty() {
            continue;
        }
        t.sort();
        let acked: usize = rows
            .iter()
            .filter(|r| r.fault == fault)
            .map(|r| r.acked)
            .sum();
        let lost: usize = rows
            .iter()
            .filter(|r| r.fault == fault)
            .map(|r| r.lost)
            .sum();
        let truncated: i64 = rows
            .iter()
            .filter(|r| r.fault == fault)
            .map(|r| r.truncated)
            .sum();
        eprintln!(
            "FAILOVER_SUMMARY mode={} fault={fault} rounds={} resume_ms_median={} resume_ms_max={} acked={acked} lost={lost} truncated_bytes={truncated}",
            fig.mode,
            t.len(),
            t[t.len() / 2],
            t[t.len() - 1]
        );
    }
    eprintln!("FAILOVER_ROUNDS {}: {}", fig.mode, fig.rows.join(" "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_master_failover_loses_no_acknowledged_message() {
    run("sync", 81).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_master_failover_loses_at_most_the_truncated_gap() {
    run("async", 82).await;
}
