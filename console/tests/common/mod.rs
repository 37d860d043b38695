//! What the console tests share: a real name server and broker in this process (ports from the
//! kernel), a console served on a fresh listener, a tiny HTTP/1.1 client, and `mqadmin` run as
//! a library (the same code as the binary) for the figures the console must agree with.

#![allow(dead_code)] // each test binary uses its own subset
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::Path;
use std::time::{Duration, Instant};

use broker::{Broker, BrokerConfig, BrokerHandle};
use console::{ConsoleConfig, ConsoleHandle};
use namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-broker cluster.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub ns: NameServerHandle,
    pub broker: BrokerHandle,
    pub ns_addr: String,
}

impl Cluster {
    /// Starts a name server and broker-a on 127.0.0.1 and waits until the broker is listed.
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ns = NameServer::start(NamesrvConfig {
            bind_address: "127.0.0.1".into(),
            listen_port: 0,
            kv_config_path: dir.path().join("kvConfig.json"),
            config_store_path: dir.path().join("namesrv.properties"),
            ..NamesrvConfig::default()
        })
        .await
        .unwrap();
        let ns_addr = ns.local_addr().to_string();
        let broker = start_broker(&dir.path().join("store"), &ns_addr).await;
        let c = Cluster {
            dir,
            ns,
            broker,
            ns_addr,
        };
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let out = mqadmin(&c.ns_addr, &["clusterList"]).await;
            if out.as_ref().is_ok_and(|o| o.contains("broker-a")) {
                break;
            }
            assert!(Instant::now() < end, "broker never registered: {out:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c
    }

    /// Stops the broker and the name server.
    pub async fn shutdown(self) {
        self.broker.shutdown().await;
        self.ns.shutdown().await;
    }
}

/// broker-a on a free port with small segments, registering every second.
pub async fn start_broker(store: &Path, namesrv: &str) -> BrokerHandle {
    Broker::start(BrokerConfig {
        broker_name: "broker-a".into(),
        broker_ip1: Some("127.0.0.1".into()),
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: Some(namesrv.into()),
        store_path_root_dir: store.display().to_string(),
        mapped_file_size_commit_log: 8 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        register_name_server_period: 1000,
        flush_consumer_offset_interval: 200,
        ..BrokerConfig::default()
    })
    .await
    .unwrap()
}

/// A console on a fresh loopback listener.
pub async fn start_console(ns_addr: &str, token: Option<&str>, read_only: bool) -> ConsoleHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ConsoleConfig {
        token: token.map(str::to_string),
        read_only,
        sample_interval: Duration::from_millis(500),
        ..ConsoleConfig::new(ns_addr)
    };
    console::serve(config, listener).await.unwrap()
}

/// One HTTP/1.1 request; returns the status and the body.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, Vec<u8>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: console\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    // hyper answers small bodies with Content-Length; no chunked decoding needed.
    (status, rest.as_bytes().to_vec(), head.to_string())
}

/// GET returning JSON.
pub async fn get_json(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (status, body, _) = http(addr, "GET", path, None, None).await;
    (status, serde_json::from_slice(&body).unwrap())
}

/// POST JSON returning JSON.
pub async fn post_json(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let (status, raw, _) = http(addr, "POST", path, token, Some(&body)).await;
    (status, serde_json::from_slice(&raw).unwrap())
}

/// Runs `mqadmin args -n ns` in-process; its stdout, or its one-line error.
pub async fn mqadmin(ns: &str, args: &[&str]) -> Result<String, String> {
    let mut argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    argv.extend(["-n".to_string(), ns.to_string()]);
    let mut out = Vec::new();
    match cli::run(&argv, &mut out).await {
        Ok(()) => Ok(String::from_utf8_lossy(&out).into_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Polls `f` every 100 ms for up to 30 s.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(Instant::now() < end, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `mqadmin topicStatus -t topic` as (broker, queue) → (min, max).
pub async fn mqadmin_topic_offsets(
    ns: &str,
    topic: &str,
) -> std::collections::BTreeMap<(String, i64), (i64, i64)> {
    let out = mqadmin(ns, &["topicStatus", "-t", topic]).await.unwrap();
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| {
                (
                    (f[0].to_string(), f[1].parse().unwrap()),
                    (f[2].parse().unwrap(), f[3].parse().unwrap()),
                )
            })
        })
        .collect()
}

/// `mqadmin consumerProgress -g group` as (topic, broker, queue) → diff, and the total.
pub async fn mqadmin_lag(
    ns: &str,
    group: &str,
) -> (std::collections::BTreeMap<(String, String, i64), i64>, i64) {
    let out = mqadmin(ns, &["consumerProgress", "-g", group])
        .await
        .unwrap();
    let mut rows = std::collections::BTreeMap::new();
    let mut total = None;
    for l in out.lines().skip(1) {
        if let Some(t) = l.strip_prefix("Diff Total: ") {
            total = Some(t.trim().parse().unwrap());
            continue;
        }
        // Java 4.9.7's layout without `-s true`: topic, broker, queue, broker offset, consumer
        // offset, diff, last time.
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 6 && f[2].parse::<i64>().is_ok() {
            rows.insert(
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap()),
                f[5].parse().unwrap(),
            );
        }
    }
    (rows, total.unwrap())
}

/// What [`populate`] made.
pub struct Scenario {
    /// A normal topic with 4 queues and `sent` messages keyed `k0`, `k1`, ...
    pub topic: String,
    /// A consumer group that consumed the first `consumed` messages, now offline.
    pub group: String,
    /// Messages sent to `topic`.
    pub sent: i64,
    /// Messages the group consumed.
    pub consumed: i64,
    /// The group's dead-letter topic, holding one message.
    pub dlq: String,
}

/// Creates a topic, has a real push consumer consume part of it (so the group has offsets and
/// lag), and sends one message to the group's DLQ the way a consumer gives up on it.
pub async fn populate(c: &Cluster) -> Scenario {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use client::{
        ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, Message, MessageExt, Producer,
        ProducerConfig, PushConsumer, PushConsumerConfig,
    };
    let topic = "ConsoleT".to_string();
    let group = "CG-console".to_string();
    mqadmin(
        &c.ns_addr,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            &topic,
            "-r",
            "4",
            "-w",
            "4",
        ],
    )
    .await
    .unwrap();
    let ns = c.ns_addr.clone();
    let t = topic.clone();
    eventually("topic route", || {
        let (ns, t) = (ns.clone(), t.clone());
        async move { mqadmin(&ns, &["topicRoute", "-t", &t]).await.is_ok() }
    })
    .await;
    let producer = Producer::new(ProducerConfig::new("PG-console", c.ns_addr.clone())).unwrap();
    producer.start().await.unwrap();
    let consumed = 6;
    for i in 0..consumed {
        producer
            .send(
                Message::new(&topic, format!("body-{i}"))
                    .with_tags("TagA")
                    .with_key(format!("k{i}")),
            )
            .await
            .unwrap();
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    let consumer = PushConsumer::new(PushConsumerConfig::new(&group, c.ns_addr.clone())).unwrap();
    consumer.subscribe(&topic, "*").unwrap();
    consumer.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            s2.fetch_add(msgs.len(), Ordering::SeqCst);
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    consumer.start().await.unwrap();
    let s3 = seen.clone();
    eventually("consumed", || {
        let s3 = s3.clone();
        async move { s3.load(Ordering::SeqCst) >= consumed as usize }
    })
    .await;
    let (ns, g) = (c.ns_addr.clone(), group.clone());
    eventually("offsets committed", || {
        let (ns, g) = (ns.clone(), g.clone());
        async move { mqadmin_lag(&ns, &g).await.1 == 0 }
    })
    .await;
    consumer.shutdown().await;
    let sent = consumed + 4;
    for i in consumed..sent {
        producer
            .send(
                Message::new(&topic, format!("body-{i}"))
                    .with_tags("TagB")
                    .with_key(format!("k{i}")),
            )
            .await
            .unwrap();
    }
    // A consumer that gives up on a message sends it back with a negative delay level: the
    // broker stores it in %DLQ%<group>.
    let admin = client::Admin::new(client::ClientConfig::new(c.ns_addr.clone())).unwrap();
    let m = admin
        .query_message_by_key(&topic, "k0", 32, 0, i64::MAX)
        .await
        .unwrap()
        .pop()
        .unwrap();
    admin
        .instance()
        .send_message_back(&m, &group, -1, 16)
        .await
        .unwrap();
    let dlq = format!("%DLQ%{group}");
    let (ns, d) = (c.ns_addr.clone(), dlq.clone());
    eventually("DLQ message stored", || {
        let (ns, d) = (ns.clone(), d.clone());
        async move {
            mqadmin(&ns, &["topicStatus", "-t", &d]).await.is_ok()
                && mqadmin_topic_offsets(&ns, &d)
                    .await
                    .values()
                    .map(|(min, max)| max - min)
                    .sum::<i64>()
                    == 1
        }
    })
    .await;
    admin.shutdown().await;
    producer.shutdown().await;
    Scenario {
        topic,
        group,
        sent,
        consumed,
        dlq,
    }
}
