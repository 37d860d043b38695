//! `queryCq -t topic -q queueId -i index -c count [-b brokerAddr] [-g consumerGroup]`: raw
//! consume-queue entries (QUERY_CONSUME_QUEUE), printed as Java's `QueryConsumeQueueCommand`
//! prints them.

use remoting::body::admin::QueryConsumeQueueResponseBody;
use remoting::header::admin::QueryConsumeQueueRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::broker_format::num_opt;
use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin queryCq`.
pub struct QueryCqCommand;

const RULE: &str = "======================================";

impl Command for QueryCqCommand {
    fn name(&self) -> &'static str {
        "queryCq"
    }
    fn description(&self) -> &'static str {
        "Query cq command."
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", true, "topic name"),
            OptSpec::arg("q", "queue", true, "queue num, ie. 1"),
            OptSpec::arg("i", "index", true, "start queue index."),
            OptSpec::arg("c", "count", false, "how many."),
            OptSpec::arg("b", "broker", false, "broker addr."),
            OptSpec::arg("g", "consumer", false, "consumer group."),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?.trim();
        let queue_id: i32 = num_opt(args, "q", 0)?;
        let index: i64 = num_opt(args, "i", 0)?;
        let count: i32 = num_opt(args, "c", 10)?;
        let addr = match args.value("b") {
            Some(b) => b.trim().to_string(),
            None => {
                // The first broker of the route, master preferred.
                let route = admin.topic_route(topic).await?;
                route
                    .broker_datas
                    .iter()
                    .find_map(|b| {
                        b.broker_addrs
                            .get(&0)
                            .or_else(|| b.broker_addrs.values().next())
                    })
                    .cloned()
                    .ok_or_else(|| CliError::Usage(format!("no broker serves topic {topic}")))?
            }
        };
        let h = QueryConsumeQueueRequestHeader {
            topic: topic.to_string(),
            queue_id,
            index,
            count,
            consumer_group: args.value("g").map(|g| g.trim().to_string()),
        };
        let req = RemotingCommand::request(RequestCode::QUERY_CONSUME_QUEUE, h.to_ext());
        let resp = check(&addr, admin.invoke(&addr, req).await?)?;
        if resp.body.is_empty() {
            // Java prints nothing more for an index outside the queue; say why.
            writeln!(out, "{}", resp.remark_str())?;
            return Ok(());
        }
        let body = QueryConsumeQueueResponseBody::decode(&resp.body)
            .map_err(|e| CliError::Decode(format!("{addr}: {e}")))?;
        if let Some(sub) = &body.subscription_data {
            let json =
                serde_json::to_string_pretty(sub).map_err(|e| CliError::Decode(e.to_string()))?;
            write!(out, "Subscription data: \n{json}\n{RULE}\n")?;
        }
        if let Some(f) = &body.filter_data {
            write!(out, "Filter data: \n{f}\n{RULE}\n")?;
        }
        write!(
            out,
            "Queue data: \nmax: {}, min: {}\n{RULE}\n",
            body.max_queue_index, body.min_queue_index
        )?;
        for (i, d) in body.queue_data.iter().enumerate() {
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "null".to_string());
            write!(
                out,
                "idx: {}\nConsumeQueueData{{physicOffset={}, physicSize={}, tagsCode={}, extendDataJson='{}', bitMap='{}', eval={}, msg='{}'}}\n{RULE}\n",
                index + i as i64,
                d.physic_offset,
                d.physic_size,
                d.tags_code,
                opt(&d.extend_data_json),
                opt(&d.bit_map),
                d.eval,
                opt(&d.msg)
            )?;
        }
        Ok(())
    }
}
