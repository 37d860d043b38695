//! `topicList`: every topic the name server knows, one per line.

use futures::future::BoxFuture;

use super::{Out, SubCommand};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin topicList`.
pub struct TopicListCommand;

impl SubCommand for TopicListCommand {
    fn name(&self) -> &'static str {
        "topicList"
    }
    fn description(&self) -> &'static str {
        "Fetch all topic list from name server"
    }
    fn options(&self) -> Vec<OptSpec> {
        Vec::new()
    }
    fn execute<'a>(
        &'a self,
        _args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for topic in admin.topic_list().await?.topic_list {
                writeln!(out, "{topic}")?;
            }
            Ok(())
        })
    }
}
