//! `sendMessage -t T -p body [-k keys] [-c tags] [-b brokerName -i queueId]`: sends one message
//! through the client library's producer (Java `SendMessageCommand`).

use client::{Message, MessageQueue, Producer, ProducerConfig};

use super::broker_format::num_opt;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// The producer group of the tool.
pub const PRODUCER_GROUP: &str = "MQADMIN_SEND_MSG_GROUP";

/// `mqadmin sendMessage`.
pub struct SendMessageCommand;

impl Command for SendMessageCommand {
    fn name(&self) -> &'static str {
        "sendMessage"
    }
    fn description(&self) -> &'static str {
        "Send a message"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "Topic name"),
            OptSpec::arg("p", "body", true, "UTF-8 string format of the message body"),
            OptSpec::arg("k", "key", false, "Message keys"),
            OptSpec::arg("c", "tags", false, "Message tags"),
            OptSpec::arg(
                "b",
                "broker",
                false,
                "Send message to target broker (broker name)",
            ),
            OptSpec::arg("i", "qid", false, "Send message to target queue"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?;
        let mut msg = Message::new(topic, args.required("p")?.to_string());
        if let Some(k) = args.value("k") {
            msg = msg.with_keys(k.split(' '));
        }
        if let Some(c) = args.value("c") {
            msg = msg.with_tags(c);
        }
        let queue = match (args.value("b"), args.has("i")) {
            (Some(b), true) => Some(MessageQueue {
                topic: topic.to_string(),
                broker_name: b.to_string(),
                queue_id: num_opt(args, "i", 0)?,
            }),
            (None, false) => None,
            _ => {
                return Err(CliError::Usage(
                    "give -b <broker name> and -i <queue id> together".into(),
                ));
            }
        };
        let mut config = ProducerConfig::new(PRODUCER_GROUP, "");
        config.client = admin.client_config()?;
        let producer = Producer::new(config)?;
        producer.start().await?;
        let result = match &queue {
            Some(mq) => producer.send_to_queue(msg, mq).await,
            None => producer.send(msg).await,
        };
        producer.shutdown().await;
        writeln!(
            out,
            "{:<32}  {:<4}  {:<20}    #MsgId",
            "#Broker Name", "#QID", "#Send Result"
        )?;
        match result {
            Ok(r) => writeln!(
                out,
                "{:<32}  {:<4}  {:<20}    {}",
                r.message_queue.broker_name,
                r.message_queue.queue_id,
                send_status(r.status),
                r.msg_id
            )?,
            Err(e) => {
                writeln!(
                    out,
                    "{:<32}  {:<4}  {:<20}    None",
                    "Unknown", "Unknown", "Failed"
                )?;
                return Err(e.into());
            }
        }
        Ok(())
    }
}

/// Java's `SendStatus` names.
fn send_status(s: client::SendStatus) -> &'static str {
    match s {
        client::SendStatus::SendOk => "SEND_OK",
        client::SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        client::SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        client::SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
    }
}
