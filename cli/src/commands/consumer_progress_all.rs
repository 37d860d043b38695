//! `consumerProgress` without `-g`: one line per consumer group (every `%RETRY%<group>` topic
//! the name servers know), as Java's `ConsumerProgressSubCommand` prints it: members, lowest
//! client version, PUSH/PULL, message model, TPS and total lag. Groups with members first,
//! then by lag.

use remoting::body::client::{ConsumeType, MessageModel};

use super::Out;
use super::broker_format::version_desc;
use crate::admin::Admin;
use crate::error::Result;

struct GroupInfo {
    group: String,
    count: usize,
    version: i32,
    consume_type: Option<ConsumeType>,
    model: Option<MessageModel>,
    tps: i64,
    diff: i64,
}

/// Prints the all-groups table.
pub async fn print(admin: &Admin, out: Out<'_>) -> Result<()> {
    let topics = admin.topic_list().await?;
    let typed = admin.typed()?;
    let mut infos = Vec::new();
    for topic in &topics.topic_list {
        let Some(group) = topic.strip_prefix("%RETRY%") else {
            continue;
        };
        let mut info = GroupInfo {
            group: group.to_string(),
            count: 0,
            version: 0,
            consume_type: None,
            model: None,
            tps: 0,
            diff: 0,
        };
        // As in Java, a group whose statistics or connections cannot be read still gets a line.
        if let Ok(stats) = typed.consume_stats(group, None).await {
            info.tps = stats.consume_tps as i64;
            info.diff = stats.total_diff();
        }
        if let Ok(cc) = typed.consumer_connections(group).await {
            info.count = cc.connection_set.len();
            info.version = cc
                .connection_set
                .iter()
                .map(|c| c.version)
                .min()
                .unwrap_or(0);
            info.consume_type = Some(cc.consume_type.clone());
            info.model = Some(cc.message_model.clone());
        }
        infos.push(info);
    }
    // Java's GroupConsumeInfo order: more members first, then more lag.
    infos.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.diff.cmp(&a.diff))
            .then(a.group.cmp(&b.group))
    });
    writeln!(
        out,
        "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  #Diff Total",
        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS"
    )?;
    for i in infos {
        let online = i.count > 0;
        let version = if online {
            version_desc(i.version)
        } else {
            "OFFLINE".to_string()
        };
        let ty = match (&i.consume_type, online) {
            (Some(ConsumeType::ConsumeActively), true) => "PULL",
            (Some(_), true) => "PUSH",
            _ => "",
        };
        let model = match (&i.model, online) {
            (Some(m), true) => m.name().to_string(),
            _ => String::new(),
        };
        writeln!(
            out,
            "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}",
            i.group, i.count, version, ty, model, i.tps, i.diff
        )?;
    }
    Ok(())
}
