//! `updateNamesrvConfig -k K -v V`: changes one name server setting on every name server (the
//! server accepts only its allow-list of run-time keys).

use remoting::{ExtFields, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin updateNamesrvConfig`.
pub struct UpdateNamesrvConfigCommand;

impl Command for UpdateNamesrvConfigCommand {
    fn name(&self) -> &'static str {
        "updateNamesrvConfig"
    }
    fn description(&self) -> &'static str {
        "Update configs of name server."
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("k", "key", true, "config key"),
            OptSpec::arg("v", "value", true, "config value"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let (key, value) = (args.required("k")?, args.required("v")?);
        let body = remoting::properties::render([(key, value)]);
        let req = RemotingCommand::request(RequestCode::UPDATE_NAMESRV_CONFIG, ExtFields::new())
            .with_body(body.into_bytes());
        let addrs: Vec<String> = admin.namesrv_addrs()?.to_vec();
        for (_, result) in admin.namesrv_invoke_all(req).await? {
            result?;
        }
        writeln!(
            out,
            "update name server config success!{addrs:?}\n{key} : {value}"
        )?;
        Ok(())
    }
}
