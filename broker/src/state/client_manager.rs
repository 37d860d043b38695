//! Producers and consumers known from HEART_BEAT (`ProducerManager`, `ConsumerManager`), and the
//! NOTIFY_CONSUMER_IDS_CHANGED calls that make a group rebalance when its membership changes.
//!
//! A client is identified by its connection: it leaves a group on UNREGISTER_CLIENT, when its
//! connection closes, or when no heartbeat arrived for [`CHANNEL_EXPIRED`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use remoting::body::client::{
    ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, SubscriptionData,
};
use remoting::{Connection, LanguageCode};

/// A client that sent no heartbeat for this long is dropped (Java: 120 s).
pub const CHANNEL_EXPIRED: Duration = Duration::from_secs(120);

/// One client connection in a group.
#[derive(Debug, Clone)]
pub struct ClientChannel {
    /// The connection.
    pub conn: Connection,
    /// Client id from the heartbeat.
    pub client_id: String,
    /// Client language.
    pub language: LanguageCode,
    /// Client version ordinal.
    pub version: i32,
    /// Last heartbeat.
    pub last_update: Instant,
}

/// A consumer group's live state.
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroupInfo {
    /// Pull or push.
    pub consume_type: ConsumeType,
    /// Clustering or broadcasting.
    pub message_model: MessageModel,
    /// Where a new member starts.
    pub consume_from_where: ConsumeFromWhere,
    /// Topic → subscription.
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    /// Connection id → member.
    pub channels: HashMap<u64, ClientChannel>,
}

impl ConsumerGroupInfo {
    /// Sorted, de-duplicated client ids.
    pub fn client_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .channels
            .values()
            .map(|c| c.client_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// Producer and consumer registrations.
#[derive(Default)]
pub struct ClientManager {
    producers: Mutex<HashMap<String, HashMap<u64, ClientChannel>>>,
    consumers: Mutex<HashMap<String, ConsumerGroupInfo>>,
}

impl ClientManager {
    /// Registers a producer of `group`.
    pub fn register_producer(&self, group: &str, channel: ClientChannel) {
        self.producers
            .lock()
            .entry(group.to_string())
            .or_default()
            .insert(channel.conn.id(), channel);
    }

    /// Registers or refreshes a consumer. Returns true when the group's member ids or
    /// subscriptions changed (the caller then notifies the members).
    pub fn register_consumer(&self, data: &ConsumerData, channel: ClientChannel) -> bool {
        let mut consumers = self.consumers.lock();
        let info = consumers.entry(data.group_name.clone()).or_default();
        info.consume_type = data.consume_type.clone();
        info.message_model = data.message_model.clone();
        info.consume_from_where = data.consume_from_where.clone();
        let before = info.client_ids();
        info.channels.insert(channel.conn.id(), channel);
        let ids_changed = info.client_ids() != before;
        let mut subs_changed = false;
        let new: BTreeMap<String, SubscriptionData> = data
            .subscription_data_set
            .iter()
            .map(|s| (s.topic.clone(), s.clone()))
            .collect();
        for (topic, sub) in &new {
            match info.subscriptions.get(topic) {
                Some(old)
                    if old.sub_version >= sub.sub_version && old.sub_string == sub.sub_string => {}
                _ => {
                    info.subscriptions.insert(topic.clone(), sub.clone());
                    subs_changed = true;
                }
            }
        }
        let before_len = info.subscriptions.len();
        info.subscriptions.retain(|t, _| new.contains_key(t));
        subs_changed |= info.subscriptions.len() != before_len;
        ids_changed || subs_changed
    }

    /// Removes a client from a producer group and/or consumer group. Returns the consumer group
    /// when its membership changed.
    pub fn unregister(
        &self,
        conn_id: u64,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Option<String> {
        if let Some(g) = producer_group {
            let mut p = self.producers.lock();
            if let Some(m) = p.get_mut(g) {
                m.remove(&conn_id);
                if m.is_empty() {
                    p.remove(g);
                }
            }
        }
        let g = consumer_group?;
        let mut c = self.consumers.lock();
        let info = c.get_mut(g)?;
        let removed = info.channels.remove(&conn_id).is_some();
        if info.channels.is_empty() {
            c.remove(g);
        }
        removed.then(|| g.to_string())
    }

    /// Removes a closed connection everywhere; returns the consumer groups that lost a member.
    pub fn connection_closed(&self, conn_id: u64) -> Vec<String> {
        self.remove_where(|ch| ch.conn.id() == conn_id)
    }

    /// Drops clients without a heartbeat for [`CHANNEL_EXPIRED`]; returns the consumer groups
    /// that lost a member.
    pub fn scan_expired(&self) -> Vec<String> {
        let now = Instant::now();
        self.remove_where(|ch| {
            now.duration_since(ch.last_update) > CHANNEL_EXPIRED || ch.conn.is_closed()
        })
    }

    fn remove_where(&self, pred: impl Fn(&ClientChannel) -> bool) -> Vec<String> {
        {
            let mut p = self.producers.lock();
            for m in p.values_mut() {
                m.retain(|_, ch| !pred(ch));
            }
            p.retain(|_, m| !m.is_empty());
        }
        let mut changed = Vec::new();
        let mut c = self.consumers.lock();
        for (g, info) in c.iter_mut() {
            let before = info.channels.len();
            info.channels.retain(|_, ch| !pred(ch));
            if info.channels.len() != before {
                changed.push(g.clone());
            }
        }
        c.retain(|_, info| !info.channels.is_empty());
        changed
    }

    /// A consumer group's state.
    pub fn consumer_group(&self, group: &str) -> Option<ConsumerGroupInfo> {
        self.consumers.lock().get(group).cloned()
    }

    /// A consumer group's subscription of a topic.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.consumers
            .lock()
            .get(group)
            .and_then(|g| g.subscriptions.get(topic).cloned())
    }

    /// The live connections of a consumer group.
    pub fn consumer_channels(&self, group: &str) -> Vec<ClientChannel> {
        self.consumers
            .lock()
            .get(group)
            .map(|g| g.channels.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The live connections of a producer group.
    pub fn producer_channels(&self, group: &str) -> Vec<ClientChannel> {
        self.producers
            .lock()
            .get(group)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The connection of the client registered as a producer under `client_id`, the most
    /// recently heard from (Java `ProducerManager.findChannel`; request-reply pushes to it).
    pub fn find_producer_channel(&self, client_id: &str) -> Option<ClientChannel> {
        self.producers
            .lock()
            .values()
            .flat_map(|m| m.values())
            .filter(|c| c.client_id == client_id && !c.conn.is_closed())
            .max_by_key(|c| c.last_update)
            .cloned()
    }

    /// Every producer group with its live connections (GET_ALL_PRODUCER_INFO).
    pub fn all_producers(&self) -> Vec<(String, Vec<ClientChannel>)> {
        self.producers
            .lock()
            .iter()
            .map(|(g, m)| (g.clone(), m.values().cloned().collect()))
            .collect()
    }

    /// Every consumer group name with its subscribed topics.
    pub fn consumer_groups(&self) -> Vec<(String, Vec<String>)> {
        self.consumers
            .lock()
            .iter()
            .map(|(g, i)| (g.clone(), i.subscriptions.keys().cloned().collect()))
            .collect()
    }

    /// Numbers of producer and consumer connections.
    pub fn counts(&self) -> (usize, usize) {
        let p = self.producers.lock().values().map(HashMap::len).sum();
        let c = self
            .consumers
            .lock()
            .values()
            .map(|g| g.channels.len())
            .sum();
        (p, c)
    }
}
