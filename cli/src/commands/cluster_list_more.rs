//! `clusterList -m`: per broker, the messages put and got yesterday and so far today, derived
//! from the runtime counters as Java's `ClusterListSubCommand.printClusterMoreStats` does.

use std::collections::BTreeMap;

use super::Out;
use super::cluster_list::ClusterRow;
use crate::error::Result;

fn n(rt: &BTreeMap<String, String>, key: &str) -> i64 {
    rt.get(key).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Prints the `-m` table for rows whose runtime info was read.
pub fn print(out: Out<'_>, rows: &[ClusterRow]) -> Result<()> {
    writeln!(
        out,
        "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
        "#Cluster Name",
        "#Broker Name",
        "#InTotalYest",
        "#OutTotalYest",
        "#InTotalToday",
        "#OutTotalToday"
    )?;
    for row in rows {
        let Some(rt) = &row.runtime else {
            continue;
        };
        let in_yest = n(rt, "msgPutTotalTodayMorning") - n(rt, "msgPutTotalYesterdayMorning");
        let out_yest = n(rt, "msgGetTotalTodayMorning") - n(rt, "msgGetTotalYesterdayMorning");
        let in_today = n(rt, "msgPutTotalTodayNow") - n(rt, "msgPutTotalTodayMorning");
        let out_today = n(rt, "msgGetTotalTodayNow") - n(rt, "msgGetTotalTodayMorning");
        writeln!(
            out,
            "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
            row.cluster, row.broker_name, in_yest, out_yest, in_today, out_today
        )?;
    }
    Ok(())
}
