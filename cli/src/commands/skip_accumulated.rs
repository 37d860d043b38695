//! `skipAccumulatedMessage -g group -t topic [-f true|false]` (Java
//! `SkipAccumulationSubCommand`): moves the group's offsets on every master of the topic to the
//! end of each queue (a reset to timestamp -1), through the live members when there are any,
//! else by committing the offsets directly; prints `#brokerName #queueId #offset`.

use futures::future::BoxFuture;

use super::reset_offset_by_time::reset;
use super::{Out, SubCommand};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin skipAccumulatedMessage`.
pub struct SkipAccumulatedMessageCommand;

impl SubCommand for SkipAccumulatedMessageCommand {
    fn name(&self) -> &'static str {
        "skipAccumulatedMessage"
    }
    fn description(&self) -> &'static str {
        "Skip all messages that are accumulated (not consumed) currently"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("g", "group", true, "set the consumer group"),
            OptSpec::arg("t", "topic", true, "set the topic"),
            OptSpec::arg(
                "f",
                "force",
                false,
                "set the force rollback by timestamp switch[true|false]",
            ),
        ]
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let group = args.required("g")?.trim();
            let topic = args.required("t")?.trim();
            let force = args
                .value("f")
                .is_none_or(|v| v.trim().eq_ignore_ascii_case("true"));
            reset(admin, out, group, topic, -1, force).await
        })
    }
}
