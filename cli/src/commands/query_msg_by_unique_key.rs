//! `queryMsgByUniqueKey -i UNIQ_KEY -t topic`: a message by the id the producer printed (its
//! `UNIQ_KEY`), found through the index of every master serving the topic (Java
//! `QueryMsgByUniqueKeySubCommand` without `-g`/`-d`).

use remoting::header::query::QueryMessageRequestHeader;

use super::message_print::{print_message, topic_masters};
use super::query_msg_by_key::query_index;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin queryMsgByUniqueKey`.
pub struct QueryMsgByUniqueKeyCommand;

impl Command for QueryMsgByUniqueKeyCommand {
    fn name(&self) -> &'static str {
        "queryMsgByUniqueKey"
    }
    fn description(&self) -> &'static str {
        "Query Message by Unique key"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("i", "msgId", true, "Message Id"),
            OptSpec::arg("t", "topic", true, "The topic of msg"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let id = args.required("i")?.trim();
        let topic = args.required("t")?.trim();
        let h = QueryMessageRequestHeader {
            topic: topic.to_string(),
            key: id.to_string(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: Some(true),
        };
        for (_, addr) in topic_masters(admin, topic).await? {
            let msgs = query_index(admin, &addr, &h).await?;
            // The index may hold a hash collision: only the exact UNIQ_KEY counts.
            if let Some(m) = msgs.iter().find(|m| m.uniq_key() == Some(id)) {
                print_message(out, m)?;
                return Ok(());
            }
        }
        Err(CliError::Usage(format!(
            "no message with unique key {id} in topic {topic}"
        )))
    }
}
