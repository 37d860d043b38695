//! Features Java 4.9 clients use that need broker support: SQL92 filtering
//! (`enablePropertyFilter`, CHECK_CLIENT_CONFIG, pulls by subscription or heartbeat, long
//! polling woken only by matching messages). Real broker on 127.0.0.1:0, raw requests.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use remoting::body::client::{
    CheckClientRequestBody, ConsumerData, HeartbeatData, SubscriptionData,
};
use remoting::header::pull::{PullMessageRequestHeader, PullMessageResponseHeader, PullSysFlag};
use remoting::message::{Properties, decode_all};
use remoting::{CommandHeader, RemotingClient, RemotingCommand, RequestCode, ResponseCode};

const SQL: &str = "a BETWEEN 3 AND 6 AND b = 'x'";

fn sql_sub(topic: &str, sql: &str, version: i64) -> SubscriptionData {
    SubscriptionData {
        topic: topic.into(),
        sub_string: sql.into(),
        sub_version: version,
        expression_type: "SQL92".into(),
        ..Default::default()
    }
}

fn check_client_config(sub: SubscriptionData) -> RemotingCommand {
    let body = CheckClientRequestBody {
        client_id: "127.0.0.1@sql".into(),
        group: "CG-sql".into(),
        subscription_data: sub,
    };
    RemotingCommand::request(RequestCode::CHECK_CLIENT_CONFIG, Default::default())
        .with_body(body.encode().unwrap())
}

fn sql_pull(
    group: &str,
    topic: &str,
    offset: i64,
    suspend_ms: i64,
    sql: Option<&str>,
) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: PullSysFlag::build(false, suspend_ms > 0, sql.is_some(), false).0,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: sql.map(str::to_string),
        sub_version: 0,
        expression_type: Some("SQL92".into()),
        ..Default::default()
    };
    RemotingCommand::request(RequestCode::PULL_MESSAGE, h.to_ext())
}

async fn send_props(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    body: &str,
    pairs: &[(&str, &str)],
) {
    let mut p = Properties::new();
    for (k, v) in pairs {
        p.insert(k.to_string(), *v);
    }
    let r = invoke(
        client,
        addr,
        send_request(topic, 0, body.as_bytes(), p.encode().unwrap()),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
}

fn bodies(r: &RemotingCommand) -> Vec<String> {
    decode_all(&r.body)
        .unwrap()
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_refused_with_javas_remark_when_property_filter_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    let r = invoke(&client, &addr, check_client_config(sql_sub("Sql", SQL, 1))).await;
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The broker does not support consumer to filter message by SQL92")
    );
    let mut tag = sql_sub("Sql", "*", 1);
    tag.expression_type = "TAG".into();
    let r = invoke(&client, &addr, check_client_config(tag)).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    send_props(&client, &addr, "Sql", "m", &[("a", "4")]).await;
    let r = invoke(&client, &addr, sql_pull("CG-sql", "Sql", 0, 0, Some(SQL))).await;
    assert_eq!(
        r.response_code(),
        ResponseCode::SYSTEM_ERROR,
        "{:?}",
        r.remark
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_check_pull_heartbeat_and_long_polling() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.enable_property_filter = true;
    let (b, addr, client) = start_broker(cfg).await;

    // CHECK_CLIENT_CONFIG: a good expression passes, a bad one gets SUBSCRIPTION_PARSE_FAILED.
    let r = invoke(&client, &addr, check_client_config(sql_sub("Sql", SQL, 1))).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    for bad in ["a >", "a BETWEEN 6 AND 3", "a = NULL", "(a = 1"] {
        let r = invoke(&client, &addr, check_client_config(sql_sub("Sql", bad, 1))).await;
        assert_eq!(
            r.response_code(),
            ResponseCode::SUBSCRIPTION_PARSE_FAILED,
            "{bad}"
        );
    }

    // Ten messages: a = 0..9, b alternating x / y; one without properties.
    for i in 0..10 {
        let b = if i % 2 == 0 { "x" } else { "y" };
        send_props(
            &client,
            &addr,
            "Sql",
            &format!("m{i}"),
            &[("a", &i.to_string()), ("b", b)],
        )
        .await;
    }
    send_props(&client, &addr, "Sql", "bare", &[]).await;
    // Sends are acknowledged before dispatch writes the consume queue.
    assert_eq!(wait_max_offset(&client, &addr, "Sql", 0, 11).await, 11);

    // Subscription in the pull.
    let r = invoke(&client, &addr, sql_pull("CG-sql", "Sql", 0, 0, Some(SQL))).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["m4", "m6"]);
    let h: PullMessageResponseHeader = header(&r);
    assert_eq!(h.next_begin_offset, 11, "the scan covers every entry read");
    let r = invoke(&client, &addr, sql_pull("CG-sql", "Sql", 0, 0, Some("a >"))).await;
    assert_eq!(r.response_code(), ResponseCode::SUBSCRIPTION_PARSE_FAILED);
    // Nothing matches: NO_MATCHED (PULL_RETRY_IMMEDIATELY) with the offset moved past the scan.
    let r = invoke(
        &client,
        &addr,
        sql_pull("CG-sql", "Sql", 0, 0, Some("a > 100")),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::PULL_RETRY_IMMEDIATELY);
    assert_eq!(
        header::<PullMessageResponseHeader>(&r).next_begin_offset,
        11
    );
    // String properties compare as numbers; IN, IS NULL, TAGS-free messages.
    let r = invoke(
        &client,
        &addr,
        sql_pull("CG-sql", "Sql", 0, 0, Some("a IS NULL")),
    )
    .await;
    assert_eq!(bodies(&r), ["bare"]);
    let r = invoke(
        &client,
        &addr,
        sql_pull("CG-sql", "Sql", 0, 0, Some("b IN ('y') AND a >= 7")),
    )
    .await;
    assert_eq!(bodies(&r), ["m7", "m9"]);

    // Subscription from the heartbeat.
    let hb = |sql: &str, version: i64| {
        let data = HeartbeatData {
            client_id: "127.0.0.1@sqlhb".into(),
            consumer_data_set: vec![ConsumerData {
                group_name: "CG-hb".into(),
                subscription_data_set: vec![sql_sub("Sql", sql, version)],
                ..Default::default()
            }],
            ..Default::default()
        };
        RemotingCommand::request(RequestCode::HEART_BEAT, Default::default())
            .with_body(data.encode().unwrap())
    };
    let r = invoke(&client, &addr, hb("b = 'x' AND a < 3", 1)).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let r = invoke(&client, &addr, sql_pull("CG-hb", "Sql", 0, 0, None)).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["m0", "m2"]);
    // A bad expression registered by heartbeat: Java's FILTER_DATA_NOT_EXIST.
    let r = invoke(&client, &addr, hb("b = ", 2)).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let r = invoke(&client, &addr, sql_pull("CG-hb", "Sql", 0, 0, None)).await;
    assert_eq!(r.response_code(), ResponseCode::FILTER_DATA_NOT_EXIST);

    // Long polling: a held pull skips a non-matching arrival and answers with the matching one.
    let c2 = RemotingClient::new(remoting::ClientConfig::default());
    let addr2 = addr.clone();
    let held = tokio::spawn(async move {
        invoke(
            &c2,
            &addr2,
            sql_pull("CG-sql", "Sql", 11, 20_000, Some(SQL)),
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    send_props(
        &client,
        &addr,
        "Sql",
        "late-miss",
        &[("a", "9"), ("b", "x")],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    send_props(&client, &addr, "Sql", "late-hit", &[("a", "5"), ("b", "x")]).await;
    let r = held.await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["late-hit"]);
    assert_eq!(
        header::<PullMessageResponseHeader>(&r).next_begin_offset,
        13
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_topic_list_from_broker() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    let r = invoke(
        &client,
        &addr,
        RemotingCommand::request(
            RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_BROKER,
            Default::default(),
        ),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    let list = remoting::body::topic::TopicList::decode(&r.body).unwrap();
    for t in [
        "TBW102",
        "SELF_TEST_TOPIC",
        "SCHEDULE_TOPIC_XXXX",
        "DefaultCluster_REPLY_TOPIC",
        "broker-a",
        "DefaultCluster",
    ] {
        assert!(list.topic_list.contains(t), "{t} in {:?}", list.topic_list);
    }
    assert!(list.broker_addr.is_none());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_info_and_broker_consume_stats() {
    use remoting::body::admin::{ConsumeStatsList, ProducerTableInfo};
    use remoting::header::admin::GetConsumeStatsInBrokerHeader;
    use remoting::header::offset::UpdateConsumerOffsetRequestHeader;

    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    // A client with a producer group and a consumer group, by heartbeat.
    let r = invoke(
        &client,
        &addr,
        heartbeat_request("127.0.0.1@stats", Some("PG-stats"), "CG-stats", "Stats", 1),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let r = invoke(
        &client,
        &addr,
        RemotingCommand::request(RequestCode::GET_ALL_PRODUCER_INFO, Default::default()),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    let table = ProducerTableInfo::decode(&r.body).unwrap();
    let infos = &table.data["PG-stats"];
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].client_id, "127.0.0.1@stats");
    assert!(infos[0].remote_ip.starts_with("127.0.0.1:"));
    assert!(infos[0].last_update_timestamp > 1_600_000_000_000);
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("\"remoteIP\""), "{text}");

    // Five messages in queue 0, three consumed by CG-stats: lag 2.
    for i in 0..5 {
        send_props(&client, &addr, "Stats", &format!("s{i}"), &[("k", "v")]).await;
    }
    let up = UpdateConsumerOffsetRequestHeader {
        consumer_group: "CG-stats".into(),
        topic: "Stats".into(),
        queue_id: 0,
        commit_offset: 3,
        ..Default::default()
    };
    // The broker clamps a commit to the queue's current end (the consume queue is built
    // asynchronously), so it is repeated until it sticks.
    let commit = || request(RequestCode::UPDATE_CONSUMER_OFFSET, &up);
    let c = invoke(&client, &addr, commit()).await;
    assert_eq!(c.response_code(), ResponseCode::SUCCESS, "{:?}", c.remark);
    // The consume queue is built asynchronously: poll until the five messages count.
    let ask = || {
        request(
            RequestCode::GET_BROKER_CONSUME_STATS,
            &GetConsumeStatsInBrokerHeader { is_order: false },
        )
    };
    let mut r = invoke(&client, &addr, ask()).await;
    for _ in 0..100 {
        assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
        // Settled when all five messages are dispatched and the commit of three stuck.
        let l = ConsumeStatsList::decode(&r.body).unwrap();
        let settled = l
            .consume_stats_list
            .iter()
            .filter_map(|m| m.get("CG-stats"))
            .flatten()
            .flat_map(|s| s.offset_table.values())
            .any(|w| w.broker_offset == 5 && w.consumer_offset == 3);
        if settled {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        invoke(&client, &addr, commit()).await;
        r = invoke(&client, &addr, ask()).await;
    }
    let list = ConsumeStatsList::decode(&r.body).unwrap();
    assert_eq!(list.broker_addr, b.broker_addr());
    let group = list
        .consume_stats_list
        .iter()
        .find_map(|m| m.get("CG-stats"))
        .expect("CG-stats listed");
    assert_eq!(group.len(), 1, "{list:?}");
    assert_eq!(group[0].total_diff(), 2, "{list:?}");
    assert_eq!(list.total_diff, 2);
    // Java tools parse the queue keys only in fastjson's inline-object form.
    assert!(String::from_utf8_lossy(&r.body).contains("{{\"brokerName\""));
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_info_has_javas_failure_and_per_directory_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = broker_config(dir.path(), None);
    let commit_dir = cfg.commit_log_dir();
    let (b, addr, client) = start_broker(cfg).await;
    let r = invoke(
        &client,
        &addr,
        RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, Default::default()),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let kv = remoting::body::kv::KVTable::decode(&r.body).unwrap();
    assert_eq!(
        kv.table.get("putMessageFailedTimes").map(String::as_str),
        Some("0")
    );
    let ratio = kv
        .table
        .get(&format!("commitLogDiskRatio_{commit_dir}"))
        .unwrap_or_else(|| panic!("{:?}", kv.table.keys()));
    let v: f64 = ratio.parse().unwrap();
    assert!((0.0..=1.0).contains(&v), "{ratio}");
    assert_eq!(
        kv.table.get("EndTransactionQueueSize").map(String::as_str),
        Some("0")
    );
    assert!(
        kv.table
            .contains_key("EndTransactionThreadPoolQueueCapacity")
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_unused_topic_and_delete_expired_commit_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = broker_config(dir.path(), None);
    let root = std::path::PathBuf::from(&cfg.store_path_root_dir);
    let (b, addr, client) = start_broker(cfg.clone()).await;
    send_props(&client, &addr, "Unused", "u", &[("k", "v")]).await;
    send_props(&client, &addr, "Kept", "k", &[("k", "v")]).await;
    let cq = root.join("consumequeue");
    for _ in 0..100 {
        if cq.join("Unused").exists() && cq.join("Kept").exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(cq.join("Unused").exists() && cq.join("Kept").exists());
    b.shutdown().await;

    // The topic's config goes away while its consume queue stays (as after a manual edit).
    let topics = root.join("config").join("topics.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&topics).unwrap()).unwrap();
    json["topicConfigTable"]
        .as_object_mut()
        .unwrap()
        .remove("Unused")
        .unwrap();
    std::fs::write(&topics, serde_json::to_vec(&json).unwrap()).unwrap();

    let (b, addr, client) = start_broker(cfg).await;
    let r = invoke(
        &client,
        &addr,
        RemotingCommand::request(RequestCode::CLEAN_UNUSED_TOPIC, Default::default()),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert!(!cq.join("Unused").exists(), "unused consume queue removed");
    assert!(
        cq.join("Kept").exists(),
        "a configured topic keeps its queue"
    );
    let r = invoke(
        &client,
        &addr,
        RemotingCommand::request(RequestCode::DELETE_EXPIRED_COMMITLOG, Default::default()),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    // Nothing is expired yet: the message is still there.
    let r = invoke(
        &client,
        &addr,
        pull_request("CG-kept", "Kept", 0, 0, 0, "*"),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["k"]);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_expired_consume_queue_drops_queues_whose_messages_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    // Tiny segments, kept for no time: deleting expired files removes all but the last.
    cfg.mapped_file_size_commit_log = 40960;
    cfg.max_message_size = 1024;
    cfg.file_reserved_time = 0;
    let root = std::path::PathBuf::from(&cfg.store_path_root_dir);
    let (b, addr, client) = start_broker(cfg).await;
    let body = "o".repeat(600);
    for _ in 0..120 {
        send_props(&client, &addr, "OldOnes", &body, &[("k", "v")]).await;
    }
    for _ in 0..70 {
        send_props(&client, &addr, "NewOnes", &body, &[("k", "v")]).await;
    }
    let cq = root.join("consumequeue");
    for _ in 0..100 {
        if cq.join("OldOnes").exists() && cq.join("NewOnes").exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let clean = || {
        invoke(
            &client,
            &addr,
            RemotingCommand::request(RequestCode::CLEAN_EXPIRED_CONSUMEQUEUE, Default::default()),
        )
    };
    // Nothing expired yet: both stay.
    let r = clean().await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert!(cq.join("OldOnes").exists() && cq.join("NewOnes").exists());
    let r = invoke(
        &client,
        &addr,
        RemotingCommand::request(RequestCode::DELETE_EXPIRED_COMMITLOG, Default::default()),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    let r = clean().await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert!(
        !cq.join("OldOnes").exists(),
        "expired consume queue removed"
    );
    assert!(
        cq.join("NewOnes").exists(),
        "a queue with live messages stays"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_consume_queue_entries() {
    use remoting::body::admin::QueryConsumeQueueResponseBody;
    use remoting::header::admin::QueryConsumeQueueRequestHeader;

    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    for (i, tag) in ["TagA", "TagB", "TagA"].iter().enumerate() {
        send_props(
            &client,
            &addr,
            "CqTopic",
            &format!("c{i}"),
            &[("TAGS", tag)],
        )
        .await;
    }
    let ask = |topic: &str, index: i64| {
        request(
            RequestCode::QUERY_CONSUME_QUEUE,
            &QueryConsumeQueueRequestHeader {
                topic: topic.into(),
                queue_id: 0,
                index,
                count: 10,
                consumer_group: None,
            },
        )
    };
    let mut body = None;
    for _ in 0..100 {
        let r = invoke(&client, &addr, ask("CqTopic", 0)).await;
        assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
        if !r.body.is_empty() {
            let b = QueryConsumeQueueResponseBody::decode(&r.body).unwrap();
            if b.queue_data.len() == 3 {
                body = Some(b);
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let body = body.expect("three entries");
    assert_eq!((body.min_queue_index, body.max_queue_index), (0, 3));
    let codes: Vec<i64> = body.queue_data.iter().map(|d| d.tags_code).collect();
    let a = i64::from(remoting::message::java_string_hash("TagA"));
    let bb = i64::from(remoting::message::java_string_hash("TagB"));
    assert_eq!(codes, [a, bb, a]);
    let offs: Vec<i64> = body.queue_data.iter().map(|d| d.physic_offset).collect();
    assert!(offs.windows(2).all(|w| w[0] < w[1]), "{offs:?}");
    assert!(body.queue_data.iter().all(|d| d.physic_size > 0));
    // Past the end: SUCCESS without a body, as Java answers.
    let r = invoke(&client, &addr, ask("CqTopic", 7)).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    assert!(r.body.is_empty());
    assert_eq!(
        r.remark.as_deref(),
        Some("Index 7 of 0@CqTopic is not exist!")
    );
    let r = invoke(&client, &addr, ask("Nope", 0)).await;
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(r.remark.as_deref(), Some("0@Nope is not exist!"));
    b.shutdown().await;
}
