//! `exportMetrics -c cluster [-f dir]` (Java `ExportMetricsCommand`): per master of the cluster,
//! the run-time environment, rates, daily counts and sizes, and the client versions seen, plus
//! cluster totals, written to `<dir>/metrics.json` (default `/tmp/rocketmq/export`), then
//! `export <file> success`. Read from GET_BROKER_RUNTIME_INFO, GET_BROKER_CONFIG,
//! VIEW_BROKER_STATS_DATA (transaction half and schedule topics), the user topics and groups
//! and the groups' connections. Keys whose value Java leaves null (`totalMemKBytes`, which
//! 4.9.7 brokers do not report) are left out, as fastjson does.

use std::collections::{BTreeMap, BTreeSet};

use remoting::RequestCode;
use serde_json::{Map, Value, json};

use super::broker_format::version_desc;
use super::export::{VERSION_DESC, fetch, out_dir, user_groups, user_topics, write_json};
use super::stats_all::{compute_24_hour_sum, view_broker_stats_data};
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin exportMetrics`.
pub struct ExportMetricsCommand;

/// Cluster totals (Java's `totalTpsMap` / `totalOneDayNumMap`).
#[derive(Default)]
struct Totals {
    tps: [f64; 4],
    day: [i64; 4],
}

fn first_rate(v: Option<&String>) -> f64 {
    v.and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

fn num(v: Option<&String>) -> i64 {
    v.and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn opt_str(v: Option<&String>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.clone()))
}

/// Removes null members, as fastjson leaves them out.
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

async fn broker_report(admin: &Admin, addr: &str, totals: &mut Totals) -> Result<Value> {
    let kv = admin.typed()?.broker_runtime_info(addr).await?;
    let config_text = fetch(admin, addr, RequestCode::GET_BROKER_CONFIG).await?;
    let props = remoting::properties::parse(&String::from_utf8_lossy(&config_text));
    let groups = user_groups(admin, addr).await?;
    let topics = user_topics(admin, addr, false).await?;
    let trans = view_broker_stats_data(admin, addr, "TOPIC_PUT_NUMS", "RMQ_SYS_TRANS_HALF_TOPIC")
        .await
        .ok();
    let schedule = view_broker_stats_data(admin, addr, "TOPIC_PUT_NUMS", "SCHEDULE_TOPIC_XXXX")
        .await
        .ok();
    let normal_in = first_rate(kv.get("putTps"));
    let normal_out = first_rate(kv.get("getTransferedTps"));
    let trans_in = trans.map_or(0.0, |d| d.stats_minute.tps);
    let schedule_in = schedule.map_or(0.0, |d| d.stats_minute.tps);
    let trans_day = trans.as_ref().map_or(0, compute_24_hour_sum);
    let schedule_day = schedule.as_ref().map_or(0, compute_24_hour_sum);
    let in_day =
        num(kv.get("msgPutTotalTodayMorning")) - num(kv.get("msgPutTotalYesterdayMorning"));
    let out_day =
        num(kv.get("msgGetTotalTodayMorning")) - num(kv.get("msgGetTotalYesterdayMorning"));
    for (i, v) in [normal_in, normal_out, trans_in, schedule_in]
        .into_iter()
        .enumerate()
    {
        totals.tps[i] += v;
    }
    for (i, v) in [in_day, out_day, trans_day, schedule_day]
        .into_iter()
        .enumerate()
    {
        totals.day[i] += v;
    }
    let mut clients = BTreeSet::new();
    for group in groups.subscription_group_table.keys() {
        if let Ok(cc) = admin.typed()?.consumer_connections(group).await {
            for c in &cc.connection_set {
                clients.insert(format!("{}%{}", c.language.name(), version_desc(c.version)));
            }
        }
    }
    Ok(json!({
        "runtimeEnv": {
            "cpuNum": opt_str(props.get("clientCallbackExecutorThreads")),
            "totalMemKBytes": opt_str(kv.get("totalMemKBytes")),
        },
        "runtimeQuota": {
            "diskRatio": {
                "commitLogDiskRatio": opt_str(kv.get("commitLogDiskRatio")),
                "consumeQueueDiskRatio": opt_str(kv.get("consumeQueueDiskRatio")),
            },
            "tps": {
                "normalInTps": normal_in,
                "normalOutTps": normal_out,
                "transInTps": trans_in,
                "scheduleInTps": schedule_in,
            },
            "oneDayNum": {
                "normalOneDayInNum": in_day,
                "normalOneDayOutNum": out_day,
                "transOneDayInNum": trans_day,
                "scheduleOneDayInNum": schedule_day,
            },
            "messageAverageSize": opt_str(kv.get("putMessageAverageSize")),
            "topicSize": topics.topic_config_table.len(),
            "groupSize": groups.subscription_group_table.len(),
        },
        "runtimeVersion": {
            "rocketmqVersion": VERSION_DESC,
            "clientInfo": clients,
        },
    }))
}

impl Command for ExportMetricsCommand {
    fn name(&self) -> &'static str {
        "exportMetrics"
    }
    fn description(&self) -> &'static str {
        "export metrics"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("c", "clusterName", true, "choose a cluster to export"),
            OptSpec::arg(
                "f",
                "filePath",
                false,
                "export metrics.json path | default /tmp/rocketmq/export",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let cluster = args.required("c")?.trim();
        let info = admin.cluster_info().await?;
        let names = info.cluster_addr_table.get(cluster).ok_or_else(|| {
            CliError::Usage(format!("cluster {cluster} not found in the name server"))
        })?;
        let mut totals = Totals::default();
        let mut report = BTreeMap::new();
        for name in names {
            let Some(addr) = info
                .broker_addr_table
                .get(name)
                .and_then(|b| b.broker_addrs.get(&0))
            else {
                continue;
            };
            report.insert(name.clone(), broker_report(admin, addr, &mut totals).await?);
        }
        let t = &totals;
        let result = json!({
            "evaluateReport": report,
            "totalData": {
                "totalTps": {
                    "totalNormalInTps": t.tps[0],
                    "totalNormalOutTps": t.tps[1],
                    "totalTransInTps": t.tps[2],
                    "totalScheduleInTps": t.tps[3],
                },
                "totalOneDayNum": {
                    "normalOneDayInNum": t.day[0],
                    "normalOneDayOutNum": t.day[1],
                    "transOneDayInNum": t.day[2],
                    "scheduleOneDayInNum": t.day[3],
                },
            },
        });
        let path = out_dir(args).join("metrics.json");
        write_json(&path, &without_nulls(result))?;
        write!(out, "export {} success", path.display())?;
        Ok(())
    }
}
