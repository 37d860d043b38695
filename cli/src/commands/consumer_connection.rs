//! `consumerConnection -g G`: the group's online clients and subscriptions (Java
//! `ConsumerConnectionSubCommand`).

use futures::future::BoxFuture;

use super::broker_format::version_desc;
use super::{Out, SubCommand};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin consumerConnection`.
pub struct ConsumerConnectionCommand;

impl SubCommand for ConsumerConnectionCommand {
    fn name(&self) -> &'static str {
        "consumerConnection"
    }
    fn description(&self) -> &'static str {
        "Query consumer's socket connection, client version and subscription"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![OptSpec::arg(
            "g",
            "consumerGroup",
            true,
            "consumer group name",
        )]
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let group = args.required("g")?;
            let cc = admin.typed()?.consumer_connections(group).await?;
            for (i, c) in cc.connection_set.iter().enumerate() {
                writeln!(
                    out,
                    "{:03}  {:<32} {:<22} {:<8} {}",
                    i + 1,
                    c.client_id,
                    c.client_addr,
                    c.language.name(),
                    version_desc(c.version)
                )?;
            }
            writeln!(out, "\nBelow is subscription:")?;
            for (i, (topic, sub)) in cc.subscription_table.iter().enumerate() {
                writeln!(
                    out,
                    "{:03}  Topic: {:<40} SubExpression: {}",
                    i + 1,
                    topic,
                    sub.sub_string
                )?;
            }
            writeln!(out)?;
            writeln!(out, "ConsumeType: {}", cc.consume_type.name())?;
            writeln!(out, "MessageModel: {}", cc.message_model.name())?;
            writeln!(out, "ConsumeFromWhere: {}", cc.consume_from_where.name())?;
            Ok(())
        })
    }
}
