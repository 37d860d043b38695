//! Plain ACL with clients this project did not write: the C++ client's session credentials and
//! ali-ons's accessKey/secretKey. Signed sends are accepted and consumed; sends whose signature
//! does not verify (right access key, wrong secret) and unsigned sends are refused, and the
//! broker holds exactly the accepted messages. `#[ignore]`d like `compat.rs` (`.ci/run` runs
//! them with `--include-ignored` and the clients installed).

use std::process::Command;
use std::time::Duration;

use e2e::cluster::LocalCluster;
use e2e::tools;
use remoting::acl::SessionCredentials;

const ACL: &str = "globalWhiteRemoteAddresses:
accounts:
  - accessKey: compatadmin
    secretKey: compatadmin1
    admin: true
  - accessKey: compatuser
    secretKey: compatsecret1
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclCompat=PUB|SUB
";

const N: i64 = 10;

async fn cluster(dir: &std::path::Path) -> LocalCluster {
    let file = dir.join("plain_acl.yml");
    std::fs::write(&file, ACL).expect("write the ACL file");
    let mut cluster = LocalCluster::start_with(&["broker-a"], |c| {
        c.acl_enable = true;
        c.acl_plain_file = Some(file.display().to_string());
    })
    .await
    .expect("start the cluster");
    cluster.admin_credentials = Some(SessionCredentials::new("compatadmin", "compatadmin1"));
    cluster
        .create_topic("AclCompat", 2)
        .await
        .expect("create the topic as the admin");
    cluster
}

fn stored(cluster: &LocalCluster) -> i64 {
    let store = &cluster.brokers[0].context().store;
    (0..2).map(|q| store.max_offset("AclCompat", q)).sum()
}

fn run(mut cmd: Command) -> (bool, String, String) {
    let out = cmd.output().expect("start the compat script");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs third-party clients (C++ client via COMPAT_PYTHON, ali-ons via COMPAT_NODE_MODULES): .ci/run runs these with --include-ignored"]
async fn cpp_client_session_credentials() {
    let Some(python) = tools::python() else {
        tools::missing("the C++ client (PyPI rocketmq 0.4.4; COMPAT_PYTHON)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path()).await;
    let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp-acl-home");
    std::fs::create_dir_all(&home).expect("home");
    let mut cmd = Command::new(python);
    cmd.arg(tools::compat_dir().join("cpp_acl.py"))
        .args([
            &cluster.namesrv_addr(),
            "AclCompat",
            "compatuser",
            "compatsecret1",
        ])
        .arg(N.to_string())
        .env("HOME", &home);
    let (ok, stdout, stderr) = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::task::spawn_blocking(move || run(cmd)),
    )
    .await
    .expect("script timed out")
    .expect("join");
    println!("{stdout}");
    let held = stored(&cluster);
    cluster.shutdown().await;
    assert!(
        ok,
        "C++ client ACL run failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(held, N, "the broker holds exactly the signed messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs third-party clients (C++ client via COMPAT_PYTHON, ali-ons via COMPAT_NODE_MODULES): .ci/run runs these with --include-ignored"]
async fn ali_ons_access_key_secret_key() {
    let Some(node_modules) = tools::node_modules() else {
        tools::missing("ali-ons 3.12 (npm; COMPAT_NODE_MODULES)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster(dir.path()).await;
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new("node");
    cmd.arg(tools::compat_dir().join("ali_ons_acl.js"))
        .args([
            &cluster.namesrv_addr(),
            "AclCompat",
            "compatuser",
            "compatsecret1",
        ])
        .arg(N.to_string())
        .env("NODE_PATH", node_modules)
        .env("HOME", home.path());
    let (ok, stdout, stderr) = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::task::spawn_blocking(move || run(cmd)),
    )
    .await
    .expect("script timed out")
    .expect("join");
    println!("{stdout}");
    let held = stored(&cluster);
    cluster.shutdown().await;
    assert!(
        ok,
        "ali-ons ACL run failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(held, N, "the broker holds exactly the signed messages");
}
