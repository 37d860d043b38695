//! `consumerProgress -g G [-t T]`: per queue, the broker's and the group's offsets and the lag
//! (Java `ConsumerProgressSubCommand` with a group); without `-g`, one line per group
//! ([`super::consumer_progress_all`]).

use std::collections::BTreeMap;

use super::broker_format::human_time;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin consumerProgress`.
pub struct ConsumerProgressCommand;

impl Command for ConsumerProgressCommand {
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
            OptSpec::arg("s", "showClientIP", false, "Show Client IP per Queue"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let Some(group) = args.value("g") else {
            return super::consumer_progress_all::print(admin, out).await;
        };
        let stats = admin.typed()?.consume_stats(group, args.value("t")).await?;
        // Java sorts by topic, then broker name, then queue id (MessageQueue's order).
        let rows: BTreeMap<_, _> = stats.offset_table.0.iter().collect();
        // Java 4.9.7: the #Client IP column only with `-s true`, filled from each member's
        // running info (the queues it holds).
        let show_ip = args
            .value("s")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let owners = if show_ip {
            allocation(admin, group).await?
        } else {
            BTreeMap::new()
        };
        if show_ip {
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
        } else {
            writeln!(
                out,
                "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  #LastTime",
                "#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff",
            )?;
        }
        let mut diff_total = 0i64;
        for (mq, w) in rows {
            let diff = w.broker_offset - w.consumer_offset;
            diff_total += diff;
            let last = if w.last_timestamp > 0 {
                human_time(w.last_timestamp)
            } else {
                "N/A".to_string()
            };
            if show_ip {
                writeln!(
                    out,
                    "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}  {}",
                    mq.topic,
                    mq.broker_name,
                    mq.queue_id,
                    w.broker_offset,
                    w.consumer_offset,
                    owners.get(mq).map_or("N/A", String::as_str),
                    diff,
                    last
                )?;
            } else {
                writeln!(
                    out,
                    "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  {}",
                    mq.topic,
                    mq.broker_name,
                    mq.queue_id,
                    w.broker_offset,
                    w.consumer_offset,
                    diff,
                    last
                )?;
            }
        }
        writeln!(out)?;
        writeln!(out, "Consume TPS: {:.2}", stats.consume_tps)?;
        writeln!(out, "Diff Total: {diff_total}")?;
        Ok(())
    }
}

/// Queue → IP of the member holding it (Java `getMessageQueueAllocationResult`: each online
/// member's running info, the client id's part before `@`). Members that do not answer are
/// left out, as Java's loop skips them.
async fn allocation(
    admin: &Admin,
    group: &str,
) -> Result<BTreeMap<remoting::body::client::MessageQueue, String>> {
    let typed = admin.typed()?;
    let mut owners = BTreeMap::new();
    let Ok(conns) = typed.consumer_connections(group).await else {
        return Ok(owners);
    };
    for c in &conns.connection_set {
        let Ok(info) = typed
            .consumer_running_info(group, &c.client_id, false)
            .await
        else {
            continue;
        };
        let ip = c
            .client_id
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string();
        for mq in info.mq_table.0.keys() {
            owners.insert(mq.clone(), ip.clone());
        }
    }
    Ok(owners)
}
