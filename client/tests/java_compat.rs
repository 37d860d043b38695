//! Java 4.9 client features through the project's client against a real name server and broker:
//! SQL92 subscriptions (`subscribe_sql`) and request-reply (`Producer::request`,
//! `create_reply_message`, the broker's PUSH_REPLY_MESSAGE_TO_CLIENT).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use client::{
    ClientError, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, Message, MessageExt,
    PushConsumer, create_reply_message,
};
use common::*;
use parking_lot::Mutex;
use remoting::message::keys;

async fn reply_topic_messages(env: &Env) -> i64 {
    let topic = format!("{}_REPLY_TOPIC", env.broker_config.broker_cluster_name);
    env.admin
        .topic_stats(&topic)
        .await
        .map(|s| s.offset_table.values().map(|o| o.max_offset).sum())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_push_consumer_gets_exactly_the_matching_messages() {
    let env = Env::start_with(|c| c.enable_property_filter = true).await;
    let ns = env.ns_addr.clone();
    env.create_topic("SqlTopic", 4).await;
    let producer = start_producer("PG-sql", &ns).await;
    let mut want = BTreeSet::new();
    for i in 0..40 {
        let a = i % 10;
        let b = if i % 3 == 0 { "x" } else { "y" };
        if (3..=6).contains(&a) && b == "x" {
            want.insert(format!("m{i}"));
        }
        let msg = Message::new("SqlTopic", format!("m{i}"))
            .with_tags(if i % 2 == 0 { "TagA" } else { "TagB" })
            .with_property("a", a.to_string())
            .with_property("b", b);
        producer.send(msg).await.unwrap();
    }
    assert!(!want.is_empty());

    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let c = PushConsumer::new(consumer_config("CG-sql", &ns)).unwrap();
    c.subscribe_sql("SqlTopic", "a BETWEEN 3 AND 6 AND b = 'x'")
        .unwrap();
    let g = got.clone();
    c.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            g.lock().extend(msgs.iter().map(MessageExt::body_str));
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    c.start().await.unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || got.lock().len() >= want.len()).await,
        "got {:?}, want {want:?}",
        got.lock()
    );
    // A later matching message arrives through long polling; non-matching ones never do.
    producer
        .send(
            Message::new("SqlTopic", "late-miss")
                .with_property("a", "9")
                .with_property("b", "x"),
        )
        .await
        .unwrap();
    producer
        .send(
            Message::new("SqlTopic", "late-hit")
                .with_property("a", "4")
                .with_property("b", "x"),
        )
        .await
        .unwrap();
    want.insert("late-hit".into());
    assert!(wait_until(Duration::from_secs(30), || got.lock().len() >= want.len()).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_set: BTreeSet<String> = got.lock().iter().cloned().collect();
    assert_eq!(got_set, want);
    assert_eq!(
        got.lock().len(),
        want.len(),
        "no duplicates: {:?}",
        got.lock()
    );
    c.shutdown().await;
    producer.shutdown().await;
    env.shutdown().await;
}

/// A responder: a push consumer on `topic` answering each request with "re:<body>".
async fn responder(ns: &str, topic: &str) -> (PushConsumer, client::Producer) {
    let replier = start_producer("PG-replier", ns).await;
    let c = PushConsumer::new(consumer_config("CG-responder", ns)).unwrap();
    c.subscribe(topic, "*").unwrap();
    let p = replier.clone();
    c.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            for m in msgs {
                let reply = create_reply_message(m, format!("re:{}", m.body_str())).unwrap();
                let p = p.clone();
                tokio::spawn(async move {
                    let _ = p.send(reply).await;
                });
            }
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    c.start().await.unwrap();
    (c, replier)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_round_trip_and_stored_reply() {
    let env = Env::start().await;
    let ns = env.ns_addr.clone();
    env.create_topic("ReqTopic", 2).await;
    let (c, replier) = responder(&ns, "ReqTopic").await;
    let requester = start_producer("PG-requester", &ns).await;
    for i in 0..3 {
        let reply = requester
            .request(
                Message::new("ReqTopic", format!("q{i}")),
                Duration::from_secs(20),
            )
            .await
            .unwrap();
        assert_eq!(reply.body_str(), format!("re:q{i}"));
        assert_eq!(reply.property(keys::MSG_TYPE), Some("reply"));
        assert_eq!(
            reply.property(keys::REPLY_TO_CLIENT),
            Some(requester.instance().client_id())
        );
        assert!(reply.property(keys::PUSH_REPLY_TIME).is_some());
        assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
    }
    assert_eq!(requester.instance().reply_waiters().pending(), 0);
    // storeReplyMessageEnable (default true): the replies are in the reply topic too.
    assert!(wait_until_async(|| async { reply_topic_messages(&env).await >= 3 }).await);
    c.shutdown().await;
    replier.shutdown().await;
    requester.shutdown().await;
    env.shutdown().await;
}

async fn wait_until_async<F, Fut>(f: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_not_stored_when_disabled_and_unanswered_request_times_out() {
    let env = Env::start_with(|c| c.store_reply_message_enable = false).await;
    let ns = env.ns_addr.clone();
    env.create_topic("ReqTopic2", 1).await;
    env.create_topic("Nobody", 1).await;
    let requester = start_producer("PG-requester2", &ns).await;
    // Nobody answers: Java's RequestTimeoutException.
    let e = requester
        .request(Message::new("Nobody", "q"), Duration::from_millis(1500))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::RequestTimeout { .. }), "{e}");
    assert_eq!(requester.instance().reply_waiters().pending(), 0);

    let (c, replier) = responder(&ns, "ReqTopic2").await;
    let reply = requester
        .request(Message::new("ReqTopic2", "q"), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(reply.body_str(), "re:q");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        reply_topic_messages(&env).await,
        0,
        "replies are pushed, not stored"
    );
    // A reply to a client that is not connected: stored nowhere, the replier learns why.
    let mut orphan = create_reply_message(&reply_like(&reply), "late").unwrap();
    orphan = orphan.with_property(keys::REPLY_TO_CLIENT, "127.0.0.1@nobody");
    let e = replier.send(orphan).await.unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
    c.shutdown().await;
    replier.shutdown().await;
    requester.shutdown().await;
    env.shutdown().await;
}

/// A received reply carries CLUSTER like a request would, so it can stand in for one.
fn reply_like(m: &MessageExt) -> MessageExt {
    let mut m = m.clone();
    m.properties.insert(keys::CLUSTER, "DefaultCluster");
    m
}

/// A port P with P − 2 free too, for a broker whose VIP channel must sit at P − 2 (clients
/// derive it from the registered address). Probed, then bound by the broker; a lost race is
/// retried by the caller with another port.
fn port_pair() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p > 1024 && std::net::TcpListener::bind(("127.0.0.1", p - 2)).is_ok() {
            return p;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_channel_serves_clients_with_vip_enabled() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    // Two brokers in two clusters: one with the VIP channel (default), one without.
    let mut brokers = Vec::new();
    for (name, vip) in [("broker-vip", true), ("broker-novip", false)] {
        let b = loop {
            let port = port_pair();
            let mut cfg = broker_config(name, &dir.path().join(name), &ns_addr);
            cfg.listen_port = port;
            cfg.broker_cluster_name = format!("C-{name}");
            cfg.fast_channel_enable = vip;
            if let Ok(b) = broker::Broker::start(cfg).await {
                break b;
            }
        };
        let port = b.local_addr().port();
        assert_eq!(
            b.fast_local_addr().map(|a| a.port()),
            vip.then_some(port - 2),
            "{name}"
        );
        brokers.push(b);
    }
    let admin = client::Admin::new(client_config(&ns_addr)).unwrap();
    create_topic(&admin, brokers[0].broker_addr(), "VipTopic", 2, 1).await;
    create_topic(&admin, brokers[1].broker_addr(), "NoVipTopic", 2, 1).await;

    let mut cfg = producer_config("PG-vip", &ns_addr);
    cfg.client.vip_channel_enabled = true;
    cfg.retry_times_when_send_failed = 0;
    cfg.send_timeout = Duration::from_secs(5);
    let vip_producer = client::Producer::new(cfg).unwrap();
    vip_producer.start().await.unwrap();
    let r = vip_producer
        .send(Message::new("VipTopic", "through the vip channel"))
        .await
        .unwrap();
    assert_eq!(r.status, client::SendStatus::SendOk);
    // The VIP producer really uses port − 2: the broker without the channel is unreachable to it.
    assert!(
        vip_producer
            .send(Message::new("NoVipTopic", "x"))
            .await
            .is_err()
    );
    let plain = start_producer("PG-plain", &ns_addr).await;
    plain.send(Message::new("NoVipTopic", "x")).await.unwrap();

    vip_producer.shutdown().await;
    plain.shutdown().await;
    admin.shutdown().await;
    for b in brokers {
        b.shutdown().await;
    }
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_forwards_consumer_running_info_to_the_client() {
    use remoting::header::admin::GetConsumerRunningInfoRequestHeader;
    use remoting::{CommandHeader, RemotingClient, RemotingCommand, RequestCode, ResponseCode};

    let env = Env::start().await;
    let ns = env.ns_addr.clone();
    env.create_topic("RunInfo", 2).await;
    let c = counting_consumer(
        consumer_config("CG-runinfo", &ns),
        "RunInfo",
        "*",
        Arc::default(),
        Arc::default(),
    );
    c.start().await.unwrap();
    let client_id = c.instance().client_id().to_string();
    let raw = RemotingClient::new(remoting::ClientConfig::default());
    let addr = env.broker.broker_addr().to_string();
    let ask = |id: &str| {
        let h = GetConsumerRunningInfoRequestHeader {
            consumer_group: "CG-runinfo".into(),
            client_id: id.into(),
            jstack_enable: Some(false),
        };
        RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO, h.to_ext())
    };
    // The consumer registers by heartbeat shortly after start.
    let mut answer = None;
    for _ in 0..100 {
        let r = raw
            .invoke(&addr, ask(&client_id), Duration::from_secs(20))
            .await
            .unwrap();
        if r.response_code() == ResponseCode::SUCCESS {
            answer = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = answer.expect("running info answered");
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("RunInfo"), "{text}");
    assert!(text.contains("subscriptionSet"), "{text}");
    let r = raw
        .invoke(&addr, ask("127.0.0.1@nobody"), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The Consumer <CG-runinfo> <127.0.0.1@nobody> not online")
    );
    c.shutdown().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_consumer_start_checks_the_broker_like_java() {
    let env = Env::start().await;
    let ns = env.ns_addr.clone();
    env.create_topic("SqlOff", 1).await;
    let c = PushConsumer::new(consumer_config("CG-sqloff", &ns)).unwrap();
    c.subscribe_sql("SqlOff", "a > 1").unwrap();
    c.register_listener_concurrently(|_: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
        ConsumeConcurrentlyStatus::ConsumeSuccess
    });
    let e = c.start().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("The broker does not support consumer to filter message by SQL92"),
        "{e}"
    );
    env.shutdown().await;

    let env = Env::start_with(|c| c.enable_property_filter = true).await;
    let ns = env.ns_addr.clone();
    env.create_topic("SqlBad", 1).await;
    let c = PushConsumer::new(consumer_config("CG-sqlbad", &ns)).unwrap();
    c.subscribe_sql("SqlBad", "a BETWEEN 6 AND 3").unwrap();
    c.register_listener_concurrently(|_: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
        ConsumeConcurrentlyStatus::ConsumeSuccess
    });
    let e = c.start().await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Response { code, .. } if *code == remoting::ResponseCode::SUBSCRIPTION_PARSE_FAILED),
        "{e}"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasting_members_each_get_every_message_with_local_offsets() {
    let env = Env::start().await;
    let ns = env.ns_addr.clone();
    env.create_topic("Bcast", 4).await;
    let offsets_dir = env.dir.path().join("offsets");
    let mut members = Vec::new();
    let mut seen = Vec::new();
    for i in 0..2 {
        let mut cfg = consumer_config("CG-bcast", &ns);
        cfg.message_model = client::MessageModel::Broadcasting;
        cfg.local_offset_store_dir = offsets_dir.clone();
        cfg.client.instance_name = Some(format!("bcast-{i}"));
        let got: Seen = Arc::default();
        let c = counting_consumer(cfg, "Bcast", "*", got.clone(), Arc::default());
        c.start().await.unwrap();
        members.push(c);
        seen.push(got);
    }
    // Both members hold all four queues.
    for c in &members {
        assert!(
            wait_until(Duration::from_secs(20), || c
                .assigned_queues()
                .iter()
                .filter(|q| q.topic == "Bcast")
                .count()
                == 4)
            .await,
            "{:?}",
            c.assigned_queues()
        );
        assert!(
            !c.assigned_queues()
                .iter()
                .any(|q| q.topic.starts_with("%RETRY%")),
            "broadcasting members do not take the retry topic"
        );
    }
    let producer = start_producer("PG-bcast", &ns).await;
    send_numbered(&producer, "Bcast", "b", 40).await;
    for got in &seen {
        assert!(wait_until(Duration::from_secs(30), || got.lock().len() == 40).await);
        assert!(got.lock().values().all(|&n| n == 1), "{:?}", got.lock());
    }
    let ids: Vec<String> = members
        .iter()
        .map(|c| c.instance().client_id().to_string())
        .collect();
    for c in &members {
        c.shutdown().await;
    }
    // Each member's progress is in its own file, in Java's layout, not on the broker.
    for id in &ids {
        let path = offsets_dir.join(id).join("CG-bcast").join("offsets.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.starts_with("{\"offsetTable\":{{\"brokerName\""),
            "{text}"
        );
        let file: serde_json::Value = remoting::fastjson::from_str(&text).unwrap();
        let total: i64 = file["offsetTable"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_i64().unwrap())
            .sum();
        assert_eq!(total, 40, "{text}");
    }
    let stats = env.admin.consume_stats("CG-bcast", Some("Bcast")).await;
    let committed: i64 = stats
        .map(|s| s.offset_table.values().map(|w| w.consumer_offset).sum())
        .unwrap_or(0);
    assert_eq!(committed, 0, "broadcasting commits nothing to the broker");
    producer.shutdown().await;
    env.shutdown().await;
}
