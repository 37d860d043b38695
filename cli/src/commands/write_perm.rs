//! `wipeWritePerm -b BROKER` and `addWritePerm -b BROKER`: clear or restore the write
//! permission of a broker group on every name server (Java `WipeWritePermSubCommand`,
//! `AddWritePermSubCommand`). Both ask every name server and print one line per server.

use remoting::header::namesrv::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader,
    WipeWritePermOfBrokerRequestHeader, WipeWritePermOfBrokerResponseHeader,
};
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin wipeWritePerm`.
pub struct WipeWritePermCommand;

impl Command for WipeWritePermCommand {
    fn name(&self) -> &'static str {
        "wipeWritePerm"
    }
    fn description(&self) -> &'static str {
        "Wipe write perm of broker in all name server you defined in the -n param"
    }
    fn options(&self) -> Vec<OptSpec> {
        options()
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let broker = args.required("b")?;
        let header = WipeWritePermOfBrokerRequestHeader {
            broker_name: broker.to_string(),
        };
        let req = RemotingCommand::request(RequestCode::WIPE_WRITE_PERM_OF_BROKER, header.to_ext());
        on_every_namesrv(admin, out, broker, "wipe", req, |resp| {
            resp.ext_fields
                .decode::<WipeWritePermOfBrokerResponseHeader>()
                .map(|h| h.wipe_topic_count)
                .map_err(|e| e.to_string())
        })
        .await
    }
}

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
        options()
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let broker = args.required("b")?;
        let header = AddWritePermOfBrokerRequestHeader {
            broker_name: broker.to_string(),
        };
        let req = RemotingCommand::request(RequestCode::ADD_WRITE_PERM_OF_BROKER, header.to_ext());
        on_every_namesrv(admin, out, broker, "add", req, |resp| {
            resp.ext_fields
                .decode::<AddWritePermOfBrokerResponseHeader>()
                .map(|h| h.add_topic_count)
                .map_err(|e| e.to_string())
        })
        .await
    }
}

fn options() -> Vec<OptSpec> {
    vec![OptSpec::arg("b", "brokerName", true, "broker name")]
}

/// Sends `req` to every name server and prints Java's line for each (`<verb> write perm of
/// broker[…] in name server[…] OK, <topics changed>` or `… Failed`); the last failure is the
/// command's error, after every server was asked.
async fn on_every_namesrv(
    admin: &Admin,
    out: Out<'_>,
    broker: &str,
    verb: &str,
    req: RemotingCommand,
    topic_count: impl Fn(&RemotingCommand) -> std::result::Result<i32, String>,
) -> Result<()> {
    let mut failed = None;
    for (addr, result) in admin.namesrv_invoke_all(req).await? {
        let count = result.and_then(|resp| {
            topic_count(&resp).map_err(|e| CliError::Decode(format!("{addr}: {e}")))
        });
        match count {
            Ok(n) => writeln!(
                out,
                "{verb} write perm of broker[{broker}] in name server[{addr}] OK, {n}"
            )?,
            Err(e) => {
                writeln!(
                    out,
                    "{verb} write perm of broker[{broker}] in name server[{addr}] Failed"
                )?;
                failed = Some(e);
            }
        }
    }
    failed.map_or(Ok(()), Err)
}
