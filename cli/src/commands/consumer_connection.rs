//! `consumerConnection -g G [-b addr]`: the group's online clients and subscriptions, in Java
//! 4.9.7's `ConsumerConnectionSubCommand` layout (a header row, `%-36s %-22s %-10s %s`; then the
//! subscriptions under `#Topic #SubExpression`). With `-b` one broker is asked.

use remoting::body::client::ConsumerConnection;
use remoting::header::admin::GetConsumerConnectionListRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::broker_format::version_desc;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin consumerConnection`.
pub struct ConsumerConnectionCommand;

impl Command for ConsumerConnectionCommand {
    fn name(&self) -> &'static str {
        "consumerConnection"
    }
    fn description(&self) -> &'static str {
        "Query consumer's socket connection, client version and subscription"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("g", "consumerGroup", true, "consumer group name"),
            OptSpec::arg("b", "brokerAddr", false, "broker address"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let group = args.required("g")?;
        let cc = match args.value("b") {
            Some(addr) => {
                let header = GetConsumerConnectionListRequestHeader {
                    consumer_group: group.to_string(),
                };
                let req = RemotingCommand::request(
                    RequestCode::GET_CONSUMER_CONNECTION_LIST,
                    header.to_ext(),
                );
                let resp = admin.invoke(addr.trim(), req).await?;
                ConsumerConnection::decode(&resp.body)
                    .map_err(|e| CliError::Decode(format!("consumer connection: {e}")))?
            }
            None => admin.typed()?.consumer_connections(group).await?,
        };
        writeln!(
            out,
            "{:<36} {:<22} {:<10} #Version",
            "#ClientId", "#ClientAddr", "#Language"
        )?;
        for c in &cc.connection_set {
            writeln!(
                out,
                "{:<36} {:<22} {:<10} {}",
                c.client_id,
                c.client_addr,
                c.language.name(),
                version_desc(c.version)
            )?;
        }
        writeln!(out, "\nBelow is subscription:")?;
        writeln!(out, "{:<20} #SubExpression", "#Topic")?;
        for (topic, sub) in &cc.subscription_table {
            writeln!(out, "{topic:<20} {}", sub.sub_string)?;
        }
        writeln!(out)?;
        writeln!(out, "ConsumeType: {}", cc.consume_type.name())?;
        writeln!(out, "MessageModel: {}", cc.message_model.name())?;
        writeln!(out, "ConsumeFromWhere: {}", cc.consume_from_where.name())?;
        Ok(())
    }
}
