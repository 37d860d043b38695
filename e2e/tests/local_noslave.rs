//! 2m-noslave on real processes (deploy/cluster-2m-noslave.yaml through the operator's local-mode
//! plan): one master is killed; producers carry on through the other; the killed master's
//! unconsumed messages are unreadable while it is down and all come back when it restarts (the
//! seed's stated trade-off of this mode).
//!
//! `E2E_MESSAGES` (default 10,000: half before the kill, half after) scales the load.

#![allow(clippy::unwrap_used)] // test code: a failed setup step should stop the test

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::load::{self, Load};
use e2e::local::ProcCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_master_messages_return_after_restart() {
    let total: u64 = std::env::var("E2E_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let t0 = Instant::now();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster-2m-noslave.yaml");
    let mut c = ProcCluster::start_anywhere(&file).await.unwrap();
    let topic = "E2ENoSlave";
    c.create_topic(topic, 4).await.unwrap();
    let groups = c.groups();
    assert_eq!(groups.len(), 2);

    let before = load::produce(Load::new(), c.namesrv(), topic, "a", 16, total / 2, None)
        .await
        .unwrap();
    assert_eq!(before.failed.len(), 0);
    let master0 = c.broker_name_of(0, 0);
    // Killed right after its last acknowledged send: under ASYNC_FLUSH an acknowledged record
    // is already in the page cache, so a process crash must lose none of them.
    c.signal(&master0, "KILL").await.unwrap();
    let killed = Instant::now();

    // Producers carry on through the other master.
    let after = load::produce(Load::new(), c.namesrv(), topic, "b", 16, total / 2, None)
        .await
        .unwrap();
    let to_dead = after
        .per_broker
        .get(&groups[0].broker_name)
        .copied()
        .unwrap_or(0);
    assert_eq!(to_dead, 0, "nothing acknowledged by a dead master");
    assert!(
        !after.acked.is_empty(),
        "the surviving master acknowledged sends"
    );

    // While it is down its messages cannot be read: the survivor holds only its own share.
    let survivors = &groups[1..];
    let partial_a = load::drain(c.namesrv(), topic, "a", survivors, 4)
        .await
        .unwrap();
    let stranded = before.acked.len() - partial_a.seen.len();
    assert_eq!(
        stranded as u64,
        before
            .per_broker
            .get(&groups[0].broker_name)
            .copied()
            .unwrap_or(0)
    );
    assert!(stranded > 0);

    c.restart(&master0).await.unwrap();
    c.wait_registered().await.unwrap();
    let down_for = killed.elapsed();
    // A restarted broker rebuilds its consume queues from the commit log in the background:
    // read until everything is back (bounded), and report how long that took.
    let back = Instant::now();
    let (ta, tb) = loop {
        let all_a = load::drain(c.namesrv(), topic, "a", &groups, 4)
            .await
            .unwrap();
        let all_b = load::drain(c.namesrv(), topic, "b", &groups, 4)
            .await
            .unwrap();
        let (ta, tb) = (load::tally(&before, &all_a), load::tally(&after, &all_b));
        if (ta.lost.is_empty() && tb.lost.is_empty()) || back.elapsed() > Duration::from_secs(30) {
            break (ta, tb);
        }
        eprintln!(
            "2m-noslave: {} still missing after {:?}; stuck {:?}",
            ta.lost.len() + tb.lost.len(),
            back.elapsed(),
            all_a.stuck
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let back = back.elapsed();
    eprintln!(
        "2m-noslave: before kill acked {} (per broker {:?}); after kill acked {} failed {} (per broker {:?}); \
         {stranded} stranded while {master0} was down ({down_for:?}); all back {back:?} after the restart; lost {}+{} duplicates {}+{}; total {:?}",
        before.acked.len(),
        before.per_broker,
        after.acked.len(),
        after.failed.len(),
        after.per_broker,
        ta.lost.len(),
        tb.lost.len(),
        ta.duplicates,
        tb.duplicates,
        t0.elapsed()
    );
    assert!(ta.lost.is_empty() && tb.lost.is_empty());
    c.stop().await;
}
