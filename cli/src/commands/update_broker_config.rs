//! `updateBrokerConfig (-b addr | -c cluster) -k key -v value`: changes one broker setting at
//! run time (Java `UpdateBrokerConfigSubCommand`). The broker refuses keys that must never
//! change remotely (paths, addresses) with NO_PERMISSION, which is reported as an error.

use remoting::{RemotingCommand, RequestCode};

use super::broker_format::{Target, target};
use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin updateBrokerConfig`.
pub struct UpdateBrokerConfigCommand;

async fn update(admin: &Admin, addr: &str, body: &str) -> Result<()> {
    let req = RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG, Default::default())
        .with_body(body.as_bytes().to_vec());
    check(addr, admin.invoke(addr, req).await?)?;
    Ok(())
}

impl Command for UpdateBrokerConfigCommand {
    fn name(&self) -> &'static str {
        "updateBrokerConfig"
    }
    fn description(&self) -> &'static str {
        "Update broker's config"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("b", "brokerAddr", false, "update which broker"),
            OptSpec::arg("c", "clusterName", false, "update which cluster"),
            OptSpec::arg("k", "key", true, "config key"),
            OptSpec::arg("v", "value", true, "config value"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let key = args.required("k")?.trim();
        let value = args.required("v")?.trim();
        if key.is_empty() || key.contains(['=', '\n', ':']) || value.contains('\n') {
            return Err(CliError::Usage(format!(
                "bad key or value: {key:?}={value:?}"
            )));
        }
        let body = format!("{key}={value}\n");
        match target(args)? {
            Target::Broker(addr) => {
                let addr = addr.trim();
                update(admin, addr, &body).await?;
                writeln!(out, "update broker config success, {addr}")?;
            }
            Target::Cluster(cluster) => {
                // Java reports each master's failure and carries on with the others.
                let mut failed = None;
                for addr in admin.typed()?.cluster_masters(cluster.trim()).await? {
                    match update(admin, &addr, &body).await {
                        Ok(()) => writeln!(out, "update broker config success, {addr}")?,
                        Err(e) => {
                            writeln!(out, "update broker config failed, {addr}: {e}")?;
                            failed = Some(e);
                        }
                    }
                }
                if let Some(e) = failed {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}
