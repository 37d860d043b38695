//! Reads from a slave while its master is down (the seed's 2m-2s modes: "consumers keep reading
//! from a slave while its master is down"), with a real name server, master and slave: after
//! the master stops, a consumer group that never ran before gets its first offsets from, pulls
//! from and commits its offsets to the slave, and reads every message; so does a pull consumer.

#![allow(clippy::unwrap_used)] // test code

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use broker::BrokerRole;
use client::{PullConsumer, PullStatus};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_group_reads_everything_from_the_slave_while_the_master_is_down() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let master = start_broker(broker_config("broker-a", &dir.path().join("m"), &ns_addr)).await;
    let mut scfg = broker_config("broker-a", &dir.path().join("s"), &ns_addr);
    scfg.broker_role = BrokerRole::Slave;
    scfg.broker_id = 1;
    scfg.ha_send_heartbeat_interval = 500;
    let slave = start_broker(scfg).await;
    let admin = client::Admin::new(client_config(&ns_addr)).unwrap();
    create_topic(&admin, master.broker_addr(), "SlaveRead", 4, 1).await;

    let producer = start_producer("PG-slave-read", &ns_addr).await;
    send_numbered(&producer, "SlaveRead", "m", 200).await;
    producer.shutdown().await;

    // The slave has copied the whole commit log and learnt the topic from the master.
    let (m, s) = (
        master.context().message_store.clone().unwrap(),
        slave.context().message_store.clone().unwrap(),
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            s.commit_log_max_offset() == m.commit_log_max_offset()
                && slave.context().topics.get("SlaveRead").is_some()
        })
        .await,
        "slave did not catch up"
    );

    // The master goes away; the name server then lists only the slave.
    master.shutdown().await;
    let mut only_slave = false;
    for _ in 0..300 {
        if let Ok(r) = admin.topic_route("SlaveRead").await
            && r.broker_datas
                .iter()
                .all(|b| !b.broker_addrs.contains_key(&0))
            && r.broker_datas
                .iter()
                .any(|b| b.broker_addrs.contains_key(&1))
        {
            only_slave = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(only_slave, "the route still lists the master");

    // A push consumer group that has never run: first offsets, pulls and commits all on the
    // slave.
    let seen: Seen = Arc::default();
    let c = counting_consumer(
        consumer_config("CG-slave-new", &ns_addr),
        "SlaveRead",
        "*",
        seen.clone(),
        Arc::default(),
    );
    c.start().await.unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || seen.lock().len() == 200).await,
        "read {} of 200 from the slave",
        seen.lock().len()
    );
    let want: BTreeSet<String> = (0..200).map(|i| format!("m{i}")).collect();
    assert_eq!(seen.lock().keys().cloned().collect::<BTreeSet<_>>(), want);
    c.shutdown().await;

    // The commits landed on the slave: the group's offsets there cover everything.
    let probe = PullConsumer::new("CG-slave-probe", client_config(&ns_addr)).unwrap();
    let qs = probe.fetch_subscribe_queues("SlaveRead").await.unwrap();
    assert_eq!(qs.len(), 4);
    let mut committed = 0;
    for q in &qs {
        committed += probe
            .instance()
            .query_consumer_offset("CG-slave-new", q)
            .await
            .unwrap()
            .unwrap_or(0);
    }
    assert_eq!(committed, 200, "offsets committed to the slave");

    // A pull consumer reads everything from the slave too (min/max offsets and pulls).
    let mut got = BTreeSet::new();
    for q in &qs {
        let mut offset = probe.instance().min_offset(q).await.unwrap();
        loop {
            let r = probe.pull(q, "*", offset, 32).await.unwrap();
            if r.status != PullStatus::Found {
                break;
            }
            got.extend(r.msgs.iter().map(|m| m.body_str()));
            offset = r.next_begin_offset;
        }
    }
    assert_eq!(got, want);
    probe.shutdown().await;
    admin.shutdown().await;
    slave.shutdown().await;
    ns.shutdown().await;
}

/// A consumer that is already running when its master dies keeps reading from the slave on its
/// next pull, without waiting for the route poll (set to an hour here, so only the client's
/// reaction to the refused connection can move it), consumes every message exactly once,
/// commits to the slave, and the slave hands the offsets back to the master when it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_consumer_moves_to_the_slave_when_its_master_dies() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let mcfg = broker_config("broker-f", &dir.path().join("m"), &ns_addr);
    let master = start_broker(mcfg.clone()).await;
    let mut scfg = broker_config("broker-f", &dir.path().join("s"), &ns_addr);
    scfg.broker_role = BrokerRole::Slave;
    scfg.broker_id = 1;
    scfg.ha_send_heartbeat_interval = 500;
    let slave = start_broker(scfg).await;
    let admin = client::Admin::new(client_config(&ns_addr)).unwrap();
    create_topic(&admin, master.broker_addr(), "Failover", 2, 1).await;

    // One message per queue in the listener at a time, held there until `gate` opens: the
    // rest stays on the brokers, so it can only be read after the master is gone.
    let gate = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let entered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen: Arc<parking_lot::Mutex<Vec<(String, std::time::Instant)>>> = Arc::default();
    let mut cfg = consumer_config("CG-failover", &ns_addr);
    cfg.client.poll_name_server_interval = Duration::from_secs(3600);
    cfg.pull_batch_size = 1;
    cfg.pull_threshold_for_queue = 0;
    let c = client::PushConsumer::new(cfg).unwrap();
    c.subscribe("Failover", "*").unwrap();
    {
        let (gate, entered, seen) = (gate.clone(), entered.clone(), seen.clone());
        c.register_listener_concurrently(
            move |msgs: &[client::MessageExt], _: &mut client::ConsumeConcurrentlyContext| {
                entered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                while !gate.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let now = std::time::Instant::now();
                seen.lock().extend(msgs.iter().map(|m| (m.body_str(), now)));
                client::ConsumeConcurrentlyStatus::ConsumeSuccess
            },
        );
    }
    c.start().await.unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || c
            .assigned_queues()
            .iter()
            .filter(|q| q.topic == "Failover")
            .count()
            == 2)
        .await,
        "the consumer holds both queues"
    );

    let producer = start_producer("PG-failover", &ns_addr).await;
    send_numbered(&producer, "Failover", "f", 100).await;
    producer.shutdown().await;
    let (m, s) = (
        master.context().message_store.clone().unwrap(),
        slave.context().message_store.clone().unwrap(),
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            s.commit_log_max_offset() == m.commit_log_max_offset()
                && slave.context().topics.get("Failover").is_some()
        })
        .await,
        "slave did not catch up"
    );
    assert!(
        wait_until(Duration::from_secs(20), || entered
            .load(std::sync::atomic::Ordering::SeqCst)
            == 2)
        .await,
        "one message of each queue reached the listener"
    );

    // The master dies with 98 messages unread; the consumer's cached route still lists it.
    drop((m, s));
    master.shutdown().await;
    let died = std::time::Instant::now();
    gate.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(60), || seen.lock().len() >= 100).await,
        "read {} of 100 after the master died",
        seen.lock().len()
    );
    // The first message read after the two that were in memory came from the slave.
    let first_from_slave = {
        let s = seen.lock();
        let mut times: Vec<std::time::Instant> = s.iter().map(|(_, t)| *t).collect();
        times.sort();
        times[2].saturating_duration_since(died)
    };
    println!(
        "failover of a running consumer: first message from the slave {first_from_slave:?} after \
         the master stopped (route poll 1 h, pull retry delay 200 ms, heartbeat 500 ms)"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for (b, _) in seen.lock().iter() {
            *counts.entry(b.clone()).or_default() += 1;
        }
        counts
    };
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "consumed more than once: {dups:?}");
    let want: BTreeSet<String> = (0..100).map(|i| format!("f{i}")).collect();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), want);

    // Commits went to the slave.
    let committed = |ctx: &Arc<broker::context::BrokerContext>| {
        (0..2)
            .map(|q| ctx.offsets.query("CG-failover", "Failover", q).unwrap_or(0))
            .sum::<i64>()
    };
    assert!(
        wait_until(Duration::from_secs(20), || committed(slave.context())
            == 100)
        .await,
        "offsets committed to the slave: {}",
        committed(slave.context())
    );

    // The master comes back (same store, a fresh port): the slave hands the offsets the
    // consumer committed meanwhile back to it at its next metadata sync (every 10 s).
    let mut mcfg2 = mcfg.clone();
    mcfg2.listen_port = 0;
    let master = start_broker(mcfg2).await;
    assert!(
        wait_until(Duration::from_secs(30), || committed(master.context())
            == 100)
        .await,
        "offsets synced back to the returned master: {}",
        committed(master.context())
    );
    // At its next route poll (done by hand here) the consumer reads from the master again and
    // gets what is sent to it, once.
    c.instance().refresh_routes().await;
    let found_before = master
        .context()
        .stats
        .get_transferred
        .load(std::sync::atomic::Ordering::Relaxed);
    let producer = start_producer("PG-failover-2", &ns_addr).await;
    send_numbered(&producer, "Failover", "g", 20).await;
    producer.shutdown().await;
    assert!(
        wait_until(Duration::from_secs(30), || seen.lock().len() >= 120).await,
        "read {} of 120 after the master returned",
        seen.lock().len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    {
        let s = seen.lock();
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for (b, _) in s.iter() {
            *counts.entry(b.as_str()).or_default() += 1;
        }
        let dups: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
        assert!(dups.is_empty(), "consumed more than once: {dups:?}");
        assert_eq!(counts.len(), 120);
    }
    assert!(
        master
            .context()
            .stats
            .get_transferred
            .load(std::sync::atomic::Ordering::Relaxed)
            > found_before,
        "the consumer pulls from the master again"
    );
    c.shutdown().await;
    admin.shutdown().await;
    slave.shutdown().await;
    master.shutdown().await;
    ns.shutdown().await;
}
