//! Delivery semantics against an in-process broker over real sockets: delayed messages
//! (1,000 at mixed short levels, none early, none lost, none repeated across a restart in the
//! middle or after a crash left stale progress; only a master delivers) and the bad-input answers of the delivery requests (nothing stored).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use broker::services::schedule::DelayOffsets;
use broker::{Broker, BrokerConfig};
use common::*;
use remoting::body::topic::TopicConfig;
use remoting::header::send::ConsumerSendMsgBackRequestHeader;
use remoting::header::transaction::EndTransactionRequestHeader;
use remoting::message::{Properties, decode_all, keys};
use remoting::{
    ClientConfig, CommandHeader, RemotingClient, RemotingCommand, RequestCode, ResponseCode,
};

fn code(r: &RemotingCommand) -> ResponseCode {
    r.response_code()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn delayed_props(uniq: &str, level: i32) -> String {
    let mut p = Properties::new();
    p.insert(keys::UNIQ_KEY, uniq);
    p.insert(keys::DELAY, level.to_string());
    p.encode().unwrap()
}

/// Every record of `topic` queues `0..queues`, read straight from the broker's store.
fn read_topic(
    b: &broker::BrokerHandle,
    topic: &str,
    queues: i32,
) -> Vec<remoting::message::MessageRecord> {
    let store = &b.context().store;
    let mut out = Vec::new();
    for q in 0..queues {
        let mut off = 0;
        loop {
            let got = store.get(topic, q, off, 32, None);
            if got.records.is_empty() {
                break;
            }
            for raw in &got.records {
                out.extend(decode_all(raw).unwrap());
            }
            off = got.next_begin_offset;
        }
    }
    out
}

const LEVELS_MS: [i64; 4] = [200, 500, 1000, 3000];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_messages_arrive_on_time_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.message_delay_level = "200ms 500ms 1s 3s".into();
    let b = Broker::start(cfg.clone()).await.unwrap();
    b.context()
        .topics
        .upsert(TopicConfig::with_queues("Delayed", 4, 4, 6))
        .unwrap();
    let addr = b.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());
    // uniq → (queue, level, earliest due time)
    let mut sent: HashMap<String, (i32, i32, i64)> = HashMap::new();
    for i in 0..1000 {
        let level = (i % 4) + 1;
        let queue = (i / 4) % 4;
        let uniq = format!("DELAYED-{i:04}");
        let t0 = now_ms();
        let r = client
            .invoke(
                &addr,
                send_request(
                    "Delayed",
                    queue,
                    format!("m{i}").as_bytes(),
                    delayed_props(&uniq, level),
                ),
                TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
        sent.insert(uniq, (queue, level, t0 + LEVELS_MS[level as usize - 1]));
    }
    // Restart once the first deliveries happened (the 3 s level cannot have been delivered
    // yet unless the machine stalled; either way nothing may be lost or repeated).
    let start = Instant::now();
    while read_topic(&b, "Delayed", 4).is_empty() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = read_topic(&b, "Delayed", 4).len();
    eprintln!("delivered before the restart: {before} of 1000");
    b.shutdown().await;
    let b = Broker::start(cfg.clone()).await.unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(40) && read_topic(&b, "Delayed", 4).len() < 1000 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let any stray re-delivery show up before counting.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = read_topic(&b, "Delayed", 4);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &got {
        let uniq = m.properties.get(keys::UNIQ_KEY).unwrap().to_string();
        *seen.entry(uniq.clone()).or_default() += 1;
        let (queue, level, due) = sent[&uniq];
        assert_eq!(m.queue_id, queue, "{uniq} delivered to its REAL_QID");
        assert!(
            m.store_timestamp >= due,
            "{uniq} (level {level}) delivered {} ms early",
            due - m.store_timestamp
        );
        // As Java's delivered messages: DELAY, REAL_TOPIC and REAL_QID kept.
        assert_eq!(
            m.properties.get(keys::DELAY),
            Some(level.to_string().as_str()),
            "{uniq} keeps its DELAY level"
        );
        assert_eq!(m.properties.get(keys::REAL_TOPIC), Some("Delayed"));
        assert_eq!(
            m.properties.get(keys::REAL_QID),
            Some(queue.to_string().as_str())
        );
        assert_eq!(m.topic, "Delayed");
    }
    assert_eq!(seen.len(), 1000, "every delayed message arrived");
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "re-delivered: {dups:?}");
    // Progress on disk: 250 per level.
    let offsets = DelayOffsets::load(&dir.path().join("config/delayOffset.json")).unwrap();
    assert_eq!(
        offsets.offset_table,
        (1..=4).map(|l| (l, 250)).collect(),
        "delayOffset.json"
    );

    // A crash between deliveries and the progress write leaves delayOffset.json behind: roll
    // level 1 back by 20 entries and level 2 to the start. Nothing may be delivered twice.
    b.shutdown().await;
    let mut stale = offsets.clone();
    stale.offset_table.insert(1, 230);
    stale.offset_table.insert(2, 0);
    stale
        .save(&dir.path().join("config/delayOffset.json"))
        .unwrap();
    let b = Broker::start(cfg).await.unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let o = b.context().schedule.get().unwrap().offsets();
        if o.offset_table.get(&1) == Some(&250) && o.offset_table.get(&2) == Some(&250) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        read_topic(&b, "Delayed", 4).len(),
        1000,
        "stale progress re-delivered messages"
    );
    assert_eq!(
        b.context().schedule.get().unwrap().offsets(),
        offsets,
        "progress caught up"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_master_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.message_delay_level = "200ms 500ms 1s 2s".into();
    let b = Broker::start(cfg.clone()).await.unwrap();
    b.context()
        .topics
        .upsert(TopicConfig::with_queues("Later", 1, 1, 6))
        .unwrap();
    let addr = b.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());
    for i in 0..5 {
        let r = client
            .invoke(
                &addr,
                send_request("Later", 0, b"x", delayed_props(&format!("LATER-{i}"), 4)),
                TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
    }
    assert_eq!(
        wait_max_offset(&client, &addr, keys::SCHEDULE_TOPIC, 3, 5).await,
        5
    );
    b.shutdown().await;
    let at_shutdown = {
        // Whatever the master managed before it stopped (normally nothing: the level is 2 s).
        let b = Broker::start(BrokerConfig {
            broker_role: broker::BrokerRole::Slave,
            broker_id: 1,
            ..cfg.clone()
        })
        .await
        .unwrap();
        let before = read_topic(&b, "Later", 1).len();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            read_topic(&b, "Later", 1).len(),
            before,
            "a slave delivered delayed messages"
        );
        b.shutdown().await;
        before
    };
    // Back as master: all five arrive, once.
    let b = Broker::start(cfg).await.unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) && read_topic(&b, "Later", 1).len() < 5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        read_topic(&b, "Later", 1).len(),
        5,
        "delivered before: {at_shutdown}"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_delivery_input_gets_clear_errors_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.message_delay_level = "1s 2s 3s 4s".into();
    cfg.auto_create_subscription_group = false;
    let b = Broker::start(cfg).await.unwrap();
    let ctx = b.context().clone();
    ctx.topics
        .upsert(TopicConfig::with_queues("Plain", 1, 1, 6))
        .unwrap();
    let addr = b.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());

    // Delay levels out of range or not numbers.
    for level in ["5", "-1", "x", "99999999999"] {
        let mut p = Properties::new();
        p.insert(keys::DELAY, level);
        let r = client
            .invoke(
                &addr,
                send_request("Plain", 0, b"d", p.encode().unwrap()),
                TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(code(&r), ResponseCode::MESSAGE_ILLEGAL, "DELAY {level}");
        assert!(r.remark_str().contains("delay level"), "{}", r.remark_str());
    }
    // One good message to point at.
    let r = send(&client, &addr, "Plain", 0, b"ok", None, None).await;
    assert_eq!(code(&r), ResponseCode::SUCCESS);
    assert_eq!(wait_max_offset(&client, &addr, "Plain", 0, 1).await, 1);

    // END_TRANSACTION: unknown offset, a normal message, a bad decision value.
    let end = |offset: i64, decision: i32| EndTransactionRequestHeader {
        producer_group: "PG".into(),
        tran_state_table_offset: 0,
        commit_log_offset: offset,
        commit_or_rollback: decision,
        from_transaction_check: Some(false),
        msg_id: "X".into(),
        transaction_id: None,
        bname: None,
    };
    for (h, what) in [
        (end(987_654, 8), "no half message"),
        (end(0, 8), "no half message"),
        (end(0, 12), "no half message"),
        (end(0, 5), "illegal commitOrRollback"),
    ] {
        let r = client
            .invoke(
                &addr,
                RemotingCommand::request(RequestCode::END_TRANSACTION, h.to_ext()),
                TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(code(&r), ResponseCode::SYSTEM_ERROR);
        assert!(r.remark_str().contains(what), "{}", r.remark_str());
    }

    // Send-back: missing message, an offset inside a record, an unknown group.
    ctx.groups
        .upsert(broker::state::subscription_group::SubscriptionGroupConfig::new("CG"))
        .unwrap();
    let back = |offset: i64, group: &str| ConsumerSendMsgBackRequestHeader {
        offset,
        group: group.into(),
        delay_level: 0,
        ..Default::default()
    };
    for (h, want) in [
        (back(987_654, "CG"), ResponseCode::SYSTEM_ERROR),
        (back(3, "CG"), ResponseCode::SYSTEM_ERROR),
        (
            back(0, "NO_SUCH_GROUP"),
            ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
        ),
        (back(0, "../x"), ResponseCode::SYSTEM_ERROR),
    ] {
        let r = client
            .invoke(
                &addr,
                RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK, h.to_ext()),
                TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(code(&r), want, "{:?}", r.remark);
        assert!(!r.remark_str().is_empty());
    }

    // Nothing stored anywhere but the one good message.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = &ctx.store;
    assert_eq!(store.max_offset("Plain", 0), 1);
    for q in 0..4 {
        assert_eq!(store.max_offset(keys::SCHEDULE_TOPIC, q), 0);
    }
    assert_eq!(store.max_offset("%RETRY%CG", 0), 0);
    assert_eq!(store.max_offset("%DLQ%CG", 0), 0);
    assert_eq!(store.max_offset("RMQ_SYS_TRANS_OP_HALF_TOPIC", 0), 0);
    assert!(ctx.topics.get("%DLQ%CG").is_none());

    // A valid send-back of the good message works and goes through the schedule topic.
    let r = client
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK, back(0, "CG").to_ext()),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
    // Level 3 + 0 = 3 → schedule queue 2.
    assert_eq!(
        wait_max_offset(&client, &addr, keys::SCHEDULE_TOPIC, 2, 1).await,
        1
    );
    let rec = &read_topic(&b, keys::SCHEDULE_TOPIC, 4)[0];
    assert_eq!(rec.reconsume_times, 1);
    assert_eq!(rec.properties.get(keys::REAL_TOPIC), Some("%RETRY%CG"));
    assert_eq!(rec.properties.get(keys::RETRY_TOPIC), Some("Plain"));
    b.shutdown().await;
}
