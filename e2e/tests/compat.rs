//! Clients this project did not write, against our name server and broker: the C++ client (PyPI
//! `rocketmq` 0.4.4) and the pure-JavaScript ali-ons 3.12. Each produces and consumes through an
//! in-process name server and broker; the scripts in `e2e/compat/` check the counts.
//!
//! The clients are not part of a Rust toolchain, so these tests are `#[ignore]`d: `cargo test`
//! reports them as "ignored", never as passes that ran nothing. `.ci/run` installs the clients
//! and runs them with `cargo test -p e2e --test compat -- --include-ignored` and
//! `COMPAT_REQUIRED=1` (a missing client is then a failure, not a skip).

use std::process::Command;
use std::time::Duration;

use e2e::cluster::LocalCluster;
use e2e::tools;

/// Runs a compatibility script with a deadline and returns (success, stdout, stderr).
async fn run_script(mut cmd: Command, deadline: Duration) -> (bool, String, String) {
    let out = tokio::time::timeout(
        deadline,
        tokio::task::spawn_blocking(move || cmd.output().expect("start the compat script")),
    )
    .await
    .expect("compat script timed out")
    .expect("join");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs third-party clients (C++ client via COMPAT_PYTHON, ali-ons via COMPAT_NODE_MODULES): .ci/run runs these with --include-ignored"]
async fn cpp_client_produces_and_consumes() {
    let Some(python) = tools::python() else {
        tools::missing("the C++ client (PyPI rocketmq 0.4.4; COMPAT_PYTHON)");
        return;
    };
    let cluster = LocalCluster::start(&["broker-a"]).await.unwrap();
    cluster.create_topic("CppCompat", 4).await.unwrap();
    // The C++ client writes its logs under $HOME/logs/rocketmq-cpp; keep them for a failed run.
    let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp-client-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(tools::compat_dir().join("cpp_client.py"))
        .arg(cluster.namesrv_addr())
        .arg("CppCompat")
        .arg("40")
        .env("HOME", &home);
    let (ok, stdout, stderr) = run_script(cmd, Duration::from_secs(240)).await;
    println!("{stdout}");
    cluster.shutdown().await;
    assert!(
        ok,
        "C++ client run failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs third-party clients (C++ client via COMPAT_PYTHON, ali-ons via COMPAT_NODE_MODULES): .ci/run runs these with --include-ignored"]
async fn cpp_client_delayed_messages_keep_delay_and_real_topic() {
    let Some(python) = tools::python() else {
        tools::missing("the C++ client (PyPI rocketmq 0.4.4; COMPAT_PYTHON)");
        return;
    };
    let cluster = LocalCluster::start(&["broker-a"]).await.unwrap();
    cluster.create_topic("CppDelay", 2).await.unwrap();
    let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp-delay-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(tools::compat_dir().join("cpp_delay.py"))
        .arg(cluster.namesrv_addr())
        .arg("CppDelay")
        .arg("5")
        .env("HOME", &home);
    let (ok, stdout, stderr) = run_script(cmd, Duration::from_secs(180)).await;
    println!("{stdout}");
    cluster.shutdown().await;
    assert!(
        ok,
        "C++ client delay run failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs third-party clients (C++ client via COMPAT_PYTHON, ali-ons via COMPAT_NODE_MODULES): .ci/run runs these with --include-ignored"]
async fn ali_ons_produces_and_consumes_with_tags() {
    let Some(node_modules) = tools::node_modules() else {
        tools::missing("ali-ons 3.12 (npm; COMPAT_NODE_MODULES)");
        return;
    };
    let cluster = LocalCluster::start(&["broker-a"]).await.unwrap();
    cluster.create_topic("OnsCompat", 4).await.unwrap();
    // ali-ons subscribes %RETRY%<group> itself; it logs until that topic exists.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(tools::compat_dir().join("ali_ons.js"))
        .arg(cluster.namesrv_addr())
        .arg("OnsCompat")
        .arg("40")
        .env("NODE_PATH", node_modules)
        .env("HOME", home.path());
    let (ok, stdout, stderr) = run_script(cmd, Duration::from_secs(180)).await;
    println!("{stdout}");
    cluster.shutdown().await;
    assert!(
        ok,
        "ali-ons run failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
}

/// The C++ consumer's RECONSUME_LATER goes back through CONSUMER_SEND_MSG_BACK and comes back
/// from `%RETRY%<group>` with a growing reconsume count until it is consumed (the script's doc
/// explains the C API's batch semantics the checks allow for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs third-party clients (C++ client via COMPAT_PYTHON, ali-ons via COMPAT_NODE_MODULES): .ci/run runs these with --include-ignored"]
async fn cpp_client_consumer_send_back_redelivers_through_retry_topic() {
    let Some(python) = tools::python() else {
        tools::missing("the C++ client (PyPI rocketmq 0.4.4; COMPAT_PYTHON)");
        return;
    };
    let cluster = LocalCluster::start(&["broker-a"]).await.unwrap();
    cluster.create_topic("CppSendBack", 2).await.unwrap();
    let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp-sendback-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(tools::compat_dir().join("cpp_sendback.py"))
        .arg(cluster.namesrv_addr())
        .arg("CppSendBack")
        .arg("5")
        .arg("2")
        .env("HOME", &home);
    let (ok, stdout, stderr) = run_script(cmd, Duration::from_secs(180)).await;
    println!("{stdout}");
    cluster.shutdown().await;
    assert!(
        ok,
        "C++ send-back run failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
}
