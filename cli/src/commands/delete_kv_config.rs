//! `deleteKvConfig -s NS -k K`: removes a KV entry from every name server.

use futures::future::BoxFuture;
use remoting::header::namesrv::DeleteKVConfigRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::{Out, SubCommand};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin deleteKvConfig`.
pub struct DeleteKvConfigCommand;

impl SubCommand for DeleteKvConfigCommand {
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
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
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
        })
    }
}
