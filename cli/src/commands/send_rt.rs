//! `checkMsgSendRT -t topic [-a amount] [-s size]` and `sendMsgStatus -b brokerName [-s size]
//! [-c count]`: send round trips as Java's `CheckMsgSendRTCommand` and `SendMsgStatusCommand`
//! print them (per send: queue, outcome, milliseconds; then the average).

use std::time::Instant;

use client::{Message, Producer, ProducerConfig, SendResult, SendStatus};

use super::broker_format::num_opt;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin checkMsgSendRT`.
pub struct CheckMsgSendRtCommand;
/// `mqadmin sendMsgStatus`.
pub struct SendMsgStatusCommand;

/// Java's `getStringBySize`: `size` bytes of `a`.
fn body_of(size: usize) -> Vec<u8> {
    vec![b'a'; size]
}

async fn producer(admin: &Admin, group: &str) -> Result<Producer> {
    let mut config = ProducerConfig::new(group, "");
    config.client = admin.client_config()?;
    let p = Producer::new(config)?;
    p.start().await?;
    Ok(p)
}

fn status_name(s: SendStatus) -> &'static str {
    match s {
        SendStatus::SendOk => "SEND_OK",
        SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
    }
}

/// Java `SendResult.toString()`.
fn send_result_string(r: &SendResult) -> String {
    format!(
        "SendResult [sendStatus={}, msgId={}, offsetMsgId={}, messageQueue=MessageQueue [topic={}, brokerName={}, queueId={}], queueOffset={}]",
        status_name(r.status),
        r.msg_id,
        r.offset_msg_id,
        r.message_queue.topic,
        r.message_queue.broker_name,
        r.message_queue.queue_id,
        r.queue_offset
    )
}

impl Command for CheckMsgSendRtCommand {
    fn name(&self) -> &'static str {
        "checkMsgSendRT"
    }
    fn description(&self) -> &'static str {
        "check message send response time"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg("a", "amount", false, "message amount | default 100"),
            OptSpec::arg("s", "size", false, "message size | default 128 Byte"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?.trim();
        let amount: u64 = num_opt(args, "a", 100)?;
        let size: usize = num_opt(args, "s", 128)?;
        let p = producer(admin, "PID_SMSC_RT").await?;
        let queues = p.fetch_publish_queues(topic).await;
        writeln!(
            out,
            "{:<32}  {:<4}  {:<20}    #RT",
            "#Broker Name", "#QID", "#Send Result"
        )?;
        let mut elapsed_total = 0u128;
        for i in 0..amount {
            // Java's selector: queue i mod the queue count.
            let (name, qid, ok, ms) = match &queues {
                Ok(qs) if !qs.is_empty() => {
                    let mq = &qs[(i % qs.len() as u64) as usize];
                    let start = Instant::now();
                    let r = p
                        .send_to_queue(Message::new(topic, body_of(size)), mq)
                        .await;
                    (
                        mq.broker_name.clone(),
                        mq.queue_id.to_string(),
                        r.is_ok(),
                        start.elapsed().as_millis(),
                    )
                }
                _ => ("null".to_string(), "0".to_string(), false, 0),
            };
            if i != 0 {
                elapsed_total += ms;
            }
            writeln!(out, "{name:<32}  {qid:<4}  {ok:<20}    {ms}")?;
        }
        p.shutdown().await;
        let avg = if amount > 1 {
            elapsed_total as f64 / (amount - 1) as f64
        } else {
            0.0
        };
        writeln!(out, "Avg RT: {avg:.2}")?;
        Ok(())
    }
}

impl Command for SendMsgStatusCommand {
    fn name(&self) -> &'static str {
        "sendMsgStatus"
    }
    fn description(&self) -> &'static str {
        "send msg to broker."
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("b", "brokerName", true, "Broker Name"),
            OptSpec::arg("s", "messageSize", false, "Message Size, Default: 128"),
            OptSpec::arg("c", "count", false, "send message count, Default: 50"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        // Java sends to the topic named after the broker (every broker serves one).
        let broker = args.required("b")?.trim();
        let size: usize = num_opt(args, "s", 128)?;
        let count: u64 = num_opt(args, "c", 50)?;
        let p = producer(admin, "PID_SMSC").await?;
        // A warm-up send, as Java does, not reported.
        let warm = p.send(Message::new(broker, body_of(16))).await;
        if let Err(e) = warm {
            p.shutdown().await;
            return Err(e.into());
        }
        for _ in 0..count {
            let start = Instant::now();
            let r = p.send(Message::new(broker, body_of(size))).await;
            let ms = start.elapsed().as_millis();
            match r {
                Ok(r) => writeln!(out, "rt:{ms}ms, SendResult={}", send_result_string(&r))?,
                Err(e) => {
                    p.shutdown().await;
                    return Err(e.into());
                }
            }
        }
        p.shutdown().await;
        Ok(())
    }
}
