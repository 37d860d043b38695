//! `updateTopicPerm (-b addr | -c cluster) -t topic -p perm`: changes a topic's permission,
//! keeping its queue counts (Java `UpdateTopicPermSubCommand`).

use remoting::body::topic::TopicConfig;

use super::broker_format::{Target, target, topic_config_string};
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin updateTopicPerm`.
pub struct UpdateTopicPermCommand;

impl Command for UpdateTopicPermCommand {
    fn name(&self) -> &'static str {
        "updateTopicPerm"
    }
    fn description(&self) -> &'static str {
        "Update topic perm"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("b", "brokerAddr", false, "create topic to which broker"),
            OptSpec::arg("c", "clusterName", false, "create topic to which cluster"),
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg(
                "p",
                "perm",
                true,
                "set topic's permission(2|4|6), intro[2:W; 4:R; 6:RW]",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?.trim();
        let raw = args.required("p")?.trim();
        let perm: i32 = raw
            .parse()
            .map_err(|_| CliError::Usage(format!("-p wants 2, 4 or 6, got {raw:?}")))?;
        if ![2, 4, 6].contains(&perm) {
            return Err(CliError::Usage(format!("-p wants 2, 4 or 6, got {perm}")));
        }
        let route = admin.topic_route(topic).await?;
        let Some(first) = route.queue_datas.first() else {
            return Err(CliError::Usage(format!("topic {topic} has no queues")));
        };
        let mut config = TopicConfig {
            topic_name: topic.to_string(),
            read_queue_nums: first.read_queue_nums,
            write_queue_nums: first.write_queue_nums,
            topic_sys_flag: first.topic_sys_flag,
            perm,
            ..TopicConfig::default()
        };
        let typed = admin.typed()?;
        match target(args)? {
            Target::Broker(addr) => {
                let addr = addr.trim();
                let broker = route
                    .broker_datas
                    .iter()
                    .find(|b| b.broker_addrs.get(&0).map(String::as_str) == Some(addr));
                let Some(broker) = broker else {
                    writeln!(
                        out,
                        "updateTopicPerm error broker not exit or broker is not master!."
                    )?;
                    return Ok(());
                };
                let Some(qd) = route
                    .queue_datas
                    .iter()
                    .find(|q| q.broker_name == broker.broker_name)
                else {
                    writeln!(
                        out,
                        "updateTopicPerm error broker not exit or broker is not master!."
                    )?;
                    return Ok(());
                };
                let old = qd.perm;
                if old == perm {
                    writeln!(out, "new perm equals to the old one!")?;
                    return Ok(());
                }
                config.read_queue_nums = qd.read_queue_nums;
                config.write_queue_nums = qd.write_queue_nums;
                config.topic_sys_flag = qd.topic_sys_flag;
                typed.create_topic_on_broker(addr, &config).await?;
                writeln!(
                    out,
                    "update topic perm from {old} to {perm} in {addr} success."
                )?;
            }
            Target::Cluster(cluster) => {
                let old = first.perm;
                if old == perm {
                    writeln!(out, "new perm equals to the old one!")?;
                    return Ok(());
                }
                for addr in typed.create_topic(cluster.trim(), &config).await? {
                    writeln!(
                        out,
                        "update topic perm from {old} to {perm} in {addr} success."
                    )?;
                }
            }
        }
        writeln!(out, "{}.", topic_config_string(&config))?;
        Ok(())
    }
}
