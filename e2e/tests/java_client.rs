//! The Apache RocketMQ 4.9.7 Java client against our name server and broker (issue 16's 27 client
//! features). Each test starts a name server and a broker on 127.0.0.1 (fresh ports, temp store),
//! creates the topic, and runs one feature of `e2e/java/JavaClientFeatures.java` as a separate
//! `java` process; the program counts what the broker acknowledged and what its consumers
//! received, checks the feature's exact expectations and prints `FEATURE <name> OK ...`.
//!
//! The Java client is built outside the repository (`e2e/README.md`, "Java 4.9.7 client") into
//! `/opt/rocketmq-4.9.7` (or `ROCKETMQ_JAVA_HOME`). Without it, or without `javac`, every test
//! prints SKIPPED and passes. The tests are `#[ignore]`d so that `cargo test --workspace` stays
//! quick; `.ci/run` runs them with `--include-ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use broker::{Broker, BrokerConfig};
use e2e::cluster::LocalCluster;
use e2e::java::{self, JavaTools};
use remoting::{CommandHeader, RemotingClient, RemotingCommand, RequestCode, ResponseCode};

/// Deadline of one feature program (it waits at most 60 s for any one thing).
const FEATURE_DEADLINE: Duration = Duration::from_secs(300);

/// The compiled `e2e/java` programs, once per test binary.
fn classes(tools: &JavaTools) -> PathBuf {
    static CLASSES: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLASSES
        .get_or_init(|| {
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("java-client-classes-{}", std::process::id()));
            let src = java::sources_dir().join("JavaClientFeatures.java");
            tools
                .compile(&[src], &out)
                .map(|()| out)
                .map_err(|e| e.to_string())
        })
        .clone()
        .expect("compile e2e/java/JavaClientFeatures.java")
}

fn tools_or_skip() -> Option<JavaTools> {
    let tools = JavaTools::find();
    if tools.is_none() {
        eprintln!(
            "SKIPPED: the Java 4.9.7 client ({} or ${}) or javac is not installed",
            java::DEFAULT_HOME,
            java::HOME_ENV
        );
    }
    tools
}

/// The broker settings the features need: SQL92 filtering, the trace topic, transaction
/// check-backs after 1 s instead of 60 s.
fn tweak(c: &mut BrokerConfig) {
    c.enable_property_filter = true;
    c.trace_topic_enable = true;
    c.transaction_time_out = 1000;
    c.transaction_check_interval = 1000;
}

async fn start_cluster(topic: &str) -> LocalCluster {
    let cluster = LocalCluster::start_with(&["broker-a"], tweak)
        .await
        .unwrap();
    cluster.create_topic(topic, 4).await.unwrap();
    cluster
        .create_topic("RMQ_SYS_TRACE_TOPIC", 1)
        .await
        .unwrap();
    cluster
}

/// Runs one feature program; returns its output after printing it.
async fn run_java(
    tools: &JavaTools,
    ns: &str,
    feature: &str,
    topic: &str,
    phase: &str,
) -> java::Output {
    let classes = classes(tools);
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tools.java_command(&classes, "JavaClientFeatures", home.path());
    cmd.arg(ns).arg(feature).arg(topic);
    if !phase.is_empty() {
        cmd.arg(phase);
    }
    let what = format!("JavaClientFeatures {feature} {phase}");
    let out = tokio::task::spawn_blocking(move || java::run(cmd, &what, FEATURE_DEADLINE))
        .await
        .unwrap()
        .unwrap();
    println!("{}", out.stdout);
    if !out.stderr.trim().is_empty() {
        println!("stderr:\n{}", out.stderr);
    }
    drop(home);
    out
}

fn assert_feature_ok(out: &java::Output, feature: &str) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("FEATURE {feature} ")))
        .unwrap_or("");
    assert!(
        out.success() && line.starts_with(&format!("FEATURE {feature} OK")),
        "Java client feature {feature} failed: {line}\n{}",
        out.stdout
    );
    // The counts are part of the verdict: nothing acknowledged was lost.
    let count = |key: &str| -> i64 {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    };
    assert!(
        count("ACKED ") >= 0 && count("RECEIVED ") > 0,
        "{feature}: counts missing"
    );
}

/// One feature against a fresh cluster.
async fn feature(name: &str) {
    let Some(tools) = tools_or_skip() else {
        return;
    };
    let topic = format!("J_{name}");
    let cluster = start_cluster(&topic).await;
    let out = run_java(&tools, &cluster.namesrv_addr(), name, &topic, "").await;
    cluster.shutdown().await;
    assert_feature_ok(&out, name);
}

macro_rules! features {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "runs the Java 4.9.7 client (SKIPPED without it): .ci/run runs these with --include-ignored"]
            async fn $name() {
                feature(stringify!($name)).await;
            }
        )*
    };
}

features!(
    send_sync,
    send_async,
    send_oneway,
    send_batch,
    compressed_body,
    push_consumer,
    orderly_consumer,
    tag_filter,
    sql92_filter,
    lite_pull_subscribe,
    lite_pull_assign,
    legacy_pull,
    query_by_key,
    query_by_offset_id,
    query_by_unique_key,
    retry,
    dlq,
    delay,
    transaction_commit,
    transaction_rollback,
    transaction_check,
    broadcasting,
    rebalance,
    message_trace,
    request_reply,
);

/// Waits until the name server routes `topic` to `addr` (and to nothing else).
async fn wait_route(ns: &str, topic: &str, addr: &str, old: &str) {
    let client = RemotingClient::new(remoting::ClientConfig::default());
    let header = remoting::header::namesrv::GetRouteInfoRequestHeader {
        topic: topic.to_string(),
        ..Default::default()
    };
    for _ in 0..300 {
        let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, header.to_ext());
        if let Ok(resp) = client.invoke(ns, req, Duration::from_secs(5)).await {
            let body = String::from_utf8_lossy(&resp.body).into_owned();
            if resp.code == ResponseCode::SUCCESS.0 && body.contains(addr) && !body.contains(old) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{topic} never routed to {addr} alone");
}

/// Consumer offsets survive a broker restart: the group consumes 20 messages and stops; the
/// broker is stopped and started again on the same store; a new consumer of the group
/// (CONSUME_FROM_FIRST_OFFSET, so lost offsets would replay all 30) gets exactly the 10 sent
/// after the restart.
///
/// The restarted broker listens on a fresh port (port 0), never on the old number, which
/// something else could have taken meanwhile. No client spans the restart: the Java producer and
/// consumer of the first phase have exited and those of the second start after the name server
/// routes the topic to the new address, so no client ever sees the address change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs the Java 4.9.7 client (SKIPPED without it): .ci/run runs these with --include-ignored"]
async fn offsets_restart() {
    let Some(tools) = tools_or_skip() else {
        return;
    };
    let topic = "J_offsets_restart";
    let mut cluster = start_cluster(topic).await;
    let ns = cluster.namesrv_addr();
    let before = run_java(&tools, &ns, "offsets_restart", topic, "before").await;
    assert_feature_ok(&before, "offsets_restart");

    let old = cluster.brokers.pop().unwrap();
    let old_addr = old.broker_addr().to_string();
    let config = old.config().clone();
    old.shutdown().await;
    let restarted = Broker::start(config).await.unwrap();
    let new_addr = restarted.broker_addr().to_string();
    cluster.brokers.push(restarted);
    wait_route(&ns, topic, &new_addr, &old_addr).await;

    let after = run_java(&tools, &ns, "offsets_restart", topic, "after").await;
    cluster.shutdown().await;
    assert_feature_ok(&after, "offsets_restart");
}

/// `vipChannelEnabled=true`: the Java client sends to listenPort − 2 (Java's fastRemotingServer),
/// which our broker serves; the broker listens on a port whose − 2 was free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs the Java 4.9.7 client (SKIPPED without it): .ci/run runs these with --include-ignored"]
async fn vip_channel() {
    let Some(tools) = tools_or_skip() else {
        return;
    };
    let topic = "J_vip_channel";
    let cluster = loop {
        let port = java::port_pair();
        let started = LocalCluster::start_with(&["broker-a"], |c| {
            tweak(c);
            c.listen_port = port;
        })
        .await;
        if let Ok(c) = started {
            break c;
        }
    };
    let b = &cluster.brokers[0];
    assert_eq!(
        b.fast_local_addr().map(|a| a.port()),
        Some(b.local_addr().port() - 2),
        "the VIP channel listens on listenPort - 2"
    );
    cluster.create_topic(topic, 4).await.unwrap();
    let out = run_java(&tools, &cluster.namesrv_addr(), "vip_channel", topic, "").await;
    cluster.shutdown().await;
    assert_feature_ok(&out, "vip_channel");
}
