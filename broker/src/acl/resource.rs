//! What each request code needs: an admin account, and which topics and groups with which
//! permission (Java `PlainAccessResource.parse` and `Permission.ADMIN_CODE`, widened where Java
//! leaves a code unchecked; see the table in `docs/security.md`).
//!
//! Groups are named by their retry topic (`%RETRY%group`), as in the ACL file's compiled form.

use remoting::body::client::HeartbeatData;
use remoting::{RemotingCommand, RequestCode};

use super::plain::{ANY, PUB, SUB};
use crate::names::{RETRY_GROUP_TOPIC_PREFIX, retry_topic};

/// Codes only an admin account may call: Java's five (topic, group and broker-config changes)
/// plus every other code that changes the broker's state or the ACL itself, or reads the ACL
/// accounts (their secrets).
pub const ADMIN_CODES: &[RequestCode] = &[
    RequestCode::UPDATE_AND_CREATE_TOPIC,
    RequestCode::UPDATE_BROKER_CONFIG,
    RequestCode::DELETE_TOPIC_IN_BROKER,
    RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    RequestCode::DELETE_SUBSCRIPTIONGROUP,
    RequestCode::UPDATE_AND_CREATE_ACL_CONFIG,
    RequestCode::DELETE_ACL_CONFIG,
    RequestCode::GET_BROKER_CLUSTER_ACL_INFO,
    RequestCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG,
    RequestCode::GET_BROKER_CLUSTER_ACL_CONFIG,
    RequestCode::TRIGGER_DELETE_FILES,
    RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
    RequestCode::CLEAN_EXPIRED_CONSUMEQUEUE,
    RequestCode::CLEAN_UNUSED_TOPIC,
    RequestCode::DELETE_EXPIRED_COMMITLOG,
    RequestCode::CONSUME_MESSAGE_DIRECTLY,
    RequestCode::RESUME_CHECK_HALF_MESSAGE,
];

/// Whether `code` needs an admin account.
pub fn needs_admin(code: RequestCode) -> bool {
    ADMIN_CODES.contains(&code)
}

/// True for a retry topic (a group's resource name).
pub fn is_group_resource(name: &str) -> bool {
    name.starts_with(RETRY_GROUP_TOPIC_PREFIX)
}

/// The (resource, permission) pairs a request needs. `Err` when the request cannot be read
/// (a heartbeat body that is not JSON): refused, as Java does.
pub fn needed(req: &RemotingCommand) -> Result<Vec<(String, u8)>, String> {
    let ext = &req.ext_fields;
    let get = |k: &str| ext.get(k).filter(|v| !v.is_empty()).map(str::to_string);
    let group_res = |k: &str| get(k).map(|g| retry_topic(&g));
    let mut out: Vec<(String, u8)> = Vec::new();
    let mut push = |r: Option<String>, p: u8| {
        if let Some(r) = r {
            out.push((r, p));
        }
    };
    match req.request_code() {
        RequestCode::SEND_MESSAGE
        | RequestCode::SEND_MESSAGE_V2
        | RequestCode::SEND_BATCH_MESSAGE
        | RequestCode::SEND_REPLY_MESSAGE
        | RequestCode::SEND_REPLY_MESSAGE_V2 => {
            // A send to a retry topic is a consumer giving a message back: it needs SUB on the
            // group (the retry topic names it); any other send needs PUB on the topic.
            if let Some(topic) = get("topic").or_else(|| get("b")) {
                let perm = if is_group_resource(&topic) { SUB } else { PUB };
                push(Some(topic), perm);
            }
        }
        RequestCode::CONSUMER_SEND_MSG_BACK => {
            push(group_res("group"), SUB);
            push(get("originTopic"), PUB);
        }
        RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => {
            push(get("topic"), SUB);
            push(group_res("consumerGroup"), SUB);
        }
        RequestCode::QUERY_MESSAGE => push(get("topic"), SUB),
        RequestCode::UPDATE_CONSUMER_OFFSET | RequestCode::QUERY_CONSUMER_OFFSET => {
            push(group_res("consumerGroup"), SUB);
            push(get("topic"), SUB);
        }
        RequestCode::UNREGISTER_CLIENT | RequestCode::GET_CONSUMER_LIST_BY_GROUP => {
            push(group_res("consumerGroup"), SUB);
        }
        RequestCode::GET_MAX_OFFSET
        | RequestCode::GET_MIN_OFFSET
        | RequestCode::SEARCH_OFFSET_BY_TIMESTAMP
        | RequestCode::GET_EARLIEST_MSG_STORETIME => push(get("topic"), ANY),
        RequestCode::HEART_BEAT => {
            let data = HeartbeatData::decode(&req.body)
                .map_err(|e| format!("heartbeat body unreadable: {e}"))?;
            for c in &data.consumer_data_set {
                if !c.group_name.is_empty() {
                    push(Some(retry_topic(&c.group_name)), SUB);
                }
                for s in &c.subscription_data_set {
                    push(Some(s.topic.clone()), SUB);
                }
            }
        }
        _ => {}
    }
    Ok(out)
}
