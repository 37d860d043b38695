//! The failover controller keeps nothing it needs in memory (docs/failover.md "The
//! controller"): a controller that stops in the middle of a failover — after FENCE, before
//! PROMOTE; after PROMOTE, before REPOINT — is replaced by a fresh one that finishes the job from
//! what the brokers and the name server report. The steps the stopped controller had done are
//! sent by hand through the failover admin codes; then a new [`Controller`] runs.
//!
//! Real in-process name server and brokers (SYNC_MASTER + two slaves, `epochFencingEnable`) on
//! 127.0.0.1:0. The same tests check that a broker shows its *current* role after a switch:
//! GET_BROKER_CONFIG (mqadmin getBrokerConfig), the `rocketmq_broker_info` metric labels and the
//! name server's cluster table.

#![allow(clippy::unwrap_used)]

mod in_process;

use std::path::Path;
use std::time::{Duration, Instant};

use broker::config::{BrokerConfig, BrokerRole};
use broker::failover_proto::{FAILOVER_FENCE, FAILOVER_GET_STATE, FAILOVER_PROMOTE, FailoverState};
use broker::{Broker, BrokerHandle};
use namesrv::NameServerHandle;
use operator::local::failover::{Controller, Event, FailoverConfig, GroupSpec};
use remoting::body::cluster::ClusterInfo;
use remoting::{ExtFields, RemotingClient, RemotingCommand, RequestCode, ResponseCode};

const TIMEOUT: Duration = Duration::from_secs(30);
const LEASE_MS: u64 = 1500;

async fn start_namesrv(dir: &Path) -> NameServerHandle {
    // What local mode renders for clusters with failover on.
    in_process::start_namesrv_with(dir, |c| {
        c.scan_not_active_broker_interval =
            Duration::from_millis(operator::local::FAILOVER_NAMESRV_SCAN_MS)
    })
    .await
}

async fn start_broker(store: &Path, ns: &str, id: i64) -> BrokerHandle {
    let role = if id == 0 {
        BrokerRole::SyncMaster
    } else {
        BrokerRole::Slave
    };
    let config = BrokerConfig {
        broker_id: id,
        broker_role: role,
        register_name_server_period: 1000,
        ha_housekeeping_interval: 3000,
        ha_send_heartbeat_interval: 500,
        epoch_fencing_enable: true,
        fencing_lease_millis: LEASE_MS,
        metrics_exporter_type: broker::MetricsExporterType::Prom,
        metrics_prom_exporter_host: "127.0.0.1".into(),
        metrics_prom_exporter_port: 0,
        ..in_process::broker_config(store, "broker-a", Some(ns.to_string()))
    };
    Broker::start(config).await.unwrap()
}

async fn call(
    client: &RemotingClient,
    addr: &str,
    code: i32,
    ext: &[(&str, &str)],
) -> FailoverState {
    let mut req = RemotingCommand::request(RequestCode(code), ExtFields::default());
    for (k, v) in ext {
        req.ext_fields.insert(*k, v.to_string());
    }
    let r = client.invoke(addr, req, TIMEOUT).await.unwrap();
    assert_eq!(
        r.code,
        ResponseCode::SUCCESS.0,
        "{code} to {addr}: {:?}",
        r.remark
    );
    serde_json::from_slice(&r.body).unwrap()
}

async fn state(client: &RemotingClient, addr: &str) -> Option<FailoverState> {
    let req = RemotingCommand::request(RequestCode(FAILOVER_GET_STATE), ExtFields::default());
    let r = client
        .invoke(addr, req, Duration::from_secs(2))
        .await
        .ok()?;
    serde_json::from_slice(&r.body).ok()
}

/// brokerId → address of broker-a at the name server.
async fn listed(client: &RemotingClient, ns: &str) -> std::collections::BTreeMap<i64, String> {
    let req = RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO, ExtFields::default());
    let Ok(r) = client.invoke(ns, req, TIMEOUT).await else {
        return Default::default();
    };
    ClusterInfo::decode(&r.body)
        .ok()
        .and_then(|i| i.broker_addr_table.get("broker-a").cloned())
        .map(|b| b.broker_addrs.into_iter().collect())
        .unwrap_or_default()
}

async fn until<T>(what: &str, within: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Group {
    _dir: tempfile::TempDir,
    ns_handle: NameServerHandle,
    ns: String,
    /// The old master (stopped by the test), then the two slaves.
    brokers: Vec<Option<BrokerHandle>>,
    addrs: Vec<String>,
    client: RemotingClient,
}

/// A healthy SYNC group: the master writable with both slaves in sync.
async fn group() -> Group {
    let dir = tempfile::tempdir().unwrap();
    let ns_handle = start_namesrv(dir.path()).await;
    let ns = ns_handle.local_addr().to_string();
    let mut brokers = Vec::new();
    for id in 0..3 {
        let store = dir.path().join(format!("b{id}"));
        brokers.push(Some(start_broker(&store, &ns, id).await));
    }
    let addrs: Vec<String> = brokers
        .iter()
        .map(|b| b.as_ref().unwrap().local_addr().to_string())
        .collect();
    let client = RemotingClient::new(remoting::ClientConfig::default());
    let master = addrs[0].clone();
    until(
        "a writable master with two slaves in sync",
        TIMEOUT,
        async || {
            let s = state(&client, &master).await?;
            (s.write_refused.is_none() && s.in_sync_slaves == 2).then_some(())
        },
    )
    .await;
    Group {
        _dir: dir,
        ns_handle,
        ns,
        brokers,
        addrs,
        client,
    }
}

impl Group {
    /// Stops the master; waits until the name server no longer lists it.
    async fn lose_master(&mut self) {
        self.brokers[0].take().unwrap().shutdown().await;
        let (client, ns) = (&self.client, self.ns.clone());
        until("the name server drops the master", TIMEOUT, async || {
            (!listed(client, &ns).await.contains_key(&0)).then_some(())
        })
        .await;
    }

    async fn fence(&self, epoch: u32) {
        for a in &self.addrs[1..] {
            let s = call(
                &self.client,
                a,
                FAILOVER_FENCE,
                &[("epoch", &epoch.to_string())],
            )
            .await;
            assert_eq!(s.known_epoch, epoch);
            assert!(!s.ha_connected, "a fenced slave stops following");
        }
    }

    /// A fresh controller, run until `done` holds; returns its events.
    async fn fresh_controller(&self, done: impl AsyncFn() -> bool) -> Vec<Event> {
        let config = FailoverConfig {
            namesrv: vec![self.ns.clone()],
            groups: vec![GroupSpec {
                name: "broker-a".into(),
                sync: true,
                members: self.addrs.clone(),
            }],
            lost_after: Duration::from_millis(LEASE_MS + 1000),
            poll: Duration::from_millis(200),
            request_timeout: Duration::from_millis(1500),
        };
        let mut c = Controller::new(config);
        let mut events = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            events.extend(c.tick().await);
            if done().await {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "the fresh controller did not finish: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The group settled: `master` writable and listed as id 0, `slave` following it and listed
    /// as `slave_id`.
    async fn settled(&self, master: &str, slave: &str, slave_id: i64) -> bool {
        let (Some(m), Some(s)) = (
            state(&self.client, master).await,
            state(&self.client, slave).await,
        ) else {
            return false;
        };
        let l = listed(&self.client, &self.ns).await;
        m.write_refused.is_none()
            && m.in_sync_slaves == 1
            && s.role == "SLAVE"
            && s.ha_connected
            && s.following.as_deref() == Some(m.ha_addr.as_str())
            && s.broker_id == slave_id
            && l.get(&0).map(String::as_str) == Some(master)
            && l.get(&slave_id).map(String::as_str) == Some(slave)
            && l.len() == 2
    }

    async fn shutdown(mut self) {
        for b in self.brokers.iter_mut().rev() {
            if let Some(b) = b.take() {
                b.shutdown().await;
            }
        }
        self.client.shutdown();
        self.ns_handle.shutdown().await;
    }
}

/// GET_BROKER_CONFIG's `brokerRole` and `brokerId`.
async fn config_role(client: &RemotingClient, addr: &str) -> (String, String) {
    let req = RemotingCommand::request(RequestCode::GET_BROKER_CONFIG, ExtFields::default());
    let r = client.invoke(addr, req, TIMEOUT).await.unwrap();
    let props = remoting::properties::parse(&String::from_utf8_lossy(&r.body));
    (
        props.get("brokerRole").cloned().unwrap_or_default(),
        props.get("brokerId").cloned().unwrap_or_default(),
    )
}

/// The `role` and `broker_id` labels of `rocketmq_broker_info`.
async fn metric_role(b: &BrokerHandle) -> (String, String) {
    let addr = b.context().metrics.local_addr().unwrap().to_string();
    let text = telemetry::scrape::metrics(&addr).await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("rocketmq_broker_info{"))
        .unwrap_or_else(|| panic!("no rocketmq_broker_info in {text}"))
        .to_string();
    let label = |k: &str| {
        line.split(&format!("{k}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string()
    };
    (label("role"), label("broker_id"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_controller_finishes_a_failover_stopped_after_fence() {
    let mut g = group().await;
    g.lose_master().await;
    // The stopped controller's step: every slave frozen at epoch 2.
    g.fence(2).await;
    let events = g
        .fresh_controller(async || {
            for (m, s) in [(1, 2), (2, 1)] {
                if g.settled(&g.addrs[m], &g.addrs[s], s as i64).await {
                    return true;
                }
            }
            false
        })
        .await;
    let promoted: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Failover { .. }))
        .collect();
    assert_eq!(promoted.len(), 1, "{events:?}");
    let Event::Failover {
        new_master, epoch, ..
    } = promoted[0]
    else {
        unreachable!()
    };
    assert!(
        *epoch > 2,
        "the new epoch is newer than the fence's: {epoch}"
    );
    // Equal offsets: the lowest id wins.
    assert_eq!(new_master, &g.addrs[1]);
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_controller_finishes_a_failover_stopped_after_promote_and_roles_show_everywhere() {
    let mut g = group().await;
    let promoted = g.brokers[1].as_ref().unwrap();
    assert_eq!(
        config_role(&g.client, &g.addrs[1]).await,
        ("SLAVE".to_string(), "1".to_string())
    );
    assert_eq!(metric_role(promoted).await, ("SLAVE".into(), "1".into()));
    g.lose_master().await;
    // The stopped controller's steps: FENCE everyone, PROMOTE broker 1; no REPOINT of broker 2.
    g.fence(2).await;
    let p = call(
        &g.client,
        &g.addrs[1],
        FAILOVER_PROMOTE,
        &[("epoch", "2"), ("role", "SYNC_MASTER")],
    )
    .await;
    assert_eq!((p.role.as_str(), p.broker_id), ("SYNC_MASTER", 0));
    let events = g
        .fresh_controller(async || g.settled(&g.addrs[1], &g.addrs[2], 2).await)
        .await;
    assert!(
        events.iter().all(|e| !matches!(e, Event::Failover { .. })),
        "no second promotion: {events:?}"
    );
    // The current role and id, not the configured ones, everywhere.
    let promoted = g.brokers[1].as_ref().unwrap();
    assert_eq!(
        config_role(&g.client, &g.addrs[1]).await,
        ("SYNC_MASTER".to_string(), "0".to_string())
    );
    assert_eq!(
        metric_role(promoted).await,
        ("SYNC_MASTER".into(), "0".into())
    );
    let rt = {
        let req =
            RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, ExtFields::default());
        let r = g.client.invoke(&g.addrs[1], req, TIMEOUT).await.unwrap();
        remoting::body::kv::KVTable::decode(&r.body).unwrap().table
    };
    assert_eq!(
        rt.get("brokerRole").map(String::as_str),
        Some("SYNC_MASTER")
    );
    g.shutdown().await;
}
