//! The broker's shared state: everything a request may touch, held in one place.
//!
//! The context sits above the tables ([`crate::state`]) and the services ([`crate::services`]):
//! it holds them. Neither a handler nor a service takes it: [`crate::processor`] hands each
//! request family only its references (`send::Deps`, `pull::Deps`, …), and each service gets a
//! narrow handle with only the tables it uses (`schedule::Handle`, `transaction::Handle`,
//! `slave_sync::Handle`, the metrics' `Sources`), built in [`crate::broker`]. The tables shared
//! with a service are `Arc`s here for that reason.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize};
use std::time::Duration;

use parking_lot::Mutex;
use remoting::header::client::NotifyConsumerIdsChangedRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::config::BrokerConfig;
use crate::state::client_manager::ClientManager;
use crate::state::consumer_offset::ConsumerOffsetManager;
use crate::state::long_polling::LongPolling;
use crate::state::rebalance_lock::RebalanceLockManager;
use crate::state::stats::BrokerStats;
use crate::state::subscription_group::SubscriptionGroupManager;
use crate::state::topic_config::TopicConfigManager;
use crate::store_api::MessageStoreApi;

/// Everything a request may touch ([`crate::processor`] hands each handler its part).
pub struct BrokerContext {
    /// The effective configuration.
    pub config: Arc<BrokerConfig>,
    /// The config as changed at run time by UPDATE_BROKER_CONFIG ([`Self::live`]).
    pub runtime: Arc<crate::state::runtime_config::RuntimeConfig>,
    /// The message store, as the request handlers use it.
    pub store: Arc<dyn MessageStoreApi>,
    /// The concrete store when the broker opened it itself ([`crate::Broker::start`]): what
    /// replication (HA) needs beyond the handlers' trait (raw commit-log reads and appends).
    pub message_store: Option<Arc<store::MessageStore>>,
    /// Plain ACL (set once at start-up when `aclEnable=true`).
    pub acl: std::sync::OnceLock<Arc<crate::acl::AclService>>,
    /// Replication state (set once at start-up when the broker opened its store).
    pub ha: std::sync::OnceLock<Arc<crate::services::ha::HaService>>,
    /// Delayed-message delivery (set once at start-up).
    pub schedule: std::sync::OnceLock<Arc<crate::services::schedule::ScheduleService>>,
    /// Transactional messages (set once at start-up).
    pub transactions: std::sync::OnceLock<Arc<crate::services::transaction::TransactionService>>,
    /// Topics.
    pub topics: Arc<TopicConfigManager>,
    /// Subscription groups.
    pub groups: Arc<SubscriptionGroupManager>,
    /// Committed consumer offsets.
    pub offsets: Arc<ConsumerOffsetManager>,
    /// Producers and consumers.
    pub clients: Arc<ClientManager>,
    /// Orderly queue locks.
    pub locks: RebalanceLockManager,
    /// Parked pulls.
    pub long_polling: Arc<LongPolling>,
    /// Counters.
    pub stats: BrokerStats,
    /// Prometheus counters (recorded only with `metricsExporterType=PROM`).
    pub metrics: Arc<crate::metrics::BrokerMetrics>,
    /// STOREHOST stamped into records: advertised IP and listening port.
    pub store_host: SocketAddr,
    /// The advertised `host:port` (brokerIP1 and the listening port).
    pub broker_addr: String,
    /// Current broker permission bits (brokerPermission; admin may change it).
    pub permission: Arc<AtomicI32>,
    /// Sends being handled; beyond `sendThreadPoolQueueCapacity` a send gets SYSTEM_BUSY.
    pub send_permits: Semaphore,
    /// Turns at the store (`sendMessageThreadPoolNums` at once, first come first served): a
    /// send that waits longer than `waitTimeMillsInSendQueue` for its turn gets SYSTEM_BUSY.
    pub send_turns: Semaphore,
    /// Sends waiting for a turn now.
    pub send_waiting: AtomicUsize,
    /// END_TRANSACTION requests being handled now (runtime info `EndTransactionQueueSize`:
    /// they are not queued behind a pool here, so this is what Java's queue length counts).
    pub end_transactions_in_flight: AtomicUsize,
    /// Groups whose NOTIFY_CONSUMER_IDS_CHANGED is scheduled and not yet sent.
    pub notify_pending: Mutex<HashSet<String>>,
    /// Where a debounced group goes when its delay has passed (the broker's notifier task).
    pub notify_tx: mpsc::UnboundedSender<String>,
    /// Fired when topics change, to re-register at once.
    pub topics_changed: Arc<Notify>,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    /// Role, broker id and epoch now: they change at run time with `epochFencingEnable`
    /// (docs/failover.md); [`crate::state::fencing`].
    pub role: Arc<crate::state::fencing::RoleState>,
    /// The advertised HA address (set once at start-up when HA runs).
    pub ha_addr: std::sync::OnceLock<String>,
}

impl BrokerContext {
    /// The config in effect now: the start-up config with the run-time keys
    /// ([`crate::state::runtime_config::RUN_TIME_KEYS`]) as UPDATE_BROKER_CONFIG last set them.
    pub fn live(&self) -> Arc<BrokerConfig> {
        self.runtime.get()
    }

    /// Tells every member of `group` that its membership changed (oneway, in the background),
    /// after `notifyConsumerIdsChangedDelayMillis`: every change of the group in that window is
    /// told by the same single notification, so a burst of joins makes each member rebalance a
    /// few times instead of once per join.
    pub fn notify_consumer_ids_changed(&self, group: &str) {
        if !self.live().notify_consumer_ids_changed_enable {
            return;
        }
        let delay = self.config.notify_consumer_ids_changed_delay_millis;
        if delay == 0 {
            self.notify_consumer_ids_changed_now(group);
            return;
        }
        if !self.notify_pending.lock().insert(group.to_string()) {
            return; // already scheduled: that notification will tell this change too
        }
        let tx = self.notify_tx.clone();
        let group = group.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let _ = tx.send(group);
        });
    }

    /// Sends NOTIFY_CONSUMER_IDS_CHANGED to every member of `group` now (a scheduled group is
    /// unscheduled first, so a change from here on schedules a new notification).
    pub fn notify_consumer_ids_changed_now(&self, group: &str) {
        self.notify_pending.lock().remove(group);
        if let Some(g) = self.groups.get(group)
            && !g.notify_consumer_ids_changed_enable
        {
            return;
        }
        let header = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: group.to_string(),
        };
        for ch in self.clients.consumer_channels(group) {
            let req =
                RemotingCommand::request(RequestCode::NOTIFY_CONSUMER_IDS_CHANGED, header.to_ext());
            let group = group.to_string();
            tokio::spawn(async move {
                if let Err(e) = ch.conn.oneway(req).await {
                    debug!(group, client = %ch.client_id, error = %e, "notify consumer ids changed failed");
                }
            });
        }
    }
}
