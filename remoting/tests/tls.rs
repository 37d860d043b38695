//! TLS on the remoting port with certificates made here (rcgen): `enforcing` serves TLS clients
//! and drops plain ones, `permissive` serves both on one port (told apart by the first byte),
//! `disabled` (and no TLS settings) stays plain; a client trusting another CA is refused; with
//! `tls.server.need.client.auth=require` only a client with a certificate gets in.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use remoting::tls::{TlsClient, TlsServer};
use remoting::{ClientConfig, ExtFields, RemotingClient, RemotingCommand, ServerConfig};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files;
/// and a second, unrelated CA.
fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    write(dir.path(), "ca.pem", &ca.pem());

    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &ca, &ca_key).unwrap();
    write(dir.path(), "server.pem", &server_cert.pem());
    write(dir.path(), "server.key", &server_key.serialize_pem());

    let mut client = CertificateParams::new(vec!["client".to_string()]).unwrap();
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &ca, &ca_key).unwrap();
    write(dir.path(), "client.pem", &client_cert.pem());
    write(dir.path(), "client.key", &client_key.serialize_pem());

    let mut other = CertificateParams::new(Vec::<String>::new()).unwrap();
    other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other_key = KeyPair::generate().unwrap();
    write(
        dir.path(),
        "other-ca.pem",
        &other.self_signed(&other_key).unwrap().pem(),
    );
    Pki { dir }
}

fn server_props(pki: &Pki, mode: &str) -> BTreeMap<String, String> {
    [
        ("tls.server.mode", mode.to_string()),
        ("tls.server.certPath", pki.path("server.pem")),
        ("tls.server.keyPath", pki.path("server.key")),
        ("tls.server.trustCertPath", pki.path("ca.pem")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn server(props: &BTreeMap<String, String>) -> TestServer {
    let tls = TlsServer::from_properties(props).unwrap();
    start_on(
        "127.0.0.1:0",
        Arc::new(TestHandler),
        ServerConfig {
            tls: Some(tls),
            ..Default::default()
        },
    )
    .await
}

fn tls_client(trust: &str, own: Option<(&str, &str)>) -> RemotingClient {
    RemotingClient::new(ClientConfig {
        connect_timeout: Duration::from_secs(5),
        tls: Some(TlsClient::new(trust, own).unwrap()),
        ..Default::default()
    })
}

async fn echo(c: &RemotingClient, addr: &str, body: Vec<u8>) -> remoting::Result<Vec<u8>> {
    let req = RemotingCommand::request(ECHO_CODE, ExtFields::new()).with_body(body);
    c.invoke_ok(addr, req, Duration::from_secs(10))
        .await
        .map(|r| r.body.to_vec())
}

#[tokio::test]
async fn enforcing_permissive_and_disabled() {
    let pki = pki();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();

    let s = server(&server_props(&pki, "enforcing")).await;
    let addr = s.addr.to_string();
    let tls = tls_client(&pki.path("ca.pem"), None);
    assert_eq!(echo(&tls, &addr, body.clone()).await.unwrap(), body);
    assert!(
        echo(&client(), &addr, b"plain".to_vec()).await.is_err(),
        "a plain client was served by an enforcing port"
    );
    let wrong_ca = tls_client(&pki.path("other-ca.pem"), None);
    assert!(
        echo(&wrong_ca, &addr, b"x".to_vec()).await.is_err(),
        "a client trusting another CA accepted the server"
    );
    s.stop().await;

    let s = server(&server_props(&pki, "permissive")).await;
    let addr = s.addr.to_string();
    assert_eq!(echo(&tls, &addr, body.clone()).await.unwrap(), body);
    assert_eq!(
        echo(&client(), &addr, body.clone()).await.unwrap(),
        body,
        "a plain client was refused by a permissive port"
    );
    s.stop().await;

    let s = server(&server_props(&pki, "disabled")).await;
    let addr = s.addr.to_string();
    assert!(echo(&tls, &addr, b"x".to_vec()).await.is_err());
    assert_eq!(echo(&client(), &addr, b"p".to_vec()).await.unwrap(), b"p");
    s.stop().await;
}

#[tokio::test]
async fn client_certificates_when_required() {
    let pki = pki();
    let mut props = server_props(&pki, "enforcing");
    props.insert("tls.server.need.client.auth".into(), "require".into());
    let s = server(&props).await;
    let addr = s.addr.to_string();
    let anonymous = tls_client(&pki.path("ca.pem"), None);
    assert!(echo(&anonymous, &addr, b"x".to_vec()).await.is_err());
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let with_cert = tls_client(&pki.path("ca.pem"), Some((&cert, &key)));
    assert_eq!(
        echo(&with_cert, &addr, b"ok".to_vec()).await.unwrap(),
        b"ok"
    );
    s.stop().await;
}

#[test]
fn bad_settings_are_errors() {
    let pki = pki();
    let mut props = server_props(&pki, "sometimes");
    assert!(TlsServer::from_properties(&props).is_err());
    props.insert("tls.server.mode".into(), "enforcing".into());
    props.insert("tls.server.certPath".into(), pki.path("absent.pem"));
    let err = TlsServer::from_properties(&props)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("absent.pem"), "{err}");
    assert!(
        TlsServer::from_properties(&BTreeMap::new()).unwrap().mode()
            == remoting::tls::TlsMode::Disabled
    );
}

/// Request/response throughput plain vs TLS (permissive port, so the same server serves both),
/// for BENCHMARKS.md: `cargo test --release -p remoting --test tls -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run by hand for BENCHMARKS.md"]
async fn throughput_plain_vs_tls() {
    let pki = pki();
    let s = server(&server_props(&pki, "permissive")).await;
    let addr = s.addr.to_string();
    let tls = tls_client(&pki.path("ca.pem"), None);
    let plain = client();
    for size in [1024usize, 16 * 1024] {
        for (name, c) in [
            ("plain", &plain),
            ("tls", &tls),
            ("plain", &plain),
            ("tls", &tls),
        ] {
            let body = vec![7u8; size];
            let n = 20_000 * 1024 / size.max(1024);
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..32 {
                let (c, addr, body) = (c.clone(), addr.clone(), body.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..n / 32 {
                        echo(&c, &addr, body.clone()).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{name:5} body {size:6} B: {:8.0} req/s, {:7.1} MiB/s each way",
                n as f64 / secs,
                (n * size) as f64 / secs / (1 << 20) as f64
            );
        }
    }
    s.stop().await;
}

/// A renewed certificate is served without a restart: the server reads its files again when
/// they change (as a Kubernetes Secret volume or cert-manager renews them); a broken renewal
/// keeps the previous pair.
#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let (old, new) = (pki(), pki());
    let live = tempfile::tempdir().unwrap();
    let cert = live.path().join("tls.crt");
    let key = live.path().join("tls.key");
    std::fs::copy(old.path("server.pem"), &cert).unwrap();
    std::fs::copy(old.path("server.key"), &key).unwrap();
    let props: BTreeMap<String, String> = [
        ("tls.server.mode", "enforcing".to_string()),
        ("tls.server.certPath", cert.display().to_string()),
        ("tls.server.keyPath", key.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let srv = server(&props).await;
    let addr = srv.addr.to_string();
    // A fresh client each time: a new connection, a new handshake.
    let works = |ca: String| {
        let addr = addr.clone();
        async move {
            echo(&tls_client(&ca, None), &addr, b"x".to_vec())
                .await
                .is_ok()
        }
    };
    assert!(works(old.path("ca.pem")).await);
    assert!(!works(new.path("ca.pem")).await);

    // Renewal: key first, then certificate (a reader may see the pair half-way).
    std::fs::copy(new.path("server.key"), &key).unwrap();
    std::fs::copy(new.path("server.pem"), &cert).unwrap();
    let mut renewed = false;
    for _ in 0..100 {
        if works(new.path("ca.pem")).await {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(renewed, "the renewed certificate was never served");
    assert!(!works(old.path("ca.pem")).await, "the old one is gone");

    // A broken renewal (a truncated certificate) keeps the pair in use.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(works(new.path("ca.pem")).await);
    srv.stop().await;
}
