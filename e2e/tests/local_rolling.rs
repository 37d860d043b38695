//! A rolling restart of a whole cluster under load, on real processes
//! (deploy/cluster-2m-2s-async.yaml through the operator's local-mode plan), in the operator's
//! roll order: one group at a time, its slave first, then its master (graceful SIGTERM, restart
//! on the same store, wait until registered again); then the name servers one by one.
//! Producers run throughout: no acknowledged send is lost, and no send fails after the client's
//! retries.

#![allow(clippy::unwrap_used)] // test code: a failed setup step should stop the test

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::load::{self, Load};
use e2e::local::ProcCluster;
use operator::local::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_under_load_loses_and_fails_nothing() {
    let t0 = Instant::now();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster-2m-2s-async.yaml");
    let mut c = ProcCluster::start_anywhere(&file).await.unwrap();
    let topic = "E2ERolling";
    c.create_topic(topic, 4).await.unwrap();
    let groups = c.groups();

    let load = Load::new();
    let producing = {
        let (load, ns) = (load.clone(), c.namesrv().to_string());
        tokio::spawn(async move {
            load::produce(
                load,
                &ns,
                topic,
                "roll",
                8,
                u64::MAX,
                Some(Duration::from_millis(5)),
            )
            .await
        })
    };
    assert!(load.wait_acked(500, Duration::from_secs(60)).await);

    // Slaves before masters within a group, one group at a time (what the operator's roll does).
    let mut order = Vec::new();
    for g in &c.plan.groups {
        let mut members: Vec<u32> = g.members.iter().map(|m| m.ordinal).collect();
        members.sort_by(|a, b| b.cmp(a));
        for o in members {
            order.push(c.broker_name_of(g.index, o));
        }
    }
    let namesrvs: Vec<String> = c
        .local
        .processes
        .iter()
        .filter(|p| p.role == Role::NameServer)
        .map(|p| p.name.clone())
        .collect();
    order.extend(namesrvs);
    let roll = Instant::now();
    for name in &order {
        c.signal(name, "TERM").await.unwrap();
        c.restart(name).await.unwrap();
        c.wait_registered().await.unwrap();
        // Let clients notice the returned member before taking the next one down.
        let acked = load.acked.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            load.wait_acked(acked + 200, Duration::from_secs(60)).await,
            "no progress after {name}"
        );
    }
    let rolled = roll.elapsed();
    load.stop();
    let sent = producing.await.unwrap().unwrap();
    // Read until every acknowledged message is there (bounded): the last acks' queue entries
    // follow them by the dispatch lag.
    let (drained, reads) = load::drain_acked(
        c.namesrv(),
        topic,
        "roll",
        &groups,
        4,
        &sent,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let t = load::tally(&sent, &drained);
    eprintln!(
        "rolling restart of {} processes in {rolled:?}: acked {} weak {} failed {} (per broker {:?}); read in {reads} read(s), lost {} duplicates {}; total {:?}",
        order.len(),
        sent.acked.len(),
        sent.weak.len(),
        sent.failed.len(),
        sent.per_broker,
        t.lost.len(),
        t.duplicates,
        t0.elapsed()
    );
    assert!(t.lost.is_empty(), "acknowledged but lost: {:?}", t.lost);
    assert!(sent.failed.is_empty(), "failed sends: {:?}", sent.failed);
    c.stop().await;
}
