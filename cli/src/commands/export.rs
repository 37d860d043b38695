//! `exportConfigs -c cluster [-f dir]` and `exportMetadata (-c cluster | -b addr [-t|-g]) [-f dir]
//! [-s]` (Java `ExportConfigsCommand`, `ExportMetadataCommand`): what a migration needs, written
//! as JSON under `-f` (default `/tmp/rocketmq/export`), then `export <file> success`.
//!
//! - `configs.json`: `clusterScale` (name servers, masters, slaves) and, per broker group, the
//!   keys Java's tool picks from its master's GET_BROKER_CONFIG.
//! - `metadata.json` (`-c`): the user topics (queue counts summed over the masters) and user
//!   subscription groups of the cluster, the version and the export time; `-b` with `-t` or
//!   `-g` writes one broker's `topic.json` or `subscriptionGroup.json`. `-s` keeps system topics.

use std::collections::BTreeMap;
use std::path::PathBuf;

use remoting::body::admin::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
use remoting::body::topic::{TopicConfig, TopicConfigSerializeWrapper, TopicList};
use remoting::{RemotingCommand, RequestCode};
use serde_json::{Value, json};

use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin exportConfigs`.
pub struct ExportConfigsCommand;
/// `mqadmin exportMetadata`.
pub struct ExportMetadataCommand;

/// The version written as `rocketmqVersion` (what this project's broker reports as
/// `brokerVersionDesc`).
pub const VERSION_DESC: &str = "V4_9_8";

/// Java's default export directory.
pub const DEFAULT_DIR: &str = "/tmp/rocketmq/export";

/// The broker keys `exportConfigs` keeps (Java `needBrokerProprties`).
pub const EXPORTED_BROKER_KEYS: &[&str] = &[
    "brokerClusterName",
    "brokerId",
    "brokerName",
    "brokerRole",
    "fileReservedTime",
    "filterServerNums",
    "flushDiskType",
    "maxMessageSize",
    "messageDelayLevel",
    "msgTraceTopicName",
    "slaveReadEnable",
    "traceOn",
    "traceTopicEnable",
    "useTLS",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
];

/// Consumer groups Java counts as system groups (`MixAll.isSysConsumerGroup` and its list).
fn is_system_group(g: &str) -> bool {
    g.starts_with("CID_RMQ_SYS_")
        || matches!(
            g,
            "TOOLS_CONSUMER"
                | "FILTERSRV_CONSUMER"
                | "__MONITOR_CONSUMER"
                | "CLIENT_INNER_PRODUCER"
                | "SELF_TEST_P_GROUP"
                | "SELF_TEST_C_GROUP"
                | "CID_ONS-HTTP-PROXY"
                | "CID_ONSAPI_PERMISSION"
                | "CID_ONSAPI_OWNER"
                | "CID_ONSAPI_PULL"
        )
}

pub(crate) fn out_dir(args: &ParsedArgs) -> PathBuf {
    PathBuf::from(args.value("f").map(str::trim).unwrap_or(DEFAULT_DIR))
}

pub(crate) fn write_json(path: &std::path::Path, v: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| CliError::Usage(format!("cannot encode {}: {e}", path.display())))?;
    let io = |e: std::io::Error| CliError::Usage(format!("cannot write {}: {e}", path.display()));
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

/// A body as a JSON value (the remoting bodies serialise with Java's field names).
fn to_value<T>(v: &T) -> Result<Value>
where
    T: SerializeJson,
{
    v.json()
}

/// Bodies written by `exportMetadata -b`.
trait SerializeJson {
    fn json(&self) -> Result<Value>;
}

impl SerializeJson for TopicConfigSerializeWrapper {
    fn json(&self) -> Result<Value> {
        let bytes = self.encode().map_err(|e| CliError::Decode(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| CliError::Decode(e.to_string()))
    }
}

impl SerializeJson for SubscriptionGroupWrapper {
    fn json(&self) -> Result<Value> {
        let bytes =
            remoting::fastjson::to_vec(self).map_err(|e| CliError::Decode(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| CliError::Decode(e.to_string()))
    }
}

pub(crate) async fn fetch(admin: &Admin, addr: &str, code: RequestCode) -> Result<Vec<u8>> {
    let req = RemotingCommand::request(code, Default::default());
    Ok(check(addr, admin.invoke(addr, req).await?)?.body.to_vec())
}

/// The broker's topics without system, retry and dead-letter ones unless `special`
/// (Java `getUserTopicConfig`).
pub(crate) async fn user_topics(
    admin: &Admin,
    addr: &str,
    special: bool,
) -> Result<TopicConfigSerializeWrapper> {
    let mut w = TopicConfigSerializeWrapper::decode(
        &fetch(admin, addr, RequestCode::GET_ALL_TOPIC_CONFIG).await?,
    )
    .map_err(|e| CliError::Decode(format!("{addr}: topic configs: {e}")))?;
    if !special {
        let sys = TopicList::decode(
            &fetch(admin, addr, RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_BROKER).await?,
        )
        .map_err(|e| CliError::Decode(format!("{addr}: system topics: {e}")))?;
        w.topic_config_table.retain(|t, _| {
            !sys.topic_list.contains(t) && !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%")
        });
    }
    Ok(w)
}

/// The broker's subscription groups without the system ones (Java `getUserSubscriptionGroup`).
pub(crate) async fn user_groups(admin: &Admin, addr: &str) -> Result<SubscriptionGroupWrapper> {
    let body = fetch(admin, addr, RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?;
    let mut w: SubscriptionGroupWrapper = remoting::fastjson::from_slice(&body)
        .map_err(|e| CliError::Decode(format!("{addr}: subscription groups: {e}")))?;
    w.subscription_group_table
        .retain(|g, _| !is_system_group(g));
    Ok(w)
}

impl Command for ExportConfigsCommand {
    fn name(&self) -> &'static str {
        "exportConfigs"
    }
    fn description(&self) -> &'static str {
        "export configs"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("c", "clusterName", true, "choose a cluster to export"),
            OptSpec::arg(
                "f",
                "filePath",
                false,
                "export configs.json path | default /tmp/rocketmq/export",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let cluster = args.required("c")?.trim();
        let info = admin.cluster_info().await?;
        let mut masters = 0;
        let mut slaves = 0;
        let mut configs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for name in info.cluster_addr_table.get(cluster).into_iter().flatten() {
            let Some(group) = info.broker_addr_table.get(name) else {
                continue;
            };
            let Some(master) = group.master_addr() else {
                continue;
            };
            masters += 1;
            slaves += group.broker_addrs.len() - 1;
            let body = fetch(admin, master, RequestCode::GET_BROKER_CONFIG).await?;
            let props = remoting::properties::parse(&String::from_utf8_lossy(&body));
            let mut picked = BTreeMap::new();
            for k in EXPORTED_BROKER_KEYS {
                let v = props.get(*k).ok_or_else(|| {
                    CliError::Usage(format!("broker {master} does not report {k}"))
                })?;
                picked.insert(k.to_string(), v.clone());
            }
            let broker_name = props.get("brokerName").cloned().unwrap_or(name.clone());
            configs.insert(broker_name, picked);
        }
        let result = json!({
            "brokerConfigs": configs,
            "clusterScale": {
                "namesrvSize": admin.namesrv_addrs()?.len(),
                "masterBrokerSize": masters,
                "slaveBrokerSize": slaves,
            },
        });
        let path = out_dir(args).join("configs.json");
        write_json(&path, &result)?;
        write!(out, "export {} success", path.display())?;
        Ok(())
    }
}

impl Command for ExportMetadataCommand {
    fn name(&self) -> &'static str {
        "exportMetadata"
    }
    fn description(&self) -> &'static str {
        "export metadata"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("c", "clusterName", false, "choose a cluster to export"),
            OptSpec::arg("b", "brokerAddr", false, "choose a broker to export"),
            OptSpec::arg(
                "f",
                "filePath",
                false,
                "export metadata.json path | default /tmp/rocketmq/export",
            ),
            OptSpec::flag("t", "topic", "only export topic metadata"),
            OptSpec::flag(
                "g",
                "subscriptionGroup",
                "only export subscriptionGroup metadata",
            ),
            OptSpec::flag("s", "specialTopic", "need retryTopic and dlqTopic"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let dir = out_dir(args);
        let special = args.has("s");
        if let Some(addr) = args.value("b").map(str::trim) {
            let path = if args.has("t") {
                let p = dir.join("topic.json");
                write_json(&p, &to_value(&user_topics(admin, addr, special).await?)?)?;
                p
            } else if args.has("g") {
                let p = dir.join("subscriptionGroup.json");
                write_json(&p, &to_value(&user_groups(admin, addr).await?)?)?;
                p
            } else {
                return Err(CliError::Usage("-b needs -t or -g".into()));
            };
            write!(out, "export {} success", path.display())?;
            return Ok(());
        }
        let Some(cluster) = args.value("c").map(str::trim) else {
            return Err(CliError::Usage(
                "give -c clusterName or -b brokerAddr".into(),
            ));
        };
        let info = admin.cluster_info().await?;
        let mut topics: BTreeMap<String, TopicConfig> = BTreeMap::new();
        let mut groups: BTreeMap<String, SubscriptionGroupConfig> = BTreeMap::new();
        for addr in info.master_addrs_of_cluster(cluster) {
            for (name, mut tc) in user_topics(admin, &addr, special).await?.topic_config_table {
                if let Some(seen) = topics.get(&name) {
                    tc.write_queue_nums += seen.write_queue_nums;
                    tc.read_queue_nums += seen.read_queue_nums;
                }
                topics.insert(name, tc);
            }
            for (name, mut g) in user_groups(admin, &addr).await?.subscription_group_table {
                if let Some(seen) = groups.get(&name) {
                    g.retry_queue_nums += seen.retry_queue_nums;
                }
                groups.insert(name, g);
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut result = serde_json::Map::new();
        if !args.has("g") {
            result.insert(
                "topicConfigTable".into(),
                serde_json::to_value(&topics).unwrap_or(Value::Null),
            );
        }
        if !args.has("t") {
            result.insert(
                "subscriptionGroupTable".into(),
                serde_json::to_value(&groups).unwrap_or(Value::Null),
            );
        }
        result.insert("rocketmqVersion".into(), json!(VERSION_DESC));
        result.insert("exportTime".into(), json!(now));
        let path = dir.join("metadata.json");
        write_json(&path, &Value::Object(result))?;
        writeln!(out, "export {} success", path.display())?;
        Ok(())
    }
}
