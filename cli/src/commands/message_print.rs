//! Shared by the message commands (queryMsgByKey, queryMsgById, resendMsgById): master
//! addresses of a topic, and a message printed as Java's `queryMsgById` does, with the delivery
//! properties (retry, dead-letter, delay, transaction) spelled out.

use remoting::message::{MessageRecord, encode_offset_msg_id, keys};

use super::Out;
use crate::admin::Admin;
use crate::error::{CliError, Result};

/// `(broker name, master address)` of every broker serving `topic`.
pub async fn topic_masters(admin: &Admin, topic: &str) -> Result<Vec<(String, String)>> {
    let route = admin.topic_route(topic).await?;
    let out: Vec<(String, String)> = route
        .broker_datas
        .iter()
        .filter_map(|b| {
            b.broker_addrs
                .get(&0)
                .map(|a| (b.broker_name.clone(), a.clone()))
        })
        .collect();
    if out.is_empty() {
        return Err(CliError::Usage(format!(
            "no master broker serves topic {topic}"
        )));
    }
    Ok(out)
}

/// What the delivery properties say about a message, one phrase each.
pub fn delivery_notes(m: &MessageRecord) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(group) = m.topic.strip_prefix("%DLQ%") {
        notes.push(format!("dead-letter message of consumer group {group}"));
    }
    if let Some(group) = m.topic.strip_prefix("%RETRY%") {
        notes.push(format!("retry message of consumer group {group}"));
    }
    if let Some(t) = m.properties.get(keys::RETRY_TOPIC) {
        notes.push(format!("original topic {t}"));
    }
    if m.reconsume_times > 0 {
        notes.push(format!("redelivered {} time(s)", m.reconsume_times));
    }
    if let Some(level) = m.properties.get(keys::DELAY) {
        notes.push(format!("delay level {level}"));
    }
    if let (Some(t), Some(q)) = (
        m.properties.get(keys::REAL_TOPIC),
        m.properties.get(keys::REAL_QID),
    ) {
        notes.push(format!("scheduled for {t} queue {q}"));
    }
    if m.properties.get(keys::TRAN_MSG) == Some("true") {
        notes.push("transactional".to_string());
    }
    notes
}

/// Prints one message in Java's `key: value` layout, then its delivery notes.
pub fn print_message(out: Out<'_>, m: &MessageRecord) -> Result<()> {
    let id = encode_offset_msg_id(m.store_host, m.physical_offset);
    let row = |k: &str, v: &dyn std::fmt::Display| format!("{k:<20}{v}");
    let lines = [
        row("OffsetID:", &id),
        row("Topic:", &m.topic),
        row("Tags:", &format!("[{}]", m.tags().unwrap_or(""))),
        row(
            "Keys:",
            &format!("[{}]", m.properties.get(keys::KEYS).unwrap_or("")),
        ),
        row("Queue ID:", &m.queue_id),
        row("Queue Offset:", &m.queue_offset),
        row("CommitLog Offset:", &m.physical_offset),
        row("Reconsume Times:", &m.reconsume_times),
        row("Born Timestamp:", &m.born_timestamp),
        row("Store Timestamp:", &m.store_timestamp),
        row("Born Host:", &m.born_host),
        row("Store Host:", &m.store_host),
        row("System Flag:", &m.sys_flag),
        row(
            "Retry Topic:",
            &m.properties.get(keys::RETRY_TOPIC).unwrap_or(""),
        ),
        row(
            "Origin Message ID:",
            &m.properties.get(keys::ORIGIN_MESSAGE_ID).unwrap_or(""),
        ),
        row("Delay Level:", &m.properties.get(keys::DELAY).unwrap_or("")),
        row(
            "Properties:",
            &m.properties
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        row("Message Body:", &String::from_utf8_lossy(&m.body)),
    ];
    for l in lines {
        writeln!(out, "{l}")?;
    }
    for n in delivery_notes(m) {
        writeln!(out, "{:<20}{n}", "Delivery:")?;
    }
    writeln!(out)?;
    Ok(())
}
