//! Push consumption through a real name server and broker: a two-member group consuming three
//! producers' messages exactly once across a member leaving; orderly per-queue order under a
//! selector; tag filtering.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use client::{ConsumeOrderlyContext, ConsumeOrderlyStatus, Message, MessageExt, PushConsumer};
use common::*;
use parking_lot::Mutex;

fn assigned(c: &PushConsumer, topic: &str) -> usize {
    c.assigned_queues()
        .iter()
        .filter(|q| q.topic == topic)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_producers_two_consumers_exactly_once_across_a_leave() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Exactly", 8).await;

    let seen: Seen = Arc::default();
    let (na, nb) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
    let cfg = || consumer_config("CG-exactly", &ns_addr);
    let a = counting_consumer(cfg(), "Exactly", "*", seen.clone(), na.clone());
    let bm = counting_consumer(cfg(), "Exactly", "*", seen.clone(), nb.clone());
    a.start().await.unwrap();
    bm.start().await.unwrap();
    assert_ne!(a.instance().client_id(), bm.instance().client_id());
    assert!(
        wait_until(Duration::from_secs(20), || assigned(&a, "Exactly") == 4
            && assigned(&bm, "Exactly") == 4)
        .await,
        "both members hold 4 queues: {:?} / {:?}",
        a.assigned_queues(),
        bm.assigned_queues()
    );

    let began = std::time::Instant::now();
    let mut senders = Vec::new();
    for p in 0..3 {
        let ns_addr = ns_addr.clone();
        senders.push(tokio::spawn(async move {
            let producer = start_producer(&format!("PG-exactly-{p}"), &ns_addr).await;
            send_numbered(&producer, "Exactly", &format!("p{p}-"), 1000).await;
            producer.shutdown().await;
        }));
    }
    // Member B leaves once a good part has been consumed.
    assert!(wait_until(Duration::from_secs(60), || seen.lock().len() >= 1000).await);
    bm.shutdown().await;
    let b_count = *nb.lock();
    assert!(
        wait_until(Duration::from_secs(20), || assigned(&a, "Exactly") == 8).await,
        "the remaining member takes every queue: {:?}",
        a.assigned_queues()
    );
    for s in senders {
        s.await.unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(60), || seen.lock().len() == 3000).await,
        "all 3000 consumed, got {}",
        seen.lock().len()
    );
    println!(
        "3 producers x 1000 sync sends consumed by the group in {:?} (debug build, member leave included)",
        began.elapsed()
    );
    // Give late duplicates a chance to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = seen.lock().clone();
    let dups: Vec<_> = s.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "consumed more than once: {dups:?}");
    assert_eq!(s.len(), 3000);
    let a_count = *na.lock();
    println!("member A consumed {a_count}, member B consumed {b_count} before leaving");
    assert!(a_count > 0 && b_count > 0);
    assert_eq!(a_count + b_count, 3000);
    // After A's final commit, consumer progress shows nothing left.
    a.shutdown().await;
    let stats = env
        .admin
        .consume_stats("CG-exactly", Some("Exactly"))
        .await
        .unwrap();
    let lag: i64 = stats
        .offset_table
        .iter()
        .filter(|(q, _)| q.topic == "Exactly")
        .map(|(_, o)| o.broker_offset - o.consumer_offset)
        .sum();
    assert_eq!(lag, 0, "{stats:?}");

    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderly_consumer_sees_each_key_in_send_order() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Ordered", 4).await;

    // Orderly consumers: two members, so locks and rebalance are exercised.
    let got: Arc<Mutex<BTreeMap<String, Vec<u32>>>> = Arc::default();
    let busy: Arc<Mutex<HashMap<i32, bool>>> = Arc::default();
    let mut members = Vec::new();
    for _ in 0..2 {
        let c = PushConsumer::new(consumer_config("CG-ordered", &ns_addr)).unwrap();
        c.subscribe("Ordered", "*").unwrap();
        let got = got.clone();
        let busy = busy.clone();
        let fails = Arc::new(Mutex::new(0u32));
        c.register_listener_orderly(
            move |msgs: &[MessageExt], ctx: &mut ConsumeOrderlyContext| {
                let q = ctx.message_queue.queue_id;
                // Never two batches of one queue at once.
                assert!(
                    !busy.lock().insert(q, true).unwrap_or(false),
                    "queue {q} consumed concurrently"
                );
                // Fail every 50th call once to exercise SUSPEND_CURRENT_QUEUE_A_MOMENT.
                let mut f = fails.lock();
                *f += 1;
                if *f % 50 == 0 {
                    ctx.suspend_current_queue_time = Duration::from_millis(50);
                    busy.lock().insert(q, false);
                    return ConsumeOrderlyStatus::SuspendCurrentQueueAMoment;
                }
                drop(f);
                for m in msgs {
                    let body = m.body_str();
                    let (key, seq) = body.split_once(':').unwrap();
                    got.lock()
                        .entry(key.to_string())
                        .or_default()
                        .push(seq.parse().unwrap());
                }
                busy.lock().insert(q, false);
                ConsumeOrderlyStatus::Success
            },
        );
        c.start().await.unwrap();
        members.push(c);
    }
    assert!(
        wait_until(Duration::from_secs(20), || members
            .iter()
            .all(|c| assigned(c, "Ordered") == 2))
        .await,
        "each member holds 2 queues"
    );
    let producer = start_producer("PG-ordered", &ns_addr).await;
    let mut queue_of_key: HashMap<String, i32> = HashMap::new();
    for seq in 0..25 {
        for k in 0..16 {
            let key = format!("order-{k}");
            let r = producer
                .send_orderly(Message::new("Ordered", format!("{key}:{seq}")), &key)
                .await
                .unwrap();
            let q = *queue_of_key
                .entry(key.clone())
                .or_insert(r.message_queue.queue_id);
            assert_eq!(q, r.message_queue.queue_id, "one key, one queue");
        }
    }

    assert!(
        wait_until(Duration::from_secs(60), || got
            .lock()
            .values()
            .map(Vec::len)
            .sum::<usize>()
            >= 400)
        .await,
        "got {}",
        got.lock().values().map(Vec::len).sum::<usize>()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = got.lock().clone();
    assert_eq!(got.len(), 16);
    let want: Vec<u32> = (0..25).collect();
    for (key, seqs) in &got {
        assert_eq!(seqs, &want, "{key} out of order or duplicated");
    }
    for c in &members {
        c.shutdown().await;
    }
    producer.shutdown().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_consumer_filters_by_tag() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Tagged", 2).await;

    let producer = start_producer("PG-tags", &ns_addr).await;
    for i in 0..40 {
        let mut m = Message::new("Tagged", format!("m{i}"));
        match i % 4 {
            0 => m = m.with_tags("TagA"),
            1 => m = m.with_tags("TagB"),
            2 => m = m.with_tags("TagC"),
            _ => {}
        }
        producer.send(m).await.unwrap();
    }
    let picky: Seen = Arc::default();
    let all: Seen = Arc::default();
    let c1 = counting_consumer(
        consumer_config("CG-tags-ac", &ns_addr),
        "Tagged",
        "TagA || TagC",
        picky.clone(),
        Arc::default(),
    );
    let c2 = counting_consumer(
        consumer_config("CG-tags-all", &ns_addr),
        "Tagged",
        "*",
        all.clone(),
        Arc::default(),
    );
    c1.start().await.unwrap();
    c2.start().await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || all.lock().len() == 40).await);
    assert!(wait_until(Duration::from_secs(30), || picky.lock().len() == 20).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = picky.lock().clone();
    assert_eq!(p.len(), 20, "{p:?}");
    for k in p.keys() {
        let i: u32 = k[1..].parse().unwrap();
        assert!(i.is_multiple_of(2), "{k} should have been filtered");
    }
    c1.shutdown().await;
    c2.shutdown().await;
    producer.shutdown().await;
    env.shutdown().await;
}
