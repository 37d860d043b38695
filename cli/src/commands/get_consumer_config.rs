//! `getConsumerConfig -g group` (Java `GetConsumerConfigSubCommand`): the subscription group's
//! settings on every broker group that has it, under a `=====cluster:broker=====` banner, one
//! `%-40s=  %s` line per field of Java 4.9.7's `SubscriptionGroupConfig` in its order.

use remoting::body::admin::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
use remoting::{RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin getConsumerConfig`.
pub struct GetConsumerConfigCommand;

/// The fields Java's reflection prints, in declaration order.
fn fields(c: &SubscriptionGroupConfig) -> [(&'static str, String); 9] {
    [
        ("groupName", c.group_name.clone()),
        ("consumeEnable", c.consume_enable.to_string()),
        (
            "consumeFromMinEnable",
            c.consume_from_min_enable.to_string(),
        ),
        (
            "consumeBroadcastEnable",
            c.consume_broadcast_enable.to_string(),
        ),
        ("retryQueueNums", c.retry_queue_nums.to_string()),
        ("retryMaxTimes", c.retry_max_times.to_string()),
        ("brokerId", c.broker_id.to_string()),
        (
            "whichBrokerWhenConsumeSlowly",
            c.which_broker_when_consume_slowly.to_string(),
        ),
        (
            "notifyConsumerIdsChangedEnable",
            c.notify_consumer_ids_changed_enable.to_string(),
        ),
    ]
}

/// The group's config on the broker at `addr` (Java `examineSubscriptionGroupConfig`).
async fn group_config(
    admin: &Admin,
    addr: &str,
    group: &str,
) -> Result<Option<SubscriptionGroupConfig>> {
    let req = RemotingCommand::request(
        RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        Default::default(),
    );
    let resp = check(addr, admin.invoke(addr, req).await?)?;
    let mut w: SubscriptionGroupWrapper = remoting::fastjson::from_slice(&resp.body)
        .map_err(|e| CliError::Decode(format!("{addr}: subscription groups: {e}")))?;
    Ok(w.subscription_group_table.remove(group))
}

impl Command for GetConsumerConfigCommand {
    fn name(&self) -> &'static str {
        "getConsumerConfig"
    }
    fn description(&self) -> &'static str {
        "Get consumer config by subscription group name!"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![OptSpec::arg(
            "g",
            "groupName",
            true,
            "subscription group name",
        )]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let group = args.required("g")?.trim();
        let info = admin.cluster_info().await?;
        for (broker, data) in &info.broker_addr_table {
            let cluster = info
                .cluster_addr_table
                .iter()
                .find(|(_, names)| names.contains(broker))
                .map(|(c, _)| c.as_str())
                .unwrap_or("null");
            let Some(addr) = data.select_broker_addr() else {
                continue;
            };
            let Some(config) = group_config(admin, addr, group).await? else {
                continue;
            };
            writeln!(
                out,
                "============================={cluster}:{broker}============================="
            )?;
            for (k, v) in fields(&config) {
                writeln!(out, "{k:<40}=  {v}")?;
            }
        }
        Ok(())
    }
}
