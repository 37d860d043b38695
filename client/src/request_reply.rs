//! Request-reply (Java `DefaultMQProducer.request` and `MessageUtil.createReplyMessage`):
//! a request carries `CORRELATION_ID`, `REPLY_TO_CLIENT` (our client id) and `TTL`; the
//! replier answers with [`create_reply_message`], which goes to `<cluster>_REPLY_TOPIC` as
//! SEND_REPLY_MESSAGE_V2; the broker pushes it back as PUSH_REPLY_MESSAGE_TO_CLIENT to the
//! connection our producer heartbeat registered, and [`receive_reply`] hands it to the waiting
//! [`Producer::request`](crate::Producer::request).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use parking_lot::Mutex;
use remoting::header::send::ReplyMessageRequestHeader;
use remoting::message::{MessageRecord, Properties, keys, properties};
use remoting::{Connection, RemotingCommand, ResponseCode};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::error::{ClientError, Result};
use crate::message::{Message, MessageExt};

/// `MSG_TYPE` of a reply message (Java `MixAll.REPLY_MESSAGE_FLAG`).
pub const REPLY_MESSAGE_FLAG: &str = "reply";
/// Suffix of the reply topic (Java `MixAll.REPLY_TOPIC_POSTFIX`).
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";

/// The reply topic of a cluster (Java `MixAll.getReplyTopic`).
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_{REPLY_TOPIC_POSTFIX}")
}

/// Requests waiting for a reply, by correlation id.
#[derive(Default)]
pub struct ReplyWaiters {
    waiting: Mutex<HashMap<String, oneshot::Sender<MessageExt>>>,
}

impl ReplyWaiters {
    /// Registers a request before it is sent (the reply may arrive before the send returns).
    pub(crate) fn register(&self, correlation_id: &str) -> oneshot::Receiver<MessageExt> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(correlation_id.to_string(), tx);
        rx
    }

    /// Forgets a request (sent failed or timed out).
    pub(crate) fn forget(&self, correlation_id: &str) {
        self.waiting.lock().remove(correlation_id);
    }

    /// Number of requests waiting.
    pub fn pending(&self) -> usize {
        self.waiting.lock().len()
    }
}

/// True when an encoded properties string marks a reply message.
pub(crate) fn is_reply_properties(encoded: &str) -> bool {
    properties::find_raw(encoded, keys::MSG_TYPE) == Some(REPLY_MESSAGE_FLAG)
}

/// Builds the reply to a received request (Java `MessageUtil.createReplyMessage`): the reply
/// topic of the request's `CLUSTER`, `MSG_TYPE=reply`, and the request's `CORRELATION_ID`,
/// `REPLY_TO_CLIENT` and `TTL`. Fails when the request has no `CLUSTER` property (it did not
/// come through a broker, or is not a request).
pub fn create_reply_message(request: &MessageExt, body: impl Into<Bytes>) -> Result<Message> {
    let Some(cluster) = request.property(keys::CLUSTER) else {
        return Err(ClientError::InvalidMessage(format!(
            "create reply message fail, requestMessage error, property[{}] is null.",
            keys::CLUSTER
        )));
    };
    let mut reply =
        Message::new(reply_topic(cluster), body).with_property(keys::MSG_TYPE, REPLY_MESSAGE_FLAG);
    for key in [keys::CORRELATION_ID, keys::REPLY_TO_CLIENT, keys::TTL] {
        if let Some(v) = request.property(key) {
            reply = reply.with_property(key, v);
        }
    }
    Ok(reply)
}

fn parse_host(s: &str) -> SocketAddr {
    s.rsplit_once(':')
        .and_then(|(h, p)| {
            let ip: IpAddr = h.trim_matches(['[', ']']).parse().ok()?;
            Some(SocketAddr::new(ip, p.parse().ok()?))
        })
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
}

/// Serves PUSH_REPLY_MESSAGE_TO_CLIENT: decodes the reply and wakes its request. A reply nobody
/// waits for (timed out already) is acknowledged and dropped, as Java does.
pub(crate) fn receive_reply(
    waiters: &ReplyWaiters,
    conn: &Connection,
    request: &RemotingCommand,
) -> RemotingCommand {
    let h: ReplyMessageRequestHeader = match request.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => {
            warn!(broker = %conn.peer(), error = %e, "undecodable reply push");
            return request.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string()));
        }
    };
    let mut properties = Properties::parse(h.properties.as_deref().unwrap_or(""));
    properties.insert(keys::ARRIVE_TIME, crate::filter::now_ms().to_string());
    let rec = MessageRecord {
        topic: h.topic.into_string(),
        queue_id: h.queue_id,
        flag: h.flag,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: parse_host(&h.born_host),
        store_timestamp: h.store_timestamp,
        store_host: parse_host(&h.store_host),
        reconsume_times: h.reconsume_times.unwrap_or(0),
        body: request.body.clone(),
        properties,
        ..Default::default()
    };
    let msg = match MessageExt::from_record(rec, "") {
        Ok(m) => m,
        Err(e) => {
            warn!(error = %e, "reply body does not decode");
            return request.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string()));
        }
    };
    let Some(corr) = msg.property(keys::CORRELATION_ID).map(str::to_string) else {
        warn!("reply without CORRELATION_ID dropped");
        return request.success();
    };
    match waiters.waiting.lock().remove(&corr) {
        Some(tx) => {
            let _ = tx.send(msg);
        }
        None => debug!(correlation_id = %corr, "reply for no waiting request (timed out?)"),
    }
    request.success()
}
