//! `topicList`: every topic the name server knows, one per line; with `-c` (Java's
//! `clusterModel`) a table of cluster, topic and the consumer groups that consume it (retry and
//! dead-letter topics left out), as Java's `TopicListSubCommand` prints it.

use remoting::body::admin::GroupList;
use remoting::body::cluster::ClusterInfo;
use remoting::header::admin::QueryTopicConsumeByWhoRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin topicList`.
pub struct TopicListCommand;

impl Command for TopicListCommand {
    fn name(&self) -> &'static str {
        "topicList"
    }
    fn description(&self) -> &'static str {
        "Fetch all topic list from name server"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![OptSpec::flag("c", "clusterModel", "clusterModel")]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topics = admin.topic_list().await?.topic_list;
        if !args.has("c") {
            for topic in topics {
                writeln!(out, "{topic}")?;
            }
            return Ok(());
        }
        let cluster_info = admin.cluster_info().await?;
        writeln!(
            out,
            "{:<20}  {:<48}  {:<48}",
            "#Cluster Name", "#Topic", "#Consumer Group"
        )?;
        for topic in topics {
            if topic.starts_with("%RETRY%") || topic.starts_with("%DLQ%") {
                continue;
            }
            // Java swallows a failed lookup and prints the topic with blanks.
            let (cluster, groups) = cluster_and_groups(admin, &cluster_info, &topic)
                .await
                .unwrap_or_default();
            let groups = if groups.is_empty() {
                vec![String::new()]
            } else {
                groups
            };
            for group in groups {
                writeln!(
                    out,
                    "{:<20}  {:<64}  {:<64}",
                    front(&cluster, 20),
                    front(&topic, 64),
                    front(&group, 64)
                )?;
            }
        }
        Ok(())
    }
}

/// The cluster holding `topic` (the cluster of its first broker group) and the groups a master
/// of that route says consume it (QUERY_TOPIC_CONSUME_BY_WHO).
async fn cluster_and_groups(
    admin: &Admin,
    cluster_info: &ClusterInfo,
    topic: &str,
) -> Result<(String, Vec<String>)> {
    let route = admin.topic_route(topic).await?;
    let mut cluster = String::new();
    if let Some(first) = route.broker_datas.first() {
        for (name, brokers) in &cluster_info.cluster_addr_table {
            if brokers.contains(&first.broker_name) {
                cluster = name.clone();
                break;
            }
        }
    }
    let mut groups = Vec::new();
    let master = route
        .broker_datas
        .iter()
        .find_map(|b| b.broker_addrs.get(&0).cloned());
    if let Some(addr) = master {
        let header = QueryTopicConsumeByWhoRequestHeader {
            topic: topic.to_string(),
        };
        let req =
            RemotingCommand::request(RequestCode::QUERY_TOPIC_CONSUME_BY_WHO, header.to_ext());
        let resp = admin.invoke(&addr, req).await?;
        if let Ok(list) = GroupList::decode(&resp.body) {
            groups = list.group_list.into_iter().collect();
        }
    }
    Ok((cluster, groups))
}

/// Java's `UtilAll.frontStringAtLeast`: at most `size` characters.
fn front(s: &str, size: usize) -> &str {
    match s.char_indices().nth(size) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
