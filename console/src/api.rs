//! The JSON API behind the pages. Each function is one page action; reads go through
//! `mqadmin`'s admin layer ([`cli::admin::Admin`]) and the client library's typed admin calls,
//! so the console shows exactly what `mqadmin` computes (the browser test checks that).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use client::{Message, MessageExt, Producer, ProducerConfig, PullConsumer};
use remoting::body::client::{ConsumeType, MessageQueue};
use remoting::body::topic::TopicConfig;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::error::{ConsoleError, Result};
use crate::history::Sample;

/// The producer group of test messages sent from the topics page.
pub const CONSOLE_PRODUCER_GROUP: &str = "CONSOLE_PRODUCER_GROUP";
/// The consumer group name used for time-range pulls (nothing is committed under it).
pub const CONSOLE_PULL_GROUP: &str = "CONSOLE_QUERY_GROUP";
/// Where Java's message trace is stored (keyed by message id).
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// At most this many messages per query, as Java's dashboard.
pub const MAX_MESSAGES: usize = 64;
/// Bodies longer than this are cut in the detail view (the rest is said to be cut).
pub const MAX_BODY_SHOWN: usize = 64 * 1024;
/// Groups sampled for the lag chart (the first ones by name); more would make each sample a
/// burst of requests.
pub const MAX_SAMPLED_GROUPS: usize = 32;

/// The admin connections of one console.
pub struct Api {
    namesrv: String,
    admin: cli::admin::Admin,
    producer: OnceCell<Producer>,
}

/// One broker row of the cluster page.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BrokerRow {
    /// Cluster name.
    pub cluster: String,
    /// Broker group name.
    pub broker_name: String,
    /// Broker id (0: master).
    pub broker_id: i64,
    /// `ASYNC_MASTER`, `SYNC_MASTER` or `SLAVE` as the broker reports it.
    pub role: String,
    /// Registered address.
    pub addr: String,
    /// `brokerVersionDesc`.
    pub version: String,
    /// Messages put per second (the broker's last-minute figure, as `clusterList`).
    pub in_tps: f64,
    /// Messages delivered per second.
    pub out_tps: f64,
    /// Used share of the commit log's disk, 0..1.
    pub disk_ratio: f64,
    /// Replication gap in bytes: on a master its worst slave, on a slave its distance to the
    /// master; `None` without replication.
    pub ha_gap: Option<i64>,
    /// Messages put today.
    pub put_today: i64,
    /// Why the figures are missing (the broker did not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The cluster page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// Name servers asked.
    pub namesrv: String,
    /// Cluster names.
    pub clusters: Vec<String>,
    /// Every broker of every cluster.
    pub brokers: Vec<BrokerRow>,
}

/// One topic of the list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRow {
    /// Name.
    pub topic: String,
    /// `normal`, `retry`, `dlq` or `system`.
    pub kind: &'static str,
}

/// One queue of a topic with its offsets.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QueueOffsets {
    /// Broker group.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Smallest offset still stored.
    pub min_offset: i64,
    /// Next offset to be written.
    pub max_offset: i64,
    /// Store time of the last message, epoch ms (0: none).
    pub last_update: i64,
}

/// A broker group in a topic's route.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteBroker {
    /// Broker group.
    pub broker_name: String,
    /// Its cluster.
    pub cluster: String,
    /// Broker id → address.
    pub addrs: BTreeMap<i64, String>,
    /// Read queues.
    pub read_queue_nums: i32,
    /// Write queues.
    pub write_queue_nums: i32,
    /// Permission bits (6: read-write, 4: read, 2: write).
    pub perm: i32,
}

/// The topic detail.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicDetail {
    /// Name.
    pub topic: String,
    /// The route, per broker group.
    pub route: Vec<RouteBroker>,
    /// Per-queue offsets, by broker then queue.
    pub queues: Vec<QueueOffsets>,
    /// Sum of (max − min) over the queues: messages stored.
    pub stored: i64,
}

/// Create or update a topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicUpdate {
    /// Cluster whose masters get it.
    pub cluster: String,
    /// Name.
    pub topic: String,
    /// Read queues (default 8, as `mqadmin updateTopic`).
    #[serde(default = "eight")]
    pub read_queue_nums: i32,
    /// Write queues.
    #[serde(default = "eight")]
    pub write_queue_nums: i32,
    /// Permission (default 6).
    #[serde(default = "six")]
    pub perm: i32,
    /// Ordered topic.
    #[serde(default)]
    pub order: bool,
}

fn eight() -> i32 {
    8
}
fn six() -> i32 {
    6
}

/// A test message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestMessage {
    /// Topic.
    pub topic: String,
    /// Tag (optional).
    #[serde(default)]
    pub tag: String,
    /// Key (optional).
    #[serde(default)]
    pub key: String,
    /// Body text.
    pub body: String,
}

/// What a send did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    /// `SEND_OK` etc.
    pub status: String,
    /// The message id (unique key).
    pub msg_id: String,
    /// Offset id.
    pub offset_msg_id: String,
    /// Broker group.
    pub broker_name: String,
    /// Queue.
    pub queue_id: i32,
    /// Offset in the queue.
    pub queue_offset: i64,
}

/// One consumer group of the list (as `mqadmin consumerProgress` without `-g`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupRow {
    /// Group name.
    pub group: String,
    /// Online members.
    pub count: usize,
    /// `PUSH`, `PULL` or empty when offline.
    pub consume_type: String,
    /// `CLUSTERING`, `BROADCASTING` or empty when offline.
    pub model: String,
    /// Consume TPS.
    pub tps: f64,
    /// Total lag.
    pub diff: i64,
}

/// One member of a group.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Client id.
    pub client_id: String,
    /// Client address.
    pub client_addr: String,
    /// Language.
    pub language: String,
    /// Version code.
    pub version: i32,
}

/// One queue's progress.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QueueProgress {
    /// Topic.
    pub topic: String,
    /// Broker group.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Broker's max offset.
    pub broker_offset: i64,
    /// Group's committed offset.
    pub consumer_offset: i64,
    /// Lag.
    pub diff: i64,
    /// Store time of the last consumed message, epoch ms (0: none).
    pub last_timestamp: i64,
}

/// The group detail.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDetail {
    /// Group.
    pub group: String,
    /// Members (empty when offline).
    pub members: Vec<Member>,
    /// Why members could not be listed (offline groups say so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members_note: Option<String>,
    /// Topic → subscription expression.
    pub subscriptions: BTreeMap<String, String>,
    /// Consume TPS.
    pub consume_tps: f64,
    /// Total lag.
    pub diff_total: i64,
    /// Per-queue progress, sorted as `consumerProgress` prints it.
    pub queues: Vec<QueueProgress>,
}

/// Reset a group's offsets.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetRequest {
    /// Group.
    pub group: String,
    /// Topic; for a skip, empty means every topic the group has offsets for.
    #[serde(default)]
    pub topic: String,
    /// Epoch ms to reset to (ignored by a skip).
    #[serde(default)]
    pub timestamp: i64,
}

/// A reset's outcome: each queue's new offset.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetResult {
    /// Per queue.
    pub offsets: Vec<QueueOffset>,
}

/// A queue and an offset.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueOffset {
    /// Topic.
    pub topic: String,
    /// Broker group.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Offset.
    pub offset: i64,
}

/// A message in a result list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSummary {
    /// Unique (client) id.
    pub msg_id: String,
    /// Offset id (store host + commit-log offset): what the detail and resend take.
    pub offset_msg_id: String,
    /// Topic.
    pub topic: String,
    /// Tags.
    pub tags: String,
    /// Keys.
    pub keys: String,
    /// Broker group.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Queue offset.
    pub queue_offset: i64,
    /// Store time, epoch ms.
    pub store_timestamp: i64,
    /// Body size in bytes.
    pub body_size: usize,
}

/// The message detail.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDetail {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: MessageSummary,
    /// Born time, epoch ms.
    pub born_timestamp: i64,
    /// Producer's address.
    pub born_host: String,
    /// Storing broker's address.
    pub store_host: String,
    /// Times consumed again.
    pub reconsume_times: i32,
    /// Every property.
    pub properties: BTreeMap<String, String>,
    /// Body as UTF-8 text (invalid bytes replaced).
    pub body_text: String,
    /// Body as hex.
    pub body_hex: String,
    /// Whether the body was cut to [`MAX_BODY_SHOWN`].
    pub body_truncated: bool,
    /// Trace records found in [`TRACE_TOPIC`] for this message (their bodies).
    pub trace: Vec<String>,
}

/// Resend a stored message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendRequest {
    /// Offset id of the stored message.
    pub offset_msg_id: String,
    /// Destination; empty: the DLQ group's retry topic (as `mqadmin resendMsgById`).
    #[serde(default)]
    pub topic: String,
}

/// A resend's outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resent {
    /// Where the message was.
    pub from_topic: String,
    /// Where it went.
    pub to_topic: String,
    /// New id.
    pub msg_id: String,
    /// Queue.
    pub queue_id: i32,
    /// Offset.
    pub queue_offset: i64,
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn first_number(rt: &BTreeMap<String, String>, key: &str) -> f64 {
    rt.get(key)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn int(rt: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    rt.get(key).and_then(|v| v.trim().parse().ok())
}

/// The replication gap a broker's runtime table reports (see [`BrokerRow::ha_gap`]).
pub fn ha_gap(rt: &BTreeMap<String, String>) -> Option<i64> {
    if let Some(g) = int(rt, "haMaxGap") {
        return (int(rt, "haConnectedSlaves").unwrap_or(0) > 0).then_some(g);
    }
    match (int(rt, "haMasterOffset"), int(rt, "haLocalMaxOffset")) {
        (Some(m), Some(l)) => Some((m - l).max(0)),
        _ => None,
    }
}

/// The kind of a topic name, given the cluster and broker names (which the name server also
/// lists as topics).
pub fn topic_kind(topic: &str, system_names: &BTreeSet<String>) -> &'static str {
    if topic.starts_with("%RETRY%") {
        "retry"
    } else if topic.starts_with("%DLQ%") {
        "dlq"
    } else if system_names.contains(topic)
        || topic.starts_with("rmq_sys_")
        || topic.starts_with("RMQ_SYS_")
        || topic.ends_with("_REPLY_TOPIC")
        || matches!(
            topic,
            "TBW102"
                | "SCHEDULE_TOPIC_XXXX"
                | "OFFSET_MOVED_EVENT"
                | "SELF_TEST_TOPIC"
                | "BenchmarkTest"
                | "TRANS_CHECK_MAX_TIME_TOPIC"
        )
    {
        "system"
    } else {
        "normal"
    }
}

fn summary(m: &MessageExt) -> MessageSummary {
    MessageSummary {
        msg_id: m.msg_id.clone(),
        offset_msg_id: m.offset_msg_id.clone(),
        topic: m.topic.clone(),
        tags: m.tags().unwrap_or_default().to_string(),
        keys: m.keys().join(" "),
        broker_name: m.broker_name.clone(),
        queue_id: m.queue_id,
        queue_offset: m.queue_offset,
        store_timestamp: m.store_timestamp,
        body_size: m.body.len(),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(if i % 16 == 0 { '\n' } else { ' ' });
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn nonempty<'a>(what: &str, v: &'a str) -> Result<&'a str> {
    let v = v.trim();
    if v.is_empty() {
        return Err(ConsoleError::BadRequest(format!("{what} is required")));
    }
    Ok(v)
}

impl Api {
    /// An API over the `;`-separated name server list.
    pub fn new(namesrv: &str) -> Result<Self> {
        let admin = cli::admin::Admin::new(Some(namesrv));
        admin.namesrv_addrs()?;
        Ok(Api {
            namesrv: namesrv.to_string(),
            admin,
            producer: OnceCell::new(),
        })
    }

    /// The name servers asked.
    pub fn namesrv(&self) -> &str {
        &self.namesrv
    }

    fn typed(&self) -> Result<&client::Admin> {
        Ok(self.admin.typed()?)
    }

    /// Closes every connection.
    pub async fn shutdown(&self) {
        if let Some(p) = self.producer.get() {
            p.shutdown().await;
        }
        self.admin.shutdown().await;
    }

    // ----- cluster ---------------------------------------------------------------------------

    /// Every broker with its runtime figures; a broker that does not answer keeps its row with
    /// the reason (the page shows it), as `mqadmin clusterList` keeps its line.
    pub async fn cluster(&self) -> Result<ClusterView> {
        let info = self.admin.cluster_info().await?;
        let mut rows = Vec::new();
        for (cluster, names) in &info.cluster_addr_table {
            for name in names {
                let Some(group) = info.broker_addr_table.get(name) else {
                    continue;
                };
                for (id, addr) in &group.broker_addrs {
                    rows.push(BrokerRow {
                        cluster: cluster.clone(),
                        broker_name: name.clone(),
                        broker_id: *id,
                        role: if *id == 0 { "MASTER" } else { "SLAVE" }.to_string(),
                        addr: addr.clone(),
                        version: String::new(),
                        in_tps: 0.0,
                        out_tps: 0.0,
                        disk_ratio: 0.0,
                        ha_gap: None,
                        put_today: 0,
                        error: None,
                    });
                }
            }
        }
        let asks = rows.iter().map(|r| self.admin.broker_runtime_info(&r.addr));
        let answers = futures::future::join_all(asks).await;
        for (row, answer) in rows.iter_mut().zip(answers) {
            match answer {
                Ok(kv) => {
                    let rt = kv.table;
                    if let Some(role) = rt.get("brokerRole") {
                        row.role = role.clone();
                    }
                    row.version = rt.get("brokerVersionDesc").cloned().unwrap_or_default();
                    row.in_tps = first_number(&rt, "putTps");
                    row.out_tps = first_number(&rt, "getTransferedTps");
                    row.disk_ratio = rt
                        .get("commitLogDiskRatio")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0.0);
                    row.ha_gap = ha_gap(&rt);
                    row.put_today = int(&rt, "msgPutTotalTodayNow").unwrap_or(0)
                        - int(&rt, "msgPutTotalTodayMorning").unwrap_or(0);
                }
                Err(e) => row.error = Some(e.to_string()),
            }
        }
        Ok(ClusterView {
            namesrv: self.namesrv.clone(),
            clusters: info.cluster_addr_table.keys().cloned().collect(),
            brokers: rows,
        })
    }

    // ----- topics ----------------------------------------------------------------------------

    /// Every topic the name servers know, with its kind.
    pub async fn topics(&self) -> Result<Vec<TopicRow>> {
        let list = self.admin.topic_list().await?;
        let info = self.admin.cluster_info().await?;
        let system: BTreeSet<String> = info
            .cluster_addr_table
            .keys()
            .chain(info.broker_addr_table.keys())
            .cloned()
            .collect();
        Ok(list
            .topic_list
            .into_iter()
            .map(|topic| TopicRow {
                kind: topic_kind(&topic, &system),
                topic,
            })
            .collect())
    }

    /// A topic's route and per-queue offsets (`mqadmin topicRoute` + `topicStatus`).
    pub async fn topic(&self, topic: &str) -> Result<TopicDetail> {
        let topic = nonempty("topic", topic)?;
        let route = self.typed()?.topic_route(topic).await?;
        let mut brokers = Vec::new();
        for b in &route.broker_datas {
            let q = route
                .queue_datas
                .iter()
                .find(|q| q.broker_name == b.broker_name);
            brokers.push(RouteBroker {
                broker_name: b.broker_name.clone(),
                cluster: b.cluster.clone(),
                addrs: b.broker_addrs.clone(),
                read_queue_nums: q.map(|q| q.read_queue_nums).unwrap_or(0),
                write_queue_nums: q.map(|q| q.write_queue_nums).unwrap_or(0),
                perm: q.map(|q| q.perm).unwrap_or(0),
            });
        }
        let stats = self.typed()?.topic_stats(topic).await?;
        let mut queues: Vec<QueueOffsets> = stats
            .offset_table
            .0
            .iter()
            .map(|(mq, o)| QueueOffsets {
                broker_name: mq.broker_name.clone(),
                queue_id: mq.queue_id,
                min_offset: o.min_offset,
                max_offset: o.max_offset,
                last_update: o.last_update_timestamp,
            })
            .collect();
        queues.sort_by(|a, b| (&a.broker_name, a.queue_id).cmp(&(&b.broker_name, b.queue_id)));
        let stored = queues.iter().map(|q| q.max_offset - q.min_offset).sum();
        Ok(TopicDetail {
            topic: topic.to_string(),
            route: brokers,
            queues,
            stored,
        })
    }

    /// Creates or updates a topic on every master of a cluster; returns the masters.
    pub async fn update_topic(&self, u: &TopicUpdate) -> Result<Vec<String>> {
        let topic = nonempty("topic", &u.topic)?;
        let cluster = nonempty("cluster", &u.cluster)?;
        client::producer::check_topic(topic)?;
        for (what, n) in [
            ("read queues", u.read_queue_nums),
            ("write queues", u.write_queue_nums),
        ] {
            if !(1..=1024).contains(&n) {
                return Err(ConsoleError::BadRequest(format!(
                    "{what} must be 1..1024, got {n}"
                )));
            }
        }
        if !matches!(u.perm, 2 | 4 | 6) {
            return Err(ConsoleError::BadRequest(format!(
                "perm must be 2 (write), 4 (read) or 6 (read-write), got {}",
                u.perm
            )));
        }
        let mut cfg =
            TopicConfig::with_queues(topic, u.read_queue_nums, u.write_queue_nums, u.perm);
        cfg.order = u.order;
        Ok(self.typed()?.create_topic(cluster, &cfg).await?)
    }

    /// Deletes a topic from a cluster's masters and the name servers.
    pub async fn delete_topic(&self, cluster: &str, topic: &str) -> Result<()> {
        let topic = nonempty("topic", topic)?;
        let cluster = nonempty("cluster", cluster)?;
        Ok(self.typed()?.delete_topic(cluster, topic).await?)
    }

    /// Sends one test message.
    pub async fn send(&self, m: &TestMessage) -> Result<Sent> {
        let topic = nonempty("topic", &m.topic)?;
        let producer = self
            .producer
            .get_or_try_init(|| async {
                let p = Producer::new(ProducerConfig::new(
                    CONSOLE_PRODUCER_GROUP,
                    self.namesrv.clone(),
                ))?;
                p.start().await?;
                Ok::<_, ConsoleError>(p)
            })
            .await?;
        let mut msg = Message::new(topic, m.body.clone().into_bytes());
        if !m.tag.trim().is_empty() {
            msg = msg.with_tags(m.tag.trim());
        }
        if !m.key.trim().is_empty() {
            msg = msg.with_key(m.key.trim());
        }
        let r = producer.send(msg).await?;
        Ok(Sent {
            status: format!("{:?}", r.status),
            msg_id: r.msg_id,
            offset_msg_id: r.offset_msg_id,
            broker_name: r.message_queue.broker_name,
            queue_id: r.message_queue.queue_id,
            queue_offset: r.queue_offset,
        })
    }

    // ----- groups ----------------------------------------------------------------------------

    /// Every consumer group (each `%RETRY%<group>` topic), as `mqadmin consumerProgress`
    /// lists them: members first, then by lag.
    pub async fn groups(&self) -> Result<Vec<GroupRow>> {
        let topics = self.admin.topic_list().await?;
        let typed = self.typed()?;
        let mut out = Vec::new();
        for group in topics
            .topic_list
            .iter()
            .filter_map(|t| t.strip_prefix("%RETRY%"))
        {
            let mut row = GroupRow {
                group: group.to_string(),
                count: 0,
                consume_type: String::new(),
                model: String::new(),
                tps: 0.0,
                diff: 0,
            };
            if let Ok(stats) = typed.consume_stats(group, None).await {
                row.tps = stats.consume_tps;
                row.diff = stats.total_diff();
            }
            if let Ok(cc) = typed.consumer_connections(group).await {
                row.count = cc.connection_set.len();
                if row.count > 0 {
                    row.consume_type = match cc.consume_type {
                        ConsumeType::ConsumeActively => "PULL".into(),
                        _ => "PUSH".into(),
                    };
                    row.model = cc.message_model.name().to_string();
                }
            }
            out.push(row);
        }
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.diff.cmp(&a.diff))
                .then(a.group.cmp(&b.group))
        });
        Ok(out)
    }

    /// One group: members, subscriptions and per-queue progress (`consumerProgress -g`,
    /// `consumerConnection -g`).
    pub async fn group(&self, group: &str) -> Result<GroupDetail> {
        let group = nonempty("group", group)?;
        let typed = self.typed()?;
        let stats = typed.consume_stats(group, None).await?;
        let mut queues: Vec<QueueProgress> = stats
            .offset_table
            .0
            .iter()
            .map(|(mq, w)| QueueProgress {
                topic: mq.topic.clone(),
                broker_name: mq.broker_name.clone(),
                queue_id: mq.queue_id,
                broker_offset: w.broker_offset,
                consumer_offset: w.consumer_offset,
                diff: w.broker_offset - w.consumer_offset,
                last_timestamp: w.last_timestamp,
            })
            .collect();
        queues.sort_by(|a, b| {
            (&a.topic, &a.broker_name, a.queue_id).cmp(&(&b.topic, &b.broker_name, b.queue_id))
        });
        let diff_total = queues.iter().map(|q| q.diff).sum();
        let (members, subscriptions, members_note) = match typed.consumer_connections(group).await {
            Ok(cc) => (
                cc.connection_set
                    .iter()
                    .map(|c| Member {
                        client_id: c.client_id.clone(),
                        client_addr: c.client_addr.clone(),
                        language: c.language.name().to_string(),
                        version: c.version,
                    })
                    .collect(),
                cc.subscription_table
                    .iter()
                    .map(|(t, s)| (t.clone(), s.sub_string.clone()))
                    .collect(),
                None,
            ),
            Err(e) => (
                Vec::new(),
                BTreeMap::new(),
                Some(format!("no member online ({e})")),
            ),
        };
        Ok(GroupDetail {
            group: group.to_string(),
            members,
            members_note,
            subscriptions,
            consume_tps: stats.consume_tps,
            diff_total,
            queues,
        })
    }

    /// Resets `group`'s offsets of `topic` to the first message stored at or after `timestamp`
    /// (`mqadmin resetOffsetByTime`); online consumers are told by the broker.
    pub async fn reset_offset(&self, r: &ResetRequest) -> Result<ResetResult> {
        let group = nonempty("group", &r.group)?;
        let topic = nonempty("topic", &r.topic)?;
        if r.timestamp < 0 {
            return Err(ConsoleError::BadRequest(
                "timestamp must be epoch milliseconds".into(),
            ));
        }
        let offsets = self
            .typed()?
            .reset_offset_by_time(topic, group, r.timestamp, true)
            .await?;
        Ok(ResetResult {
            offsets: offsets_of(offsets),
        })
    }

    /// Skips the backlog: every queue of `topic` (or of every topic the group has offsets for)
    /// jumps to the end.
    pub async fn skip_backlog(&self, r: &ResetRequest) -> Result<ResetResult> {
        let group = nonempty("group", &r.group)?;
        let typed = self.typed()?;
        let topics: BTreeSet<String> = if r.topic.trim().is_empty() {
            typed
                .consume_stats(group, None)
                .await?
                .offset_table
                .0
                .keys()
                .map(|mq| mq.topic.clone())
                .filter(|t| !t.starts_with("%RETRY%"))
                .collect()
        } else {
            [r.topic.trim().to_string()].into()
        };
        let mut all = BTreeMap::new();
        for t in &topics {
            all.extend(typed.reset_offset_by_time(t, group, -1, true).await?);
        }
        Ok(ResetResult {
            offsets: offsets_of(all),
        })
    }

    // ----- messages --------------------------------------------------------------------------

    /// A message by unique or offset id (topic needed for a unique id).
    pub async fn message_by_id(&self, topic: &str, id: &str) -> Result<Vec<MessageSummary>> {
        let id = nonempty("message id", id)?;
        let topic = Some(topic.trim()).filter(|t| !t.is_empty());
        Ok(self
            .typed()?
            .query_message_by_id(topic, id)
            .await?
            .iter()
            .map(summary)
            .collect())
    }

    /// Messages of `topic` with business key `key` stored between `begin` and `end` ms.
    pub async fn messages_by_key(
        &self,
        topic: &str,
        key: &str,
        begin: i64,
        end: i64,
    ) -> Result<Vec<MessageSummary>> {
        let topic = nonempty("topic", topic)?;
        let key = nonempty("key", key)?;
        let msgs = self
            .typed()?
            .query_message_by_key(topic, key, MAX_MESSAGES as i32, begin, end)
            .await?;
        Ok(msgs.iter().take(MAX_MESSAGES).map(summary).collect())
    }

    /// Messages of `topic` stored between `begin` and `end` ms: each queue is searched for
    /// the offsets at both times and read between them, newest first, at most
    /// [`MAX_MESSAGES`] in all.
    pub async fn messages_by_time(
        &self,
        topic: &str,
        begin: i64,
        end: i64,
    ) -> Result<Vec<MessageSummary>> {
        let topic = nonempty("topic", topic)?;
        if end < begin {
            return Err(ConsoleError::BadRequest(
                "the end is before the begin".into(),
            ));
        }
        let typed = self.typed()?;
        let route = typed.topic_route(topic).await?;
        let instance = typed.instance().clone();
        let puller = PullConsumer::with_instance(CONSOLE_PULL_GROUP, instance.clone());
        let mut out: Vec<MessageExt> = Vec::new();
        for mq in client::route::subscribe_queues(topic, &route) {
            let from = instance.search_offset(&mq, begin).await?;
            let to = instance.search_offset(&mq, end.saturating_add(1)).await?;
            let to = to.max(from);
            // The newest MAX_MESSAGES of this queue within the range.
            let mut offset = from.max(to - MAX_MESSAGES as i64);
            while offset < to {
                let r = puller.pull(&mq, "*", offset, 32).await?;
                if r.msgs.is_empty() || r.next_begin_offset <= offset {
                    break;
                }
                out.extend(
                    r.msgs
                        .into_iter()
                        .filter(|m| m.store_timestamp >= begin && m.store_timestamp <= end),
                );
                offset = r.next_begin_offset;
            }
        }
        out.sort_by_key(|m| std::cmp::Reverse((m.store_timestamp, m.commit_log_offset)));
        Ok(out.iter().take(MAX_MESSAGES).map(summary).collect())
    }

    /// One message in full. Only followed to brokers the name servers know.
    pub async fn message(&self, topic: &str, id: &str) -> Result<MessageDetail> {
        let id = nonempty("message id", id)?;
        let topic = Some(topic.trim()).filter(|t| !t.is_empty());
        let typed = self.typed()?;
        let m = typed
            .query_message_by_id(topic, id)
            .await?
            .ok_or_else(|| ConsoleError::NotFound(format!("no message with id {id}")))?;
        let trace = match typed
            .query_message_by_key(TRACE_TOPIC, &m.msg_id, 32, 0, i64::MAX)
            .await
        {
            Ok(v) => v.iter().map(|t| t.body_str()).collect(),
            Err(_) => Vec::new(),
        };
        let shown = &m.body[..m.body.len().min(MAX_BODY_SHOWN)];
        Ok(MessageDetail {
            summary: summary(&m),
            born_timestamp: m.born_timestamp,
            born_host: m.born_host.to_string(),
            store_host: m.store_host.to_string(),
            reconsume_times: m.reconsume_times,
            properties: m
                .properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body_text: String::from_utf8_lossy(shown).into_owned(),
            body_hex: hex(shown),
            body_truncated: m.body.len() > MAX_BODY_SHOWN,
            trace,
        })
    }

    /// Re-sends a stored message (a DLQ message goes to its group's retry topic), as
    /// `mqadmin resendMsgById`. The id must name a message on a broker the name servers know.
    pub async fn resend(&self, r: &ResendRequest) -> Result<Resent> {
        let id = nonempty("offset message id", &r.offset_msg_id)?;
        self.typed()?
            .query_message_by_id(None, id)
            .await?
            .ok_or_else(|| ConsoleError::NotFound(format!("no message with offset id {id}")))?;
        let dest = Some(r.topic.trim()).filter(|t| !t.is_empty());
        let done = cli::commands::resend_msg_by_id::resend(&self.admin, id, dest).await?;
        Ok(Resent {
            from_topic: done.from_topic,
            to_topic: done.to_topic,
            msg_id: done.msg_id,
            queue_id: done.queue_id,
            queue_offset: done.queue_offset,
        })
    }

    // ----- charts ----------------------------------------------------------------------------

    /// One chart sample: summed TPS and every group's lag (the first
    /// [`MAX_SAMPLED_GROUPS`]). A failure is recorded in the sample, not raised.
    pub async fn sample(&self) -> Sample {
        let mut s = Sample {
            t: now_ms(),
            in_tps: 0.0,
            out_tps: 0.0,
            lag: BTreeMap::new(),
            error: None,
        };
        match self.cluster().await {
            Ok(c) => {
                for b in &c.brokers {
                    s.in_tps += b.in_tps;
                    s.out_tps += b.out_tps;
                    if let Some(e) = &b.error {
                        s.error = Some(format!("{}: {e}", b.addr));
                    }
                }
            }
            Err(e) => {
                s.error = Some(e.message());
                return s;
            }
        }
        let groups = match self.admin.topic_list().await {
            Ok(l) => l
                .topic_list
                .iter()
                .filter_map(|t| t.strip_prefix("%RETRY%").map(str::to_string))
                .take(MAX_SAMPLED_GROUPS)
                .collect::<Vec<_>>(),
            Err(e) => {
                s.error = Some(e.to_string());
                return s;
            }
        };
        if let Ok(typed) = self.typed() {
            for g in groups {
                if let Ok(stats) = typed.consume_stats(&g, None).await {
                    s.lag.insert(g, stats.total_diff());
                }
            }
        }
        s
    }
}

fn offsets_of(m: BTreeMap<MessageQueue, i64>) -> Vec<QueueOffset> {
    m.into_iter()
        .map(|(mq, offset)| QueueOffset {
            topic: mq.topic,
            broker_name: mq.broker_name,
            queue_id: mq.queue_id,
            offset,
        })
        .collect()
}

/// How long a sample may take before the next one is due anyway.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_gaps() {
        let sys: BTreeSet<String> = ["DefaultCluster".to_string(), "broker-a".to_string()].into();
        assert_eq!(topic_kind("%RETRY%g", &sys), "retry");
        assert_eq!(topic_kind("%DLQ%g", &sys), "dlq");
        assert_eq!(topic_kind("broker-a", &sys), "system");
        assert_eq!(topic_kind("TBW102", &sys), "system");
        assert_eq!(topic_kind("DefaultCluster_REPLY_TOPIC", &sys), "system");
        assert_eq!(topic_kind("Orders", &sys), "normal");
        let rt = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            ha_gap(&rt(&[("haMaxGap", "42"), ("haConnectedSlaves", "1")])),
            Some(42)
        );
        assert_eq!(
            ha_gap(&rt(&[("haMaxGap", "0"), ("haConnectedSlaves", "0")])),
            None
        );
        assert_eq!(
            ha_gap(&rt(&[
                ("haMasterOffset", "100"),
                ("haLocalMaxOffset", "60")
            ])),
            Some(40)
        );
        assert_eq!(ha_gap(&rt(&[])), None);
        assert_eq!(hex(&[0, 255, 16]), "00 ff 10");
    }
}
