//! The push consumer (Java `DefaultMQPushConsumer`, clustering mode): subscriptions, average
//! rebalance every `rebalance_interval` and on NOTIFY_CONSUMER_IDS_CHANGED, one long-polling pull
//! loop per assigned queue, concurrent or orderly listeners, offset commits, retries through
//! `%RETRY%<group>`, graceful shutdown.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use remoting::ResponseCode;
use remoting::body::client::{
    ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, MessageQueue, SubscriptionData,
};
use remoting::header::pull::{PullMessageRequestHeader, PullSysFlag};
use remoting::message::keys;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::allocate::allocate_averagely;
use crate::api::PullStatus;
use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::filter::{build_subscription, now_ms, tag_matches};
use crate::instance::{ClientInstance, ConsumerMember};
use crate::listener::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, ConsumeOrderlyContext,
    ConsumeOrderlyStatus, MessageListenerConcurrently, MessageListenerOrderly,
};
use crate::message::{Message, MessageExt};
use crate::offset_store::OffsetStore;
use crate::process_queue::ProcessQueue;
use crate::producer::Producer;
use crate::route::subscribe_queues;
use crate::running_info::{ConsumerRunningInfo, ProcessQueueInfo};

/// The retry topic of a group: `%RETRY%<group>`.
pub fn retry_topic(group: &str) -> String {
    format!("%RETRY%{group}")
}

/// Push consumer settings (Java `DefaultMQPushConsumer` fields and defaults).
#[derive(Debug, Clone)]
pub struct PushConsumerConfig {
    /// Consumer group.
    pub group: String,
    /// Instance settings (name servers, intervals).
    pub client: ClientConfig,
    /// CLUSTERING (the group shares the queues, offsets on the brokers) or BROADCASTING (every
    /// member gets every message, offsets in a local file under `local_offset_store_dir`).
    pub message_model: MessageModel,
    /// Where broadcasting members keep their offsets (Java `rocketmq.client.localOffsetStoreDir`,
    /// default `~/.rocketmq_offsets`).
    pub local_offset_store_dir: std::path::PathBuf,
    /// Where a group without a committed offset starts.
    pub consume_from_where: ConsumeFromWhere,
    /// For CONSUME_FROM_TIMESTAMP: ms since the epoch (Java: half an hour ago).
    pub consume_timestamp: i64,
    /// Messages asked for per pull (Java 32).
    pub pull_batch_size: i32,
    /// Messages handed to the listener at once (Java 1).
    pub consume_message_batch_max_size: usize,
    /// Listener calls running at once (Java `consumeThreadMax` 20).
    pub consume_thread_max: usize,
    /// Pulling pauses while a queue holds more messages than this (Java 1000).
    pub pull_threshold_for_queue: usize,
    /// How long the broker may hold a pull with nothing to return (Java 15 s).
    pub broker_suspend_max_time: Duration,
    /// Pause after a failed pull (Java 3 s).
    pub pull_time_delay_when_exception: Duration,
    /// Periodic rebalance (Java 20 s).
    pub rebalance_interval: Duration,
    /// Orderly: how often broker locks are renewed (Java 20 s).
    pub lock_interval: Duration,
    /// Redeliveries before the broker moves a message to the DLQ (Java 16).
    pub max_reconsume_times: i32,
    /// Orderly: pause before retrying a suspended batch (Java 1 s).
    pub suspend_current_queue_time: Duration,
    /// Concurrent: pause before a local retry when even the retry-topic send failed (Java 5 s).
    pub local_retry_delay: Duration,
    /// Shutdown waits at most this long for running listener calls.
    pub await_termination: Duration,
    /// Send the subscription in every pull (Java `postSubscriptionWhenPull`, default false: the
    /// broker uses the one registered by heartbeat).
    pub post_subscription_when_pull: bool,
    /// Piggy-back the consumed offset on pulls (PullSysFlag COMMIT_OFFSET), as Java does; the
    /// periodic commit happens either way. A broker that stores this offset only when a held
    /// pull returns (instead of when it arrives) can roll a queue's offset back after its final
    /// commit; turning this off avoids that.
    pub commit_offset_when_pull: bool,
}

impl PushConsumerConfig {
    /// Java's defaults for `group` against these name servers.
    pub fn new(group: impl Into<String>, namesrv_addr: impl Into<String>) -> Self {
        PushConsumerConfig {
            group: group.into(),
            client: ClientConfig::new(namesrv_addr),
            message_model: MessageModel::Clustering,
            local_offset_store_dir: std::env::var_os("HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(std::env::temp_dir)
                .join(".rocketmq_offsets"),
            consume_from_where: ConsumeFromWhere::ConsumeFromLastOffset,
            consume_timestamp: now_ms() - 30 * 60 * 1000,
            pull_batch_size: 32,
            consume_message_batch_max_size: 1,
            consume_thread_max: 20,
            pull_threshold_for_queue: 1000,
            broker_suspend_max_time: Duration::from_secs(15),
            pull_time_delay_when_exception: Duration::from_secs(3),
            rebalance_interval: Duration::from_secs(20),
            lock_interval: Duration::from_secs(20),
            max_reconsume_times: 16,
            suspend_current_queue_time: Duration::from_secs(1),
            local_retry_delay: Duration::from_secs(5),
            await_termination: Duration::from_secs(10),
            post_subscription_when_pull: false,
            commit_offset_when_pull: true,
        }
    }
}

#[derive(Clone)]
enum Listener {
    Concurrently(Arc<dyn MessageListenerConcurrently>),
    Orderly(Arc<dyn MessageListenerOrderly>),
}

/// A push consumer. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct PushConsumer {
    inner: Arc<Inner>,
}

struct Inner {
    config: PushConsumerConfig,
    instance: ClientInstance,
    owns_instance: bool,
    subscriptions: RwLock<BTreeMap<String, SubscriptionData>>,
    listener: RwLock<Option<Listener>>,
    table: Mutex<HashMap<MessageQueue, Arc<ProcessQueue>>>,
    offsets: OffsetStore,
    rebalance_notify: Notify,
    rebalance_lock: tokio::sync::Mutex<()>,
    consume_permits: Arc<Semaphore>,
    token: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    started: AtomicBool,
    stopped: AtomicBool,
    started_at: i64,
    retry_producer: Producer,
}

impl std::fmt::Debug for PushConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumer")
            .field("group", &self.inner.config.group)
            .field("client_id", &self.inner.instance.client_id())
            .finish()
    }
}

struct Member(Weak<Inner>);

impl ConsumerMember for Member {
    fn consumer_data(&self) -> Option<ConsumerData> {
        self.0.upgrade().map(|i| i.consumer_data())
    }

    fn subscribed_topics(&self) -> Vec<String> {
        self.0
            .upgrade()
            .map(|i| i.subscriptions.read().keys().cloned().collect())
            .unwrap_or_default()
    }

    fn rebalance_now(&self) {
        if let Some(i) = self.0.upgrade() {
            i.rebalance_notify.notify_one();
        }
    }

    fn running_info(&self) -> Option<ConsumerRunningInfo> {
        let inner = self.0.upgrade()?;
        let mut info = ConsumerRunningInfo::default();
        let orderly = inner.is_orderly();
        for (k, v) in [
            ("PROP_CONSUME_TYPE", "CONSUME_PASSIVELY".to_string()),
            ("PROP_CONSUMEORDERLY", orderly.to_string()),
            (
                "PROP_NAMESERVER_ADDR",
                inner.instance.config().namesrv_addr.clone(),
            ),
            (
                "PROP_THREADPOOL_CORE_SIZE",
                inner.config.consume_thread_max.to_string(),
            ),
            (
                "PROP_CLIENT_VERSION",
                remoting::command::CURRENT_VERSION.to_string(),
            ),
            (
                "PROP_CONSUMER_START_TIMESTAMP",
                inner.started_at.to_string(),
            ),
            ("consumerGroup", inner.config.group.clone()),
            (
                "messageModel",
                inner.config.message_model.name().to_string(),
            ),
            (
                "consumeFromWhere",
                inner.config.consume_from_where.name().to_string(),
            ),
        ] {
            info.properties.insert(k.to_string(), v);
        }
        info.subscription_set = inner.subscriptions.read().values().cloned().collect();
        let now = now_ms();
        for (mq, pq) in inner.table.lock().iter() {
            let lock_ms = pq
                .last_lock_age()
                .map(|a| now - a.as_millis() as i64)
                .unwrap_or(0);
            info.mq_table.0.insert(
                mq.clone(),
                ProcessQueueInfo {
                    commit_offset: inner.offsets.read_local(mq).unwrap_or(-1),
                    cached_msg_min_offset: pq.min_held_offset().unwrap_or(0),
                    cached_msg_max_offset: pq.max_offset().max(0),
                    cached_msg_count: pq.count() as i32,
                    locked: pq.is_lock_valid(),
                    last_lock_timestamp: lock_ms,
                    droped: pq.is_dropped(),
                    ..Default::default()
                },
            );
        }
        Some(info)
    }

    fn reset_offsets(&self, topic: &str, offsets: &BTreeMap<MessageQueue, i64>) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        // The broker has already stored the new offsets. Drop our queues of the topic without a
        // final commit (that would undo the reset) and let the rebalance pick them up again
        // from the broker's offsets.
        let dropped: Vec<(MessageQueue, Arc<ProcessQueue>)> = {
            let mut t = inner.table.lock();
            let keys: Vec<MessageQueue> = t
                .keys()
                .filter(|mq| mq.topic == topic && (offsets.is_empty() || offsets.contains_key(*mq)))
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| t.remove(&k).map(|pq| (k, pq)))
                .collect()
        };
        for (mq, pq) in &dropped {
            pq.set_dropped();
            pq.freeze();
            inner.offsets.remove(mq);
        }
        let orderly = inner.is_orderly();
        let w = Arc::downgrade(&inner);
        tokio::spawn(async move {
            let Some(inner) = w.upgrade() else { return };
            if orderly {
                let mqs: Vec<MessageQueue> = dropped.iter().map(|(mq, _)| mq.clone()).collect();
                unlock_all(&inner, &mqs).await;
            }
            do_rebalance(&inner).await;
        });
    }
}

impl Inner {
    fn consumer_data(&self) -> ConsumerData {
        ConsumerData {
            group_name: self.config.group.clone(),
            consume_type: ConsumeType::ConsumePassively,
            message_model: self.config.message_model.clone(),
            consume_from_where: self.config.consume_from_where.clone(),
            subscription_data_set: self.subscriptions.read().values().cloned().collect(),
            unit_mode: false,
        }
    }

    fn is_orderly(&self) -> bool {
        matches!(*self.listener.read(), Some(Listener::Orderly(_)))
    }

    fn is_broadcasting(&self) -> bool {
        self.config.message_model == MessageModel::Broadcasting
    }
}

impl PushConsumer {
    /// A consumer with its own client instance.
    pub fn new(config: PushConsumerConfig) -> Result<Self> {
        let instance = ClientInstance::new(config.client.clone())?;
        Ok(Self::build(config, instance, true))
    }

    /// A consumer on a shared client instance.
    pub fn with_instance(config: PushConsumerConfig, instance: ClientInstance) -> Self {
        Self::build(config, instance, false)
    }

    fn build(config: PushConsumerConfig, instance: ClientInstance, owns_instance: bool) -> Self {
        PushConsumer {
            inner: Arc::new(Inner {
                offsets: if config.message_model == MessageModel::Broadcasting {
                    OffsetStore::new_local(
                        config.group.clone(),
                        instance.clone(),
                        &config.local_offset_store_dir,
                    )
                } else {
                    OffsetStore::new(config.group.clone(), instance.clone())
                },
                consume_permits: Arc::new(Semaphore::new(config.consume_thread_max.max(1))),
                retry_producer: Producer::inner_producer(instance.clone()),
                config,
                instance,
                owns_instance,
                subscriptions: RwLock::new(BTreeMap::new()),
                listener: RwLock::new(None),
                table: Mutex::new(HashMap::new()),
                rebalance_notify: Notify::new(),
                rebalance_lock: tokio::sync::Mutex::new(()),
                token: CancellationToken::new(),
                tasks: Mutex::new(Vec::new()),
                started: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                started_at: now_ms(),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &PushConsumerConfig {
        &self.inner.config
    }

    /// The client instance.
    pub fn instance(&self) -> &ClientInstance {
        &self.inner.instance
    }

    /// Subscribes to `topic` with a tag expression (`"*"`, `"TagA || TagB"`). Allowed before
    /// and after start; after start the new subscription is announced and a rebalance follows.
    pub fn subscribe(&self, topic: &str, expression: &str) -> Result<()> {
        let sub = build_subscription(topic, expression)?;
        self.inner
            .subscriptions
            .write()
            .insert(topic.to_string(), sub);
        if self.inner.started.load(Ordering::Acquire) {
            let this = self.clone();
            let topic = topic.to_string();
            tokio::spawn(async move {
                let _ = this.inner.instance.update_topic_route(&topic).await;
                this.inner.instance.send_heartbeat_to_all().await;
                this.inner.rebalance_notify.notify_one();
            });
        }
        Ok(())
    }

    /// Subscribes to `topic` with a SQL92 selector over message properties (Java
    /// `subscribe(topic, MessageSelector.bySql(sql))`); the broker needs
    /// `enablePropertyFilter=true` and refuses the pulls otherwise.
    pub fn subscribe_sql(&self, topic: &str, sql: &str) -> Result<()> {
        let sub = crate::filter::build_sql_subscription(topic, sql)?;
        self.inner
            .subscriptions
            .write()
            .insert(topic.to_string(), sub);
        if self.inner.started.load(Ordering::Acquire) {
            let this = self.clone();
            let topic = topic.to_string();
            tokio::spawn(async move {
                let _ = this.inner.instance.update_topic_route(&topic).await;
                this.inner.instance.send_heartbeat_to_all().await;
                this.inner.rebalance_notify.notify_one();
            });
        }
        Ok(())
    }

    /// Sets a concurrent listener (replacing any listener).
    pub fn register_listener_concurrently(&self, l: impl MessageListenerConcurrently) {
        *self.inner.listener.write() = Some(Listener::Concurrently(Arc::new(l)));
    }

    /// Sets an orderly listener (replacing any listener).
    pub fn register_listener_orderly(&self, l: impl MessageListenerOrderly) {
        *self.inner.listener.write() = Some(Listener::Orderly(Arc::new(l)));
    }

    /// The queues assigned to this member now.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        let mut v: Vec<_> = self.inner.table.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// The offset held in memory for `mq` (what the next commit will send).
    pub fn consumed_offset(&self, mq: &MessageQueue) -> Option<i64> {
        self.inner.offsets.read_local(mq)
    }

    /// Starts: registers the group, announces it to the brokers and rebalances at once.
    pub async fn start(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.config.group.is_empty() {
            return Err(ClientError::InvalidArgument(
                "consumer group is empty".into(),
            ));
        }
        if inner.listener.read().is_none() {
            return Err(ClientError::State("no message listener registered".into()));
        }
        if inner.subscriptions.read().is_empty() {
            return Err(ClientError::State("no subscription".into()));
        }
        if inner.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Every clustering consumer also takes the group's retry topic (spec §10.2); broadcasting
        // ones do not retry (Java drops their failed messages).
        let retry = retry_topic(&inner.config.group);
        if !inner.is_broadcasting() {
            inner
                .subscriptions
                .write()
                .insert(retry.clone(), build_subscription(&retry, "*")?);
        }
        inner.instance.register_consumer(
            &inner.config.group,
            Arc::new(Member(Arc::downgrade(&self.inner))),
        )?;
        inner.instance.start()?;
        let topics: Vec<String> = inner.subscriptions.read().keys().cloned().collect();
        for t in &topics {
            if let Err(e) = inner.instance.update_topic_route(t).await {
                debug!(topic = %t, error = %e, "no route yet");
            }
        }
        // Java `checkClientInBroker`: a broker that cannot evaluate a SQL92 subscription makes
        // the start fail now rather than every pull later.
        if let Err(e) = check_client_in_broker(inner).await {
            inner.started.store(false, Ordering::Release);
            inner
                .instance
                .unregister_consumer(&inner.config.group)
                .await;
            return Err(e);
        }
        inner.instance.send_heartbeat_to_all().await;
        // The retry topic is created by the heartbeat: learn its route now.
        let _ = inner.instance.update_topic_route(&retry).await;

        let mut tasks = Vec::new();
        let w = Arc::downgrade(&self.inner);
        let token = inner.token.clone();
        tasks.push(tokio::spawn(rebalance_loop(w.clone(), token.clone())));
        tasks.push(tokio::spawn(persist_loop(
            w.clone(),
            token.clone(),
            inner.instance.config().persist_consumer_offset_interval,
        )));
        if inner.is_orderly() {
            tasks.push(tokio::spawn(lock_loop(
                w,
                token,
                inner.config.lock_interval,
            )));
        }
        inner.tasks.lock().extend(tasks);
        inner.rebalance_notify.notify_one();
        info!(group = %inner.config.group, client_id = %inner.instance.client_id(), "push consumer started");
        Ok(())
    }

    /// Rebalances now and waits for it (normally it runs in the background).
    pub async fn rebalance(&self) {
        do_rebalance(&self.inner).await;
    }

    /// Stops pulling, waits for running listener calls, commits offsets, releases orderly locks
    /// and leaves the group (the other members then rebalance).
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        if !inner.started.load(Ordering::Acquire) || inner.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        inner.token.cancel();
        // Wait for the loops first (a rebalance in progress finishes), then hold the rebalance
        // lock so no other rebalance (reset, explicit call) adds queues while we drain.
        let tasks: Vec<_> = inner.tasks.lock().drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
        let _guard = inner.rebalance_lock.lock().await;
        let queues: Vec<(MessageQueue, Arc<ProcessQueue>)> = inner.table.lock().drain().collect();
        for (_, pq) in &queues {
            pq.set_dropped();
        }
        let deadline = Instant::now() + inner.config.await_termination;
        while queues.iter().any(|(_, pq)| pq.in_flight() > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mqs: Vec<MessageQueue> = queues.iter().map(|(mq, _)| mq.clone()).collect();
        inner.offsets.persist_all(&mqs).await;
        for (_, pq) in &queues {
            pq.freeze();
        }
        if inner.is_orderly() {
            unlock_all(inner, &mqs).await;
        }
        inner
            .instance
            .unregister_consumer(&inner.config.group)
            .await;
        if inner.owns_instance {
            inner.instance.shutdown().await;
        }
        info!(group = %inner.config.group, client_id = %inner.instance.client_id(), "push consumer stopped");
    }
}

async fn rebalance_loop(w: Weak<Inner>, token: CancellationToken) {
    loop {
        let Some(inner) = w.upgrade() else { return };
        let every = inner.config.rebalance_interval;
        let notified = async {
            tokio::select! {
                _ = inner.rebalance_notify.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        };
        tokio::select! {
            _ = token.cancelled() => return,
            _ = notified => {}
        }
        if token.is_cancelled() {
            return;
        }
        do_rebalance(&inner).await;
    }
}

async fn persist_loop(w: Weak<Inner>, token: CancellationToken, every: Duration) {
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let Some(inner) = w.upgrade() else { return };
        let mqs: Vec<MessageQueue> = inner.table.lock().keys().cloned().collect();
        inner.offsets.persist_all(&mqs).await;
    }
}

async fn lock_loop(w: Weak<Inner>, token: CancellationToken, every: Duration) {
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let Some(inner) = w.upgrade() else { return };
        lock_all(&inner).await;
    }
}

fn by_broker(
    mqs: impl IntoIterator<Item = MessageQueue>,
) -> BTreeMap<String, BTreeSet<MessageQueue>> {
    let mut m: BTreeMap<String, BTreeSet<MessageQueue>> = BTreeMap::new();
    for mq in mqs {
        m.entry(mq.broker_name.clone()).or_default().insert(mq);
    }
    m
}

/// Orderly: renews the locks of every held queue; queues the broker did not grant stop consuming.
async fn lock_all(inner: &Inner) {
    let table: Vec<(MessageQueue, Arc<ProcessQueue>)> = inner
        .table
        .lock()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (broker, mqs) in by_broker(table.iter().map(|(mq, _)| mq.clone())) {
        let Some(addr) = inner.instance.master_addr(&broker) else {
            continue;
        };
        match inner
            .instance
            .lock_batch_mq(&addr, &inner.config.group, mqs.clone())
            .await
        {
            Ok(locked) => {
                for (mq, pq) in table.iter().filter(|(mq, _)| mq.broker_name == broker) {
                    let ok = locked.contains(mq);
                    if !ok {
                        warn!(topic = %mq.topic, queue_id = mq.queue_id, "orderly lock lost");
                    }
                    pq.set_locked(ok);
                }
            }
            Err(e) => warn!(%broker, error = %e, "lock renewal failed"),
        }
    }
}

async fn unlock_all(inner: &Inner, mqs: &[MessageQueue]) {
    for (broker, set) in by_broker(mqs.iter().cloned()) {
        if let Some(addr) = inner.instance.master_addr(&broker)
            && let Err(e) = inner
                .instance
                .unlock_batch_mq(&addr, &inner.config.group, set)
                .await
        {
            debug!(%broker, error = %e, "unlock failed");
        }
    }
}

async fn do_rebalance(inner: &Arc<Inner>) {
    let _guard = inner.rebalance_lock.lock().await;
    if inner.token.is_cancelled() {
        return;
    }
    let subs: Vec<String> = inner.subscriptions.read().keys().cloned().collect();
    for topic in subs {
        let route = match inner.instance.topic_route(&topic).await {
            Ok(r) => r,
            Err(e) => {
                debug!(%topic, error = %e, "rebalance: no route");
                continue;
            }
        };
        let mqs = subscribe_queues(&topic, &route);
        if inner.is_broadcasting() {
            // Every member takes every queue.
            update_process_queue_table(inner, &topic, mqs).await;
            continue;
        }
        let cids = match inner
            .instance
            .consumer_id_list(&inner.config.group, &topic)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                debug!(%topic, error = %e, "rebalance: no consumer list");
                continue;
            }
        };
        if cids.is_empty() {
            continue;
        }
        let mine = allocate_averagely(inner.instance.client_id(), &mqs, &cids);
        update_process_queue_table(inner, &topic, mine).await;
    }
}

async fn update_process_queue_table(inner: &Arc<Inner>, topic: &str, mine: Vec<MessageQueue>) {
    let mine: BTreeSet<MessageQueue> = mine.into_iter().collect();
    let removed: Vec<(MessageQueue, Arc<ProcessQueue>)> = inner
        .table
        .lock()
        .iter()
        .filter(|(mq, _)| mq.topic == topic && !mine.contains(*mq))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (mq, pq) in removed {
        remove_queue(inner, &mq, &pq).await;
        inner.table.lock().remove(&mq);
        info!(group = %inner.config.group, topic = %mq.topic, broker = %mq.broker_name, queue_id = mq.queue_id, "queue released");
    }
    let orderly = inner.is_orderly();
    for mq in mine {
        if inner.table.lock().contains_key(&mq) {
            continue;
        }
        let pq = Arc::new(ProcessQueue::new());
        if orderly && !inner.is_broadcasting() {
            let Some(addr) = inner.instance.master_addr(&mq.broker_name) else {
                continue;
            };
            match inner
                .instance
                .lock_batch_mq(&addr, &inner.config.group, [mq.clone()].into())
                .await
            {
                Ok(l) if l.contains(&mq) => pq.set_locked(true),
                Ok(_) => {
                    debug!(topic = %mq.topic, queue_id = mq.queue_id, "queue still locked by another member");
                    continue;
                }
                Err(e) => {
                    warn!(topic = %mq.topic, queue_id = mq.queue_id, error = %e, "lock failed");
                    continue;
                }
            }
        }
        let offset = match compute_pull_from_where(inner, &mq).await {
            Ok(o) => o,
            Err(e) => {
                warn!(topic = %mq.topic, queue_id = mq.queue_id, error = %e, "cannot find a start offset; retrying at next rebalance");
                continue;
            }
        };
        inner.table.lock().insert(mq.clone(), pq.clone());
        info!(group = %inner.config.group, topic = %mq.topic, broker = %mq.broker_name, queue_id = mq.queue_id, offset, "queue assigned");
        let w = Arc::downgrade(inner);
        let token = inner.token.clone();
        let h = tokio::spawn(pull_loop(w, token, mq, pq, offset));
        let mut tasks = inner.tasks.lock();
        tasks.retain(|t| !t.is_finished());
        tasks.push(h);
    }
}

/// Releases a queue: stop pulling, wait for running listener calls (bounded), commit the final
/// offset, and (orderly) unlock it on the broker.
async fn remove_queue(inner: &Inner, mq: &MessageQueue, pq: &ProcessQueue) {
    pq.set_dropped();
    let deadline = Instant::now() + inner.config.await_termination;
    while pq.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Err(e) = inner.offsets.persist(mq).await {
        warn!(topic = %mq.topic, queue_id = mq.queue_id, error = %e, "final offset commit failed");
    }
    pq.freeze();
    inner.offsets.remove(mq);
    if inner.is_orderly() {
        unlock_all(inner, std::slice::from_ref(mq)).await;
    }
}

/// Where a newly assigned queue starts (Java `computePullFromWhere`, spec §10.3).
async fn compute_pull_from_where(inner: &Inner, mq: &MessageQueue) -> Result<i64> {
    if let Some(o) = inner.offsets.read_from_broker(mq).await? {
        return Ok(o);
    }
    let is_retry = mq.topic.starts_with("%RETRY%");
    match &inner.config.consume_from_where {
        ConsumeFromWhere::ConsumeFromFirstOffset | ConsumeFromWhere::ConsumeFromMinOffset => Ok(0),
        ConsumeFromWhere::ConsumeFromTimestamp if !is_retry => {
            inner
                .instance
                .search_offset(mq, inner.config.consume_timestamp)
                .await
        }
        _ if is_retry => Ok(0),
        _ => inner.instance.max_offset(mq).await,
    }
}

async fn pull_loop(
    w: Weak<Inner>,
    token: CancellationToken,
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
    mut next: i64,
) {
    let mut broker_id = 0i64;
    // The member the last messages came from, and since when another member has been saying
    // our position lies beyond its end (see the OffsetIllegal arm).
    let mut last_found_at: Option<String> = None;
    let mut behind_since: Option<Instant> = None;
    loop {
        if token.is_cancelled() || pq.is_dropped() {
            return;
        }
        let Some(inner) = w.upgrade() else { return };
        if pq.count() > inner.config.pull_threshold_for_queue {
            drop(inner);
            sleep_or_cancel(&token, Duration::from_millis(50)).await;
            continue;
        }
        let orderly = inner.is_orderly();
        if orderly && !pq.is_lock_valid() {
            drop(inner);
            sleep_or_cancel(&token, Duration::from_millis(200)).await;
            continue;
        }
        let Some(sub) = inner.subscriptions.read().get(&mq.topic).cloned() else {
            return;
        };
        let delay_on_error = inner.config.pull_time_delay_when_exception;
        // The member the broker suggested, else the master, else a slave; a member whose
        // connection just failed is skipped (see `broker_health`).
        let (addr_id, addr) = match inner.instance.read_addr(&mq.broker_name, broker_id) {
            Some(a) => a,
            None => {
                let _ = inner.instance.update_topic_route(&mq.topic).await;
                drop(inner);
                sleep_or_cancel(&token, delay_on_error).await;
                continue;
            }
        };
        let commit = inner
            .offsets
            .read_local(&mq)
            .filter(|o| *o > 0 && inner.config.commit_offset_when_pull && !inner.is_broadcasting());
        let post_sub = inner.config.post_subscription_when_pull;
        let header = PullMessageRequestHeader {
            consumer_group: inner.config.group.clone(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            queue_offset: next,
            max_msg_nums: inner.config.pull_batch_size,
            // Only a master stores the piggy-backed offset; commits reach a slave through the
            // periodic UPDATE_CONSUMER_OFFSET.
            sys_flag: PullSysFlag::build(commit.is_some() && addr_id == 0, true, post_sub, false).0,
            commit_offset: commit.unwrap_or(0),
            suspend_timeout_millis: inner.config.broker_suspend_max_time.as_millis() as i64,
            subscription: post_sub.then(|| sub.sub_string.clone()),
            sub_version: sub.sub_version,
            expression_type: Some(sub.expression_type.clone()),
            max_msg_bytes: None,
            bname: Some(mq.broker_name.clone()),
        };
        let timeout = inner.config.broker_suspend_max_time + Duration::from_secs(10);
        let instance = inner.instance.clone();
        drop(inner);
        let result = tokio::select! {
            _ = token.cancelled() => return,
            r = instance.pull_message(&addr, &mq.broker_name, &header, timeout) => r,
        };
        let Some(inner) = w.upgrade() else { return };
        match result {
            Ok(r) => {
                broker_id = r.suggest_which_broker_id;
                match r.status {
                    PullStatus::Found => {
                        last_found_at = Some(addr.clone());
                        behind_since = None;
                        next = r.next_begin_offset;
                        let group = inner.config.group.clone();
                        let msgs: Vec<MessageExt> = r
                            .msgs
                            .into_iter()
                            .filter(|m| tag_matches(&sub, m.tags()))
                            .map(|m| restore_retry_topic(m, &group))
                            .collect();
                        if msgs.is_empty() {
                            correct_tags_offset(&inner, &mq, &pq, next);
                            continue;
                        }
                        let fresh = pq.put(msgs);
                        if pq.is_dropped() {
                            return;
                        }
                        if !fresh.is_empty() {
                            submit(&inner, &mq, &pq, fresh);
                        }
                    }
                    PullStatus::NoNewMsg | PullStatus::NoMatchedMsg => {
                        next = r.next_begin_offset;
                        correct_tags_offset(&inner, &mq, &pq, next);
                    }
                    PullStatus::OffsetIllegal
                        if r.next_begin_offset < next
                            && last_found_at.as_ref().is_some_and(|a| *a != addr)
                            && behind_since.get_or_insert_with(Instant::now).elapsed()
                                < inner.config.broker_suspend_max_time =>
                    {
                        // A member other than the one our position came from says it ends
                        // before it: it lags behind that member (a master back from an outage
                        // whose queues are still being built while its slave served us). Going
                        // back would consume the difference again once it catches up, so wait
                        // for it; only if it still says so after `broker_suspend_max_time`
                        // (it lost those messages) is its correction taken.
                        debug!(topic = %mq.topic, queue_id = mq.queue_id, broker = %addr, offset = next, its_end = r.next_begin_offset, "member behind the one read before; waiting for it");
                        drop(inner);
                        sleep_or_cancel(&token, delay_on_error).await;
                        continue;
                    }
                    PullStatus::OffsetIllegal => {
                        behind_since = None;
                        warn!(topic = %mq.topic, queue_id = mq.queue_id, broker = %addr, offset = next, next = r.next_begin_offset, "pull offset illegal; moving on");
                        next = r.next_begin_offset;
                        inner.offsets.update(&mq, next, false);
                        let _ = inner.offsets.persist(&mq).await;
                    }
                }
            }
            Err(e) => {
                match e.response_code() {
                    Some(ResponseCode::SUBSCRIPTION_NOT_EXIST)
                    | Some(ResponseCode::SUBSCRIPTION_NOT_LATEST)
                    | Some(ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST) => {
                        debug!(topic = %mq.topic, error = %e, "broker lacks our subscription; heartbeating");
                        inner.instance.send_heartbeat_to_all().await;
                    }
                    _ => {
                        warn!(topic = %mq.topic, queue_id = mq.queue_id, error = %e, "pull failed")
                    }
                }
                broker_id = 0;
                drop(inner);
                sleep_or_cancel(&token, delay_on_error).await;
            }
        }
    }
}

async fn sleep_or_cancel(token: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = token.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

/// With nothing held, the queue's progress is the pull position (filtered-out messages are
/// "consumed" too), so the commit point follows it (Java `correctTagsOffset`).
fn correct_tags_offset(inner: &Inner, mq: &MessageQueue, pq: &ProcessQueue, next: i64) {
    if pq.count() == 0 && !pq.is_frozen() {
        inner.offsets.update(mq, next, true);
    }
}

/// A message from `%RETRY%<group>` is shown with its original topic (Java `resetRetryAndNamespace`).
fn restore_retry_topic(mut m: MessageExt, group: &str) -> MessageExt {
    if m.topic == retry_topic(group)
        && let Some(t) = m.property(keys::RETRY_TOPIC)
    {
        m.topic = t.to_string();
    }
    m
}

fn submit(inner: &Arc<Inner>, mq: &MessageQueue, pq: &Arc<ProcessQueue>, msgs: Vec<MessageExt>) {
    let listener = inner.listener.read().clone();
    match listener {
        Some(Listener::Concurrently(l)) => {
            let size = inner.config.consume_message_batch_max_size.max(1);
            for chunk in msgs.chunks(size) {
                tokio::spawn(consume_concurrently(
                    Arc::downgrade(inner),
                    l.clone(),
                    mq.clone(),
                    pq.clone(),
                    chunk.to_vec(),
                ));
            }
        }
        Some(Listener::Orderly(l)) => {
            tokio::spawn(consume_orderly(
                Arc::downgrade(inner),
                l,
                mq.clone(),
                pq.clone(),
            ));
        }
        None => {}
    }
}

async fn consume_concurrently(
    w: Weak<Inner>,
    listener: Arc<dyn MessageListenerConcurrently>,
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
    msgs: Vec<MessageExt>,
) {
    let Some(inner) = w.upgrade() else { return };
    let Ok(_permit) = inner.consume_permits.clone().acquire_owned().await else {
        return;
    };
    // Count ourselves in before looking at `dropped`: a remover sets `dropped` and then waits for
    // the count to reach zero, so either it waits for us or we see the flag.
    pq.begin_consume();
    if pq.is_dropped() {
        pq.end_consume();
        return;
    }
    let mut ctx = ConsumeConcurrentlyContext {
        message_queue: mq.clone(),
        delay_level_when_next_consume: 0,
    };
    let call_msgs = msgs.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let status = listener.consume_message(&call_msgs, &mut ctx);
        (status, ctx)
    })
    .await;
    let (status, ctx) = match outcome {
        Ok(v) => v,
        Err(e) => {
            warn!(topic = %mq.topic, error = %e, "listener panicked; treating as RECONSUME_LATER");
            (
                ConsumeConcurrentlyStatus::ReconsumeLater,
                ConsumeConcurrentlyContext {
                    message_queue: mq.clone(),
                    delay_level_when_next_consume: 0,
                },
            )
        }
    };
    let mut done: Vec<i64> = Vec::with_capacity(msgs.len());
    let mut local_retry = Vec::new();
    match status {
        ConsumeConcurrentlyStatus::ConsumeSuccess => {
            done.extend(msgs.iter().map(|m| m.queue_offset));
        }
        ConsumeConcurrentlyStatus::ReconsumeLater => {
            for m in &msgs {
                if send_back(&inner, m, ctx.delay_level_when_next_consume).await {
                    done.push(m.queue_offset);
                } else {
                    local_retry.push(m.clone());
                }
            }
        }
    }
    if let Some(offset) = pq.remove(&done)
        && !pq.is_frozen()
    {
        inner.offsets.update(&mq, offset, true);
    }
    pq.end_consume();
    if !local_retry.is_empty() && !pq.is_dropped() {
        let delay = inner.config.local_retry_delay;
        let w = w.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(inner) = w.upgrade() else { return };
            if !pq.is_dropped() {
                submit(&inner, &mq, &pq, local_retry);
            }
        });
    }
}

/// CONSUMER_SEND_MSG_BACK, falling back to sending the message to `%RETRY%<group>` ourselves.
/// False when both failed (the caller retries locally).
async fn send_back(inner: &Inner, m: &MessageExt, delay_level: i32) -> bool {
    if inner.is_broadcasting() {
        // Java: "BROADCASTING, the message consume failed, drop it".
        warn!(msg_id = %m.msg_id, "broadcasting: the message consume failed, drop it");
        return true;
    }
    let group = &inner.config.group;
    let max = inner.config.max_reconsume_times;
    match inner
        .instance
        .send_message_back(m, group, delay_level, max)
        .await
    {
        Ok(()) => return true,
        Err(e) => {
            warn!(msg_id = %m.msg_id, error = %e, "send back failed; re-sending to the retry topic")
        }
    }
    let mut retry = Message::new(retry_topic(group), m.body.clone()).with_flag(m.flag);
    retry.properties = m.properties.clone();
    if retry.property(keys::RETRY_TOPIC).is_none() {
        retry.properties.insert(keys::RETRY_TOPIC, m.topic.clone());
    }
    if retry.property(keys::ORIGIN_MESSAGE_ID).is_none() {
        retry
            .properties
            .insert(keys::ORIGIN_MESSAGE_ID, m.msg_id.clone());
    }
    retry
        .properties
        .insert(keys::RECONSUME_TIME, (m.reconsume_times + 1).to_string());
    retry
        .properties
        .insert(keys::MAX_RECONSUME_TIMES, max.to_string());
    retry.properties.remove(keys::TRAN_MSG);
    retry
        .properties
        .insert(keys::DELAY, (3 + m.reconsume_times).to_string());
    // The retry topic is created by our heartbeat on every broker, but the name server may not
    // list it yet; then the template route would offer queues it does not have. Queue 0 of the
    // message's own broker always exists.
    let routed = inner
        .instance
        .topic_route(&retry_topic(group))
        .await
        .is_ok();
    let sent = if routed {
        inner.retry_producer.send(retry).await
    } else {
        let mq = MessageQueue::new(retry_topic(group), m.broker_name.clone(), 0);
        inner.retry_producer.send_to_queue(retry, &mq).await
    };
    match sent {
        Ok(_) => true,
        Err(e) => {
            warn!(msg_id = %m.msg_id, error = %e, "retry-topic send failed; retrying locally");
            false
        }
    }
}

async fn consume_orderly(
    w: Weak<Inner>,
    listener: Arc<dyn MessageListenerOrderly>,
    mq: MessageQueue,
    pq: Arc<ProcessQueue>,
) {
    // One batch at a time per queue: later submissions wait here and find the queue drained.
    let _one_at_a_time = pq.consume_lock.lock().await;
    loop {
        let Some(inner) = w.upgrade() else { return };
        if pq.is_dropped() || inner.token.is_cancelled() {
            return;
        }
        if !pq.is_lock_valid() {
            let token = inner.token.clone();
            drop(inner);
            sleep_or_cancel(&token, Duration::from_millis(200)).await;
            continue;
        }
        let Ok(_permit) = inner.consume_permits.clone().acquire_owned().await else {
            return;
        };
        pq.begin_consume();
        if pq.is_dropped() {
            pq.end_consume();
            return;
        }
        let msgs = pq.take(inner.config.consume_message_batch_max_size.max(1));
        if msgs.is_empty() {
            pq.end_consume();
            return;
        }
        let mut ctx = ConsumeOrderlyContext {
            message_queue: mq.clone(),
            suspend_current_queue_time: inner.config.suspend_current_queue_time,
        };
        let l = listener.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let status = l.consume_message(&msgs, &mut ctx);
            (status, ctx.suspend_current_queue_time)
        })
        .await;
        let (status, pause) = outcome.unwrap_or_else(|e| {
            warn!(topic = %mq.topic, error = %e, "orderly listener panicked; suspending the queue");
            (
                ConsumeOrderlyStatus::SuspendCurrentQueueAMoment,
                inner.config.suspend_current_queue_time,
            )
        });
        match status {
            ConsumeOrderlyStatus::Success => {
                if let Some(offset) = pq.commit()
                    && !pq.is_frozen()
                {
                    inner.offsets.update(&mq, offset, false);
                }
                pq.end_consume();
            }
            ConsumeOrderlyStatus::SuspendCurrentQueueAMoment => {
                pq.make_available_again();
                pq.end_consume();
                let token = inner.token.clone();
                drop(inner);
                sleep_or_cancel(&token, pause).await;
            }
        }
    }
}

/// CHECK_CLIENT_CONFIG for every non-TAG subscription, at one broker of its topic (Java
/// `MQClientInstance.checkClientInBroker`): the broker's refusal (e.g. `enablePropertyFilter`
/// off, or an expression it cannot parse) is returned as the error.
async fn check_client_in_broker(inner: &Inner) -> Result<()> {
    let subs: Vec<SubscriptionData> = inner
        .subscriptions
        .read()
        .values()
        .filter(|s| !s.is_tag_type())
        .cloned()
        .collect();
    for sub in subs {
        let Ok(route) = inner.instance.topic_route(&sub.topic).await else {
            continue;
        };
        let Some(addr) = route
            .broker_datas
            .iter()
            .find_map(|b| {
                b.broker_addrs
                    .get(&0)
                    .or_else(|| b.broker_addrs.values().next())
            })
            .cloned()
        else {
            continue;
        };
        let body = remoting::body::client::CheckClientRequestBody {
            client_id: inner.instance.client_id().to_string(),
            group: inner.config.group.clone(),
            subscription_data: sub,
        }
        .encode()
        .map_err(ClientError::Remoting)?;
        let req = remoting::RemotingCommand::request(
            remoting::RequestCode::CHECK_CLIENT_CONFIG,
            Default::default(),
        )
        .with_body(body);
        inner
            .instance
            .invoke_ok(&addr, req, inner.instance.config().rpc_timeout)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use remoting::message::MessageRecord;

    #[test]
    fn retry_topic_is_restored() {
        let rec = MessageRecord {
            topic: "%RETRY%G".into(),
            properties: [(keys::RETRY_TOPIC, "Orders")].into_iter().collect(),
            ..Default::default()
        };
        let m = MessageExt::from_record(rec, "b").unwrap();
        assert_eq!(restore_retry_topic(m.clone(), "G").topic, "Orders");
        assert_eq!(restore_retry_topic(m, "H").topic, "%RETRY%G");
    }

    #[test]
    fn start_needs_listener_and_subscription() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let c = PushConsumer::new(PushConsumerConfig::new("G", "127.0.0.1:1")).unwrap();
            assert!(matches!(c.start().await, Err(ClientError::State(_))));
            c.register_listener_concurrently(
                |_: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
                    ConsumeConcurrentlyStatus::ConsumeSuccess
                },
            );
            assert!(matches!(c.start().await, Err(ClientError::State(_))));
            c.subscribe("T", "A || B").unwrap();
            assert!(c.subscribe("", "*").is_err());
        });
    }
}
