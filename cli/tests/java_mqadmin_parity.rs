//! Java 4.9.7's own `mqadmin` and this project's, side by side against the same real broker:
//! `getBrokerConfig`, `getConsumerConfig`, `skipAccumulatedMessage`, `exportConfigs`, `statsAll`,
//! `queryMsgTraceById`, `exportMetrics` and `brokerStatus` must print the same (rates and
//! figures that move between two runs aside: `statsAll` rates, `exportMetrics` values,
//! `brokerStatus` values).
//!
//! Needs the Java tools at `/opt/rocketmq-4.9.7/bin/mqadmin` (or `JAVA_MQADMIN`) and a `java`
//! on the path; prints SKIPPED and passes without them. Never builds them.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::{mqadmin, ok, start_broker, start_namesrv};

fn java_mqadmin() -> Option<PathBuf> {
    let p = std::env::var_os("JAVA_MQADMIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/rocketmq-4.9.7/bin/mqadmin"));
    let java = std::process::Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    (p.is_file() && java).then_some(p)
}

/// Runs Java's mqadmin with its logs under `home`; returns stdout.
async fn java(bin: &Path, home: &Path, ns: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(bin)
        .args(args)
        .args(["-n", ns])
        .env("JAVA_OPT", format!("-Duser.home={}", home.display()))
        // Java prints trace times in the local zone; ours in UTC.
        .env("TZ", "UTC")
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// `statsAll` rows without the rates (`#InTPS`, `#OutTPS`, the only figures with a decimal
/// point), which change between runs.
fn without_rates(s: &str) -> Vec<Vec<String>> {
    s.lines()
        .skip(1)
        .map(|l| {
            l.split_whitespace()
                .filter(|w| !w.contains('.'))
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_and_our_mqadmin_print_the_same() {
    let Some(bin) = java_mqadmin() else {
        eprintln!("SKIPPED: no Java 4.9.7 mqadmin (/opt/rocketmq-4.9.7/bin/mqadmin) or no java");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("javahome");
    let ns = start_namesrv(dir.path()).await;
    let n = ns.local_addr().to_string();
    let n = n.as_str();
    let b = start_broker(&dir.path().join("store"), n).await;
    let addr = b.broker_addr().to_string();
    b.register_now().await;
    ok(
        n,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            "ParT",
            "-r",
            "2",
            "-w",
            "2",
        ],
    )
    .await;
    ok(n, &["updateSubGroup", "-c", "DefaultCluster", "-g", "ParG"]).await;
    for i in 0..3 {
        ok(n, &["sendMessage", "-t", "ParT", "-p", &format!("m{i}")]).await;
    }

    let ours = ok(n, &["getBrokerConfig", "-b", &addr]).await;
    let theirs = java(&bin, &home, n, &["getBrokerConfig", "-b", &addr]).await;
    assert_eq!(sorted_lines(&theirs), sorted_lines(&ours));

    let ours = ok(n, &["getConsumerConfig", "-g", "ParG"]).await;
    let theirs = java(&bin, &home, n, &["getConsumerConfig", "-g", "ParG"]).await;
    assert_eq!(theirs, ours);

    // Offline groups with nothing consumed: the same rollback table from both.
    let ours = ok(n, &["skipAccumulatedMessage", "-g", "ParG1", "-t", "ParT"]).await;
    let theirs = java(
        &bin,
        &home,
        n,
        &["skipAccumulatedMessage", "-g", "ParG2", "-t", "ParT"],
    )
    .await;
    assert!(ours.starts_with("#brokerName"), "{ours}");
    assert_eq!(theirs, ours);

    let ours_dir = dir.path().join("ours");
    let theirs_dir = dir.path().join("theirs");
    ok(
        n,
        &[
            "exportConfigs",
            "-c",
            "DefaultCluster",
            "-f",
            ours_dir.to_str().unwrap(),
        ],
    )
    .await;
    java(
        &bin,
        &home,
        n,
        &[
            "exportConfigs",
            "-c",
            "DefaultCluster",
            "-f",
            theirs_dir.to_str().unwrap(),
        ],
    )
    .await;
    let read = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("configs.json")).unwrap()).unwrap()
    };
    assert_eq!(read(&theirs_dir), read(&ours_dir));

    // statsAll once the minute window has sampled the sends.
    let end = Instant::now() + Duration::from_secs(60);
    let ours = loop {
        let out = ok(n, &["statsAll", "-t", "ParT"]).await;
        if out.lines().any(|l| l.contains(" 3 ")) {
            break out;
        }
        assert!(Instant::now() < end, "{out}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let theirs = java(&bin, &home, n, &["statsAll", "-t", "ParT"]).await;
    assert_eq!(theirs.lines().next(), ours.lines().next());
    // Java walks the consumer groups in its HashSet's order: compare the rows as sets.
    let (mut t, mut o) = (without_rates(&theirs), without_rates(&ours));
    t.sort();
    o.sort();
    assert_eq!(t, o);

    // queryMsgTraceById: a trace record in Java's format keyed by the traced id.
    let id = "7F0000010000ABCD0000000000000000";
    let body = [
        [
            "Pub",
            "1700000000000",
            "DefaultRegion",
            "ParPG",
            "ParT",
            id,
            "",
            "",
            "127.0.0.1:10911",
            "2",
            "4",
            "0",
            "OFFSETID",
            "true",
            "127.0.0.1@1",
        ]
        .join("\u{1}"),
        [
            "SubAfter",
            "req1",
            id,
            "9",
            "false",
            "",
            "0",
            "1700000005000",
            "ParG",
        ]
        .join("\u{1}"),
        String::new(),
    ]
    .join("\u{2}");
    ok(
        n,
        &[
            "sendMessage",
            "-t",
            "RMQ_SYS_TRACE_TOPIC",
            "-k",
            id,
            "-p",
            &body,
        ],
    )
    .await;
    // The auto-created trace topic reaches the name server with the next registration.
    let ours = loop {
        let (success, out, _) = mqadmin(n, &["queryMsgTraceById", "-i", id]).await;
        if success && out.contains("#ConsumerGroup") {
            break out;
        }
        assert!(Instant::now() < end, "{out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let theirs = java(&bin, &home, n, &["queryMsgTraceById", "-i", id]).await;
    assert_eq!(theirs, ours);

    // exportMetrics: the same structure (the figures move between runs).
    fn paths(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        if let Some(m) = v.as_object() {
            for (k, v) in m {
                let p = format!("{at}/{k}");
                paths(v, &p, out);
                out.push(p);
            }
        }
    }
    ok(
        n,
        &[
            "exportMetrics",
            "-c",
            "DefaultCluster",
            "-f",
            ours_dir.to_str().unwrap(),
        ],
    )
    .await;
    java(
        &bin,
        &home,
        n,
        &[
            "exportMetrics",
            "-c",
            "DefaultCluster",
            "-f",
            theirs_dir.to_str().unwrap(),
        ],
    )
    .await;
    let metrics = |d: &Path| -> Vec<String> {
        let v = serde_json::from_slice(&std::fs::read(d.join("metrics.json")).unwrap()).unwrap();
        let mut out = Vec::new();
        paths(&v, "", &mut out);
        out.sort();
        out
    };
    assert_eq!(metrics(&theirs_dir), metrics(&ours_dir));

    // brokerStatus: the same keys.
    let keys = |s: &str| -> Vec<String> {
        s.lines()
            .filter_map(|l| l.split(':').next())
            .map(|k| k.trim().to_string())
            .collect()
    };
    let ours = ok(n, &["brokerStatus", "-b", &addr]).await;
    let theirs = java(&bin, &home, n, &["brokerStatus", "-b", &addr]).await;
    assert_eq!(keys(&theirs), keys(&ours));
    b.shutdown().await;
}
