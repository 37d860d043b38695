//! Registration with the name servers (spec §3.11): REGISTER_BROKER to every address of every
//! `namesrvAddr` entry every `registerNameServerPeriod` and at once when topics change;
//! UNREGISTER_BROKER on shutdown.
//!
//! Each host name is re-resolved every cycle and every address it resolves to is registered with
//! (a headless Kubernetes Service names all name server pods), so pod IP churn is followed.
//! Every registration carries the whole topic table (reliability.md: a restarted name server must
//! never be left without routes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use futures::future::join_all;
use parking_lot::Mutex;
use remoting::body::topic::{RegisterBrokerBody, perm};
use remoting::header::namesrv::{
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnRegisterBrokerRequestHeader,
};
use remoting::{CommandHeader, RemotingClient, RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{BrokerConfig, NamesrvEndpoint};
use crate::state::topic_config::TopicConfigManager;

/// What a name server told a slave about its master.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterInfo {
    /// The master's remoting address.
    pub master_addr: Option<String>,
    /// The master's HA address.
    pub ha_server_addr: Option<String>,
}

/// Registers the broker with its name servers.
pub struct Registrar {
    client: RemotingClient,
    config: Arc<BrokerConfig>,
    endpoints: Vec<NamesrvEndpoint>,
    broker_addr: String,
    ha_addr: String,
    topics: Arc<TopicConfigManager>,
    permission: Arc<AtomicI32>,
    master: Mutex<MasterInfo>,
    /// Name server addresses that answered the last cycle.
    last_ok: Mutex<Vec<SocketAddr>>,
    /// Addresses whose connection is watched for a close (a restarted name server).
    watched: Arc<Mutex<std::collections::HashSet<SocketAddr>>>,
    /// Fired when a watched connection closes: re-register soon rather than a period later.
    reconnect: Arc<Notify>,
    /// Set once unregistering: closed connections are then expected.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// Consecutive failed registrations per name server: a failure is logged when the state
    /// changes (the first one), not on every retry; the recovery is logged too.
    failing: Mutex<std::collections::HashMap<SocketAddr, u32>>,
    /// Role and epoch (`epochFencingEnable`): the broker id registered, the lease renewed by
    /// each accepted registration, registration withheld while fenced.
    role: std::sync::OnceLock<Arc<crate::state::fencing::RoleState>>,
}

/// Retry delay after a failed or lost registration (a restarted name server has no routes
/// until the broker registers again, reliability.md "Routing").
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Longest wait between registration retries while a name server stays unreachable (Java
/// retries every 30 s).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Retry delay after `rounds` failed registration rounds in a row: 1 s doubling to 30 s.
fn retry_delay(rounds: u32) -> Duration {
    RETRY_DELAY
        .saturating_mul(1u32 << rounds.saturating_sub(1).min(5))
        .min(MAX_RETRY_DELAY)
}

impl Registrar {
    /// A registrar advertising `broker_addr` (remoting) and `ha_addr` (HA).
    pub fn new(
        config: Arc<BrokerConfig>,
        endpoints: Vec<NamesrvEndpoint>,
        broker_addr: String,
        ha_addr: String,
        topics: Arc<TopicConfigManager>,
        permission: Arc<AtomicI32>,
    ) -> Self {
        // From now on a topic change waits for the round that announces it (even the first).
        topics.mark_announced(i64::MIN);
        Registrar {
            // TLS settings were checked at start (`load_acl`); a failure here is unreachable
            // in practice and would fall back to an error on every registration.
            client: RemotingClient::new(remoting::ClientConfig {
                tls: remoting::tls::TlsClient::from_properties(&config.tls_properties())
                    .ok()
                    .flatten(),
                ..Default::default()
            }),
            config,
            endpoints,
            broker_addr,
            ha_addr,
            topics,
            permission,
            master: Mutex::new(MasterInfo::default()),
            last_ok: Mutex::new(Vec::new()),
            watched: Arc::default(),
            reconnect: Arc::new(Notify::new()),
            stopping: Arc::default(),
            failing: Mutex::new(Default::default()),
            role: Default::default(),
        }
    }

    /// Hands the registrar the broker's role state (once, at start-up).
    pub fn set_role(&self, role: Arc<crate::state::fencing::RoleState>) {
        let _ = self.role.set(role);
    }

    fn broker_id(&self) -> i64 {
        self.role
            .get()
            .map_or(self.config.broker_id, |r| r.broker_id())
    }

    /// With fencing, before a master's first registration: another address holding id 0 of
    /// this group at a reachable name server means a failover happened while this broker was
    /// away; it must not take the route back (docs/failover.md).
    async fn other_master(&self, addrs: &[SocketAddr]) -> Option<String> {
        for addr in addrs {
            let req = RemotingCommand::request(
                RequestCode::GET_BROKER_CLUSTER_INFO,
                remoting::ExtFields::default(),
            );
            let Ok(resp) = self
                .client
                .invoke(&addr.to_string(), req, self.timeout())
                .await
            else {
                continue;
            };
            let Ok(info) = remoting::body::cluster::ClusterInfo::decode(&resp.body) else {
                continue;
            };
            if let Some(master) = info
                .broker_addr_table
                .get(&self.config.broker_name)
                .and_then(|b| b.broker_addrs.get(&0))
                && *master != self.broker_addr
            {
                return Some(master.clone());
            }
        }
        None
    }

    /// The advertised remoting address.
    pub fn broker_addr(&self) -> &str {
        &self.broker_addr
    }

    /// What the name servers said about the master (slaves).
    pub fn master_info(&self) -> MasterInfo {
        self.master.lock().clone()
    }

    /// Name server addresses that accepted the last registration.
    pub fn registered_with(&self) -> Vec<SocketAddr> {
        self.last_ok.lock().clone()
    }

    /// Resolves every endpoint now (each host name may yield several addresses).
    pub async fn resolve(&self) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for ep in &self.endpoints {
            match tokio::net::lookup_host((ep.host.as_str(), ep.port)).await {
                Ok(addrs) => {
                    for a in addrs {
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                }
                Err(e) => warn!(namesrv = %ep, error = %e, "cannot resolve name server"),
            }
        }
        out
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.register_broker_timeout_mills.max(100))
    }

    /// Registers with every resolved name server address, in parallel. Returns how many accepted.
    /// Afterwards the topic table learns which of its versions this round carried, accepted or
    /// not, so an admin request waiting for its change is released.
    pub async fn register_all(&self) -> usize {
        let version = self.topics.version();
        let n = self.register_round().await;
        self.topics.mark_announced(version);
        n
    }

    async fn register_round(&self) -> usize {
        let addrs = self.resolve().await;
        let sent_at = std::time::Instant::now();
        if let Some(role) = self.role.get().filter(|r| r.enabled()) {
            if role.withhold_registration() {
                return 0;
            }
            if role.role().is_master()
                && role.check_write().is_err()
                && let Some(other) = self.other_master(&addrs).await
                && role.note_other_master(&other)
            {
                return 0;
            }
        }
        let mut table = self.topics.snapshot();
        let broker_perm = self.permission.load(Ordering::Relaxed);
        if !perm::is_writeable(broker_perm) || !perm::is_readable(broker_perm) {
            // A read-only (or write-only) broker advertises every topic with its own limits,
            // so producers move elsewhere (Java: `topic perm & brokerPermission`).
            for tc in table.topic_config_table.values_mut() {
                tc.perm &= broker_perm;
            }
        }
        let body = RegisterBrokerBody {
            topic_config_serialize_wrapper: table,
            filter_server_list: Vec::new(),
        };
        let compressed = self.config.compressed_register;
        let encoded = match body.encode(compressed) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "cannot encode registration body");
                return 0;
            }
        };
        let header = RegisterBrokerRequestHeader {
            broker_name: self.config.broker_name.clone(),
            broker_addr: self.broker_addr.clone(),
            cluster_name: self.config.broker_cluster_name.clone(),
            ha_server_addr: self.ha_addr.clone(),
            broker_id: self.broker_id(),
            compressed: Some(compressed),
            body_crc32: Some(RegisterBrokerBody::crc32(&encoded)),
            // With fencing the name servers forget a silent broker after 1.5 leases
            // (docs/failover.md "Timing"); else their own expiry.
            heartbeat_timeout_millis: self
                .config
                .epoch_fencing_enable
                .then(|| (self.config.fencing_lease_millis * 3 / 2) as i64),
            enable_acting_master: None,
        };
        let results = join_all(addrs.iter().map(|addr| {
            let req = RemotingCommand::request(RequestCode::REGISTER_BROKER, header.to_ext())
                .with_body(encoded.clone());
            let target = addr.to_string();
            async move {
                let r = self.client.invoke(&target, req, self.timeout()).await;
                (*addr, r)
            }
        }))
        .await;
        let mut ok = Vec::new();
        for (addr, r) in results {
            match r {
                Ok(resp) if resp.code == ResponseCode::SUCCESS.0 => {
                    if let Some(failures) = self.failing.lock().remove(&addr) {
                        info!(namesrv = %addr, failures, "name server reachable again");
                    }
                    info!(namesrv = %addr, "register broker to name server OK");
                    if let Ok(h) = RegisterBrokerResponseHeader::from_ext(&resp.ext_fields) {
                        let info = MasterInfo {
                            master_addr: h.master_addr.filter(|s| !s.is_empty()),
                            ha_server_addr: h.ha_server_addr.filter(|s| !s.is_empty()),
                        };
                        let mut m = self.master.lock();
                        if *m != info {
                            info!(master = ?info.master_addr, ha = ?info.ha_server_addr, "master address learnt from name server");
                            *m = info;
                        }
                    }
                    ok.push(addr);
                }
                Ok(resp) => {
                    if self.note_failure(addr) {
                        warn!(namesrv = %addr, code = resp.code, remark = resp.remark_str(), "name server refused registration; retrying with back-off up to 30 s")
                    } else {
                        tracing::debug!(namesrv = %addr, code = resp.code, "name server still refuses registration")
                    }
                }
                Err(e) => {
                    if self.note_failure(addr) {
                        warn!(namesrv = %addr, error = %e, "register broker to name server failed; retrying with back-off up to 30 s")
                    } else {
                        tracing::debug!(namesrv = %addr, error = %e, "register broker to name server still failing")
                    }
                }
            }
        }
        for addr in &ok {
            self.watch(*addr).await;
        }
        let n = ok.len();
        if let Some(role) = self.role.get() {
            role.note_registration(sent_at, n);
        }
        *self.last_ok.lock() = ok;
        n
    }

    /// Watches the connection to a name server: when it closes (the name server restarted or
    /// went away) the broker re-registers after [`RETRY_DELAY`] instead of a whole period later.
    async fn watch(&self, addr: SocketAddr) {
        if !self.watched.lock().insert(addr) {
            return;
        }
        let Ok(conn) = self.client.connection(&addr.to_string()).await else {
            self.watched.lock().remove(&addr);
            return;
        };
        let reconnect = self.reconnect.clone();
        let watched = self.watched.clone();
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            conn.closed().await;
            watched.lock().remove(&addr);
            if stopping.load(Ordering::Acquire) {
                return;
            }
            warn!(namesrv = %addr, "connection to name server lost; re-registering soon");
            reconnect.notify_one();
        });
    }

    /// Unregisters from every resolved name server address.
    pub async fn unregister_all(&self) {
        self.stopping.store(true, Ordering::Release);
        let header = UnRegisterBrokerRequestHeader {
            broker_name: self.config.broker_name.clone(),
            broker_addr: self.broker_addr.clone(),
            cluster_name: self.config.broker_cluster_name.clone(),
            broker_id: self.broker_id(),
        };
        let addrs = self.resolve().await;
        join_all(addrs.iter().map(|addr| {
            let req = RemotingCommand::request(RequestCode::UNREGISTER_BROKER, header.to_ext());
            let target = addr.to_string();
            async move {
                match self.client.invoke(&target, req, self.timeout()).await {
                    Ok(_) => info!(namesrv = %target, "unregistered from name server"),
                    Err(e) => warn!(namesrv = %target, error = %e, "unregister failed"),
                }
            }
        }))
        .await;
        self.client.shutdown();
    }

    /// Counts a failure of `addr`; true when it is the first in a row (worth a warning).
    fn note_failure(&self, addr: SocketAddr) -> bool {
        let mut f = self.failing.lock();
        let n = f.entry(addr).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Registers now, then every period, whenever `changed` fires, and after a failure or a
    /// lost name server connection: soon at first, backing off to 30 s while it keeps failing,
    /// until `shutdown`.
    pub async fn run(self: Arc<Self>, changed: Arc<Notify>, shutdown: CancellationToken) {
        let period = self.config.register_period();
        let mut failed_rounds = 0u32;
        loop {
            let expected = self.resolve().await.len();
            let ok = self.register_all().await;
            let wait = if ok < expected.max(1) {
                failed_rounds = failed_rounds.saturating_add(1);
                period.min(retry_delay(failed_rounds))
            } else {
                failed_rounds = 0;
                period
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                _ = self.reconnect.notified() => {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(RETRY_DELAY) => {}
                    }
                }
                _ = changed.notified() => {
                    // Coalesce a burst of topic changes into one registration.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn registration_retries_back_off_to_thirty_seconds() {
        let secs: Vec<u64> = (1..=8).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
