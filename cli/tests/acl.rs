//! The `mqadmin` ACL commands and credentials against a broker with `aclEnable=true`: without
//! credentials an admin command is refused; with an admin's (flags or environment) it works;
//! `updateAclConfig`, `getAccessConfigSubCommand`, `clusterAclConfigVersion`,
//! `updateGlobalWhiteAddr` and `deleteAccessConfig` change and show the broker's ACL file.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use broker::{Broker, BrokerConfig};
use common::start_namesrv;

const ACL: &str = "globalWhiteRemoteAddresses:
accounts:
  - accessKey: adminuser
    secretKey: adminsecret1
    admin: true
  - accessKey: plainuser
    secretKey: plainsecret1
    defaultTopicPerm: PUB
";

/// Runs mqadmin with `env` set (and the ACL variables cleared otherwise).
async fn run(ns: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"));
    cmd.args(args).args(["-n", ns]);
    cmd.env_remove("ROCKETMQ_ACCESS_KEY")
        .env_remove("ROCKETMQ_SECRET_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const ADMIN_ENV: &[(&str, &str)] = &[
    ("ROCKETMQ_ACCESS_KEY", "adminuser"),
    ("ROCKETMQ_SECRET_KEY", "adminsecret1"),
];

#[tokio::test]
async fn acl_commands_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let acl_file = dir.path().join("plain_acl.yml");
    std::fs::write(&acl_file, ACL).unwrap();
    let b = Broker::start(BrokerConfig {
        broker_name: "broker-a".into(),
        broker_ip1: Some("127.0.0.1".into()),
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: Some(ns_addr.clone()),
        store_path_root_dir: dir.path().join("store").display().to_string(),
        mapped_file_size_commit_log: 8 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        register_name_server_period: 1000,
        acl_enable: true,
        acl_plain_file: Some(acl_file.display().to_string()),
        ..BrokerConfig::default()
    })
    .await
    .unwrap();
    let addr = b.local_addr().to_string();

    // An admin command: refused unsigned, refused for a non-admin, done with the admin's
    // credentials given as flags.
    let create = ["updateTopic", "-b", addr.as_str(), "-t", "AclTopic"];
    let (ok, _, err) = run(&ns_addr, &create, &[]).await;
    assert!(!ok && err.contains("No accessKey"), "{err}");
    let mut as_plain = create.to_vec();
    as_plain.extend(["--accessKey", "plainuser", "--secretKey", "plainsecret1"]);
    let (ok, _, err) = run(&ns_addr, &as_plain, &[]).await;
    assert!(!ok && err.contains("Need admin permission"), "{err}");
    let mut as_admin = create.to_vec();
    as_admin.extend(["--accessKey=adminuser", "--secretKey", "adminsecret1"]);
    let (ok, out, err) = run(&ns_addr, &as_admin, &[]).await;
    assert!(ok, "{err}{out}");
    let (ok, _, err) = run(
        &ns_addr,
        &["updateTopic", "-b", &addr, "-t", "X", "--accessKey", "a"],
        &[],
    )
    .await;
    assert!(
        !ok && err.contains("both an access key and a secret key"),
        "{err}"
    );

    // updateAclConfig (admin credentials from the environment; -a/-s name the new account).
    let update = [
        "updateAclConfig",
        "-b",
        addr.as_str(),
        "-a",
        "newuser1",
        "-s",
        "newsecret1",
        "-t",
        "AclTopic=PUB,Other=DENY",
        "-i",
        "DENY",
    ];
    let (ok, _, err) = run(&ns_addr, &update, &[]).await;
    assert!(!ok && err.contains("No accessKey"), "{err}");
    let (ok, out, err) = run(&ns_addr, &update, ADMIN_ENV).await;
    assert!(
        ok && out.contains(&format!("to {addr} success")),
        "{err}{out}"
    );
    let file = std::fs::read_to_string(&acl_file).unwrap();
    assert!(
        file.contains("newuser1") && file.contains("AclTopic=PUB"),
        "{file}"
    );

    // The new account can send with its own credentials.
    let send = [
        "sendMessage",
        "-t",
        "AclTopic",
        "-p",
        "hello",
        "--accessKey",
        "newuser1",
        "--secretKey",
        "newsecret1",
    ];
    let (ok, out, err) = run(&ns_addr, &send, &[]).await;
    assert!(ok && out.contains("SEND_OK"), "{err}{out}");

    let (ok, out, err) = run(
        &ns_addr,
        &["getAccessConfigSubCommand", "-b", &addr],
        ADMIN_ENV,
    )
    .await;
    assert!(
        ok && out.contains("newuser1") && !out.contains("newsecret1"),
        "{err}{out}"
    );

    // The cluster form goes through the name server (once the broker has registered).
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out, err) = run(
            &ns_addr,
            &["clusterAclConfigVersion", "-c", "DefaultCluster"],
            ADMIN_ENV,
        )
        .await;
        if ok && out.contains(&addr) {
            assert!(out.contains("#AclConfigVersionNum"), "{out}");
            break;
        }
        assert!(Instant::now() < end, "{err}{out}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let (ok, out, err) = run(
        &ns_addr,
        &[
            "updateGlobalWhiteAddr",
            "-b",
            &addr,
            "-g",
            "10.10.103.*,192.168.0.*",
        ],
        ADMIN_ENV,
    )
    .await;
    assert!(ok, "{err}{out}");
    assert!(
        std::fs::read_to_string(&acl_file)
            .unwrap()
            .contains("10.10.103.*")
    );

    let (ok, out, err) = run(
        &ns_addr,
        &["deleteAccessConfig", "-b", &addr, "-a", "newuser1"],
        ADMIN_ENV,
    )
    .await;
    assert!(ok, "{err}{out}");
    let (ok, _, err) = run(&ns_addr, &send, &[]).await;
    assert!(!ok, "a deleted account could still send: {err}");
    b.shutdown().await;
    ns.shutdown().await;
}
