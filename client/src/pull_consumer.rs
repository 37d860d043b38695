//! The pull consumer (Java `DefaultMQPullConsumer`): the caller chooses queues and offsets,
//! pulls, and commits offsets itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;
use remoting::body::client::{
    ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, MessageQueue, SubscriptionData,
};
use remoting::header::pull::{PullMessageRequestHeader, PullSysFlag};

use crate::api::PullResult;
use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::filter::{build_subscription, tag_matches};
use crate::instance::{ClientInstance, ConsumerMember};
use crate::route::subscribe_queues;

/// A pull consumer.
#[derive(Clone)]
pub struct PullConsumer {
    inner: Arc<Inner>,
}

struct Inner {
    group: String,
    instance: ClientInstance,
    owns_instance: bool,
    /// Topics announced in heartbeats (`*` subscriptions, as Java's `registerTopics`), each
    /// built once so its version stays the same from heartbeat to heartbeat.
    topics: RwLock<BTreeMap<String, SubscriptionData>>,
    started: AtomicBool,
    stopped: AtomicBool,
    /// Hold time of [`PullConsumer::pull_block_if_not_found`] (Java 20 s).
    broker_suspend_max_time: Duration,
}

impl std::fmt::Debug for PullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullConsumer")
            .field("group", &self.inner.group)
            .finish()
    }
}

struct Member(Weak<Inner>);

impl ConsumerMember for Member {
    fn consumer_data(&self) -> Option<ConsumerData> {
        let i = self.0.upgrade()?;
        let subs = i.topics.read().values().cloned().collect();
        Some(ConsumerData {
            group_name: i.group.clone(),
            consume_type: ConsumeType::ConsumeActively,
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::ConsumeFromLastOffset,
            subscription_data_set: subs,
            unit_mode: false,
        })
    }

    fn subscribed_topics(&self) -> Vec<String> {
        self.0
            .upgrade()
            .map(|i| i.topics.read().keys().cloned().collect())
            .unwrap_or_default()
    }

    fn rebalance_now(&self) {}

    fn reset_offsets(&self, _topic: &str, _offsets: &BTreeMap<MessageQueue, i64>) {
        // A pull consumer keeps no offsets of its own: the caller reads them from the broker.
    }
}

impl PullConsumer {
    /// A pull consumer of `group` with its own client instance.
    pub fn new(group: impl Into<String>, client: ClientConfig) -> Result<Self> {
        let instance = ClientInstance::new(client)?;
        Ok(Self::build(group.into(), instance, true))
    }

    /// A pull consumer on a shared client instance.
    pub fn with_instance(group: impl Into<String>, instance: ClientInstance) -> Self {
        Self::build(group.into(), instance, false)
    }

    fn build(group: String, instance: ClientInstance, owns_instance: bool) -> Self {
        PullConsumer {
            inner: Arc::new(Inner {
                group,
                instance,
                owns_instance,
                topics: RwLock::new(BTreeMap::new()),
                started: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                broker_suspend_max_time: Duration::from_secs(20),
            }),
        }
    }

    /// The client instance.
    pub fn instance(&self) -> &ClientInstance {
        &self.inner.instance
    }

    /// Registers the group and starts the instance.
    pub async fn start(&self) -> Result<()> {
        if self.inner.group.is_empty() {
            return Err(ClientError::InvalidArgument(
                "consumer group is empty".into(),
            ));
        }
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.instance.register_consumer(
            &self.inner.group,
            Arc::new(Member(Arc::downgrade(&self.inner))),
        )?;
        self.inner.instance.start()?;
        Ok(())
    }

    /// Leaves the group; shuts the instance down when it is our own.
    pub async fn shutdown(&self) {
        if !self.inner.started.load(Ordering::Acquire)
            || self.inner.stopped.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.inner
            .instance
            .unregister_consumer(&self.inner.group)
            .await;
        if self.inner.owns_instance {
            self.inner.instance.shutdown().await;
        }
    }

    /// The readable queues of `topic` (Java `fetchSubscribeMessageQueues`); the topic is
    /// announced in this consumer's heartbeats from now on.
    pub async fn fetch_subscribe_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let route = self.inner.instance.update_topic_route(topic).await?;
        let sub = build_subscription(topic, "*")?;
        let first = {
            let mut t = self.inner.topics.write();
            let first = !t.contains_key(topic);
            t.entry(topic.to_string()).or_insert(sub);
            first
        };
        if first {
            self.inner.instance.send_heartbeat_to_all().await;
        }
        Ok(subscribe_queues(topic, &route))
    }

    /// Pulls up to `max_nums` messages from `offset` without waiting.
    pub async fn pull(
        &self,
        mq: &MessageQueue,
        expression: &str,
        offset: i64,
        max_nums: i32,
    ) -> Result<PullResult> {
        self.pull_impl(mq, expression, offset, max_nums, None).await
    }

    /// Like [`pull`](Self::pull), but the broker holds the request up to its suspend time when
    /// nothing is there yet (long polling).
    pub async fn pull_block_if_not_found(
        &self,
        mq: &MessageQueue,
        expression: &str,
        offset: i64,
        max_nums: i32,
    ) -> Result<PullResult> {
        let hold = self.inner.broker_suspend_max_time;
        self.pull_impl(mq, expression, offset, max_nums, Some(hold))
            .await
    }

    /// [`pull_block_if_not_found`](Self::pull_block_if_not_found) with an explicit hold time.
    pub async fn pull_block_with_hold(
        &self,
        mq: &MessageQueue,
        expression: &str,
        offset: i64,
        max_nums: i32,
        hold: Duration,
    ) -> Result<PullResult> {
        self.pull_impl(mq, expression, offset, max_nums, Some(hold))
            .await
    }

    async fn pull_impl(
        &self,
        mq: &MessageQueue,
        expression: &str,
        offset: i64,
        max_nums: i32,
        hold: Option<Duration>,
    ) -> Result<PullResult> {
        if offset < 0 {
            return Err(ClientError::InvalidArgument(format!("offset {offset} < 0")));
        }
        if max_nums <= 0 {
            return Err(ClientError::InvalidArgument(format!(
                "max_nums {max_nums} <= 0"
            )));
        }
        let sub = build_subscription(&mq.topic, expression)?;
        let instance = &self.inner.instance;
        let addr = instance.read_addr_for_queue(mq).await?;
        let header = PullMessageRequestHeader {
            consumer_group: self.inner.group.clone(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            queue_offset: offset,
            max_msg_nums: max_nums,
            sys_flag: PullSysFlag::build(false, hold.is_some(), true, false).0,
            commit_offset: 0,
            suspend_timeout_millis: hold.map(|h| h.as_millis() as i64).unwrap_or(0),
            subscription: Some(sub.sub_string.clone()),
            sub_version: 0,
            expression_type: Some(sub.expression_type.clone()),
            max_msg_bytes: None,
            bname: Some(mq.broker_name.clone()),
        };
        let timeout =
            hold.unwrap_or_default() + instance.config().rpc_timeout + Duration::from_secs(5);
        let mut r = instance
            .pull_message(&addr, &mq.broker_name, &header, timeout)
            .await?;
        r.msgs.retain(|m| tag_matches(&sub, m.tags()));
        r.stamp_queue_offsets();
        Ok(r)
    }

    /// The group's committed offset of `mq` on the broker (`None`: never committed).
    pub async fn fetch_consume_offset(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        self.inner
            .instance
            .query_consumer_offset(&self.inner.group, mq)
            .await
    }

    /// Commits `offset` for `mq` on the broker now.
    pub async fn update_consume_offset(&self, mq: &MessageQueue, offset: i64) -> Result<()> {
        self.inner
            .instance
            .update_consumer_offset(&self.inner.group, mq, offset)
            .await
    }

    /// The next offset to be written in `mq`.
    pub async fn max_offset(&self, mq: &MessageQueue) -> Result<i64> {
        self.inner.instance.max_offset(mq).await
    }

    /// The smallest offset still stored in `mq`.
    pub async fn min_offset(&self, mq: &MessageQueue) -> Result<i64> {
        self.inner.instance.min_offset(mq).await
    }

    /// The first offset of `mq` stored at or after `timestamp` ms.
    pub async fn search_offset(&self, mq: &MessageQueue, timestamp: i64) -> Result<i64> {
        self.inner.instance.search_offset(mq, timestamp).await
    }
}
