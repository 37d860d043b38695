//! `consumerProgress -g G [-t T]`: per queue, the broker's and the group's offsets and the lag
//! (Java `ConsumerProgressSubCommand` with a group); without `-g`, one line per group
//! ([`super::consumer_progress_all`]).

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use super::broker_format::human_time;
use super::{Out, SubCommand};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin consumerProgress`.
pub struct ConsumerProgressCommand;

impl SubCommand for ConsumerProgressCommand {
    fn name(&self) -> &'static str {
        "consumerProgress"
    }
    fn description(&self) -> &'static str {
        "Query consumers's progress, speed"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("g", "groupName", false, "consumer group name"),
            OptSpec::arg("t", "topicName", false, "topic name"),
        ]
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(group) = args.value("g") else {
                return super::consumer_progress_all::print(admin, out).await;
            };
            let stats = admin.typed()?.consume_stats(group, args.value("t")).await?;
            // Java sorts by topic, then broker name, then queue id (MessageQueue's order).
            let rows: BTreeMap<_, _> = stats.offset_table.0.iter().collect();
            writeln!(
                out,
                "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}  #LastTime",
                "#Topic",
                "#Broker Name",
                "#QID",
                "#Broker Offset",
                "#Consumer Offset",
                "#Client IP",
                "#Diff",
            )?;
            let mut diff_total = 0i64;
            for (mq, w) in rows {
                let diff = w.broker_offset - w.consumer_offset;
                diff_total += diff;
                let last = if w.last_timestamp > 0 {
                    human_time(w.last_timestamp)
                } else {
                    "N/A".to_string()
                };
                writeln!(
                    out,
                    "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}  {}",
                    mq.topic,
                    mq.broker_name,
                    mq.queue_id,
                    w.broker_offset,
                    w.consumer_offset,
                    "N/A",
                    diff,
                    last
                )?;
            }
            writeln!(out)?;
            writeln!(out, "Consume TPS: {:.2}", stats.consume_tps)?;
            writeln!(out, "Diff Total: {diff_total}")?;
            Ok(())
        })
    }
}
