//! `topicClusterList -t topic`: the clusters holding a topic, one per line (Java
//! `TopicClusterSubCommand`).

use std::collections::BTreeSet;

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin topicClusterList`.
pub struct TopicClusterListCommand;

impl Command for TopicClusterListCommand {
    fn name(&self) -> &'static str {
        "topicClusterList"
    }
    fn description(&self) -> &'static str {
        "get cluster info for topic"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![OptSpec::arg("t", "topic", true, "topic name")]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?.trim();
        let route = admin.topic_route(topic).await?;
        let info = admin.cluster_info().await?;
        // Java `getTopicClusterList`: the cluster of each broker group in the route.
        let mut clusters = BTreeSet::new();
        for bd in &route.broker_datas {
            for (cluster, names) in &info.cluster_addr_table {
                if names.contains(&bd.broker_name) {
                    clusters.insert(cluster.clone());
                }
            }
        }
        for c in clusters {
            writeln!(out, "{c}")?;
        }
        Ok(())
    }
}
