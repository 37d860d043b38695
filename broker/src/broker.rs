//! Start-up and shutdown: [`Broker::start`] wires the store, the managers, the remoting server,
//! registration and the periodic tasks; [`BrokerHandle`] stops them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicI32;
use std::time::Duration;

use remoting::{ServerConfig, serve};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::BrokerConfig;
use crate::context::BrokerContext;
use crate::error::{BrokerError, Result};
use crate::local_ip;
use crate::processor::BrokerProcessor;
use crate::services::registration::Registrar;
use crate::services::{ha, schedule, slave_sync, transaction};
use crate::state::client_manager::ClientManager;
use crate::state::consumer_offset::ConsumerOffsetManager;
use crate::state::long_polling::LongPolling;
use crate::state::rebalance_lock::RebalanceLockManager;
use crate::state::stats::BrokerStats;
use crate::state::subscription_group::SubscriptionGroupManager;
use crate::state::topic_config::TopicConfigManager;
use crate::store_api::MessageStoreApi;

/// Starts brokers.
pub struct Broker;

/// A running broker.
pub struct BrokerHandle {
    local_addr: SocketAddr,
    fast_local_addr: Option<SocketAddr>,
    ctx: Arc<BrokerContext>,
    registrar: Option<Arc<Registrar>>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// The address to advertise: brokerIP1 verbatim when set, else the interface routing to the
/// first reachable name server (spec §9.1, seed FAQ 5.3).
async fn advertised_host(config: &BrokerConfig, registrar_addrs: &[SocketAddr]) -> Result<String> {
    if let Some(ip) = config.broker_ip1.as_deref().filter(|s| !s.is_empty()) {
        return Ok(ip.to_string());
    }
    let addrs = registrar_addrs.to_vec();
    let picked = tokio::task::spawn_blocking(move || local_ip::pick_advertised_ip(&addrs))
        .await
        .ok()
        .flatten();
    match picked {
        Some(ip) => Ok(ip.to_string()),
        None => Err(BrokerError::NoAdvertisedAddress(
            "no non-loopback, non-bridge interface address found".into(),
        )),
    }
}

/// An IP for STOREHOST: the advertised host if it is an IP or resolves to one.
async fn store_ip(host: &str, fallback: IpAddr) -> IpAddr {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip;
    }
    match tokio::net::lookup_host((host, 0)).await {
        Ok(mut it) => it.next().map(|a| a.ip()).unwrap_or(fallback),
        Err(_) => fallback,
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The plain ACL of `config` when `aclEnable=true` (an unreadable or invalid file is an error).
fn load_acl(config: &BrokerConfig) -> Result<Option<Arc<crate::acl::AclService>>> {
    // The HA secret is checked here too: an unreadable one must stop the start, not every
    // replication connection later.
    crate::services::ha::auth::secret(config).map_err(|reason| BrokerError::Malformed {
        path: config.ha_auth_secret_file.clone().unwrap_or_default(),
        reason,
    })?;
    // TLS settings are checked before anything opens, too.
    remoting::tls::TlsServer::from_properties(&config.tls_properties())?;
    remoting::tls::TlsClient::from_properties(&config.tls_properties())?;
    if !config.acl_enable {
        return Ok(None);
    }
    Ok(Some(crate::acl::AclService::load(crate::acl::file_path(
        config,
    ))?))
}

impl Broker {
    /// Opens (and recovers) the store under `storePathRootDir`, then
    /// [`start_with_store`](Self::start_with_store).
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle> {
        config.validate()?;
        // A broken or missing ACL file stops the start before the store is opened.
        let acl = load_acl(&config)?;
        let store = crate::store_adapter::StoreAdapter::open(&config).await?;
        let raw = store.inner().clone();
        Self::start_inner(config, Arc::new(store), Some(raw), acl).await
    }

    /// Starts a broker over `store` with `config`. Listens on `bindAddress:listenPort` (port 0
    /// picks a free one), registers with the name servers of `namesrvAddr` (none: a warning and
    /// no registration, for tests), and serves until [`BrokerHandle::shutdown`].
    pub async fn start_with_store(
        config: BrokerConfig,
        store: Arc<dyn MessageStoreApi>,
    ) -> Result<BrokerHandle> {
        let acl = load_acl(&config)?;
        Self::start_inner(config, store, None, acl).await
    }

    async fn start_inner(
        config: BrokerConfig,
        store: Arc<dyn MessageStoreApi>,
        message_store: Option<Arc<store::MessageStore>>,
        acl: Option<Arc<crate::acl::AclService>>,
    ) -> Result<BrokerHandle> {
        config.validate()?;
        let config = Arc::new(config);
        let endpoints = config.namesrv_endpoints();
        let bind = format!("{}:{}", config.bind_address, config.listen_port);
        let listener = TcpListener::bind(&bind)
            .await
            .map_err(|source| BrokerError::Bind {
                addr: bind.clone(),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| BrokerError::Bind {
            addr: bind.clone(),
            source,
        })?;

        let fast_listener = crate::vip::bind(&config).await?;
        let fast_local_addr = fast_listener.as_ref().and_then(|l| l.local_addr().ok());
        let metrics_listener = crate::metrics::bind(&config).await?;

        // Resolve the name servers once now to choose the advertised address.
        let mut ns_addrs = Vec::new();
        for ep in &endpoints {
            if let Ok(it) = tokio::net::lookup_host((ep.host.as_str(), ep.port)).await {
                ns_addrs.extend(it);
            }
        }
        if endpoints.is_empty() {
            warn!("no namesrvAddr: the broker will not register with any name server");
            ns_addrs.push(SocketAddr::from(([127, 0, 0, 1], 9876)));
        }
        let host = advertised_host(&config, &ns_addrs).await?;
        let broker_addr = host_port(&host, local_addr.port());
        let ha_host = config.broker_ip2.clone().unwrap_or_else(|| host.clone());
        let ha_listener = match &message_store {
            Some(_) => Some(crate::services::ha::bind(&config).await?),
            None => None,
        };
        let ha_port = ha_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or(config.ha_listen_port(), |a| a.port());
        let ha_addr = host_port(&ha_host, ha_port);
        let store_host = SocketAddr::new(store_ip(&host, local_addr.ip()).await, local_addr.port());

        let config_dir = PathBuf::from(&config.store_path_root_dir).join("config");
        let topics_changed = Arc::new(Notify::new());
        let topics = Arc::new(TopicConfigManager::load(
            config.clone(),
            config_dir.join("topics.json"),
            topics_changed.clone(),
        )?);
        let groups = Arc::new(SubscriptionGroupManager::load(
            config_dir.join("subscriptionGroup.json"),
            config.auto_create_subscription_group,
        )?);
        let offsets = {
            let store = store.clone();
            Arc::new(ConsumerOffsetManager::load(
                config_dir.join("consumerOffset.json"),
                move |t, q| store.max_offset(t, q),
            )?)
        };
        let shutdown = CancellationToken::new();
        let permission = Arc::new(AtomicI32::new(config.broker_permission));
        // The epoch file beside the commit log (only with fencing on and a store opened here).
        let epochs = match (&message_store, config.epoch_fencing_enable) {
            (Some(_), true) => {
                let root = PathBuf::from(&config.store_path_root_dir);
                let f =
                    store::epoch::EpochFile::open(&root).map_err(|e| BrokerError::Malformed {
                        path: root.join(store::epoch::FILE_NAME).display().to_string(),
                        reason: e.to_string(),
                    })?;
                Some(Arc::new(f))
            }
            _ => None,
        };
        let role = Arc::new(crate::state::fencing::RoleState::new(&config, epochs));
        let (notify_tx, mut notify_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let ctx = Arc::new(BrokerContext {
            runtime: Arc::new(crate::state::runtime_config::RuntimeConfig::new(&config)),
            config: config.clone(),
            store: store.clone(),
            message_store,
            acl: Default::default(),
            ha: Default::default(),
            schedule: Default::default(),
            transactions: Default::default(),
            topics: topics.clone(),
            groups,
            offsets,
            clients: Arc::new(ClientManager::default()),
            locks: RebalanceLockManager::default(),
            long_polling: Arc::new(LongPolling::new(
                config.pull_thread_pool_queue_capacity as usize,
                config.max_held_pulls_per_connection as usize,
            )),
            stats: BrokerStats::default(),
            metrics: Arc::new(crate::metrics::BrokerMetrics::new(
                config.metrics_exporter_type == crate::config::MetricsExporterType::Prom,
            )),
            store_host,
            broker_addr: broker_addr.clone(),
            permission: permission.clone(),
            send_permits: Semaphore::new(config.send_thread_pool_queue_capacity.max(1) as usize),
            send_turns: Semaphore::new(config.send_message_thread_pool_nums.max(1) as usize),
            send_waiting: Default::default(),
            end_transactions_in_flight: Default::default(),
            notify_pending: Default::default(),
            notify_tx,
            topics_changed: topics_changed.clone(),
            shutdown: shutdown.clone(),
            role: role.clone(),
            ha_addr: Default::default(),
        });
        let _ = ctx.ha_addr.set(ha_addr.clone());
        if let Some(acl) = acl {
            acl.spawn_watcher(shutdown.clone());
            let _ = ctx.acl.set(acl);
        }
        {
            let weak = Arc::downgrade(&ctx);
            store.on_arrival(Arc::new(move |topic: &str, queue_id: i32, _max: i64| {
                if let Some(ctx) = weak.upgrade() {
                    ctx.long_polling.wake(topic, queue_id);
                }
            }));
        }

        let mut tasks = Vec::new();
        // Delivery services first, so END_TRANSACTION never finds them missing.
        let (schedule, task) = schedule::start(
            schedule::Handle {
                config: config.clone(),
                store: store.clone(),
                store_host,
                long_polling: ctx.long_polling.clone(),
                stats: ctx.stats.detail.clone(),
                role: role.clone(),
            },
            &shutdown,
        )?;
        let _ = ctx.schedule.set(schedule);
        tasks.push(task);
        let (transactions, task) = transaction::start(
            transaction::Handle {
                config: config.clone(),
                runtime: ctx.runtime.clone(),
                store: store.clone(),
                store_host,
                clients: ctx.clients.clone(),
                role: role.clone(),
            },
            &shutdown,
        )?;
        let _ = ctx.transactions.set(transactions);
        tasks.push(task);
        // Debounced NOTIFY_CONSUMER_IDS_CHANGED (see BrokerContext::notify_consumer_ids_changed).
        {
            let weak = Arc::downgrade(&ctx);
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let group = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        g = notify_rx.recv() => match g { Some(g) => g, None => break },
                    };
                    match weak.upgrade() {
                        Some(ctx) => ctx.notify_consumer_ids_changed_now(&group),
                        None => break,
                    }
                }
            }));
        }
        let server_config = ServerConfig {
            max_connections: config.server_max_connections.max(1) as usize,
            frame_budget: usize::try_from(config.server_frame_budget_bytes).unwrap_or(usize::MAX),
            connection: remoting::ConnectionConfig {
                idle_timeout: Duration::from_secs(
                    config.server_channel_max_idle_time_seconds.max(1),
                ),
                max_header_fields: config.server_max_header_fields.max(1) as usize,
                write_high_water: config.write_buffer_high_water_mark.max(1) as usize,
                ..remoting::ConnectionConfig::server()
            },
            tls: Some(remoting::tls::TlsServer::from_properties(
                &config.tls_properties(),
            )?),
        };
        let processor = Arc::new(BrokerProcessor::new(ctx.clone()));
        if let Some(l) = fast_listener {
            // The VIP channel serves the same requests (Java registers its processors on both).
            tasks.push(tokio::spawn(serve(
                l,
                processor.clone(),
                server_config.clone(),
                shutdown.clone(),
            )));
        }
        tasks.push(tokio::spawn(serve(
            listener,
            processor,
            server_config,
            shutdown.clone(),
        )));

        let registrar = if endpoints.is_empty() {
            None
        } else {
            let r = Arc::new(Registrar::new(
                config.clone(),
                endpoints,
                broker_addr.clone(),
                ha_addr,
                topics.clone(),
                permission.clone(),
            ));
            r.set_role(role.clone());
            tasks.push(tokio::spawn(
                r.clone().run(topics_changed, shutdown.clone()),
            ));
            Some(r)
        };
        if let (Some(l), Some(store)) = (ha_listener, ctx.message_store.clone()) {
            let r = registrar.clone();
            let lookup_role = role.clone();
            let master: ha::MasterLookup = Arc::new(move || {
                // A controller's re-point wins over what the name servers said.
                if let Some(m) = lookup_role.master_override() {
                    return (Some(m.addr), Some(m.ha_addr));
                }
                match &r {
                    Some(r) => {
                        let m = r.master_info();
                        (m.master_addr, m.ha_server_addr)
                    }
                    None => (None, None),
                }
            });
            let sync = slave_sync::Handle {
                config: config.clone(),
                broker_addr: broker_addr.clone(),
                credentials: ctx.acl.get().and_then(|a| a.admin_credentials()),
                topics: topics.clone(),
                groups: ctx.groups.clone(),
                offsets: ctx.offsets.clone(),
                role: role.clone(),
            };
            let (ha, ha_tasks) = ha::start(store, sync, &role, l, master, shutdown.clone());
            let _ = ctx.ha.set(ha);
            tasks.extend(ha_tasks);
        }
        tasks.push(tokio::spawn(periodic(ctx.clone(), shutdown.clone())));
        let sources = crate::metrics::Sources {
            config: config.clone(),
            metrics: ctx.metrics.clone(),
            store: store.clone(),
            message_store: ctx.message_store.clone(),
            schedule: ctx.schedule.get().cloned(),
            ha: ctx.ha.get().cloned(),
            offsets: ctx.offsets.clone(),
            long_polling: ctx.long_polling.clone(),
            clients: ctx.clients.clone(),
            topics: topics.clone(),
            permission: permission.clone(),
            role: ctx.role.clone(),
        };
        tasks.extend(crate::metrics::start(sources, metrics_listener, &shutdown));
        info!(
            broker = %config.broker_name,
            cluster = %config.broker_cluster_name,
            id = config.broker_id,
            role = %config.broker_role,
            listen = %local_addr,
            advertised = %broker_addr,
            "broker started"
        );
        Ok(BrokerHandle {
            local_addr,
            fast_local_addr,
            ctx,
            registrar,
            shutdown,
            tasks,
        })
    }
}

/// Offset flushes, statistics samples, client expiry and long-poll sweeps.
async fn periodic(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let flush_every = Duration::from_millis(ctx.config.flush_consumer_offset_interval.max(100));
    let mut flush = tokio::time::interval(flush_every);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut ten = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = flush.tick() => {
                if let Err(e) = ctx.offsets.flush() {
                    warn!(error = %e, "consumer offset flush failed");
                }
            }
            _ = second.tick() => ctx.stats.sample(),
            _ = ten.tick() => {
                for g in ctx.clients.scan_expired() {
                    info!(group = %g, "consumer expired");
                    ctx.notify_consumer_ids_changed(&g);
                }
                ctx.long_polling.sweep();
            }
        }
    }
}

impl BrokerHandle {
    /// The socket address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The socket address of the VIP channel (listenPort − 2), when it is served.
    pub fn fast_local_addr(&self) -> Option<SocketAddr> {
        self.fast_local_addr
    }

    /// The advertised `host:port` registered with the name servers.
    pub fn broker_addr(&self) -> &str {
        &self.ctx.broker_addr
    }

    /// The effective configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.ctx.config
    }

    /// The broker's state (for tests and in-process tools).
    pub fn context(&self) -> &Arc<BrokerContext> {
        &self.ctx
    }

    /// Registers with every name server now; returns how many accepted.
    pub async fn register_now(&self) -> usize {
        match &self.registrar {
            Some(r) => r.register_all().await,
            None => 0,
        }
    }

    /// Stops serving, unregisters, flushes offsets and closes the store.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(r) = &self.registrar {
            r.unregister_all().await;
        }
        if let Err(e) = self.ctx.offsets.flush() {
            warn!(error = %e, "final consumer offset flush failed");
        }
        self.ctx.store.shutdown();
        info!(broker = %self.ctx.config.broker_name, "broker stopped");
    }
}
