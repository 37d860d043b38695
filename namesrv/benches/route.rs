//! GET_ROUTEINFO_BY_TOPIC throughput and latency: 64 concurrent connections, 1,000 topics on
//! four broker groups (master + slave each), closed loop (one request in flight per connection).
//!
//! `cargo bench -p namesrv --bench route` (BENCH_SECS, BENCH_CONNS, BENCH_TOPICS override the
//! defaults of 10 s, 64, 1000).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use namesrv::{NameServer, NamesrvConfig};
use remoting::body::topic::{RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper};
use remoting::header::namesrv::{GetRouteInfoRequestHeader, RegisterBrokerRequestHeader};
use remoting::{ClientConfig, CommandHeader, RemotingClient, RemotingCommand, RequestCode};

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn register(ns: &str, group: usize, id: i64, topics: &[String]) -> RemotingClient {
    let client = RemotingClient::new(ClientConfig::default());
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table: topics
                .iter()
                .map(|t| (t.clone(), TopicConfig::with_queues(t.clone(), 8, 8, 6)))
                .collect(),
            ..Default::default()
        },
        filter_server_list: vec![],
    };
    let bytes = body.encode(false).expect("encode");
    let addr = format!("127.0.0.1:{}", 20000 + group * 10 + id as usize);
    let header = RegisterBrokerRequestHeader {
        broker_name: format!("broker-{group}"),
        broker_addr: addr.clone(),
        cluster_name: "BenchCluster".into(),
        ha_server_addr: format!("{addr}-ha"),
        broker_id: id,
        compressed: Some(false),
        body_crc32: Some(RegisterBrokerBody::crc32(&bytes)),
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
    };
    let req =
        RemotingCommand::request(RequestCode::REGISTER_BROKER, header.to_ext()).with_body(bytes);
    client
        .invoke_ok(ns, req, Duration::from_secs(10))
        .await
        .expect("register");
    client
}

fn main() {
    let secs = env_or("BENCH_SECS", 10);
    let conns = env_or("BENCH_CONNS", 64) as usize;
    let topic_count = env_or("BENCH_TOPICS", 1000) as usize;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let dir = std::env::temp_dir().join(format!("namesrv-bench-{}", std::process::id()));
        let ns = NameServer::start(NamesrvConfig {
            bind_address: "127.0.0.1".into(),
            listen_port: 0,
            kv_config_path: dir.join("kvConfig.json"),
            ..NamesrvConfig::default()
        })
        .await
        .expect("start name server");
        let addr = ns.local_addr().to_string();
        let topics: Vec<String> = (0..topic_count).map(|i| format!("BenchTopic-{i}")).collect();
        // Each topic lives on two of the four groups, so a route carries two brokers.
        let mut brokers = Vec::new();
        for group in 0..4 {
            let mine: Vec<String> = topics
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 4 == group || (i + 1) % 4 == group)
                .map(|(_, t)| t.clone())
                .collect();
            brokers.push(register(&addr, group, 0, &mine).await);
            brokers.push(register(&addr, group, 1, &[]).await);
        }

        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for c in 0..conns {
            let addr = addr.clone();
            let topics = topics.clone();
            tasks.push(tokio::spawn(async move {
                let client = RemotingClient::new(ClientConfig::default());
                let mut hist = Histogram::<u64>::new(3).expect("histogram");
                let mut errors = 0u64;
                let mut i = c * 7919;
                while Instant::now() < deadline {
                    let header = GetRouteInfoRequestHeader {
                        topic: topics[i % topics.len()].clone(),
                        accept_standard_json_only: None,
                    };
                    i += 1;
                    let req = RemotingCommand::request(
                        RequestCode::GET_ROUTEINFO_BY_TOPIC,
                        header.to_ext(),
                    );
                    let start = Instant::now();
                    match client.invoke_ok(&addr, req, Duration::from_secs(5)).await {
                        Ok(r) if !r.body.is_empty() => {
                            let _ = hist.record(start.elapsed().as_micros() as u64);
                        }
                        _ => errors += 1,
                    }
                }
                (hist, errors)
            }));
        }
        let started = Instant::now();
        let mut total = Histogram::<u64>::new(3).expect("histogram");
        let mut errors = 0;
        for t in tasks {
            let (h, e) = t.await.expect("task");
            total.add(h).expect("merge");
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "GET_ROUTEINFO_BY_TOPIC: {conns} connections, {topic_count} topics, {secs} s: \
             {} requests, {:.0} req/s, p50 {} us, p99 {} us, p99.9 {} us, max {} us, errors {errors}",
            total.len(),
            total.len() as f64 / elapsed,
            total.value_at_quantile(0.50),
            total.value_at_quantile(0.99),
            total.value_at_quantile(0.999),
            total.max(),
        );
        drop(brokers);
        ns.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
