//! `updateKvConfig -s NS -k K -v V`: puts a KV entry on every name server.

use remoting::header::namesrv::PutKVConfigRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin updateKvConfig`.
pub struct UpdateKvConfigCommand;

impl Command for UpdateKvConfigCommand {
    fn name(&self) -> &'static str {
        "updateKvConfig"
    }
    fn description(&self) -> &'static str {
        "Create or update KV config"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("s", "namespace", true, "set the namespace"),
            OptSpec::arg("k", "key", true, "set the key name"),
            OptSpec::arg("v", "value", true, "set the key value"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let header = PutKVConfigRequestHeader {
            namespace: args.required("s")?.to_string(),
            key: args.required("k")?.to_string(),
            value: args.required("v")?.to_string(),
        };
        let req = RemotingCommand::request(RequestCode::PUT_KV_CONFIG, header.to_ext());
        // Java writes to every name server and fails on the first error.
        for (_, result) in admin.namesrv_invoke_all(req).await? {
            result?;
        }
        writeln!(out, "create or update kv config to namespace success.")?;
        Ok(())
    }
}
