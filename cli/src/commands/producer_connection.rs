//! `producerConnection -g G -t T`: the producer group's connections to the topic's brokers
//! (Java `ProducerConnectionSubCommand`).

use super::broker_format::version_desc;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin producerConnection`.
pub struct ProducerConnectionCommand;

impl Command for ProducerConnectionCommand {
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
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
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
    }
}
