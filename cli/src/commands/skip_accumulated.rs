//! `skipAccumulatedMessage -g group -t topic [-f true|false]` (Java
//! `SkipAccumulationSubCommand`): moves the group's offsets on the topic to the end of each
//! queue. With members online every broker of the topic tells them (INVOKE_BROKER_TO_RESET_OFFSET
//! with timestamp -1) and the new offsets print as `#brokerName #queueId #offset`; when a broker
//! answers CONSUMER_NOT_ONLINE the offsets are committed directly, queue by queue, and the
//! rollback table Java's `resetOffsetByTimestampOld` prints is shown (`#brokerOffset
//! #consumerOffset #timestampOffset #rollbackOffset`); without `-f true` an offset is only moved
//! backwards.

use remoting::body::admin::{ConsumeStats, OffsetWrapper, TopicStatsTable};
use remoting::body::client::MessageQueue;
use remoting::body::route::TopicRouteData;
use remoting::header::admin::{GetConsumeStatsRequestHeader, GetTopicStatsInfoRequestHeader};
use remoting::header::offset::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::reset_offset_by_time::reset_on_broker;
use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin skipAccumulatedMessage`.
pub struct SkipAccumulatedMessageCommand;

/// Java `UtilAll.frontStringAtLeast`.
fn front(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The broker groups of the route with the address Java's `selectBrokerAddr` picks.
fn brokers(route: &TopicRouteData) -> Vec<(String, String)> {
    route
        .broker_datas
        .iter()
        .filter_map(|b| {
            b.select_broker_addr()
                .map(|a| (b.broker_name.clone(), a.to_string()))
        })
        .collect()
}

/// Java `resetOffsetConsumeOffset` with timestamp -1: the queue's end, committed when forced or
/// behind the consumer. Returns (timestamp offset, rollback offset).
async fn skip_queue(
    admin: &Admin,
    addr: &str,
    group: &str,
    mq: &MessageQueue,
    ow: &OffsetWrapper,
    force: bool,
) -> Result<(i64, i64)> {
    let h = GetMaxOffsetRequestHeader {
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        ..Default::default()
    };
    let resp = check(
        addr,
        admin
            .invoke(
                addr,
                RemotingCommand::request(RequestCode::GET_MAX_OFFSET, h.to_ext()),
            )
            .await?,
    )?;
    let reset = resp
        .ext_fields
        .decode::<GetMaxOffsetResponseHeader>()
        .map_err(|e| CliError::Decode(format!("max offset from {addr}: {e}")))?
        .offset;
    if !(force || reset <= ow.consumer_offset) {
        return Ok((reset, ow.consumer_offset));
    }
    let u = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        commit_offset: reset,
        bname: None,
    };
    check(
        addr,
        admin
            .invoke(
                addr,
                RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, u.to_ext()),
            )
            .await?,
    )?;
    Ok((reset, reset))
}

/// The offline path (Java `resetOffsetByTimestampOld`): per broker, the group's queues of the
/// topic from GET_CONSUME_STATS, or every queue from GET_TOPIC_STATS_INFO when it has none.
async fn skip_offline(
    admin: &Admin,
    out: Out<'_>,
    route: &TopicRouteData,
    group: &str,
    topic: &str,
    force: bool,
) -> Result<()> {
    writeln!(
        out,
        "{:<20}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
        "#brokerName",
        "#queueId",
        "#brokerOffset",
        "#consumerOffset",
        "#timestampOffset",
        "#rollbackOffset"
    )?;
    for (name, addr) in brokers(route) {
        let h = GetConsumeStatsRequestHeader {
            consumer_group: group.to_string(),
            topic: None,
        };
        let resp = check(
            &addr,
            admin
                .invoke(
                    &addr,
                    RemotingCommand::request(RequestCode::GET_CONSUME_STATS, h.to_ext()),
                )
                .await?,
        )?;
        let stats = ConsumeStats::decode(&resp.body)
            .map_err(|e| CliError::Decode(format!("consume stats from {addr}: {e}")))?;
        let mut queues: Vec<(MessageQueue, OffsetWrapper)> = stats
            .offset_table
            .0
            .into_iter()
            .filter(|(mq, _)| mq.topic == topic)
            .collect();
        if queues.is_empty() {
            let h = GetTopicStatsInfoRequestHeader {
                topic: topic.to_string(),
            };
            let resp = check(
                &addr,
                admin
                    .invoke(
                        &addr,
                        RemotingCommand::request(RequestCode::GET_TOPIC_STATS_INFO, h.to_ext()),
                    )
                    .await?,
            )?;
            let table = TopicStatsTable::decode(&resp.body)
                .map_err(|e| CliError::Decode(format!("topic stats from {addr}: {e}")))?;
            let n = route
                .queue_datas
                .iter()
                .find(|q| q.broker_name == name)
                .map_or(0, |q| q.read_queue_nums);
            for queue_id in 0..n {
                let mq = MessageQueue::new(topic, &name, queue_id);
                let Some(o) = table.offset_table.0.get(&mq) else {
                    continue;
                };
                let ow = OffsetWrapper {
                    broker_offset: o.max_offset,
                    consumer_offset: o.min_offset,
                    ..Default::default()
                };
                queues.push((mq, ow));
            }
        }
        for (mq, ow) in &queues {
            let (ts_offset, rollback) = skip_queue(admin, &addr, group, mq, ow, force).await?;
            writeln!(
                out,
                "{:<20}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
                front(&mq.broker_name, 32),
                mq.queue_id,
                ow.broker_offset,
                ow.consumer_offset,
                ts_offset,
                rollback
            )?;
        }
    }
    Ok(())
}

impl Command for SkipAccumulatedMessageCommand {
    fn name(&self) -> &'static str {
        "skipAccumulatedMessage"
    }
    fn description(&self) -> &'static str {
        "Skip all messages that are accumulated (not consumed) currently"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("g", "group", true, "set the consumer group"),
            OptSpec::arg("t", "topic", true, "set the topic"),
            OptSpec::arg(
                "f",
                "force",
                false,
                "set the force rollback by timestamp switch[true|false]",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let group = args.required("g")?.trim();
        let topic = args.required("t")?.trim();
        let force = args
            .value("f")
            .is_none_or(|v| v.trim().eq_ignore_ascii_case("true"));
        let route = admin.topic_route(topic).await?;
        let mut table: Vec<(MessageQueue, i64)> = Vec::new();
        for (_, addr) in brokers(&route) {
            let Some(body) = reset_on_broker(admin, &addr, topic, group, -1, force).await? else {
                return skip_offline(admin, out, &route, group, topic, force).await;
            };
            table.extend(body.offset_table.0);
        }
        writeln!(
            out,
            "{:<40}  {:<40}  {:<40}",
            "#brokerName", "#queueId", "#offset"
        )?;
        for (mq, off) in &table {
            writeln!(
                out,
                "{:<40}  {:<40}  {:<40}",
                front(&mq.broker_name, 32),
                mq.queue_id,
                off
            )?;
        }
        Ok(())
    }
}
