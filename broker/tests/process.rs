//! Tests of the `broker` binary as a real process.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use remoting::message::decode_all;
use remoting::{ClientConfig, RemotingClient, ResponseCode};

const BIN: &str = env!("CARGO_BIN_EXE_broker");

/// The broker.conf of the seed's FAQ 5.2, verbatim (its addresses are someone else's: `-p` must
/// not touch the network).
const SEED_CONF: &str = "brokerClusterName = DefaultCluster
brokerName = broker-a
brokerId = 0
brokerIP1 = 10.29.181.16
deleteWhen = 04
fileReservedTime = 48
brokerRole = ASYNC_MASTER
flushDiskType = ASYNC_FLUSH

# NameServer地址列表，多个nameServer地址用分号隔开
namesrvAddr = 10.29.181.16:9876

autoCreateTopicEnable = true
";

#[test]
fn print_config_of_the_seed_conf_and_exit() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, SEED_CONF).unwrap();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "brokerClusterName=DefaultCluster",
        "brokerName=broker-a",
        "brokerIP1=10.29.181.16",
        "namesrvAddr=10.29.181.16:9876",
        "fileReservedTime=48",
        "brokerRole=ASYNC_MASTER",
        "listenPort=10911",
        "maxMessageSize=4194304",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    // What -p prints is itself a valid broker.conf with the same meaning.
    let (printed, unknown) = broker::BrokerConfig::from_properties_text(&text).unwrap();
    let (orig, _) = broker::BrokerConfig::from_properties_text(SEED_CONF).unwrap();
    assert!(unknown.is_empty());
    assert_eq!(printed, orig);
}

#[test]
fn missing_namesrv_bad_values_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerName=b\nstorePathRootDir={}\nlistenPort=0\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .env_remove("NAMESRV_ADDR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no name server address"), "{err}");

    std::fs::write(&conf, "listenPort=notaport\n").unwrap();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("listenPort") && err.contains("notaport"),
        "{err}"
    );

    std::fs::write(&conf, "brokerName=b\nnoSuchKey=1\n").unwrap();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("noSuchKey"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_process_registers_serves_and_unregisters_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    // Port 0: the kernel picks the broker's ports (its VIP and HA ports too) when it binds
    // them, so nothing can take them between a pick and the bind; the name server learns the
    // one it got.
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerClusterName=C1\nbrokerName=proc-broker\nbrokerId=0\nbindAddress=127.0.0.1\nlistenPort=0\n\
             storePathRootDir={}\nmappedFileSizeCommitLog=4194304\nmaxMessageSize=65536\nautoCreateTopicEnable=true\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("-n")
        .arg(ns.local_addr().to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("broker.err")).unwrap())
        .spawn()
        .unwrap();
    let mut route = None;
    for _ in 0..500 {
        route = ns.routes().topic_route("TBW102");
        if route.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some(route) = route else {
        let _ = child.kill();
        let err = std::fs::read_to_string(dir.path().join("broker.err")).unwrap_or_default();
        panic!("the broker process did not register within 10 s; its stderr:\n{err}");
    };
    let addr = route.broker_datas[0].master_addr().unwrap().to_string();
    let port: u16 = addr
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("registered address {addr}"));
    assert_ne!(port, 0, "the broker registered the port it bound, not 0");
    let client = RemotingClient::new(ClientConfig::default());
    let r = send(&client, &addr, "ProcTopic", 0, b"hello", Some("T"), None).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    let mut got = Vec::new();
    for _ in 0..500 {
        let r = client
            .invoke(&addr, pull_request("G", "ProcTopic", 0, 0, 0, "*"), TIMEOUT)
            .await
            .unwrap();
        if r.response_code() == ResponseCode::SUCCESS {
            got = decode_all(&r.body).unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.as_ref(), b"hello");
    // The auto-created topic reached the name server at once.
    for _ in 0..500 {
        if ns.routes().topic_route("ProcTopic").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ns.routes().topic_route("ProcTopic").is_some());
    // SIGTERM: clean stop, unregistered.
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(ns.routes().topic_route("ProcTopic").is_none());
    ns.shutdown().await;
}

/// `aclEnable=true` without a readable ACL file stops the start with a one-line error naming
/// the file (a user must not believe the broker is protected); other keys Java's broker.conf has
/// but this broker does not act on are warned about; errors are one line even with
/// RUST_BACKTRACE=1; `--version` works.
#[test]
fn settings_without_effect_are_refused_or_warned_and_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["-n", "127.0.0.1:9876", "aclEnable=true", "listenPort=0"])
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .env("HOME", dir.path())
        .env("ROCKETMQ_HOME", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("ACL file") && err.contains("conf/plain_acl.yml"),
        "{err}"
    );
    assert!(
        !dir.path().join("store").exists(),
        "the store was opened before the ACL was checked"
    );

    let out = Command::new(BIN)
        .args([
            "-p",
            "transientStorePoolSize=8",
            "enableDLegerCommitLog=true",
        ])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for k in ["transientStorePoolSize=8", "enableDLegerCommitLog=true"] {
        assert!(err.contains(&format!("{k} has no effect")), "{err}");
    }
    // Defaults say nothing.
    let out = Command::new(BIN)
        .args(["-p"])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("no effect"),
        "{out:?}"
    );

    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("broker "));
}

/// The by-hand kit in `conf/` (the Java distribution's four modes): every file parses with the
/// broker's own parser (`broker -c FILE -p`), without unknown keys or warnings, and each mode's
/// files describe the pairs the directory name promises, on distinct ports and stores.
#[test]
fn every_conf_kit_file_parses_with_the_broker() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf");
    let modes: [(&str, &[&str]); 4] = [
        (".", &["broker.conf"]),
        (
            "2m-noslave",
            &["broker-a.properties", "broker-b.properties"],
        ),
        (
            "2m-2s-async",
            &[
                "broker-a.properties",
                "broker-a-s.properties",
                "broker-b.properties",
                "broker-b-s.properties",
            ],
        ),
        (
            "2m-2s-sync",
            &[
                "broker-a.properties",
                "broker-a-s.properties",
                "broker-b.properties",
                "broker-b-s.properties",
            ],
        ),
    ];
    for (mode, files) in modes {
        let mut ports = std::collections::BTreeSet::new();
        let mut stores = std::collections::BTreeSet::new();
        for f in files {
            let path = root.join(mode).join(f);
            let out = Command::new(BIN)
                .arg("-c")
                .arg(&path)
                .arg("-p")
                .env_remove("RUST_LOG")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: {err}", path.display());
            assert!(err.trim().is_empty(), "{}: {err}", path.display());
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let (c, unknown) = broker::config::BrokerConfig::from_properties_text(&text).unwrap();
            assert!(unknown.is_empty(), "{unknown:?}");
            c.validate().unwrap();
            assert_eq!(c.broker_ip1.as_deref(), Some("127.0.0.1"));
            assert_eq!(c.namesrv_addr.as_deref(), Some("127.0.0.1:9876"));
            let slave = f.ends_with("-s.properties");
            assert_eq!(c.broker_id != 0, slave, "{f}");
            let want_role = match (mode, slave) {
                (_, true) => "SLAVE",
                ("2m-2s-sync", false) => "SYNC_MASTER",
                _ => "ASYNC_MASTER",
            };
            assert_eq!(c.broker_role.as_str(), want_role, "{mode}/{f}");
            assert!(ports.insert(c.listen_port), "{mode}/{f}");
            assert!(stores.insert(c.store_path_root_dir.clone()), "{mode}/{f}");
        }
        // listenPort-2 .. listenPort+1 of different brokers never overlap.
        let v: Vec<u16> = ports.into_iter().collect();
        assert!(v.windows(2).all(|w| w[1] - w[0] >= 4), "{mode}: {v:?}");
    }
}

/// The lines `child` writes to its (piped) stderr, read on a thread of their own: up to the end,
/// or up to and including the first that contains `until`.
fn stderr_lines(
    child: &mut std::process::Child,
    until: Option<&'static str>,
) -> std::thread::JoinHandle<Vec<String>> {
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let done = until.is_some_and(|u| line.contains(u));
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    })
}

/// A broker whose name server is down retries with back-off and says so once, not every second
/// (the issue: a warning per second for ever).
#[test]
fn an_unreachable_name_server_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerName=lonely\nbindAddress=127.0.0.1\nlistenPort=0\nstorePathRootDir={}\nmappedFileSizeCommitLog=4194304\nmaxMessageSize=65536\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    // Port 1 on loopback: nothing listens there, connections are refused at once.
    let mut child = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .args(["-n", "127.0.0.1:1"])
        .env_remove("RUST_LOG")
        .env("ROCKETMQ_LOG_DIR", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = stderr_lines(&mut child, None);
    // Long enough for several one-second retries of the old behaviour.
    std::thread::sleep(Duration::from_secs(5));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let lines = reader.join().unwrap();
    let failures = lines
        .iter()
        .filter(|l| l.contains("register broker to name server failed"))
        .count();
    assert_eq!(failures, 1, "{lines:#?}");
}

/// A broker in a memory control group (a pod with a memory limit) counts the group's limit as
/// its memory, as Java 17 does: `accessMessageInMemoryMaxRatio` percent of that, not of the
/// node's `MemTotal`, is "in memory". Makes a real group (root; cgroup v1's memory controller or
/// v2 with memory delegated) and reads the broker's own report.
#[test]
fn in_a_memory_cgroup_the_in_memory_rule_uses_its_limit() {
    let name = format!("rmq-test-{}", std::process::id());
    let (group, limit_file) = if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        (
            std::path::PathBuf::from("/sys/fs/cgroup/memory").join(&name),
            "memory.limit_in_bytes",
        )
    } else {
        (
            std::path::PathBuf::from("/sys/fs/cgroup").join(&name),
            "memory.max",
        )
    };
    let limit: u64 = 1 << 30;
    if let Err(e) = std::fs::create_dir(&group)
        .and_then(|()| std::fs::write(group.join(limit_file), limit.to_string()))
    {
        let _ = std::fs::remove_dir(&group);
        eprintln!(
            "SKIPPED: no memory control group to run the broker in ({}: {e}; needs root)",
            group.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerName=limited\nbindAddress=127.0.0.1\nlistenPort=0\nstorePathRootDir={}\n\
             mappedFileSizeCommitLog=4194304\nmaxMessageSize=65536\naccessMessageInMemoryMaxRatio=25\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    // The shell joins the group, then becomes the broker.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#)
        .arg("sh")
        .arg(&group)
        .arg(BIN)
        .arg("-c")
        .arg(&conf)
        .args(["-n", "127.0.0.1:1"])
        .env("RUST_LOG", "info")
        .env("ROCKETMQ_LOG_DIR", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = stderr_lines(&mut child, Some("pulls count as in memory"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let lines = if reader.is_finished() {
        reader.join().unwrap()
    } else {
        Vec::new()
    };
    let removed = std::fs::remove_dir(&group);
    let report = lines
        .iter()
        .find(|l| l.contains("pulls count as in memory"))
        .unwrap_or_else(|| panic!("no report: {lines:#?}"));
    assert!(
        report.contains(&format!("memory_bytes={limit}")),
        "the group's 1 GiB: {report}"
    );
    let want = limit / 100 * 25;
    assert!(
        report.contains(&format!("in_memory_bytes={want}")),
        "25 % of it: {report}"
    );
    removed.unwrap();
}
