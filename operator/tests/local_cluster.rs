//! Local mode end to end, on real processes: `operator local -f deploy/cluster-2m-2s-async.yaml`
//! starts two name servers, two masters and two slaves; a producer and a pull consumer go through
//! them; a master killed with SIGKILL is restarted and serves everything again; SIGTERM stops
//! everything cleanly (every process exits 0).
//!
//! Needs the `namesrv` and `broker` binaries next to the operator binary (target/<profile>/); the
//! test builds them with cargo when they are missing.

#![allow(clippy::unwrap_used)] // test code: a failed setup step should stop the test

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use client::{
    Admin, ClientConfig, Message, Producer, ProducerConfig, PullConsumer, PullStatus, SendStatus,
};
use remoting::body::topic::TopicConfig;

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
        let status = cmd.status().unwrap();
        assert!(status.success(), "building namesrv and broker failed");
    }
    dir
}

fn free_base() -> u16 {
    // The kernel's pick, moved into a range where the next ~60 ports are very likely free too.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    20000 + l.local_addr().unwrap().port() % 30000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_masters_two_slaves_produce_consume_and_stop_cleanly() {
    let bins = bin_dir();
    let tmp = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster-2m-2s-async.yaml");
    let base = free_base();
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_operator"))
            .args(["local", "-f"])
            .arg(&file)
            .arg("--dir")
            .arg(tmp.path())
            .arg("--bin-dir")
            .arg(&bins)
            .args([
                "--namesrv-port",
                &base.to_string(),
                "--broker-port",
                &(base + 10).to_string(),
            ])
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
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("local mode did not come up");
        lines.push(line.clone());
        if let Some(addr) = line.strip_prefix("ready: namesrvAddr=") {
            break addr.to_string();
        }
    };
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("up ")).count(),
        6,
        "{lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("registered "))
            .count(),
        2,
        "{lines:?}"
    );

    // The example turns autoCreateTopicEnable off: create the topic on both masters.
    let admin = Admin::new(ClientConfig::new(namesrv_addr.clone())).unwrap();
    let masters = admin
        .create_topic(
            "DefaultCluster",
            &TopicConfig::with_queues("LocalModeTopic", 4, 4, 6),
        )
        .await
        .unwrap();
    assert_eq!(masters.len(), 2, "{masters:?}");
    // The masters re-register the new topic with the name servers right away; wait for the route.
    let mut tries = 0;
    loop {
        match admin.topic_route("LocalModeTopic").await {
            Ok(r) if r.queue_datas.len() == 2 => break,
            _ if tries < 100 => tries += 1,
            other => panic!("no route for LocalModeTopic: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin.shutdown().await;

    let producer =
        Producer::new(ProducerConfig::new("local-mode-pg", namesrv_addr.clone())).unwrap();
    producer.start().await.unwrap();
    let mut sent = BTreeSet::new();
    let mut brokers = BTreeSet::new();
    for i in 0..200 {
        let r = producer
            .send(Message::new("LocalModeTopic", format!("m{i}")))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        brokers.insert(r.message_queue.broker_name.clone());
        sent.insert(r.msg_id);
    }
    producer.shutdown().await;
    assert_eq!(brokers.len(), 2, "sends reach both groups: {brokers:?}");

    let got = read_everything(
        &namesrv_addr,
        "local-mode-cg",
        &sent,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(got, sent);

    // A master killed outright is started again by local mode (as a pod would be): it recovers
    // its store, re-registers, and serves everything it had acknowledged.
    let master = lines
        .iter()
        .find(|l| l.starts_with("up ") && l.contains("broker-0-0") && l.contains("Master"))
        .unwrap_or_else(|| panic!("no master in {lines:?}"));
    let name = master.split_whitespace().nth(1).unwrap().to_string();
    let pid = master
        .rsplit("(pid ")
        .next()
        .and_then(|p| p.trim_end_matches(')').parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no pid in {master:?}"));
    let status = Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let mut exit_seen = false;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(90))
            .expect("the killed master was not restarted");
        if line.starts_with(&format!("exit {name} ")) {
            assert!(line.contains("restarting in 1s"), "{line}");
            exit_seen = true;
        }
        if line.starts_with("up ") && line.contains(&name) {
            assert!(exit_seen && line.contains("restart 1)"), "{line}");
            assert!(
                !line.contains(&format!("(pid {pid},")),
                "a new process: {line}"
            );
            break;
        }
    }
    let again = read_everything(
        &namesrv_addr,
        "local-mode-cg-2",
        &sent,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        again, sent,
        "everything acknowledged is served after the restart"
    );

    // SIGTERM: every process stops with status 0 (slaves, masters, then name servers).
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.0.wait().unwrap();
    let mut rest = Vec::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
        rest.push(l);
    }
    assert!(exit.success(), "{exit:?} {rest:?}");
    let stopped: Vec<&String> = rest.iter().filter(|l| l.starts_with("stopped ")).collect();
    assert_eq!(stopped.len(), 6, "{rest:?}");
    assert!(
        stopped.iter().all(|l| l.ends_with("(exit status: 0)")),
        "{rest:?}"
    );
    assert!(
        stopped[0].contains("broker") && stopped[5].contains("namesrv"),
        "{rest:?}"
    );
}

/// Stops `operator local` (and so its children) if the test fails half-way.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.0.id().to_string())
                .status();
            for _ in 0..100 {
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

/// One pass over every queue from where the last pass stopped, collecting message ids.
/// Reads LocalModeTopic's eight queues from offset 0 with a new pull consumer of `group` until
/// it has seen `want` or `within` has passed, and returns the ids it saw. Bounded polling because
/// dispatch to the consume queues follows the commit log asynchronously and a restarted master
/// takes a moment to be routable again; each pass resumes every queue where it stopped.
async fn read_everything(
    namesrv_addr: &str,
    group: &str,
    want: &BTreeSet<String>,
    within: Duration,
) -> BTreeSet<String> {
    let consumer = PullConsumer::new(group, ClientConfig::new(namesrv_addr.to_string())).unwrap();
    consumer.start().await.unwrap();
    let queues = consumer
        .fetch_subscribe_queues("LocalModeTopic")
        .await
        .unwrap();
    assert_eq!(queues.len(), 8);
    let mut got = BTreeSet::new();
    let mut offsets = vec![0i64; queues.len()];
    let deadline = std::time::Instant::now() + within;
    while got != *want && std::time::Instant::now() < deadline {
        read_all_queues(&consumer, &queues, &mut offsets, &mut got).await;
        if got != *want {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    consumer.shutdown().await;
    got
}

async fn read_all_queues(
    consumer: &PullConsumer,
    queues: &[client::MessageQueue],
    offsets: &mut [i64],
    got: &mut BTreeSet<String>,
) {
    for (mq, offset) in queues.iter().zip(offsets.iter_mut()) {
        loop {
            let r = consumer.pull(mq, "*", *offset, 32).await.unwrap();
            match r.status {
                PullStatus::Found => {
                    for m in r.msgs {
                        got.insert(m.msg_id);
                    }
                    *offset = r.next_begin_offset;
                }
                _ => break,
            }
        }
    }
}
