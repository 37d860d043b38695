//! `queryMsgByOffset -t topic -b brokerName -i queueId -o offset`: the message at a queue
//! offset, pulled and then printed as `queryMsgById` prints it (Java
//! `QueryMsgByOffsetSubCommand`; nothing is printed when the offset holds no message).

use client::{MessageQueue, PullConsumer, PullStatus};

use super::message_print::print_message;
use super::query_msg_by_id::view_message;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin queryMsgByOffset`.
pub struct QueryMsgByOffsetCommand;

impl Command for QueryMsgByOffsetCommand {
    fn name(&self) -> &'static str {
        "queryMsgByOffset"
    }
    fn description(&self) -> &'static str {
        "Query Message by offset"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg("b", "brokerName", true, "Broker Name"),
            OptSpec::arg("i", "queueId", true, "Queue Id"),
            OptSpec::arg("o", "offset", true, "Queue Offset"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?.trim();
        let broker = args.required("b")?.trim();
        let parse = |k: &str| -> Result<i64> {
            let v = args.required(k)?.trim();
            v.parse()
                .map_err(|_| CliError::Usage(format!("-{k} wants a number, got {v:?}")))
        };
        let queue_id =
            i32::try_from(parse("i")?).map_err(|_| CliError::Usage("-i is out of range".into()))?;
        let offset = parse("o")?;
        let consumer = PullConsumer::new("TOOLS_CONSUMER", admin.client_config()?)?;
        consumer.start().await?;
        let mq = MessageQueue::new(topic, broker, queue_id);
        let pulled = consumer.pull(&mq, "*", offset, 1).await;
        consumer.shutdown().await;
        let pulled = pulled?;
        if pulled.status == PullStatus::Found
            && let Some(m) = pulled.msgs.first()
        {
            let (_, rec) = view_message(admin, &m.offset_msg_id).await?;
            print_message(out, &rec)?;
        }
        Ok(())
    }
}
