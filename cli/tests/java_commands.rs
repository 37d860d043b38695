//! The Java 4.9 `mqadmin` commands added for compatibility, run as the `mqadmin` binary against
//! an in-process name server and a real broker on 127.0.0.1: getBrokerConfig,
//! updateBrokerConfig, updateTopicPerm, topicClusterList, deleteSubGroup, brokerConsumeStats,
//! producer, cleanUnusedTopic, cleanExpiredCQ, deleteExpiredCommitLog, queryMsgByUniqueKey, allocateMQ,
//! updateOrderConf, consumerProgress without -g, clusterList -m/-c/-i, checkMsgSendRT,
//! sendMsgStatus, queryMsgByOffset, cloneGroupOffset, queryMsgById with a unique id, queryCq,
//! clusterRT, printMsg, printMsgByQueue, exportConfigs, exportMetadata, consumerStatus.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::{Duration, Instant};

mod common;
use common::{eventually, mqadmin, ok, start_broker, start_namesrv};
use remoting::header::offset::UpdateConsumerOffsetRequestHeader;
use remoting::header::send::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
use remoting::{ClientConfig, CommandHeader, RemotingClient, RemotingCommand, RequestCode};

fn send_request(topic: &str, body: &str) -> RemotingCommand {
    let h = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        born_timestamp: 1_700_000_000_000,
        ..Default::default()
    };
    RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        SendMessageRequestHeaderV2::from(h).to_ext(),
    )
    .with_body(body.as_bytes().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_admin_commands_against_a_real_broker() {
    let dir = tempfile::tempdir().unwrap();
    let ns_handle = start_namesrv(dir.path()).await;
    let ns = ns_handle.local_addr().to_string();
    let b = start_broker(&dir.path().join("store"), &ns).await;
    let addr = b.broker_addr().to_string();
    eventually(&ns, &["clusterList"], |o| o.contains(&addr)).await;

    // getBrokerConfig: Java's banner and `%-50s=  %s` lines.
    let out = ok(&ns, &["getBrokerConfig", "-b", &addr]).await;
    assert!(
        out.starts_with(&format!("============{addr}============\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{:<50}=  broker-a\n", "brokerName")),
        "{out}"
    );
    // The keys Java's exportConfigs needs beyond ours.
    assert!(
        out.contains(&format!("{:<50}=  0\n", "filterServerNums")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{:<50}=  false\n", "useTLS")),
        "{out}"
    );
    let out = ok(&ns, &["getBrokerConfig", "-c", "DefaultCluster"]).await;
    assert!(
        out.contains(&format!("============Master: {addr}============")),
        "{out}"
    );

    // updateBrokerConfig: an allowed key changes; a path is refused and the command fails.
    let out = ok(
        &ns,
        &[
            "updateBrokerConfig",
            "-b",
            &addr,
            "-k",
            "brokerPermission",
            "-v",
            "4",
        ],
    )
    .await;
    assert_eq!(out, format!("update broker config success, {addr}\n"));
    let out = ok(&ns, &["getBrokerConfig", "-b", &addr]).await;
    assert!(
        out.contains(&format!("{:<50}=  4\n", "brokerPermission")),
        "{out}"
    );
    ok(
        &ns,
        &[
            "updateBrokerConfig",
            "-c",
            "DefaultCluster",
            "-k",
            "brokerPermission",
            "-v",
            "6",
        ],
    )
    .await;
    let (success, stdout, stderr) = mqadmin(
        &ns,
        &[
            "updateBrokerConfig",
            "-b",
            &addr,
            "-k",
            "storePathRootDir",
            "-v",
            "/tmp/x",
        ],
    )
    .await;
    assert!(!success, "{stdout}");
    assert!(stderr.contains("storePathRootDir"), "{stderr}");

    // updateTopic, then updateTopicPerm and topicClusterList.
    ok(
        &ns,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            "PermTopic",
            "-r",
            "2",
            "-w",
            "2",
        ],
    )
    .await;
    eventually(&ns, &["topicRoute", "-t", "PermTopic"], |o| {
        o.contains("\"perm\": 6")
    })
    .await;
    let out = ok(
        &ns,
        &[
            "updateTopicPerm",
            "-c",
            "DefaultCluster",
            "-t",
            "PermTopic",
            "-p",
            "4",
        ],
    )
    .await;
    assert!(
        out.contains(&format!("update topic perm from 6 to 4 in {addr} success.")),
        "{out}"
    );
    assert!(
        out.contains(
            "TopicConfig [topicName=PermTopic, readQueueNums=2, writeQueueNums=2, perm=R--"
        ),
        "{out}"
    );
    eventually(&ns, &["topicRoute", "-t", "PermTopic"], |o| {
        o.contains("\"perm\": 4")
    })
    .await;
    let out = ok(
        &ns,
        &["updateTopicPerm", "-b", &addr, "-t", "PermTopic", "-p", "4"],
    )
    .await;
    assert_eq!(out, "new perm equals to the old one!\n");
    let out = ok(&ns, &["topicClusterList", "-t", "PermTopic"]).await;
    assert_eq!(out, "DefaultCluster\n");

    // deleteSubGroup.
    ok(&ns, &["updateSubGroup", "-b", &addr, "-g", "GroupToDelete"]).await;
    let out = ok(&ns, &["deleteSubGroup", "-b", &addr, "-g", "GroupToDelete"]).await;
    assert_eq!(
        out,
        format!("delete subscription group [GroupToDelete] from broker [{addr}] success.\n")
    );

    // brokerConsumeStats: three messages, one consumed by CG-bcs (listed, as in Java, because
    // it is a subscription group of the broker).
    ok(&ns, &["updateSubGroup", "-b", &addr, "-g", "CG-bcs"]).await;
    let raw = RemotingClient::new(ClientConfig::default());
    for i in 0..3 {
        let r = raw
            .invoke(
                &addr,
                send_request("BcsTopic", &format!("m{i}")),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }
    let up = UpdateConsumerOffsetRequestHeader {
        consumer_group: "CG-bcs".into(),
        topic: "BcsTopic".into(),
        queue_id: 0,
        commit_offset: 1,
        ..Default::default()
    };
    let end = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let req = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, up.to_ext());
        raw.invoke(&addr, req, Duration::from_secs(10))
            .await
            .unwrap();
        let out = ok(&ns, &["brokerConsumeStats", "-b", &addr]).await;
        // Dispatch is asynchronous: wait for all three messages and the commit of one.
        let settled = out.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 7 && f[0] == "BcsTopic" && f[4..7] == ["3", "1", "2"]
        });
        if settled || Instant::now() > end {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(out.starts_with("#Topic"), "{out}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("BcsTopic"))
        .unwrap_or_else(|| panic!("{out}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..6],
        ["BcsTopic", "CG-bcs", "broker-a", "0", "3", "1"],
        "{out}"
    );
    assert_eq!(row[6], "2");
    assert!(out.ends_with("\nDiff Total: 2\n"), "{out}");

    // producer: the connections of a live producer group.
    let mut pc = client::ProducerConfig::new("PG-cli", &ns);
    pc.client.client_ip = Some("127.0.0.1".parse().unwrap());
    let producer = client::Producer::new(pc).unwrap();
    producer.start().await.unwrap();
    let sent = producer
        .send(client::Message::new("BcsTopic", "from a producer"))
        .await
        .unwrap();
    let out = eventually(&ns, &["producer", "-b", &addr], |o| o.contains("PG-cli")).await;
    let line = out.lines().find(|l| l.contains("PG-cli")).unwrap();
    assert!(
        line.starts_with(&format!(
            "producer group (PG-cli) instance : clientId={},remoteIP=127.0.0.1:",
            producer.instance().client_id()
        )),
        "{out}"
    );
    assert!(line.contains(", lastUpdateTimestamp="), "{out}");
    producer.shutdown().await;

    // queryMsgByUniqueKey: the id the producer was given.
    let out = eventually(
        &ns,
        &["queryMsgByUniqueKey", "-i", &sent.msg_id, "-t", "BcsTopic"],
        |o| o.contains("BcsTopic"),
    )
    .await;
    assert!(out.contains(&format!("{:<20}BcsTopic", "Topic:")), "{out}");
    let (success, _, _) = mqadmin(
        &ns,
        &[
            "queryMsgByUniqueKey",
            "-i",
            "0A0000000000000000000000000000FF",
            "-t",
            "BcsTopic",
        ],
    )
    .await;
    assert!(!success, "an unknown id is an error");

    // queryMsgById takes the unique id too, given the topic.
    let out = ok(&ns, &["queryMsgById", "-i", &sent.msg_id, "-t", "BcsTopic"]).await;
    assert!(out.contains(&format!("{:<20}BcsTopic", "Topic:")), "{out}");
    let (success, _, stderr) = mqadmin(&ns, &["queryMsgById", "-i", &sent.msg_id]).await;
    assert!(!success);
    assert!(stderr.contains("-t <topic>"), "{stderr}");

    // queryCq: the raw entries of BcsTopic queue 0.
    let out = ok(
        &ns,
        &["queryCq", "-t", "BcsTopic", "-q", "0", "-i", "1", "-c", "2"],
    )
    .await;
    assert!(out.starts_with("Queue data: \nmax: "), "{out}");
    assert!(
        out.contains("idx: 1\nConsumeQueueData{physicOffset="),
        "{out}"
    );
    assert!(
        out.contains("idx: 2\nConsumeQueueData{physicOffset="),
        "{out}"
    );
    assert!(!out.contains("idx: 3"), "{out}");

    // clusterRT: every broker of the cluster answers through its own topic.
    let out = ok(
        &ns,
        &["clusterRT", "-a", "3", "-s", "8", "-c", "DefaultCluster"],
    )
    .await;
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("DefaultCluster"))
        .unwrap_or_else(|| panic!("{out}"))
        .split_whitespace()
        .collect();
    assert_eq!((row[1], row[3], row[4]), ("broker-a", "3", "0"), "{out}");
    assert!(row[2].parse::<f64>().is_ok(), "{out}");

    // allocateMQ: the average split of PermTopic's two queues between two clients.
    let out = ok(
        &ns,
        &["allocateMQ", "-t", "PermTopic", "-i", "10.0.0.2,10.0.0.1"],
    )
    .await;
    assert_eq!(
        out,
        "{\"result\":{\"10.0.0.1\":[{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"PermTopic\"}],\
         \"10.0.0.2\":[{\"brokerName\":\"broker-a\",\"queueId\":1,\"topic\":\"PermTopic\"}]}}\n"
    );

    // updateOrderConf: put, get, delete in the name server's ORDER_TOPIC_CONFIG namespace.
    let out = ok(
        &ns,
        &[
            "updateOrderConf",
            "-t",
            "OrderT",
            "-m",
            "put",
            "-v",
            "broker-a:4",
        ],
    )
    .await;
    assert_eq!(
        out,
        "update orderConf success. topic=[OrderT], orderConf=[broker-a:4]\n"
    );
    let out = ok(&ns, &["updateOrderConf", "-t", "OrderT", "-m", "get"]).await;
    assert_eq!(
        out,
        "get orderConf success. topic=[OrderT], orderConf=[broker-a:4] \n"
    );
    let out = ok(&ns, &["updateOrderConf", "-t", "OrderT", "-m", "delete"]).await;
    assert_eq!(out, "delete orderConf success. topic=[OrderT]\n");
    let (success, _, _) = mqadmin(&ns, &["updateOrderConf", "-t", "OrderT", "-m", "get"]).await;
    assert!(!success, "a deleted order conf is not found");

    // consumerProgress without -g: one line per group with a retry topic.
    let mut cc = client::PushConsumerConfig::new("CG-prog", &ns);
    cc.client.client_ip = Some("127.0.0.1".parse().unwrap());
    cc.client.heartbeat_broker_interval = Duration::from_millis(500);
    let consumer = client::PushConsumer::new(cc).unwrap();
    consumer.subscribe("BcsTopic", "*").unwrap();
    consumer.register_listener_concurrently(
        |_: &[client::MessageExt], _: &mut client::ConsumeConcurrentlyContext| {
            client::ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    consumer.start().await.unwrap();
    let out = eventually(&ns, &["consumerProgress"], |o| {
        o.lines()
            .any(|l| l.starts_with("CG-prog") && l.contains("PUSH"))
    })
    .await;
    assert!(out.starts_with("#Group"), "{out}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("CG-prog"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row[1], "1", "{out}");
    assert_eq!(&row[3..5], ["PUSH", "CLUSTERING"], "{out}");
    // cloneGroupOffset: the destination group gets the queues' broker offsets, as in Java.
    let out = ok(
        &ns,
        &[
            "cloneGroupOffset",
            "-s",
            "CG-prog",
            "-d",
            "CG-clone",
            "-t",
            "BcsTopic",
        ],
    )
    .await;
    assert_eq!(
        out,
        "clone group offset success. srcGroup[CG-prog], destGroup=[CG-clone], topic[BcsTopic]\n"
    );
    let out = ok(
        &ns,
        &["consumerProgress", "-g", "CG-clone", "-t", "BcsTopic"],
    )
    .await;
    let q0: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("BcsTopic") && l.split_whitespace().nth(2) == Some("0"))
        .unwrap_or_else(|| panic!("{out}"))
        .split_whitespace()
        .collect();
    assert_eq!(q0[3], q0[4], "consumer offset = broker offset: {out}");
    assert_ne!(q0[3], "0", "{out}");
    consumer.shutdown().await;

    // clusterList -m: messages in and out yesterday and today, per broker.
    let out = ok(&ns, &["clusterList", "-m"]).await;
    assert!(out.starts_with("#Cluster Name"), "{out}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("DefaultCluster"))
        .unwrap_or_else(|| panic!("{out}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[1], "broker-a");
    assert!(row[4].parse::<i64>().unwrap() >= 4, "puts today: {out}");
    // -c keeps one cluster; an unknown one lists nothing.
    let out = ok(&ns, &["clusterList", "-c", "NoSuchCluster"]).await;
    assert_eq!(out.lines().count(), 1, "{out}");
    // -i repeats until interrupted: two listings arrive, then the process is stopped.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(["clusterList", "-i", "1", "-n", &ns])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let mut headers = 0;
    while headers < 2 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a listing within 30 s")
            .unwrap()
            .expect("still running");
        if line.starts_with("#Cluster Name") {
            headers += 1;
        }
    }
    child.kill().await.unwrap();

    // checkMsgSendRT: one row per send, queue by queue, then the average.
    let out = ok(
        &ns,
        &["checkMsgSendRT", "-t", "BcsTopic", "-a", "3", "-s", "16"],
    )
    .await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("#Broker Name"), "{out}");
    let qids: Vec<&str> = lines[1..4]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!((f[0], f[2]), ("broker-a", "true"), "{out}");
            f[1]
        })
        .collect();
    assert_eq!(qids, ["0", "1", "2"], "{out}");
    assert!(lines[4].starts_with("Avg RT: "), "{out}");
    // sendMsgStatus: sends to the topic named after the broker.
    let out = ok(
        &ns,
        &["sendMsgStatus", "-b", "broker-a", "-c", "2", "-s", "8"],
    )
    .await;
    assert_eq!(out.lines().count(), 2, "{out}");
    for l in out.lines() {
        assert!(
            l.starts_with("rt:")
                && l.contains("ms, SendResult=SendResult [sendStatus=SEND_OK, msgId="),
            "{out}"
        );
        assert!(
            l.contains("messageQueue=MessageQueue [topic=broker-a, brokerName=broker-a, queueId="),
            "{out}"
        );
    }

    // queryMsgByOffset: the second message of BcsTopic queue 0.
    let out = ok(
        &ns,
        &[
            "queryMsgByOffset",
            "-t",
            "BcsTopic",
            "-b",
            "broker-a",
            "-i",
            "0",
            "-o",
            "1",
        ],
    )
    .await;
    assert!(out.contains(&format!("{:<20}BcsTopic", "Topic:")), "{out}");
    assert!(
        out.contains(&format!("{:<20}1\n", "Queue Offset:")),
        "{out}"
    );
    let out = ok(
        &ns,
        &[
            "queryMsgByOffset",
            "-t",
            "BcsTopic",
            "-b",
            "broker-a",
            "-i",
            "0",
            "-o",
            "999",
        ],
    )
    .await;
    assert_eq!(out, "", "no message at that offset: nothing printed");

    // printMsgByQueue / printMsg: two tagged messages, read back in Java's layout.
    let mut pc = client::ProducerConfig::new("PG-print", &ns);
    pc.client.client_ip = Some("127.0.0.1".parse().unwrap());
    let producer = client::Producer::new(pc).unwrap();
    producer.start().await.unwrap();
    let mut printed = Vec::new();
    for _ in 0..2 {
        let r = producer
            .send(client::Message::new("PrintT", "print-me").with_tags("TagP"))
            .await
            .unwrap();
        printed.push(r);
    }
    producer.shutdown().await;
    let q = printed[0].message_queue.queue_id.to_string();
    let out = eventually(
        &ns,
        &[
            "printMsgByQueue",
            "-t",
            "PrintT",
            "-a",
            "broker-a",
            "-i",
            &q,
            "-p",
            "-d",
            "-f",
        ],
        |o| o.contains("Tag: TagP"),
    )
    .await;
    assert!(out.starts_with("minOffset=0, maxOffset="), "{out}");
    assert!(
        out.contains(&format!(
            "MSGID: {} MessageExt [brokerName=broker-a, queueId={q}, storeSize=",
            printed[0].msg_id
        )),
        "{out}"
    );
    assert!(
        out.contains("transactionId='null'}] BODY: print-me\n"),
        "{out}"
    );
    let want_count = printed
        .iter()
        .filter(|r| r.message_queue.queue_id == printed[0].message_queue.queue_id)
        .count();
    assert!(
        out.contains(&format!("Tag: {:<30} Count: {want_count}\n", "TagP")),
        "{out}"
    );
    let out = ok(&ns, &["printMsg", "-t", "PrintT", "-s", "TagP"]).await;
    assert_eq!(out.matches("BODY: print-me\n").count(), 2, "{out}");
    let out = ok(
        &ns,
        &["printMsg", "-t", "PrintT", "-s", "Other", "-d", "false"],
    )
    .await;
    assert!(!out.contains("MSGID:"), "{out}");

    // exportConfigs / exportMetadata: JSON files Java's tools write, under -f.
    let export = tempfile::tempdir().unwrap();
    let dir = export.path().display().to_string();
    let out = ok(&ns, &["exportConfigs", "-c", "DefaultCluster", "-f", &dir]).await;
    assert_eq!(out, format!("export {dir}/configs.json success"));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.path().join("configs.json")).unwrap())
            .unwrap();
    assert_eq!(v["clusterScale"]["masterBrokerSize"], 1, "{v}");
    assert_eq!(v["clusterScale"]["slaveBrokerSize"], 0, "{v}");
    assert_eq!(
        v["brokerConfigs"]["broker-a"]["filterServerNums"], "0",
        "{v}"
    );
    assert_eq!(v["brokerConfigs"]["broker-a"]["useTLS"], "false", "{v}");
    assert_eq!(
        v["brokerConfigs"]["broker-a"]["brokerRole"], "ASYNC_MASTER",
        "{v}"
    );
    let out = ok(&ns, &["exportMetadata", "-c", "DefaultCluster", "-f", &dir]).await;
    assert_eq!(out, format!("export {dir}/metadata.json success\n"));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.path().join("metadata.json")).unwrap())
            .unwrap();
    assert!(v["topicConfigTable"]["BcsTopic"].is_object(), "{v}");
    assert!(
        v["topicConfigTable"]["TBW102"].is_null(),
        "system topics left out: {v}"
    );
    assert!(
        !v["topicConfigTable"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("%RETRY%")),
        "{v}"
    );
    assert!(v["subscriptionGroupTable"].is_object(), "{v}");
    let out = ok(&ns, &["exportMetadata", "-b", &addr, "-t", "-f", &dir]).await;
    assert_eq!(out, format!("export {dir}/topic.json success"));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.path().join("topic.json")).unwrap()).unwrap();
    assert!(v["topicConfigTable"]["PrintT"].is_object(), "{v}");

    // consumerStatus: a live push consumer's own report, through the broker.
    let mut cc = client::PushConsumerConfig::new("CG-status", &ns);
    cc.client.client_ip = Some("127.0.0.1".parse().unwrap());
    let consumer = client::PushConsumer::new(cc).unwrap();
    consumer.subscribe("BcsTopic", "*").unwrap();
    consumer.register_listener_concurrently(
        |_: &[client::MessageExt], _: &mut client::ConsumeConcurrentlyContext| {
            client::ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    consumer.start().await.unwrap();
    let id = consumer.instance().client_id().to_string();
    let out = eventually(
        &ns,
        &["consumerStatus", "-g", "CG-status", "-i", &id],
        |o| o.contains("#Consumer Offset#") && o.contains("BcsTopic"),
    )
    .await;
    assert!(out.starts_with("#Consumer Properties#\n"), "{out}");
    assert!(
        out.contains(&format!("{:<40}: CONSUME_PASSIVELY\n", "PROP_CONSUME_TYPE")),
        "{out}"
    );
    assert!(out.contains("Topic: BcsTopic"), "{out}");
    let cwd = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(["consumerStatus", "-g", "CG-status", "-n", &ns])
        .current_dir(cwd.path())
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{out}");
    assert!(out.contains(&id), "{out}");
    assert!(
        out.contains("Same subscription in the same group of consumer"),
        "{out}"
    );
    assert!(out.contains("Rebalance OK"), "{out}");
    let file = out
        .lines()
        .find(|l| l.contains(&id))
        .and_then(|l| l.split_whitespace().last())
        .unwrap();
    let written = std::fs::read_to_string(cwd.path().join(file)).unwrap();
    assert!(written.starts_with("#Consumer Properties#"), "{written}");
    consumer.shutdown().await;

    // Housekeeping on demand.
    assert_eq!(
        ok(&ns, &["cleanUnusedTopic", "-b", &addr]).await,
        "success\n"
    );
    assert_eq!(
        ok(&ns, &["deleteExpiredCommitLog", "-c", "DefaultCluster"]).await,
        "success\n"
    );
    assert_eq!(
        ok(&ns, &["cleanExpiredCQ", "-c", "DefaultCluster"]).await,
        "success\n"
    );
    assert_eq!(ok(&ns, &["cleanExpiredCQ", "-b", &addr]).await, "success\n");

    b.shutdown().await;
    ns_handle.shutdown().await;
}
