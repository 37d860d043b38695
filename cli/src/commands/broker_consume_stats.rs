//! `brokerConsumeStats -b addr [-t timeoutMillis] [-l diffLevel] [-o order]`: every group's
//! progress on one broker (GET_BROKER_CONSUME_STATS), laid out as Java's
//! `BrokerConsumeStatsSubCommad` prints it.

use remoting::body::admin::ConsumeStatsList;
use remoting::header::admin::GetConsumeStatsInBrokerHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::broker_format::{bool_opt, num_opt};
use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin brokerConsumeStats`.
pub struct BrokerConsumeStatsCommand;

/// `yyyy-MM-dd HH:mm:ss` (Java `UtilAll.YYYY_MM_DD_HH_MM_SS`), UTC.
fn date_time(ms: i64) -> String {
    let full = super::broker_format::human_time(ms);
    full.split(',').next().unwrap_or(&full).to_string()
}

impl Command for BrokerConsumeStatsCommand {
    fn name(&self) -> &'static str {
        "brokerConsumeStats"
    }
    fn description(&self) -> &'static str {
        "Fetch broker consume stats data"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("b", "brokerAddr", true, "Broker address"),
            OptSpec::arg("t", "timeoutMillis", false, "request timeout Millis"),
            OptSpec::arg("l", "level", false, "threshold of print diff"),
            OptSpec::arg("o", "order", false, "order topic"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let addr = args.required("b")?.trim();
        let level: i64 = num_opt(args, "l", 0)?;
        let order = bool_opt(args, "o", false)?;
        let h = GetConsumeStatsInBrokerHeader { is_order: order };
        let req = RemotingCommand::request(RequestCode::GET_BROKER_CONSUME_STATS, h.to_ext());
        let resp = check(addr, admin.invoke(addr, req).await?)?;
        let list = ConsumeStatsList::decode(&resp.body)
            .map_err(|e| CliError::Decode(format!("{addr}: {e}")))?;
        writeln!(
            out,
            "{:<64}  {:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  #LastTime",
            "#Topic",
            "#Group",
            "#Broker Name",
            "#QID",
            "#Broker Offset",
            "#Consumer Offset",
            "#Diff"
        )?;
        for map in &list.consume_stats_list {
            for (group, stats) in map {
                for s in stats {
                    let mut queues: Vec<_> = s.offset_table.iter().collect();
                    queues.sort_by(|a, b| {
                        (&a.0.topic, &a.0.broker_name, a.0.queue_id).cmp(&(
                            &b.0.topic,
                            &b.0.broker_name,
                            b.0.queue_id,
                        ))
                    });
                    for (mq, w) in queues {
                        let diff = w.broker_offset - w.consumer_offset;
                        if diff < level || w.last_timestamp <= 0 {
                            continue;
                        }
                        writeln!(
                            out,
                            "{:<64}  {:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  {}",
                            mq.topic,
                            group,
                            mq.broker_name,
                            mq.queue_id,
                            w.broker_offset,
                            w.consumer_offset,
                            diff,
                            date_time(w.last_timestamp)
                        )?;
                    }
                }
            }
        }
        writeln!(out, "\nDiff Total: {}", list.total_diff)?;
        Ok(())
    }
}
