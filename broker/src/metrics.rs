//! Prometheus metrics of the broker (`metricsExporterType=PROM`; every metric is listed in
//! [`METRICS`] and in the generated `docs/metrics.md`).
//!
//! Hot paths only touch atomics: a put or a pull looks its topic's counters up under a read
//! lock (no allocation once the topic was seen) and adds to them; a response adds to a fixed
//! array indexed by request kind and response code; latencies go to lock-free histograms.
//! Everything else (commit-log size, disk ratio, dispatch and consumer lag, parked pulls,
//! connections, replication, delayed messages, process RSS and CPU) is read when Prometheus
//! scrapes, by [`BrokerCollector`]. With the exporter disabled the hooks return at once.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use remoting::{RequestCode, ResponseCode};
use telemetry::encode::{self, counter_series, gauge_series, gauge_series_f64};
use telemetry::{AtomicHistogram, Kind, MetricDef};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{BrokerConfig, MetricsExporterType};
use crate::error::{BrokerError, Result};
use crate::services::ha::HaService;
use crate::services::schedule::ScheduleService;
use crate::state::client_manager::ClientManager;
use crate::state::consumer_offset::ConsumerOffsetManager;
use crate::state::long_polling::LongPolling;
use crate::state::topic_config::TopicConfigManager;
use crate::store_api::MessageStoreApi;

const fn def(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [&'static str],
) -> MetricDef {
    MetricDef {
        name,
        kind,
        help,
        labels,
    }
}

/// `rocketmq_broker_info`.
pub const INFO: MetricDef = def(
    "rocketmq_broker_info",
    Kind::Gauge,
    "Always 1; labels name the broker (join other series on `instance` to get them); `role` and `broker_id` are the current ones, which a failover changes.",
    &["cluster", "broker", "broker_id", "role"],
);
/// Messages stored per topic.
pub const MESSAGES_IN: MetricDef = def(
    "rocketmq_broker_messages_in",
    Kind::Counter,
    "Messages stored by sends (a batch counts each message), per topic as sent (before delay or transaction redirection).",
    &["topic"],
);
/// Body bytes stored per topic.
pub const BYTES_IN: MetricDef = def(
    "rocketmq_broker_bytes_in",
    Kind::Counter,
    "Message body bytes stored by sends, per topic.",
    &["topic"],
);
/// Messages returned by pulls.
pub const MESSAGES_OUT: MetricDef = def(
    "rocketmq_broker_messages_out",
    Kind::Counter,
    "Messages returned by pulls, per topic and consumer group.",
    &["topic", "group"],
);
/// Bytes returned by pulls.
pub const BYTES_OUT: MetricDef = def(
    "rocketmq_broker_bytes_out",
    Kind::Counter,
    "Stored record bytes returned by pulls, per topic and consumer group.",
    &["topic", "group"],
);
/// Put latency.
pub const PUT_LATENCY: MetricDef = def(
    "rocketmq_broker_put_latency_seconds",
    Kind::Histogram,
    "Time from a send's turn at the store to its stored answer (flush and SYNC_MASTER replication waits included), seconds.",
    &[],
);
/// Responses by request kind and code.
pub const RESPONSES: MetricDef = def(
    "rocketmq_broker_responses",
    Kind::Counter,
    "Responses sent, by request kind (send, pull, send_back, end_transaction, heartbeat, other) and response code name (SUCCESS, SYSTEM_BUSY, FLUSH_DISK_TIMEOUT, PULL_NOT_FOUND…).",
    &["request", "code"],
);
/// Half messages stored.
pub const HALF_MESSAGES: MetricDef = def(
    "rocketmq_broker_transaction_half_messages",
    Kind::Counter,
    "Transactional half messages stored (each is later committed, rolled back or checked back).",
    &[],
);
/// Delayed messages waiting.
pub const DELAYED: MetricDef = def(
    "rocketmq_broker_delayed_messages",
    Kind::Gauge,
    "Delayed messages stored and not yet delivered, per delay level (1-based, messageDelayLevel).",
    &["level"],
);
/// Consumer lag.
pub const CONSUMER_LAG: MetricDef = def(
    "rocketmq_broker_consumer_lag_messages",
    Kind::Gauge,
    "Messages a consumer group has not committed yet: queue max offset minus committed offset, per group, topic and queue.",
    &["group", "topic", "queue"],
);
/// Parked pulls.
pub const PARKED_PULLS: MetricDef = def(
    "rocketmq_broker_parked_pulls",
    Kind::Gauge,
    "Pull requests parked by long polling, waiting for messages.",
    &[],
);
/// Client connections.
pub const CONNECTIONS: MetricDef = def(
    "rocketmq_broker_client_connections",
    Kind::Gauge,
    "Registered client connections by kind (producer, consumer; one client in both roles counts in each).",
    &["kind"],
);
/// Topics.
pub const TOPICS: MetricDef = def(
    "rocketmq_broker_topics",
    Kind::Gauge,
    "Topics this broker holds (system topics included).",
    &[],
);
/// Broker permission.
pub const PERMISSION: MetricDef = def(
    "rocketmq_broker_permission",
    Kind::Gauge,
    "brokerPermission bits now (6 read+write, 4 read-only after a write wipe, 2 write-only).",
    &[],
);
/// Commit-log bytes retained.
pub const COMMITLOG_BYTES: MetricDef = def(
    "rocketmq_store_commitlog_bytes",
    Kind::Gauge,
    "Commit-log bytes retained on disk: max offset minus min offset.",
    &[],
);
/// Commit-log max offset.
pub const COMMITLOG_MAX_OFFSET: MetricDef = def(
    "rocketmq_store_commitlog_max_offset",
    Kind::Gauge,
    "Commit-log end offset (bytes ever written; its rate is the write throughput).",
    &[],
);
/// Unflushed bytes.
pub const UNFLUSHED: MetricDef = def(
    "rocketmq_store_unflushed_bytes",
    Kind::Gauge,
    "Commit-log bytes written but not yet fsynced.",
    &[],
);
/// Dispatch lag.
pub const DISPATCH_LAG: MetricDef = def(
    "rocketmq_store_dispatch_lag_bytes",
    Kind::Gauge,
    "Commit-log bytes not yet dispatched to consume queues and the index (invisible to consumers meanwhile).",
    &[],
);
/// Disk ratio.
pub const DISK_RATIO: MetricDef = def(
    "rocketmq_store_disk_used_ratio",
    Kind::Gauge,
    "Used fraction (0-1) of the file system holding the commit log, as retention and the disk-full check measure it (compare with diskMaxUsedSpaceRatio / 100).",
    &[],
);
/// Disk full flag.
pub const DISK_FULL: MetricDef = def(
    "rocketmq_store_disk_full",
    Kind::Gauge,
    "1 while puts are refused because disk use passed diskSpaceWarningLevelRatio.",
    &[],
);
/// Flush latency.
pub const FLUSH_LATENCY: MetricDef = def(
    "rocketmq_store_flush_latency_seconds",
    Kind::Histogram,
    "Duration of each commit-log fsync, seconds.",
    &[],
);
/// Group-commit size.
pub const FLUSH_BATCH: MetricDef = def(
    "rocketmq_store_flush_batch_bytes",
    Kind::Histogram,
    "Bytes made durable by each commit-log fsync (under SYNC_FLUSH, one group commit shared by every put waiting).",
    &[],
);
/// HA bytes transferred.
pub const HA_TRANSFERRED: MetricDef = def(
    "rocketmq_broker_ha_transferred_bytes",
    Kind::Counter,
    "Commit-log bytes replicated: sent to slaves (on a master) or received from the master (on a slave); rate() is the transfer rate.",
    &["direction"],
);
/// Master: gap to the best slave.
pub const HA_GAP: MetricDef = def(
    "rocketmq_broker_ha_gap_bytes",
    Kind::Gauge,
    "Master only, once a slave acknowledged anything since start: commit-log bytes no slave holds yet (max offset minus the highest acknowledged offset). Grows while slaves are stopped.",
    &[],
);
/// Master: per-slave acknowledged offset.
pub const HA_SLAVE_OFFSET: MetricDef = def(
    "rocketmq_broker_ha_slave_acked_offset",
    Kind::Gauge,
    "Master only: highest commit-log offset each connected slave acknowledged.",
    &["slave"],
);
/// Master: per-slave gap.
pub const HA_SLAVE_GAP: MetricDef = def(
    "rocketmq_broker_ha_slave_gap_bytes",
    Kind::Gauge,
    "Master only: commit-log bytes each connected slave is behind.",
    &["slave"],
);
/// Master: per-slave in-sync flag.
pub const HA_SLAVE_IN_SYNC: MetricDef = def(
    "rocketmq_broker_ha_slave_in_sync",
    Kind::Gauge,
    "Master only: 1 when a connected slave caught up once and is within haMaxGapNotInSync.",
    &["slave"],
);
/// Master: in-sync slaves.
pub const HA_IN_SYNC: MetricDef = def(
    "rocketmq_broker_ha_in_sync_slaves",
    Kind::Gauge,
    "Master only: connected slaves that are in sync (SYNC_MASTER answers SLAVE_NOT_AVAILABLE at 0).",
    &[],
);
/// Slave: connected to the master.
pub const HA_MASTER_CONNECTED: MetricDef = def(
    "rocketmq_broker_ha_master_connected",
    Kind::Gauge,
    "Slave only: 1 while the replication connection to the master is up.",
    &[],
);

/// Every broker metric (besides `process_*`), in the order served.
pub const METRICS: &[MetricDef] = &[
    INFO,
    MESSAGES_IN,
    BYTES_IN,
    MESSAGES_OUT,
    BYTES_OUT,
    PUT_LATENCY,
    RESPONSES,
    HALF_MESSAGES,
    DELAYED,
    CONSUMER_LAG,
    PARKED_PULLS,
    CONNECTIONS,
    TOPICS,
    PERMISSION,
    COMMITLOG_BYTES,
    COMMITLOG_MAX_OFFSET,
    UNFLUSHED,
    DISPATCH_LAG,
    DISK_RATIO,
    DISK_FULL,
    FLUSH_LATENCY,
    FLUSH_BATCH,
    HA_TRANSFERRED,
    HA_GAP,
    HA_SLAVE_OFFSET,
    HA_SLAVE_GAP,
    HA_SLAVE_IN_SYNC,
    HA_IN_SYNC,
    HA_MASTER_CONNECTED,
];

/// Latency buckets, seconds: 0.1 ms to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Group-commit size buckets, bytes: 1 KiB to 16 MiB.
const BATCH_BUCKETS: &[f64] = &[
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
];

/// Request kinds responses are counted by.
const KINDS: [&str; 6] = [
    "send",
    "pull",
    "send_back",
    "end_transaction",
    "heartbeat",
    "other",
];
/// Response codes 0..CODES are counted one by one; the rest in one "other" slot.
const CODES: usize = 256;

/// The kind of a request, for [`BrokerMetrics::on_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestKind(usize);

impl RequestKind {
    /// The kind of `code`.
    pub fn of(code: RequestCode) -> RequestKind {
        RequestKind(match code {
            RequestCode::SEND_MESSAGE
            | RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE
            | RequestCode::SEND_REPLY_MESSAGE
            | RequestCode::SEND_REPLY_MESSAGE_V2 => 0,
            RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => 1,
            RequestCode::CONSUMER_SEND_MSG_BACK => 2,
            RequestCode::END_TRANSACTION => 3,
            RequestCode::HEART_BEAT => 4,
            _ => 5,
        })
    }
}

/// Messages and bytes of one topic (or topic and group).
#[derive(Debug, Default)]
struct Flow {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Flow {
    fn add(&self, messages: u64, bytes: u64) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// The counters the request handlers feed.
pub struct BrokerMetrics {
    enabled: bool,
    topics_in: RwLock<HashMap<String, Arc<Flow>>>,
    /// topic → group → flow: looked up by `&str` pairs without building a key.
    topics_out: RwLock<HashMap<String, HashMap<String, Arc<Flow>>>>,
    put_latency: AtomicHistogram,
    flush_latency: Arc<AtomicHistogram>,
    flush_batch: Arc<AtomicHistogram>,
    /// `KINDS.len()` × (`CODES` + 1) counters.
    responses: Box<[AtomicU64]>,
    half_messages: AtomicU64,
    addr: OnceLock<SocketAddr>,
}

impl fmt::Debug for BrokerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerMetrics")
            .field("enabled", &self.enabled)
            .field("addr", &self.addr.get())
            .finish_non_exhaustive()
    }
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        BrokerMetrics::new(false)
    }
}

impl BrokerMetrics {
    /// Counters that record only when `enabled` (the exporter is on).
    pub fn new(enabled: bool) -> Self {
        BrokerMetrics {
            enabled,
            topics_in: RwLock::new(HashMap::new()),
            topics_out: RwLock::new(HashMap::new()),
            put_latency: AtomicHistogram::new(LATENCY_BUCKETS, 1e-6),
            flush_latency: Arc::new(AtomicHistogram::new(LATENCY_BUCKETS, 1e-6)),
            flush_batch: Arc::new(AtomicHistogram::new(BATCH_BUCKETS, 1.0)),
            responses: (0..KINDS.len() * (CODES + 1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            half_messages: AtomicU64::new(0),
            addr: OnceLock::new(),
        }
    }

    /// True when the exporter is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The bound address of the metrics endpoint, once it serves.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr.get().copied()
    }

    /// A send stored `count` messages of `bytes` body bytes in `topic` after `latency`.
    pub fn on_put(&self, topic: &str, count: u64, bytes: u64, latency: Duration) {
        if !self.enabled {
            return;
        }
        let hit = self.topics_in.read().get(topic).cloned();
        let flow = match hit {
            Some(f) => f,
            None => self
                .topics_in
                .write()
                .entry(topic.to_string())
                .or_default()
                .clone(),
        };
        flow.add(count, bytes);
        self.put_latency.observe(latency.as_micros() as u64);
    }

    /// A pull by `group` returned `count` messages of `bytes` from `topic`.
    pub fn on_pull(&self, topic: &str, group: &str, count: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        let hit = self
            .topics_out
            .read()
            .get(topic)
            .and_then(|g| g.get(group))
            .cloned();
        let flow = match hit {
            Some(f) => f,
            None => self
                .topics_out
                .write()
                .entry(topic.to_string())
                .or_default()
                .entry(group.to_string())
                .or_default()
                .clone(),
        };
        flow.add(count, bytes);
    }

    /// A response with `code` to a request of `kind` was sent.
    pub fn on_response(&self, kind: RequestKind, code: i32) {
        if !self.enabled {
            return;
        }
        let c = usize::try_from(code)
            .ok()
            .filter(|c| *c < CODES)
            .unwrap_or(CODES);
        if let Some(slot) = self.responses.get(kind.0 * (CODES + 1) + c) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A transactional half message was stored.
    pub fn on_half_message(&self) {
        if self.enabled {
            self.half_messages.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn encode_own(&self, enc: &mut DescriptorEncoder<'_>) -> encode::Result {
        {
            let topics = self.topics_in.read();
            encode::family(enc, &MESSAGES_IN, |m| {
                for (t, f) in topics.iter() {
                    let v = f.messages.load(Ordering::Relaxed);
                    counter_series(m, &[("topic", t.as_str())], v)?;
                }
                Ok(())
            })?;
            encode::family(enc, &BYTES_IN, |m| {
                for (t, f) in topics.iter() {
                    let v = f.bytes.load(Ordering::Relaxed);
                    counter_series(m, &[("topic", t.as_str())], v)?;
                }
                Ok(())
            })?;
        }
        {
            let topics = self.topics_out.read();
            let each = |m: &mut prometheus_client::encoding::MetricEncoder<'_>,
                        pick: fn(&Flow) -> u64| {
                for (t, groups) in topics.iter() {
                    for (g, f) in groups {
                        let labels = [("topic", t.as_str()), ("group", g.as_str())];
                        counter_series(m, &labels, pick(f))?;
                    }
                }
                Ok(())
            };
            encode::family(enc, &MESSAGES_OUT, |m| {
                each(m, |f| f.messages.load(Ordering::Relaxed))
            })?;
            encode::family(enc, &BYTES_OUT, |m| {
                each(m, |f| f.bytes.load(Ordering::Relaxed))
            })?;
        }
        self.put_latency.encode(enc, &PUT_LATENCY)?;
        encode::family(enc, &RESPONSES, |m| {
            for (i, slot) in self.responses.iter().enumerate() {
                let v = slot.load(Ordering::Relaxed);
                if v == 0 {
                    continue;
                }
                let (kind, code) = (KINDS[i / (CODES + 1)], i % (CODES + 1));
                let name = if code == CODES {
                    "other".to_string()
                } else {
                    let rc = ResponseCode(code as i32);
                    rc.name().map_or_else(|| code.to_string(), str::to_string)
                };
                counter_series(m, &[("request", kind), ("code", name.as_str())], v)?;
            }
            Ok(())
        })?;
        encode::counter(
            enc,
            &HALF_MESSAGES,
            self.half_messages.load(Ordering::Relaxed),
        )
    }
}

/// What a scrape reads: the broker's tables, store and services, each shared with the broker
/// (the broker builds it once its services run).
pub struct Sources {
    /// The effective configuration.
    pub config: Arc<BrokerConfig>,
    /// The counters the request handlers feed.
    pub metrics: Arc<BrokerMetrics>,
    /// The store as the handlers use it (queue ends for lags).
    pub store: Arc<dyn MessageStoreApi>,
    /// The concrete store when the broker opened it (commit log, disk, flushes).
    pub message_store: Option<Arc<store::MessageStore>>,
    /// Delayed-message delivery.
    pub schedule: Option<Arc<ScheduleService>>,
    /// Replication.
    pub ha: Option<Arc<HaService>>,
    /// Committed consumer offsets.
    pub offsets: Arc<ConsumerOffsetManager>,
    /// Parked pulls.
    pub long_polling: Arc<LongPolling>,
    /// Producers and consumers.
    pub clients: Arc<ClientManager>,
    /// Topics.
    pub topics: Arc<TopicConfigManager>,
    /// Broker permission bits (admin may change them).
    pub permission: Arc<AtomicI32>,
    /// The role and broker id now (a failover changes them at run time).
    pub role: Arc<crate::state::fencing::RoleState>,
}

impl Sources {
    fn permission(&self) -> i32 {
        self.permission.load(Ordering::Relaxed)
    }
}

/// Reads the broker's state on every scrape.
pub struct BrokerCollector {
    ctx: Sources,
}

impl fmt::Debug for BrokerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrokerCollector")
    }
}

fn clamp(v: i64) -> i64 {
    v.max(0)
}

impl Collector for BrokerCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> encode::Result {
        let ctx = &self.ctx;
        let enc = &mut enc;
        let c = &ctx.config;
        // The role now, not the configured one: a failover promotes slaves and re-points
        // masters at run time.
        let role = ctx.role.role();
        encode::family(enc, &INFO, |m| {
            let id = ctx.role.broker_id().to_string();
            let labels = [
                ("cluster", c.broker_cluster_name.as_str()),
                ("broker", c.broker_name.as_str()),
                ("broker_id", id.as_str()),
                ("role", role.as_str()),
            ];
            gauge_series(m, &labels, 1)
        })?;
        ctx.metrics.encode_own(enc)?;

        // Delayed messages per level: what the schedule queue holds beyond delivery progress.
        encode::family(enc, &DELAYED, |m| {
            let Some(s) = &ctx.schedule else {
                return Ok(());
            };
            let done = s.offsets().offset_table;
            for level in 1..=c.delay_levels_millis().len() as i32 {
                let max = ctx
                    .store
                    .max_offset(crate::services::schedule::SCHEDULE_TOPIC, level - 1);
                let at = done.get(&level).copied().unwrap_or(0);
                let l = level.to_string();
                gauge_series(m, &[("level", l.as_str())], clamp(max - at))?;
            }
            Ok(())
        })?;
        encode::family(enc, &CONSUMER_LAG, |m| {
            let table = ctx.offsets.snapshot();
            for (key, queues) in &table.offset_table {
                let Some((topic, group)) = key.split_once('@') else {
                    continue;
                };
                for (q, committed) in queues {
                    let lag = clamp(ctx.store.max_offset(topic, *q) - committed);
                    let qs = q.to_string();
                    let labels = [("group", group), ("topic", topic), ("queue", qs.as_str())];
                    gauge_series(m, &labels, lag)?;
                }
            }
            Ok(())
        })?;
        encode::gauge(enc, &PARKED_PULLS, ctx.long_polling.held() as i64)?;
        encode::family(enc, &CONNECTIONS, |m| {
            let (p, cons) = ctx.clients.counts();
            gauge_series(m, &[("kind", "producer")], p as i64)?;
            gauge_series(m, &[("kind", "consumer")], cons as i64)
        })?;
        encode::gauge(enc, &TOPICS, ctx.topics.len() as i64)?;
        encode::gauge(enc, &PERMISSION, i64::from(ctx.permission()))?;

        let Some(store) = &ctx.message_store else {
            return Ok(());
        };
        let max = store.commit_log_max_offset();
        encode::gauge(
            enc,
            &COMMITLOG_BYTES,
            clamp(max - store.commit_log_min_offset()),
        )?;
        encode::gauge(enc, &COMMITLOG_MAX_OFFSET, max)?;
        encode::gauge(
            enc,
            &UNFLUSHED,
            clamp(max - store.commit_log_flushed_offset()),
        )?;
        encode::gauge(enc, &DISPATCH_LAG, clamp(max - store.dispatched_offset()))?;
        if let Some(r) = store.disk_usage_ratio() {
            encode::gauge_f64(enc, &DISK_RATIO, r)?;
        }
        encode::gauge(enc, &DISK_FULL, i64::from(store.is_disk_full()))?;
        ctx.metrics.flush_latency.encode(enc, &FLUSH_LATENCY)?;
        ctx.metrics.flush_batch.encode(enc, &FLUSH_BATCH)?;
        let stats = store.stats();
        encode::family(enc, &HA_TRANSFERRED, |m| {
            let sent = stats.ha_bytes_read.load(Ordering::Relaxed);
            let received = stats.ha_bytes_appended.load(Ordering::Relaxed);
            counter_series(m, &[("direction", "sent")], sent)?;
            counter_series(m, &[("direction", "received")], received)
        })?;

        let Some(ha) = &ctx.ha else {
            return Ok(());
        };
        if role.is_master() {
            let acked = ha.push_to_slave_max_offset();
            if acked > 0 {
                encode::gauge(enc, &HA_GAP, clamp(max - acked))?;
            }
            let links = ha.links();
            encode::family(enc, &HA_SLAVE_OFFSET, |m| {
                for l in &links {
                    let peer = l.peer.to_string();
                    let v = l.acked.load(Ordering::Acquire);
                    gauge_series(m, &[("slave", peer.as_str())], v)?;
                }
                Ok(())
            })?;
            encode::family(enc, &HA_SLAVE_GAP, |m| {
                for l in &links {
                    let peer = l.peer.to_string();
                    gauge_series(m, &[("slave", peer.as_str())], ha.gap(l))?;
                }
                Ok(())
            })?;
            encode::family(enc, &HA_SLAVE_IN_SYNC, |m| {
                for l in &links {
                    let peer = l.peer.to_string();
                    let v = if ha.in_sync(l) { 1.0 } else { 0.0 };
                    gauge_series_f64(m, &[("slave", peer.as_str())], v)?;
                }
                Ok(())
            })?;
            let in_sync = links.iter().filter(|l| ha.in_sync(l)).count();
            encode::gauge(enc, &HA_IN_SYNC, in_sync as i64)?;
        } else {
            let v = ha.slave_view();
            encode::gauge(enc, &HA_MASTER_CONNECTED, i64::from(v.connected))?;
        }
        Ok(())
    }
}

/// Binds the metrics endpoint when `metricsExporterType=PROM` (before anything else starts, so
/// a taken port stops the broker cleanly).
pub async fn bind(c: &BrokerConfig) -> Result<Option<TcpListener>> {
    if c.metrics_exporter_type != MetricsExporterType::Prom {
        return Ok(None);
    }
    telemetry::bind(&c.metrics_prom_exporter_host, c.metrics_prom_exporter_port)
        .await
        .map(Some)
        .map_err(|e| match e {
            telemetry::TelemetryError::Bind { addr, source } => BrokerError::Bind { addr, source },
            other => BrokerError::Store(other.to_string()),
        })
}

/// Serves the metrics on `listener` (from [`bind`]) until `shutdown`, and hooks the store's
/// fsyncs into the flush histograms.
pub fn start(
    ctx: Sources,
    listener: Option<TcpListener>,
    shutdown: &CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let listener = listener?;
    if let Some(store) = &ctx.message_store {
        let (lat, batch) = (
            ctx.metrics.flush_latency.clone(),
            ctx.metrics.flush_batch.clone(),
        );
        store
            .stats()
            .set_flush_observer(Arc::new(move |took: Duration, bytes: u64| {
                lat.observe(took.as_micros() as u64);
                batch.observe(bytes);
            }));
    }
    let mut registry = Registry::default();
    let metrics = ctx.metrics.clone();
    registry.register_collector(Box::new(BrokerCollector { ctx }));
    registry.register_collector(Box::new(telemetry::process::ProcessCollector::default()));
    let ep = Arc::new(telemetry::Endpoint::new(registry));
    if let Ok(a) = listener.local_addr() {
        let _ = metrics.addr.set(a);
        tracing::info!(addr = %a, "metrics endpoint serving /metrics");
    }
    Some(tokio::spawn(telemetry::serve(
        listener,
        ep,
        shutdown.clone(),
    )))
}
