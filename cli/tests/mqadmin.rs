//! The `mqadmin` binary as a process against real name servers started in-process, with fake
//! brokers registered through real REGISTER_BROKER requests (one of them also answers
//! GET_BROKER_RUNTIME_INFO, as clusterList needs).

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use remoting::body::kv::KVTable;
use remoting::body::route::TopicRouteData;
use remoting::body::topic::{RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper};
use remoting::header::namesrv::{
    GetKVConfigRequestHeader, GetKVConfigResponseHeader, RegisterBrokerRequestHeader,
};
use remoting::{
    ClientConfig, CommandHeader, Connection, RemotingClient, RemotingCommand, RequestCode,
    RequestHandler, ResponseCode, ServerConfig,
};
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(5);

async fn start_namesrv(dir: &std::path::Path) -> NameServerHandle {
    NameServer::start(NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.join("kvConfig.json"),
        ..NamesrvConfig::default()
    })
    .await
    .unwrap()
}

/// Answers GET_BROKER_RUNTIME_INFO like a Java broker (subset of keys clusterList reads).
struct RuntimeInfoBroker;

impl RequestHandler for RuntimeInfoBroker {
    fn handle<'a>(
        &'a self,
        _conn: &'a Connection,
        req: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            if req.request_code() != RequestCode::GET_BROKER_RUNTIME_INFO {
                return Some(remoting::connection::not_supported(&req));
            }
            let table = [
                ("brokerVersionDesc", "V4_9_8"),
                ("brokerVersion", "409"),
                ("putTps", "12.50 11.0 10.0"),
                ("getTransferedTps", "3.00 2.0 1.0"),
                ("sendThreadPoolQueueSize", "1"),
                ("sendThreadPoolQueueHeadWaitTimeMills", "2"),
                ("pullThreadPoolQueueSize", "3"),
                ("pullThreadPoolQueueHeadWaitTimeMills", "4"),
                ("pageCacheLockTimeMills", "5"),
                ("earliestMessageTimeStamp", "0"),
                ("commitLogDiskRatio", "0.25"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            Some(req.success().with_body(KVTable { table }.encode().unwrap()))
        })
    }
}

/// Registers a broker over its own client (kept alive by the returned value).
async fn register(
    namesrvs: &[&str],
    cluster: &str,
    name: &str,
    id: i64,
    addr: &str,
    topics: &[&str],
) -> RemotingClient {
    let client = RemotingClient::new(ClientConfig::default());
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table: topics
                .iter()
                .map(|t| (t.to_string(), TopicConfig::with_queues(*t, 4, 4, 6)))
                .collect(),
            ..Default::default()
        },
        filter_server_list: vec![],
    };
    let bytes = body.encode(false).unwrap();
    let header = RegisterBrokerRequestHeader {
        broker_name: name.into(),
        broker_addr: addr.into(),
        cluster_name: cluster.into(),
        ha_server_addr: format!("{addr}-ha"),
        broker_id: id,
        compressed: Some(false),
        body_crc32: Some(RegisterBrokerBody::crc32(&bytes)),
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
    };
    for ns in namesrvs {
        let req = RemotingCommand::request(RequestCode::REGISTER_BROKER, header.to_ext())
            .with_body(bytes.clone());
        client.invoke_ok(ns, req, TIMEOUT).await.unwrap();
    }
    client
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn mqadmin(args: &[&str]) -> Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .await
        .unwrap();
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An address nothing listens on.
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_list_topics_routes_and_perms() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();

    // broker-a's master is a real socket answering runtime info; its slave does not exist.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a0_addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(remoting::serve(
        listener,
        Arc::new(RuntimeInfoBroker),
        ServerConfig::default(),
        stop.clone(),
    ));
    let a1_addr = dead_addr();
    let b0_addr = dead_addr();
    let _a0 = register(
        &[&ns_addr],
        "C1",
        "broker-a",
        0,
        &a0_addr,
        &["TopicA", "Shared"],
    )
    .await;
    let _a1 = register(&[&ns_addr], "C1", "broker-a", 1, &a1_addr, &[]).await;
    let _b0 = register(&[&ns_addr], "C2", "broker-b", 0, &b0_addr, &["Shared"]).await;

    // A dead name server first in the list: mqadmin moves on to the live one.
    let list = format!("{};{ns_addr}", dead_addr());
    let out = mqadmin(&["clusterList", "-n", &list]).await;
    assert!(out.ok, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert!(lines[0].starts_with("#Cluster Name     #Broker Name            #BID  #Addr"));
    let a0 = lines.iter().find(|l| l.contains(&a0_addr)).unwrap();
    assert!(
        a0.starts_with("C1                broker-a                0     "),
        "{a0}"
    );
    assert!(a0.contains("V4_9_8"), "{a0}");
    assert!(
        a0.contains("12.50(1,2ms)") && a0.contains("3.00(3,4ms)"),
        "{a0}"
    );
    assert!(a0.ends_with(" 0.2500"), "{a0}");
    // Unreachable brokers keep their row, with blanks and zeros.
    let a1 = lines.iter().find(|l| l.contains(&a1_addr)).unwrap();
    assert!(
        a1.starts_with("C1                broker-a                1     "),
        "{a1}"
    );
    assert!(
        a1.contains("0.00(0,0ms)") && a1.ends_with(" 0.0000"),
        "{a1}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("C2                broker-b"))
    );

    let out = mqadmin(&["topicList", "-n", &ns_addr]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["Shared", "TopicA"]);

    let out = mqadmin(&["topicRoute", "-n", &ns_addr, "-t", "Shared"]).await;
    assert!(out.ok, "{}", out.stderr);
    let route = TopicRouteData::decode(out.stdout.as_bytes()).unwrap();
    assert_eq!(route.queue_datas.len(), 2);
    let out = mqadmin(&["topicRoute", "--namesrvAddr", &ns_addr, "--topic=Missing"]).await;
    assert!(!out.ok);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("No route info of this topic: Missing"),
        "{}",
        out.stderr
    );

    let out = mqadmin(&["wipeWritePerm", "-n", &ns_addr, "-b", "broker-a"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("wipe write perm of broker[broker-a] in name server[{ns_addr}] OK, 2")
    );
    let out = mqadmin(&["topicRoute", "-n", &ns_addr, "-t", "TopicA"]).await;
    let route = TopicRouteData::decode(out.stdout.as_bytes()).unwrap();
    assert_eq!(route.queue_datas[0].perm, 4);
    let out = mqadmin(&["addWritePerm", "-n", &ns_addr, "-b", "broker-a"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("add write perm of broker[broker-a] in name server[{ns_addr}] OK, 2")
    );
    stop.cancel();
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_and_config_commands_reach_every_name_server() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let ns1 = start_namesrv(d1.path()).await;
    let ns2 = start_namesrv(d2.path()).await;
    let (a1, a2) = (ns1.local_addr().to_string(), ns2.local_addr().to_string());
    let list = format!("{a1};{a2}");

    let out = mqadmin(&[
        "updateKvConfig",
        "-n",
        &list,
        "-s",
        "ORDER_TOPIC_CONFIG",
        "-k",
        "T",
        "-v",
        "broker-a:4",
    ])
    .await;
    assert!(out.ok, "{}", out.stderr);
    let client = RemotingClient::new(ClientConfig::default());
    let get = GetKVConfigRequestHeader {
        namespace: "ORDER_TOPIC_CONFIG".into(),
        key: "T".into(),
    };
    for addr in [&a1, &a2] {
        let req = RemotingCommand::request(RequestCode::GET_KV_CONFIG, get.to_ext());
        let resp = client.invoke_ok(addr, req, TIMEOUT).await.unwrap();
        let h: GetKVConfigResponseHeader = resp.ext_fields.decode().unwrap();
        assert_eq!(h.value.as_deref(), Some("broker-a:4"));
    }
    let out = mqadmin(&[
        "deleteKvConfig",
        "-n",
        &list,
        "-s",
        "ORDER_TOPIC_CONFIG",
        "-k",
        "T",
    ])
    .await;
    assert!(out.ok, "{}", out.stderr);
    for addr in [&a1, &a2] {
        let req = RemotingCommand::request(RequestCode::GET_KV_CONFIG, get.to_ext());
        let resp = client.invoke(addr, req, TIMEOUT).await.unwrap();
        assert_eq!(resp.response_code(), ResponseCode::QUERY_NOT_FOUND);
    }

    let out = mqadmin(&["getNamesrvConfig", "-n", &list]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("============{a1}============"))
    );
    assert!(
        out.stdout
            .contains(&format!("============{a2}============"))
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("listenPort") && l.ends_with("=  0"))
    );

    let out = mqadmin(&[
        "updateNamesrvConfig",
        "-n",
        &a1,
        "-k",
        "kvConfigPath",
        "-v",
        "/tmp/x",
    ])
    .await;
    assert!(!out.ok);
    assert!(out.stderr.contains("NO_PERMISSION"), "{}", out.stderr);
    assert_eq!(ns1.config().kv_config_path, d1.path().join("kvConfig.json"));
    let out = mqadmin(&[
        "updateNamesrvConfig",
        "-n",
        &a1,
        "-k",
        "orderMessageEnable",
        "-v",
        "true",
    ])
    .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(ns1.config().order_message_enable && !ns2.config().order_message_enable);
    ns1.shutdown().await;
    ns2.shutdown().await;
}

#[tokio::test]
async fn errors_are_one_line_and_help_works() {
    let dead = dead_addr();
    let out = mqadmin(&["clusterList", "-n", &dead]).await;
    assert!(!out.ok);
    assert_eq!(
        out.stderr,
        format!("connect to {dead} failed: Connection refused\n")
    );

    let out = mqadmin(&["topicRoute", "-n", &dead]).await;
    assert!(!out.ok);
    assert_eq!(out.stderr.lines().count(), 1);
    assert!(
        out.stderr.contains("Missing required option: t"),
        "{}",
        out.stderr
    );

    let out = mqadmin(&["noSuchCommand"]).await;
    assert!(!out.ok && out.stderr.contains("noSuchCommand"));
    let out = mqadmin(&["clusterList"]).await;
    assert!(
        !out.ok && out.stderr.contains("NAMESRV_ADDR"),
        "{}",
        out.stderr
    );

    let out = mqadmin(&["help"]).await;
    assert!(out.ok);
    for name in [
        "clusterList",
        "topicList",
        "topicRoute",
        "updateKvConfig",
        "deleteKvConfig",
        "getNamesrvConfig",
        "wipeWritePerm",
    ] {
        assert!(out.stdout.contains(name), "{name}");
    }
    let out = mqadmin(&["help", "updateKvConfig"]).await;
    assert!(out.ok);
    assert!(
        out.stdout.starts_with(
            "usage: mqadmin updateKvConfig [-h] -k <arg> [-n <arg>] -s <arg> -v <arg>"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("-n,--namesrvAddr <arg>"));
    let out = mqadmin(&["topicRoute", "-h"]).await;
    assert!(out.ok && out.stdout.contains("-t,--topic <arg>"));
    let out = mqadmin(&["help", "nope"]).await;
    assert!(!out.ok);
}

/// `mqadmin --version`, and `mqadmin … | head` (the reader gone before the output is written):
/// no "Broken pipe" error, exit 0.
#[test]
fn version_and_a_closed_pipe_end_quietly() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("mqadmin "));

    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .arg("help")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
