//! `consumerStatus -g G [-i clientId] [-s]` (Java `ConsumerStatusSubCommand`): what each online
//! member of a group reports about itself (GET_CONSUMER_RUNNING_INFO, forwarded by a broker to
//! the client). With `-i` one member's report is printed in Java's `formatString` layout;
//! without, one line per member (index, client id, version, file) and each report written to
//! `<now>/<clientId>` under the working directory, as Java does, then whether the members
//! subscribe alike and no queue is held by two of them. `-s` asks for a thread dump, which
//! this project's client does not send.

use std::collections::BTreeMap;

use client::running_info::ConsumerRunningInfo;

use super::broker_format::version_desc;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin consumerStatus`.
pub struct ConsumerStatusCommand;

/// True when every member reports the same subscriptions (Java `analyzeSubscription`).
pub fn same_subscription(infos: &BTreeMap<String, ConsumerRunningInfo>) -> bool {
    let subs = |i: &ConsumerRunningInfo| -> BTreeMap<String, String> {
        i.subscription_set
            .iter()
            .map(|s| (s.topic.clone(), s.sub_string.clone()))
            .collect()
    };
    let mut it = infos.values().map(subs);
    match it.next() {
        Some(first) => it.all(|s| s == first),
        None => true,
    }
}

/// True when no queue is held by two members.
pub fn rebalance_ok(infos: &BTreeMap<String, ConsumerRunningInfo>) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    infos
        .values()
        .flat_map(|i| i.mq_table.0.keys())
        .all(|mq| seen.insert(mq.clone()))
}

impl Command for ConsumerStatusCommand {
    fn name(&self) -> &'static str {
        "consumerStatus"
    }
    fn description(&self) -> &'static str {
        "Query consumer's internal data structure"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("g", "consumerGroup", true, "consumer group name"),
            OptSpec::arg("i", "clientId", false, "The consumer's client id"),
            OptSpec::arg("b", "brokerAddr", false, "broker address"),
            OptSpec::flag("s", "jstack", "Run jstack command in the consumer progress"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let group = args.required("g")?.trim();
        let jstack = args.has("s");
        let typed = admin.typed()?;
        if let Some(id) = args.value("i") {
            let info = typed
                .consumer_running_info(group, id.trim(), jstack)
                .await?;
            write!(out, "{}", info.format_string())?;
            return Ok(());
        }
        let cc = typed.consumer_connections(group).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        writeln!(
            out,
            "{:<10}  {:<40} {:<20} #ConsumerRunningInfoFile",
            "#Index", "#ClientId", "#Version"
        )?;
        let mut infos = BTreeMap::new();
        let mut i = 1;
        for conn in &cc.connection_set {
            let info = match typed
                .consumer_running_info(group, &conn.client_id, jstack)
                .await
            {
                Ok(info) => info,
                Err(e) => {
                    eprintln!("{}: {e}", conn.client_id);
                    continue;
                }
            };
            let path = format!("{now}/{}", conn.client_id);
            let io = |e: std::io::Error| CliError::Usage(format!("cannot write {path}: {e}"));
            std::fs::create_dir_all(now.to_string()).map_err(io)?;
            std::fs::write(&path, info.format_string()).map_err(io)?;
            writeln!(
                out,
                "{:<10}  {:<40} {:<20} {}",
                i,
                conn.client_id,
                version_desc(conn.version),
                path
            )?;
            i += 1;
            infos.insert(conn.client_id.clone(), info);
        }
        if !infos.is_empty() {
            if same_subscription(&infos) {
                write!(out, "\n\nSame subscription in the same group of consumer")?;
                writeln!(
                    out,
                    "\n\nRebalance {}",
                    if rebalance_ok(&infos) { "OK" } else { "Failed" }
                )?;
            } else {
                write!(
                    out,
                    "\n\nWARN: Different subscription in the same group of consumer!!!"
                )?;
            }
        }
        Ok(())
    }
}
