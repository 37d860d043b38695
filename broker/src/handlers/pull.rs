//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361): the algorithm of spec §3.4 with long polling
//! (§10.1). Every response carries the four header fields, whatever its code.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use remoting::body::client::MessageModel;
use remoting::body::topic::perm;
use remoting::header::pull::{PullMessageRequestHeader, PullMessageResponseHeader};
use remoting::{CommandHeader, Connection, RemotingCommand, ResponseCode};
use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::filter;
use crate::handlers::Core;
use crate::metrics::BrokerMetrics;
use crate::state::client_manager::ClientManager;
use crate::state::consumer_offset::ConsumerOffsetManager;
use crate::state::long_polling::LongPolling;
use crate::store_api::{GetOutcome, GetStatus};

/// What a pull touches (built per request in [`crate::processor`]).
pub struct Deps<'a> {
    /// The config, role, permission, store, tables and counters ([`Core`]).
    pub core: Core<'a>,
    /// Consumers' subscriptions from their heartbeats.
    pub clients: &'a ClientManager,
    /// Committed offsets (the offset a pull piggybacks).
    pub offsets: &'a ConsumerOffsetManager,
    /// Where a pull with nothing to read parks.
    pub long_polling: &'a LongPolling,
    /// Cancelled on shutdown: a parked pull answers then.
    pub shutdown: &'a CancellationToken,
    /// Prometheus counters.
    pub metrics: &'a BrokerMetrics,
}

crate::handlers::deps_over_core!(Deps);

/// How often a parked pull re-checks its queue even without a wake-up (Java: 5 s).
const RECHECK: Duration = Duration::from_secs(5);

fn reply(req: &RemotingCommand, code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    // Even errors carry the four fields: some clients read them unconditionally.
    req.response_to(code, Some(remark.into()))
        .with_ext(PullMessageResponseHeader::default().to_ext())
}

/// A slave learns topic configs from its master every 10 s, but the messages arrive through
/// replication at once: a topic created just before its master died would be unreadable on the
/// slave although its messages are there. A slave therefore serves a queue it holds messages
/// for as a read-only topic until the config arrives (the seed promises reads from the slave
/// while the master is down).
fn replicated_topic(
    ctx: &Deps<'_>,
    topic: &str,
    queue_id: i32,
) -> Option<remoting::body::topic::TopicConfig> {
    if !ctx.is_slave() || queue_id < 0 || ctx.store.max_offset(topic, queue_id) <= 0 {
        return None;
    }
    Some(remoting::body::topic::TopicConfig {
        topic_name: topic.to_string(),
        read_queue_nums: queue_id + 1,
        write_queue_nums: 0,
        perm: perm::READ,
        ..Default::default()
    })
}

/// Handles a pull that arrived on `conn`.
pub async fn handle(ctx: &Deps<'_>, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    let h: PullMessageRequestHeader = match req.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => return reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    let flags = h.flags();
    let c = ctx.live();
    if !perm::is_readable(ctx.permission()) {
        return reply(
            &req,
            ResponseCode::NO_PERMISSION,
            format!("the broker[{}] pulling message is forbidden", c.broker_name),
        );
    }
    let group = match ctx.groups.find_or_create(&h.consumer_group) {
        Ok(Some(g)) => g,
        Ok(None) => {
            return reply(
                &req,
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group [{}] does not exist", h.consumer_group),
            );
        }
        Err(e) => return reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    if !group.consume_enable {
        return reply(
            &req,
            ResponseCode::NO_PERMISSION,
            format!("subscription group no permission, {}", h.consumer_group),
        );
    }
    let Some(tc) = ctx
        .topics
        .get(&h.topic)
        .or_else(|| replicated_topic(ctx, &h.topic, h.queue_id))
    else {
        return reply(
            &req,
            ResponseCode::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", h.topic),
        );
    };
    if !perm::is_readable(tc.perm) {
        return reply(
            &req,
            ResponseCode::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        );
    }
    if h.queue_id < 0 || h.queue_id >= tc.read_queue_nums {
        return reply(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id,
                h.topic,
                tc.read_queue_nums,
                req.ext_fields.get("clientId").unwrap_or("")
            ),
        );
    }
    let sub = if flags.has_subscription() {
        match filter::build_typed_subscription(
            &h.topic,
            h.subscription.as_deref().unwrap_or("*"),
            h.expression_type.as_deref(),
            h.sub_version,
        ) {
            Ok(s) => s,
            Err(_) => {
                return reply(
                    &req,
                    ResponseCode::SUBSCRIPTION_PARSE_FAILED,
                    "parse the consumer's subscription failed",
                );
            }
        }
    } else {
        let Some(info) = ctx.clients.consumer_group(&h.consumer_group) else {
            return reply(
                &req,
                ResponseCode::SUBSCRIPTION_NOT_EXIST,
                format!(
                    "the consumer's group info not exist, group: {}",
                    h.consumer_group
                ),
            );
        };
        if info.message_model == MessageModel::Broadcasting && !group.consume_broadcast_enable {
            return reply(
                &req,
                ResponseCode::NO_PERMISSION,
                format!(
                    "the consumer group[{}] can not consume by broadcast way",
                    h.consumer_group
                ),
            );
        }
        let Some(sub) = info.subscriptions.get(&h.topic).cloned() else {
            return reply(
                &req,
                ResponseCode::SUBSCRIPTION_NOT_EXIST,
                format!(
                    "the consumer's subscription not exist, group: {} topic: {}",
                    h.consumer_group, h.topic
                ),
            );
        };
        if sub.sub_version < h.sub_version {
            return reply(
                &req,
                ResponseCode::SUBSCRIPTION_NOT_LATEST,
                "the consumer's subscription not latest",
            );
        }
        sub
    };
    let selector = if sub.is_tag_type() {
        None
    } else if !c.enable_property_filter {
        return reply(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "The broker does not support consumer to filter message by {}",
                sub.expression_type
            ),
        );
    } else {
        match filter::sql_selector_of(&sub.expression_type, &sub.sub_string) {
            Ok(s) => Some(s),
            Err(_) => {
                return reply(
                    &req,
                    ResponseCode::FILTER_DATA_NOT_EXIST,
                    "The broker's consumer filter data is not exist!Your expression may be wrong!",
                );
            }
        }
    };
    let codes = filter::code_filter(&sub);
    let tag_filter = codes
        .as_ref()
        .map(|set| move |code: i64| filter::matches(set, code));
    let tag_filter_ref: Option<&(dyn Fn(i64) -> bool + Send + Sync)> = tag_filter
        .as_ref()
        .map(|f| f as &(dyn Fn(i64) -> bool + Send + Sync));

    let hold_ms = if c.long_polling_enable {
        u64::try_from(h.suspend_timeout_millis)
            .unwrap_or(0)
            .min(c.broker_suspend_max_time_millis)
    } else {
        c.short_polling_time_mills
    };
    // The offset the consumer piggybacks on its pull is stored now, as the request arrives (Java
    // does it on the first pass only): stored after a long hold it would overwrite any commit the
    // consumer made meanwhile and roll the group back. Forward only: this pull may be handled
    // after a later UPDATE_CONSUMER_OFFSET of the same consumer (see `commit_forward`).
    if flags.has_commit_offset() && !ctx.is_slave() {
        let max = ctx.store.max_offset(&h.topic, h.queue_id);
        ctx.offsets.commit_forward(
            &h.consumer_group,
            &h.topic,
            h.queue_id,
            h.commit_offset,
            max,
        );
    }
    let deadline = Instant::now() + Duration::from_millis(hold_ms);
    let max_msgs = h.max_msg_nums.clamp(1, 1024);
    let mut held = None;
    let mut first = true;
    let mut cur_offset = h.queue_offset;
    let outcome = loop {
        let notifier = ctx.long_polling.notifier(&h.topic, h.queue_id);
        let mut notified = pin!(notifier.notified());
        // Registered before reading, so a message stored between the read and the wait still
        // wakes us.
        notified.as_mut().enable();
        let outcome = filter::get_filtered(
            ctx.store,
            &h.topic,
            h.queue_id,
            cur_offset,
            max_msgs,
            tag_filter_ref,
            selector.as_deref(),
        );
        // Caught up with nothing matching: keep holding from past the skipped messages, so a
        // SQL92 consumer is woken only by a message it wants.
        let skipped_to_end = selector.is_some()
            && outcome.status == GetStatus::NoMatchedMessage
            && outcome.next_begin_offset >= outcome.max_offset;
        let nothing_yet = matches!(
            outcome.status,
            GetStatus::OffsetOverflowOne | GetStatus::OffsetFoundNull
        ) || (matches!(
            outcome.status,
            GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue
        ) && h.queue_offset == 0)
            || skipped_to_end;
        if !nothing_yet || !flags.has_suspend() || Instant::now() >= deadline {
            break outcome;
        }
        if skipped_to_end {
            cur_offset = outcome.next_begin_offset;
        }
        if first {
            first = false;
            match ctx.long_polling.try_hold(conn.id()) {
                Ok(g) => held = Some(g),
                // Too many parked pulls: say so explicitly. Java consumers back off for 3 s
                // on an error, where PULL_NOT_FOUND would make them pull again at once.
                Err(crate::state::long_polling::HoldRefused::Total(n)) => {
                    return reply(
                        &req,
                        ResponseCode::SYSTEM_BUSY,
                        format!("[OVERLOAD]too many held pull requests ({n}), try later"),
                    );
                }
                Err(crate::state::long_polling::HoldRefused::Connection(n)) => {
                    return reply(
                        &req,
                        ResponseCode::SYSTEM_BUSY,
                        format!(
                            "[OVERLOAD]too many held pull requests on this connection ({n}), try later"
                        ),
                    );
                }
            }
        }
        let wait_until = deadline.min(Instant::now() + RECHECK);
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(wait_until) => {}
            _ = ctx.shutdown.cancelled() => break outcome,
        }
    };
    drop(held);

    respond(
        ctx,
        &req,
        &h,
        group.broker_id,
        group.which_broker_when_consume_slowly,
        outcome,
    )
}

fn respond(
    ctx: &Deps<'_>,
    req: &RemotingCommand,
    h: &PullMessageRequestHeader,
    group_broker_id: i64,
    slow_broker_id: i64,
    outcome: GetOutcome,
) -> RemotingCommand {
    let c = ctx.live();
    let code = match outcome.status {
        GetStatus::Found => ResponseCode::SUCCESS,
        GetStatus::MessageWasRemoving | GetStatus::NoMatchedMessage => {
            ResponseCode::PULL_RETRY_IMMEDIATELY
        }
        GetStatus::NoMatchedLogicQueue | GetStatus::NoMessageInQueue => {
            if h.queue_offset != 0 {
                ResponseCode::PULL_OFFSET_MOVED
            } else {
                ResponseCode::PULL_NOT_FOUND
            }
        }
        GetStatus::OffsetFoundNull | GetStatus::OffsetOverflowOne => ResponseCode::PULL_NOT_FOUND,
        GetStatus::OffsetOverflowBadly | GetStatus::OffsetTooSmall => {
            ResponseCode::PULL_OFFSET_MOVED
        }
    };
    let suggest = if c.slave_read_enable {
        if outcome.suggest_pull_from_slave {
            slow_broker_id
        } else {
            group_broker_id
        }
    } else {
        0
    };
    let mut code = code;
    let mut suggest = suggest;
    if code == ResponseCode::PULL_OFFSET_MOVED && ctx.is_slave() && !c.offset_check_in_slave {
        code = ResponseCode::PULL_RETRY_IMMEDIATELY;
        suggest = group_broker_id;
    }
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: suggest,
        next_begin_offset: outcome.next_begin_offset,
        min_offset: outcome.min_offset,
        max_offset: outcome.max_offset,
        ..Default::default()
    };
    let mut resp = req
        .response_to(code, Some(outcome.status.name().to_string()))
        .with_ext(header.to_ext());
    if code == ResponseCode::SUCCESS {
        ctx.stats.get_found.fetch_add(1, Ordering::Relaxed);
        ctx.stats
            .get_transferred
            .fetch_add(outcome.records.len() as u64, Ordering::Relaxed);
        let n = outcome.records.len() as u64;
        resp.body = match outcome.joined {
            Some(b) => b,
            None => concat(outcome.records),
        };
        let (cluster, len) = (&ctx.config.broker_cluster_name, resp.body.len() as u64);
        (ctx.stats.detail).on_get(cluster, &h.topic, &h.consumer_group, n, len);
        ctx.metrics
            .on_pull(&h.topic, &h.consumer_group, n, resp.body.len() as u64);
    } else {
        ctx.stats.get_miss.fetch_add(1, Ordering::Relaxed);
    }
    resp
}

fn concat(records: Vec<Bytes>) -> Bytes {
    if records.len() == 1 {
        return records.into_iter().next().unwrap_or_default();
    }
    let mut buf = BytesMut::with_capacity(records.iter().map(Bytes::len).sum());
    for r in records {
        buf.extend_from_slice(&r);
    }
    buf.freeze()
}
