//! The shared client instance (Java `MQClientInstance`): one per producer or consumer by default,
//! shareable between several. It owns the connections, the route cache, the broker address table,
//! the periodic route refresh and heartbeats, and answers the brokers' calls back into the client.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use remoting::body::admin::ResetOffsetBody;
use remoting::body::client::{ConsumerData, HeartbeatData, MessageQueue, ProducerData};
use remoting::body::route::TopicRouteData;
use remoting::header::admin::{GetConsumerRunningInfoRequestHeader, ResetOffsetRequestHeader};
use remoting::header::client::{
    NotifyConsumerIdsChangedRequestHeader, UnregisterClientRequestHeader,
};
use remoting::header::namesrv::GetRouteInfoRequestHeader;
use remoting::header::transaction::CheckTransactionStateRequestHeader;
use remoting::message::UniqIdGenerator;
use remoting::{
    CommandHeader, Connection, RemotingClient, RemotingCommand, RequestCode, RequestHandler,
    ResponseCode,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::message::MessageExt;
use crate::route::PublishInfo;

/// A consumer registered with an instance: what its heartbeats say and how to wake its
/// rebalance.
pub(crate) trait ConsumerMember: Send + Sync {
    /// This consumer's part of the heartbeat; `None` once the consumer is gone.
    fn consumer_data(&self) -> Option<ConsumerData>;
    /// Topics whose routes must be kept fresh.
    fn subscribed_topics(&self) -> Vec<String>;
    /// Rebalance as soon as possible (NOTIFY_CONSUMER_IDS_CHANGED).
    fn rebalance_now(&self);
    /// The broker reset the group's offsets of `topic` (RESET_CONSUMER_CLIENT_OFFSET): drop the
    /// held queues of the topic without committing, so they restart from the new offsets.
    fn reset_offsets(&self, topic: &str, offsets: &BTreeMap<MessageQueue, i64>);
    /// The GET_CONSUMER_RUNNING_INFO body, if this consumer reports one.
    fn running_info(&self) -> Option<crate::running_info::ConsumerRunningInfo> {
        None
    }
}

/// Answers CHECK_TRANSACTION_STATE for a producer group: the broker asks what became of a half
/// message. The transactional producer (a later step) implements it and replies with
/// END_TRANSACTION to `broker_addr`.
pub trait TransactionCheckListener: Send + Sync {
    /// Called on the connection's task; hand long work off to another task.
    fn check_transaction_state(
        &self,
        broker_addr: String,
        header: CheckTransactionStateRequestHeader,
        msg: MessageExt,
    );
}

static INSTANCE_SEQ: AtomicU32 = AtomicU32::new(0);

/// The shared client instance. Cheap to clone.
#[derive(Clone)]
pub struct ClientInstance {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ClientInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInstance")
            .field("client_id", &self.inner.client_id)
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) client_id: String,
    pub(crate) client_ip: IpAddr,
    pub(crate) remoting: RemotingClient,
    namesrv: Vec<String>,
    namesrv_index: AtomicUsize,
    routes: RwLock<HashMap<String, TopicRouteData>>,
    /// The producers' queue list of each topic, built once from its cached route (a send used to
    /// clone the whole route and rebuild the list); dropped whenever that route changes.
    publish: RwLock<HashMap<String, Arc<PublishInfo>>>,
    /// Broker name → broker id → address, rebuilt from every cached route.
    brokers: RwLock<HashMap<String, BTreeMap<i64, String>>>,
    /// Broker addresses that refused or dropped our last connection (see [`crate::broker_health`]).
    health: crate::broker_health::BrokerHealth,
    /// True while a route refresh started by a broker going down runs (one at a time).
    refresh_running: AtomicBool,
    producers: RwLock<HashMap<String, Option<Arc<dyn TransactionCheckListener>>>>,
    consumers: RwLock<HashMap<String, Arc<dyn ConsumerMember>>>,
    pub(crate) uniq: UniqIdGenerator,
    started: AtomicBool,
    pub(crate) shutdown: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Requests waiting for their reply, by correlation id (request-reply).
    pub(crate) replies: crate::request_reply::ReplyWaiters,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.remoting.shutdown();
    }
}

/// Java's `MQClientInstance` picks the first non-loopback IPv4 address (`RemotingUtil.getLocalAddress`).
fn local_ip() -> IpAddr {
    if let Ok(ifs) = if_addrs::get_if_addrs() {
        for i in &ifs {
            if !i.is_loopback()
                && let IpAddr::V4(v4) = i.ip()
                && !v4.is_link_local()
            {
                return IpAddr::V4(v4);
            }
        }
    }
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

impl ClientInstance {
    /// Creates an instance (no network activity until [`start`](Self::start)).
    pub fn new(config: ClientConfig) -> Result<Self> {
        let namesrv = config.namesrv_list();
        if namesrv.is_empty() {
            return Err(ClientError::NoNameServer);
        }
        let ip = config.client_ip.unwrap_or_else(local_ip);
        let pid = std::process::id();
        let seq = INSTANCE_SEQ.fetch_add(1, Ordering::Relaxed);
        let instance = match &config.instance_name {
            Some(n) => n.clone(),
            None if seq == 0 => pid.to_string(),
            None => format!("{pid}#{}", seq + 1),
        };
        let client_id = format!("{ip}@{instance}");
        let salt =
            remoting::message::java_string_hash(&client_id) ^ (crate::filter::now_ms() as i32);
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let handler = Arc::new(Callbacks {
                inner: weak.clone(),
            });
            Inner {
                remoting: RemotingClient::with_handler(
                    remoting::ClientConfig {
                        connect_timeout: config.connect_timeout,
                        credentials: config.credentials.clone(),
                        tls: config.tls.clone(),
                        ..remoting::ClientConfig::default()
                    },
                    handler,
                ),
                client_id,
                client_ip: ip,
                namesrv,
                namesrv_index: AtomicUsize::new(seq as usize),
                routes: RwLock::new(HashMap::new()),
                publish: RwLock::new(HashMap::new()),
                brokers: RwLock::new(HashMap::new()),
                health: Default::default(),
                refresh_running: AtomicBool::new(false),
                producers: RwLock::new(HashMap::new()),
                consumers: RwLock::new(HashMap::new()),
                uniq: UniqIdGenerator::new(ip, pid, salt),
                started: AtomicBool::new(false),
                shutdown: CancellationToken::new(),
                tasks: Mutex::new(Vec::new()),
                replies: Default::default(),
                config,
            }
        });
        Ok(ClientInstance { inner })
    }

    /// A fresh unique id (the `UNIQ_KEY` generator), used as a request's correlation id.
    pub(crate) fn inner_uniq_id(&self) -> String {
        self.inner.uniq.next_id()
    }

    /// Requests of this instance's producers waiting for a reply.
    pub fn reply_waiters(&self) -> &crate::request_reply::ReplyWaiters {
        &self.inner.replies
    }

    /// The client id, `ip@instance`.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The IP in the client id and message ids.
    pub fn client_ip(&self) -> IpAddr {
        self.inner.client_ip
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The transport (for requests this crate does not wrap).
    pub fn remoting(&self) -> &RemotingClient {
        &self.inner.remoting
    }

    /// A new client message id (`UNIQ_KEY`).
    pub fn next_uniq_id(&self) -> String {
        self.inner.uniq.next_id()
    }

    /// Starts the route refresh and heartbeat loops (once; later calls do nothing).
    pub fn start(&self) -> Result<()> {
        if self.inner.shutdown.is_cancelled() {
            return Err(ClientError::State("client instance was shut down".into()));
        }
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let weak = Arc::downgrade(&self.inner);
        let token = self.inner.shutdown.clone();
        let route_every = self.inner.config.poll_name_server_interval;
        let beat_every = self.inner.config.heartbeat_broker_interval;
        let w = weak.clone();
        let t = token.clone();
        let routes = tokio::spawn(async move {
            periodic(t, route_every, move || {
                let w = w.clone();
                async move {
                    if let Some(inner) = w.upgrade() {
                        ClientInstance { inner }.update_all_routes().await;
                    }
                }
            })
            .await
        });
        let beats = tokio::spawn(async move {
            periodic(token, beat_every, move || {
                let w = weak.clone();
                async move {
                    if let Some(inner) = w.upgrade() {
                        ClientInstance { inner }.send_heartbeat_to_all().await;
                    }
                }
            })
            .await
        });
        self.inner.tasks.lock().extend([routes, beats]);
        info!(client_id = %self.inner.client_id, "client instance started");
        Ok(())
    }

    /// Unregisters every group from every broker, stops the loops and closes connections.
    pub async fn shutdown(&self) {
        if self.inner.shutdown.is_cancelled() {
            return;
        }
        let producers: Vec<String> = self.inner.producers.read().keys().cloned().collect();
        let consumers: Vec<String> = self.inner.consumers.read().keys().cloned().collect();
        for g in producers {
            self.unregister_client(Some(&g), None).await;
        }
        for g in consumers {
            self.unregister_client(None, Some(&g)).await;
        }
        self.inner.shutdown.cancel();
        let tasks: Vec<_> = self.inner.tasks.lock().drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
        self.inner.remoting.shutdown();
        info!(client_id = %self.inner.client_id, "client instance stopped");
    }

    /// True once shut down.
    pub fn is_shutdown(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    // ----- groups -------------------------------------------------------------------------

    /// Registers a producer group (it appears in heartbeats). Fails if the group is already
    /// registered on this instance.
    pub fn register_producer(
        &self,
        group: &str,
        check: Option<Arc<dyn TransactionCheckListener>>,
    ) -> Result<()> {
        let mut p = self.inner.producers.write();
        if p.contains_key(group) {
            return Err(ClientError::State(format!(
                "producer group {group} already registered on client {}",
                self.inner.client_id
            )));
        }
        p.insert(group.to_string(), check);
        Ok(())
    }

    /// Removes a producer group and tells the brokers.
    pub async fn unregister_producer(&self, group: &str) {
        if self.inner.producers.write().remove(group).is_some() {
            self.unregister_client(Some(group), None).await;
        }
    }

    pub(crate) fn register_consumer(
        &self,
        group: &str,
        member: Arc<dyn ConsumerMember>,
    ) -> Result<()> {
        let mut c = self.inner.consumers.write();
        if c.contains_key(group) {
            return Err(ClientError::State(format!(
                "consumer group {group} already registered on client {}",
                self.inner.client_id
            )));
        }
        c.insert(group.to_string(), member);
        Ok(())
    }

    pub(crate) async fn unregister_consumer(&self, group: &str) {
        if self.inner.consumers.write().remove(group).is_some() {
            self.unregister_client(None, Some(group)).await;
        }
    }

    async fn unregister_client(&self, producer: Option<&str>, consumer: Option<&str>) {
        let header = UnregisterClientRequestHeader {
            client_id: self.inner.client_id.clone(),
            producer_group: producer.map(str::to_string),
            consumer_group: consumer.map(str::to_string),
        };
        for addr in self.all_broker_addrs() {
            let req = RemotingCommand::request(RequestCode::UNREGISTER_CLIENT, header.to_ext());
            match self
                .inner
                .remoting
                .invoke(&addr, req, self.inner.config.rpc_timeout)
                .await
            {
                Ok(r) if r.code == ResponseCode::SUCCESS.0 => {
                    debug!(%addr, ?producer, ?consumer, "unregistered client")
                }
                Ok(r) => {
                    warn!(%addr, code = %r.response_code(), remark = r.remark_str(), "unregister refused")
                }
                Err(e) => debug!(%addr, error = %e, "unregister failed"),
            }
        }
    }

    // ----- name server --------------------------------------------------------------------

    /// Sends a request to a name server, moving on to the next one on transport errors.
    pub async fn invoke_namesrv(&self, request: RemotingCommand) -> Result<RemotingCommand> {
        let list = &self.inner.namesrv;
        let mut last = None;
        for _ in 0..list.len() {
            let i = self.inner.namesrv_index.load(Ordering::Relaxed) % list.len();
            let addr = &list[i];
            match self
                .inner
                .remoting
                .invoke(addr, request.clone(), self.inner.config.rpc_timeout)
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) => {
                    debug!(%addr, error = %e, "name server unreachable; trying the next");
                    self.inner.namesrv_index.fetch_add(1, Ordering::Relaxed);
                    last = Some(e);
                }
            }
        }
        Err(last
            .map(ClientError::from)
            .unwrap_or(ClientError::NoNameServer))
    }

    /// The name server addresses.
    pub fn namesrv_addrs(&self) -> &[String] {
        &self.inner.namesrv
    }

    /// Asks a name server for the route of `topic` (no caching).
    pub async fn fetch_topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_string(),
            accept_standard_json_only: Some(true),
        };
        let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, header.to_ext());
        let resp = self.invoke_namesrv(req).await?;
        match resp.response_code() {
            ResponseCode::SUCCESS => Ok(TopicRouteData::decode(&resp.body)?),
            ResponseCode::TOPIC_NOT_EXIST => Err(ClientError::NoRoute(topic.to_string())),
            code => Err(ClientError::Response {
                addr: "name server".into(),
                code,
                remark: resp.remark.unwrap_or_default(),
            }),
        }
    }

    /// Fetches the route of `topic`, caches it and refreshes the broker table.
    pub async fn update_topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        let route = self.fetch_topic_route(topic).await?;
        self.inner
            .routes
            .write()
            .insert(topic.to_string(), route.clone());
        self.inner.publish.write().remove(topic);
        self.rebuild_brokers();
        Ok(route)
    }

    /// The cached route of `topic`, fetching it when absent.
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        if let Some(r) = self.inner.routes.read().get(topic) {
            return Ok(r.clone());
        }
        self.update_topic_route(topic).await
    }

    /// Drops a topic's cached route (it is fetched again on next use).
    pub fn forget_route(&self, topic: &str) {
        self.inner.routes.write().remove(topic);
        self.inner.publish.write().remove(topic);
    }

    /// The queues a producer may write for `topic`. When the topic has no route, the template
    /// topic's brokers are used with `default_queue_nums` queues each (auto-creation, spec §9.2).
    pub(crate) async fn publish_info(
        &self,
        topic: &str,
        template_topic: &str,
        default_queue_nums: i32,
    ) -> Result<Arc<PublishInfo>> {
        if let Some(info) = self.inner.publish.read().get(topic) {
            return Ok(info.clone());
        }
        match self.topic_route(topic).await {
            Ok(route) => {
                let info = Arc::new(PublishInfo::from_route(topic, &route));
                if info.is_empty() {
                    return Err(ClientError::NoRoute(topic.to_string()));
                }
                // Only while the route it was built from is still the cached one: a refresh
                // that raced with this lookup must not be overwritten by the older list.
                let routes = self.inner.routes.read();
                if routes.get(topic).is_some_and(|r| *r == route) {
                    self.inner
                        .publish
                        .write()
                        .insert(topic.to_string(), info.clone());
                }
                Ok(info)
            }
            Err(ClientError::NoRoute(_)) => {
                let template = match self.topic_route(template_topic).await {
                    Ok(t) => t,
                    Err(ClientError::NoRoute(_)) => {
                        return Err(ClientError::NoRoute(topic.to_string()));
                    }
                    Err(e) => return Err(e),
                };
                let info = PublishInfo::from_template_route(topic, &template, default_queue_nums);
                if info.is_empty() {
                    return Err(ClientError::NoRoute(topic.to_string()));
                }
                Ok(Arc::new(info))
            }
            Err(e) => Err(e),
        }
    }

    fn rebuild_brokers(&self) {
        let routes = self.inner.routes.read();
        let mut table: HashMap<String, BTreeMap<i64, String>> = HashMap::new();
        for r in routes.values() {
            for b in &r.broker_datas {
                table
                    .entry(b.broker_name.clone())
                    .or_default()
                    .extend(b.broker_addrs.iter().map(|(k, v)| (*k, v.clone())));
            }
        }
        let listed: BTreeSet<&String> = table.values().flat_map(|m| m.values()).collect();
        self.inner.health.retain(|a| listed.contains(a));
        drop(listed);
        *self.inner.brokers.write() = table;
    }

    async fn update_all_routes(&self) {
        let mut topics: BTreeSet<String> = self.inner.routes.read().keys().cloned().collect();
        let consumers: Vec<_> = self.inner.consumers.read().values().cloned().collect();
        for c in consumers {
            topics.extend(c.subscribed_topics());
        }
        for t in topics {
            match self.update_topic_route(&t).await {
                Ok(_) => {}
                Err(ClientError::NoRoute(_)) => {
                    // The topic is gone: forget it so we stop sending to its old brokers.
                    self.forget_route(&t);
                    self.rebuild_brokers();
                }
                Err(e) => debug!(topic = %t, error = %e, "route refresh failed"),
            }
        }
    }

    /// Refreshes the routes of every topic in use now.
    pub async fn refresh_routes(&self) {
        self.update_all_routes().await
    }

    // ----- brokers ------------------------------------------------------------------------

    /// The master address of a broker group, if known.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        self.inner
            .brokers
            .read()
            .get(broker_name)
            .and_then(|m| m.get(&0).cloned())
    }

    /// The address of broker `id` of a group, else the master, else any member.
    pub fn broker_addr(&self, broker_name: &str, id: i64) -> Option<String> {
        let b = self.inner.brokers.read();
        let m = b.get(broker_name)?;
        m.get(&id)
            .or_else(|| m.get(&0))
            .or_else(|| m.values().next())
            .cloned()
    }

    /// The master address of a broker group, else any member (Java `findBrokerAddressInAdmin`).
    pub fn any_addr(&self, broker_name: &str) -> Option<String> {
        self.broker_addr(broker_name, 0)
    }

    /// Where a read of a broker group goes, with the id of the member chosen: member `id` (the
    /// broker's pull suggestion, 0 = master), else the master, else another member (lowest id
    /// first) — skipping members whose connection just failed while another one is up. So a
    /// running consumer whose master dies reads from the slave from its next pull on, without
    /// waiting for the route poll to drop the master (Java waits for the poll). With every member
    /// down the usual choice is returned, so requests keep probing.
    pub fn read_addr(&self, broker_name: &str, id: i64) -> Option<(i64, String)> {
        let b = self.inner.brokers.read();
        let m = b.get(broker_name)?;
        let ordered = m
            .get_key_value(&id)
            .into_iter()
            .chain(m.get_key_value(&0))
            .chain(m.iter());
        let mut first = None;
        for (i, a) in ordered {
            if !self.inner.health.is_down(a) {
                return Some((*i, a.clone()));
            }
            first.get_or_insert((*i, a.clone()));
        }
        first
    }

    /// True while `addr` counts as down: its last connection was refused or dropped and no
    /// request has succeeded on it since.
    pub fn is_broker_down(&self, addr: &str) -> bool {
        self.inner.health.is_down(addr)
    }

    /// Sends `request` to the broker at `addr`, noting whether it answers: a refused or dropped
    /// connection marks the address down (reads go to another member of its group, and the
    /// routes are refreshed at once), any answer marks it up again.
    pub async fn invoke_broker(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let r = self.inner.remoting.invoke(addr, request, timeout).await;
        self.note_outcome(addr, &r);
        Ok(r?)
    }

    fn note_outcome<T>(&self, addr: &str, r: &std::result::Result<T, remoting::RemotingError>) {
        match r {
            Ok(_) => {
                if self.inner.health.mark_up(addr) {
                    info!(%addr, "broker answers again; reads go back to it");
                }
            }
            Err(e) if crate::broker_health::is_connection_failure(e) => {
                if self.inner.health.mark_down(addr) {
                    warn!(%addr, error = %e, "broker unreachable; reads of its group go to another member until it answers");
                    self.refresh_routes_soon();
                }
            }
            Err(_) => {}
        }
    }

    /// Refreshes every route in the background, unless such a refresh is already running: the
    /// name servers drop a dead broker at once, so its slave (or a new master) is learnt now
    /// rather than at the next poll.
    fn refresh_routes_soon(&self) {
        if self.inner.shutdown.is_cancelled()
            || self.inner.refresh_running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.update_all_routes().await;
            this.inner.refresh_running.store(false, Ordering::Release);
        });
    }

    /// Like [`master_addr`](Self::master_addr), refreshing the route of `topic` once if unknown.
    pub async fn master_addr_refreshing(&self, broker_name: &str, topic: &str) -> Result<String> {
        if let Some(a) = self.master_addr(broker_name) {
            return Ok(a);
        }
        let _ = self.update_topic_route(topic).await;
        self.master_addr(broker_name)
            .ok_or_else(|| ClientError::NoBrokerAddr(broker_name.to_string()))
    }

    /// Every known broker address.
    pub fn all_broker_addrs(&self) -> Vec<String> {
        let b = self.inner.brokers.read();
        let mut v: Vec<String> = b.values().flat_map(|m| m.values().cloned()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The broker name whose group holds `addr`.
    pub fn broker_name_of(&self, addr: &str) -> Option<String> {
        self.inner
            .brokers
            .read()
            .iter()
            .find(|(_, m)| m.values().any(|a| a == addr))
            .map(|(n, _)| n.clone())
    }

    // ----- heartbeats ---------------------------------------------------------------------

    /// The heartbeat this client sends now.
    pub fn heartbeat_data(&self) -> HeartbeatData {
        HeartbeatData {
            client_id: self.inner.client_id.clone(),
            producer_data_set: self
                .inner
                .producers
                .read()
                .keys()
                .map(|g| ProducerData {
                    group_name: g.clone(),
                })
                .collect(),
            consumer_data_set: self
                .inner
                .consumers
                .read()
                .values()
                .filter_map(|c| c.consumer_data())
                .collect(),
            heartbeat_fingerprint: None,
            is_without_sub: None,
        }
    }

    /// Sends a heartbeat to every known broker; returns how many accepted it.
    pub async fn send_heartbeat_to_all(&self) -> usize {
        let hb = self.heartbeat_data();
        if hb.producer_data_set.is_empty() && hb.consumer_data_set.is_empty() {
            return 0;
        }
        let body = match hb.encode() {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "cannot encode heartbeat");
                return 0;
            }
        };
        let addrs = self.all_broker_addrs();
        let calls = addrs.iter().map(|addr| {
            let req = RemotingCommand::request(RequestCode::HEART_BEAT, Default::default())
                .with_body(body.clone());
            let timeout = self.inner.config.rpc_timeout;
            async move {
                match self.invoke_broker(addr, req, timeout).await {
                    Ok(r) if r.code == ResponseCode::SUCCESS.0 => true,
                    Ok(r) => {
                        warn!(%addr, code = %r.response_code(), remark = r.remark_str(), "heartbeat refused");
                        false
                    }
                    Err(e) => {
                        debug!(%addr, error = %e, "heartbeat failed");
                        false
                    }
                }
            }
        });
        futures::future::join_all(calls)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count()
    }

    /// Invokes `request` on `addr`; any code but SUCCESS becomes [`ClientError::Response`].
    pub async fn invoke_ok(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let resp = self.invoke_broker(addr, request, timeout).await?;
        expect_success(addr, resp)
    }

    /// Looks up the queue's broker master, refreshing the topic's route when unknown (sends).
    pub(crate) async fn addr_for_queue(&self, mq: &MessageQueue) -> Result<String> {
        self.master_addr_refreshing(&mq.broker_name, &mq.topic)
            .await
    }

    /// Where reads of the queue go (pulls, offset queries and commits, min/max/search offsets):
    /// the master, else a slave of the group, as Java's `findBrokerAddressInAdmin` /
    /// `findBrokerAddressInSubscribe`. While a master is down the name servers list only its
    /// slaves, and a consumer keeps reading from them (the 2m-2s modes' promise). An unknown
    /// group refreshes the topic's route once.
    pub(crate) async fn read_addr_for_queue(&self, mq: &MessageQueue) -> Result<String> {
        if let Some((_, a)) = self.read_addr(&mq.broker_name, 0) {
            return Ok(a);
        }
        let _ = self.update_topic_route(&mq.topic).await;
        self.read_addr(&mq.broker_name, 0)
            .map(|(_, a)| a)
            .ok_or_else(|| ClientError::NoBrokerAddr(mq.broker_name.clone()))
    }
}

/// Turns a non-SUCCESS response into an error naming `addr`.
pub(crate) fn expect_success(addr: &str, resp: RemotingCommand) -> Result<RemotingCommand> {
    if resp.code == ResponseCode::SUCCESS.0 {
        Ok(resp)
    } else {
        Err(ClientError::Response {
            addr: addr.to_string(),
            code: resp.response_code(),
            remark: resp.remark.unwrap_or_default(),
        })
    }
}

/// Runs `f` at once and then every `every` until `token` is cancelled.
async fn periodic<F, Fut>(token: CancellationToken, every: Duration, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = f() => {}
        }
    }
}

/// Serves the brokers' requests to this client.
struct Callbacks {
    inner: Weak<Inner>,
}

impl RequestHandler for Callbacks {
    fn handle<'a>(
        &'a self,
        conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            let Some(inner) = self.inner.upgrade() else {
                return Some(remoting::connection::not_supported(&request));
            };
            match request.request_code() {
                RequestCode::NOTIFY_CONSUMER_IDS_CHANGED => {
                    match request
                        .ext_fields
                        .decode::<NotifyConsumerIdsChangedRequestHeader>()
                    {
                        Ok(h) => {
                            let member = inner.consumers.read().get(&h.consumer_group).cloned();
                            if let Some(m) = member {
                                info!(group = %h.consumer_group, broker = %conn.peer(), "consumer ids changed; rebalancing");
                                m.rebalance_now();
                            }
                        }
                        Err(e) => debug!(error = %e, "bad NOTIFY_CONSUMER_IDS_CHANGED"),
                    }
                    Some(request.success())
                }
                RequestCode::RESET_CONSUMER_CLIENT_OFFSET => {
                    reset_offsets(&inner, &request);
                    Some(request.success())
                }
                RequestCode::GET_CONSUMER_RUNNING_INFO => Some(running_info(&inner, &request)),
                RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT => Some(
                    crate::request_reply::receive_reply(&inner.replies, conn, &request),
                ),
                RequestCode::CHECK_TRANSACTION_STATE => {
                    check_transaction(&inner, conn, &request);
                    Some(request.success())
                }
                _ => Some(remoting::connection::not_supported(&request)),
            }
        })
    }
}

fn running_info(inner: &Inner, request: &RemotingCommand) -> RemotingCommand {
    let header = match request
        .ext_fields
        .decode::<GetConsumerRunningInfoRequestHeader>()
    {
        Ok(h) => h,
        Err(e) => return request.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
    };
    let member = inner.consumers.read().get(&header.consumer_group).cloned();
    let info = member.and_then(|m| m.running_info());
    match info.map(|i| i.encode()) {
        Some(Ok(body)) => request.success().with_body(body),
        Some(Err(e)) => request.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
        None => request.response_to(
            ResponseCode::SYSTEM_ERROR,
            Some(format!(
                "The Consumer Group <{}> not exist in this consumer",
                header.consumer_group
            )),
        ),
    }
}

fn reset_offsets(inner: &Inner, request: &RemotingCommand) {
    let header = match request.ext_fields.decode::<ResetOffsetRequestHeader>() {
        Ok(h) => h,
        Err(e) => {
            debug!(error = %e, "bad RESET_CONSUMER_CLIENT_OFFSET header");
            return;
        }
    };
    let body = match ResetOffsetBody::decode(&request.body) {
        Ok(b) => b,
        Err(e) => {
            debug!(error = %e, "bad RESET_CONSUMER_CLIENT_OFFSET body");
            return;
        }
    };
    let member = inner.consumers.read().get(&header.group).cloned();
    if let Some(m) = member {
        info!(group = %header.group, topic = %header.topic, queues = body.offset_table.len(), "offsets reset by the broker");
        m.reset_offsets(&header.topic, &body.offset_table.0);
    }
}

fn check_transaction(inner: &Inner, conn: &Connection, request: &RemotingCommand) {
    let header = match request
        .ext_fields
        .decode::<CheckTransactionStateRequestHeader>()
    {
        Ok(h) => h,
        Err(e) => {
            debug!(error = %e, "bad CHECK_TRANSACTION_STATE header");
            return;
        }
    };
    let broker_addr = conn.peer().to_string();
    let broker_name = ClientInstanceRef(inner)
        .broker_name_of(&broker_addr)
        .unwrap_or_default();
    let msg = match remoting::message::decode(&request.body)
        .map_err(ClientError::from)
        .and_then(|r| MessageExt::from_record(r, &broker_name))
    {
        Ok(m) => m,
        Err(e) => {
            debug!(error = %e, "bad CHECK_TRANSACTION_STATE body");
            return;
        }
    };
    let group = msg
        .property(remoting::message::keys::PGROUP)
        .unwrap_or_default()
        .to_string();
    let listener = inner.producers.read().get(&group).cloned().flatten();
    match listener {
        Some(l) => l.check_transaction_state(broker_addr, header, msg),
        None => debug!(%group, "transaction check for a group without a check listener"),
    }
}

/// Lookups on a bare `Inner` (inside the callback, where no `ClientInstance` exists).
struct ClientInstanceRef<'a>(&'a Inner);

impl ClientInstanceRef<'_> {
    fn broker_name_of(&self, addr: &str) -> Option<String> {
        self.0
            .brokers
            .read()
            .iter()
            .find(|(_, m)| m.values().any(|a| a == addr))
            .map(|(n, _)| n.clone())
    }
}
