//! `operator local --metrics-port M` on real processes: the supervisor serves its metrics on M,
//! the name server and the broker theirs on M+1 and M+2; a send through a real producer raises
//! the broker's put counter, the name server lists the broker, and a broker killed with SIGKILL
//! is restarted, which the supervisor's restart counter shows while the new broker serves its
//! endpoint again. Every exposition passes the reference parser (SKIPPED without it).
//!
//! Needs the `namesrv` and `broker` binaries next to the operator binary (built when missing).

#![allow(clippy::unwrap_used)] // test code

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use client::{Message, Producer, ProducerConfig, SendStatus};
use telemetry::scrape::{self, Lint};

fn bin_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_operator"));
    let dir = exe.parent().unwrap().to_path_buf();
    if !dir.join("namesrv").exists() || !dir.join("broker").exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "namesrv", "-p", "broker", "--bins"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().unwrap().success(),
            "building the servers failed"
        );
    }
    dir
}

/// A base below the ephemeral range (as `local_cluster.rs`); `operator local` checks every
/// port it needs and refuses when one is taken.
fn free_base() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    20000 + l.local_addr().unwrap().port() % 12000
}

struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.0.id().to_string())
                .status();
            for _ in 0..150 {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn linted(addr: &str) -> String {
    let text = scrape::metrics(addr).await.unwrap();
    match scrape::lint(&text) {
        Lint::Ok(_) => {}
        Lint::Skipped(why) => eprintln!("SKIPPED lint: {why}"),
        Lint::Refused(e) => panic!("the reference parser refused {addr}: {e}\n{text}"),
    }
    text
}

async fn until(addr: &str, what: &str, f: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..300 {
        if let Ok(t) = scrape::metrics(addr).await {
            if f(&t) {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never held at {addr}; last scrape:\n{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_serves_metrics_and_counts_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let base = free_base();
    let m = base + 50;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster-single-master.yaml");
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_operator"))
            .args(["local", "-f"])
            .arg(&file)
            .arg("--dir")
            .arg(tmp.path())
            .arg("--bin-dir")
            .arg(bin_dir())
            .args(["--namesrv-port", &base.to_string()])
            .args(["--broker-port", &(base + 10).to_string()])
            .args(["--metrics-port", &m.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("local> {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let namesrv_addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(120)).expect("not up");
        lines.push(line.clone());
        if let Some(a) = line.strip_prefix("ready: namesrvAddr=") {
            break a.to_string();
        }
    };
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("127.0.0.1:{m}/metrics"))),
        "{lines:?}"
    );
    let broker_line = lines
        .iter()
        .find(|l| l.starts_with("up ") && l.contains("Master"))
        .unwrap()
        .clone();
    let broker_name = broker_line.split_whitespace().nth(1).unwrap().to_string();
    let broker_pid: u32 = broker_line
        .rsplit("(pid ")
        .next()
        .and_then(|p| p.trim_end_matches(')').parse().ok())
        .unwrap();
    let (sup, ns, br) = (
        format!("127.0.0.1:{m}"),
        format!("127.0.0.1:{}", m + 1),
        format!("127.0.0.1:{}", m + 2),
    );

    // Every endpoint answers; the name server lists the broker.
    let text = linted(&sup).await;
    assert!(text.contains("# TYPE rocketmq_operator_local_process_restarts counter"));
    assert!(!text.contains("rocketmq_operator_local_process_restarts_total{"));
    until(&ns, "broker registered", |t| {
        scrape::value(t, "rocketmq_namesrv_brokers") == Some(1.0)
    })
    .await;
    linted(&ns).await;
    let text = linted(&br).await;
    assert!(text.contains("role=\"ASYNC_MASTER\""), "{text}");

    // A real producer's sends raise the put counter.
    let topic = "LocalMetricsTopic";
    let producer = Producer::new(ProducerConfig::new("local-metrics-pg", namesrv_addr)).unwrap();
    producer.start().await.unwrap();
    for i in 0..5 {
        let r = producer
            .send(Message::new(topic, format!("m{i}")))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
    }
    producer.shutdown().await;
    let series = format!("rocketmq_broker_messages_in_total{{topic=\"{topic}\"}}");
    let text = linted(&br).await;
    assert_eq!(scrape::value(&text, &series), Some(5.0), "{text}");

    // SIGKILL the broker: the supervisor restarts it and counts it; the new one serves.
    Command::new("kill")
        .args(["-KILL", &broker_pid.to_string()])
        .status()
        .unwrap();
    let restarts =
        format!("rocketmq_operator_local_process_restarts_total{{process=\"{broker_name}\"}}");
    until(&sup, "restart counted", |t| {
        scrape::value(t, &restarts) == Some(1.0)
    })
    .await;
    let text = until(&br, "restarted broker serving", |t| {
        scrape::value(t, "process_start_time_seconds").is_some()
    })
    .await;
    // A new process: its counters start again (Prometheus sees a counter reset).
    assert_eq!(scrape::value(&text, &series), None, "{text}");
    linted(&sup).await;
}
