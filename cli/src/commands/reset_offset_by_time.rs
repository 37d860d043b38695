//! `resetOffsetByTime -g GROUP -t TOPIC -s TIME [-f true|false]`: moves a group's offsets on
//! every master of the topic to the first message stored at or after TIME (ms since the epoch,
//! `now`, or `yyyy-MM-dd#HH:mm:ss:SSS` is not supported: use ms). Live members are told by the
//! broker (INVOKE_BROKER_TO_RESET_OFFSET); with no member online the offsets are committed
//! directly, queue by queue, as Java's fallback does.

use remoting::body::admin::ResetOffsetBody;
use remoting::header::admin::ResetOffsetRequestHeader;
use remoting::header::offset::{
    SearchOffsetRequestHeader, SearchOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use remoting::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

use super::message_print::topic_masters;
use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin resetOffsetByTime`.
pub struct ResetOffsetByTimeCommand;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses `-s`: ms since the epoch or `now`.
pub fn parse_time(s: &str) -> Result<i64> {
    if s.eq_ignore_ascii_case("now") {
        return Ok(now_ms());
    }
    s.parse::<i64>()
        .ok()
        .filter(|t| *t >= 0)
        .ok_or_else(|| CliError::Usage(format!("-s wants ms since the epoch or 'now', got {s:?}")))
}

/// INVOKE_BROKER_TO_RESET_OFFSET on the broker at `addr` (the broker tells the online
/// consumers); `None` when the group has no consumer online there (CONSUMER_NOT_ONLINE), for
/// the caller to reset the stored offsets itself as Java does.
pub(super) async fn reset_on_broker(
    admin: &Admin,
    addr: &str,
    topic: &str,
    group: &str,
    timestamp: i64,
    force: bool,
) -> Result<Option<ResetOffsetBody>> {
    let h = ResetOffsetRequestHeader {
        topic: topic.to_string(),
        group: group.to_string(),
        timestamp,
        is_force: force,
        queue_id: None,
        offset: None,
    };
    let req = RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_RESET_OFFSET, h.to_ext());
    let resp = admin.invoke_raw(addr, req).await?;
    if resp.response_code() == ResponseCode::CONSUMER_NOT_ONLINE {
        return Ok(None);
    }
    let resp = check(addr, resp)?;
    ResetOffsetBody::decode(&resp.body)
        .map(Some)
        .map_err(|e| CliError::Decode(format!("reset result from {addr}: {e}")))
}

impl Command for ResetOffsetByTimeCommand {
    fn name(&self) -> &'static str {
        "resetOffsetByTime"
    }
    fn description(&self) -> &'static str {
        "Reset consumer offset by timestamp(without client restart)."
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("g", "group", true, "set the consumer group"),
            OptSpec::arg("t", "topic", true, "set the topic"),
            OptSpec::arg(
                "s",
                "timestamp",
                true,
                "set the timestamp[now|currentTimeMillis]",
            ),
            OptSpec::arg(
                "f",
                "force",
                false,
                "set the force rollback by timestamp switch[true|false]",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let group = args.required("g")?;
        let topic = args.required("t")?;
        let timestamp = parse_time(args.required("s")?)?;
        let force = args
            .value("f")
            .is_none_or(|v| v.eq_ignore_ascii_case("true"));
        writeln!(
            out,
            "rollback consumer offset by specified group[{group}], topic[{topic}], force[{force}], timestamp(millis)[{timestamp}]"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<40}  {:<40}  {:<40}",
            "#brokerName", "#queueId", "#offset"
        )?;
        for (name, addr) in topic_masters(admin, topic).await? {
            let Some(body) = reset_on_broker(admin, &addr, topic, group, timestamp, force).await?
            else {
                reset_offline(admin, out, &name, &addr, group, topic, timestamp).await?;
                continue;
            };
            for (mq, off) in &body.offset_table.0 {
                writeln!(
                    out,
                    "{:<40}  {:<40}  {:<40}",
                    mq.broker_name, mq.queue_id, off
                )?;
            }
        }
        Ok(())
    }
}

/// No member online: search each queue's offset for the time and commit it for the group.
async fn reset_offline(
    admin: &Admin,
    out: Out<'_>,
    broker: &str,
    addr: &str,
    group: &str,
    topic: &str,
    timestamp: i64,
) -> Result<()> {
    let route = admin.topic_route(topic).await?;
    let queues = route
        .queue_datas
        .iter()
        .find(|q| q.broker_name == broker)
        .map(|q| q.read_queue_nums)
        .unwrap_or(0);
    for queue_id in 0..queues {
        let s = SearchOffsetRequestHeader {
            topic: topic.to_string(),
            queue_id,
            timestamp,
            boundary_type: None,
            bname: None,
        };
        let resp = admin
            .invoke(
                addr,
                RemotingCommand::request(RequestCode::SEARCH_OFFSET_BY_TIMESTAMP, s.to_ext()),
            )
            .await?;
        let offset = resp
            .ext_fields
            .decode::<SearchOffsetResponseHeader>()
            .map_err(|e| CliError::Decode(format!("search offset from {addr}: {e}")))?
            .offset;
        let u = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.to_string(),
            topic: topic.to_string(),
            queue_id,
            commit_offset: offset,
            bname: None,
        };
        admin
            .invoke(
                addr,
                RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, u.to_ext()),
            )
            .await?;
        writeln!(out, "{broker:<40}  {queue_id:<40}  {offset:<40}")?;
    }
    Ok(())
}
