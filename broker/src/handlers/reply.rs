//! Request-reply (SEND_REPLY_MESSAGE 324 / SEND_REPLY_MESSAGE_V2 325): a replier sends a message
//! to `<cluster>_REPLY_TOPIC` carrying the requester's client id in `REPLY_TO_CLIENT`; the broker
//! pushes it as PUSH_REPLY_MESSAGE_TO_CLIENT (326) to that client's connection (the one its
//! producer heartbeat registered), and stores it too when `storeReplyMessageEnable` is on — as
//! Java's `ReplyMessageProcessor` does. A failed push answers SYSTEM_ERROR with Java's remark
//! (the requester would otherwise wait for its timeout with no trace of why).

use std::time::Duration;

use remoting::header::send::{
    ReplyMessageRequestHeader, SendMessageRequestHeader, SendMessageResponseHeader,
    decode_send_request,
};
use remoting::message::{Properties, keys};
use remoting::{CommandHeader, Connection, RemotingCommand, RequestCode, ResponseCode};
use tracing::{debug, warn};

use crate::handlers::send;
use crate::state::client_manager::ClientManager;
use crate::state::stats::now_millis;

/// How long the broker waits for the requester to acknowledge a pushed reply.
const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Handles 324/325: the checks and the store of a send (`ctx`), and the requesters' producer
/// connections (`clients`) the reply is pushed to.
pub async fn handle(
    ctx: &send::Deps<'_>,
    clients: &ClientManager,
    conn: &Connection,
    req: RemotingCommand,
) -> RemotingCommand {
    let header = match decode_send_request(&req) {
        Ok(h) => h,
        Err(e) => return req.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
    };
    let prepared = match send::check_and_prepare(ctx, &req, &header) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let queue_id = prepared.queue_id;
    let pushed = push(clients, ctx.store_host, conn, &header, &req).await;
    let stored = if ctx.live().store_reply_message_enable {
        // A stored reply takes a turn at the store like any send (busy answered the same way).
        Some(match send::take_turn(ctx, &req).await {
            Ok(turn) => match send::store_one(ctx, conn, &req, &header, prepared, turn) {
                Ok((stored, outcome)) => send::settle(ctx, &req, stored, outcome).await,
                Err(refused) => refused,
            },
            Err(busy) => busy,
        })
    } else {
        None
    };
    match pushed {
        Err(remark) => {
            warn!(topic = %header.topic, remark, "reply message not pushed");
            req.response_to(ResponseCode::SYSTEM_ERROR, Some(remark))
        }
        // Stored and pushed: the store's answer (msg id, offset) is the richer one.
        Ok(()) => match stored {
            Some(resp) if resp.response_code() == ResponseCode::SUCCESS => resp,
            _ => {
                let h = SendMessageResponseHeader {
                    // Java sends "0" so clients decode the header.
                    msg_id: "0".to_string(),
                    queue_id,
                    queue_offset: 0,
                    msg_region: Some(ctx.config.region_id.as_str().into()),
                    trace_on: Some(ctx.config.trace_on),
                    ..Default::default()
                };
                req.success().with_ext(h.to_ext())
            }
        },
    }
}

/// Java's `host:port` rendering of an address (no brackets around IPv6).
fn host_port(addr: std::net::SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

async fn push(
    clients: &ClientManager,
    store_host: std::net::SocketAddr,
    conn: &Connection,
    h: &SendMessageRequestHeader,
    req: &RemotingCommand,
) -> Result<(), String> {
    let mut props = Properties::parse(h.properties.as_deref().unwrap_or(""));
    let Some(sender) = props.get(keys::REPLY_TO_CLIENT).map(str::to_string) else {
        return Err(format!(
            "reply message properties[{}] is null",
            keys::REPLY_TO_CLIENT
        ));
    };
    let Some(channel) = clients.find_producer_channel(&sender) else {
        return Err(format!(
            "push reply message fail, channel of <{sender}> not found."
        ));
    };
    props.insert(keys::PUSH_REPLY_TIME, now_millis().to_string());
    let properties = props.encode().map_err(|e| e.to_string())?;
    let push_header = ReplyMessageRequestHeader {
        producer_group: h.producer_group.clone(),
        topic: h.topic.clone(),
        default_topic: h.default_topic.clone(),
        default_topic_queue_nums: h.default_topic_queue_nums,
        queue_id: h.queue_id,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        flag: h.flag,
        properties: Some(properties),
        reconsume_times: h.reconsume_times,
        unit_mode: h.unit_mode,
        born_host: host_port(conn.peer()),
        store_host: host_port(store_host),
        store_timestamp: now_millis(),
    };
    let cmd =
        RemotingCommand::request_with(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT, &push_header)
            .with_body(req.body.clone());
    match channel.conn.request(cmd, PUSH_TIMEOUT).await {
        Ok(resp) if resp.response_code() == ResponseCode::SUCCESS => {
            debug!(client = %sender, "reply pushed");
            Ok(())
        }
        Ok(resp) => {
            warn!(client = %sender, remark = resp.remark_str(), "requester refused the reply");
            Err(format!("push reply message to {sender}fail."))
        }
        Err(e) => {
            warn!(client = %sender, error = %e, "push reply failed");
            Err(format!("push reply message to {sender}fail."))
        }
    }
}
