//! Client requests (spec §3.7, §3.8): HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP,
//! CHECK_CLIENT_CONFIG, LOCK_BATCH_MQ, UNLOCK_BATCH_MQ.

use std::time::Instant;

use remoting::body::client::{
    CheckClientRequestBody, GetConsumerListByGroupResponseBody, HeartbeatData,
    LockBatchRequestBody, LockBatchResponseBody,
};
use remoting::body::topic::perm;
use remoting::header::client::{
    GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader,
};
use remoting::{Connection, RemotingCommand, ResponseCode};
use tracing::{info, warn};

use crate::names;
use crate::state::client_manager::{ClientChannel, ClientManager};
use crate::state::rebalance_lock::RebalanceLockManager;
use crate::state::runtime_config::RuntimeConfig;
use crate::state::subscription_group::SubscriptionGroupManager;
use crate::state::topic_config::TopicConfigManager;

/// What HEART_BEAT and UNREGISTER_CLIENT touch (built per request in [`crate::processor`]).
pub struct Deps<'a> {
    /// Consumer groups (found or auto-created on a consumer's heartbeat).
    pub groups: &'a SubscriptionGroupManager,
    /// Topics (a consumer's retry topic is created on its heartbeat).
    pub topics: &'a TopicConfigManager,
    /// Producers and consumers.
    pub clients: &'a ClientManager,
    /// Tells a group's members that its membership changed (debounced, in the background).
    pub notify_ids_changed: &'a (dyn Fn(&str) + Sync),
}

fn error(req: &RemotingCommand, code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    req.response_to(code, Some(remark.into()))
}

/// HEART_BEAT (34).
pub fn heartbeat(ctx: &Deps<'_>, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    let data = match HeartbeatData::decode(&req.body) {
        Ok(d) => d,
        Err(e) => {
            warn!(peer = %conn.peer(), error = %e, body = %String::from_utf8_lossy(&req.body), "undecodable heartbeat");
            return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string());
        }
    };
    let channel = ClientChannel {
        conn: conn.clone(),
        client_id: data.client_id.clone(),
        language: req.language,
        version: req.version,
        last_update: Instant::now(),
    };
    // Every name is checked before anything is registered: a heartbeat is taken whole or not.
    if let Err(remark) = check_heartbeat_names(&data) {
        warn!(peer = %conn.peer(), client = %data.client_id, %remark, "heartbeat with an invalid name refused");
        return error(&req, ResponseCode::SYSTEM_ERROR, remark);
    }
    for c in &data.consumer_data_set {
        let group = match ctx.groups.find_or_create(&c.group_name) {
            Ok(g) => g,
            Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        if let Some(g) = &group {
            // Every clustering consumer also consumes its group's retry topic.
            let queues = g.retry_queue_nums.max(1);
            if g.retry_queue_nums > 0
                && let Err(e) =
                    ctx.topics
                        .ensure(&names::retry_topic(&c.group_name), queues, perm::READ_WRITE)
            {
                return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string());
            }
        }
        if ctx.clients.register_consumer(c, channel.clone()) {
            info!(group = %c.group_name, client = %data.client_id, "consumer group membership or subscription changed");
            (ctx.notify_ids_changed)(&c.group_name);
        }
    }
    for p in &data.producer_data_set {
        ctx.clients
            .register_producer(&p.group_name, channel.clone());
    }
    req.success()
}

/// The group names and subscribed topics of a heartbeat, with the rules of topic creation.
fn check_heartbeat_names(data: &HeartbeatData) -> Result<(), String> {
    for c in &data.consumer_data_set {
        names::check_group(&c.group_name)?;
        for s in &c.subscription_data_set {
            names::check_topic(&s.topic)?;
        }
    }
    for p in &data.producer_data_set {
        names::check_group(&p.group_name)?;
    }
    Ok(())
}

/// The group and topics of a LOCK_BATCH_MQ / UNLOCK_BATCH_MQ body.
fn check_lock_names(body: &LockBatchRequestBody) -> Result<(), String> {
    names::check_group(&body.consumer_group)?;
    for mq in &body.mq_set {
        names::check_topic(&mq.topic)?;
    }
    Ok(())
}

/// UNREGISTER_CLIENT (35).
pub fn unregister_client(
    ctx: &Deps<'_>,
    conn: &Connection,
    req: RemotingCommand,
) -> RemotingCommand {
    let h: UnregisterClientRequestHeader = match req.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    if let Some(group) = ctx.clients.unregister(
        conn.id(),
        h.producer_group.as_deref(),
        h.consumer_group.as_deref(),
    ) {
        info!(group, client = %h.client_id, "consumer unregistered");
        (ctx.notify_ids_changed)(&group);
    }
    req.success()
}

/// GET_CONSUMER_LIST_BY_GROUP (38).
pub fn consumer_list(clients: &ClientManager, req: RemotingCommand) -> RemotingCommand {
    let h: GetConsumerListByGroupRequestHeader = match req.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    let ids = clients
        .consumer_group(&h.consumer_group)
        .map(|g| g.client_ids())
        .unwrap_or_default();
    if ids.is_empty() {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!("no consumer for this group, {}", h.consumer_group),
        );
    }
    let body = GetConsumerListByGroupResponseBody {
        consumer_id_list: ids,
    };
    match body.encode() {
        Ok(b) => req.success().with_body(b),
        Err(e) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// CHECK_CLIENT_CONFIG (46): TAG expressions are always valid; SQL92 ones when
/// `enablePropertyFilter` is on and the expression compiles (Java's codes and remarks).
pub fn check_client_config(runtime: &RuntimeConfig, req: RemotingCommand) -> RemotingCommand {
    let body = match CheckClientRequestBody::decode(&req.body) {
        Ok(b) => b,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    let sub = &body.subscription_data;
    if sub.is_tag_type() {
        return req.success();
    }
    if !runtime.get().enable_property_filter {
        return error(
            &req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "The broker does not support consumer to filter message by {}",
                sub.expression_type
            ),
        );
    }
    match crate::filter::sql_selector_of(&sub.expression_type, &sub.sub_string) {
        Ok(_) => req.success(),
        Err(e) => {
            warn!(group = %body.group, expression = %sub.sub_string, error = %e, "subscription expression refused");
            error(&req, ResponseCode::SUBSCRIPTION_PARSE_FAILED, e.to_string())
        }
    }
}

/// LOCK_BATCH_MQ (41).
pub fn lock_batch(locks: &RebalanceLockManager, req: RemotingCommand) -> RemotingCommand {
    let body = match LockBatchRequestBody::decode(&req.body) {
        Ok(b) => b,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    if let Err(remark) = check_lock_names(&body) {
        return error(&req, ResponseCode::SYSTEM_ERROR, remark);
    }
    let locked = locks.try_lock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
    match (LockBatchResponseBody {
        lock_ok_mq_set: locked,
    })
    .encode()
    {
        Ok(b) => req.success().with_body(b),
        Err(e) => error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

/// UNLOCK_BATCH_MQ (42).
pub fn unlock_batch(locks: &RebalanceLockManager, req: RemotingCommand) -> RemotingCommand {
    let body = match LockBatchRequestBody::decode(&req.body) {
        Ok(b) => b,
        Err(e) => return error(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    if let Err(remark) = check_lock_names(&body) {
        return error(&req, ResponseCode::SYSTEM_ERROR, remark);
    }
    locks.unlock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
    req.success()
}
