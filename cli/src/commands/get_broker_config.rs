//! `getBrokerConfig (-b addr | -c cluster)`: prints a broker's configuration as Java's
//! `GetBrokerConfigCommand` does, `%-50s=  %s` per key under a `====addr====` banner.

use remoting::{RemotingCommand, RequestCode};

use super::broker_format::{Target, target};
use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin getBrokerConfig`.
pub struct GetBrokerConfigCommand;

async fn print_config(admin: &Admin, banner: &str, addr: &str, out: Out<'_>) -> Result<()> {
    let req = RemotingCommand::request(RequestCode::GET_BROKER_CONFIG, Default::default());
    let resp = check(addr, admin.invoke(addr, req).await?)?;
    write!(out, "{banner}")?;
    let props = remoting::properties::parse(&String::from_utf8_lossy(&resp.body));
    if props.is_empty() {
        writeln!(out, "Broker[{addr}] has no config property!")?;
        return Ok(());
    }
    for (k, v) in &props {
        writeln!(out, "{k:<50}=  {v}")?;
    }
    writeln!(out)?;
    Ok(())
}

impl Command for GetBrokerConfigCommand {
    fn name(&self) -> &'static str {
        "getBrokerConfig"
    }
    fn description(&self) -> &'static str {
        "Get broker config by cluster or special broker!"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("b", "brokerAddr", false, "get which broker"),
            OptSpec::arg("c", "clusterName", false, "get which cluster"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        match target(args)? {
            Target::Broker(addr) => {
                let addr = addr.trim();
                print_config(
                    admin,
                    &format!("============{addr}============\n"),
                    addr,
                    out,
                )
                .await
            }
            Target::Cluster(cluster) => {
                for addr in admin.typed()?.cluster_masters(cluster.trim()).await? {
                    print_config(
                        admin,
                        &format!("============Master: {addr}============\n"),
                        &addr,
                        &mut *out,
                    )
                    .await?;
                }
                Ok(())
            }
        }
    }
}
