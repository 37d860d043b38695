//! `cleanUnusedTopic`, `cleanExpiredCQ` and `deleteExpiredCommitLog` `(-b addr | -c cluster)`:
//! broker housekeeping on demand (CLEAN_UNUSED_TOPIC, CLEAN_EXPIRED_CONSUMEQUEUE,
//! DELETE_EXPIRED_COMMITLOG), printing `success`
//! as Java's commands do. With `-c` every broker of the cluster is asked, as in Java.

use remoting::{RemotingCommand, RequestCode};

use super::broker_format::{Target, target};
use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// One of the three: they differ only in name, description and the request code sent.
pub struct Maintenance {
    name: &'static str,
    description: &'static str,
    code: RequestCode,
}

/// `mqadmin cleanUnusedTopic`.
pub const CLEAN_UNUSED_TOPIC: Maintenance = Maintenance {
    name: "cleanUnusedTopic",
    description: "Clean unused topic on broker.",
    code: RequestCode::CLEAN_UNUSED_TOPIC,
};
/// `mqadmin cleanExpiredCQ`.
pub const CLEAN_EXPIRED_CQ: Maintenance = Maintenance {
    name: "cleanExpiredCQ",
    description: "Clean expired ConsumeQueue on broker.",
    code: RequestCode::CLEAN_EXPIRED_CONSUMEQUEUE,
};
/// `mqadmin deleteExpiredCommitLog`.
pub const DELETE_EXPIRED_COMMIT_LOG: Maintenance = Maintenance {
    name: "deleteExpiredCommitLog",
    description: "Delete expired CommitLog files",
    code: RequestCode::DELETE_EXPIRED_COMMITLOG,
};

impl Command for Maintenance {
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        self.description
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("b", "brokerAddr", false, "Broker address"),
            OptSpec::arg("c", "cluster", false, "clustername"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        run(admin, args, self.code, out).await
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
