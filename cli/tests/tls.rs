//! TLS end to end with certificates made here (rcgen): a name server and a broker with
//! `tls.server.mode=enforcing` (the broker registering over TLS, `tls.enable=true`), driven by
//! `mqadmin` with `ROCKETMQ_TLS_TRUST_CERT_PATH`: topic creation through the name server's
//! cluster view, a send through the client library, the message read back; the same commands
//! without TLS fail.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use broker::{Broker, BrokerConfig};
use namesrv::{NameServer, NamesrvConfig};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType};

async fn run(ns: &str, args: &[&str], ca: Option<&str>) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"));
    cmd.args(args).args(["-n", ns]);
    match ca {
        Some(ca) => cmd.env("ROCKETMQ_TLS_TRUST_CERT_PATH", ca),
        None => cmd.env_remove("ROCKETMQ_TLS_TRUST_CERT_PATH"),
    };
    let out = cmd.output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqadmin_namesrv_and_broker_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(p("ca.pem"), ca.pem()).unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    std::fs::write(
        p("server.pem"),
        server.signed_by(&key, &ca, &ca_key).unwrap().pem(),
    )
    .unwrap();
    std::fs::write(p("server.key"), key.serialize_pem()).unwrap();

    let mut ns_config = NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.path().join("kvConfig.json"),
        config_store_path: dir.path().join("namesrv.properties"),
        ..NamesrvConfig::default()
    };
    for (k, v) in [
        ("tls.server.mode", "enforcing".to_string()),
        ("tls.server.certPath", p("server.pem")),
        ("tls.server.keyPath", p("server.key")),
    ] {
        assert!(ns_config.set(k, &v).unwrap());
    }
    let ns = NameServer::start(ns_config).await.unwrap();
    let ns_addr = ns.local_addr().to_string();
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
        tls_server_mode: Some("enforcing".into()),
        tls_server_cert_path: Some(p("server.pem")),
        tls_server_key_path: Some(p("server.key")),
        tls_enable: true,
        tls_client_trust_cert_path: Some(p("ca.pem")),
        ..BrokerConfig::default()
    })
    .await
    .unwrap();
    let ca_path = p("ca.pem");

    // Plain mqadmin: refused by the name server.
    let (ok, _, _) = run(&ns_addr, &["clusterList"], None).await;
    assert!(!ok, "a plain client was served by an enforcing name server");

    // Over TLS: the broker registered over TLS, so the cluster form finds it.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out, err) = run(
            &ns_addr,
            &["updateTopic", "-c", "DefaultCluster", "-t", "TlsTopic"],
            Some(&ca_path),
        )
        .await;
        if ok && out.contains("success") {
            break;
        }
        assert!(
            Instant::now() < end,
            "updateTopic over TLS never worked: {err}{out}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out, err) = run(
            &ns_addr,
            &["sendMessage", "-t", "TlsTopic", "-p", "over tls"],
            Some(&ca_path),
        )
        .await;
        if ok && out.contains("SEND_OK") {
            break;
        }
        assert!(
            Instant::now() < end,
            "sendMessage over TLS never worked: {err}{out}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (ok, out, err) = run(&ns_addr, &["topicStatus", "-t", "TlsTopic"], Some(&ca_path)).await;
    assert!(ok, "{err}{out}");
    b.shutdown().await;
    ns.shutdown().await;
}
