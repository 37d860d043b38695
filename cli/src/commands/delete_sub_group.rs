//! `deleteSubGroup (-b addr | -c cluster) -g group [-r removeOffset]`: deletes a subscription
//! group (Java `DeleteSubscriptionGroupCommand`); with `-c` the group's retry and dead-letter
//! topics go too, as Java does.

use remoting::header::admin::DeleteSubscriptionGroupRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::broker_format::{Target, bool_opt, target};
use super::delete_topic::print_deleted;
use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin deleteSubGroup`.
pub struct DeleteSubGroupCommand;

async fn delete(admin: &Admin, addr: &str, group: &str, remove_offset: bool) -> Result<()> {
    let h = DeleteSubscriptionGroupRequestHeader {
        group_name: group.to_string(),
        remove_offset: Some(remove_offset),
    };
    let req = RemotingCommand::request(RequestCode::DELETE_SUBSCRIPTIONGROUP, h.to_ext());
    check(addr, admin.invoke(addr, req).await?)?;
    Ok(())
}

impl Command for DeleteSubGroupCommand {
    fn name(&self) -> &'static str {
        "deleteSubGroup"
    }
    fn description(&self) -> &'static str {
        "Delete subscription group from broker."
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg(
                "b",
                "brokerAddr",
                false,
                "delete subscription group from which broker",
            ),
            OptSpec::arg(
                "c",
                "clusterName",
                false,
                "delete subscription group from which cluster",
            ),
            OptSpec::arg("g", "groupName", true, "subscription group name"),
            OptSpec::arg("r", "removeOffset", false, "remove offset"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let group = args.required("g")?.trim();
        let remove_offset = bool_opt(args, "r", false)?;
        match target(args)? {
            Target::Broker(addr) => {
                let addr = addr.trim();
                delete(admin, addr, group, remove_offset).await?;
                writeln!(
                    out,
                    "delete subscription group [{group}] from broker [{addr}] success."
                )?;
            }
            Target::Cluster(cluster) => {
                let cluster = cluster.trim();
                let typed = admin.typed()?;
                for addr in typed.cluster_masters(cluster).await? {
                    delete(admin, &addr, group, remove_offset).await?;
                    writeln!(
                        out,
                        "delete subscription group [{group}] from broker [{addr}] in cluster [{cluster}] success."
                    )?;
                }
                for topic in [format!("%RETRY%{group}"), format!("%DLQ%{group}")] {
                    // Absent topics are fine: the group may never have retried.
                    if typed.delete_topic(cluster, &topic).await.is_ok() {
                        print_deleted(&mut *out, &topic, cluster)?;
                    }
                }
            }
        }
        Ok(())
    }
}
