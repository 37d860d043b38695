//! `getNamesrvConfig`: every name server's settings.

use remoting::{ExtFields, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin getNamesrvConfig`.
pub struct GetNamesrvConfigCommand;

impl Command for GetNamesrvConfigCommand {
    fn name(&self) -> &'static str {
        "getNamesrvConfig"
    }
    fn description(&self) -> &'static str {
        "Get configs of name server."
    }
    fn options(&self) -> Vec<OptSpec> {
        Vec::new()
    }
    async fn run(&self, _args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let req = RemotingCommand::request(RequestCode::GET_NAMESRV_CONFIG, ExtFields::new());
        for (addr, result) in admin.namesrv_invoke_all(req).await? {
            let resp = result?;
            let props = remoting::properties::parse(&String::from_utf8_lossy(&resp.body));
            writeln!(out, "============{addr}============")?;
            for (k, v) in props {
                writeln!(out, "{k:<50}=  {v}")?;
            }
        }
        Ok(())
    }
}
