//! `resendMsgById -i OFFSET_MSG_ID [-t TOPIC]`: re-sends a stored message (typically from a
//! dead-letter queue `%DLQ%<group>`) so it is consumed again. By default a DLQ message goes to
//! `%RETRY%<group>`, so only the group that gave up on it sees it again, with a fresh retry
//! count; `-t` sends it to another topic instead (for example the original one, for every group).

use remoting::header::send::{SendMessageRequestHeader, SendMessageResponseHeader};
use remoting::message::keys;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::query_msg_by_id::view_message;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin resendMsgById`.
pub struct ResendMsgByIdCommand;

/// The producer group the re-sends are made under.
pub const RESEND_PRODUCER_GROUP: &str = "TOOLS_RESEND_PRODUCER";

/// Where a message is re-sent: `-t`, else the retry topic of a DLQ message's group, else its
/// original topic (`RETRY_TOPIC`) or its own topic.
pub fn resend_topic(topic: &str, retry_topic_prop: Option<&str>, explicit: Option<&str>) -> String {
    if let Some(t) = explicit {
        return t.to_string();
    }
    if let Some(group) = topic.strip_prefix("%DLQ%") {
        return format!("%RETRY%{group}");
    }
    retry_topic_prop.unwrap_or(topic).to_string()
}

impl Command for ResendMsgByIdCommand {
    fn name(&self) -> &'static str {
        "resendMsgById"
    }
    fn description(&self) -> &'static str {
        "Resend a stored message (e.g. from a DLQ) to be consumed again"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("i", "msgId", true, "Message Id (offset id)"),
            OptSpec::arg(
                "t",
                "topic",
                false,
                "destination topic (default: the DLQ group's retry topic)",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let id = args.required("i")?;
        let r = resend(admin, id, args.value("t")).await?;
        writeln!(
            out,
            "resent {id} from {} to {}: new id {} queue {} offset {}",
            r.from_topic, r.to_topic, r.msg_id, r.queue_id, r.queue_offset
        )?;
        Ok(())
    }
}

/// What [`resend`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resent {
    /// The stored message's topic.
    pub from_topic: String,
    /// Where it was sent.
    pub to_topic: String,
    /// The new message's id.
    pub msg_id: String,
    /// The queue it landed in.
    pub queue_id: i32,
    /// Its offset there.
    pub queue_offset: i64,
}

/// Re-sends the message with offset id `id` to `explicit` or, by default, to [`resend_topic`]
/// (shared by `mqadmin resendMsgById` and the web console).
pub async fn resend(admin: &Admin, id: &str, explicit: Option<&str>) -> Result<Resent> {
    let (addr, m) = view_message(admin, id).await?;
    let dest = resend_topic(&m.topic, m.properties.get(keys::RETRY_TOPIC), explicit);
    let mut props = m.properties.clone();
    for k in [
        keys::DELAY,
        keys::REAL_TOPIC,
        keys::REAL_QID,
        keys::CLUSTER,
        keys::TRAN_MSG,
    ] {
        props.remove(k);
    }
    if props.get(keys::RETRY_TOPIC).is_none() && dest.starts_with("%RETRY%") {
        props.insert(keys::RETRY_TOPIC, m.topic.clone());
    }
    let properties = props
        .encode()
        .map_err(|e| CliError::Decode(format!("message properties: {e}")))?;
    let h = SendMessageRequestHeader {
        producer_group: RESEND_PRODUCER_GROUP.into(),
        topic: dest.as_str().into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: -1,
        sys_flag: m.sys_flag & remoting::message::sysflag::COMPRESSED_FLAG,
        born_timestamp: m.born_timestamp,
        flag: m.flag,
        properties: Some(properties),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
        bname: None,
    };
    let req =
        RemotingCommand::request(RequestCode::SEND_MESSAGE, h.to_ext()).with_body(m.body.clone());
    let resp = admin.invoke(&addr, req).await?;
    let r = resp
        .ext_fields
        .decode::<SendMessageResponseHeader>()
        .map_err(|e| CliError::Decode(format!("send result from {addr}: {e}")))?;
    Ok(Resent {
        from_topic: m.topic,
        to_topic: dest,
        msg_id: r.msg_id,
        queue_id: r.queue_id,
        queue_offset: r.queue_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination() {
        assert_eq!(resend_topic("%DLQ%G", Some("Orders"), None), "%RETRY%G");
        assert_eq!(
            resend_topic("%DLQ%G", Some("Orders"), Some("Orders")),
            "Orders"
        );
        assert_eq!(resend_topic("%RETRY%G", Some("Orders"), None), "Orders");
        assert_eq!(resend_topic("Plain", None, None), "Plain");
    }
}
