//! The Prometheus endpoints of a real name server, master and slave (in-process, every port 0):
//! series move with traffic (a send raises the put counters and the latency histogram, a pull
//! the out counters, a commit the consumer lag, replication the HA series) and a stopped slave
//! raises the master's replication gap; every exposition passes the reference parser (PyPI
//! `prometheus-client`, SKIPPED without it); the exporter is off by default.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use broker::config::{BrokerConfig, BrokerRole, MetricsExporterType};
use broker::{Broker, BrokerHandle};
use common::*;
use namesrv::{NameServer, NamesrvConfig};
use remoting::header::offset::UpdateConsumerOffsetRequestHeader;
use remoting::{RemotingClient, RequestCode, ResponseCode};
use telemetry::scrape::{self, Lint};

fn cfg(store: &std::path::Path, ns: &str, role: BrokerRole) -> BrokerConfig {
    let mut c = pair_config(store, Some(ns.to_string()), role);
    c.ha_send_heartbeat_interval = 500;
    c.metrics_exporter_type = MetricsExporterType::Prom;
    c.metrics_prom_exporter_host = "127.0.0.1".into();
    c.metrics_prom_exporter_port = 0;
    c
}

/// `process_*` families.
const PROCESS: usize = telemetry::process::METRICS.len();
/// Families every broker with a store serves: all but the six role-specific HA ones.
const BROKER_MIN: usize = broker::metrics::METRICS.len() - 6 + PROCESS;

fn metrics_addr(b: &BrokerHandle) -> String {
    b.context().metrics.local_addr().unwrap().to_string()
}

/// Scrapes `addr` and checks the text with the reference parser, which must read at least
/// `families` metric families.
async fn scrape_linted(addr: &str, families: usize) -> String {
    let text = scrape::metrics(addr).await.unwrap();
    match scrape::lint(&text) {
        Lint::Ok(n) => assert!(n >= families, "only {n} families, expected {families}"),
        Lint::Skipped(why) => eprintln!("SKIPPED lint: {why}"),
        Lint::Refused(e) => panic!("the reference parser refused the exposition: {e}\n{text}"),
    }
    text
}

/// Scrapes until `f` holds (dispatch, registration and replication are asynchronous).
async fn scrape_until(addr: &str, what: &str, f: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..600 {
        text = scrape::metrics(addr).await.unwrap();
        if f(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never held; last scrape:\n{text}");
}

fn v(text: &str, series: &str) -> f64 {
    scrape::value(text, series).unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_move_with_traffic_and_a_stopped_slave_raises_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let ns = NameServer::start(NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.path().join("kvConfig.json"),
        metrics_exporter_type: telemetry::ExporterType::Prom,
        metrics_prom_exporter_host: "127.0.0.1".into(),
        metrics_prom_exporter_port: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    let ns_addr = ns.local_addr().to_string();
    let ns_metrics = ns.metrics_addr().unwrap().to_string();
    let master = Broker::start(cfg(
        &dir.path().join("m"),
        &ns_addr,
        BrokerRole::AsyncMaster,
    ))
    .await
    .unwrap();
    let slave = Broker::start(cfg(&dir.path().join("s"), &ns_addr, BrokerRole::Slave))
        .await
        .unwrap();
    let (maddr, mm, sm) = (
        master.broker_addr().to_string(),
        metrics_addr(&master),
        metrics_addr(&slave),
    );
    let client = RemotingClient::new(Default::default());

    // Name server: both brokers registered, registrations counted.
    let text = scrape_until(&ns_metrics, "two brokers registered", |t| {
        scrape::value(t, "rocketmq_namesrv_brokers") == Some(2.0)
    })
    .await;
    assert!(
        v(
            &text,
            "rocketmq_namesrv_requests_total{request=\"register_broker\",code=\"SUCCESS\"}"
        ) >= 2.0
    );
    scrape_linted(&ns_metrics, namesrv::metrics::METRICS.len() + PROCESS).await;

    // Master before any send: nothing stored for the topic.
    let before = scrape_linted(&mm, BROKER_MIN).await;
    let topic = "MetricsTopic";
    let series_in = format!("rocketmq_broker_messages_in_total{{topic=\"{topic}\"}}");
    assert_eq!(scrape::value(&before, &series_in), None);
    let latency_before = v(&before, "rocketmq_broker_put_latency_seconds_count");

    // Ten sends raise the put counters, the histogram and the SUCCESS responses.
    let body = [7u8; 100];
    for _ in 0..10 {
        let r = send(&client, &maddr, topic, 0, &body, Some("T"), None).await;
        assert_eq!(r.code, ResponseCode::SUCCESS.0, "{:?}", r.remark);
    }
    let text = scrape_linted(&mm, BROKER_MIN).await;
    assert_eq!(v(&text, &series_in), 10.0);
    assert_eq!(
        v(
            &text,
            &format!("rocketmq_broker_bytes_in_total{{topic=\"{topic}\"}}")
        ),
        1000.0
    );
    assert_eq!(
        v(&text, "rocketmq_broker_put_latency_seconds_count") - latency_before,
        10.0
    );
    assert!(
        v(
            &text,
            "rocketmq_broker_responses_total{request=\"send\",code=\"SUCCESS\"}"
        ) >= 10.0
    );
    assert!(v(&text, "rocketmq_store_commitlog_bytes") > 1000.0);
    let ratio = v(&text, "rocketmq_store_disk_used_ratio");
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");

    // A pull returns them: the out counters move.
    wait_max_offset(&client, &maddr, topic, 0, 10).await;
    let r = invoke(&client, &maddr, pull_request("MG", topic, 0, 0, 0, "*")).await;
    assert_eq!(r.code, ResponseCode::SUCCESS.0);
    let text = scrape::metrics(&mm).await.unwrap();
    let out = format!("rocketmq_broker_messages_out_total{{topic=\"{topic}\",group=\"MG\"}}");
    assert_eq!(v(&text, &out), 10.0);

    // A commit of 4 leaves a lag of 6 on queue 0.
    let h = UpdateConsumerOffsetRequestHeader {
        consumer_group: "MG".into(),
        topic: topic.into(),
        queue_id: 0,
        commit_offset: 4,
        bname: None,
    };
    let r = invoke(
        &client,
        &maddr,
        request(RequestCode::UPDATE_CONSUMER_OFFSET, &h),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS.0);
    let text = scrape::metrics(&mm).await.unwrap();
    let lag = format!(
        "rocketmq_broker_consumer_lag_messages{{group=\"MG\",topic=\"{topic}\",queue=\"0\"}}"
    );
    assert_eq!(v(&text, &lag), 6.0);

    // Replication: the slave catches up and is in sync; bytes flowed both ways.
    let text = scrape_until(&mm, "slave in sync with no gap", |t| {
        scrape::value(t, "rocketmq_broker_ha_in_sync_slaves") == Some(1.0)
            && scrape::value(t, "rocketmq_broker_ha_gap_bytes") == Some(0.0)
    })
    .await;
    assert!(
        v(
            &text,
            "rocketmq_broker_ha_transferred_bytes_total{direction=\"sent\"}"
        ) > 0.0
    );
    let stext = scrape_linted(&sm, BROKER_MIN).await;
    assert_eq!(v(&stext, "rocketmq_broker_ha_master_connected"), 1.0);
    assert!(
        v(
            &stext,
            "rocketmq_broker_ha_transferred_bytes_total{direction=\"received\"}"
        ) > 0.0
    );
    assert!(stext.contains("role=\"SLAVE\""));

    // Stop the slave, keep sending: the master's gap grows from 0.
    slave.shutdown().await;
    for _ in 0..10 {
        let r = send(&client, &maddr, topic, 0, &body, None, None).await;
        assert_eq!(r.code, ResponseCode::SUCCESS.0);
    }
    let text = scrape_until(&mm, "gap after the slave stopped", |t| {
        scrape::value(t, "rocketmq_broker_ha_gap_bytes").is_some_and(|g| g > 1000.0)
    })
    .await;
    assert_eq!(v(&text, "rocketmq_broker_ha_in_sync_slaves"), 0.0);
    scrape_linted(&mm, BROKER_MIN).await;

    master.shutdown().await;
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let b = Broker::start(broker_config(dir.path(), None))
        .await
        .unwrap();
    assert!(!b.context().metrics.enabled());
    assert_eq!(b.context().metrics.local_addr(), None);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_stops_the_broker_with_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut c = broker_config(dir.path(), None);
    c.metrics_exporter_type = MetricsExporterType::Prom;
    c.metrics_prom_exporter_host = "127.0.0.1".into();
    c.metrics_prom_exporter_port = port;
    let err = match Broker::start(c).await {
        Ok(_) => panic!("started on a taken metrics port"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}
