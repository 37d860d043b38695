//! `brokerStatus -b addr | -c cluster`: every GET_BROKER_RUNTIME_INFO key, sorted, as Java
//! `BrokerStatusSubCommand` prints them (HA keys included when the broker reports them).

use super::broker_format::{Target, target};
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin brokerStatus`.
pub struct BrokerStatusCommand;

impl Command for BrokerStatusCommand {
    fn name(&self) -> &'static str {
        "brokerStatus"
    }
    fn description(&self) -> &'static str {
        "Fetch broker runtime status data"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("b", "brokerAddr", false, "Broker address"),
            OptSpec::arg("c", "clusterName", false, "which cluster"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let typed = admin.typed()?;
        match target(args)? {
            Target::Broker(addr) => {
                // A BTreeMap: sorted by key as Java's TreeMap.
                for (k, v) in typed.broker_runtime_info(addr).await? {
                    writeln!(out, "{k:<32}: {v}")?;
                }
            }
            Target::Cluster(cluster) => {
                let info = typed.cluster_info().await?;
                let names = info
                    .cluster_addr_table
                    .get(cluster)
                    .cloned()
                    .unwrap_or_default();
                if names.is_empty() {
                    return Err(crate::error::CliError::Usage(format!(
                        "cluster {cluster} has no broker"
                    )));
                }
                for name in names {
                    let Some(data) = info.broker_addr_table.get(&name) else {
                        continue;
                    };
                    for addr in data.broker_addrs.values() {
                        match typed.broker_runtime_info(addr).await {
                            Ok(table) => {
                                for (k, v) in table {
                                    writeln!(out, "{addr:<24} {k:<32}: {v}")?;
                                }
                            }
                            // Java prints the failure and goes on with the next broker.
                            Err(e) => writeln!(out, "{addr:<24} error: {e}")?,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
