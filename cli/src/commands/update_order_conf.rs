//! `updateOrderConf -t topic -m put|get|delete [-v brokerName:num;...]`: the ordered-topic
//! configuration kept in the name servers' `ORDER_TOPIC_CONFIG` namespace (Java
//! `UpdateOrderConfCommand`).

use remoting::header::namesrv::{
    DeleteKVConfigRequestHeader, GetKVConfigRequestHeader, GetKVConfigResponseHeader,
    PutKVConfigRequestHeader,
};
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// The name-server namespace of ordered-topic settings (Java `NamesrvUtil`).
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

/// `mqadmin updateOrderConf`.
pub struct UpdateOrderConfCommand;

impl Command for UpdateOrderConfCommand {
    fn name(&self) -> &'static str {
        "updateOrderConf"
    }
    fn description(&self) -> &'static str {
        "Create or update or delete order conf"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg(
                "v",
                "orderConf",
                false,
                "set order conf [eg. brokerName1:num;brokerName2:num]",
            ),
            OptSpec::arg("m", "method", true, "option type [eg. put|get|delete"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?.trim();
        match args.required("m")?.trim() {
            "get" => {
                let h = GetKVConfigRequestHeader {
                    namespace: NAMESPACE_ORDER_TOPIC_CONFIG.into(),
                    key: topic.into(),
                };
                let req = RemotingCommand::request(RequestCode::GET_KV_CONFIG, h.to_ext());
                let resp = admin.namesrv_invoke(req).await?;
                let resp = check("name server", resp)?;
                let v: GetKVConfigResponseHeader = resp
                    .ext_fields
                    .decode()
                    .map_err(|e| CliError::Decode(e.to_string()))?;
                writeln!(
                    out,
                    "get orderConf success. topic=[{topic}], orderConf=[{}] ",
                    v.value.unwrap_or_default()
                )?;
            }
            "put" => {
                let conf = args.value("v").map(str::trim).unwrap_or("");
                if conf.is_empty() {
                    return Err(CliError::Usage(
                        "please set orderConf with option -v.".into(),
                    ));
                }
                let h = PutKVConfigRequestHeader {
                    namespace: NAMESPACE_ORDER_TOPIC_CONFIG.into(),
                    key: topic.into(),
                    value: conf.into(),
                };
                let req = RemotingCommand::request(RequestCode::PUT_KV_CONFIG, h.to_ext());
                for (_, result) in admin.namesrv_invoke_all(req).await? {
                    result?;
                }
                writeln!(
                    out,
                    "update orderConf success. topic=[{topic}], orderConf=[{conf}]"
                )?;
            }
            "delete" => {
                let h = DeleteKVConfigRequestHeader {
                    namespace: NAMESPACE_ORDER_TOPIC_CONFIG.into(),
                    key: topic.into(),
                };
                let req = RemotingCommand::request(RequestCode::DELETE_KV_CONFIG, h.to_ext());
                for (_, result) in admin.namesrv_invoke_all(req).await? {
                    result?;
                }
                writeln!(out, "delete orderConf success. topic=[{topic}]")?;
            }
            other => {
                return Err(CliError::Usage(format!(
                    "-m wants put, get or delete, got {other:?}"
                )));
            }
        }
        Ok(())
    }
}
