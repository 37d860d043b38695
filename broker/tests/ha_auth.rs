//! The HA port with `haAuthSecretFile`: a rogue peer (one that sends a slave's offset report
//! straight away, as a Java slave would, or answers the challenge without the secret) gets the
//! challenge and nothing else, never a commit-log byte; a slave with the same secret copies the
//! log byte for byte; a slave with another secret copies nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use broker::config::{BrokerConfig, BrokerRole};
use broker::{Broker, BrokerHandle};
use common::*;
use remoting::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "a-shared-ha-secret-0123456789";

fn cfg(dir: &std::path::Path, name: &str, role: BrokerRole, secret: &str) -> BrokerConfig {
    let file = dir.join(format!("{name}.secret"));
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let mut c = pair_config(&dir.join(name), None, role);
    c.ha_housekeeping_interval = 2000;
    c.ha_send_heartbeat_interval = 500;
    c.ha_auth_secret_file = Some(file.display().to_string());
    c
}

fn max_offset(b: &BrokerHandle) -> i64 {
    b.context()
        .message_store
        .clone()
        .unwrap()
        .commit_log_max_offset()
}

/// Everything the master sends a peer that behaves as `script` says, until it closes.
async fn rogue(ha: &str, answer: Option<Vec<u8>>) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(ha).await.unwrap();
    match answer {
        // A Java-style slave: its offset report (0: "send me everything") at once.
        None => s.write_all(&0i64.to_be_bytes()).await.unwrap(),
        Some(a) => {
            let mut hello = [0u8; 40];
            s.read_exact(&mut hello).await.unwrap();
            s.write_all(&a).await.unwrap();
            s.write_all(&0i64.to_be_bytes()).await.unwrap();
            let mut all = hello.to_vec();
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut rest)).await;
            all.extend(rest);
            return all;
        }
    }
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rogue_peers_get_no_commit_log_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let master = Broker::start(cfg(dir.path(), "m", BrokerRole::AsyncMaster, SECRET))
        .await
        .unwrap();
    let maddr = master.local_addr().to_string();
    let client = remoting::RemotingClient::new(Default::default());
    for i in 0..50 {
        let r = send(
            &client,
            &maddr,
            "HaT",
            0,
            format!("secret payload {i}").as_bytes(),
            None,
            None,
        )
        .await;
        assert_eq!(r.code, ResponseCode::SUCCESS.0, "{:?}", r.remark);
    }
    let ha = format!("127.0.0.1:{}", master.context().ha.get().unwrap().ha_port());

    let got = rogue(&ha, None).await;
    assert_eq!(
        got.len(),
        40,
        "a peer without the handshake got {} bytes",
        got.len()
    );
    assert_eq!(&got[..8], b"RMQHAUT1");
    let got = rogue(&ha, Some(vec![7u8; 64])).await;
    assert_eq!(
        got.len(),
        40,
        "a peer with a forged answer got {} bytes",
        got.len()
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("secret payload"),
        "commit-log bytes leaked"
    );

    // A slave with another secret: refused, copies nothing. One with the secret: copies all.
    let mut wrong = cfg(
        dir.path(),
        "w",
        BrokerRole::Slave,
        "some-other-secret-987654",
    );
    wrong.ha_master_address = Some(ha.clone());
    let wrong = Broker::start(wrong).await.unwrap();
    let mut good = cfg(dir.path(), "s", BrokerRole::Slave, SECRET);
    good.ha_master_address = Some(ha.clone());
    let good = Broker::start(good).await.unwrap();
    let target = max_offset(&master);
    let mut caught_up = false;
    for _ in 0..3000 {
        if max_offset(&good) == target {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(caught_up, "the slave with the secret never caught up");
    assert_eq!(
        max_offset(&wrong),
        0,
        "a slave with the wrong secret got commit-log bytes"
    );
    let wrong_view = wrong.context().ha.get().unwrap().slave_view();
    assert!(!wrong_view.connected);
    good.shutdown().await;
    wrong.shutdown().await;
    master.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_or_short_secret_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path(), "m", BrokerRole::AsyncMaster, "short");
    let err = Broker::start(c.clone())
        .await
        .err()
        .expect("started with a short secret");
    assert!(err.to_string().contains("at least 16"), "{err}");
    c.ha_auth_secret_file = Some(dir.path().join("absent").display().to_string());
    let err = Broker::start(c)
        .await
        .err()
        .expect("started without the secret file");
    assert!(err.to_string().contains("absent"), "{err}");
}
