//! `allocateMQ -t topic -i ip1,ip2`: how the average strategy would split a topic's queues
//! among the given clients, printed as Java's `AllocateMQSubCommand` prints its
//! `RebalanceResult` (compact JSON, fields sorted as fastjson writes them).

use std::collections::BTreeMap;

use remoting::body::client::MessageQueue;

use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin allocateMQ`.
pub struct AllocateMqCommand;

impl Command for AllocateMqCommand {
    fn name(&self) -> &'static str {
        "allocateMQ"
    }
    fn description(&self) -> &'static str {
        "Allocate MQ"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg("i", "ipList", true, "ipList"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?.trim();
        let mut ips: Vec<String> = args.required("i")?.split(',').map(str::to_string).collect();
        ips.sort();
        let route = admin.topic_route(topic).await?;
        let queues = client::route::subscribe_queues(topic, &route);
        let result: BTreeMap<String, Vec<MessageQueue>> = ips
            .iter()
            .map(|ip| {
                (
                    ip.clone(),
                    client::allocate::allocate_averagely(ip, &queues, &ips),
                )
            })
            .collect();
        // Java's `RebalanceResult {result}`.
        let mut body = serde_json::Map::new();
        body.insert(
            "result".to_string(),
            serde_json::to_value(&result).map_err(|e| CliError::Decode(e.to_string()))?,
        );
        let json = remoting::fastjson::to_vec_object_keys(&serde_json::Value::Object(body))
            .map_err(|e| CliError::Decode(e.to_string()))?;
        writeln!(out, "{}", String::from_utf8_lossy(&json))?;
        Ok(())
    }
}
