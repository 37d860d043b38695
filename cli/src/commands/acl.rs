//! The plain ACL commands of Java's `mqadmin` (4.x): `updateAclConfig`, `deleteAccessConfig`,
//! `updateGlobalWhiteAddr`, `clusterAclConfigVersion` and `getAccessConfigSubCommand`, each on
//! one broker (`-b`) or every master of a cluster (`-c`). They need an admin account: give its
//! credentials with `--accessKey`/`--secretKey` (or `ROCKETMQ_ACCESS_KEY`/`ROCKETMQ_SECRET_KEY`).

use remoting::acl::AclConfigBody;
use remoting::header::acl::{
    CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader,
    GetBrokerAclConfigResponseHeader, UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use remoting::{CommandHeader, ExtFields, RemotingCommand, RequestCode};

use super::broker_format::{Target, human_time, target};
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

const BROKER: OptSpec = OptSpec::arg("b", "brokerAddr", false, "update which broker");
const CLUSTER: OptSpec = OptSpec::arg("c", "clusterName", false, "update which cluster");
const QUERY_BROKER: OptSpec = OptSpec::arg(
    "b",
    "brokerAddr",
    false,
    "query acl config version for which broker",
);
const QUERY_CLUSTER: OptSpec = OptSpec::arg(
    "c",
    "clusterName",
    false,
    "query acl config version for specified cluster",
);

/// The broker addresses `-b`/`-c` name: one broker, or every master of the cluster.
async fn targets(args: &ParsedArgs, admin: &Admin) -> Result<Vec<String>> {
    match target(args)? {
        Target::Broker(b) => Ok(vec![b.to_string()]),
        Target::Cluster(c) => {
            let info = admin.cluster_info().await?;
            let names = info.cluster_addr_table.get(c).ok_or_else(|| {
                CliError::Usage(format!("cluster {c} is not known to the name server"))
            })?;
            Ok(names
                .iter()
                .filter_map(|n| info.broker_addr_table.get(n))
                .filter_map(|b| b.broker_addrs.get(&0).cloned())
                .collect())
        }
    }
}

/// Sends one update to every broker `-b`/`-c` names, in turn, printing `done(addr)` after
/// each; the first failure stops it (as Java's commands do).
async fn update_targets(
    args: &ParsedArgs,
    admin: &Admin,
    out: Out<'_>,
    code: RequestCode,
    header: ExtFields,
    done: impl Fn(&str) -> String,
) -> Result<()> {
    for addr in targets(args, admin).await? {
        let req = RemotingCommand::request(code, header.clone());
        admin.invoke(&addr, req).await?;
        writeln!(out, "{}", done(&addr))?;
    }
    Ok(())
}

/// `mqadmin updateAclConfig`.
pub struct UpdateAclConfigCommand;

impl Command for UpdateAclConfigCommand {
    fn name(&self) -> &'static str {
        "updateAclConfig"
    }
    fn description(&self) -> &'static str {
        "Update acl config yaml file in broker"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            BROKER,
            CLUSTER,
            OptSpec::arg("a", "accessKey", true, "set accessKey in acl config file"),
            OptSpec::arg("s", "secretKey", true, "set secretKey in acl config file"),
            OptSpec::arg(
                "w",
                "whiteRemoteAddress",
                false,
                "set white ip Address for account in acl config file",
            ),
            OptSpec::arg(
                "i",
                "defaultTopicPerm",
                false,
                "set default topicPerm in acl config file",
            ),
            OptSpec::arg(
                "u",
                "defaultGroupPerm",
                false,
                "set default GroupPerm in acl config file",
            ),
            OptSpec::arg(
                "t",
                "topicPerms",
                false,
                "set topicPerms list,eg: topicA=DENY,topicD=SUB",
            ),
            OptSpec::arg(
                "g",
                "groupPerms",
                false,
                "set groupPerms list,eg: groupD=DENY,groupD=SUB",
            ),
            OptSpec::arg("m", "admin", false, "set admin flag in acl config file"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let is_admin = match args.value("m") {
            None => None,
            Some(v) => Some(
                v.parse::<bool>()
                    .map_err(|_| CliError::Usage(format!("-m must be true or false, not {v:?}")))?,
            ),
        };
        let h = CreateAccessConfigRequestHeader {
            access_key: args.required("a")?.to_string(),
            secret_key: Some(args.required("s")?.to_string()),
            white_remote_address: args.value("w").map(str::to_string),
            admin: is_admin,
            default_topic_perm: args.value("i").map(str::to_string),
            default_group_perm: args.value("u").map(str::to_string),
            topic_perms: args.value("t").map(str::to_string),
            group_perms: args.value("g").map(str::to_string),
        };
        let code = RequestCode::UPDATE_AND_CREATE_ACL_CONFIG;
        update_targets(args, admin, out, code, h.to_ext(), |addr| {
            format!("create or update plain access config to {addr} success.")
        })
        .await
    }
}

/// `mqadmin deleteAclConfig` (alias `deleteAccessConfig`, as Java's).
pub struct DeleteAccessConfigCommand;

impl Command for DeleteAccessConfigCommand {
    fn name(&self) -> &'static str {
        "deleteAclConfig"
    }
    fn alias(&self) -> Option<&'static str> {
        Some("deleteAccessConfig")
    }
    fn description(&self) -> &'static str {
        "Delete Acl Config Account in broker"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            BROKER,
            CLUSTER,
            OptSpec::arg("a", "accessKey", true, "set accessKey in acl config file"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let h = DeleteAccessConfigRequestHeader {
            access_key: args.required("a")?.to_string(),
        };
        let code = RequestCode::DELETE_ACL_CONFIG;
        update_targets(args, admin, out, code, h.to_ext(), |addr| {
            format!("delete plain access config account from {addr} success.")
        })
        .await
    }
}

/// `mqadmin updateGlobalWhiteAddr`.
pub struct UpdateGlobalWhiteAddrCommand;

impl Command for UpdateGlobalWhiteAddrCommand {
    fn name(&self) -> &'static str {
        "updateGlobalWhiteAddr"
    }
    fn description(&self) -> &'static str {
        "Update global white address for acl Config File in broker"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            BROKER,
            CLUSTER,
            OptSpec::arg(
                "g",
                "globalWhiteRemoteAddresses",
                true,
                "set globalWhiteRemoteAddress list,eg: 10.10.103.*,192.168.0.*",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let h = UpdateGlobalWhiteAddrsConfigRequestHeader {
            global_white_addrs: args.required("g")?.to_string(),
            acl_file_full_path: None,
        };
        let code = RequestCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG;
        update_targets(args, admin, out, code, h.to_ext(), |addr| {
            format!("update global white remote addresses to {addr} success.")
        })
        .await
    }
}

/// `mqadmin clusterAclConfigVersion`.
pub struct ClusterAclConfigVersionCommand;

impl Command for ClusterAclConfigVersionCommand {
    fn name(&self) -> &'static str {
        "clusterAclConfigVersion"
    }
    fn description(&self) -> &'static str {
        "List all of acl config version information in cluster"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![QUERY_BROKER, QUERY_CLUSTER]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        writeln!(
            out,
            "{:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
            "#Cluster Name",
            "#Broker Name",
            "#Broker Addr",
            "#AclConfigVersionNum",
            "#AclLastUpdateTime"
        )?;
        for addr in targets(args, admin).await? {
            let req = RemotingCommand::request(
                RequestCode::GET_BROKER_CLUSTER_ACL_INFO,
                ExtFields::new(),
            );
            let resp = admin.invoke(&addr, req).await?;
            let h = resp
                .decode_header::<GetBrokerAclConfigResponseHeader>()
                .map_err(|e| CliError::Decode(format!("ACL info of {addr}: {e}")))?;
            let v: remoting::body::topic::DataVersion = serde_json::from_str(&h.version)
                .map_err(|e| CliError::Decode(format!("ACL version of {addr}: {e}")))?;
            writeln!(
                out,
                "{:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
                h.cluster_name,
                h.broker_name,
                h.broker_addr,
                v.counter,
                human_time(v.timestamp)
            )?;
        }
        Ok(())
    }
}

/// `mqadmin getAclConfig` (alias `getAccessConfigSubCommand`, as Java's).
pub struct GetAccessConfigCommand;

impl Command for GetAccessConfigCommand {
    fn name(&self) -> &'static str {
        "getAclConfig"
    }
    fn alias(&self) -> Option<&'static str> {
        Some("getAccessConfigSubCommand")
    }
    fn description(&self) -> &'static str {
        "List all of acl config information in cluster"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![QUERY_BROKER, QUERY_CLUSTER]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        for addr in targets(args, admin).await? {
            let req = RemotingCommand::request(
                RequestCode::GET_BROKER_CLUSTER_ACL_CONFIG,
                ExtFields::new(),
            );
            let resp = admin.invoke(&addr, req).await?;
            let body: AclConfigBody = serde_json::from_slice(&resp.body)
                .map_err(|e| CliError::Decode(format!("ACL config of {addr}: {e}")))?;
            writeln!(out, "\n{addr}")?;
            writeln!(
                out,
                "{:<20}: {}",
                "globalWhiteRemoteAddresses",
                body.global_white_addrs.join(",")
            )?;
            for c in &body.plain_access_configs {
                writeln!(out, "{:<20}: {}", "accessKey", c.access_key)?;
                writeln!(out, "{:<20}: ******", "secretKey")?;
                writeln!(
                    out,
                    "{:<20}: {}",
                    "whiteRemoteAddress",
                    c.white_remote_address.as_deref().unwrap_or("")
                )?;
                writeln!(out, "{:<20}: {}", "admin", c.admin)?;
                writeln!(
                    out,
                    "{:<20}: {}",
                    "defaultTopicPerm",
                    c.default_topic_perm.as_deref().unwrap_or("")
                )?;
                writeln!(
                    out,
                    "{:<20}: {}",
                    "defaultGroupPerm",
                    c.default_group_perm.as_deref().unwrap_or("")
                )?;
                writeln!(out, "{:<20}: {}", "topicPerms", c.topic_perms.join(","))?;
                writeln!(out, "{:<20}: {}", "groupPerms", c.group_perms.join(","))?;
            }
        }
        Ok(())
    }
}
