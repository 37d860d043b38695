//! Shared helpers of the client's integration tests: an in-process name server and brokers on
//! 127.0.0.1:0 with temp-dir stores, and client settings with short intervals.

#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::{Broker, BrokerConfig, BrokerHandle};
use client::{
    Admin, ClientConfig, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, Message,
    MessageExt, Producer, ProducerConfig, PullConsumer, PushConsumer, PushConsumerConfig,
};
use namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use parking_lot::Mutex;

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// An in-process name server on 127.0.0.1:0.
pub async fn start_namesrv(dir: &Path) -> NameServerHandle {
    let config = NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.join("kvConfig.json"),
        config_store_path: dir.join("namesrv.properties"),
        ..Default::default()
    };
    NameServer::start(config).await.unwrap()
}

/// A broker config advertising 127.0.0.1 with small files under `store`.
pub fn broker_config(name: &str, store: &Path, namesrv: &str) -> BrokerConfig {
    BrokerConfig {
        broker_name: name.into(),
        broker_ip1: Some("127.0.0.1".into()),
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: Some(namesrv.into()),
        store_path_root_dir: store.display().to_string(),
        mapped_file_size_commit_log: 8 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        register_name_server_period: 1000,
        flush_consumer_offset_interval: 200,
        ..Default::default()
    }
}

/// Starts a broker.
pub async fn start_broker(config: BrokerConfig) -> BrokerHandle {
    Broker::start(config).await.unwrap()
}

/// Client settings with short intervals.
pub fn client_config(namesrv: &str) -> ClientConfig {
    ClientConfig {
        namesrv_addr: namesrv.into(),
        client_ip: Some("127.0.0.1".parse().unwrap()),
        poll_name_server_interval: Duration::from_millis(500),
        heartbeat_broker_interval: Duration::from_millis(500),
        persist_consumer_offset_interval: Duration::from_millis(200),
        rpc_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

/// Producer settings for tests.
pub fn producer_config(group: &str, namesrv: &str) -> ProducerConfig {
    let mut c = ProducerConfig::new(group, namesrv);
    c.client = client_config(namesrv);
    c.send_timeout = Duration::from_secs(10);
    c
}

/// Push consumer settings for tests: fast rebalance, short holds, start from the beginning.
pub fn consumer_config(group: &str, namesrv: &str) -> PushConsumerConfig {
    let mut c = PushConsumerConfig::new(group, namesrv);
    c.client = client_config(namesrv);
    c.consume_from_where = client::ConsumeFromWhere::ConsumeFromFirstOffset;
    c.rebalance_interval = Duration::from_millis(500);
    c.lock_interval = Duration::from_millis(500);
    c.broker_suspend_max_time = Duration::from_secs(2);
    c.pull_time_delay_when_exception = Duration::from_millis(200);
    c.local_retry_delay = Duration::from_millis(300);
    c
}

/// Polls `f` every 50 ms until it is true or `limit` passes; returns whether it became true.
pub async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// Waits until the name server has a route for `topic` on `brokers` broker groups.
pub async fn wait_route(admin: &client::Admin, topic: &str, brokers: usize) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = admin.topic_route(topic).await
            && r.queue_datas.len() >= brokers
        {
            return;
        }
        assert!(Instant::now() < end, "no route for {topic}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates `topic` with `queues` read/write queues on the broker at `addr`, then waits for the
/// route.
pub async fn create_topic(
    admin: &client::Admin,
    addr: &str,
    topic: &str,
    queues: i32,
    brokers: usize,
) {
    let cfg = remoting::body::topic::TopicConfig::with_queues(topic, queues, queues, 6);
    admin.create_topic_on_broker(addr, &cfg).await.unwrap();
    wait_route(admin, topic, brokers).await;
}

/// A name server, broker "broker-a" and an admin client in one temp dir: the setup most tests
/// repeat.
pub struct Env {
    /// Holds the stores; removed when dropped.
    pub dir: tempfile::TempDir,
    /// The name server.
    pub ns: NameServerHandle,
    /// Its address, as clients are given it.
    pub ns_addr: String,
    /// The config `broker` was started with, for restarts on the same store.
    pub broker_config: BrokerConfig,
    /// Broker "broker-a", storing under `dir/a`.
    pub broker: BrokerHandle,
    /// An admin client of `ns_addr`.
    pub admin: Admin,
}

impl Env {
    /// Starts everything with the default test broker config.
    pub async fn start() -> Env {
        Env::start_with(|_| {}).await
    }

    /// Starts everything after `tweak` adjusts the broker config, for tests that need other
    /// delay levels or transaction timings.
    pub async fn start_with(tweak: impl FnOnce(&mut BrokerConfig)) -> Env {
        init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let ns = start_namesrv(dir.path()).await;
        let ns_addr = ns.local_addr().to_string();
        let mut broker_config = broker_config("broker-a", &dir.path().join("a"), &ns_addr);
        tweak(&mut broker_config);
        let broker = start_broker(broker_config.clone()).await;
        let admin = Admin::new(client_config(&ns_addr)).unwrap();
        Env {
            dir,
            ns,
            ns_addr,
            broker_config,
            broker,
            admin,
        }
    }

    /// Creates `topic` with `queues` queues on the broker and waits for its route.
    pub async fn create_topic(&self, topic: &str, queues: i32) {
        create_topic(&self.admin, self.broker.broker_addr(), topic, queues, 1).await;
    }

    /// Stops the admin client, the broker and the name server, in that order.
    pub async fn shutdown(self) {
        self.admin.shutdown().await;
        self.broker.shutdown().await;
        self.ns.shutdown().await;
    }
}

/// A started producer of `group`: every test needs one and `new` + `start` always go together.
pub async fn start_producer(group: &str, namesrv: &str) -> Producer {
    let producer = Producer::new(producer_config(group, namesrv)).unwrap();
    producer.start().await.unwrap();
    producer
}

/// A started pull consumer of `group` with the test client settings.
pub async fn start_pull_consumer(group: &str, namesrv: &str) -> PullConsumer {
    let pc = PullConsumer::new(group, client_config(namesrv)).unwrap();
    pc.start().await.unwrap();
    pc
}

/// Sends `n` messages to `topic` with bodies `{prefix}0` .. `{prefix}{n-1}`, each acknowledged.
pub async fn send_numbered(producer: &Producer, topic: &str, prefix: &str, n: usize) {
    for i in 0..n {
        producer
            .send(Message::new(topic, format!("{prefix}{i}")))
            .await
            .unwrap();
    }
}

/// How often each body was consumed, shared with a listener.
pub type Seen = Arc<Mutex<HashMap<String, usize>>>;

/// A push consumer (not started) subscribed to `topic` by `expr` that counts each body in `seen`
/// and the number of messages it got in `mine`, always acknowledging.
pub fn counting_consumer(
    cfg: PushConsumerConfig,
    topic: &str,
    expr: &str,
    seen: Seen,
    mine: Arc<Mutex<usize>>,
) -> PushConsumer {
    let c = PushConsumer::new(cfg).unwrap();
    c.subscribe(topic, expr).unwrap();
    c.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            let mut s = seen.lock();
            for m in msgs {
                *s.entry(m.body_str()).or_default() += 1;
            }
            *mine.lock() += msgs.len();
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    c
}
