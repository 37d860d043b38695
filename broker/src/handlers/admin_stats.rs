//! Admin request codes Java `mqadmin` 4.9 uses beyond the original set:
//! GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305, `exportMetadata` / `exportMetrics`),
//! GET_CONSUMER_RUNNING_INFO (307, `consumerStatus`, `consumerProgress`) and
//! CONSUME_MESSAGE_DIRECTLY (309) forwarded to the client, GET_BROKER_CONSUME_STATS (317,
//! `brokerConsumeStats`), GET_ALL_PRODUCER_INFO (328, `producer`), DELETE_EXPIRED_COMMITLOG
//! (329), CLEAN_UNUSED_TOPIC (316) and QUERY_CONSUME_QUEUE (321). Bodies as Java lays them out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use remoting::body::admin::{
    ConsumeStats, ConsumeStatsList, OffsetWrapper, ProducerInfo, ProducerTableInfo,
};
use remoting::body::client::MessageQueue;
use remoting::body::topic::TopicList;
use remoting::header::admin::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumeStatsInBrokerHeader,
    GetConsumerRunningInfoRequestHeader,
};
use remoting::message::decode_offset_msg_id;
use remoting::{RemotingCommand, RequestCode, ResponseCode};
use tracing::warn;

use crate::config::BrokerConfig;
use crate::state::client_manager::ClientManager;
use crate::state::consumer_offset::ConsumerOffsetManager;
use crate::state::stats::BrokerStats;
use crate::state::subscription_group::SubscriptionGroupManager;
use crate::state::topic_config::TopicConfigManager;
use crate::store_api::MessageStoreApi;

/// What the further admin codes touch (built per request in [`crate::processor`]).
pub struct Deps<'a> {
    /// The start-up config.
    pub config: &'a BrokerConfig,
    /// The store, as the handlers use it.
    pub store: &'a dyn MessageStoreApi,
    /// The concrete store, for the clean-ups (absent on a broker over another store).
    pub message_store: &'a Option<std::sync::Arc<store::MessageStore>>,
    /// Topics.
    pub topics: &'a TopicConfigManager,
    /// Subscription groups.
    pub groups: &'a SubscriptionGroupManager,
    /// Committed offsets.
    pub offsets: &'a ConsumerOffsetManager,
    /// Producers and consumers (whose connections some codes are forwarded to).
    pub clients: &'a ClientManager,
    /// Counters.
    pub stats: &'a BrokerStats,
    /// The advertised `host:port`.
    pub broker_addr: &'a str,
}
use crate::state::stats::now_millis;

/// How long the broker waits for a client it forwards a request to (Java `Broker2Client`).
const CALL_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Topics Java's `TopicValidator` always lists as system topics, whatever the configuration.
const STATIC_SYSTEM_TOPICS: &[&str] = &[
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

fn error(req: &RemotingCommand, code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    req.response_to(code, Some(remark.into()))
}

fn with_body(req: &RemotingCommand, body: remoting::Result<Vec<u8>>) -> RemotingCommand {
    match body {
        Ok(b) => req.success().with_body(b),
        Err(e) => error(req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305): Java's static system topics plus this broker's
/// built-in ones (cluster, broker name, reply topic, trace topic), as a `TopicList` body.
pub fn system_topic_list(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let mut topics: std::collections::BTreeSet<String> =
        crate::state::topic_config::builtin_topics(ctx.config)
            .into_iter()
            .map(|t| t.topic_name)
            .collect();
    topics.extend(STATIC_SYSTEM_TOPICS.iter().map(|t| t.to_string()));
    let body = TopicList {
        topic_list: topics,
        broker_addr: None,
    };
    with_body(&req, body.encode())
}

/// Forwards an admin request to one consumer's connection and returns its answer (Java
/// `AdminBrokerProcessor.callConsumer`), with Java's codes and remarks when the consumer is not
/// online or does not answer.
async fn call_consumer(
    ctx: &Deps<'_>,
    req: &RemotingCommand,
    code: RequestCode,
    group: &str,
    client_id: &str,
    body: bytes::Bytes,
) -> RemotingCommand {
    let Some(ch) = ctx
        .clients
        .consumer_channels(group)
        .into_iter()
        .find(|c| c.client_id == client_id)
    else {
        return error(
            req,
            ResponseCode::SYSTEM_ERROR,
            format!("The Consumer <{group}> <{client_id}> not online"),
        );
    };
    let forwarded = RemotingCommand::request(code, req.ext_fields.clone()).with_body(body);
    match ch.conn.request(forwarded, CALL_CLIENT_TIMEOUT).await {
        Ok(mut resp) => {
            // The client's answer goes back as the answer to the admin's request.
            resp.opaque = req.opaque;
            resp
        }
        Err(remoting::RemotingError::Timeout { .. }) => error(
            req,
            ResponseCode::CONSUME_MSG_TIMEOUT,
            format!(
                "consumer <{group}> <{client_id}> Timeout: no answer in {CALL_CLIENT_TIMEOUT:?}"
            ),
        ),
        Err(e) => {
            warn!(group, client_id, error = %e, "forwarding to the consumer failed");
            error(
                req,
                ResponseCode::SYSTEM_ERROR,
                format!("invoke consumer <{group}> <{client_id}> Exception: {e}"),
            )
        }
    }
}

/// GET_CONSUMER_RUNNING_INFO (307): forwarded to the client, whose `ConsumerRunningInfo` body
/// comes back unchanged.
pub async fn consumer_running_info(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h: GetConsumerRunningInfoRequestHeader = match req.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    call_consumer(
        ctx,
        &req,
        RequestCode::GET_CONSUMER_RUNNING_INFO,
        &h.consumer_group,
        &h.client_id,
        req.body.clone(),
    )
    .await
}

/// CONSUME_MESSAGE_DIRECTLY (309): the message named by its offset id is read here and
/// forwarded with the request to the client, which consumes it and reports the result.
pub async fn consume_message_directly(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h: ConsumeMessageDirectlyResultRequestHeader = match req.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    let mut req = req;
    req.ext_fields
        .insert("brokerName", ctx.config.broker_name.clone());
    let body = h
        .msg_id
        .as_deref()
        .and_then(|id| decode_offset_msg_id(id).ok())
        .and_then(|id| ctx.store.read_record(id.commit_log_offset))
        .unwrap_or_default();
    call_consumer(
        ctx,
        &req,
        RequestCode::CONSUME_MESSAGE_DIRECTLY,
        &h.consumer_group,
        h.client_id.as_deref().unwrap_or(""),
        body,
    )
    .await
}

/// GET_ALL_PRODUCER_INFO (328): every producer group with its connections.
pub fn all_producer_info(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let now = now_millis();
    let data: BTreeMap<String, Vec<ProducerInfo>> = ctx
        .clients
        .all_producers()
        .into_iter()
        .map(|(group, chans)| {
            let infos = chans
                .iter()
                .map(|c| ProducerInfo {
                    client_id: c.client_id.clone(),
                    remote_ip: c.conn.peer().to_string(),
                    language: c.language,
                    version: c.version,
                    last_update_timestamp: now
                        - i64::try_from(
                            Instant::now()
                                .saturating_duration_since(c.last_update)
                                .as_millis(),
                        )
                        .unwrap_or(0),
                })
                .collect();
            (group, infos)
        })
        .collect();
    with_body(&req, ProducerTableInfo { data }.encode())
}

/// GET_BROKER_CONSUME_STATS (317): for every subscription group, the consume statistics of
/// each topic it has offsets for (Java `fetchAllConsumeStatsInBroker`; `isOrder` keeps ordered
/// topics only).
pub fn broker_consume_stats(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let h: GetConsumeStatsInBrokerHeader = match req.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    let mut out = ConsumeStatsList {
        broker_addr: ctx.broker_addr.to_string(),
        ..Default::default()
    };
    let tps = ctx.stats.tps().transferred[1];
    let groups: Vec<String> = ctx
        .groups
        .snapshot()
        .subscription_group_table
        .into_keys()
        .collect();
    for group in groups {
        let mut list = Vec::new();
        for topic in ctx.offsets.topics_of_group(&group) {
            let Some(tc) = ctx.topics.get(&topic) else {
                continue;
            };
            if h.is_order && !tc.order {
                continue;
            }
            // A group online without this topic among its subscriptions is skipped, as in Java.
            if let Some(info) = ctx.clients.consumer_group(&group)
                && !info.subscriptions.is_empty()
                && !info.subscriptions.contains_key(&topic)
            {
                continue;
            }
            let committed = ctx.offsets.queue_offsets(&group, &topic);
            let mut stats = ConsumeStats::default();
            for q in 0..tc.write_queue_nums {
                let broker_offset = ctx.store.max_offset(&topic, q).max(0);
                let consumer_offset = committed.get(&q).copied().unwrap_or(0).max(0);
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
            stats.consume_tps = tps;
            out.total_diff += stats.total_diff();
            list.push(stats);
        }
        let mut m = BTreeMap::new();
        m.insert(group, list);
        out.consume_stats_list.push(m);
    }
    with_body(&req, out.encode())
}

/// DELETE_EXPIRED_COMMITLOG (329): deletes expired commit-log files now, whatever the hour
/// (Java `executeDeleteFilesManually`; `mqadmin deleteExpiredCommitLog`).
pub async fn delete_expired_commit_log(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let Some(store) = ctx.message_store.clone() else {
        return error(&req, ResponseCode::SYSTEM_ERROR, "no local message store");
    };
    tracing::warn!("invoke deleteExpiredCommitLog start.");
    match tokio::task::spawn_blocking(move || store.delete_expired_files_now()).await {
        Ok(Ok(n)) => {
            tracing::warn!(files = n, "invoke deleteExpiredCommitLog end.");
            req.success()
        }
        Ok(Err(e)) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
        Err(e) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// CLEAN_UNUSED_TOPIC (316): drops the consume queues of topics the broker no longer has a
/// config for (Java `cleanUnusedTopic`; the schedule and transaction-op topics are kept).
pub async fn clean_unused_topic(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let Some(store) = ctx.message_store.clone() else {
        return error(&req, ResponseCode::SYSTEM_ERROR, "no local message store");
    };
    let known = ctx.topics.snapshot().topic_config_table;
    let mut unused: Vec<String> = store
        .queues()
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| {
            !known.contains_key(t)
                && t != "SCHEDULE_TOPIC_XXXX"
                && t != "RMQ_SYS_TRANS_OP_HALF_TOPIC"
        })
        .collect();
    unused.dedup();
    tracing::warn!(topics = ?unused, "invoke cleanUnusedTopic start.");
    let result = tokio::task::spawn_blocking(move || {
        for t in &unused {
            store.delete_topic(t)?;
        }
        Ok::<_, store::StoreError>(())
    })
    .await;
    match result {
        Ok(Ok(())) => {
            tracing::warn!("invoke cleanUnusedTopic end.");
            req.success()
        }
        Ok(Err(e)) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
        Err(e) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// CLEAN_EXPIRED_CONSUMEQUEUE (306, `mqadmin cleanExpiredCQ`): drops the consume queues whose
/// every entry points below the commit log's first offset (retention deleted all their
/// messages), as Java's `cleanExpiredConsumerQueue`. A queue never written is kept ("created
/// just now"), and so are the schedule and transaction topics, whose progress files refer to
/// their queues. The store removes consume queues topic by topic, so a topic goes when all its
/// queues are expired.
pub async fn clean_expired_consume_queue(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    let Some(store) = ctx.message_store.clone() else {
        return error(&req, ResponseCode::SYSTEM_ERROR, "no local message store");
    };
    let mut by_topic: std::collections::BTreeMap<String, bool> = Default::default();
    for (t, q) in store.queues() {
        let (min, max) = (
            store.min_offset_in_queue(&t, q),
            store.max_offset_in_queue(&t, q),
        );
        let expired = max > 0 && min >= max;
        let all = by_topic.entry(t).or_insert(true);
        *all &= expired;
    }
    let expired: Vec<String> = by_topic
        .into_iter()
        .filter(|(t, all)| {
            *all && !t.starts_with("SCHEDULE_TOPIC") && !t.starts_with("RMQ_SYS_TRANS")
        })
        .map(|(t, _)| t)
        .collect();
    tracing::warn!(topics = ?expired, "invoke cleanExpiredConsumerQueue start.");
    let result = tokio::task::spawn_blocking(move || {
        for t in &expired {
            store.delete_topic(t)?;
        }
        Ok::<_, store::StoreError>(())
    })
    .await;
    match result {
        Ok(Ok(())) => {
            tracing::warn!("invoke cleanExpiredConsumerQueue end.");
            req.success()
        }
        Ok(Err(e)) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
        Err(e) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// QUERY_CONSUME_QUEUE (321): `count` consume-queue entries of a queue from `index` (commit-log
/// offset, record size, tag code), as `mqadmin queryCq` shows them. An index outside the queue
/// answers SUCCESS without a body and a remark, as Java does.
pub fn query_consume_queue(ctx: &Deps<'_>, req: RemotingCommand) -> RemotingCommand {
    use remoting::body::admin::{ConsumeQueueData, QueryConsumeQueueResponseBody};
    use remoting::header::admin::QueryConsumeQueueRequestHeader;

    let h: QueryConsumeQueueRequestHeader = match req.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    let exists = ctx.topics.get(&h.topic).is_some_and(|tc| {
        h.queue_id >= 0 && h.queue_id < tc.read_queue_nums.max(tc.write_queue_nums)
    });
    if !exists {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!("{}@{} is not exist!", h.queue_id, h.topic),
        );
    }
    let min = ctx.store.min_offset(&h.topic, h.queue_id);
    let max = ctx.store.max_offset(&h.topic, h.queue_id);
    let mut body = QueryConsumeQueueResponseBody {
        max_queue_index: max,
        min_queue_index: min,
        ..Default::default()
    };
    if let Some(group) = h.consumer_group.as_deref() {
        match ctx.clients.subscription(group, &h.topic) {
            Some(sub) => {
                body.subscription_data = Some(sub);
                // No consumer filter data is kept (SQL92 selectors are compiled per pull).
                body.filter_data = Some("null".to_string());
            }
            None => body.filter_data = Some(format!("{group}@{} is not online!", h.topic)),
        }
    }
    if h.index < min || h.index >= max {
        return req.response_to(
            ResponseCode::SUCCESS,
            Some(format!(
                "Index {} of {}@{} is not exist!",
                h.index, h.queue_id, h.topic
            )),
        );
    }
    let want = usize::try_from(h.count.clamp(0, 1000)).unwrap_or(0);
    let delays = ctx.config.delay_levels_millis();
    let mut offset = h.index;
    // Never past `max`, though the queue may grow meanwhile: the answer's entries stay within
    // the range it reports.
    while body.queue_data.len() < want && offset < max {
        let before_max = usize::try_from(max - offset).unwrap_or(usize::MAX);
        let left = i32::try_from((want - body.queue_data.len()).min(before_max)).unwrap_or(1);
        let got = ctx.store.get(&h.topic, h.queue_id, offset, left, None);
        if got.records.is_empty() {
            break;
        }
        for raw in &got.records {
            let Ok(v) = remoting::message::decode_view(raw) else {
                continue;
            };
            // The schedule topic's tag code is the delivery time, as its queue stores it.
            let tags_code = if h.topic == "SCHEDULE_TOPIC_XXXX" {
                let level = v
                    .property(remoting::message::keys::DELAY)
                    .and_then(|d| d.trim().parse::<usize>().ok())
                    .unwrap_or(1)
                    .clamp(1, delays.len().max(1));
                v.store_timestamp
                    + delays
                        .get(level - 1)
                        .map_or(0, |d| i64::try_from(*d).unwrap_or(i64::MAX))
            } else {
                remoting::message::tags_code(v.property(remoting::message::keys::TAGS))
            };
            body.queue_data.push(ConsumeQueueData {
                physic_offset: v.physical_offset,
                physic_size: i32::try_from(raw.len()).unwrap_or(i32::MAX),
                tags_code,
                ..Default::default()
            });
        }
        offset = got.next_begin_offset.max(offset + 1);
    }
    with_body(&req, body.encode())
}
