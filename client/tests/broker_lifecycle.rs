//! Keys and id lookups, offsets surviving a broker restart, long-polling latency, and retry on
//! another broker when one is down.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, Message, MessageExt, Producer,
    PullConsumer, PullStatus, PushConsumer, SendStatus,
};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_by_key_by_uniq_id_and_by_offset_id() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Lookup", 4).await;
    let producer = start_producer("PG-lookup", &ns_addr).await;
    let mut results = Vec::new();
    for i in 0..30 {
        let m = Message::new("Lookup", format!("order body {i}"))
            .with_keys([format!("order-{}", i % 3), format!("uniq-{i}")])
            .with_tags("T");
        results.push(producer.send(m).await.unwrap());
    }

    // By key: every message with key order-1 (10 of them), nothing else.
    let end = Instant::now() + Duration::from_secs(10);
    let by_key = loop {
        let v = env
            .admin
            .query_message_by_key("Lookup", "order-1", 32, 0, i64::MAX)
            .await
            .unwrap();
        if v.len() >= 10 || Instant::now() > end {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(by_key.len(), 10, "found by key: {by_key:?}");
    assert!(by_key.iter().all(|m| m.keys().contains(&"order-1")));
    assert!(
        env.admin
            .query_message_by_key("Lookup", "no-such-key", 32, 0, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );

    // By client id (UNIQ_KEY) and by the broker's offset id.
    for r in [&results[0], &results[17], &results[29]] {
        let m = env
            .admin
            .query_message_by_uniq_key("Lookup", &r.msg_id)
            .await
            .unwrap()
            .expect("found by uniq key");
        assert_eq!(m.msg_id, r.msg_id);
        let v = env.admin.view_message(&r.offset_msg_id).await.unwrap();
        // Either id through the combined lookup.
        let by_uniq = env
            .admin
            .query_message_by_id(Some("Lookup"), &r.msg_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_uniq.offset_msg_id, r.offset_msg_id);
        let by_offset = env
            .admin
            .query_message_by_id(None, &r.offset_msg_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_offset.msg_id, r.msg_id);
        assert_eq!(v.msg_id, r.msg_id);
        assert_eq!(v.body, m.body);
        assert_eq!(v.queue_offset, r.queue_offset);
        assert_eq!(v.queue_id, r.message_queue.queue_id);
    }
    // A client id that decodes as an address nobody registered is not dialled.
    assert!(
        env.admin
            .query_message_by_id(None, "0A0000010000270F0000000000000000")
            .await
            .unwrap()
            .is_none()
    );
    producer.shutdown().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_broker_restart() {
    let mut env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Restart", 4).await;

    let producer = start_producer("PG-restart", &ns_addr).await;
    send_numbered(&producer, "Restart", "before-", 100).await;
    // A member of CG-restart on all of Restart; both members below are alike.
    let group_member = |seen: Seen| {
        counting_consumer(
            consumer_config("CG-restart", &ns_addr),
            "Restart",
            "*",
            seen,
            Arc::default(),
        )
    };
    // Consume some (all that is there), then stop: the shutdown commits the offsets.
    let seen1: Seen = Arc::default();
    let c1 = group_member(seen1.clone());
    c1.start().await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || seen1.lock().len() == 100).await);
    c1.shutdown().await;
    let probe = PullConsumer::new("CG-restart-probe", client_config(&ns_addr)).unwrap();
    let qs = probe.fetch_subscribe_queues("Restart").await.unwrap();
    let mut committed = Vec::new();
    for q in &qs {
        committed.push(
            probe
                .instance()
                .query_consumer_offset("CG-restart", q)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        committed,
        vec![Some(25); 4],
        "everything consumed is committed"
    );

    // Restart the broker on the same store directory. Its old port is not reused: something
    // else on the machine may have taken it meanwhile. It gets a fresh one (listenPort 0, the
    // HA port follows) and registers it with the name server, as a broker moved to another
    // host would; clients follow the route.
    env.broker.shutdown().await;
    let mut cfg2 = env.broker_config.clone();
    cfg2.listen_port = 0;
    env.broker = start_broker(cfg2).await;
    let new_addr = env.broker.broker_addr().to_string();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let route = env.admin.topic_route("Restart").await;
        let addr = route
            .as_ref()
            .ok()
            .and_then(|r| r.broker_datas.first())
            .and_then(|b| b.master_addr())
            .map(str::to_string);
        if addr.as_deref() == Some(new_addr.as_str()) {
            break;
        }
        assert!(
            Instant::now() < end,
            "route never showed {new_addr}: {route:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first probe only ever fetched the route once (it subscribes to nothing, so nothing
    // refreshes it): a new one reads the route with the broker's new address.
    probe.shutdown().await;
    let probe = PullConsumer::new("CG-restart-probe-2", client_config(&ns_addr)).unwrap();
    assert_eq!(
        probe.fetch_subscribe_queues("Restart").await.unwrap().len(),
        qs.len()
    );
    for q in &qs {
        let o = probe
            .instance()
            .query_consumer_offset("CG-restart", q)
            .await
            .unwrap();
        assert_eq!(o, Some(25), "{q:?} offset after restart");
    }

    // The same producer reconnects by itself.
    let mut sent = 0;
    let end = Instant::now() + Duration::from_secs(20);
    while sent < 50 && Instant::now() < end {
        match producer
            .send(Message::new("Restart", format!("after-{sent}")))
            .await
        {
            Ok(_) => sent += 1,
            Err(e) => {
                println!("send after restart failed (retrying): {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(sent, 50);

    // A new member of the group resumes where the first stopped: no replay, no loss, although
    // it would start from the first offset if the broker had lost the commits.
    let seen2: Seen = Arc::default();
    let c2 = group_member(seen2.clone());
    c2.start().await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || seen2.lock().len() >= 50).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let s = seen2.lock().clone();
    let replayed: Vec<_> = s.keys().filter(|k| k.starts_with("before-")).collect();
    assert!(replayed.is_empty(), "replayed after restart: {replayed:?}");
    assert_eq!(s.len(), 50);
    assert!(s.values().all(|n| *n == 1));
    c2.shutdown().await;
    producer.shutdown().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_delivers_soon_after_a_send() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("LongPoll", 1).await;
    let producer = start_producer("PG-lp", &ns_addr).await;
    let pc = start_pull_consumer("CG-lp-pull", &ns_addr).await;
    let mq = pc.fetch_subscribe_queues("LongPoll").await.unwrap()[0].clone();

    // Warm up the producer's route and connection so the figures below are the broker's.
    let warm = producer
        .send_to_queue(Message::new("LongPoll", "warm-up"), &mq)
        .await
        .unwrap();
    // Where the next message will land (GET_MAX_OFFSET may lag the send by the dispatch).
    let mut offset = warm.queue_offset + 1;
    let end = Instant::now() + Duration::from_secs(10);
    while pc.max_offset(&mq).await.unwrap() < offset && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Pull consumer: a held pull wakes when the message lands.
    let hold = Duration::from_secs(10);
    let mut lat = Vec::new();
    for round in 0..5 {
        let pc2 = pc.clone();
        let mq2 = mq.clone();
        let started = Instant::now();
        let pull = tokio::spawn(async move {
            let r = pc2
                .pull_block_with_hold(&mq2, "*", offset, 32, hold)
                .await
                .unwrap();
            (r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent_at = Instant::now();
        producer
            .send_to_queue(Message::new("LongPoll", format!("lp-{round}")), &mq)
            .await
            .unwrap();
        let (r, got_at) = pull.await.unwrap();
        assert_eq!(r.status, PullStatus::Found);
        assert_eq!(r.msgs[0].body_str(), format!("lp-{round}"));
        assert!(got_at - started < hold, "woke before the hold time");
        offset = r.next_begin_offset;
        lat.push(got_at.saturating_duration_since(sent_at));
    }
    println!("pull long-poll wake latency after send (send start → pull answer): {lat:?}");

    // Push consumer: time from the send to the listener.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let c = PushConsumer::new({
        let mut c = consumer_config("CG-lp-push", &ns_addr);
        c.broker_suspend_max_time = hold;
        c.consume_from_where = client::ConsumeFromWhere::ConsumeFromLastOffset;
        c
    })
    .unwrap();
    c.subscribe("LongPoll", "*").unwrap();
    c.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            for m in msgs {
                let _ = tx.send((m.body_str(), Instant::now()));
            }
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    c.start().await.unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || c
            .assigned_queues()
            .iter()
            .any(|q| q.topic == "LongPoll"))
        .await
    );
    // A new group starts at offset 0 of a young queue (the broker's "still in memory" rule):
    // let it catch up on the pull test's messages first, then let its next pull park.
    let mut old = std::collections::HashSet::new();
    while old.len() < 6 {
        let (got, _) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("catch-up")
            .unwrap();
        assert!(!got.starts_with("push-"));
        old.insert(got);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut push_lat = Vec::new();
    for round in 0..5 {
        let body = format!("push-{round}");
        let sent_at = Instant::now();
        producer
            .send(Message::new("LongPoll", body.clone()))
            .await
            .unwrap();
        let (got, at) = tokio::time::timeout(hold, rx.recv())
            .await
            .expect("delivered before the hold time")
            .unwrap();
        assert_eq!(got, body);
        push_lat.push(at.saturating_duration_since(sent_at));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("push consumer latency (send start → listener): {push_lat:?}");
    c.shutdown().await;
    pc.shutdown().await;
    producer.shutdown().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_retry_on_another_broker_when_one_is_down() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    let (ba, admin) = (&env.broker, &env.admin);
    let bb = start_broker(broker_config(
        "broker-b",
        &env.dir.path().join("b"),
        &ns_addr,
    ))
    .await;
    let cfg = remoting::body::topic::TopicConfig::with_queues("Failover", 4, 4, 6);
    admin
        .create_topic_on_broker(ba.broker_addr(), &cfg)
        .await
        .unwrap();
    admin
        .create_topic_on_broker(bb.broker_addr(), &cfg)
        .await
        .unwrap();
    wait_route(admin, "Failover", 2).await;

    // A long route refresh period keeps broker-b in the producer's route after it stops, so
    // the sends that pick it must be retried on broker-a.
    let mut pc = producer_config("PG-failover", &ns_addr);
    pc.client.poll_name_server_interval = Duration::from_secs(600);
    let producer = Producer::new(pc).unwrap();
    producer.start().await.unwrap();
    let mut per_broker: HashMap<String, usize> = HashMap::new();
    for i in 0..16 {
        let r = producer
            .send(Message::new("Failover", format!("warm-{i}")))
            .await
            .unwrap();
        *per_broker.entry(r.message_queue.broker_name).or_default() += 1;
    }
    assert_eq!(
        per_broker.len(),
        2,
        "both brokers used while up: {per_broker:?}"
    );
    assert_eq!(
        producer
            .fetch_publish_queues("Failover")
            .await
            .unwrap()
            .len(),
        8
    );

    bb.shutdown().await;
    let mut on_a = 0;
    for i in 0..40 {
        let r = producer
            .send(Message::new("Failover", format!("after-{i}")))
            .await
            .unwrap_or_else(|e| panic!("send {i} failed: {e}"));
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!(r.message_queue.broker_name, "broker-a");
        on_a += 1;
    }
    assert_eq!(on_a, 40);
    // The first refused connection to broker-b refreshed the routes at once (not at the 600 s
    // poll): the producer's route now lists only the survivor.
    let mut queues = 0;
    for _ in 0..100 {
        queues = producer
            .fetch_publish_queues("Failover")
            .await
            .unwrap()
            .len();
        if queues == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        queues, 4,
        "broker-b left the route after the failed connection"
    );

    let mut strict = producer_config("PG-failover-strict", &ns_addr);
    strict.client.poll_name_server_interval = Duration::from_secs(600);
    strict.retry_times_when_send_failed = 0;
    let p2 = Producer::new(strict).unwrap();
    p2.start().await.unwrap();
    // A producer that starts now learns the current route: only the survivor.
    for i in 0..5 {
        let r = p2
            .send(Message::new("Failover", format!("fresh-{i}")))
            .await
            .unwrap();
        assert_eq!(r.message_queue.broker_name, "broker-a");
    }
    p2.shutdown().await;

    // With every broker down, a send fails after its attempts, within its time budget.
    env.broker.shutdown().await;
    let began = Instant::now();
    let e = producer
        .send(Message::new("Failover", "nowhere"))
        .await
        .unwrap_err();
    match &e {
        client::ClientError::SendFailed { attempts, .. } => assert_eq!(*attempts, 3, "{e}"),
        other => panic!("unexpected error {other}"),
    }
    assert!(began.elapsed() < Duration::from_secs(10) + Duration::from_secs(2));
    producer.shutdown().await;
    env.admin.shutdown().await;
    env.ns.shutdown().await;
}

/// Reproducer for a broker bug: a pull carrying COMMIT_OFFSET that the broker holds (long
/// polling) must store its `commitOffset` when it arrives (Java `PullMessageProcessor`, spec §3.4
/// step 8), not when the hold ends; otherwise a commit made in between is rolled back.
///
/// Request 1: PULL_MESSAGE group=CG-held topic=Held queueId=0 queueOffset=<max> sysFlag=3
/// (COMMIT_OFFSET|SUSPEND) commitOffset=1 suspendTimeoutMillis=3000 → held.
/// Request 2 (while 1 is held): UPDATE_CONSUMER_OFFSET commitOffset=5 → SUCCESS.
/// After 1 returns PULL_NOT_FOUND at its deadline, QUERY_CONSUMER_OFFSET must answer 5: the
/// broker stores a pull's commitOffset when the pull arrives, not when its hold ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_pull_does_not_roll_back_a_later_commit() {
    use remoting::header::pull::{PullMessageRequestHeader, PullSysFlag};
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Held", 1).await;
    let producer = start_producer("PG-held", &ns_addr).await;
    send_numbered(&producer, "Held", "m", 8).await;
    let inst = env.admin.instance().clone();
    let mq = client::MessageQueue::new("Held", "broker-a", 0);
    // Sends are acknowledged before the consume queue is written (dispatch follows the commit
    // log), so wait for all eight before parking a pull at the end of the queue.
    let mut max = inst.max_offset(&mq).await.unwrap();
    for _ in 0..200 {
        if max == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        max = inst.max_offset(&mq).await.unwrap();
    }
    assert_eq!(max, 8);
    let header = PullMessageRequestHeader {
        consumer_group: "CG-held".into(),
        topic: "Held".into(),
        queue_id: 0,
        queue_offset: max,
        max_msg_nums: 32,
        sys_flag: PullSysFlag::build(true, true, true, false).0,
        commit_offset: 1,
        suspend_timeout_millis: 3000,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        ..Default::default()
    };
    let addr = env.broker.broker_addr().to_string();
    let i2 = inst.clone();
    let held = tokio::spawn(async move {
        i2.pull_message(&addr, "broker-a", &header, Duration::from_secs(10))
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    inst.update_consumer_offset("CG-held", &mq, 5)
        .await
        .unwrap();
    assert_eq!(
        inst.query_consumer_offset("CG-held", &mq).await.unwrap(),
        Some(5)
    );
    let r = held.await.unwrap().unwrap();
    assert_eq!(r.status, PullStatus::NoNewMsg);
    assert_eq!(
        inst.query_consumer_offset("CG-held", &mq).await.unwrap(),
        Some(5),
        "the held pull's commitOffset=1 overwrote the later commit"
    );
    producer.shutdown().await;
    env.shutdown().await;
}
