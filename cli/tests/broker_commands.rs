//! The `mqadmin` binary as a process against an in-process name server and a real broker on
//! 127.0.0.1: every broker command (topics, groups, status, connections, progress, send,
//! consume) and the bench commands, asserting what they print.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use broker::{Broker, BrokerConfig};

mod common;
use client::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, ConsumeFromWhere, Message, MessageExt,
    Producer, ProducerConfig, PushConsumer, PushConsumerConfig,
};
use common::{client_config, eventually, mqadmin, ok, rows, start_broker, start_namesrv};

const CLUSTER: &str = "DefaultCluster";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_commands_against_a_real_broker() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let b = start_broker(&dir.path().join("store"), &ns_addr).await;
    let addr = b.broker_addr().to_string();
    b.register_now().await;
    let n = ns_addr.as_str();

    // updateTopic on the cluster and on one broker.
    let out = ok(
        n,
        &[
            "updateTopic",
            "-c",
            CLUSTER,
            "-t",
            "CliT",
            "-r",
            "4",
            "-w",
            "4",
        ],
    )
    .await;
    assert!(
        out.contains(&format!("create topic to {addr} success.")),
        "{out}"
    );
    assert!(
        out.contains("TopicConfig [topicName=CliT, readQueueNums=4, writeQueueNums=4, perm=RW-"),
        "{out}"
    );
    let out = ok(
        n,
        &["updateTopic", "-b", &addr, "-t", "CliT2", "-o", "true"],
    )
    .await;
    assert!(out.contains("order=true"), "{out}");
    // -b and -c together, and a bad topic name, are refused.
    let (success, _, err) =
        mqadmin(n, &["updateTopic", "-b", &addr, "-c", CLUSTER, "-t", "X"]).await;
    assert!(!success && err.contains("-b"), "{err}");
    let (success, _, err) = mqadmin(n, &["updateTopic", "-b", &addr, "-t", "bad topic!"]).await;
    assert!(!success && err.contains("bad topic!"), "{err}");
    eventually(n, &["topicRoute", "-t", "CliT"], |o| o.contains("broker-a")).await;

    // sendMessage: to any queue, and to a chosen queue.
    let out = ok(
        n,
        &[
            "sendMessage",
            "-t",
            "CliT",
            "-p",
            "hello-1",
            "-k",
            "key-1",
            "-c",
            "TagA",
        ],
    )
    .await;
    let r = rows(&out);
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(
        (r[0][0].as_str(), r[0][2].as_str()),
        ("broker-a", "SEND_OK"),
        "{out}"
    );
    let msg_id = r[0][3].clone();
    for i in 0..3 {
        let body = format!("q2-{i}");
        let out = ok(
            n,
            &[
                "sendMessage",
                "-t",
                "CliT",
                "-p",
                &body,
                "-b",
                "broker-a",
                "-i",
                "2",
            ],
        )
        .await;
        assert_eq!(rows(&out)[0][1], "2", "{out}");
    }

    // topicStatus: four queues, queue 2 holds at least the three chosen sends (the consume
    // queues are written by the store's dispatch, a moment after the send is answered).
    let out = eventually(n, &["topicStatus", "-t", "CliT"], |o| {
        rows(o)
            .iter()
            .filter_map(|r| r.get(3).and_then(|v| v.parse::<i64>().ok()))
            .sum::<i64>()
            == 4
    })
    .await;
    assert!(out.starts_with("#Broker Name"), "{out}");
    let r = rows(&out);
    assert_eq!(r.len(), 4, "{out}");
    let q2 = r.iter().find(|row| row[1] == "2").unwrap();
    assert!(q2[3].parse::<i64>().unwrap() >= 3, "{out}");
    let total: i64 = r.iter().map(|row| row[3].parse::<i64>().unwrap()).sum();
    assert_eq!(total, 4, "{out}");

    // consumeMessage: everything, then one queue from an offset.
    let out = ok(n, &["consumeMessage", "-t", "CliT"]).await;
    assert!(
        out.contains("BODY: hello-1") && out.contains("TAGS: TagA"),
        "{out}"
    );
    assert!(out.contains("Consumed 4 message(s) of topic CliT"), "{out}");
    let out = ok(
        n,
        &[
            "consumeMessage",
            "-t",
            "CliT",
            "-b",
            "broker-a",
            "-i",
            "2",
            "-o",
            "1",
            "-c",
            "1",
        ],
    )
    .await;
    assert!(
        // hello-1 may also have landed in queue 2, so the body at offset 1 is q2-0 or q2-1.
        out.contains("QUEUE: broker-a:2 OFFSET: 1 ")
            && out.contains("BODY: q2-")
            && out.contains("Consumed 1 message(s)"),
        "{out}"
    );

    // The message lookups see what sendMessage stored.
    let out = eventually(n, &["queryMsgByKey", "-t", "CliT", "-k", "key-1"], |o| {
        o.contains("hello-1")
    })
    .await;
    assert!(out.contains(&msg_id), "{out}");
    // queryMsgById takes the broker's offset id, which queryMsgByKey prints.
    let offset_id = out
        .lines()
        .find_map(|l| l.strip_prefix("OffsetID:"))
        .unwrap()
        .trim()
        .to_string();
    let out = ok(n, &["queryMsgById", "-i", &offset_id]).await;
    assert!(out.contains("hello-1") && out.contains("[key-1]"), "{out}");

    // updateSubGroup on the cluster and on one broker.
    let out = ok(
        n,
        &["updateSubGroup", "-c", CLUSTER, "-g", "CG-cli", "-r", "5"],
    )
    .await;
    assert!(
        out.contains(&format!("create subscription group to {addr} success.")),
        "{out}"
    );
    assert!(
        out.contains("groupName=CG-cli") && out.contains("retryMaxTimes=5"),
        "{out}"
    );
    let out = ok(
        n,
        &[
            "updateSubGroup",
            "-b",
            &addr,
            "-g",
            "CG-cli2",
            "-s",
            "false",
        ],
    )
    .await;
    assert!(out.contains("consumeEnable=false"), "{out}");

    // A live producer and push consumer for the connection and progress commands.
    let mut pc = ProducerConfig::new("PG-cli", n);
    pc.client = client_config(n);
    let producer = Producer::new(pc).unwrap();
    producer.start().await.unwrap();
    producer
        .send(Message::new("CliT", "from-producer"))
        .await
        .unwrap();
    producer.instance().send_heartbeat_to_all().await;
    let out = ok(n, &["producerConnection", "-g", "PG-cli", "-t", "CliT"]).await;
    assert!(out.contains(producer.instance().client_id()), "{out}");
    assert!(out.starts_with("0001  "), "{out}");

    let mut cc = PushConsumerConfig::new("CG-cli", n);
    cc.client = client_config(n);
    cc.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
    cc.rebalance_interval = Duration::from_millis(500);
    cc.broker_suspend_max_time = Duration::from_secs(2);
    let consumer = PushConsumer::new(cc).unwrap();
    consumer.subscribe("CliT", "*").unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    consumer.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            s2.fetch_add(msgs.len(), Ordering::SeqCst);
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    consumer.start().await.unwrap();
    let client_id = consumer.instance().client_id().to_string();
    let out = eventually(n, &["consumerConnection", "-g", "CG-cli"], |o| {
        o.contains(&client_id)
    })
    .await;
    // Java 4.9.7's layout: a header row, then one row per client.
    assert!(out.starts_with("#ClientId "), "{out}");
    assert!(
        out.contains("Below is subscription:\n#Topic ")
            && out.lines().any(|l| l.starts_with("CliT ")),
        "{out}"
    );
    assert!(out.contains("ConsumeType: CONSUME_PASSIVELY"), "{out}");
    assert!(out.contains("MessageModel: CLUSTERING"), "{out}");
    // All five messages consumed and committed: no diff left.
    let out = eventually(
        n,
        &["consumerProgress", "-g", "CG-cli", "-t", "CliT"],
        |o| o.contains("Diff Total: 0") && rows(o).iter().filter(|r| r[0] == "CliT").count() == 4,
    )
    .await;
    assert!(out.starts_with("#Topic"), "{out}");
    assert!(!out.contains("#Client IP"), "{out}");
    // -s true: Java 4.9.7's #Client IP column, from the member's running info.
    let ip = client_id.split('@').next().unwrap().to_string();
    let out = eventually(
        n,
        &[
            "consumerProgress",
            "-g",
            "CG-cli",
            "-t",
            "CliT",
            "-s",
            "true",
        ],
        |o| {
            rows(o)
                .iter()
                .filter(|r| r[0] == "CliT" && r[5] == ip)
                .count()
                == 4
        },
    )
    .await;
    assert!(out.contains("#Client IP"), "{out}");
    assert!(seen.load(Ordering::SeqCst) >= 5);
    consumer.shutdown().await;
    producer.shutdown().await;

    // brokerStatus: every key, sorted, "key : value".
    let out = ok(n, &["brokerStatus", "-b", &addr]).await;
    let keys: Vec<&str> = out
        .lines()
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert!(keys.len() > 20, "{out}");
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    for k in [
        "brokerVersionDesc",
        "msgPutTotalTodayNow",
        "putTps",
        "commitLogMaxOffset",
    ] {
        assert!(keys.contains(&k), "{k} missing: {out}");
    }
    let out = ok(n, &["brokerStatus", "-c", CLUSTER]).await;
    assert!(out.lines().all(|l| l.starts_with(&addr)), "{out}");

    // deleteTopic removes the route.
    let out = ok(n, &["deleteTopic", "-c", CLUSTER, "-t", "CliT2"]).await;
    assert!(
        out.contains("delete topic [CliT2] from cluster [DefaultCluster] success."),
        "{out}"
    );
    assert!(
        out.contains("delete topic [CliT2] from NameServer success."),
        "{out}"
    );
    let (success, _, _) = mqadmin(n, &["topicRoute", "-t", "CliT2"]).await;
    assert!(!success);

    // help lists the broker commands.
    let help = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .arg("help")
        .output()
        .await
        .unwrap();
    assert!(help.status.success());
    let out = String::from_utf8_lossy(&help.stdout).into_owned();
    for c in [
        "updateTopic",
        "deleteTopic",
        "topicStatus",
        "updateSubGroup",
        "consumerProgress",
        "consumerConnection",
        "producerConnection",
        "brokerStatus",
        "queryMsgById",
        "queryMsgByKey",
        "sendMessage",
        "consumeMessage",
        "benchProducer",
        "benchConsumer",
    ] {
        assert!(out.contains(c), "{c} missing from help: {out}");
    }

    b.shutdown().await;
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_tools_run_and_summarise() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let b = start_broker(&dir.path().join("store"), &ns_addr).await;
    b.register_now().await;
    let n = ns_addr.as_str();

    // A short timed sync run that creates its topic.
    let out = ok(
        n,
        &[
            "benchProducer",
            "-t",
            "BenchT",
            "-c",
            CLUSTER,
            "-q",
            "4",
            "-w",
            "4",
            "-s",
            "1024",
            "-d",
            "2",
        ],
    )
    .await;
    assert!(out.contains("topic BenchT created on"), "{out}");
    assert!(out.contains("Send TPS:") && out.contains("p999"), "{out}");
    let sent = summary_count(&out, "Messages sent: ");
    assert!(sent > 0, "{out}");
    assert!(out.contains("Send RT(ms): p50"), "{out}");
    assert!(
        out.contains(&format!(
            "Send status: SEND_OK={sent} FLUSH_DISK_TIMEOUT=0 FLUSH_SLAVE_TIMEOUT=0 SLAVE_NOT_AVAILABLE=0 exception=0"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("[Complete] Send Total: {sent} | Send TPS: ")),
        "{out}"
    );

    // A counted async batch run sends exactly its budget.
    let out = ok(
        n,
        &[
            "benchProducer",
            "-t",
            "BenchT",
            "-w",
            "2",
            "-s",
            "100",
            "-b",
            "10",
            "-m",
            "200",
            "-d",
            "0",
            "-a",
        ],
    )
    .await;
    assert_eq!(summary_count(&out, "Messages sent: "), 200, "{out}");
    assert!(out.contains("mode=async"), "{out}");

    // A counted auto-batched run: each of its sends is counted once, as sent.
    let out = ok(
        n,
        &[
            "benchProducer",
            "-t",
            "BenchT",
            "-w",
            "16",
            "-s",
            "100",
            "-m",
            "300",
            "-d",
            "0",
            "-B",
        ],
    )
    .await;
    assert_eq!(summary_count(&out, "Messages sent: "), 300, "{out}");
    assert!(out.contains("mode=sync auto-batch"), "{out}");

    // A paced counted run: the pacer releases enough starts for exactly the budget, and the
    // run ends when it is spent.
    let out = ok(
        n,
        &[
            "benchProducer",
            "-t",
            "BenchT",
            "-w",
            "8",
            "-s",
            "100",
            "-r",
            "2000",
            "-m",
            "300",
            "-d",
            "0",
        ],
    )
    .await;
    assert_eq!(summary_count(&out, "Messages sent: "), 300, "{out}");

    // Probes are paced and counted like sends but store nothing: the count below is unchanged.
    let out = ok(
        n,
        &[
            "benchProducer",
            "-t",
            "BenchT",
            "-x",
            "-w",
            "4",
            "-r",
            "2000",
            "-m",
            "200",
            "-d",
            "0",
        ],
    )
    .await;
    assert!(out.contains("mode=probe"), "{out}");
    assert_eq!(summary_count(&out, "Probes answered: "), 200, "{out}");
    assert!(!out.contains("Messages sent: "), "{out}");

    // The consumer catches up with everything stored (once the store's dispatch has indexed
    // the last sends).
    let stored = sent + 200 + 300 + 300;
    eventually(n, &["topicStatus", "-t", "BenchT"], |o| {
        rows(o)
            .iter()
            .filter_map(|r| r.get(3).and_then(|v| v.parse::<u64>().ok()))
            .sum::<u64>()
            == stored
    })
    .await;
    let out = ok(n, &["benchConsumer", "-t", "BenchT"]).await;
    assert_eq!(summary_count(&out, "Messages consumed: "), stored, "{out}");
    assert!(out.contains("=== benchConsumer summary ==="), "{out}");

    assert!(
        out.contains(&format!(
            "[Complete] Consume Total: {stored} | Consume TPS: "
        )),
        "{out}"
    );

    // Neither a duration nor a count: a usage error.
    let (success, _, err) = mqadmin(n, &["benchProducer", "-d", "0"]).await;
    assert!(!success && err.contains("-m"), "{err}");
    // Probes are not batched.
    for batched in [&["-b", "4"][..], &["-B"]] {
        let mut args = vec!["benchProducer", "-x", "-d", "1"];
        args.extend_from_slice(batched);
        let (success, _, err) = mqadmin(n, &args).await;
        assert!(!success && err.contains("-b and -B do not apply"), "{err}");
    }

    b.shutdown().await;
    ns.shutdown().await;
}

fn summary_count(out: &str, prefix: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?}: {out}"));
    line[prefix.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A SYNC_MASTER without a slave stores every message but answers SLAVE_NOT_AVAILABLE (the
/// seed's warning about 2m-noslave with SYNC_MASTER): the bench counts those apart, not as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_producer_does_not_count_slave_not_available_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let b = Broker::start(BrokerConfig {
        broker_name: "broker-sync".into(),
        broker_ip1: Some("127.0.0.1".into()),
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: Some(ns_addr.clone()),
        store_path_root_dir: dir.path().join("store").display().to_string(),
        mapped_file_size_commit_log: 8 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        register_name_server_period: 1000,
        broker_role: broker::BrokerRole::SyncMaster,
        ..BrokerConfig::default()
    })
    .await
    .unwrap();
    b.register_now().await;
    let out = ok(
        &ns_addr,
        &[
            "benchProducer",
            "-t",
            "BenchSync",
            "-c",
            CLUSTER,
            "-q",
            "2",
            "-w",
            "2",
            "-s",
            "64",
            "-m",
            "20",
            "-d",
            "0",
        ],
    )
    .await;
    assert_eq!(summary_count(&out, "Messages sent: "), 0, "{out}");
    // Every send is either answered SLAVE_NOT_AVAILABLE or (on a loaded machine) runs out of its
    // 3 s budget; none is counted as sent.
    let status: std::collections::BTreeMap<&str, u64> = out
        .lines()
        .find_map(|l| l.strip_prefix("Send status: "))
        .unwrap_or_else(|| panic!("no status line: {out}"))
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    assert_eq!(status["SEND_OK"], 0, "{out}");
    assert_eq!(
        status["FLUSH_DISK_TIMEOUT"] + status["FLUSH_SLAVE_TIMEOUT"],
        0,
        "{out}"
    );
    let not_available = status["SLAVE_NOT_AVAILABLE"];
    assert!(not_available > 0, "{out}");
    assert_eq!(not_available + status["exception"], 20, "{out}");
    assert!(
        out.contains(&format!("| Response Failed: {not_available}")),
        "{out}"
    );
    b.shutdown().await;
    ns.shutdown().await;
}
