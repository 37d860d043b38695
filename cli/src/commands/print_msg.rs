//! `printMsg -t T [-s expr] [-b begin] [-e end] [-d printBody] [-c charset]` and
//! `printMsgByQueue -t T -a brokerName -i queueId [-s expr] [-b begin] [-e end] [-p] [-d] [-f]`
//! (Java `PrintMessageSubCommand`, `PrintMessageByQueueCommand`): every message of a topic (or
//! one queue) between two store times, read with the pull consumer, in Java's layout:
//! `minOffset=.., maxOffset=.., MessageQueue [...]` per queue, then one
//! `MSGID: <id> MessageExt [...] BODY: <body>` line per message. Begin and end times are ms
//! since the epoch (Java also takes `yyyy-MM-dd#HH:mm:ss:SSS`). Only UTF-8 bodies are decoded
//! (`-c` other than UTF-8 is refused). Nothing is committed.

use std::collections::BTreeMap;

use client::{MessageExt, PullConsumer, PullStatus};
use remoting::body::client::MessageQueue;

use super::consume_message::DEFAULT_GROUP;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin printMsg`.
pub struct PrintMsgCommand;
/// `mqadmin printMsgByQueue`.
pub struct PrintMsgByQueueCommand;

fn time_opt(args: &ParsedArgs, k: &str) -> Result<Option<i64>> {
    match args.value(k) {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            CliError::Usage(format!(
                "-{k} wants a store time in ms since the epoch, got {v:?}"
            ))
        }),
    }
}

fn bool_opt(args: &ParsedArgs, k: &str, default: bool) -> Result<bool> {
    match args.value(k) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<bool>()
            .map_err(|_| CliError::Usage(format!("-{k} wants true or false, got {v:?}"))),
    }
}

fn check_charset(args: &ParsedArgs) -> Result<()> {
    match args.value("c") {
        None => Ok(()),
        Some(c) if c.eq_ignore_ascii_case("UTF-8") || c.eq_ignore_ascii_case("UTF8") => Ok(()),
        Some(c) => Err(CliError::Usage(format!(
            "charset {c:?} is not supported; bodies are decoded as UTF-8"
        ))),
    }
}

/// Java's `MessageQueue.toString()`.
pub fn mq_text(mq: &MessageQueue) -> String {
    format!(
        "MessageQueue [topic={}, brokerName={}, queueId={}]",
        mq.topic, mq.broker_name, mq.queue_id
    )
}

fn host_text(a: &std::net::SocketAddr) -> String {
    format!("/{a}")
}

/// Java's `MessageExt.toString()` of a pulled message (store size and body CRC recomputed from
/// the record as stored: without the MIN_OFFSET / MAX_OFFSET the pull adds).
pub fn message_ext_text(m: &MessageExt) -> String {
    use remoting::message::keys;
    let mut stored = m.properties.clone();
    stored.remove(keys::MIN_OFFSET);
    stored.remove(keys::MAX_OFFSET);
    let host_len = |a: &std::net::SocketAddr| if a.is_ipv4() { 8 } else { 20 };
    let store_size = 4
        + 4
        + 4
        + 4
        + 4
        + 8
        + 8
        + 4
        + 8
        + host_len(&m.born_host)
        + 8
        + host_len(&m.store_host)
        + 4
        + 8
        + 4
        + m.body.len()
        + 1
        + m.topic.len()
        + 2
        + stored.checked_encoded_len().unwrap_or(0);
    let props: Vec<String> = m
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let body: Vec<String> = m.body.iter().map(|b| (*b as i8).to_string()).collect();
    format!(
        "MessageExt [brokerName={}, queueId={}, storeSize={}, queueOffset={}, sysFlag={}, \
         bornTimestamp={}, bornHost={}, storeTimestamp={}, storeHost={}, msgId={}, \
         commitLogOffset={}, bodyCRC={}, reconsumeTimes={}, preparedTransactionOffset={}, \
         toString()=Message{{topic='{}', flag={}, properties={{{}}}, body=[{}], \
         transactionId='null'}}]",
        m.broker_name,
        m.queue_id,
        store_size,
        m.queue_offset,
        m.sys_flag,
        m.born_timestamp,
        host_text(&m.born_host),
        m.store_timestamp,
        host_text(&m.store_host),
        m.offset_msg_id,
        m.commit_log_offset,
        remoting::message::crc32_masked(&m.body),
        m.reconsume_times,
        m.prepared_transaction_offset,
        m.topic,
        m.flag,
        props.join(", "),
        body.join(", "),
    )
}

fn message_line(m: &MessageExt, print_body: bool) -> String {
    format!(
        "MSGID: {} {} BODY: {}",
        m.msg_id,
        message_ext_text(m),
        if print_body {
            m.body_str()
        } else {
            "NOT PRINT BODY".to_string()
        }
    )
}

/// The queue's offsets between `begin` and `end` store times (min / max when absent).
async fn range(
    c: &PullConsumer,
    mq: &MessageQueue,
    begin: Option<i64>,
    end: Option<i64>,
) -> Result<(i64, i64)> {
    let min = match begin {
        Some(t) => c.search_offset(mq, t).await?,
        None => c.min_offset(mq).await?,
    };
    let max = match end {
        Some(t) => c.search_offset(mq, t).await?,
        None => c.max_offset(mq).await?,
    };
    Ok((min, max))
}

/// Java's line before a queue's messages: `minOffset=.., maxOffset=.., MessageQueue [...]`
/// (no newline: the messages or the count follow on it).
fn write_range(out: Out<'_>, mq: &MessageQueue, (min, max): (i64, i64)) -> Result<()> {
    write!(out, "minOffset={min}, maxOffset={max}, {}", mq_text(mq))?;
    Ok(())
}

/// Reads `[min, max)` of `mq`, handing each batch found to `f`; stops on anything else, as
/// Java's `READQ` loop does.
async fn read_queue(
    c: &PullConsumer,
    mq: &MessageQueue,
    expr: &str,
    (min, max): (i64, i64),
    mut f: impl FnMut(&[MessageExt]) -> Result<()>,
) -> Result<()> {
    let mut offset = min;
    while offset < max {
        let r = c.pull(mq, expr, offset, 32).await?;
        match r.status {
            PullStatus::Found => f(&r.msgs)?,
            _ => break,
        }
        if r.next_begin_offset <= offset {
            break;
        }
        offset = r.next_begin_offset;
    }
    Ok(())
}

/// The options both commands share (Java's texts).
const CHARSET: OptSpec = OptSpec::arg("c", "charsetName", false, "CharsetName(eg: UTF-8,GBK)");
const SUB_EXPRESSION: OptSpec = OptSpec::arg(
    "s",
    "subExpression",
    false,
    "Subscribe Expression(eg: TagA || TagB)",
);
const BEGIN: OptSpec = OptSpec::arg(
    "b",
    "beginTimestamp",
    false,
    "Begin timestamp (ms since the epoch)",
);
const END: OptSpec = OptSpec::arg(
    "e",
    "endTimestamp",
    false,
    "End timestamp (ms since the epoch)",
);

impl Command for PrintMsgCommand {
    fn name(&self) -> &'static str {
        "printMsg"
    }
    fn description(&self) -> &'static str {
        "Print Message Detail"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            CHARSET,
            SUB_EXPRESSION,
            BEGIN,
            END,
            OptSpec::arg("d", "printBody", false, "print body"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?;
        check_charset(args)?;
        let expr = args.value("s").unwrap_or("*");
        let (begin, end) = (time_opt(args, "b")?, time_opt(args, "e")?);
        let print_body = bool_opt(args, "d", true)?;
        let c = PullConsumer::new(DEFAULT_GROUP, admin.client_config()?)?;
        c.start().await?;
        let result = async {
            for mq in c.fetch_subscribe_queues(topic).await? {
                let r = range(&c, &mq, begin, end).await?;
                write_range(out, &mq, r)?;
                read_queue(&c, &mq, expr, r, |msgs| {
                    for m in msgs {
                        writeln!(out, "{}", message_line(m, print_body))?;
                    }
                    Ok(())
                })
                .await?;
            }
            Ok::<_, CliError>(())
        }
        .await;
        c.shutdown().await;
        result
    }
}

impl Command for PrintMsgByQueueCommand {
    fn name(&self) -> &'static str {
        "printMsgByQueue"
    }
    fn description(&self) -> &'static str {
        "Print Message Detail"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg("a", "brokerName", true, "broker name"),
            OptSpec::arg("i", "queueId", true, "queue id"),
            CHARSET,
            SUB_EXPRESSION,
            BEGIN,
            END,
            OptSpec::flag("p", "print", "print msg. eg: -p"),
            OptSpec::flag("d", "printBody", "print body. eg: -d"),
            OptSpec::flag("f", "calculate", "calculate by tag. eg: -f"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?;
        let broker = args.required("a")?;
        let queue_id: i32 = args
            .required("i")?
            .trim()
            .parse()
            .map_err(|_| CliError::Usage("-i wants a queue id".into()))?;
        check_charset(args)?;
        let expr = args.value("s").unwrap_or("*");
        let (begin, end) = (time_opt(args, "b")?, time_opt(args, "e")?);
        let (print, print_body, by_tag) = (args.has("p"), args.has("d"), args.has("f"));
        let mq = MessageQueue::new(topic, broker.trim(), queue_id);
        let c = PullConsumer::new(DEFAULT_GROUP, admin.client_config()?)?;
        c.start().await?;
        let mut tags: BTreeMap<String, u64> = BTreeMap::new();
        let result = async {
            // The route tells the client where the broker group is.
            c.fetch_subscribe_queues(topic).await?;
            let r = range(&c, &mq, begin, end).await?;
            write_range(out, &mq, r)?;
            read_queue(&c, &mq, expr, r, |msgs| {
                for m in msgs {
                    if by_tag {
                        *tags.entry(m.tags().unwrap_or("").to_string()).or_default() += 1;
                    }
                    if print {
                        writeln!(out, "{}", message_line(m, print_body))?;
                    }
                }
                Ok(())
            })
            .await?;
            if by_tag {
                let mut counts: Vec<(String, u64)> = tags.into_iter().collect();
                counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                for (tag, n) in counts {
                    writeln!(out, "Tag: {tag:<30} Count: {n}")?;
                }
            }
            Ok::<_, CliError>(())
        }
        .await;
        c.shutdown().await;
        result
    }
}
