//! The producer (Java `DefaultMQProducer`): sync, async (a future or a callback), oneway, batch and
//! ordered sends; retries on another broker for retryable failures; message ids; compression.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use remoting::body::client::MessageQueue;
use remoting::header::send::{SendMessageRequestHeader, SendMessageResponseHeader, into_send_ext};
use remoting::message::{BatchItem, encode_batch, keys, sysflag};
use remoting::{RemotingCommand, RemotingError, RequestCode, ResponseCode};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::auto_batch::{self, Joined, LaneKey, Lanes};
use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::filter::now_ms;
use crate::instance::ClientInstance;
use crate::message::{Message, MessageExt, SendResult, SendStatus, deflate};
use crate::route::PublishInfo;
use crate::selector::{MessageQueueSelector, SelectByHash};

/// The template topic for auto-creation (`TBW102`).
pub const DEFAULT_TOPIC: &str = "TBW102";
/// The producer group consumers use to re-send failed messages themselves.
pub const CLIENT_INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";
/// The longest topic name.
pub const MAX_TOPIC_LEN: usize = 127;

/// Producer settings (Java `DefaultMQProducer` fields and defaults).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Producer group.
    pub group: String,
    /// Instance settings (name servers, intervals).
    pub client: ClientConfig,
    /// Total time a send may take, retries included (Java 3 s).
    pub send_timeout: Duration,
    /// Extra attempts on another broker after a retryable failure (Java 2).
    pub retry_times_when_send_failed: u32,
    /// Also retry when the broker stored the message but not durably enough (FLUSH_*_TIMEOUT,
    /// SLAVE_NOT_AVAILABLE); Java default false.
    pub retry_another_broker_when_not_store_ok: bool,
    /// Bodies of at least this many bytes are zlib-compressed (Java 4 KiB).
    pub compress_msg_body_over: usize,
    /// Largest body accepted (Java 4 MiB).
    pub max_message_size: usize,
    /// Queues of a topic the broker auto-creates from the template (Java 4).
    pub default_topic_queue_nums: i32,
    /// The template topic for auto-creation (Java `TBW102`).
    pub create_topic_key: String,
    /// Sync sends of one topic that wait at the same time go out as one batch, each caller
    /// still getting its own result (Java 5 `autoBatch`; default false). No send waits on a
    /// timer for a batch to fill: a send leaves at once while its topic has fewer than
    /// `auto_batch_in_flight` requests in flight, else it joins the batch that leaves when one
    /// of them is answered. Delayed, retry-topic, transactional, request/reply and
    /// compressible messages are always sent alone.
    pub auto_batch: bool,
    /// The largest auto-batch: bodies and properties, in bytes (Java 5 `batchMaxBytes`,
    /// 32 KiB). A larger message is sent alone.
    pub auto_batch_max_bytes: usize,
    /// Requests of one topic in flight at once before further sends queue for the next batch
    /// (4: enough to keep a broker busy while the answers travel, few enough that batches
    /// form under load).
    pub auto_batch_in_flight: usize,
}

impl ProducerConfig {
    /// Java's defaults for `group` against these name servers.
    pub fn new(group: impl Into<String>, namesrv_addr: impl Into<String>) -> Self {
        ProducerConfig {
            group: group.into(),
            client: ClientConfig::new(namesrv_addr),
            send_timeout: Duration::from_secs(3),
            retry_times_when_send_failed: 2,
            retry_another_broker_when_not_store_ok: false,
            compress_msg_body_over: 4 * 1024,
            max_message_size: 4 * 1024 * 1024,
            default_topic_queue_nums: 4,
            create_topic_key: DEFAULT_TOPIC.to_string(),
            auto_batch: false,
            auto_batch_max_bytes: 32 * 1024,
            auto_batch_in_flight: 4,
        }
    }
}

/// A producer. Cheap to clone; clones share the instance and state.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProducerConfig,
    instance: ClientInstance,
    owns_instance: bool,
    started: AtomicBool,
    stopped: AtomicBool,
    /// Registered in heartbeats (false for the consumers' inner producer).
    registered: bool,
    next_queue: AtomicUsize,
    /// Topics whose first route fetch already triggered a heartbeat.
    announced: parking_lot::Mutex<HashSet<String>>,
    /// Sends queued for auto-batching.
    lanes: Lanes,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("group", &self.inner.config.group)
            .field("client_id", &self.inner.instance.client_id())
            .finish()
    }
}

/// A message made ready for the wire.
struct Prepared {
    topic: String,
    body: Bytes,
    flag: i32,
    sys_flag: i32,
    properties: String,
    msg_id: String,
    batch: bool,
    reconsume_times: Option<i32>,
    max_reconsume_times: Option<i32>,
}

impl Producer {
    /// A producer with its own client instance.
    pub fn new(config: ProducerConfig) -> Result<Self> {
        let instance = ClientInstance::new(config.client.clone())?;
        Ok(Self::build(config, instance, true, true))
    }

    /// A producer on a shared client instance.
    pub fn with_instance(config: ProducerConfig, instance: ClientInstance) -> Self {
        Self::build(config, instance, false, true)
    }

    /// The consumers' inner producer: not registered in heartbeats, usable at once.
    pub(crate) fn inner_producer(instance: ClientInstance) -> Self {
        let client = instance.config().clone();
        let mut config = ProducerConfig::new(CLIENT_INNER_PRODUCER_GROUP, "");
        config.client = client;
        let p = Self::build(config, instance, false, false);
        p.inner.started.store(true, Ordering::Release);
        p
    }

    fn build(
        config: ProducerConfig,
        instance: ClientInstance,
        owns_instance: bool,
        registered: bool,
    ) -> Self {
        let seed = (now_ms() as usize) ^ (std::process::id() as usize);
        Producer {
            inner: Arc::new(Inner {
                config,
                instance,
                owns_instance,
                started: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                registered,
                next_queue: AtomicUsize::new(seed),
                announced: parking_lot::Mutex::new(HashSet::new()),
                lanes: Lanes::default(),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// The client instance.
    pub fn instance(&self) -> &ClientInstance {
        &self.inner.instance
    }

    /// Registers the group and starts the instance.
    pub async fn start(&self) -> Result<()> {
        if self.inner.config.group.is_empty() {
            return Err(ClientError::InvalidArgument(
                "producer group is empty".into(),
            ));
        }
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if self.inner.registered {
            self.inner
                .instance
                .register_producer(&self.inner.config.group, None)?;
        }
        self.inner.instance.start()?;
        self.inner.instance.send_heartbeat_to_all().await;
        Ok(())
    }

    /// Unregisters the group from the brokers; shuts the instance down when it is our own.
    pub async fn shutdown(&self) {
        if !self.inner.started.load(Ordering::Acquire)
            || self.inner.stopped.swap(true, Ordering::AcqRel)
        {
            return;
        }
        if self.inner.registered {
            self.inner
                .instance
                .unregister_producer(&self.inner.config.group)
                .await;
        }
        if self.inner.owns_instance {
            self.inner.instance.shutdown().await;
        }
    }

    fn check_running(&self) -> Result<()> {
        if !self.inner.started.load(Ordering::Acquire) {
            return Err(ClientError::State("producer not started".into()));
        }
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(ClientError::State("producer shut down".into()));
        }
        Ok(())
    }

    /// The writable queues of `topic` (Java `fetchPublishMessageQueues`).
    pub async fn fetch_publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        Ok(self.publish_info(topic).await?.queues.clone())
    }

    async fn publish_info(&self, topic: &str) -> Result<Arc<PublishInfo>> {
        let c = &self.inner.config;
        let info = self
            .inner
            .instance
            .publish_info(topic, &c.create_topic_key, c.default_topic_queue_nums)
            .await?;
        // The first time we learn a topic's brokers, tell them about us (Java heartbeats from
        // `updateTopicRouteInfoFromNameServer` when the broker table changes).
        if self.inner.registered && self.first_time_seen(topic) {
            let instance = self.inner.instance.clone();
            tokio::spawn(async move {
                instance.send_heartbeat_to_all().await;
            });
        }
        Ok(info)
    }

    /// True the first time `topic` is asked about (it is recorded then); no copy of the name
    /// for topics already known, which is every send after the first.
    fn first_time_seen(&self, topic: &str) -> bool {
        let mut announced = self.inner.announced.lock();
        !announced.contains(topic) && announced.insert(topic.to_string())
    }

    // ----- sending --------------------------------------------------------------------------

    /// Sends and waits for the broker's answer, retrying on another broker for retryable
    /// failures (up to `retry_times_when_send_failed` more attempts within `send_timeout`).
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        let timeout = self.inner.config.send_timeout;
        self.send_with_timeout(msg, timeout).await
    }

    /// [`send`](Self::send) with its own total timeout.
    pub async fn send_with_timeout(&self, msg: Message, timeout: Duration) -> Result<SendResult> {
        self.check_running()?;
        if self.inner.config.auto_batch && auto_batch::eligible(&msg, &self.inner.config) {
            return self.send_in_lane(msg, timeout).await;
        }
        let prepared = self.prepare(msg)?;
        self.send_with_retries(prepared, timeout).await
    }

    /// An auto-batched send: validated here, so that a bad message fails alone, then queued
    /// in its lane; the caller that finds the lane with room sends its batches.
    async fn send_in_lane(&self, mut msg: Message, timeout: Duration) -> Result<SendResult> {
        self.check_message(&msg)?;
        let msg_id = self.ensure_uniq_key(&mut msg);
        let c = &self.inner.config;
        let rx = match self
            .inner
            .lanes
            .join(msg, msg_id, timeout, c.auto_batch_in_flight)
        {
            Joined::Wait(rx) => rx,
            Joined::Run(key, rx) => {
                // Its own task: the batch answers other callers too, and must not end with
                // this caller's future if it is dropped.
                let this = self.clone();
                tokio::spawn(async move { this.run_lane(key).await });
                rx
            }
        };
        rx.await.unwrap_or_else(|_| {
            Err(ClientError::State(
                "the auto-batch task ended without answering this send".into(),
            ))
        })
    }

    /// Sends `key`'s batches until its lane is empty.
    async fn run_lane(&self, key: LaneKey) {
        let max_bytes = self.inner.config.auto_batch_max_bytes;
        while let Some(taken) = self.inner.lanes.take(&key, max_bytes) {
            let now = Instant::now();
            let mut batch = Vec::with_capacity(taken.len());
            for q in taken {
                if q.deadline <= now {
                    q.expire(&key);
                } else {
                    batch.push(q);
                }
            }
            let Some(deadline) = batch.iter().map(|q| q.deadline).min() else {
                continue;
            };
            let timeout = deadline.saturating_duration_since(now);
            let (msgs, waiters): (Vec<_>, Vec<_>) = batch.into_iter().map(|q| q.split()).unzip();
            // One message goes as a plain send: cheaper for the broker, the same result.
            let prepared = match <[Message; 1]>::try_from(msgs) {
                Ok([one]) => self.prepare(one),
                Err(msgs) => self.prepare_batch(msgs),
            };
            let r = match prepared {
                Ok(p) => self.send_with_retries(p, timeout).await,
                Err(e) => Err(e),
            };
            auto_batch::answer(waiters, r);
        }
    }

    /// Sends `msg` as a request and waits for its reply, at most `timeout` in all (Java
    /// `DefaultMQProducer.request`). The replier builds its answer with
    /// [`create_reply_message`](crate::request_reply::create_reply_message); the broker pushes it
    /// to this client. Times out with [`ClientError::RequestTimeout`].
    pub async fn request(&self, msg: Message, timeout: Duration) -> Result<MessageExt> {
        self.check_running()?;
        let instance = &self.inner.instance;
        let correlation_id = instance.inner_uniq_id();
        let msg = msg
            .with_property(keys::CORRELATION_ID, correlation_id.clone())
            .with_property(keys::REPLY_TO_CLIENT, instance.client_id().to_string())
            .with_property(keys::TTL, timeout.as_millis().to_string());
        let waiters = instance.reply_waiters();
        let rx = waiters.register(&correlation_id);
        let started = Instant::now();
        if let Err(e) = self.send_with_timeout(msg, timeout).await {
            waiters.forget(&correlation_id);
            return Err(e);
        }
        let left = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => {
                waiters.forget(&correlation_id);
                Err(ClientError::RequestTimeout {
                    correlation_id,
                    millis: timeout.as_millis() as u64,
                })
            }
        }
    }

    /// Sends in the background and calls `callback` with the outcome (Java's
    /// `send(msg, SendCallback)`); `.await` the handle to wait for the callback to have run.
    pub fn send_async<F>(&self, msg: Message, callback: F) -> JoinHandle<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        let this = self.clone();
        tokio::spawn(async move {
            let r = this.send(msg).await;
            callback(r);
        })
    }

    /// Sends once without waiting for an answer (no retry, no result).
    pub async fn send_oneway(&self, msg: Message) -> Result<()> {
        self.check_running()?;
        let prepared = self.prepare(msg)?;
        let info = self.publish_info(&prepared.topic).await?;
        let mq = self.select_queue(&prepared.topic, &info, None)?;
        self.send_kernel(mq, &prepared, self.inner.config.send_timeout, true)
            .await
            .map(|_| ())
    }

    /// Sends to the queue `selector` picks for `arg` (ordered messages: the same `arg` always
    /// reaches the same queue). No retry on another broker, since that would break the order.
    pub async fn send_with_selector(
        &self,
        msg: Message,
        selector: &dyn MessageQueueSelector,
        arg: &str,
    ) -> Result<SendResult> {
        self.check_running()?;
        let prepared = self.prepare(msg.clone())?;
        let info = self.publish_info(&prepared.topic).await?;
        let mq = selector.select(&info.queues, &msg, arg).ok_or_else(|| {
            ClientError::InvalidArgument(format!("selector chose no queue of {}", prepared.topic))
        })?;
        let r = self
            .send_kernel(&mq, &prepared, self.inner.config.send_timeout, false)
            .await?;
        r.ok_or_else(|| ClientError::State("no result for a two-way send".into()))
    }

    /// Ordered send by sharding key with [`SelectByHash`].
    pub async fn send_orderly(&self, msg: Message, sharding_key: &str) -> Result<SendResult> {
        self.send_with_selector(msg, &SelectByHash, sharding_key)
            .await
    }

    /// Sends to one given queue (no retry).
    pub async fn send_to_queue(&self, msg: Message, mq: &MessageQueue) -> Result<SendResult> {
        self.check_running()?;
        if msg.topic != mq.topic {
            return Err(ClientError::InvalidArgument(format!(
                "message topic {} differs from the queue's {}",
                msg.topic, mq.topic
            )));
        }
        let prepared = self.prepare(msg)?;
        let r = self
            .send_kernel(mq, &prepared, self.inner.config.send_timeout, false)
            .await?;
        r.ok_or_else(|| ClientError::State("no result for a two-way send".into()))
    }

    /// Sends several messages of one topic in one request (SEND_BATCH_MESSAGE). Delay levels
    /// and retry topics are not allowed in a batch. `msg_id` of the result joins the messages'
    /// ids with `,`.
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult> {
        self.check_running()?;
        let prepared = self.prepare_batch(msgs)?;
        let timeout = self.inner.config.send_timeout;
        self.send_with_retries(prepared, timeout).await
    }

    /// Java `Validators.checkMessage`: the topic, the body's presence and size.
    fn check_message(&self, msg: &Message) -> Result<()> {
        check_topic(&msg.topic)?;
        if msg.topic == self.inner.config.create_topic_key {
            return Err(ClientError::InvalidMessage(format!(
                "the topic {} conflicts with the auto-create template topic",
                msg.topic
            )));
        }
        if msg.body.is_empty() {
            return Err(ClientError::InvalidMessage("message body is empty".into()));
        }
        if msg.body.len() > self.inner.config.max_message_size {
            return Err(ClientError::InvalidMessage(format!(
                "message body of {} bytes exceeds the maximum of {}",
                msg.body.len(),
                self.inner.config.max_message_size
            )));
        }
        Ok(())
    }

    /// The message's `UNIQ_KEY` (its client message id), set first when it has none.
    fn ensure_uniq_key(&self, msg: &mut Message) -> String {
        match msg.uniq_key() {
            Some(id) => id.to_string(),
            None => {
                let id = self.inner.instance.next_uniq_id();
                msg.properties.insert(keys::UNIQ_KEY, id.clone());
                id
            }
        }
    }

    /// Validates and encodes one message (Java `Validators.checkMessage` + `sendKernelImpl`).
    fn prepare(&self, mut msg: Message) -> Result<Prepared> {
        self.check_message(&msg)?;
        let msg_id = self.ensure_uniq_key(&mut msg);
        let mut sys_flag = 0;
        let mut body = msg.body.clone();
        if body.len() >= self.inner.config.compress_msg_body_over {
            body = Bytes::from(deflate(&body)?);
            sys_flag |= sysflag::COMPRESSED_FLAG;
        }
        let (reconsume_times, max_reconsume_times) = if msg.topic.starts_with("%RETRY%") {
            (
                msg.property(keys::RECONSUME_TIME)
                    .and_then(|v| v.parse().ok()),
                msg.property(keys::MAX_RECONSUME_TIMES)
                    .and_then(|v| v.parse().ok()),
            )
        } else {
            (None, None)
        };
        let properties = msg.properties.encode()?;
        Ok(Prepared {
            topic: msg.topic,
            body,
            flag: msg.flag,
            sys_flag,
            properties,
            msg_id,
            batch: false,
            reconsume_times,
            max_reconsume_times,
        })
    }

    fn prepare_batch(&self, msgs: Vec<Message>) -> Result<Prepared> {
        let Some(first) = msgs.first() else {
            return Err(ClientError::InvalidMessage("empty batch".into()));
        };
        let topic = first.topic.clone();
        check_topic(&topic)?;
        let wait = first.property(keys::WAIT).map(str::to_string);
        let mut items = Vec::with_capacity(msgs.len());
        let mut ids = Vec::with_capacity(msgs.len());
        for mut m in msgs {
            if m.topic != topic {
                return Err(ClientError::InvalidMessage(
                    "every message of a batch must have the same topic".into(),
                ));
            }
            if m.delay_level() > 0 {
                return Err(ClientError::InvalidMessage(
                    "delayed messages cannot be batched".into(),
                ));
            }
            if m.topic.starts_with("%RETRY%") {
                return Err(ClientError::InvalidMessage(
                    "retry-topic messages cannot be batched".into(),
                ));
            }
            if m.body.is_empty() {
                return Err(ClientError::InvalidMessage("message body is empty".into()));
            }
            ids.push(self.ensure_uniq_key(&mut m));
            items.push(BatchItem {
                flag: m.flag,
                body: m.body,
                properties: m.properties,
            });
        }
        let body = encode_batch(&items)?;
        if body.len() > self.inner.config.max_message_size {
            return Err(ClientError::InvalidMessage(format!(
                "batch of {} bytes exceeds the maximum of {}",
                body.len(),
                self.inner.config.max_message_size
            )));
        }
        let mut props = remoting::message::Properties::new();
        if let Some(w) = wait {
            props.insert(keys::WAIT, w);
        }
        Ok(Prepared {
            topic,
            body: Bytes::from(body),
            flag: 0,
            sys_flag: 0,
            properties: props.encode()?,
            msg_id: ids.join(","),
            batch: true,
            reconsume_times: None,
            max_reconsume_times: None,
        })
    }

    /// Round robin over the queues, avoiding `avoid_broker` when another broker has queues.
    fn select_queue<'a>(
        &self,
        topic: &str,
        info: &'a PublishInfo,
        avoid_broker: Option<&str>,
    ) -> Result<&'a MessageQueue> {
        let n = info.queues.len();
        if n == 0 {
            return Err(ClientError::NoRoute(topic.to_string()));
        }
        let start = self.inner.next_queue.fetch_add(1, Ordering::Relaxed);
        if let Some(avoid) = avoid_broker {
            for i in 0..n {
                let q = &info.queues[(start + i) % n];
                if q.broker_name != avoid {
                    return Ok(q);
                }
            }
        }
        Ok(&info.queues[start % n])
    }

    async fn send_with_retries(&self, prepared: Prepared, timeout: Duration) -> Result<SendResult> {
        let begin = Instant::now();
        let mut info = self.publish_info(&prepared.topic).await?;
        let attempts = 1 + self.inner.config.retry_times_when_send_failed;
        let mut last_broker: Option<String> = None;
        let mut last_err: Option<ClientError> = None;
        let mut made = 0;
        for _ in 0..attempts {
            let left = timeout.saturating_sub(begin.elapsed());
            if left.is_zero() {
                break;
            }
            let mq = self.select_queue(&prepared.topic, &info, last_broker.as_deref())?;
            made += 1;
            match self.send_kernel(mq, &prepared, left, false).await {
                Ok(Some(r)) => {
                    if r.status != SendStatus::SendOk
                        && self.inner.config.retry_another_broker_when_not_store_ok
                    {
                        debug!(broker = %mq.broker_name, status = ?r.status, "stored but not durably; retrying elsewhere");
                        last_broker = Some(mq.broker_name.clone());
                        last_err = None;
                        continue;
                    }
                    return Ok(r);
                }
                Ok(None) => {
                    return Err(ClientError::State("no result for a two-way send".into()));
                }
                Err(e) if is_retryable(&e) => {
                    warn!(topic = %prepared.topic, broker = %mq.broker_name, error = %e, "send failed; retrying on another broker");
                    // Nothing listens there any more: learn the current route before the retry.
                    // The cached one may be from a moment when another master was restarting
                    // and so list only the broker that just failed.
                    last_broker = Some(mq.broker_name.clone());
                    if matches!(&e, ClientError::Remoting(r) if crate::broker_health::is_connection_failure(r))
                    {
                        let _ = self
                            .inner
                            .instance
                            .update_topic_route(&prepared.topic)
                            .await;
                        if let Ok(fresh) = self.publish_info(&prepared.topic).await {
                            info = fresh;
                        }
                    }
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::SendFailed {
            topic: prepared.topic.clone(),
            attempts: made,
            last: Box::new(last_err.unwrap_or_else(|| {
                ClientError::Remoting(RemotingError::Timeout {
                    addr: "send".into(),
                    millis: timeout.as_millis() as u64,
                })
            })),
        })
    }

    async fn send_kernel(
        &self,
        mq: &MessageQueue,
        p: &Prepared,
        timeout: Duration,
        oneway: bool,
    ) -> Result<Option<SendResult>> {
        let instance = &self.inner.instance;
        let mut addr = instance.addr_for_queue(mq).await?;
        if instance.config().vip_channel_enabled {
            addr = vip_channel_addr(&addr);
        }
        let header = SendMessageRequestHeader {
            producer_group: self.inner.config.group.as_str().into(),
            topic: p.topic.as_str().into(),
            default_topic: self.inner.config.create_topic_key.as_str().into(),
            default_topic_queue_nums: self.inner.config.default_topic_queue_nums,
            queue_id: mq.queue_id,
            sys_flag: p.sys_flag,
            born_timestamp: now_ms(),
            flag: p.flag,
            properties: (!p.properties.is_empty()).then(|| p.properties.clone()),
            reconsume_times: Some(p.reconsume_times.unwrap_or(0)),
            unit_mode: Some(false),
            batch: Some(p.batch),
            max_reconsume_times: p.max_reconsume_times,
            bname: Some(mq.broker_name.as_str().into()),
        };
        let code = if p.batch {
            RequestCode::SEND_BATCH_MESSAGE
        } else if crate::request_reply::is_reply_properties(&p.properties) {
            // A reply (MessageUtil.createReplyMessage): the broker pushes it to the requester.
            RequestCode::SEND_REPLY_MESSAGE_V2
        } else {
            RequestCode::SEND_MESSAGE_V2
        };
        let req =
            RemotingCommand::request(code, into_send_ext(code, header)).with_body(p.body.clone());
        let remoting = instance.remoting();
        if oneway {
            remoting.invoke_oneway(&addr, req).await?;
            return Ok(None);
        }
        // Through the instance, so that a vanished broker (refused or timed-out connect) is
        // noted and the routes refreshed before the retry picks a broker.
        let resp = instance.invoke_broker(&addr, req, timeout).await?;
        let status = match resp.response_code() {
            ResponseCode::SUCCESS => SendStatus::SendOk,
            ResponseCode::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
            ResponseCode::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
            ResponseCode::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
            code => {
                return Err(ClientError::Response {
                    addr,
                    code,
                    remark: resp.remark.unwrap_or_default(),
                });
            }
        };
        let h: SendMessageResponseHeader = crate::api::decode_header(&addr, &resp)?;
        Ok(Some(SendResult {
            status,
            msg_id: p.msg_id.clone(),
            offset_msg_id: h.msg_id,
            message_queue: MessageQueue::new(mq.topic.clone(), mq.broker_name.clone(), h.queue_id),
            queue_offset: h.queue_offset,
            transaction_id: h.transaction_id,
            region_id: h.msg_region.map(Into::into),
        }))
    }
}

/// The VIP channel address of a broker address (Java `MixAll.brokerVIPChannel`): the port minus
/// two; an address that does not parse is returned unchanged.
pub fn vip_channel_addr(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) if p >= 2 => format!("{host}:{}", p - 2),
            _ => addr.to_string(),
        },
        None => addr.to_string(),
    }
}

/// Java `Validators.checkTopic`: non-empty, at most 127 characters of `[%|a-zA-Z0-9_-]`.
pub fn check_topic(topic: &str) -> Result<()> {
    if topic.is_empty() {
        return Err(ClientError::InvalidMessage("topic is empty".into()));
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(ClientError::InvalidMessage(format!(
            "topic is longer than {MAX_TOPIC_LEN} characters"
        )));
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
    {
        return Err(ClientError::InvalidMessage(format!(
            "topic {topic:?} contains characters outside [%|a-zA-Z0-9_-]"
        )));
    }
    Ok(())
}

/// The failures after which Java producers try another broker (spec §2.2; SYSTEM_BUSY as 5.x),
/// plus every transport failure.
pub fn is_retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Remoting(_) | ClientError::NoBrokerAddr(_) => true,
        ClientError::Response { code, .. } => matches!(
            *code,
            ResponseCode::TOPIC_NOT_EXIST
                | ResponseCode::SERVICE_NOT_AVAILABLE
                | ResponseCode::SYSTEM_ERROR
                | ResponseCode::NO_PERMISSION
                | ResponseCode::NO_BUYER_ID
                | ResponseCode::NOT_IN_CURRENT_UNIT
                | ResponseCode::SYSTEM_BUSY
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use remoting::message::decode_batch;

    fn producer() -> Producer {
        let mut c = ProducerConfig::new("PG", "127.0.0.1:1");
        c.compress_msg_body_over = 100;
        c.max_message_size = 10_000;
        Producer::new(c).unwrap()
    }

    #[test]
    fn topic_validation() {
        assert!(check_topic("Topic_A-1%x|y").is_ok());
        assert!(check_topic("").is_err());
        assert!(check_topic("a/b").is_err());
        assert!(check_topic("../x").is_err());
        assert!(check_topic(&"a".repeat(128)).is_err());
    }

    #[test]
    fn retryable_codes() {
        let resp = |code| ClientError::Response {
            addr: "a".into(),
            code,
            remark: String::new(),
        };
        assert!(is_retryable(&resp(ResponseCode::SYSTEM_ERROR)));
        assert!(is_retryable(&resp(ResponseCode::TOPIC_NOT_EXIST)));
        assert!(is_retryable(&resp(ResponseCode::SERVICE_NOT_AVAILABLE)));
        assert!(!is_retryable(&resp(ResponseCode::MESSAGE_ILLEGAL)));
        assert!(is_retryable(&ClientError::Remoting(
            RemotingError::ConnectionClosed("x".into())
        )));
        assert!(!is_retryable(&ClientError::InvalidMessage("x".into())));
    }

    #[test]
    fn prepare_assigns_ids_and_compresses() {
        let p = producer();
        let small = p.prepare(Message::new("T", "hi").with_tags("A")).unwrap();
        assert_eq!(small.sys_flag & sysflag::COMPRESSED_FLAG, 0);
        assert_eq!(small.msg_id.len(), 32);
        assert!(small.properties.contains("UNIQ_KEY\u{1}"));
        let big = p.prepare(Message::new("T", vec![b'a'; 5_000])).unwrap();
        assert_eq!(big.sys_flag & sysflag::COMPRESSED_FLAG, 1);
        assert!(big.body.len() < 5_000);
        assert_ne!(small.msg_id, big.msg_id);
        assert!(p.prepare(Message::new("T", vec![0u8; 10_001])).is_err());
        assert!(p.prepare(Message::new("T", "")).is_err());
        assert!(p.prepare(Message::new("TBW102", "x")).is_err());
        // A given id is kept.
        let own = p
            .prepare(Message::new("T", "x").with_property(keys::UNIQ_KEY, "MINE"))
            .unwrap();
        assert_eq!(own.msg_id, "MINE");
    }

    #[test]
    fn batch_encoding() {
        let p = producer();
        let msgs: Vec<Message> = (0..3)
            .map(|i| Message::new("T", format!("m{i}")).with_key(format!("k{i}")))
            .collect();
        let b = p.prepare_batch(msgs).unwrap();
        assert!(b.batch);
        let items = decode_batch(&b.body).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(&items[1].body[..], b"m1");
        assert_eq!(items[2].properties.get(keys::KEYS), Some("k2"));
        let ids: Vec<&str> = b.msg_id.split(',').collect();
        assert_eq!(ids.len(), 3);
        for (it, id) in items.iter().zip(&ids) {
            assert_eq!(it.properties.get(keys::UNIQ_KEY), Some(*id));
        }
        assert!(p.prepare_batch(vec![]).is_err());
        assert!(
            p.prepare_batch(vec![Message::new("T", "a"), Message::new("U", "b")])
                .is_err()
        );
        assert!(
            p.prepare_batch(vec![Message::new("T", "a").with_delay_level(2)])
                .is_err()
        );
    }

    #[test]
    fn select_queue_avoids_the_failed_broker() {
        let p = producer();
        let info = PublishInfo {
            queues: vec![
                MessageQueue::new("T", "a", 0),
                MessageQueue::new("T", "a", 1),
                MessageQueue::new("T", "b", 0),
            ],
            order_topic: false,
        };
        for _ in 0..10 {
            assert_eq!(
                p.select_queue("T", &info, Some("a")).unwrap().broker_name,
                "b"
            );
        }
        let mut seen = HashSet::new();
        for _ in 0..3 {
            seen.insert(p.select_queue("T", &info, None).unwrap());
        }
        assert_eq!(seen.len(), 3, "round robin covers every queue");
    }
}
