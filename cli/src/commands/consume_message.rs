//! `consumeMessage -t T [-b brokerName] [-i queueId] [-o offset] [-c count] [-g group]`: pulls
//! messages with the client library's pull consumer and prints them (Java
//! `ConsumeMessageCommand`). Offsets are not committed: this is a viewer.

use client::{PullConsumer, PullStatus};

use super::broker_format::num_opt;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// The consumer group used when `-g` is absent.
pub const DEFAULT_GROUP: &str = "MQADMIN_CONSUME_MSG_GROUP";

/// `mqadmin consumeMessage`.
pub struct ConsumeMessageCommand;

impl Command for ConsumeMessageCommand {
    fn name(&self) -> &'static str {
        "consumeMessage"
    }
    fn description(&self) -> &'static str {
        "Consume message"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "Topic name"),
            OptSpec::arg("b", "brokerName", false, "Broker name"),
            OptSpec::arg("i", "queueId", false, "Queue Id"),
            OptSpec::arg(
                "o",
                "offset",
                false,
                "Queue offset (default: the queue's first)",
            ),
            OptSpec::arg("g", "consumerGroup", false, "Consumer group name"),
            OptSpec::arg(
                "c",
                "MessageNumber",
                false,
                "Number of message to be consumed (default 128)",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?;
        let limit: usize = num_opt(args, "c", 128)?;
        let queue_id: Option<i32> = match args.value("i") {
            Some(_) => Some(num_opt(args, "i", 0)?),
            None => None,
        };
        let start: Option<i64> = match args.value("o") {
            Some(_) => Some(num_opt(args, "o", 0)?),
            None => None,
        };
        let group = args.value("g").unwrap_or(DEFAULT_GROUP);
        let consumer = PullConsumer::new(group, admin.client_config()?)?;
        consumer.start().await?;
        let result = consume(&consumer, args, topic, queue_id, start, limit, out).await;
        consumer.shutdown().await;
        let n = result?;
        writeln!(out, "Consumed {n} message(s) of topic {topic}")?;
        Ok(())
    }
}

async fn consume(
    consumer: &PullConsumer,
    args: &ParsedArgs,
    topic: &str,
    queue_id: Option<i32>,
    start: Option<i64>,
    limit: usize,
    out: Out<'_>,
) -> Result<usize> {
    let mut queues = consumer.fetch_subscribe_queues(topic).await?;
    queues.retain(|mq| {
        args.value("b").is_none_or(|b| mq.broker_name == b)
            && queue_id.is_none_or(|q| mq.queue_id == q)
    });
    if queues.is_empty() {
        return Err(CliError::Usage(format!(
            "no queue of topic {topic} matches the given broker / queue id"
        )));
    }
    let mut printed = 0usize;
    for mq in &queues {
        let mut offset = match start {
            Some(o) => o,
            None => consumer.min_offset(mq).await?,
        };
        // What is there now; the tool stops there rather than waiting for new messages.
        let end = consumer.max_offset(mq).await?;
        while offset < end && printed < limit {
            let batch = i32::try_from((limit - printed).min(32)).unwrap_or(32);
            let r = consumer.pull(mq, "*", offset, batch).await?;
            match r.status {
                PullStatus::Found => {
                    for m in &r.msgs {
                        if printed >= limit {
                            break;
                        }
                        writeln!(
                            out,
                            "MSGID: {} QUEUE: {}:{} OFFSET: {} TAGS: {} KEYS: {} BODY: {}",
                            m.msg_id,
                            m.broker_name,
                            m.queue_id,
                            m.queue_offset,
                            m.tags().unwrap_or(""),
                            m.keys().join(" "),
                            m.body_str()
                        )?;
                        printed += 1;
                    }
                }
                PullStatus::NoMatchedMsg => {}
                PullStatus::NoNewMsg => break,
                PullStatus::OffsetIllegal => {
                    if r.next_begin_offset == offset {
                        break;
                    }
                }
            }
            if r.next_begin_offset <= offset {
                break;
            }
            offset = r.next_begin_offset;
        }
        if printed >= limit {
            break;
        }
    }
    Ok(printed)
}
