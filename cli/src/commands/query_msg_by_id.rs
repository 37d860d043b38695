//! `queryMsgById -i MSG_ID [-t topic]`: one message by its offset id (store host and commit-log
//! offset) or, with `-t`, by the unique id `sendMessage` prints, with its retry / dead-letter /
//! delay properties.

use remoting::header::query::ViewMessageRequestHeader;
use remoting::message::{MessageRecord, decode, decode_offset_msg_id};
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::message_print::print_message;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin queryMsgById`.
pub struct QueryMsgByIdCommand;

/// Fetches the message an offset message id names (VIEW_MESSAGE_BY_ID to its store host).
pub async fn view_message(admin: &Admin, offset_msg_id: &str) -> Result<(String, MessageRecord)> {
    let id = decode_offset_msg_id(offset_msg_id)
        .map_err(|e| CliError::Usage(format!("bad message id {offset_msg_id:?}: {e}")))?;
    let addr = id.store_host.to_string();
    let h = ViewMessageRequestHeader {
        offset: id.commit_log_offset,
        topic: None,
    };
    let req = RemotingCommand::request(RequestCode::VIEW_MESSAGE_BY_ID, h.to_ext());
    let resp = admin.invoke(&addr, req).await?;
    let m =
        decode(&resp.body).map_err(|e| CliError::Decode(format!("message from {addr}: {e}")))?;
    Ok((addr, m))
}

impl Command for QueryMsgByIdCommand {
    fn name(&self) -> &'static str {
        "queryMsgById"
    }
    fn description(&self) -> &'static str {
        "Query Message by Id"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg(
                "i",
                "msgId",
                true,
                "Message Id (offset id, or unique id with -t)",
            ),
            OptSpec::arg("t", "topic", false, "topic of a unique (client) message id"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        for id in args
            .required("i")?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            // A unique id (what sendMessage prints) is looked up in the topic's index; an
            // offset id is only followed to a broker the name servers know.
            let found = admin
                .typed()?
                .query_message_by_id(args.value("t").map(str::trim), id)
                .await?;
            let Some(found) = found else {
                return Err(CliError::Usage(format!(
                    "no message with id {id}{}",
                    if args.has("t") {
                        String::new()
                    } else {
                        " (for a unique id printed by sendMessage, add -t <topic>)".to_string()
                    }
                )));
            };
            let (_, m) = view_message(admin, &found.offset_msg_id).await?;
            print_message(out, &m)?;
        }
        Ok(())
    }
}
