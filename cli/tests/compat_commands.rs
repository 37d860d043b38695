//! The `mqadmin` commands of Java 4.9.7 added last — `statsAll`, `exportMetrics`,
//! `startMonitoring`, `queryMsgTraceById`, `getConsumerConfig`, `skipAccumulatedMessage` — as a
//! process against an in-process name server and a real broker on 127.0.0.1, with the
//! project's producer and push consumer making the traffic they report.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use client::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, ConsumeFromWhere, Message, MessageExt,
    Producer, ProducerConfig, PushConsumer, PushConsumerConfig,
};

mod common;
use common::{client_config, eventually, mqadmin, ok, rows, start_broker, start_namesrv};

const TOPIC: &str = "CompatT";
const GROUP: &str = "CompatG";

/// `topicStatus`: queue id → max offset.
async fn max_offsets(ns: &str) -> BTreeMap<String, String> {
    let out = ok(ns, &["topicStatus", "-t", TOPIC]).await;
    rows(&out)
        .into_iter()
        .filter(|r| r.len() >= 4)
        .map(|r| (r[1].clone(), r[3].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_java_commands_against_a_real_broker() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let b = start_broker(&dir.path().join("store"), &ns_addr).await;
    b.register_now().await;
    let n = ns_addr.as_str();
    ok(
        n,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            TOPIC,
            "-r",
            "2",
            "-w",
            "2",
        ],
    )
    .await;

    // Traffic: five sends, a push consumer reading them.
    let mut pc = ProducerConfig::new("CompatPG", n);
    pc.client = client_config(n);
    let producer = Producer::new(pc).unwrap();
    producer.start().await.unwrap();
    let mut first_id = String::new();
    for i in 0..5 {
        let r = producer
            .send(Message::new(TOPIC, format!("m{i}")))
            .await
            .unwrap();
        if i == 0 {
            first_id = r.msg_id.clone();
        }
    }
    let mut cc = PushConsumerConfig::new(GROUP, n);
    cc.client = client_config(n);
    cc.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
    cc.rebalance_interval = Duration::from_millis(500);
    cc.broker_suspend_max_time = Duration::from_secs(2);
    let consumer = PushConsumer::new(cc).unwrap();
    consumer.subscribe(TOPIC, "*").unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    consumer.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            s2.fetch_add(msgs.len(), Ordering::SeqCst);
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    consumer.start().await.unwrap();
    eventually(n, &["consumerProgress", "-g", GROUP, "-t", TOPIC], |o| {
        o.contains("Diff Total: 0") && rows(o).len() == 2
    })
    .await;

    // statsAll: the minute window is sampled every 10 s; wait for 5 in and 5 out.
    let out = eventually(n, &["statsAll", "-t", TOPIC], |o| {
        rows(o)
            .iter()
            .any(|r| r.len() == 7 && r[0] == TOPIC && r[1] == GROUP && r[5] == "5" && r[6] == "5")
    })
    .await;
    assert!(out.starts_with("#Topic"), "{out}");
    assert!(
        out.contains("#Accumulation") && out.contains("#OutMsg24Hour"),
        "{out}"
    );
    let row = rows(&out).into_iter().find(|r| r[0] == TOPIC).unwrap();
    assert_eq!(row[2], "0", "{out}");
    assert!(row[3].parse::<f64>().unwrap() > 0.0, "{out}");
    // -a leaves out topics without traffic today; -t another topic prints only the header.
    let out = ok(n, &["statsAll", "-a"]).await;
    assert!(rows(&out).iter().all(|r| r[0] != "TBW102"), "{out}");
    assert!(rows(&out).iter().any(|r| r[0] == TOPIC), "{out}");

    // exportMetrics: metrics.json with Java's structure and this broker's figures.
    let export = dir.path().join("export");
    let out = ok(
        n,
        &[
            "exportMetrics",
            "-c",
            "DefaultCluster",
            "-f",
            export.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.contains("metrics.json success"), "{out}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("metrics.json")).unwrap()).unwrap();
    let quota = &v["evaluateReport"]["broker-a"]["runtimeQuota"];
    assert!(quota["tps"]["normalInTps"].is_number(), "{v}");
    assert!(quota["topicSize"].as_u64().unwrap() >= 1, "{v}");
    assert!(quota["groupSize"].as_u64().unwrap() >= 1, "{v}");
    assert!(quota["diskRatio"]["commitLogDiskRatio"].is_string(), "{v}");
    let clients = &v["evaluateReport"]["broker-a"]["runtimeVersion"]["clientInfo"];
    assert!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains('%')),
        "{v}"
    );
    assert!(
        v["totalData"]["totalOneDayNum"]["normalOneDayInNum"].is_number(),
        "{v}"
    );

    // getConsumerConfig: one block per broker group holding the group.
    let out = ok(n, &["getConsumerConfig", "-g", GROUP]).await;
    assert!(
        out.starts_with("=============================DefaultCluster:broker-a="),
        "{out}"
    );
    assert!(
        out.contains(&format!("{:<40}=  {GROUP}", "groupName")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{:<40}=  16", "retryMaxTimes")),
        "{out}"
    );
    assert_eq!(out.lines().count(), 10, "{out}");
    assert_eq!(ok(n, &["getConsumerConfig", "-g", "NoSuchGroup"]).await, "");

    // startMonitoring, one round at once: the group's backlog between the round markers.
    let cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(["startMonitoring", "-n", n])
        .env("MQADMIN_MONITOR_ROUNDS", "1")
        .env("MQADMIN_MONITOR_FIRST_DELAY_MS", "0")
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&cmd.stdout);
    assert!(cmd.status.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("[MONITOR] =========================================beginRound"),
        "{out}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("[MONITOR] =========================================endRound"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "[MONITOR] reportUndoneMsgs: UndoneMsgs [consumerGroup={GROUP}, topic={TOPIC}, undoneMsgsTotal=0, undoneMsgsSingleMQ=0, undoneMsgsDelayTimeMills="
        )),
        "{out}"
    );

    // skipAccumulatedMessage with the group online: the members are told, Java's short table.
    let out = ok(n, &["skipAccumulatedMessage", "-g", GROUP, "-t", TOPIC]).await;
    assert!(
        out.starts_with("#brokerName                               #queueId"),
        "{out}"
    );
    assert_eq!(rows(&out).len(), 2, "{out}");

    // skipAccumulatedMessage with the group offline: offsets jump to the end of each queue.
    consumer.shutdown().await;
    for i in 0..4 {
        producer
            .send(Message::new(TOPIC, format!("later{i}")))
            .await
            .unwrap();
    }
    let max = max_offsets(n).await;
    let out = ok(n, &["skipAccumulatedMessage", "-g", GROUP, "-t", TOPIC]).await;
    // Offline: Java's rollback table; the timestamp and rollback offsets are the queue ends.
    assert!(
        out.starts_with("#brokerName           #queueId              #brokerOffset         #consumerOffset       #timestampOffset      #rollbackOffset"),
        "{out}"
    );
    let skipped: BTreeMap<String, String> = rows(&out)
        .into_iter()
        .inspect(|r| assert_eq!(r[4], r[5], "{out}"))
        .map(|r| (r[1].clone(), r[5].clone()))
        .collect();
    assert_eq!(skipped, max, "{out}");
    eventually(n, &["consumerProgress", "-g", GROUP, "-t", TOPIC], |o| {
        o.contains("Diff Total: 0")
    })
    .await;

    // queryMsgTraceById: a trace record in Java's format, keyed by the traced id, as Java's
    // trace dispatcher writes it.
    let pub_ctx = [
        "Pub",
        "1700000000000",
        "DefaultRegion",
        "CompatPG",
        TOPIC,
        &first_id,
        "",
        "",
        "127.0.0.1:10911",
        "2",
        "4",
        "0",
        "OFFSETID",
        "true",
        "127.0.0.1@1",
    ]
    .join("\u{1}");
    let sub_ctx = [
        "SubAfter",
        "req1",
        &first_id,
        "9",
        "true",
        "",
        "0",
        "1700000005000",
        GROUP,
    ]
    .join("\u{1}");
    producer
        .send(
            Message::new(
                "RMQ_SYS_TRACE_TOPIC",
                format!("{pub_ctx}\u{2}{sub_ctx}\u{2}"),
            )
            .with_keys([first_id.clone()]),
        )
        .await
        .unwrap();
    let out = eventually(n, &["queryMsgTraceById", "-i", &first_id], |o| {
        o.contains("#ProducerGroup")
    })
    .await;
    assert!(
        out.contains("Pub        CompatPG             127.0.0.1            2023-11-14 22:13:20  4ms        success"),
        "{out}"
    );
    assert!(out.contains("#ConsumerGroup"), "{out}");
    assert!(
        out.contains("Sub        CompatG              127.0.0.1            2023-11-14 22:13:25  9ms        success"),
        "{out}"
    );
    // Nothing traced under another id (Java fails when the query finds nothing at all).
    let (_, stdout, _) = mqadmin(n, &["queryMsgTraceById", "-i", "NOPE"]).await;
    assert!(!stdout.contains("#Type"), "{stdout}");

    producer.shutdown().await;
    assert!(seen.load(Ordering::SeqCst) >= 5);
    b.shutdown().await;
}
