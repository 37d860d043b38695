//! Offset requests (spec §3.5): QUERY/UPDATE_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET,
//! SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME. Each handler takes only the store
//! and, for consumer offsets, the offset table.

use remoting::header::offset::*;
use remoting::{CommandHeader, RemotingCommand, ResponseCode};

use crate::names;
use crate::state::consumer_offset::ConsumerOffsetManager;
use crate::store_api::MessageStoreApi;

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

/// The topic (and group) of an offset request: required, and named by the rules of topic
/// creation, so an invalid name is an error rather than a SUCCESS about nothing.
fn check_names(topic: &str, group: Option<&str>) -> Result<(), String> {
    names::check_topic(topic)?;
    if let Some(g) = group {
        names::check_group(g)?;
    }
    Ok(())
}

macro_rules! check_or_reply {
    ($req:expr, $topic:expr, $group:expr) => {
        if let Err(e) = check_names($topic, $group) {
            return error(&$req, ResponseCode::SYSTEM_ERROR, e);
        }
    };
}

/// QUERY_CONSUMER_OFFSET (14).
pub fn query_consumer_offset(
    offsets: &ConsumerOffsetManager,
    store: &dyn MessageStoreApi,
    req: RemotingCommand,
) -> RemotingCommand {
    let h = decode_or_reply!(req, QueryConsumerOffsetRequestHeader);
    check_or_reply!(req, &h.topic, Some(h.consumer_group.as_str()));
    let offset = match offsets.query(&h.consumer_group, &h.topic, h.queue_id) {
        Some(o) => Some(o),
        None => {
            // A young queue whose first message is still in memory: start the new group at 0
            // (spec §3.5), so a brand new group on a new topic sees everything.
            let min = store.min_offset(&h.topic, h.queue_id);
            if (min <= 0 && store.in_memory(&h.topic, h.queue_id, 0))
                || h.set_zero_if_not_found == Some(true)
            {
                Some(0)
            } else {
                None
            }
        }
    };
    match offset {
        Some(offset) => req
            .success()
            .with_ext(QueryConsumerOffsetResponseHeader { offset }.to_ext()),
        None => error(
            &req,
            ResponseCode::QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        ),
    }
}

/// UPDATE_CONSUMER_OFFSET (15).
pub fn update_consumer_offset(
    offsets: &ConsumerOffsetManager,
    store: &dyn MessageStoreApi,
    req: RemotingCommand,
) -> RemotingCommand {
    let h = decode_or_reply!(req, UpdateConsumerOffsetRequestHeader);
    check_or_reply!(req, &h.topic, Some(h.consumer_group.as_str()));
    let max = store.max_offset(&h.topic, h.queue_id);
    if !offsets.commit(
        &h.consumer_group,
        &h.topic,
        h.queue_id,
        h.commit_offset,
        max,
    ) {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "illegal offset {} for queue {}",
                h.commit_offset, h.queue_id
            ),
        );
    }
    req.success()
}

/// GET_MAX_OFFSET (30).
pub fn get_max_offset(store: &dyn MessageStoreApi, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, GetMaxOffsetRequestHeader);
    check_or_reply!(req, &h.topic, None);
    let offset = store.max_offset(&h.topic, h.queue_id);
    req.success()
        .with_ext(GetMaxOffsetResponseHeader { offset }.to_ext())
}

/// GET_MIN_OFFSET (31).
pub fn get_min_offset(store: &dyn MessageStoreApi, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, GetMinOffsetRequestHeader);
    check_or_reply!(req, &h.topic, None);
    let offset = store.min_offset(&h.topic, h.queue_id);
    req.success()
        .with_ext(GetMinOffsetResponseHeader { offset }.to_ext())
}

/// SEARCH_OFFSET_BY_TIMESTAMP (29).
pub fn search_offset(store: &dyn MessageStoreApi, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, SearchOffsetRequestHeader);
    check_or_reply!(req, &h.topic, None);
    let offset = store.offset_by_time(&h.topic, h.queue_id, h.timestamp);
    req.success()
        .with_ext(SearchOffsetResponseHeader { offset }.to_ext())
}

/// GET_EARLIEST_MSG_STORETIME (32).
pub fn earliest_store_time(store: &dyn MessageStoreApi, req: RemotingCommand) -> RemotingCommand {
    let h = decode_or_reply!(req, GetEarliestMsgStoretimeRequestHeader);
    check_or_reply!(req, &h.topic, None);
    let timestamp = store.earliest_store_time(&h.topic, h.queue_id);
    req.success()
        .with_ext(GetEarliestMsgStoretimeResponseHeader { timestamp }.to_ext())
}
