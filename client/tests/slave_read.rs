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
