//! Admin requests (spec §3.6, §3.10): topics, subscription groups, queries by key and id, and the
//! statistics `mqadmin` reads.

use std::collections::BTreeMap;

use remoting::body::admin::{
    ConsumeStats, OffsetWrapper, SubscriptionGroupConfig, TopicOffset, TopicStatsTable,
};
use remoting::body::client::{
    Connection as ConnInfo, ConsumerConnection, MessageQueue, ProducerConnection,
};
use remoting::body::kv::KVTable;
use remoting::body::topic::{TopicConfig, TopicFilterType, perm};
use remoting::header::admin::*;
use remoting::header::query::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use remoting::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::handlers::Core;
use crate::names;
use crate::services::ha::HaService;
use crate::services::schedule::ScheduleService;
use crate::state::client_manager::ClientManager;
use crate::state::consumer_offset::ConsumerOffsetManager;
use crate::state::long_polling::LongPolling;
use crate::state::stats::{now_millis, tps_text};

/// The version string reported to admin tools.
pub const BROKER_VERSION_DESC: &str = "V4_9_8";
/// The version ordinal reported to admin tools.
pub const BROKER_VERSION: i32 = remoting::command::CURRENT_VERSION;

fn error(req: &RemotingCommand, code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    req.response_to(code, Some(remark.into()))
}

macro_rules! decode_or_reply {
    ($req:expr, $ty:ty) => {
        match $req.ext_fields.decode::<$ty>() {
            Ok(h) => h,
            Err(e) => return error(&$req, ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    };
}

fn with_body(req: &RemotingCommand, body: remoting::Result<Vec<u8>>) -> RemotingCommand {
    match body {
        Ok(b) => req.success().with_body(b),
        Err(e) => error(req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// What the admin codes touch, one bundle for the family (built per request in
/// [`crate::processor`]). It is wide because the family is: between them the admin codes
/// read and change every table (topics, groups, offsets, clients) and the broker config, and
/// GET_BROKER_RUNTIME_INFO reports on the rest (send and pull queues, END_TRANSACTION in
/// flight, HA, delayed delivery). It still names what it holds, so a handler cannot reach the
/// services' internals or the connection-level state (ACL, notifier, shutdown).
pub struct Deps<'a> {
    /// The config, role, permission, store, tables and counters ([`Core`]).
    pub core: Core<'a>,
    /// Committed consumer offsets.
    pub offsets: &'a ConsumerOffsetManager,
    /// Producers and consumers.
    pub clients: &'a ClientManager,
    /// Parked pulls (runtime info's pull queue size).
    pub long_polling: &'a LongPolling,
    /// Sends in flight (runtime info's send queue size).
    pub send_permits: &'a Semaphore,
    /// END_TRANSACTION requests in flight (runtime info).
    pub end_transactions_in_flight: &'a AtomicUsize,
    /// Replication (set once HA runs; runtime info).
    pub ha: &'a OnceLock<Arc<HaService>>,
    /// Delayed delivery (set once at start-up; runtime info).
    pub schedule: &'a OnceLock<Arc<ScheduleService>>,
    /// The advertised `host:port`.
    pub broker_addr: &'a str,
}

crate::handlers::deps_over_core!(Deps);

/// UPDATE_AND_CREATE_TOPIC (17). Answers once the name servers were sent the new table (or the
/// registration timeout passed), as Java's broker does, so the route exists for the next command.
pub async fn create_topic(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, CreateTopicRequestHeader);
    if ctx.is_slave() {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            "cannot create topics on a slave",
        );
    }
    if let Err(e) = names::check_topic(&h.topic) {
        return error(&req, ResponseCode::SYSTEM_ERROR, e);
    }
    if h.topic == names::TBW102 || names::NOT_ALLOWED_SEND_TOPICS.contains(&h.topic.as_str()) {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!("The topic[{}] is conflict with system topic.", h.topic),
        );
    }
    if !(1..=1024).contains(&h.read_queue_nums) || !(1..=1024).contains(&h.write_queue_nums) {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            "queue numbers must be 1..=1024",
        );
    }
    if !perm::is_valid(h.perm) {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!("invalid perm {}", h.perm),
        );
    }
    // 5.x attributes: `+key=value` sets, `-key` removes, applied to the topic's current ones.
    let mut attributes = ctx
        .topics
        .get(&h.topic)
        .map(|t| t.attributes)
        .unwrap_or_default();
    if let Some(text) = h.attributes.as_deref()
        && let Err(e) = alter_attributes(&mut attributes, text)
    {
        return error(&req, ResponseCode::SYSTEM_ERROR, e);
    }
    let tc = TopicConfig {
        topic_name: h.topic.clone(),
        read_queue_nums: h.read_queue_nums,
        write_queue_nums: h.write_queue_nums,
        perm: h.perm,
        topic_filter_type: TopicFilterType::from_name(&h.topic_filter_type).unwrap_or_default(),
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        order: h.order,
        attributes,
    };
    if let Err(e) = ctx.topics.upsert(tc) {
        return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string());
    }
    let limit = Duration::from_millis(ctx.config.register_broker_timeout_mills.max(100));
    ctx.topics.wait_announced(limit).await;
    req.success()
}

/// Applies a 5.x attribute string (`+message.type=FIFO,-queue.type`, Java's
/// `AttributeParser`) to `current`: `+key=value` sets a key, `-key` removes it. Keys are stored
/// without the sign, as the Java broker stores them.
pub fn alter_attributes(current: &mut BTreeMap<String, String>, text: &str) -> Result<(), String> {
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(set) = item.strip_prefix('+') {
            let (k, v) = set
                .split_once('=')
                .ok_or_else(|| format!("attribute {item:?}: expected +key=value"))?;
            if k.is_empty() {
                return Err(format!("attribute {item:?}: empty key"));
            }
            current.insert(k.to_string(), v.to_string());
        } else if let Some(k) = item.strip_prefix('-') {
            if k.is_empty() || k.contains('=') {
                return Err(format!("attribute {item:?}: expected -key"));
            }
            current.remove(k);
        } else {
            return Err(format!(
                "attribute {item:?}: must start with '+' (set) or '-' (remove)"
            ));
        }
    }
    Ok(())
}

/// DELETE_TOPIC_IN_BROKER (215): config, consume queues and offsets.
pub fn delete_topic(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, DeleteTopicRequestHeader);
    if let Err(e) = names::check_topic(&h.topic) {
        return error(&req, ResponseCode::SYSTEM_ERROR, e);
    }
    if let Err(e) = ctx.topics.delete(&h.topic) {
        return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string());
    }
    ctx.offsets.remove_topic(&h.topic);
    ctx.store.delete_topic(&h.topic);
    ctx.stats.detail.on_topic_deleted(&h.topic);
    req.success()
}

/// GET_ALL_TOPIC_CONFIG (21).
pub fn all_topic_config(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    with_body(&req, ctx.topics.snapshot().encode())
}

/// GET_TOPIC_CONFIG (351, 5.x): the body is the TopicConfig JSON (5.x's
/// `TopicConfigAndQueueMapping` is a TopicConfig with an optional mapping).
pub fn topic_config(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, GetTopicConfigRequestHeader);
    match ctx.topics.get(&h.topic) {
        Some(tc) => with_body(&req, remoting::fastjson::to_vec(&tc)),
        None => error(
            &req,
            ResponseCode::TOPIC_NOT_EXIST,
            format!("No topic in this broker. topic: {}", h.topic),
        ),
    }
}

/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200).
pub fn create_group(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let g = match SubscriptionGroupConfig::decode(&req.body) {
        Ok(g) => g,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    if let Err(e) = names::check_group(&g.group_name) {
        return error(&req, ResponseCode::SYSTEM_ERROR, e);
    }
    match ctx.groups.upsert(g) {
        Ok(()) => req.success(),
        Err(e) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201).
pub fn all_groups(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    with_body(&req, ctx.groups.snapshot().encode())
}

/// DELETE_SUBSCRIPTIONGROUP (207).
pub fn delete_group(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, DeleteSubscriptionGroupRequestHeader);
    if let Err(e) = ctx.groups.delete(&h.group_name) {
        return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string());
    }
    if h.remove_offset == Some(true) {
        ctx.offsets.remove_group(&h.group_name);
    }
    ctx.stats.detail.on_group_deleted(&h.group_name);
    req.success()
}

/// GET_ALL_CONSUMER_OFFSET (43).
pub fn all_consumer_offsets(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    with_body(&req, ctx.offsets.snapshot().encode())
}

/// QUERY_MESSAGE (12).
pub fn query_message(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, QueryMessageRequestHeader);
    let max = if h.unique_key_query == Some(true) {
        ctx.config.default_query_max_num as usize
    } else {
        usize::try_from(h.max_num)
            .unwrap_or(0)
            .min(ctx.config.max_msgs_num_batch as usize)
    };
    let out = ctx.store.query_by_key(
        &h.topic,
        &h.key,
        max.max(1),
        h.begin_timestamp,
        h.end_timestamp,
    );
    let header = QueryMessageResponseHeader {
        index_last_update_timestamp: out.index_last_update_timestamp,
        index_last_update_phyoffset: out.index_last_update_phy_offset,
    };
    if out.records.is_empty() {
        return error(
            &req,
            ResponseCode::QUERY_NOT_FOUND,
            "can not find message, maybe time range not correct",
        )
        .with_ext(header.to_ext());
    }
    let body: Vec<u8> = out.records.iter().flat_map(|r| r.iter().copied()).collect();
    req.success().with_ext(header.to_ext()).with_body(body)
}

/// VIEW_MESSAGE_BY_ID (33).
pub fn view_message(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, ViewMessageRequestHeader);
    match ctx.store.read_record(h.offset) {
        Some(r) => req.success().with_body(r),
        None => error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!("can not find message by the offset, {}", h.offset),
        ),
    }
}

/// GET_TOPIC_STATS_INFO (202).
pub fn topic_stats(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, GetTopicStatsInfoRequestHeader);
    let Some(tc) = ctx.topics.get(&h.topic) else {
        return error(
            &req,
            ResponseCode::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic),
        );
    };
    let mut table = TopicStatsTable::default();
    for q in 0..tc.write_queue_nums.max(tc.read_queue_nums) {
        let min = ctx.store.min_offset(&h.topic, q).max(0);
        let max = ctx.store.max_offset(&h.topic, q).max(0);
        let last = if max > 0 {
            ctx.store.store_time_at(&h.topic, q, max - 1).max(0)
        } else {
            0
        };
        table.offset_table.insert(
            MessageQueue::new(&h.topic, &ctx.config.broker_name, q),
            TopicOffset {
                min_offset: min,
                max_offset: max,
                last_update_timestamp: last,
            },
        );
    }
    with_body(&req, table.encode())
}

/// GET_CONSUME_STATS (208).
pub fn consume_stats(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, GetConsumeStatsRequestHeader);
    let topics: Vec<String> = match h.topic.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => vec![t.to_string()],
        None => {
            let mut t = ctx.offsets.topics_of_group(&h.consumer_group);
            if let Some(info) = ctx.clients.consumer_group(&h.consumer_group) {
                t.extend(info.subscriptions.keys().cloned());
            }
            t.sort();
            t.dedup();
            t
        }
    };
    let mut stats = ConsumeStats::default();
    for topic in topics {
        let Some(tc) = ctx.topics.get(&topic) else {
            continue;
        };
        // Only topics the group subscribes to or has offsets for.
        let committed = ctx.offsets.queue_offsets(&h.consumer_group, &topic);
        let subscribed = ctx
            .clients
            .subscription(&h.consumer_group, &topic)
            .is_some();
        if committed.is_empty() && !subscribed {
            continue;
        }
        for q in 0..tc.read_queue_nums {
            let broker_offset = ctx.store.max_offset(&topic, q).max(0);
            let consumer_offset = committed.get(&q).copied().unwrap_or(0);
            let last_timestamp = if consumer_offset > 0 {
                ctx.store
                    .store_time_at(&topic, q, consumer_offset - 1)
                    .max(0)
            } else {
                0
            };
            stats.offset_table.insert(
                MessageQueue::new(&topic, &ctx.config.broker_name, q),
                OffsetWrapper {
                    broker_offset,
                    consumer_offset,
                    pull_offset: None,
                    last_timestamp,
                },
            );
        }
    }
    stats.consume_tps = ctx.stats.tps().transferred[1];
    with_body(&req, stats.encode())
}

fn conn_info(ch: &crate::state::client_manager::ClientChannel) -> ConnInfo {
    ConnInfo {
        client_id: ch.client_id.clone(),
        client_addr: ch.conn.peer().to_string(),
        language: ch.language,
        version: ch.version,
    }
}

/// GET_CONSUMER_CONNECTION_LIST (203).
pub fn consumer_connections(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, GetConsumerConnectionListRequestHeader);
    let Some(info) = ctx.clients.consumer_group(&h.consumer_group) else {
        return error(
            &req,
            ResponseCode::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        );
    };
    let body = ConsumerConnection {
        connection_set: info.channels.values().map(conn_info).collect(),
        subscription_table: info.subscriptions.clone(),
        consume_type: info.consume_type.clone(),
        message_model: info.message_model.clone(),
        consume_from_where: info.consume_from_where.clone(),
    };
    with_body(&req, body.encode())
}

/// GET_PRODUCER_CONNECTION_LIST (204).
pub fn producer_connections(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, GetProducerConnectionListRequestHeader);
    let chans = ctx.clients.producer_channels(&h.producer_group);
    if chans.is_empty() {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!("the producer group[{}] not exist", h.producer_group),
        );
    }
    let body = ProducerConnection {
        connection_set: chans.iter().map(conn_info).collect(),
    };
    with_body(&req, body.encode())
}

/// GET_BROKER_CONFIG (26): the config in effect as properties text (the run-time keys as
/// UPDATE_BROKER_CONFIG last set them, the current `brokerPermission`, `brokerRole` and
/// `brokerId`), then the keys of Java
/// 4.9's config objects this broker has no counterpart of (see [`crate::java_config_keys`]).
pub fn broker_config(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let mut ext = remoting::ExtFields::new();
    ext.insert("version", r#"{"counter":0,"timestamp":0}"#);
    let mut config = (*ctx.live()).clone();
    config.broker_permission = ctx.permission();
    // The role and id now: a failover changes them at run time (docs/failover.md), and
    // mqadmin getBrokerConfig must not show the role the broker was started with.
    config.broker_role = ctx.role.role();
    config.broker_id = ctx.role.broker_id();
    let text = crate::java_config_keys::render(&config, ctx.broker_addr);
    req.success().with_ext(ext).with_body(text.into_bytes())
}

/// UPDATE_BROKER_CONFIG (25): body = properties text, handled by
/// [`crate::state::runtime_config::RuntimeConfig::update`]: paths, addresses, identity and unknown keys
/// refused with NO_PERMISSION, run-time keys applied at once, every accepted key written to the
/// config file. All or nothing.
pub fn update_broker_config(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    use crate::state::runtime_config::UpdateRefused;
    let text = String::from_utf8_lossy(&req.body);
    let props = remoting::properties::parse(&text);
    if props.is_empty() {
        return req.success();
    }
    let outcome = match ctx.runtime.update(&props) {
        Ok(o) => o,
        Err(UpdateRefused::Keys(m)) => {
            tracing::warn!(keys = ?props.keys().collect::<Vec<_>>(), "remote config update refused");
            return error(&req, ResponseCode::NO_PERMISSION, m);
        }
        Err(UpdateRefused::Value(m)) => {
            return error(&req, ResponseCode::SYSTEM_ERROR, m);
        }
    };
    if props.contains_key("brokerPermission") {
        let p = ctx.live().broker_permission;
        let old = ctx.permission.swap(p, std::sync::atomic::Ordering::Relaxed);
        if old != p {
            tracing::info!(old, new = p, "broker permission changed");
            if let Err(e) = ctx.topics.touch() {
                return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string());
            }
        }
    }
    tracing::info!(applied = ?outcome.applied, at_restart = ?outcome.at_restart, file = %outcome.file.display(), "broker config updated remotely");
    let mut parts = Vec::new();
    if !outcome.applied.is_empty() {
        parts.push(format!("applied now: {}", outcome.applied.join(", ")));
    }
    match &outcome.persist_error {
        None if !outcome.at_restart.is_empty() => parts.push(format!(
            "written to {}, in effect after a restart: {}",
            outcome.file.display(),
            outcome.at_restart.join(", ")
        )),
        None => {}
        Some(e) => {
            tracing::warn!(error = %e, "remote config update not persisted");
            parts.push(format!(
                "not persisted ({e}): run-time keys hold until a restart"
            ));
            if !outcome.at_restart.is_empty() {
                parts.push(format!(
                    "without effect (read at start only): {}",
                    outcome.at_restart.join(", ")
                ));
            }
        }
    }
    let remark = parts.join("; ");
    let mut resp = req.success();
    resp.remark = Some(remark);
    resp
}

fn runtime_formatted(secs: u64) -> String {
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The GET_BROKER_RUNTIME_INFO table: every key Java's `AdminBrokerProcessor.prepareRuntimeInfo`
/// and `DefaultMessageStore.getRuntimeInfo` return, which `mqadmin clusterList` and
/// `brokerStatus` read (a missing key makes them fail).
pub fn runtime_info(ctx: &Deps<'_>) -> BTreeMap<String, String> {
    use std::sync::atomic::Ordering::Relaxed;
    let s = ctx.store.stats();
    let st = &ctx.stats;
    let tps = st.tps();
    let (put_yest, put_today, get_yest, get_today) = st.day_marks();
    let put_total = st.put_total.load(Relaxed);
    let get_total = st.get_transferred.load(Relaxed);
    let put_bytes = st.put_bytes.load(Relaxed);
    let (p_conns, c_conns) = ctx.clients.counts();
    // The store's definition (store::fs::disk_used_ratio), which its disk checks act on.
    let disk_ratio = store::fs::used_ratio(s.disk_total_bytes, s.disk_free_bytes);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let c = &ctx.config;
    let entries: Vec<(&str, String)> = vec![
        ("brokerVersionDesc", BROKER_VERSION_DESC.to_string()),
        ("brokerVersion", BROKER_VERSION.to_string()),
        ("msgPutTotalYesterdayMorning", put_yest.to_string()),
        ("msgPutTotalTodayMorning", put_today.to_string()),
        ("msgPutTotalTodayNow", put_total.to_string()),
        ("msgGetTotalYesterdayMorning", get_yest.to_string()),
        ("msgGetTotalTodayMorning", get_today.to_string()),
        ("msgGetTotalTodayNow", get_total.to_string()),
        ("sendThreadPoolQueueSize", (c.send_thread_pool_queue_capacity as usize).saturating_sub(ctx.send_permits.available_permits()).to_string()),
        ("sendThreadPoolQueueCapacity", c.send_thread_pool_queue_capacity.to_string()),
        ("pullThreadPoolQueueSize", ctx.long_polling.held().to_string()),
        ("pullThreadPoolQueueCapacity", c.pull_thread_pool_queue_capacity.to_string()),
        ("queryThreadPoolQueueSize", "0".to_string()),
        ("EndTransactionQueueSize", ctx.end_transactions_in_flight.load(Relaxed).to_string()),
        // Java's default `endTransactionPoolQueueCapacity`; END_TRANSACTION is not pooled here.
        ("EndTransactionThreadPoolQueueCapacity", "100000".to_string()),
        ("queryThreadPoolQueueCapacity", "20000".to_string()),
        ("sendThreadPoolQueueHeadWaitTimeMills", "0".to_string()),
        ("pullThreadPoolQueueHeadWaitTimeMills", "0".to_string()),
        ("queryThreadPoolQueueHeadWaitTimeMills", "0".to_string()),
        ("dispatchBehindBytes", s.dispatch_behind_bytes.to_string()),
        ("pageCacheLockTimeMills", s.page_cache_lock_time_millis.to_string()),
        ("earliestMessageTimeStamp", s.earliest_message_time.to_string()),
        ("startAcceptSendRequestTimeStamp", c.start_accept_send_request_time_stamp.to_string()),
        ("bootTimestamp", st.boot_millis.to_string()),
        ("runtime", runtime_formatted(st.boot.elapsed().as_secs())),
        ("putMessageEntireTimeMax", st.put_time_max_ms.load(Relaxed).to_string()),
        ("putMessageTimesTotal", put_total.to_string()),
        ("putMessageSizeTotal", put_bytes.to_string()),
        ("putMessageDistributeTime", "[<=0ms]:0 [0~10ms]:0 [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:0 ".to_string()),
        ("putMessageAverageSize", format!("{}", if put_total > 0 { put_bytes as f64 / put_total as f64 } else { 0.0 })),
        ("dispatchMaxBuffer", "0".to_string()),
        ("getMessageEntireTimeMax", "0".to_string()),
        ("putTps", tps_text(tps.put)),
        ("getFoundTps", tps_text(tps.found)),
        ("getMissTps", tps_text(tps.miss)),
        ("getTotalTps", tps_text([tps.found[0] + tps.miss[0], tps.found[1] + tps.miss[1], tps.found[2] + tps.miss[2]])),
        ("getTransferedTps", tps_text(tps.transferred)),
        // 5.x tools spell it correctly.
        ("getTransferredTps", tps_text(tps.transferred)),
        ("commitLogDirCapacity", format!("Total : {:.2} GiB, Free : {:.2} GiB.", gib(s.disk_total_bytes), gib(s.disk_free_bytes))),
        ("commitLogDiskRatio", format!("{disk_ratio}")),
        ("putMessageFailedTimes", s.put_message_failed_times.to_string()),
        ("consumeQueueDiskRatio", format!("{disk_ratio}")),
        ("commitLogMinOffset", s.commit_log_min_offset.to_string()),
        ("commitLogMaxOffset", s.commit_log_max_offset.to_string()),
        ("remainTransientStoreBufferNumbs", "2147483647".to_string()),
        ("remainHowManyDataToCommit", "0".to_string()),
        ("remainHowManyDataToFlush", "0".to_string()),
        ("brokerRole", ctx.role.role().as_str().to_string()), // the role now (failover may change it)
        ("producerConnections", p_conns.to_string()),
        ("consumerConnections", c_conns.to_string()),
        ("brokerActive", "true".to_string()),
        ("now", now_millis().to_string()),
    ];
    // Java 4.9 also reports the ratio per commit-log directory.
    let per_dir = (
        format!("commitLogDiskRatio_{}", c.commit_log_dir()),
        format!("{disk_ratio}"),
    );
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(std::iter::once(per_dir))
        // Replication state (brokerStatus): connected slaves, acks, gap, in sync.
        .chain(ctx.ha.get().map(|h| h.runtime_info()).unwrap_or_default())
        // Java's formats and the latency / schedule keys (later entries win).
        .chain(crate::handlers::runtime_extras::entries(
            ctx.config,
            ctx.store,
            ctx.stats,
            ctx.schedule.get().map(|s| &**s),
        ))
        // Java reports it only with the transient store pool.
        .filter(|(k, _)| k != "remainHowManyDataToCommit" || c.transient_store_pool_enable)
        .collect()
}

/// GET_BROKER_RUNTIME_INFO (28).
pub fn broker_runtime_info(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    with_body(
        &req,
        KVTable {
            table: runtime_info(ctx),
        }
        .encode(),
    )
}

/// QUERY_TOPIC_CONSUME_BY_WHO (300): groups with offsets on the topic or subscribed to it.
pub fn topic_consumed_by(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, QueryTopicConsumeByWhoRequestHeader);
    let mut groups: std::collections::BTreeSet<String> = ctx
        .offsets
        .snapshot()
        .offset_table
        .keys()
        .filter_map(|k| k.split_once('@'))
        .filter(|(t, _)| *t == h.topic)
        .map(|(_, g)| g.to_string())
        .collect();
    for (g, topics) in ctx.clients.consumer_groups() {
        if topics.contains(&h.topic) {
            groups.insert(g);
        }
    }
    with_body(
        &req,
        remoting::body::admin::GroupList { group_list: groups }.encode(),
    )
}

/// INVOKE_BROKER_TO_RESET_OFFSET (222): each queue of the topic goes back to the first message
/// stored at or after `timestamp` (-1: the end; forwards only with `isForce`); the new offsets
/// are committed and sent to every online member of the group (RESET_CONSUMER_CLIENT_OFFSET,
/// oneway). A group with no online member gets CONSUMER_NOT_ONLINE, as in Java 4.9.8, and
/// nothing changes.
pub fn reset_offset(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    use remoting::body::admin::ResetOffsetBody;
    let h = decode_or_reply!(req, ResetOffsetRequestHeader);
    let Some(tc) = ctx.topics.get(&h.topic) else {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "[reset-offset] reset offset failed, no topic in this broker. topic={}",
                h.topic
            ),
        );
    };
    let channels = ctx.clients.consumer_channels(&h.group);
    if channels.is_empty() {
        return error(
            &req,
            ResponseCode::CONSUMER_NOT_ONLINE,
            format!(
                "Consumer not online, so can not reset offset, Group: {} Topic: {} Timestamp: {}",
                h.group, h.topic, h.timestamp
            ),
        );
    }
    let mut body = ResetOffsetBody::default();
    for q in 0..tc.write_queue_nums {
        if h.queue_id.is_some_and(|only| only != q) {
            continue;
        }
        let current = ctx.offsets.query(&h.group, &h.topic, q).unwrap_or(0);
        let target = match h.offset {
            Some(o) => o,
            None if h.timestamp == -1 => ctx.store.max_offset(&h.topic, q),
            None => ctx.store.offset_by_time(&h.topic, q, h.timestamp),
        }
        .max(0);
        let new = if h.is_force || target < current {
            target
        } else {
            current
        };
        let max = ctx.store.max_offset(&h.topic, q);
        ctx.offsets.commit(&h.group, &h.topic, q, new, max);
        body.offset_table
            .insert(MessageQueue::new(&h.topic, &ctx.config.broker_name, q), new);
    }
    let encoded = match body.encode() {
        Ok(b) => b,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    for ch in channels {
        let notify =
            RemotingCommand::request(RequestCode::RESET_CONSUMER_CLIENT_OFFSET, h.to_ext())
                .with_body(encoded.clone());
        tokio::spawn(async move {
            if let Err(e) = ch.conn.oneway(notify).await {
                tracing::debug!(client = %ch.client_id, error = %e, "reset offset notification failed");
            }
        });
    }
    tracing::info!(group = %h.group, topic = %h.topic, timestamp = h.timestamp, "consumer offsets reset");
    req.success().with_body(encoded)
}

#[cfg(test)]
mod tests {
    use super::alter_attributes;
    use std::collections::BTreeMap;

    #[test]
    fn attributes_are_set_and_removed_by_sign() {
        let mut m = BTreeMap::from([("queue.type".to_string(), "BatchCQ".to_string())]);
        alter_attributes(&mut m, "+message.type=FIFO, -queue.type").unwrap();
        assert_eq!(
            m,
            BTreeMap::from([("message.type".to_string(), "FIFO".to_string())])
        );
        assert!(alter_attributes(&mut m, "message.type=NORMAL").is_err());
        assert!(alter_attributes(&mut m, "+novalue").is_err());
        assert!(alter_attributes(&mut m, "-k=v").is_err());
        assert_eq!(
            m["message.type"], "FIFO",
            "a refused string changes nothing it reached"
        );
    }
}
