//! `deleteTopic -c cluster -t T`: deletes a topic from every master of a cluster, then from the
//! name servers (Java `DeleteTopicSubCommand`).

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin deleteTopic`.
pub struct DeleteTopicCommand;

impl Command for DeleteTopicCommand {
    fn name(&self) -> &'static str {
        "deleteTopic"
    }
    fn description(&self) -> &'static str {
        "Delete topic from broker and NameServer."
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg("c", "clusterName", true, "delete topic from which cluster"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?;
        let cluster = args.required("c")?;
        admin.typed()?.delete_topic(cluster, topic).await?;
        print_deleted(out, topic, cluster)
    }
}

/// Java's two lines after a topic is deleted from a cluster and the name servers.
pub(super) fn print_deleted(out: Out<'_>, topic: &str, cluster: &str) -> Result<()> {
    writeln!(
        out,
        "delete topic [{topic}] from cluster [{cluster}] success."
    )?;
    writeln!(out, "delete topic [{topic}] from NameServer success.")?;
    Ok(())
}
