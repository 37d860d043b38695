//! `addWritePerm -b BROKER`: restores the write permission of a broker group on every name server.

use remoting::header::namesrv::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader,
};
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin addWritePerm`.
pub struct AddWritePermCommand;

impl Command for AddWritePermCommand {
    fn name(&self) -> &'static str {
        "addWritePerm"
    }
    fn description(&self) -> &'static str {
        "Add write perm of broker in all name server you defined in the -n param"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![OptSpec::arg("b", "brokerName", true, "broker name")]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let broker = args.required("b")?;
        let header = AddWritePermOfBrokerRequestHeader {
            broker_name: broker.to_string(),
        };
        let req = RemotingCommand::request(RequestCode::ADD_WRITE_PERM_OF_BROKER, header.to_ext());
        let mut failed = None;
        for (addr, result) in admin.namesrv_invoke_all(req).await? {
            let count = result.and_then(|resp| {
                resp.ext_fields
                    .decode::<AddWritePermOfBrokerResponseHeader>()
                    .map_err(|e| CliError::Decode(format!("{addr}: {e}")))
            });
            match count {
                Ok(h) => writeln!(
                    out,
                    "add write perm of broker[{broker}] in name server[{addr}] OK, {}",
                    h.add_topic_count
                )?,
                Err(e) => {
                    writeln!(
                        out,
                        "add write perm of broker[{broker}] in name server[{addr}] Failed"
                    )?;
                    failed = Some(e);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }
}
