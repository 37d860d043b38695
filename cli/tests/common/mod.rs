//! What the `mqadmin` process tests share: an in-process name server and broker on 127.0.0.1,
//! and running the `mqadmin` binary against them.

#![allow(dead_code)] // each test binary uses its own subset
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::Path;
use std::time::{Duration, Instant};

use broker::{Broker, BrokerConfig, BrokerHandle};
use namesrv::{NameServer, NameServerHandle, NamesrvConfig};

/// Starts a name server on 127.0.0.1 with a free port, its files under `dir`.
pub async fn start_namesrv(dir: &Path) -> NameServerHandle {
    NameServer::start(NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.join("kvConfig.json"),
        config_store_path: dir.join("namesrv.properties"),
        ..NamesrvConfig::default()
    })
    .await
    .unwrap()
}

/// Starts broker-a on 127.0.0.1 with a free port and small segments, registering every second.
pub async fn start_broker(store: &Path, namesrv: &str) -> BrokerHandle {
    Broker::start(BrokerConfig {
        broker_name: "broker-a".into(),
        broker_ip1: Some("127.0.0.1".into()),
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: Some(namesrv.into()),
        store_path_root_dir: store.display().to_string(),
        mapped_file_size_commit_log: 8 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        register_name_server_period: 1000,
        flush_consumer_offset_interval: 200,
        ..BrokerConfig::default()
    })
    .await
    .unwrap()
}

/// Runs `mqadmin args... -n namesrv`; returns (success, stdout, stderr).
pub async fn mqadmin(ns: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .args(["-n", ns])
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed; returns its stdout.
pub async fn ok(ns: &str, args: &[&str]) -> String {
    let (success, stdout, stderr) = mqadmin(ns, args).await;
    assert!(success, "mqadmin {args:?} failed: {stderr}\n{stdout}");
    stdout
}

/// Runs `mqadmin` until it succeeds and `f` accepts its stdout (30 s at most); returns stdout.
pub async fn eventually(ns: &str, args: &[&str], f: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (success, stdout, stderr) = mqadmin(ns, args).await;
        if success && f(&stdout) {
            return stdout;
        }
        assert!(
            Instant::now() < end,
            "mqadmin {args:?} never satisfied the check: {stderr}\n{stdout}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client on 127.0.0.1 with short name-server, heartbeat and offset intervals, so tests see
/// changes within a second.
pub fn client_config(ns: &str) -> client::ClientConfig {
    client::ClientConfig {
        client_ip: Some("127.0.0.1".parse().unwrap()),
        poll_name_server_interval: Duration::from_millis(500),
        heartbeat_broker_interval: Duration::from_millis(500),
        persist_consumer_offset_interval: Duration::from_millis(200),
        rpc_timeout: Duration::from_secs(10),
        ..client::ClientConfig::new(ns)
    }
}

/// The data rows of a table (lines after the `#` header).
pub fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip_while(|l| !l.starts_with('#'))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}
