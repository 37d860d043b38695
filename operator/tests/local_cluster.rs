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
    if ["namesrv", "broker", "console"]
        .iter()
        .any(|b| !dir.join(b).exists())
    {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build", "-p", "namesrv", "-p", "broker", "-p", "console", "--bins",
        ]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap();
        assert!(
            status.success(),
            "building namesrv, broker and console failed"
        );
    }
    dir
}

fn free_base() -> u16 {
    // Each call gets its own block of 200 ports (a cluster uses fewer than 60 from the base,
    // and one test starts a second instance at base + 100), so the tests
    // of this binary, which run side by side, never pick overlapping ports (the kernel's pick
    // modulo a range could). The blocks start at a point spread by the
    // process id and stay below Linux's ephemeral range (32768-60999), so no outgoing
    // connection is handed one; `operator local` checks every port before starting and
    // refuses (rather than starting a broken cluster) if one is taken all the same.
    static NEXT_BLOCK: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let block = NEXT_BLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = (std::process::id() % 60) as u16;
    20000 + (start + block) % 60 * 200
}

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

fn operator_local(file: &Path, dir: &Path, base: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.args(["local", "-f"])
        .arg(file)
        .arg("--dir")
        .arg(dir)
        .arg("--bin-dir")
        .arg(bin_dir())
        .args([
            "--namesrv-port",
            &base.to_string(),
            "--broker-port",
            &(base + 10).to_string(),
            // Between the name servers (base, base+1) and the first broker (base+8..base+11).
            "--console-port",
            &(base + 5).to_string(),
        ]);
    cmd
}

/// Starts `operator local` with its stdout read line by line into a channel.
fn spawn_local(file: &Path, dir: &Path, base: u16) -> (Guard, std::sync::mpsc::Receiver<String>) {
    let mut child = Guard(
        operator_local(file, dir, base)
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
    (child, rx)
}

/// Reads lines until `ready:`; returns them and the namesrvAddr.
fn until_ready(rx: &std::sync::mpsc::Receiver<String>) -> (Vec<String>, String) {
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("local mode did not come up");
        lines.push(line.clone());
        if let Some(addr) = line.strip_prefix("ready: namesrvAddr=") {
            return (lines, addr.to_string());
        }
    }
}

/// The pid in an `up   <name> <Role> 127.0.0.1:<port> (pid N)` line.
fn pid_of(line: &str) -> u32 {
    line.rsplit("(pid ")
        .next()
        .and_then(|p| p.trim_end_matches(')').split(',').next())
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

fn alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                != Some("Z")
        })
        .unwrap_or(false)
}

/// Waits until none of `pids` runs; false if some still run after `within`.
fn all_gone(pids: &[u32], within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while pids.iter().any(|p| alive(*p)) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Path → content of every file under `dir` outside the brokers' stores.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().map_while(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                if !p.ends_with("store") {
                    todo.push(p);
                }
            } else if !p.to_string_lossy().contains("out.log") {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn a_second_instance_is_refused_and_status_and_stop_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let base = free_base();
    let file = example("cluster-single-master.yaml");
    let (mut first, rx) = spawn_local(&file, &dir, base);
    let (lines, _) = until_ready(&rx);
    let pids: Vec<u32> = lines
        .iter()
        .filter(|l| l.starts_with("up "))
        .map(|l| pid_of(l))
        .collect();
    assert_eq!(pids.len(), 2, "{lines:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("operator.pid"))
            .unwrap()
            .trim(),
        first.0.id().to_string()
    );
    let before = snapshot(&dir);
    let log_sizes = |d: &Path| -> Vec<u64> {
        std::fs::read_dir(d)
            .unwrap()
            .map_while(Result::ok)
            .filter_map(|e| std::fs::metadata(e.path().join("out.log")).ok())
            .map(|m| m.len())
            .collect()
    };
    let logs_before = log_sizes(&dir);

    // Same directory: refused in one line, nothing rewritten.
    let second = operator_local(&file, &dir, base + 100).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr).to_string();
    assert!(!second.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("in use by another operator local") && err.contains(&first.0.id().to_string()),
        "{err}"
    );
    assert!(second.stdout.is_empty(), "{:?}", second.stdout);
    assert_eq!(snapshot(&dir), before);

    // Another directory, the same ports: refused in one line before anything but the lock
    // file is written.
    let other = tmp.path().join("b");
    let third = operator_local(&file, &other, base).output().unwrap();
    let err = String::from_utf8_lossy(&third.stderr).to_string();
    assert!(!third.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("already in use") && err.contains(&base.to_string()),
        "{err}"
    );
    let written: Vec<_> = std::fs::read_dir(&other)
        .unwrap()
        .map_while(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(written, vec![std::ffi::OsString::from("operator.pid")]);
    assert!(
        pids.iter().all(|p| alive(*p)),
        "the first cluster still runs"
    );
    // The first cluster's logs were not appended to by the refused instances (its own
    // processes may log meanwhile, so: no refusal text in them).
    assert_eq!(log_sizes(&dir).len(), logs_before.len());
    for e in std::fs::read_dir(&dir).unwrap().map_while(Result::ok) {
        if let Ok(text) = std::fs::read_to_string(e.path().join("out.log")) {
            assert!(!text.contains("Address already in use"), "{text}");
            assert!(!text.contains("is locked"), "{text}");
        }
    }

    // status: running, both processes up; exit 0.
    let status = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["local", "status", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{out}");
    assert!(
        out.starts_with(&format!("running: operator local (pid {})", first.0.id())),
        "{out}"
    );
    // The name server, the broker and the web console.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("up ")).count(),
        3,
        "{out}"
    );
    assert!(out.contains(" Console 127.0.0.1:"), "{out}");
    for p in &pids {
        assert!(out.contains(&format!("(pid {p})")), "{out}");
    }

    // stop: the ordered stop; the supervisor exits 0 and its children are gone.
    let stop = local_stop(&dir);
    assert!(stop.status.success(), "{stop:?}");
    let exit = first.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert_eq!(
        rest.iter().filter(|l| l.starts_with("stopped ")).count(),
        3,
        "{rest:?}"
    );
    assert!(all_gone(&pids, Duration::from_secs(5)));
    let status = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["local", "status", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(3), "{status:?}");
    // And the directory can be used again (the lock went with the supervisor).
    let stop = local_stop(&dir);
    assert!(
        stop.status.success(),
        "stop when nothing runs is not an error: {stop:?}"
    );
}

#[test]
fn killing_the_supervisor_takes_its_children_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let base = free_base();
    let (mut sup, rx) = spawn_local(&example("cluster-single-master.yaml"), tmp.path(), base);
    let (lines, _) = until_ready(&rx);
    let pids: Vec<u32> = lines
        .iter()
        .filter(|l| l.starts_with("up "))
        .map(|l| pid_of(l))
        .collect();
    assert_eq!(pids.len(), 2, "{lines:?}");
    assert!(pids.iter().all(|p| alive(*p)));
    sup.0.kill().unwrap(); // SIGKILL: no handler runs
    sup.0.wait().unwrap();
    assert!(
        all_gone(&pids, Duration::from_secs(30)),
        "children outlived a SIGKILLed supervisor: {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

#[test]
fn sigterm_during_start_up_stops_what_was_started() {
    let tmp = tempfile::tempdir().unwrap();
    let base = free_base();
    let (mut sup, rx) = spawn_local(&example("cluster-2m-2s-async.yaml"), tmp.path(), base);
    let first = rx
        .iter()
        .find(|l| l.starts_with("up "))
        .expect("nothing started");
    let pid = pid_of(&first);
    Command::new("kill")
        .arg("-TERM")
        .arg(sup.0.id().to_string())
        .status()
        .unwrap();
    let exit = sup.0.wait().unwrap();
    assert!(
        !exit.success(),
        "an interrupted start-up is a failure: {exit:?}"
    );
    let rest: Vec<String> = rx.iter().collect();
    assert!(!rest.iter().any(|l| l.starts_with("ready:")), "{rest:?}");
    let started: Vec<u32> = rest
        .iter()
        .filter(|l| l.starts_with("up "))
        .map(|l| pid_of(l))
        .chain([pid])
        .collect();
    assert!(all_gone(&started, Duration::from_secs(20)), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_masters_two_slaves_produce_consume_and_stop_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let base = free_base();
    let (mut child, rx) = spawn_local(&example("cluster-2m-2s-async.yaml"), tmp.path(), base);
    let (lines, namesrv_addr) = until_ready(&rx);
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

    // The web console came up last, on its port, and shows all four brokers with their roles.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("console: http://127.0.0.1:")),
        "{lines:?}"
    );
    let cluster = console_get(base + 5, "/api/cluster");
    let brokers = cluster["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 4, "{cluster}");
    assert_eq!(
        brokers.iter().filter(|b| b["role"] == "SLAVE").count(),
        2,
        "{cluster}"
    );
    let token = std::fs::read_to_string(tmp.path().join("async-console/token")).unwrap();
    assert_eq!(token.trim().len(), 32);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(tmp.path().join("async-console/token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "token file is private: {mode:o}");

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
    let pid = pid_of(master);
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
    // The console first, then slaves, masters and name servers.
    assert_eq!(stopped.len(), 7, "{rest:?}");
    assert!(
        stopped.iter().all(|l| l.ends_with("(exit status: 0)")),
        "{rest:?}"
    );
    assert!(
        stopped[0].contains("console")
            && stopped[1].contains("broker")
            && stopped[6].contains("namesrv"),
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
            // While a master restarts its queues may briefly answer with errors (connection
            // refused, the slave not knowing the topic yet): the next pass asks again, and the
            // caller's deadline bounds it.
            let Ok(r) = consumer.pull(mq, "*", *offset, 32).await else {
                break;
            };
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

/// The `mqadmin` binary of the cli crate (built with cargo when missing).
fn mqadmin() -> PathBuf {
    let bin = bin_dir().join("mqadmin");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "cli", "--bin", "mqadmin"]);
        if bin_dir().ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building mqadmin failed");
    }
    bin
}

/// Runs mqadmin with `args`; (success, stdout + stderr).
fn run_mqadmin(args: &[&str]) -> (bool, String) {
    let out = Command::new(mqadmin()).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs mqadmin until `ok` accepts its output (the name servers learn a new topic on the
/// brokers' next registration); panics with the last output after 30 s.
fn mqadmin_until(args: &[&str], ok: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..150 {
        let (success, text) = run_mqadmin(args);
        if success && ok(&text) {
            return text;
        }
        last = text;
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("mqadmin {args:?} never showed what was expected; last output:\n{last}");
}

/// The GitOps file in local mode: `deploy/cluster-2m-noslave.yaml` (autoCreateTopicEnable off)
/// and `deploy/topics-noslave.yaml` in one multi-document file. Once up, the declared topics and
/// the consumer group exist on both masters, and mqadmin shows them through the name servers:
/// `topicList`, `topicRoute` (both groups, the declared queue counts), `consumerProgress`. A
/// producer reaches the declared topic; an undeclared one is refused (no auto-creation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_topics_and_groups_in_the_cluster_file_are_applied_and_shown_by_mqadmin() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("gitops.yaml");
    let text = format!(
        "{}---\n{}",
        std::fs::read_to_string(example("cluster-2m-noslave.yaml")).unwrap(),
        std::fs::read_to_string(example("topics-noslave.yaml")).unwrap()
    );
    std::fs::write(&file, text).unwrap();
    let base = free_base();
    let (_child, rx) = spawn_local(&file, &tmp.path().join("run"), base);
    let (_, namesrv_addr) = until_ready(&rx);
    let declared: Vec<String> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(60)).unwrap())
        .collect();
    assert!(
        declared[0].starts_with("RocketMQTopic orders: topic orders applied on 2/2 groups"),
        "{declared:?}"
    );
    assert!(
        declared[1].starts_with("RocketMQTopic payments-fifo: topic PaymentsFifo applied on 2/2"),
        "{declared:?}"
    );
    assert!(
        declared[2].starts_with(
            "RocketMQConsumerGroup order-service: consumer group CID_ORDER_SERVICE applied on 2/2"
        ),
        "{declared:?}"
    );
    assert_eq!(declared[0].matches("created").count(), 2, "{declared:?}");

    let ns = namesrv_addr.as_str();
    let list = mqadmin_until(&["topicList", "-n", ns], |t| {
        t.lines().any(|l| l.trim() == "orders") && t.lines().any(|l| l.trim() == "PaymentsFifo")
    });
    println!("mqadmin topicList:\n{list}");
    let route = mqadmin_until(&["topicRoute", "-n", ns, "-t", "orders"], |t| {
        t.contains("noslave-broker-0") && t.contains("noslave-broker-1")
    });
    println!("mqadmin topicRoute -t orders:\n{route}");
    let v: serde_json::Value = serde_json::from_str(route.trim()).unwrap();
    let queues = v["queueDatas"].as_array().unwrap();
    assert_eq!(queues.len(), 2, "{route}");
    assert!(
        queues
            .iter()
            .all(|q| q["writeQueueNums"] == 8 && q["readQueueNums"] == 8 && q["perm"] == 6),
        "{route}"
    );
    // The declared topic takes messages; without auto-creation an undeclared one does not exist.
    let producer = Producer::new(ProducerConfig::new("gitops-pg", namesrv_addr.clone())).unwrap();
    producer.start().await.unwrap();
    let sent = producer
        .send(Message::new("orders", "declared"))
        .await
        .unwrap();
    assert_eq!(sent.status, SendStatus::SendOk);
    assert!(
        producer
            .send(Message::new("UndeclaredTopic", "x"))
            .await
            .is_err(),
        "autoCreateTopicEnable=false: only declared topics exist"
    );
    // A consumer of the declared group reads it and commits; consumerProgress shows the group's
    // progress on the declared topic (its retry topic comes with the consumer's heartbeat).
    let consumer =
        PullConsumer::new("CID_ORDER_SERVICE", ClientConfig::new(namesrv_addr.clone())).unwrap();
    consumer.start().await.unwrap();
    let mq = sent.message_queue.clone();
    // The message reaches the consume queue shortly after the send (dispatch is asynchronous).
    let mut r = consumer.pull(&mq, "*", 0, 32).await.unwrap();
    for _ in 0..100 {
        if r.status == PullStatus::Found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        r = consumer.pull(&mq, "*", 0, 32).await.unwrap();
    }
    assert_eq!(r.status, PullStatus::Found);
    consumer
        .update_consume_offset(&mq, r.next_begin_offset)
        .await
        .unwrap();
    consumer.instance().send_heartbeat_to_all().await;
    let progress = mqadmin_until(
        &["consumerProgress", "-n", ns, "-g", "CID_ORDER_SERVICE"],
        |t| t.contains("orders") && t.contains(&mq.broker_name),
    );
    println!("mqadmin consumerProgress -g CID_ORDER_SERVICE:\n{progress}");
    consumer.shutdown().await;
    producer.shutdown().await;
}

/// GET `path` from the console on 127.0.0.1:`port`, as JSON.
fn console_get(port: u16, path: &str) -> serde_json::Value {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: console\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    serde_json::from_str(body).unwrap()
}

/// `operator local stop --dir DIR`.
fn local_stop(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["local", "stop", "--dir"])
        .arg(dir)
        .output()
        .unwrap()
}

/// The `(name, role, port)` of an `up   <name> <Role> 127.0.0.1:<port> (pid N…)` line.
fn up_line(line: &str) -> (String, String, u16) {
    let f: Vec<&str> = line.split_whitespace().collect();
    let port = f[3].rsplit(':').next().unwrap().parse().unwrap();
    (f[1].to_string(), f[2].to_string(), port)
}

/// Reads lines until one starts with `prefix` (within `within`); returns it.
fn until_line(rx: &std::sync::mpsc::Receiver<String>, prefix: &str, within: Duration) -> String {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no line starting with {prefix:?} within {within:?}"));
        if line.starts_with(prefix) {
            return line;
        }
    }
}

fn conf_key(dir: &Path, process: &str, key: &str) -> String {
    let text = std::fs::read_to_string(dir.join(process).join("broker.conf")).unwrap();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Local mode keeps a failover: the hung master (SIGSTOP) of a group with
/// `epochFencingEnable` is replaced, the broker.conf of both brokers is rewritten (the promoted
/// slave brokerId 0 with the group's master role, the old master a slave with the slave's
/// former id), a broker restarted by the supervisor comes back in its new role, and so does the
/// whole cluster started again on the same directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_is_kept_when_a_broker_or_the_whole_cluster_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let file = tmp.path().join("failover.yaml");
    std::fs::write(
        &file,
        "apiVersion: rocketmq.rocketmq-rs.io/v1alpha1
kind: RocketMQCluster
metadata:
  name: fo
spec:
  nameServer:
    replicas: 1
  broker:
    groups: 1
    replicasPerGroup: 1
    replication: sync
    config:
      epochFencingEnable: \"true\"
      fencingLeaseMillis: \"2000\"
",
    )
    .unwrap();
    let base = free_base();
    let (mut first, rx) = spawn_local(&file, &dir, base);
    let (lines, ns) = until_ready(&rx);
    let ns_conf = std::fs::read_to_string(dir.join("fo-namesrv-0").join("namesrv.conf")).unwrap();
    assert!(
        ns_conf.contains("scanNotActiveBrokerInterval=1000"),
        "{ns_conf}"
    );
    let ups: Vec<(String, String, u16, u32)> = lines
        .iter()
        .filter(|l| l.starts_with("up "))
        .map(|l| {
            let (n, r, p) = up_line(l);
            (n, r, p, pid_of(l))
        })
        .collect();
    let master = ups.iter().find(|u| u.1 == "Master").unwrap().clone();
    let slave = ups.iter().find(|u| u.1 == "Slave").unwrap().clone();
    until_line(&rx, "failover controller:", Duration::from_secs(30));

    // A hung master: no exit for the supervisor to restart; the controller replaces it.
    signal(master.3, "STOP");
    let failover = until_line(&rx, "failover group=", Duration::from_secs(90));
    assert!(
        failover.contains(&format!("new=127.0.0.1:{}", slave.2)),
        "{failover}"
    );
    signal(master.3, "CONT");
    let rejoined = until_line(&rx, "rejoined group=", Duration::from_secs(60));
    assert!(
        rejoined.contains(&format!("broker=127.0.0.1:{} id=1", master.2)),
        "{rejoined}"
    );
    assert_eq!(conf_key(&dir, &slave.0, "brokerId"), "0");
    assert_eq!(conf_key(&dir, &slave.0, "brokerRole"), "SYNC_MASTER");
    assert_eq!(conf_key(&dir, &master.0, "brokerId"), "1");
    assert_eq!(conf_key(&dir, &master.0, "brokerRole"), "SLAVE");

    // One broker restarted by the supervisor keeps its new role.
    signal(slave.3, "KILL");
    let again = until_line(&rx, &format!("up   {}", slave.0), Duration::from_secs(60));
    assert_eq!(up_line(&again).1, "Master", "{again}");

    // Everything restarted on the same directory: the roles stay.
    let stop = local_stop(&dir);
    assert!(stop.status.success(), "{stop:?}");
    assert!(first.0.wait().unwrap().success());
    drop(rx);
    let (_second, rx) = spawn_local(&file, &dir, base);
    // `ready:` needs every name server to list every broker under the ids it starts with.
    let (lines, ns2) = until_ready(&rx);
    assert_eq!(ns, ns2);
    let roles: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l.starts_with("up "))
        .map(|l| {
            let (n, r, _) = up_line(l);
            (n, r)
        })
        .filter(|(_, r)| r != "NameServer")
        .collect();
    assert_eq!(
        roles,
        vec![
            (slave.0.clone(), "Master".to_string()),
            (master.0.clone(), "Slave".to_string())
        ]
    );
    let client = remoting::RemotingClient::new(remoting::ClientConfig::default());
    let req = remoting::RemotingCommand::request(
        remoting::RequestCode::GET_BROKER_CLUSTER_INFO,
        Default::default(),
    );
    let info = client
        .invoke_ok(&ns, req, Duration::from_secs(10))
        .await
        .unwrap();
    let info = remoting::body::cluster::ClusterInfo::decode(&info.body).unwrap();
    let addrs = &info.broker_addr_table.values().next().unwrap().broker_addrs;
    assert_eq!(
        addrs.get(&0).map(String::as_str),
        Some(format!("127.0.0.1:{}", slave.2).as_str())
    );
    assert_eq!(
        addrs.get(&1).map(String::as_str),
        Some(format!("127.0.0.1:{}", master.2).as_str())
    );
    client.shutdown();
}
