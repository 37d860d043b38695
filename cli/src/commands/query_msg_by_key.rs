//! `queryMsgByKey -t T -k KEY [-b begin] [-e end] [-m max]`: messages by business key (or
//! UNIQ_KEY) through every master's index. First Java's table (`#Message ID #QID #Offset`, the
//! unique id as Java's client-side `MessageExt.getMsgId()`, else the offset id), then each message
//! in full with its retry / dead-letter / delay properties.

use remoting::header::query::QueryMessageRequestHeader;
use remoting::message::{MessageRecord, decode_all, encode_offset_msg_id, keys};
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::message_print::{print_message, topic_masters};
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin queryMsgByKey`.
pub struct QueryMsgByKeyCommand;

fn num(args: &ParsedArgs, k: &str, default: i64) -> Result<i64> {
    match args.value(k) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| CliError::Usage(format!("-{k} wants a number, got {v:?}"))),
    }
}

/// QUERY_MESSAGE to the broker at `addr`: the messages its index holds for `h` (none when it
/// answers with an error code: QUERY_NOT_FOUND from one broker is not an error of the command).
pub(super) async fn query_index(
    admin: &Admin,
    addr: &str,
    h: &QueryMessageRequestHeader,
) -> Result<Vec<MessageRecord>> {
    let req = RemotingCommand::request(RequestCode::QUERY_MESSAGE, h.to_ext());
    let resp = match admin.invoke(addr, req).await {
        Ok(r) => r,
        Err(CliError::Response { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    decode_all(&resp.body).map_err(|e| CliError::Decode(format!("messages from {addr}: {e}")))
}

impl Command for QueryMsgByKeyCommand {
    fn name(&self) -> &'static str {
        "queryMsgByKey"
    }
    fn description(&self) -> &'static str {
        "Query Message by Key"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg("k", "msgKey", true, "Message Key"),
            OptSpec::arg(
                "b",
                "beginTimestamp",
                false,
                "Begin timestamp, ms (default 0)",
            ),
            OptSpec::arg(
                "e",
                "endTimestamp",
                false,
                "End timestamp, ms (default now)",
            ),
            OptSpec::arg(
                "m",
                "maxNum",
                false,
                "The maximum number of messages (default 64)",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?;
        let key = args.required("k")?;
        let h = QueryMessageRequestHeader {
            topic: topic.to_string(),
            key: key.to_string(),
            max_num: num(args, "m", 64)?.clamp(1, 64) as i32,
            begin_timestamp: num(args, "b", 0)?,
            end_timestamp: num(args, "e", i64::MAX)?,
            unique_key_query: None,
        };
        let mut found = Vec::new();
        for (_, addr) in topic_masters(admin, topic).await? {
            found.extend(query_index(admin, &addr, &h).await?);
        }
        writeln!(out, "{:<50} {:>4} {:>40}", "#Message ID", "#QID", "#Offset")?;
        for m in &found {
            // Java's client-side MessageExt: the unique id when the producer set one.
            let id = match m.properties.get(keys::UNIQ_KEY) {
                Some(uniq) if !uniq.is_empty() => uniq.to_string(),
                _ => encode_offset_msg_id(m.store_host, m.physical_offset),
            };
            writeln!(out, "{id:<50} {:>4} {:>40}", m.queue_id, m.queue_offset)?;
        }
        if found.is_empty() {
            writeln!(out, "no message of topic {topic} with key {key}")?;
        }
        for m in &found {
            writeln!(out)?;
            print_message(out, m)?;
        }
        Ok(())
    }
}
