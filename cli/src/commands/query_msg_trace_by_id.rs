//! `queryMsgTraceById -i msgId [-t traceTopic]` (Java `QueryMsgTraceByIdSubCommand`): finds the
//! trace records of a message in the trace topic (default `RMQ_SYS_TRACE_TOPIC`) by key — Java
//! clients key each trace message with the traced message ids — decodes Java's trace format
//! (`TraceDataEncoder`: contexts separated by `\u{2}`, fields by `\u{1}`) and prints the `Pub`
//! record and, per consumer group, the `SubAfter` records of that id in Java's layout. Times are
//! printed in UTC.

use std::collections::BTreeMap;

use super::broker_format::human_time;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin queryMsgTraceById`.
pub struct QueryMsgTraceByIdCommand;

/// Java's default trace topic.
pub const RMQ_SYS_TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// One decoded trace record of the wanted message (Java `TraceView`).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceView {
    /// `Pub` or `SubAfter`.
    pub msg_type: String,
    /// Producer or consumer group.
    pub group_name: String,
    /// Host the trace message was sent from.
    pub client_host: String,
    /// When (ms since the epoch; 0 when an old client left it out).
    pub time_stamp: i64,
    /// Send or consume time, ms.
    pub cost_time: i64,
    /// `success` or `failed`.
    pub status: String,
}

/// Java's `String.split`: trailing empty strings dropped.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut v: Vec<&str> = s.split(sep).collect();
    while v.last().is_some_and(|x| x.is_empty()) {
        v.pop();
    }
    v
}

/// Decodes a trace message body and keeps the records of `msg_id` (Java
/// `TraceView.decodeFromTraceTransData`); malformed records are skipped.
pub fn decode_trace(msg_id: &str, body: &str, client_host: &str) -> Vec<TraceView> {
    let mut out = Vec::new();
    for context in java_split(body, '\u{2}') {
        let f = java_split(context, '\u{1}');
        let view = match f.first().copied() {
            Some("Pub") if f.len() >= 13 => {
                let success = match f.len() {
                    13 => f[12],
                    _ => f[13],
                };
                (f[5] == msg_id).then(|| TraceView {
                    msg_type: "Pub".into(),
                    group_name: f[3].into(),
                    client_host: client_host.into(),
                    time_stamp: f[1].parse().unwrap_or(0),
                    cost_time: f[10].parse().unwrap_or(0),
                    status: status(success),
                })
            }
            Some("SubBefore") if f.len() >= 8 => (f[5] == msg_id).then(|| TraceView {
                msg_type: "SubBefore".into(),
                group_name: f[3].into(),
                client_host: client_host.into(),
                time_stamp: f[1].parse().unwrap_or(0),
                cost_time: 0,
                status: status("false"),
            }),
            Some("SubAfter") if f.len() >= 6 => (f[2] == msg_id).then(|| TraceView {
                msg_type: "SubAfter".into(),
                group_name: f.get(8).copied().unwrap_or("null").into(),
                client_host: client_host.into(),
                time_stamp: f.get(7).and_then(|t| t.parse().ok()).unwrap_or(0),
                cost_time: f[3].parse().unwrap_or(0),
                status: status(f[4]),
            }),
            Some("EndTransaction") if f.len() >= 13 => (f[5] == msg_id).then(|| TraceView {
                msg_type: "EndTransaction".into(),
                group_name: f[3].into(),
                client_host: client_host.into(),
                time_stamp: f[1].parse().unwrap_or(0),
                cost_time: 0,
                status: status("false"),
            }),
            _ => None,
        };
        out.extend(view);
    }
    out
}

fn status(b: &str) -> String {
    if b.eq_ignore_ascii_case("true") {
        "success".into()
    } else {
        "failed".into()
    }
}

fn time(ms: i64) -> String {
    human_time(ms).chars().take(19).collect()
}

/// Prints the views as Java's `printMessageTrace` does.
pub fn print_traces(out: Out<'_>, views: &[TraceView]) -> Result<()> {
    let mut consumers: BTreeMap<&str, Vec<&TraceView>> = BTreeMap::new();
    for v in views {
        if v.msg_type == "Pub" {
            writeln!(
                out,
                "{:<10} {:<20} {:<20} {:<20} {:<10} {:<10}",
                "#Type", "#ProducerGroup", "#ClientHost", "#SendTime", "#CostTimes", "#Status"
            )?;
            writeln!(
                out,
                "{:<10} {:<20} {:<20} {:<20} {:<10} {:<10}",
                "Pub",
                v.group_name,
                v.client_host,
                time(v.time_stamp),
                format!("{}ms", v.cost_time),
                v.status
            )?;
            writeln!(out)?;
        }
        if v.msg_type == "SubAfter" {
            consumers.entry(&v.group_name).or_default().push(v);
        }
    }
    for list in consumers.values() {
        writeln!(
            out,
            "{:<10} {:<20} {:<20} {:<20} {:<10} {:<10}",
            "#Type", "#ConsumerGroup", "#ClientHost", "#ConsumerTime", "#CostTimes", "#Status"
        )?;
        for v in list {
            writeln!(
                out,
                "{:<10} {:<20} {:<20} {:<20} {:<10} {:<10}",
                "Sub",
                v.group_name,
                v.client_host,
                time(v.time_stamp),
                format!("{}ms", v.cost_time),
                v.status
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

impl Command for QueryMsgTraceByIdCommand {
    fn name(&self) -> &'static str {
        "queryMsgTraceById"
    }
    fn alias(&self) -> Option<&'static str> {
        Some("QueryMsgTraceById")
    }
    fn description(&self) -> &'static str {
        "query a message trace"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("i", "msgId", true, "Message Id"),
            OptSpec::arg(
                "t",
                "traceTopic",
                false,
                "The name value of message trace topic",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let msg_id = args.required("i")?.trim();
        let topic = args
            .value("t")
            .map(str::trim)
            .unwrap_or(RMQ_SYS_TRACE_TOPIC);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let found = admin
            .typed()?
            .query_message_by_key(topic, msg_id, 64, 0, now)
            .await?;
        let mut views = Vec::new();
        for m in &found {
            let body = String::from_utf8_lossy(&m.body);
            views.extend(decode_trace(msg_id, &body, &m.born_host.ip().to_string()));
        }
        print_traces(out, &views)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_javas_pub_and_sub_after_records() {
        let pubr = [
            "Pub",
            "1700000000000",
            "DefaultRegion",
            "PG",
            "T",
            "ID1",
            "TagA",
            "K1",
            "127.0.0.1:10911",
            "5",
            "3",
            "0",
            "OFFID",
            "true",
            "127.0.0.1@1",
        ]
        .join("\u{1}");
        let sub = [
            "SubAfter",
            "req",
            "ID1",
            "7",
            "false",
            "K1",
            "0",
            "1700000001000",
            "CG",
        ]
        .join("\u{1}");
        let other = ["SubAfter", "req", "ID2", "7", "true", "K1"].join("\u{1}");
        let body = format!("{pubr}\u{2}{sub}\u{2}{other}\u{2}");
        let v = decode_trace("ID1", &body, "10.0.0.1");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].msg_type, "Pub");
        assert_eq!(v[0].group_name, "PG");
        assert_eq!(v[0].cost_time, 3);
        assert_eq!(v[0].status, "success");
        assert_eq!(v[1].group_name, "CG");
        assert_eq!(v[1].status, "failed");
        assert_eq!(v[1].time_stamp, 1_700_000_001_000);
        let mut buf = Vec::new();
        print_traces(&mut buf, &v).unwrap_or_default();
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("Pub        PG                   10.0.0.1             2023-11-14 22:13:20  3ms        success"), "{text}");
        assert!(text.contains("Sub        CG "), "{text}");
    }
}
