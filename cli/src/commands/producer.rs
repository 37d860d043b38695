//! `producer -b broker`: every producer connection a broker knows (GET_ALL_PRODUCER_INFO),
//! one line each as Java's `ProducerSubCommand` prints them.

use remoting::body::admin::ProducerTableInfo;
use remoting::{RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin producer`.
pub struct ProducerCommand;

impl Command for ProducerCommand {
    fn name(&self) -> &'static str {
        "producer"
    }
    fn description(&self) -> &'static str {
        "Query producer's instances, connection, status, etc."
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![OptSpec::arg("b", "broker", true, "broker address")]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let addr = args.required("b")?.trim();
        let req = RemotingCommand::request(RequestCode::GET_ALL_PRODUCER_INFO, Default::default());
        let resp = check(addr, admin.invoke(addr, req).await?)?;
        let table = ProducerTableInfo::decode(&resp.body)
            .map_err(|e| CliError::Decode(format!("{addr}: {e}")))?;
        for (group, list) in &table.data {
            if list.is_empty() {
                writeln!(out, "producer group ({group}) instances are empty")?;
                continue;
            }
            for p in list {
                writeln!(
                    out,
                    "producer group ({group}) instance : clientId={},remoteIP={}, language={}, version={}, lastUpdateTimestamp={}",
                    p.client_id,
                    p.remote_ip,
                    p.language.name(),
                    p.version,
                    p.last_update_timestamp
                )?;
            }
        }
        Ok(())
    }
}
