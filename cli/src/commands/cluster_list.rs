//! `clusterList`: every broker of every cluster with its runtime figures, in the table layout of
//! Java's `mqadmin clusterList` (the seed's FAQ 5.4).
//!
//! Runtime figures come from each broker's GET_BROKER_RUNTIME_INFO; a broker that cannot be asked
//! still gets its row, with a blank version and zero figures, so the listing never fails because
//! one broker is down.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin clusterList`.
pub struct ClusterListCommand;

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRow {
    /// Cluster name.
    pub cluster: String,
    /// Broker group name.
    pub broker_name: String,
    /// Broker id.
    pub broker_id: i64,
    /// Broker address.
    pub addr: String,
    /// Runtime info, when the broker answered.
    pub runtime: Option<BTreeMap<String, String>>,
}

fn stat(rt: &BTreeMap<String, String>, key: &str) -> String {
    rt.get(key).cloned().unwrap_or_else(|| "0".into())
}

/// The first number of a "tps tps tps" figure.
fn first_number(rt: &BTreeMap<String, String>, key: &str) -> f64 {
    rt.get(key)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn number(rt: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    rt.get(key).and_then(|v| v.trim().parse().ok())
}

/// The header line.
pub fn header_line() -> String {
    format_line(
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Version",
        "#InTPS(LOAD)",
        "#OutTPS(LOAD)",
        "#PCWait(ms)",
        "#Hour",
        "#SPACE",
    )
}

#[allow(clippy::too_many_arguments)]
fn format_line(
    cluster: &str,
    broker: &str,
    bid: &str,
    addr: &str,
    version: &str,
    in_tps: &str,
    out_tps: &str,
    pc_wait: &str,
    hour: &str,
    space: &str,
) -> String {
    // Java: "%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s%n".
    format!(
        "{cluster:<16}  {broker:<22}  {bid:<4}  {addr:<22} {version:<16} {in_tps:>19} {out_tps:>19} {pc_wait:>10} {hour:>5} {space:>6}"
    )
}

/// Renders one row; `now_ms` is the current time in epoch milliseconds.
pub fn format_row(row: &ClusterRow, now_ms: i64) -> String {
    let empty = BTreeMap::new();
    let rt = row.runtime.as_ref().unwrap_or(&empty);
    let version = rt.get("brokerVersionDesc").cloned().unwrap_or_default();
    let in_tps = format!(
        "{:9.2}({},{}ms)",
        first_number(rt, "putTps"),
        stat(rt, "sendThreadPoolQueueSize"),
        stat(rt, "sendThreadPoolQueueHeadWaitTimeMills")
    );
    let out_tps = format!(
        "{:9.2}({},{}ms)",
        first_number(rt, "getTransferedTps"),
        stat(rt, "pullThreadPoolQueueSize"),
        stat(rt, "pullThreadPoolQueueHeadWaitTimeMills")
    );
    // As Java: hours since the earliest stored message; a broker with no message reports 0, so
    // this is then the hours since the epoch (the seed's "422168.55").
    let hour = match number(rt, "earliestMessageTimeStamp") {
        Some(earliest) => (now_ms as f64 - earliest) / 3600.0 / 1000.0,
        None => 0.0,
    };
    let space = number(rt, "commitLogDiskRatio").unwrap_or(0.0);
    format_line(
        &row.cluster,
        &row.broker_name,
        &row.broker_id.to_string(),
        &row.addr,
        &version,
        &in_tps,
        &out_tps,
        &stat(rt, "pageCacheLockTimeMills"),
        &format!("{hour:.2}"),
        &format!("{space:.4}"),
    )
}

impl Command for ClusterListCommand {
    fn name(&self) -> &'static str {
        "clusterList"
    }
    fn description(&self) -> &'static str {
        "List cluster infos"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::flag("m", "moreStats", "Print more stats"),
            OptSpec::arg(
                "i",
                "interval",
                false,
                "specify intervals numbers, it is in seconds",
            ),
            OptSpec::arg("c", "clusterName", false, "which cluster"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        // -i repeats the listing every so many seconds until interrupted, as in Java.
        let interval = match args.value("i") {
            None => None,
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                crate::error::CliError::Usage(format!("-i wants seconds, got {v:?}"))
            })?),
        };
        let mut first = true;
        loop {
            if !first && let Some(secs) = interval {
                tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))).await;
            }
            first = false;
            list_once(args, admin, &mut *out).await?;
            out.flush()?;
            if interval.is_none() {
                return Ok(());
            }
        }
    }
}

/// One listing: the base table, or with `-m` the message totals of yesterday and today.
async fn list_once(args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
    let only = args.value("c").map(str::trim).filter(|c| !c.is_empty());
    let info = admin.cluster_info().await?;
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        if only.is_some_and(|c| c != cluster) {
            continue;
        }
        for name in names {
            let Some(group) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &group.broker_addrs {
                rows.push(ClusterRow {
                    cluster: cluster.clone(),
                    broker_name: name.clone(),
                    broker_id: *id,
                    addr: addr.clone(),
                    runtime: None,
                });
            }
        }
    }
    // Ask every broker at once; one that cannot answer keeps `runtime: None`.
    let asks = rows.iter().map(|r| admin.broker_runtime_info(&r.addr));
    let answers = futures::future::join_all(asks).await;
    for (row, answer) in rows.iter_mut().zip(answers) {
        row.runtime = answer.ok().map(|kv| kv.table);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    if args.has("m") {
        return super::cluster_list_more::print(out, &rows);
    }
    writeln!(out, "{}", header_line())?;
    for row in &rows {
        writeln!(out, "{}", format_row(row, now_ms))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_seed_layout() {
        // Column starts of the header in the seed's FAQ 5.4.
        let h = header_line();
        for (col, start) in [
            ("#Broker Name", 18),
            ("#BID", 42),
            ("#Addr", 48),
            ("#Version", 71),
            ("#InTPS(LOAD)", 95),
            ("#OutTPS(LOAD)", 114),
            ("#PCWait(ms)", 128),
            ("#Hour", 140),
            ("#SPACE", 146),
        ] {
            assert_eq!(h.find(col), Some(start), "{col} in {h:?}");
        }
        let rt: BTreeMap<String, String> = [
            ("brokerVersionDesc", "V4_9_8"),
            ("putTps", "12.5 10.0 9.0"),
            ("getTransferedTps", "3.25 1 1"),
            ("sendThreadPoolQueueSize", "1"),
            ("sendThreadPoolQueueHeadWaitTimeMills", "2"),
            ("pullThreadPoolQueueSize", "3"),
            ("pullThreadPoolQueueHeadWaitTimeMills", "4"),
            ("pageCacheLockTimeMills", "0"),
            ("earliestMessageTimeStamp", "0"),
            ("commitLogDiskRatio", "0.25"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let row = ClusterRow {
            cluster: "DefaultCluster".into(),
            broker_name: "DEFAULT_BROKER".into(),
            broker_id: 0,
            addr: "10.29.181.16:10911".into(),
            runtime: Some(rt),
        };
        let line = format_row(&row, 7_200_000);
        assert!(
            line.starts_with("DefaultCluster    DEFAULT_BROKER          0     10.29.181.16:10911"),
            "{line}"
        );
        assert!(line.contains("    12.50(1,2ms)"), "{line}");
        assert!(line.contains("     3.25(3,4ms)"), "{line}");
        assert!(line.ends_with(" 2.00 0.2500"), "{line}");
        let down = format_row(
            &ClusterRow {
                runtime: None,
                ..row
            },
            0,
        );
        assert!(down.contains("     0.00(0,0ms)"), "{down}");
    }
}
