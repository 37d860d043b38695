//! `producerConnection -g G -t T`: the producer group's connections to the topic's brokers
//! (Java `ProducerConnectionSubCommand`).

use futures::future::BoxFuture;

use super::broker_format::version_desc;
use super::{Out, SubCommand};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin producerConnection`.
pub struct ProducerConnectionCommand;

impl SubCommand for ProducerConnectionCommand {
    fn name(&self) -> &'static str {
        "producerConnection"
    }
    fn description(&self) -> &'static str {
        "Query producer's socket connection and client version"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("g", "producerGroup", true, "producer group name"),
            OptSpec::arg("t", "topic", true, "topic name"),
        ]
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let group = args.required("g")?;
            let topic = args.required("t")?;
            let pc = admin.typed()?.producer_connections(group, topic).await?;
            for (i, c) in pc.connection_set.iter().enumerate() {
                writeln!(
                    out,
                    "{:04}  {:<32} {:<22} {:<8} {}",
                    i + 1,
                    c.client_id,
                    c.client_addr,
                    c.language.name(),
                    version_desc(c.version)
                )?;
            }
            Ok(())
        })
    }
}
