//! Delivery semantics end to end through a real name server and broker with the project's
//! client: a failing listener's redeliveries with growing delays ending in the DLQ (shown,
//! re-sent and reset with `mqadmin`), and
//! transactions (commit, rollback, check-back to another producer of the group, discard after
//! the maximum number of checks; half messages never consumed).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use client::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, LocalTransactionState, Message,
    MessageExt, MessageQueue, PullConsumer, PullStatus, PushConsumer, SendResult,
    TransactionListener, TransactionProducer,
};
use common::*;
use parking_lot::Mutex;
use remoting::message::keys;

/// Runs `mqadmin` in-process and returns its output.
async fn mqadmin(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    cli::run(&args, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// The bodies of every message of `topic`, sorted, so a test can compare them as a set.
async fn sorted_bodies(pull: &PullConsumer, topic: &str) -> Vec<String> {
    let mut bodies: Vec<String> = read_all(pull, topic)
        .await
        .iter()
        .map(|m| m.body_str())
        .collect();
    bodies.sort();
    bodies
}

const LEVELS: &str = "100ms 200ms 300ms 400ms 500ms 600ms";

/// Reads every message of queue 0.. of `topic` from the start.
async fn read_all(pull: &PullConsumer, topic: &str) -> Vec<MessageExt> {
    let mut out = Vec::new();
    let Ok(queues) = pull.fetch_subscribe_queues(topic).await else {
        return out;
    };
    for mq in queues {
        let mut offset = 0;
        loop {
            let r = pull.pull(&mq, "*", offset, 32).await.unwrap();
            if r.status != PullStatus::Found {
                break;
            }
            offset = r.next_begin_offset;
            out.extend(r.msgs);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_listener_gets_growing_redeliveries_then_dlq() {
    let env = Env::start_with(|cfg| cfg.message_delay_level = LEVELS.into()).await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Flaky", 2).await;

    // Every delivery of "bad" is recorded with its reconsume count and arrival store time.
    type Log = Arc<Mutex<Vec<(i32, i64, String)>>>;
    let log: Log = Arc::default();
    let good: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let healed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut ccfg = consumer_config("CG_FLAKY", &ns_addr);
    ccfg.max_reconsume_times = 3;
    let consumer = PushConsumer::new(ccfg).unwrap();
    consumer.subscribe("Flaky", "*").unwrap();
    {
        let (log, good, healed) = (log.clone(), good.clone(), healed.clone());
        consumer.register_listener_concurrently(
            move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
                let mut status = ConsumeConcurrentlyStatus::ConsumeSuccess;
                for m in msgs {
                    if m.body_str() == "bad" && !healed.load(std::sync::atomic::Ordering::SeqCst) {
                        assert_eq!(m.topic, "Flaky", "retry topic restored to the original");
                        log.lock()
                            .push((m.reconsume_times, m.store_timestamp, m.msg_id.clone()));
                        status = ConsumeConcurrentlyStatus::ReconsumeLater;
                    } else {
                        *good.lock().entry(m.body_str()).or_default() += 1;
                    }
                }
                status
            },
        );
    }
    consumer.start().await.unwrap();

    let producer = client::Producer::new(producer_config("PG_FLAKY", &ns_addr)).unwrap();
    producer.start().await.unwrap();
    let bad = producer
        .send(Message::new("Flaky", "bad").with_key("bad-key"))
        .await
        .unwrap();
    for i in 0..10 {
        producer
            .send(Message::new("Flaky", format!("ok-{i}")))
            .await
            .unwrap();
    }

    // 1 first delivery + 3 redeliveries, then the DLQ.
    assert!(
        wait_until(Duration::from_secs(40), || log.lock().len() >= 4).await,
        "redeliveries: {:?}",
        log.lock()
    );
    let pull = start_pull_consumer("CG_DLQ_READER", &ns_addr).await;
    let dlq_topic = "%DLQ%CG_FLAKY";
    let mut dlq = Vec::new();
    for _ in 0..100 {
        dlq = read_all(&pull, dlq_topic).await;
        if !dlq.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // No delivery after the DLQ move.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let history = log.lock().clone();
    assert_eq!(history.len(), 4, "exactly 3 redeliveries: {history:?}");
    let counts: Vec<i32> = history.iter().map(|(r, _, _)| *r).collect();
    assert_eq!(counts, vec![0, 1, 2, 3]);
    assert!(
        history.iter().all(|(_, _, id)| *id == bad.msg_id),
        "same message id throughout"
    );
    // Redelivery k went through delay level 3 + (k - 1): 300, 400, 500 ms. Arrival gaps can
    // only be longer than the level (due time is a lower bound, not a timing guess).
    let levels = [300, 400, 500];
    for (k, w) in history.windows(2).enumerate() {
        let gap = w[1].1 - w[0].1;
        assert!(
            gap >= levels[k],
            "redelivery {} came after {gap} ms < {} ms",
            k + 1,
            levels[k]
        );
    }
    assert_eq!(dlq.len(), 1, "one message in the DLQ");
    let d = &dlq[0];
    assert_eq!(d.body_str(), "bad");
    assert_eq!(d.msg_id, bad.msg_id);
    assert_eq!(d.reconsume_times, 4);
    assert_eq!(d.property(keys::RETRY_TOPIC), Some("Flaky"));
    assert!(d.property(keys::ORIGIN_MESSAGE_ID).is_some());
    assert_eq!(d.property(keys::DELAY), None);
    // The good messages were consumed exactly once each.
    {
        let good = good.lock().clone();
        assert_eq!(good.len(), 10);
        assert!(good.values().all(|n| *n == 1), "{good:?}");
    }

    // mqadmin shows it in the DLQ with its delivery history, by key and by id.
    wait_route(&env.admin, dlq_topic, 1).await;
    let by_key = mqadmin(&[
        "queryMsgByKey",
        "-n",
        &ns_addr,
        "-t",
        dlq_topic,
        "-k",
        "bad-key",
    ])
    .await;
    assert!(
        by_key.contains("dead-letter message of consumer group CG_FLAKY"),
        "{by_key}"
    );
    assert!(by_key.contains("original topic Flaky"), "{by_key}");
    assert!(by_key.contains("redelivered 4 time(s)"), "{by_key}");
    let by_id = mqadmin(&["queryMsgById", "-n", &ns_addr, "-i", &d.offset_msg_id]).await;
    assert!(
        by_id.contains(&d.offset_msg_id) && by_id.contains("%DLQ%CG_FLAKY"),
        "{by_id}"
    );
    assert!(by_id.contains("RETRY_TOPIC=Flaky"), "{by_id}");

    // Fix the consumer, re-send the dead letter: the group consumes it once more.
    healed.store(true, std::sync::atomic::Ordering::SeqCst);
    let resent = mqadmin(&["resendMsgById", "-n", &ns_addr, "-i", &d.offset_msg_id]).await;
    assert!(resent.contains("to %RETRY%CG_FLAKY"), "{resent}");
    assert!(
        wait_until(Duration::from_secs(20), || good.lock().get("bad")
            == Some(&1))
        .await,
        "re-sent dead letter not consumed"
    );
    assert_eq!(
        log.lock().len(),
        4,
        "the re-sent message was not failed again"
    );

    // resetOffsetByTime with the group offline commits the offsets found for the time.
    consumer.shutdown().await;
    let reset = mqadmin(&[
        "resetOffsetByTime",
        "-n",
        &ns_addr,
        "-g",
        "CG_FLAKY",
        "-t",
        "Flaky",
        "-s",
        "0",
    ])
    .await;
    assert!(reset.contains("#brokerName"), "{reset}");
    for q in 0..2 {
        assert_eq!(
            env.broker.context().offsets.query("CG_FLAKY", "Flaky", q),
            Some(0),
            "{reset}"
        );
    }

    pull.shutdown().await;
    producer.shutdown().await;
    env.shutdown().await;
}

/// Commits or rolls back by body: "commit…", "rollback…", anything else stays unknown.
/// Check-backs answer from `answers` (by body), unknown otherwise; every check is counted.
struct Tx {
    answers: HashMap<String, LocalTransactionState>,
    checks: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl TransactionListener for Tx {
    fn execute_local_transaction(&self, msg: &Message, _: &SendResult) -> LocalTransactionState {
        let body = String::from_utf8_lossy(&msg.body).to_string();
        if body.starts_with("commit") {
            LocalTransactionState::CommitMessage
        } else if body.starts_with("rollback") {
            LocalTransactionState::RollbackMessage
        } else {
            LocalTransactionState::Unknown
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let body = msg.body_str();
        *self.checks.lock().entry(body.clone()).or_default() += 1;
        self.answers
            .get(&body)
            .copied()
            .unwrap_or(LocalTransactionState::Unknown)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_rollback_check_back_and_discard() {
    let mut env = Env::start_with(|cfg| {
        // Long enough that the producer's own END_TRANSACTION normally lands before any check.
        cfg.transaction_time_out = 1000;
        cfg.transaction_check_interval = 200;
        cfg.transaction_check_max = 3;
    })
    .await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Orders", 2).await;

    // Producer A decides commit/rollback itself, then leaves "orphan-*" undecided and dies.
    let a_checks: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let a = TransactionProducer::new(
        producer_config("PG_TX", &ns_addr),
        Tx {
            answers: HashMap::new(),
            checks: a_checks.clone(),
        },
    )
    .unwrap();
    a.start().await.unwrap();
    let r = a
        .send_message_in_transaction(Message::new("Orders", "commit-1"))
        .await
        .unwrap();
    assert_eq!(r.state, LocalTransactionState::CommitMessage);
    for body in [
        "rollback-1",
        "orphan-commit",
        "orphan-rollback",
        "orphan-unknown",
    ] {
        a.send_message_in_transaction(Message::new("Orders", body))
            .await
            .unwrap();
    }
    a.shutdown().await;

    // Producer B of the same group answers the check-backs.
    let b_checks: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let answers = HashMap::from([
        (
            "orphan-commit".to_string(),
            LocalTransactionState::CommitMessage,
        ),
        (
            "orphan-rollback".to_string(),
            LocalTransactionState::RollbackMessage,
        ),
    ]);
    let pb = TransactionProducer::new(
        producer_config("PG_TX", &ns_addr),
        Tx {
            answers,
            checks: b_checks.clone(),
        },
    )
    .unwrap();
    pb.start().await.unwrap();
    pb.announce("Orders").await.unwrap();

    let pull = start_pull_consumer("CG_TX_READER", &ns_addr).await;
    let svc = env.broker.context().transactions.get().unwrap().clone();
    // All five half messages end resolved: committed, rolled back, or discarded.
    assert!(
        wait_until(Duration::from_secs(30), || (0..5)
            .all(|o| svc.is_resolved(o)))
        .await,
        "unresolved half messages; checks seen by B: {:?}",
        b_checks.lock()
    );
    assert_eq!(
        sorted_bodies(&pull, "Orders").await,
        vec!["commit-1", "orphan-commit"]
    );
    let checks = b_checks.lock().clone();
    assert_eq!(checks.get("orphan-commit"), Some(&1));
    assert_eq!(checks.get("orphan-rollback"), Some(&1));
    assert_eq!(
        checks.get("orphan-unknown"),
        Some(&3),
        "checked transactionCheckMax times"
    );
    // A decided transaction is normally never checked; on a slow machine its END_TRANSACTION
    // may land after a check, which B answers "unknown" and which changes nothing.
    for decided in ["commit-1", "rollback-1"] {
        assert!(checks.get(decided).is_none_or(|n| *n < 3), "{checks:?}");
    }
    assert!(a_checks.lock().is_empty(), "a dead producer is never asked");

    // Half messages are never consumable: their topic has no route and no config.
    let half_q = MessageQueue::new("RMQ_SYS_TRANS_HALF_TOPIC", "broker-a", 0);
    assert!(pull.pull(&half_q, "*", 0, 32).await.is_err());

    // Progress survives a restart: nothing is checked again, nothing becomes visible.
    pb.shutdown().await;
    env.broker.shutdown().await;
    env.broker = start_broker(env.broker_config.clone()).await;
    let svc = env.broker.context().transactions.get().unwrap().clone();
    assert!((0..5).all(|o| svc.is_resolved(o)));
    assert_eq!(svc.progress().scan_from, 5);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sorted_bodies(&pull, "Orders").await,
        vec!["commit-1", "orphan-commit"]
    );

    pull.shutdown().await;
    env.shutdown().await;
}
