//! CONSUMER_SEND_MSG_BACK (36, spec §3.3, §10.4): a consumer hands back a message its listener
//! failed. The broker re-stores it in `%RETRY%<group>` with the next delay level, counting
//! RECONSUME_TIME, or in `%DLQ%<group>` once the group's `retryMaxTimes` (or the header's
//! `maxReconsumeTimes`) is reached.

use remoting::body::topic::perm;
use remoting::header::send::ConsumerSendMsgBackRequestHeader;
use remoting::message::{decode, encode_offset_msg_id, keys};
use remoting::{Connection, RemotingCommand, ResponseCode};
use tracing::{info, warn};

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use crate::handlers::Core;
use crate::names;
use crate::store_api::PutStatus;

/// What CONSUMER_SEND_MSG_BACK touches (built per request in [`crate::processor`]).
pub struct Deps<'a> {
    /// The config, role, permission, store, tables and counters ([`Core`]).
    pub core: Core<'a>,
    /// STOREHOST stamped into the retry.
    pub store_host: SocketAddr,
}

crate::handlers::deps_over_core!(Deps);

/// First retry level the broker picks when the client leaves it to the broker (`delayLevel` 0):
/// `3 + reconsumeTimes` (Java).
pub const FIRST_RETRY_LEVEL: i32 = 3;

fn reply(req: &RemotingCommand, code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    req.response_to(code, Some(remark.into()))
}

/// Where a sent-back message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendBackTarget {
    /// The retry topic with this delay level (≥ 1, clamped to the configured levels).
    Retry {
        /// Delay level.
        level: i32,
    },
    /// The dead-letter topic.
    Dlq,
}

/// Decides retry or DLQ (spec §10.4 step 5). `levels` is the number of configured delay levels.
pub fn target(
    reconsume_times: i32,
    max_reconsume_times: i32,
    delay_level: i32,
    levels: usize,
) -> SendBackTarget {
    if reconsume_times >= max_reconsume_times || delay_level < 0 {
        return SendBackTarget::Dlq;
    }
    let wanted = if delay_level == 0 {
        FIRST_RETRY_LEVEL.saturating_add(reconsume_times)
    } else {
        delay_level
    };
    let max = i32::try_from(levels).unwrap_or(i32::MAX).max(1);
    SendBackTarget::Retry {
        level: wanted.clamp(1, max),
    }
}

/// Handles CONSUMER_SEND_MSG_BACK.
pub async fn send_back(ctx: &Deps<'_>, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    let h = match req.ext_fields.decode::<ConsumerSendMsgBackRequestHeader>() {
        Ok(h) => h,
        Err(e) => return reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    if let Err(e) = names::check_group(&h.group) {
        return reply(&req, ResponseCode::SYSTEM_ERROR, e);
    }
    if ctx.role.is_slave() {
        return reply(
            &req,
            ResponseCode::SERVICE_NOT_AVAILABLE,
            "broker is a slave and refuses send-back",
        );
    }
    if let Some(why) = ctx.role.write_refused() {
        return reply(&req, ResponseCode::SERVICE_NOT_AVAILABLE, why);
    }
    if !perm::is_writeable(ctx.permission.load(Ordering::Relaxed)) {
        return reply(
            &req,
            ResponseCode::NO_PERMISSION,
            format!(
                "the broker[{}] sending message is forbidden",
                ctx.config.broker_name
            ),
        );
    }
    let group = match ctx.groups.find_or_create(&h.group) {
        Ok(Some(g)) => g,
        Ok(None) => {
            return reply(
                &req,
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {}", h.group),
            );
        }
        Err(e) => return reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    if group.retry_queue_nums <= 0 {
        // Java: a group without retry queues drops failed messages.
        info!(group = %h.group, offset = h.offset, "retryQueueNums is 0: failed message dropped");
        return req.success();
    }
    // Load the original first: a send-back for a missing message stores nothing.
    let Some(raw) = ctx.store.read_record(h.offset) else {
        return reply(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!("look message by offset failed, {}", h.offset),
        );
    };
    let orig = match decode(&raw) {
        Ok(r) if r.physical_offset == h.offset => r,
        Ok(_) | Err(_) => {
            return reply(
                &req,
                ResponseCode::SYSTEM_ERROR,
                format!("no message starts at commit-log offset {}", h.offset),
            );
        }
    };
    let max = match h.max_reconsume_times {
        Some(m) if req.version >= 121 => m,
        _ => group.retry_max_times,
    };
    let levels = ctx.config.delay_levels_millis().len();
    let (topic, queue_id, level) = match target(orig.reconsume_times, max, h.delay_level, levels) {
        SendBackTarget::Dlq => {
            let dlq = names::dlq_topic(&h.group);
            if let Err(e) = ctx.topics.ensure(&dlq, 1, perm::READ_WRITE) {
                return reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string());
            }
            warn!(group = %h.group, offset = h.offset, reconsume_times = orig.reconsume_times, max, "message moved to the dead-letter queue");
            (dlq, 0, 0)
        }
        SendBackTarget::Retry { level } => {
            let retry = names::retry_topic(&h.group);
            let tc = match ctx
                .topics
                .ensure(&retry, group.retry_queue_nums, perm::READ_WRITE)
            {
                Ok(tc) => tc,
                Err(e) => return reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
            };
            let q = if tc.write_queue_nums > 0 {
                rand::random_range(0..tc.write_queue_nums)
            } else {
                0
            };
            (retry, q, level)
        }
    };
    let mut props = orig.properties.clone();
    if props.get(keys::RETRY_TOPIC).is_none() {
        props.insert(keys::RETRY_TOPIC, orig.topic.clone());
    }
    if props.get(keys::ORIGIN_MESSAGE_ID).is_none() {
        let id = h
            .origin_msg_id
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| encode_offset_msg_id(orig.store_host, orig.physical_offset));
        props.insert(keys::ORIGIN_MESSAGE_ID, id);
    }
    // Properties of an earlier trip through the schedule topic must not redirect this one.
    props.remove(keys::REAL_TOPIC);
    props.remove(keys::REAL_QID);
    if level > 0 {
        props.insert(keys::DELAY, level.to_string());
    } else {
        props.remove(keys::DELAY);
    }
    let rec = remoting::message::MessageRecord {
        queue_id,
        flag: orig.flag,
        sys_flag: orig.sys_flag,
        born_timestamp: orig.born_timestamp,
        born_host: orig.born_host,
        store_host: ctx.store_host,
        reconsume_times: orig.reconsume_times.saturating_add(1),
        body: orig.body.clone(),
        topic: topic.clone(),
        properties: props,
        ..Default::default()
    };
    let outcome = ctx.store.put(rec).await;
    match outcome.status {
        PutStatus::Ok
        | PutStatus::FlushDiskTimeout
        | PutStatus::FlushSlaveTimeout
        | PutStatus::SlaveNotAvailable => {
            tracing::debug!(group = %h.group, peer = %conn.peer(), topic, level, reconsume_times = orig.reconsume_times + 1, "message sent back");
            let consumed = orig
                .properties
                .get(keys::RETRY_TOPIC)
                .map(|t| t.to_string());
            (ctx.stats.detail).on_send_back(&h.group, consumed.as_deref().unwrap_or(&orig.topic));
            req.success()
        }
        PutStatus::MessageIllegal(why) => reply(&req, ResponseCode::MESSAGE_ILLEGAL, why),
        PutStatus::ServiceNotAvailable(why) => reply(
            &req,
            ResponseCode::SERVICE_NOT_AVAILABLE,
            format!("service not available now: {why}"),
        ),
        PutStatus::OsPageCacheBusy => reply(
            &req,
            ResponseCode::SYSTEM_BUSY,
            "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
        ),
        PutStatus::Error(why) => reply(&req, ResponseCode::SYSTEM_ERROR, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_levels_grow_then_dlq() {
        assert_eq!(target(0, 16, 0, 18), SendBackTarget::Retry { level: 3 });
        assert_eq!(target(5, 16, 0, 18), SendBackTarget::Retry { level: 8 });
        assert_eq!(target(15, 16, 0, 18), SendBackTarget::Retry { level: 18 });
        assert_eq!(target(16, 16, 0, 18), SendBackTarget::Dlq);
        // Short custom tables clamp to the last level.
        assert_eq!(target(3, 16, 0, 4), SendBackTarget::Retry { level: 4 });
        assert_eq!(target(0, 16, 2, 4), SendBackTarget::Retry { level: 2 });
        assert_eq!(target(0, 16, 99, 4), SendBackTarget::Retry { level: 4 });
        assert_eq!(target(0, 16, -1, 18), SendBackTarget::Dlq);
        assert_eq!(target(2, 2, 0, 18), SendBackTarget::Dlq);
    }
}
