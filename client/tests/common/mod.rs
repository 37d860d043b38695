//! Shared helpers of the client's integration tests: an in-process name server and brokers on
//! 127.0.0.1:0 with temp-dir stores, and client settings with short intervals.

#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use broker::{Broker, BrokerConfig, BrokerHandle};
use client::{ClientConfig, ProducerConfig, PushConsumerConfig};
use namesrv::{NameServer, NameServerHandle, NamesrvConfig};

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
