//! `cleanUnusedTopic`, `cleanExpiredCQ` and `deleteExpiredCommitLog` `(-b addr | -c cluster)`:
//! broker housekeeping on demand (CLEAN_UNUSED_TOPIC, CLEAN_EXPIRED_CONSUMEQUEUE,
//! DELETE_EXPIRED_COMMITLOG), printing `success`
//! as Java's commands do. With `-c` every broker of the cluster is asked, as in Java.

use futures::future::BoxFuture;
use remoting::{RemotingCommand, RequestCode};

use super::broker_format::{Target, target};
use super::{Out, SubCommand};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin cleanUnusedTopic`.
pub struct CleanUnusedTopicCommand;
/// `mqadmin deleteExpiredCommitLog`.
pub struct DeleteExpiredCommitLogCommand;
/// `mqadmin cleanExpiredCQ`.
pub struct CleanExpiredCqCommand;

impl SubCommand for CleanExpiredCqCommand {
    fn name(&self) -> &'static str {
        "cleanExpiredCQ"
    }
    fn description(&self) -> &'static str {
        "Clean expired ConsumeQueue on broker."
    }
    fn options(&self) -> Vec<OptSpec> {
        options()
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(run(
            admin,
            args,
            RequestCode::CLEAN_EXPIRED_CONSUMEQUEUE,
            out,
        ))
    }
}

async fn run(admin: &Admin, args: &ParsedArgs, code: RequestCode, out: Out<'_>) -> Result<()> {
    let addrs = match target(args)? {
        Target::Broker(a) => vec![a.trim().to_string()],
        Target::Cluster(c) => {
            let info = admin.cluster_info().await?;
            info.all_addrs_of_cluster(c.trim())
        }
    };
    let mut result = false;
    for addr in addrs {
        let req = RemotingCommand::request(code, Default::default());
        check(&addr, admin.invoke(&addr, req).await?)?;
        result = true;
    }
    writeln!(out, "{}", if result { "success" } else { "false" })?;
    Ok(())
}

fn options() -> Vec<OptSpec> {
    vec![
        OptSpec::arg("b", "brokerAddr", false, "Broker address"),
        OptSpec::arg("c", "cluster", false, "clustername"),
    ]
}

impl SubCommand for CleanUnusedTopicCommand {
    fn name(&self) -> &'static str {
        "cleanUnusedTopic"
    }
    fn description(&self) -> &'static str {
        "Clean unused topic on broker."
    }
    fn options(&self) -> Vec<OptSpec> {
        options()
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(run(admin, args, RequestCode::CLEAN_UNUSED_TOPIC, out))
    }
}

impl SubCommand for DeleteExpiredCommitLogCommand {
    fn name(&self) -> &'static str {
        "deleteExpiredCommitLog"
    }
    fn description(&self) -> &'static str {
        "Delete expired CommitLog files"
    }
    fn options(&self) -> Vec<OptSpec> {
        options()
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(run(admin, args, RequestCode::DELETE_EXPIRED_COMMITLOG, out))
    }
}
