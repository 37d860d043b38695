//! `updateTopic (-b addr | -c cluster) -t T [-r 8] [-w 8] [-p 6] [-o false]`: creates or updates
//! a topic on one broker or on every master of a cluster (Java `UpdateTopicSubCommand`).

use remoting::body::topic::TopicConfig;

use super::broker_format::{Target, bool_opt, num_opt, target, topic_config_string};
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin updateTopic`.
pub struct UpdateTopicCommand;

impl Command for UpdateTopicCommand {
    fn name(&self) -> &'static str {
        "updateTopic"
    }
    fn description(&self) -> &'static str {
        "Update or create topic"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("b", "brokerAddr", false, "create topic to which broker"),
            OptSpec::arg("c", "clusterName", false, "create topic to which cluster"),
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg("r", "readQueueNums", false, "set read queue nums"),
            OptSpec::arg("w", "writeQueueNums", false, "set write queue nums"),
            OptSpec::arg(
                "p",
                "perm",
                false,
                "set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]",
            ),
            OptSpec::arg("o", "order", false, "set topic's order(true|false)"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let where_to = target(args)?;
        let config = TopicConfig {
            topic_name: args.required("t")?.to_string(),
            read_queue_nums: num_opt(args, "r", 8)?,
            write_queue_nums: num_opt(args, "w", 8)?,
            perm: num_opt(args, "p", 6)?,
            order: bool_opt(args, "o", false)?,
            ..TopicConfig::default()
        };
        client::producer::check_topic(&config.topic_name)?;
        let typed = admin.typed()?;
        match where_to {
            Target::Broker(addr) => {
                typed.create_topic_on_broker(addr, &config).await?;
                writeln!(out, "create topic to {addr} success.")?;
            }
            Target::Cluster(cluster) => {
                for addr in typed.create_topic(cluster, &config).await? {
                    writeln!(out, "create topic to {addr} success.")?;
                }
            }
        }
        writeln!(out, "{}", topic_config_string(&config))?;
        Ok(())
    }
}
