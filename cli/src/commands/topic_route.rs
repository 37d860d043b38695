//! `topicRoute -t T`: the topic's route as pretty JSON (Java prints `toJson(true)`); with `-l`
//! Java's list format: one line per broker group, then the totals.

use super::{Command, Out};
use remoting::body::route::TopicRouteData;

use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin topicRoute`.
pub struct TopicRouteCommand;

impl Command for TopicRouteCommand {
    fn name(&self) -> &'static str {
        "topicRoute"
    }
    fn description(&self) -> &'static str {
        "Examine topic route info"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::flag("l", "list", "Use list format to print data"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let route = admin.topic_route(args.required("t")?).await?;
        if args.has("l") {
            return print_list(&route, out);
        }
        let text = serde_json::to_string_pretty(&route)
            .map_err(|e| CliError::Decode(format!("render route: {e}")))?;
        writeln!(out, "{text}")?;
        Ok(())
    }
}

/// Java's `printData(route, true)`: `%-45s %-32s %-50s %-10s %-11s %-5s` rows sorted by broker
/// name, broker addresses as Java's `HashMap.toString` (`{0=host:port}`), 158 dashes, totals.
fn print_list(route: &TopicRouteData, out: Out<'_>) -> Result<()> {
    let row = |out: &mut (dyn std::io::Write + Send), c: [&str; 6]| {
        writeln!(
            out,
            "{:<45} {:<32} {:<50} {:<10} {:<11} {:<5}",
            c[0], c[1], c[2], c[3], c[4], c[5]
        )
    };
    row(
        &mut *out,
        [
            "#ClusterName",
            "#BrokerName",
            "#BrokerAddrs",
            "#ReadQueue",
            "#WriteQueue",
            "#Perm",
        ],
    )?;
    let mut brokers = route.broker_datas.clone();
    brokers.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let (mut read, mut write) = (0i64, 0i64);
    let mut names = std::collections::BTreeSet::new();
    for q in &route.queue_datas {
        names.insert(q.broker_name.clone());
    }
    for b in &brokers {
        let Some(q) = route
            .queue_datas
            .iter()
            .find(|q| q.broker_name == b.broker_name)
        else {
            continue;
        };
        read += i64::from(q.read_queue_nums);
        write += i64::from(q.write_queue_nums);
        let addrs = b
            .broker_addrs
            .iter()
            .map(|(id, addr)| format!("{id}={addr}"))
            .collect::<Vec<_>>()
            .join(", ");
        row(
            &mut *out,
            [
                &b.cluster,
                &b.broker_name,
                &format!("{{{addrs}}}"),
                &q.read_queue_nums.to_string(),
                &q.write_queue_nums.to_string(),
                &q.perm.to_string(),
            ],
        )?;
    }
    writeln!(out, "{}", "-".repeat(158))?;
    row(
        &mut *out,
        [
            "Total:",
            &names.len().to_string(),
            "",
            &read.to_string(),
            &write.to_string(),
            "",
        ],
    )?;
    Ok(())
}
