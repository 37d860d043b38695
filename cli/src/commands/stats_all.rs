//! `statsAll [-a] [-t topic]` (Java `StatsAllSubCommand`): per topic and consumer group, the
//! backlog, the put and get rates of the last minute and the messages of the last 24 hours,
//! from VIEW_BROKER_STATS_DATA on every master of the topic (`TOPIC_PUT_NUMS` / topic,
//! `GROUP_GET_NUMS` / `topic@group`). `-a` prints only topics with traffic today.

use remoting::body::admin::GroupList;
use remoting::header::admin::{
    QueryTopicConsumeByWhoRequestHeader, ViewBrokerStatsDataRequestHeader,
};
use remoting::{CommandHeader, RemotingCommand, RequestCode};
use serde::Deserialize;

use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin statsAll`.
pub struct StatsAllCommand;

/// One window of a VIEW_BROKER_STATS_DATA answer.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct StatsWindow {
    /// Value added in the window.
    pub sum: i64,
    /// Value per second.
    pub tps: f64,
    /// Value per increment.
    pub avgpt: f64,
}

/// A VIEW_BROKER_STATS_DATA answer (Java `BrokerStatsData`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BrokerStatsData {
    /// Last minute.
    pub stats_minute: StatsWindow,
    /// Last hour.
    pub stats_hour: StatsWindow,
    /// Last day.
    pub stats_day: StatsWindow,
}

/// VIEW_BROKER_STATS_DATA of `name` / `key` on the broker at `addr`.
pub async fn view_broker_stats_data(
    admin: &Admin,
    addr: &str,
    name: &str,
    key: &str,
) -> Result<BrokerStatsData> {
    let h = ViewBrokerStatsDataRequestHeader {
        stats_name: name.to_string(),
        stats_key: key.to_string(),
    };
    let req = RemotingCommand::request(RequestCode::VIEW_BROKER_STATS_DATA, h.to_ext());
    let resp = check(addr, admin.invoke(addr, req).await?)?;
    serde_json::from_slice(&resp.body)
        .map_err(|e| CliError::Decode(format!("stats data from {addr}: {e}")))
}

/// The last day's sum, else the last hour's, else the last minute's (Java `compute24HourSum`).
pub fn compute_24_hour_sum(d: &BrokerStatsData) -> i64 {
    [d.stats_day.sum, d.stats_hour.sum, d.stats_minute.sum]
        .into_iter()
        .find(|s| *s != 0)
        .unwrap_or(0)
}

/// Java `UtilAll.frontStringAtLeast`: at most `n` leading characters.
fn front(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// QUERY_TOPIC_CONSUME_BY_WHO on the topic's brokers: the first answer.
async fn consumed_by(admin: &Admin, topic: &str, brokers: &[String]) -> Option<GroupList> {
    for addr in brokers {
        let h = QueryTopicConsumeByWhoRequestHeader {
            topic: topic.to_string(),
        };
        let req = RemotingCommand::request(RequestCode::QUERY_TOPIC_CONSUME_BY_WHO, h.to_ext());
        if let Ok(resp) = admin.invoke(addr, req).await
            && let Ok(resp) = check(addr, resp)
            && let Ok(list) = serde_json::from_slice::<GroupList>(&resp.body)
        {
            return Some(list);
        }
    }
    None
}

async fn print_topic(admin: &Admin, out: Out<'_>, topic: &str, active_only: bool) -> Result<()> {
    let route = admin.topic_route(topic).await?;
    let masters: Vec<String> = route
        .broker_datas
        .iter()
        .filter_map(|b| b.broker_addrs.get(&0).cloned())
        .collect();
    let any: Vec<String> = route
        .broker_datas
        .iter()
        .filter_map(|b| b.select_broker_addr().map(str::to_string))
        .collect();
    let groups = consumed_by(admin, topic, &any).await;
    let (mut in_tps, mut in_today) = (0.0, 0i64);
    for addr in &masters {
        if let Ok(d) = view_broker_stats_data(admin, addr, "TOPIC_PUT_NUMS", topic).await {
            in_tps += d.stats_minute.tps;
            in_today += compute_24_hour_sum(&d);
        }
    }
    match groups {
        Some(g) if !g.group_list.is_empty() => {
            for group in &g.group_list {
                let (mut out_tps, mut out_today) = (0.0, 0i64);
                let key = format!("{topic}@{group}");
                for addr in &masters {
                    if let Ok(d) = view_broker_stats_data(admin, addr, "GROUP_GET_NUMS", &key).await
                    {
                        out_tps += d.stats_minute.tps;
                        out_today += compute_24_hour_sum(&d);
                    }
                }
                let accumulate = match admin.typed()?.consume_stats(group, Some(topic)).await {
                    Ok(s) => s.total_diff().max(0),
                    Err(_) => 0,
                };
                if !active_only || in_today > 0 || out_today > 0 {
                    writeln!(
                        out,
                        "{:<64}  {:<64} {accumulate:>12} {in_tps:>11.2} {out_tps:>11.2} {in_today:>14} {out_today:>14}",
                        front(topic, 64),
                        front(group, 64),
                    )?;
                }
            }
        }
        _ => {
            if !active_only || in_today > 0 {
                writeln!(
                    out,
                    "{:<64}  {:<64} {:>12} {in_tps:>11.2} {:>11} {in_today:>14} {:>14}",
                    front(topic, 64),
                    "",
                    0,
                    "",
                    "NO_CONSUMER"
                )?;
            }
        }
    }
    Ok(())
}

impl Command for StatsAllCommand {
    fn name(&self) -> &'static str {
        "statsAll"
    }
    fn description(&self) -> &'static str {
        "Topic and Consumer tps stats"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::flag("a", "activeTopic", "print active topic only"),
            OptSpec::arg("t", "topic", false, "print select topic only"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topics = admin.topic_list().await?;
        writeln!(
            out,
            "{:<64}  {:<64} {:>12} {:>11} {:>11} {:>14} {:>14}",
            "#Topic",
            "#Consumer Group",
            "#Accumulation",
            "#InTPS",
            "#OutTPS",
            "#InMsg24Hour",
            "#OutMsg24Hour"
        )?;
        let active = args.has("a");
        let select = args.value("t").map(str::trim).filter(|t| !t.is_empty());
        for topic in &topics.topic_list {
            if topic.starts_with("%RETRY%") || topic.starts_with("%DLQ%") {
                continue;
            }
            if select.is_some_and(|s| s != topic) {
                continue;
            }
            // Java skips a topic whose figures cannot be read (no route any more, say).
            if print_topic(admin, &mut *out, topic, active).await.is_err() {
                continue;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_24_hour_sum_falls_back_as_javas_does() {
        let mut d = BrokerStatsData::default();
        assert_eq!(compute_24_hour_sum(&d), 0);
        d.stats_minute.sum = 3;
        assert_eq!(compute_24_hour_sum(&d), 3);
        d.stats_hour.sum = 7;
        assert_eq!(compute_24_hour_sum(&d), 7);
        d.stats_day.sum = 9;
        assert_eq!(compute_24_hour_sum(&d), 9);
        let d: BrokerStatsData = serde_json::from_str(
            r#"{"statsDay":{"avgpt":1.0,"sum":5,"tps":0.1},"statsHour":{"avgpt":1.0,"sum":5,"tps":0.2},"statsMinute":{"avgpt":1.0,"sum":5,"tps":0.5}}"#,
        )
        .unwrap();
        assert_eq!(d.stats_minute.tps, 0.5);
    }
}
