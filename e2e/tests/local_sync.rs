//! 2m-2s-sync with SYNC_FLUSH on real processes (deploy/cluster-2m-2s-sync.yaml through the
//! operator's local-mode plan): many concurrent producers; SIGKILL one master mid-stream; every
//! acknowledged message is read back, the killed group's from its slave; the master restarts on
//! its store and master and slave then hold the same messages.
//!
//! `E2E_MESSAGES` (default 20,000) and `E2E_PRODUCERS` (default 32) scale the load.

#![allow(clippy::unwrap_used)] // test code: a failed setup step should stop the test

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::load::{self, Load};
use e2e::local::ProcCluster;

/// Reads every group until each acknowledged send is there (at most 30 s): an ack means the
/// commit log holds the message, and its queue entry follows by the dispatch lag.
async fn read_all(
    c: &ProcCluster,
    topic: &str,
    groups: &[load::Group],
    sent: &load::Sent,
) -> (load::Drained, u32) {
    load::drain_acked(
        c.namesrv(),
        topic,
        "sync",
        groups,
        4,
        sent,
        Duration::from_secs(30),
    )
    .await
    .unwrap()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_master_sigkill_loses_no_acknowledged_message() {
    let total = env_or("E2E_MESSAGES", 20_000);
    let tasks = env_or("E2E_PRODUCERS", 32) as usize;
    let t0 = Instant::now();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster-2m-2s-sync.yaml");
    let mut c = ProcCluster::start_anywhere(&file).await.unwrap();
    let up = t0.elapsed();
    let topic = "E2ESync";
    c.create_topic(topic, 4).await.unwrap();
    let synced = Instant::now();
    c.wait_topic_on_slaves(topic, "sync").await.unwrap();
    let synced = synced.elapsed();
    let groups = c.groups();
    assert_eq!(groups.len(), 2);
    assert!(groups.iter().all(|g| g.addrs.len() == 2), "{groups:?}");

    let load = Load::new();
    let producing = {
        let (load, ns) = (load.clone(), c.namesrv().to_string());
        tokio::spawn(
            async move { load::produce(load, &ns, topic, "sync", tasks, total, None).await },
        )
    };
    // SIGKILL the first master once a third of the load is acknowledged.
    assert!(load.wait_acked(total / 3, Duration::from_secs(300)).await);
    let master0 = c.broker_name_of(0, 0);
    let killed_at = load.acked.load(std::sync::atomic::Ordering::SeqCst);
    c.signal(&master0, "KILL").await.unwrap();
    let sent = producing.await.unwrap().unwrap();
    let produced = t0.elapsed() - up;

    // Read everything: group 0 from its slave (its master is dead), group 1 from its master.
    let (drained, reads) = read_all(&c, topic, &groups, &sent).await;
    let from_slave = drained.per_addr.get(&groups[0].addrs[1]).copied();
    let t = load::tally(&sent, &drained);
    eprintln!(
        "2m-2s-sync: {total} msgs from {tasks} producers; master {master0} SIGKILLed after {killed_at} acks; \
         acked {} weak {} failed {}; per broker {:?}; read {:?} in {reads} read(s); lost {} duplicates {} unacked-but-stored {}; \
         up {up:?}, topic on slaves after {synced:?}, produce {produced:?}",
        sent.acked.len(),
        sent.weak.len(),
        sent.failed.len(),
        sent.per_broker,
        drained.per_addr,
        t.lost.len(),
        t.duplicates,
        t.unacked_stored,
    );
    assert!(
        t.lost.is_empty(),
        "acknowledged but lost: {:?}",
        &t.lost[..t.lost.len().min(20)]
    );
    assert!(
        from_slave.unwrap_or(0) > 0,
        "group 0 was read from its slave: {:?}",
        drained.per_addr
    );
    assert!(
        sent.acked.len() as u64 > total / 2,
        "most sends acknowledged"
    );

    // Restart the master on its store: it and its slave hold the same messages.
    c.restart(&master0).await.unwrap();
    c.wait_registered().await.unwrap();
    let g0 = &groups[0];
    let only = |i: usize| {
        vec![load::Group {
            broker_name: g0.broker_name.clone(),
            addrs: vec![g0.addrs[i].clone()],
        }]
    };
    // A record the master wrote but had not yet replicated when it died is on the master only
    // (never acknowledged); the slave fetches it once HA reconnects. Wait for convergence.
    let converge = Instant::now();
    let (on_master, on_slave) = loop {
        let m = load::drain(c.namesrv(), topic, "sync", &only(0), 4)
            .await
            .unwrap();
        let s = load::drain(c.namesrv(), topic, "sync", &only(1), 4)
            .await
            .unwrap();
        if m.seen == s.seen || converge.elapsed() > Duration::from_secs(60) {
            break (m, s);
        }
        let only_master = m.seen.keys().filter(|k| !s.seen.contains_key(*k)).count();
        let only_slave = s.seen.keys().filter(|k| !m.seen.contains_key(*k)).count();
        eprintln!(
            "2m-2s-sync: after {:?} master has {only_master} the slave lacks, slave {only_slave} the master lacks",
            converge.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(
        on_master.seen, on_slave.seen,
        "master and slave diverge after the restart"
    );
    let (after, _) = read_all(&c, topic, &groups, &sent).await;
    assert!(load::tally(&sent, &after).lost.is_empty());
    eprintln!(
        "2m-2s-sync: after restart master and slave of {} both hold {} messages (converged in {:?}); total {:?}",
        g0.broker_name,
        on_master.seen.len(),
        converge.elapsed(),
        t0.elapsed()
    );
    c.stop().await;
}
