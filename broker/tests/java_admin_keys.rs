//! GET_BROKER_CONFIG, GET_BROKER_RUNTIME_INFO and VIEW_BROKER_STATS_DATA of a real broker
//! against the key lists read from Java 4.9.7's sources (`broker::java_config_keys`,
//! `broker::handlers::runtime_extras::java_runtime_info_keys`): every key Java returns is there, in
//! Java's formats.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use broker::handlers::runtime_extras::java_runtime_info_keys;
use broker::java_config_keys::{JAVA_NULL_BY_DEFAULT, java_keys};
use common::*;
use remoting::body::kv::KVTable;
use remoting::{RemotingCommand, RequestCode, ResponseCode};

async fn call(
    client: &remoting::RemotingClient,
    addr: &str,
    code: RequestCode,
    pairs: &[(&str, String)],
) -> RemotingCommand {
    invoke(client, addr, RemotingCommand::request(code, ext(pairs))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_config_has_every_key_java_4_9_7_returns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = broker_config(dir.path(), Some("127.0.0.1:9".into()));
    let (b, addr, client) = start_broker(cfg).await;
    let r = call(&client, &addr, RequestCode::GET_BROKER_CONFIG, &[]).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let props: BTreeMap<String, String> = remoting::properties::parse(&text).into_iter().collect();
    // Every Java key that is not null by default, namesrvAddr (set here) and rocketmqHome when
    // ROCKETMQ_HOME is set, exactly once.
    let java = java_keys();
    assert_eq!(java.len(), 184);
    let home = std::env::var("ROCKETMQ_HOME").is_ok_and(|h| !h.is_empty());
    let expected: Vec<&str> = java
        .iter()
        .copied()
        .filter(|k| {
            !JAVA_NULL_BY_DEFAULT.contains(k)
                || *k == "namesrvAddr"
                || (*k == "rocketmqHome" && home)
        })
        .collect();
    let missing: Vec<&&str> = expected
        .iter()
        .filter(|k| !props.contains_key(**k))
        .collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
    assert_eq!(expected.len(), if home { 176 } else { 175 });
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or_default();
        assert_eq!(
            text.lines()
                .filter(|l| l.split('=').next() == Some(key))
                .count(),
            1,
            "{key} twice"
        );
    }
    // Java's formats: booleans, enums, numbers, the real port and the HA port.
    assert_eq!(props["useTLS"], "false");
    assert_eq!(props["filterServerNums"], "0");
    assert_eq!(props["brokerRole"], "ASYNC_MASTER");
    assert_eq!(props["flushDiskType"], "ASYNC_FLUSH");
    assert_eq!(props["clientCloseSocketIfTimeout"], "true");
    assert_eq!(props["brokerIP1"], "127.0.0.1");
    assert_eq!(props["namesrvAddr"], "127.0.0.1:9");
    let port = addr.rsplit_once(':').unwrap().1;
    assert_eq!(props["listenPort"], port);
    assert!(props["haListenPort"].parse::<u16>().is_ok());
    // 4.9.7 has no such fields (5.x does): not reported.
    assert!(!props.contains_key("disableCallbackExecutor"));
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_info_and_stats_data_have_javas_keys_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    for i in 0..5 {
        let r = send(
            &client,
            &addr,
            "StatsT",
            0,
            format!("m{i}").as_bytes(),
            None,
            None,
        )
        .await;
        assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    }
    wait_max_offset(&client, &addr, "StatsT", 0, 5).await;
    let r = invoke(
        &client,
        &addr,
        pull_request("StatsG", "StatsT", 0, 0, 0, "*"),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);

    let r = call(&client, &addr, RequestCode::GET_BROKER_RUNTIME_INFO, &[]).await;
    let table = KVTable::decode(&r.body).unwrap().table;
    let missing: Vec<_> = java_runtime_info_keys()
        .into_iter()
        .filter(|k| !table.contains_key(*k))
        .collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
    assert!(
        table
            .keys()
            .any(|k| k.starts_with("commitLogDiskRatio_") && k.ends_with("commitlog")),
        "{table:?}"
    );
    assert!(!table.contains_key("remainHowManyDataToCommit"));
    // Formats: two decimals, Java's histogram text, human-readable sizes, doubles with a dot.
    assert!(table["putLatency99"].parse::<f64>().is_ok());
    assert_eq!(
        table["putLatency99"].split('.').nth(1).map(str::len),
        Some(2)
    );
    assert!(table["putMessageDistributeTime"].starts_with("[<=0ms]:"));
    assert!(table["commitLogDirCapacity"].starts_with("Total : "));
    assert!(table["commitLogDiskRatio"].contains('.'));
    assert_eq!(table["remainHowManyDataToFlush"], "0 B");
    assert_eq!(table["putMessageTimesTotal"], "5");
    // Sizes are of the stored records, as Java's `wroteBytes`, not of the 2-byte bodies.
    let size: u64 = table["putMessageSizeTotal"].parse().unwrap();
    assert!(size > 5 * 100, "{size}");

    // VIEW_BROKER_STATS_DATA: Java's keys; the minute window shows the puts once sampled.
    let body =
        |r: &RemotingCommand| -> serde_json::Value { serde_json::from_slice(&r.body).unwrap() };
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let r = call(
            &client,
            &addr,
            RequestCode::VIEW_BROKER_STATS_DATA,
            &[
                ("statsName", "TOPIC_PUT_NUMS".into()),
                ("statsKey", "StatsT".into()),
            ],
        )
        .await;
        assert_eq!(r.response_code(), ResponseCode::SUCCESS);
        let v = body(&r);
        for w in ["statsMinute", "statsHour", "statsDay"] {
            for f in ["sum", "tps", "avgpt"] {
                assert!(v[w][f].is_number(), "{w}.{f} in {v}");
            }
        }
        if v["statsMinute"]["sum"] == 5 {
            assert!(v["statsMinute"]["tps"].as_f64().unwrap() > 0.0);
            assert_eq!(v["statsMinute"]["avgpt"].as_f64(), Some(1.0));
            break;
        }
        assert!(Instant::now() < end, "never sampled: {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let r = call(
            &client,
            &addr,
            RequestCode::VIEW_BROKER_STATS_DATA,
            &[
                ("statsName", "GROUP_GET_NUMS".into()),
                ("statsKey", "StatsT@StatsG".into()),
            ],
        )
        .await;
        assert_eq!(r.response_code(), ResponseCode::SUCCESS);
        if body(&r)["statsMinute"]["sum"] == 5 {
            break;
        }
        assert!(Instant::now() < end, "never sampled");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A delayed send counts under SCHEDULE_TOPIC_XXXX, where Java's commit log stores it.
    let mut p = remoting::message::Properties::new();
    p.insert("DELAY", "1");
    let r = invoke(
        &client,
        &addr,
        send_request("StatsT", 1, b"d", p.encode().unwrap()),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let r = call(
        &client,
        &addr,
        RequestCode::VIEW_BROKER_STATS_DATA,
        &[
            ("statsName", "TOPIC_PUT_NUMS".into()),
            ("statsKey", "SCHEDULE_TOPIC_XXXX".into()),
        ],
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    // Delivered at its time: a get by SCHEDULE_CONSUMER from the schedule topic, as Java counts.
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let r = call(
            &client,
            &addr,
            RequestCode::VIEW_BROKER_STATS_DATA,
            &[
                ("statsName", "GROUP_GET_NUMS".into()),
                ("statsKey", "SCHEDULE_TOPIC_XXXX@SCHEDULE_CONSUMER".into()),
            ],
        )
        .await;
        if r.response_code() == ResponseCode::SUCCESS {
            break;
        }
        assert!(Instant::now() < end, "delayed message never delivered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = call(
        &client,
        &addr,
        RequestCode::VIEW_BROKER_STATS_DATA,
        &[
            ("statsName", "TOPIC_PUT_NUMS".into()),
            ("statsKey", "NoSuchTopic".into()),
        ],
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The stats <TOPIC_PUT_NUMS> <NoSuchTopic> not exist")
    );
    b.shutdown().await;
}
