//! What foreign clients put on the wire (spec §14), sent over a plain TcpStream with hand-written
//! JSON headers; and the built `namesrv` binary run as a process.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use remoting::body::cluster::ClusterInfo;
use remoting::body::topic::RegisterBrokerBody;
use remoting::{ClientConfig, ExtFields, RemotingClient, RequestCode};
use serde_json::Value;

/// A JSON-header frame: total length, header length (serialize type 0), header, body.
fn frame(header: &str, body: &[u8]) -> Vec<u8> {
    let h = header.as_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + h.len() + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    out.extend_from_slice(h);
    out.extend_from_slice(body);
    out
}

fn read_frame(s: &mut TcpStream) -> (Value, Vec<u8>) {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut rest).unwrap();
    let meta = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    assert_eq!(
        meta >> 24,
        0,
        "answered in the request's (JSON) serialize type"
    );
    let hlen = (meta & 0xFF_FFFF) as usize;
    let header: Value = serde_json::from_slice(&rest[4..4 + hlen]).unwrap();
    (header, rest[4 + hlen..].to_vec())
}

fn exchange(s: &mut TcpStream, header: &str, body: &[u8]) -> (Value, Vec<u8>) {
    s.write_all(&frame(header, body)).unwrap();
    read_frame(s)
}

fn raw_connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpp_and_ali_ons_style_requests_get_correct_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start(dir.path()).await;
    let addr = ns.local_addr().to_string();
    let master = FakeBroker::new(&addr, "DefaultCluster", "broker-a", 0, "127.0.0.1:10911")
        .with_topic("TopicTest", 4);
    master.register().await;

    let addr2 = addr.clone();
    tokio::task::spawn_blocking(move || {
        let addr = addr2;
        let mut s = raw_connect(&addr);
        // The C++ client: language CPP, no serializeTypeCurrentRPC, remark "", extra keys.
        let cpp = r#"{"code":105,"language":"CPP","version":63,"opaque":7,"flag":0,"remark":"",
            "extFields":{"topic":"TopicTest","AccessKey":"","Signature":"c2lnbg==","OnsChannel":"ALIYUN"}}"#;
        let (h, body) = exchange(&mut s, cpp, b"");
        assert_eq!(h["code"], 0, "{h}");
        assert_eq!(h["opaque"], 7);
        assert_eq!(h["flag"].as_i64().unwrap() & 1, 1);
        let route: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(route["brokerDatas"][0]["brokerAddrs"]["0"], "127.0.0.1:10911");
        assert_eq!(route["brokerDatas"][0]["enableActingMaster"], false);
        assert_eq!(route["queueDatas"][0]["writeQueueNums"], 4);

        // Unknown topic over the same connection: TOPIC_NOT_EXIST with the remark.
        let missing = r#"{"code":105,"language":"CPP","version":63,"opaque":8,"flag":0,"remark":"",
            "extFields":{"topic":"Nope"}}"#;
        let (h, _) = exchange(&mut s, missing, b"");
        assert_eq!(h["code"], 17);
        assert_eq!(h["remark"], "No route info of this topic: Nope");

        // ali-ons: language JAVA, no serializeTypeCurrentRPC, numbers and booleans as values.
        let ons = r#"{"code":105,"language":"JAVA","version":317,"opaque":9,"flag":0,
            "extFields":{"topic":"TopicTest","acceptStandardJsonOnly":true,"retry":3}}"#;
        let (h, body) = exchange(&mut s, ons, b"");
        assert_eq!(h["code"], 0, "{h}");
        assert!(!body.is_empty());

        // A registration with a JSON number brokerId, boolean compressed and numeric CRC.
        let reg_body = br#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"CppTopic":{"topicName":"CppTopic","readQueueNums":2,"writeQueueNums":2,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false}},"dataVersion":{"timestamp":1,"counter":1}},"filterServerList":[]}"#;
        let crc = RegisterBrokerBody::crc32(reg_body);
        let reg = format!(
            r#"{{"code":103,"language":"CPP","version":63,"opaque":10,"flag":0,"remark":"",
            "extFields":{{"brokerName":"broker-cpp","brokerAddr":"127.0.0.1:12911","clusterName":"DefaultCluster",
            "haServerAddr":"127.0.0.1:12912","brokerId":0,"compressed":false,"bodyCrc32":{crc}}}}}"#
        );
        let (h, _) = exchange(&mut s, &reg, reg_body);
        assert_eq!(h["code"], 0, "{h}");
        let q = r#"{"code":105,"language":"OTHER_LANG","version":1,"opaque":11,"flag":0,"extFields":{"topic":"CppTopic"}}"#;
        let (h, body) = exchange(&mut s, q, b"");
        assert_eq!(h["code"], 0, "{h}");
        let route: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(route["brokerDatas"][0]["brokerName"], "broker-cpp");

        // Unknown code: REQUEST_CODE_NOT_SUPPORTED with a remark, connection still usable.
        let unknown = r#"{"code":4242,"language":"CPP","version":63,"opaque":12,"flag":0,"remark":""}"#;
        let (h, _) = exchange(&mut s, unknown, b"");
        assert_eq!(h["code"], 3);
        assert!(h["remark"].as_str().unwrap().contains("4242"));
        let (h, _) = exchange(&mut s, cpp, b"");
        assert_eq!(h["code"], 0);
        // Closing this raw connection unregisters the broker it registered.
        drop(s);
    })
    .await
    .unwrap();

    let client = RemotingClient::new(ClientConfig::default());
    eventually(
        "raw-registered broker removed when its socket closed",
        || async { route(&client, &addr, "CppTopic").await.is_err() },
    )
    .await;
    assert!(route(&client, &addr, "TopicTest").await.is_ok());
    ns.shutdown().await;
}

/// Kills the child on drop so a failing test leaves no process behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_namesrv(conf: &std::path::Path) -> (ChildGuard, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_namesrv"))
        .arg("-c")
        .arg(conf)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(line.contains("boot success"), "{line:?}");
    (guard, addr)
}

#[tokio::test]
async fn the_binary_serves_two_clusters_and_expires_brokers() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("namesrv.conf");
    std::fs::write(
        &conf,
        format!(
            "listenPort=0\nbindAddress=127.0.0.1\nkvConfigPath={}\nbrokerChannelExpiredTime=400\nscanNotActiveBrokerInterval=50\n",
            dir.path().join("kv").join("kvConfig.json").display()
        ),
    )
    .unwrap();
    let (_child, addr) = spawn_namesrv(&conf);

    let a0 = FakeBroker::new(&addr, "C1", "broker-a", 0, "127.0.0.1:20911").with_topic("T", 4);
    let a1 = FakeBroker::new(&addr, "C1", "broker-a", 1, "127.0.0.1:21911");
    let b0 = FakeBroker::new(&addr, "C2", "broker-b", 0, "127.0.0.1:30911").with_topic("T", 2);
    let b1 = FakeBroker::new(&addr, "C2", "broker-b", 1, "127.0.0.1:31911");
    a0.register().await;
    b0.register().await;
    assert_eq!(
        a1.register().await.master_addr.as_deref(),
        Some("127.0.0.1:20911")
    );
    assert_eq!(
        b1.register().await.master_addr.as_deref(),
        Some("127.0.0.1:30911")
    );

    let client = RemotingClient::new(ClientConfig::default());
    let r = route(&client, &addr, "T").await.unwrap();
    assert_eq!(r.queue_datas.len(), 2);
    assert!(r.broker_datas.iter().all(|b| b.broker_addrs.len() == 2));
    let resp = call(
        &client,
        &addr,
        RequestCode::GET_BROKER_CLUSTER_INFO,
        ExtFields::new(),
    )
    .await;
    let info = ClusterInfo::decode(&resp.body).unwrap();
    assert_eq!(info.cluster_addr_table.len(), 2);

    // a0 closes its connection: gone at once; the others fall silent and expire.
    a0.client.shutdown();
    eventually("closed master removed", || async {
        route(&client, &addr, "T").await.is_ok_and(|r| {
            r.broker_datas
                .iter()
                .find(|b| b.broker_name == "broker-a")
                .is_none_or(|b| b.master_addr().is_none())
        })
    })
    .await;
    eventually("silent brokers expired", || async {
        route(&client, &addr, "T").await.is_err()
    })
    .await;
}

#[test]
fn print_config_and_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("namesrv.conf");
    std::fs::write(&conf, "listenPort=9999\nkvConfigPath=/data/kv.json\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_namesrv"))
        .args(["-c", conf.to_str().unwrap(), "-p"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listenPort=9999\n"), "{text}");
    assert!(text.contains("kvConfigPath=/data/kv.json\n"), "{text}");

    std::fs::write(&conf, "listenPort=not-a-port\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_namesrv"))
        .args(["-c", conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listenPort"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_connections_do_not_disturb_a_live_client() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start(dir.path()).await;
    let addr = ns.local_addr().to_string();
    let broker = FakeBroker::new(&addr, "C", "b", 0, "127.0.0.1:10911").with_topic("Live", 2);
    broker.register().await;
    let client = RemotingClient::new(ClientConfig::default());
    assert!(route(&client, &addr, "Live").await.is_ok());

    let addr2 = addr.clone();
    tokio::task::spawn_blocking(move || {
        let garbage: [&[u8]; 4] = [
            b"GET / HTTP/1.1\r\n\r\n",
            &[0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0], // 2 GiB length prefix
            &[0, 0, 0, 8, 0, 0, 1, 0, b'{', b'}', 0, 0], // header longer than the frame
            &frame("{not json", b""),
        ];
        for bytes in garbage {
            let mut s = raw_connect(&addr2);
            let _ = s.write_all(bytes);
            // The server closes the connection (EOF or reset), it does not hang or crash.
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
        }
        for _ in 0..200 {
            drop(raw_connect(&addr2));
        }
    })
    .await
    .unwrap();

    // The live client and the registered broker are unaffected.
    let r = route(&client, &addr, "Live").await.unwrap();
    assert_eq!(r.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
    ns.shutdown().await;
}

/// A newcomer's first contact: `--version`, a config typo with RUST_BACKTRACE=1 set (one line,
/// no backtrace), and a misspelled key started as the seed does (`nohup … > /dev/null 2>&1`):
/// the warning is in `~/logs/rocketmqlogs/namesrv.log`, written after logging started.
#[test]
fn one_line_errors_version_and_warnings_in_the_log_file() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_namesrv"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("namesrv "),
        "{out:?}"
    );

    let conf = home.path().join("namesrv.conf");
    std::fs::write(&conf, "listenPort=not-a-port\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_namesrv"))
        .arg("-c")
        .arg(&conf)
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("listenPort") && err.contains("not-a-port"),
        "{err}"
    );

    std::fs::write(&conf, "listenPort=0\nlistenPrt=9876\n").unwrap();
    let mut child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_namesrv"))
            .arg("-c")
            .arg(&conf)
            .env_remove("RUST_LOG")
            .env_remove("ROCKETMQ_LOG_DIR")
            .env("HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("boot success"), "{line:?}");
    let log = home.path().join("logs/rocketmqlogs/namesrv.log");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("unknown name server config key ignored") && text.contains("listenPrt"),
        "{text}"
    );
    assert!(text.contains("name server started"), "{text}");
}

/// `logFormat=json` and `logDir` from the config file: one JSON object per line in
/// `<logDir>/namesrv.log`, and the logging keys are not reported as unknown.
#[test]
fn json_logs_in_the_configured_directory() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let conf = dir.path().join("namesrv.conf");
    std::fs::write(
        &conf,
        format!(
            "listenPort=0\nkvConfigPath={}\nlogFormat=json\nlogDir={}\nlogLevel=info,namesrv=debug\n",
            dir.path().join("kv.json").display(),
            logs.display()
        ),
    )
    .unwrap();
    let mut child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_namesrv"))
            .arg("-c")
            .arg(&conf)
            .env_remove("RUST_LOG")
            .env_remove("ROCKETMQ_LOG_DIR")
            .env_remove("ROCKETMQ_LOG_FORMAT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("boot success"), "{line:?}");
    let text = std::fs::read_to_string(logs.join("namesrv.log")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "name server started" && e["level"] == "INFO"),
        "{text}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["ts"].is_string() && e["target"].is_string()),
        "{text}"
    );
    assert!(!text.contains("unknown name server config key"), "{text}");
}
