//! `updateSubGroup (-b addr | -c cluster) -g G [-s -m -d -q -r -i -w -a]`: creates or updates a
//! subscription group (Java `UpdateSubGroupSubCommand`, same options and defaults).

use remoting::body::admin::SubscriptionGroupConfig;

use super::broker_format::{Target, bool_opt, group_config_string, num_opt, target};
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin updateSubGroup`.
pub struct UpdateSubGroupCommand;

impl Command for UpdateSubGroupCommand {
    fn name(&self) -> &'static str {
        "updateSubGroup"
    }
    fn description(&self) -> &'static str {
        "Update or create subscription group"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg(
                "b",
                "brokerAddr",
                false,
                "create subscription group to which broker",
            ),
            OptSpec::arg(
                "c",
                "clusterName",
                false,
                "create subscription group to which cluster",
            ),
            OptSpec::arg("g", "groupName", true, "consumer group name"),
            OptSpec::arg("s", "consumeEnable", false, "consume enable"),
            OptSpec::arg("m", "consumeFromMinEnable", false, "from min offset"),
            OptSpec::arg("d", "consumeBroadcastEnable", false, "broadcast"),
            OptSpec::arg("q", "retryQueueNums", false, "retry queue nums"),
            OptSpec::arg("r", "retryMaxTimes", false, "retry max times"),
            OptSpec::arg("i", "brokerId", false, "consumer from which broker id"),
            OptSpec::arg(
                "w",
                "whichBrokerWhenConsumeSlowly",
                false,
                "which broker id when consume slowly",
            ),
            OptSpec::arg(
                "a",
                "notifyConsumerIdsChanged",
                false,
                "notify consumerId changed",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let where_to = target(args)?;
        let d = SubscriptionGroupConfig::new(args.required("g")?);
        let config = SubscriptionGroupConfig {
            consume_enable: bool_opt(args, "s", d.consume_enable)?,
            consume_from_min_enable: bool_opt(args, "m", d.consume_from_min_enable)?,
            consume_broadcast_enable: bool_opt(args, "d", d.consume_broadcast_enable)?,
            retry_queue_nums: num_opt(args, "q", d.retry_queue_nums)?,
            retry_max_times: num_opt(args, "r", d.retry_max_times)?,
            broker_id: num_opt(args, "i", d.broker_id)?,
            which_broker_when_consume_slowly: num_opt(
                args,
                "w",
                d.which_broker_when_consume_slowly,
            )?,
            notify_consumer_ids_changed_enable: bool_opt(
                args,
                "a",
                d.notify_consumer_ids_changed_enable,
            )?,
            ..d.clone()
        };
        let typed = admin.typed()?;
        match where_to {
            Target::Broker(addr) => {
                typed
                    .create_subscription_group_on_broker(addr, &config)
                    .await?;
                writeln!(out, "create subscription group to {addr} success.")?;
            }
            Target::Cluster(cluster) => {
                for addr in typed.create_subscription_group(cluster, &config).await? {
                    writeln!(out, "create subscription group to {addr} success.")?;
                }
            }
        }
        writeln!(out, "{}", group_config_string(&config))?;
        Ok(())
    }
}
