//! Sync, async, oneway, batch and compressed sends through a real name server and broker, read
//! back with the pull consumer; keys and id lookups; long polling.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use client::{Admin, Message, MessageExt, Producer, PullConsumer, PullStatus, SendStatus};
use common::*;

/// Reads every queue of `topic` from offset 0 until `want` messages arrived (or 20 s passed).
async fn pull_all(pc: &PullConsumer, topic: &str, expr: &str, want: usize) -> Vec<MessageExt> {
    let queues = pc.fetch_subscribe_queues(topic).await.unwrap();
    let mut offsets: BTreeMap<i32, i64> = queues.iter().map(|q| (q.queue_id, 0)).collect();
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    while out.len() < want && Instant::now() < end {
        for q in &queues {
            let off = offsets[&q.queue_id];
            let r = pc.pull(q, expr, off, 32).await.unwrap();
            if r.status == PullStatus::Found {
                out.extend(r.msgs);
            }
            offsets.insert(q.queue_id, r.next_begin_offset);
        }
        if out.len() < want {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_send_kind_is_stored_and_pulled_back() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Kinds", 4).await;

    let producer = start_producer("PG-kinds", &ns_addr).await;

    // Sync.
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = producer
            .send(
                Message::new("Kinds", format!("sync-{i}")).with_tags(if i % 2 == 0 {
                    "A"
                } else {
                    "B"
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!(r.msg_id.len(), 32);
        assert_eq!(r.offset_msg_id.len(), 32);
        ids.push(r.msg_id);
    }
    // Async with callbacks.
    let ok = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let ok = ok.clone();
            producer.send_async(Message::new("Kinds", format!("async-{i}")), move |r| {
                if r.is_ok() {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(ok.load(Ordering::SeqCst), 20);
    // Oneway.
    for i in 0..20 {
        producer
            .send_oneway(Message::new("Kinds", format!("oneway-{i}")))
            .await
            .unwrap();
    }
    // Batch.
    let batch: Vec<Message> = (0..20)
        .map(|i| Message::new("Kinds", format!("batch-{i}")).with_key(format!("bk-{i}")))
        .collect();
    let r = producer.send_batch(batch).await.unwrap();
    assert_eq!(r.msg_id.split(',').count(), 20);
    // Compressed (over 4 KiB).
    let big = "0123456789".repeat(1_000);
    producer
        .send(Message::new("Kinds", big.clone()).with_tags("BIG"))
        .await
        .unwrap();

    let pc = start_pull_consumer("CG-kinds-pull", &ns_addr).await;
    let msgs = pull_all(&pc, "Kinds", "*", 81).await;
    let mut bodies: Vec<String> = msgs.iter().map(|m| m.body_str()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 81, "every message exactly once");
    for kind in ["sync-", "async-", "oneway-", "batch-"] {
        assert_eq!(
            bodies.iter().filter(|b| b.starts_with(kind)).count(),
            20,
            "{kind}"
        );
    }
    assert!(bodies.contains(&big), "compressed body inflated on receipt");
    let big_msg = msgs.iter().find(|m| m.tags() == Some("BIG")).unwrap();
    assert_eq!(big_msg.sys_flag & 1, 1, "stored compressed");
    // The ids users saw are the ids consumers see.
    for id in &ids {
        assert!(msgs.iter().any(|m| &m.msg_id == id));
    }
    // Tag filter on pull: only A.
    let only_a = pull_all(&pc, "Kinds", "A", 10).await;
    assert_eq!(only_a.len(), 10);
    assert!(only_a.iter().all(|m| m.tags() == Some("A")));

    // A topic nobody created is auto-created from TBW102's route (autoCreateTopicEnable).
    let r = producer
        .send(Message::new("AutoCreated", "x"))
        .await
        .unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    assert_eq!(r.message_queue.topic, "AutoCreated");

    // Topic stats agree.
    let stats = env.admin.topic_stats("Kinds").await.unwrap();
    let total: i64 = stats
        .offset_table
        .values()
        .map(|o| o.max_offset - o.min_offset)
        .sum();
    assert_eq!(total, 81);

    // Offsets of a pull consumer are the caller's: commit one and read it back.
    let q0 = pc.fetch_subscribe_queues("Kinds").await.unwrap()[0].clone();
    // (No commit yet: the broker answers 0 for a young queue, or nothing.)
    assert!(matches!(
        pc.fetch_consume_offset(&q0).await.unwrap(),
        None | Some(0)
    ));
    pc.update_consume_offset(&q0, 3).await.unwrap();
    assert_eq!(pc.fetch_consume_offset(&q0).await.unwrap(), Some(3));
    assert_eq!(pc.min_offset(&q0).await.unwrap(), 0);
    assert!(pc.max_offset(&q0).await.unwrap() >= 3);
    assert_eq!(pc.search_offset(&q0, 0).await.unwrap(), 0);
    // An offset past the end is reported as such, with where to go instead.
    let max = pc.max_offset(&q0).await.unwrap();
    let r = pc.pull(&q0, "*", max + 100, 32).await.unwrap();
    assert_eq!(r.status, PullStatus::OffsetIllegal);
    assert_eq!(r.next_begin_offset, max);

    pc.shutdown().await;
    producer.shutdown().await;
    env.shutdown().await;
}

/// A started producer that auto-batches with one request in flight: every send that arrives
/// meanwhile waits for the next batch.
async fn start_batching_producer(group: &str, ns_addr: &str, timeout: Duration) -> Producer {
    let mut config = producer_config(group, ns_addr);
    config.auto_batch = true;
    config.auto_batch_in_flight = 1;
    config.send_timeout = timeout;
    let producer = Producer::new(config).unwrap();
    producer.start().await.unwrap();
    producer
}

/// Messages the broker stored to `topic` and the sends that stored them (`TOPIC_PUT_NUMS`).
fn put_totals(env: &Env, topic: &str) -> (u64, u64) {
    let item = env
        .broker
        .context()
        .stats
        .detail
        .item("TOPIC_PUT_NUMS", topic);
    item.map_or((0, 0), |i| i.totals())
}

/// `auto_batch`: concurrent sync sends of one topic share SEND_BATCH_MESSAGE requests, and
/// each caller's result names its own message: its id, its offset id, its queue and offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_are_auto_batched_and_each_gets_its_own_result() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Auto", 4).await;
    let producer = start_batching_producer("PG-auto", &ns_addr, Duration::from_secs(10)).await;

    const SENDS: usize = 300;
    let tasks: Vec<_> = (0..SENDS)
        .map(|i| {
            let p = producer.clone();
            tokio::spawn(async move {
                let tag = if i % 2 == 0 { "A" } else { "B" };
                let msg = Message::new("Auto", format!("auto-{i}"))
                    .with_tags(tag)
                    .with_key(format!("ak-{i}"));
                (i, p.send(msg).await)
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        results.push((i, r.unwrap()));
    }
    // Alone among these, a delayed message is never batched, and is still sent.
    let delayed = producer
        .send(Message::new("Auto", "auto-delayed").with_delay_level(1))
        .await
        .unwrap();
    assert_eq!(delayed.status, SendStatus::SendOk);
    // A send whose deadline passes while it is queued is answered, and never sent.
    let late = producer
        .send_with_timeout(Message::new("Auto", "auto-late"), Duration::ZERO)
        .await;
    assert!(
        matches!(
            late,
            Err(client::ClientError::SendFailed { attempts: 0, .. })
        ),
        "{late:?}"
    );

    let mut places = std::collections::HashSet::new();
    for (_, r) in &results {
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!(
            r.msg_id.len(),
            32,
            "one id, not a batch's list: {}",
            r.msg_id
        );
        assert_eq!(r.offset_msg_id.len(), 32, "{}", r.offset_msg_id);
        assert!(places.insert((r.message_queue.queue_id, r.queue_offset)));
    }
    let (stored, puts) = put_totals(&env, "Auto");
    assert_eq!(stored, SENDS as u64, "every message stored once");
    assert!(
        puts < SENDS as u64 / 2,
        "{SENDS} sends took {puts} requests"
    );

    // What a consumer reads is what each caller was told.
    let pc = start_pull_consumer("CG-auto-pull", &ns_addr).await;
    let msgs = pull_all(&pc, "Auto", "*", SENDS).await;
    assert_eq!(msgs.len(), SENDS);
    for (i, r) in &results {
        let m = msgs.iter().find(|m| m.msg_id == r.msg_id).unwrap();
        assert_eq!(m.body_str(), format!("auto-{i}"));
        assert_eq!(m.tags(), Some(if i % 2 == 0 { "A" } else { "B" }));
        assert_eq!(m.keys(), [format!("ak-{i}").as_str()]);
        assert_eq!(m.queue_id, r.message_queue.queue_id);
        assert_eq!(m.queue_offset, r.queue_offset);
        assert_eq!(m.offset_msg_id, r.offset_msg_id);
    }

    pc.shutdown().await;
    producer.shutdown().await;
    env.shutdown().await;
}

/// A failed auto-batch fails every message in it, each caller with the batch's cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_auto_batch_fails_each_of_its_sends() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    // Readable, not writable: no queue to send to.
    let cfg = remoting::body::topic::TopicConfig::with_queues("AutoRO", 4, 4, 4);
    env.admin
        .create_topic_on_broker(env.broker.broker_addr(), &cfg)
        .await
        .unwrap();
    wait_route(&env.admin, "AutoRO", 1).await;
    let producer = start_batching_producer("PG-auto-ro", &ns_addr, Duration::from_secs(2)).await;
    // Enough at once that some queue behind a send in flight and go as a batch, however
    // quickly the broker refuses each request (50 were not always enough).
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let p = producer.clone();
            tokio::spawn(async move { p.send(Message::new("AutoRO", format!("ro-{i}"))).await })
        })
        .collect();
    let mut batched = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => panic!("stored without a writable queue: {r:?}"),
            Err(client::ClientError::BatchFailed(cause)) => {
                batched += 1;
                assert!(!matches!(*cause, client::ClientError::BatchFailed(_)));
            }
            Err(_) => {}
        }
    }
    assert!(batched > 0, "no send failed as part of a batch");
    assert_eq!(put_totals(&env, "AutoRO"), (0, 0));
    producer.shutdown().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_name_server_is_skipped() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let mut cfg = broker_config("broker-a", &dir.path().join("a"), &ns_addr);
    cfg.auto_create_topic_enable = false;
    let b = start_broker(cfg).await;
    // A port nothing listens on (bound, then released).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let list = format!("{dead};{ns_addr}");
    let admin = Admin::new(client_config(&list)).unwrap();
    create_topic(&admin, b.broker_addr(), "TwoNs", 2, 1).await;
    let producer = start_producer("PG-two-ns", &list).await;
    let r = producer.send(Message::new("TwoNs", "x")).await.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    // A missing topic without auto-creation of its route is a clear error.
    match producer
        .send(Message::new("NoSuchTopicAnywhere", "x"))
        .await
    {
        Ok(r) => println!("auto-created: {r:?}"),
        Err(e) => assert!(
            e.to_string().contains("No route info") || e.response_code().is_some(),
            "{e}"
        ),
    }
    producer.shutdown().await;
    admin.shutdown().await;
    b.shutdown().await;
    ns.shutdown().await;
}
