//! `deleteKvConfig -s NS -k K`: removes a KV entry from every name server.

use remoting::header::namesrv::DeleteKVConfigRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin deleteKvConfig`.
pub struct DeleteKvConfigCommand;

impl Command for DeleteKvConfigCommand {
    fn name(&self) -> &'static str {
        "deleteKvConfig"
    }
    fn description(&self) -> &'static str {
        "Delete KV config"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("s", "namespace", true, "set the namespace"),
            OptSpec::arg("k", "key", true, "set the key name"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let header = DeleteKVConfigRequestHeader {
            namespace: args.required("s")?.to_string(),
            key: args.required("k")?.to_string(),
        };
        let req = RemotingCommand::request(RequestCode::DELETE_KV_CONFIG, header.to_ext());
        for (_, result) in admin.namesrv_invoke_all(req).await? {
            result?;
        }
        writeln!(out, "delete kv config from namespace success.")?;
        Ok(())
    }
}
