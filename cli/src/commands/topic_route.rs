//! `topicRoute -t T`: the topic's route as pretty JSON (Java prints `toJson(true)`).

use futures::future::BoxFuture;

use super::{Out, SubCommand};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin topicRoute`.
pub struct TopicRouteCommand;

impl SubCommand for TopicRouteCommand {
    fn name(&self) -> &'static str {
        "topicRoute"
    }
    fn description(&self) -> &'static str {
        "Examine topic route info"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![OptSpec::arg("t", "topic", true, "topic name")]
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let route = admin.topic_route(args.required("t")?).await?;
            let text = serde_json::to_string_pretty(&route)
                .map_err(|e| CliError::Decode(format!("render route: {e}")))?;
            writeln!(out, "{text}")?;
            Ok(())
        })
    }
}
