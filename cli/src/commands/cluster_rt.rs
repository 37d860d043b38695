//! `clusterRT [-a amount] [-s size] [-c cluster] [-i interval]`: send round trip to every broker
//! of a cluster, through the topic named after each broker, printed as Java's
//! `ClusterSendMsgRTCommand` prints it (average RT, successes, failures per broker).

use std::time::{Duration, Instant};

use client::{Message, Producer, ProducerConfig};

use super::broker_format::num_opt;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// `mqadmin clusterRT`.
pub struct ClusterRtCommand;

impl Command for ClusterRtCommand {
    fn name(&self) -> &'static str {
        "clusterRT"
    }
    fn description(&self) -> &'static str {
        "List All clusters Message Send RT"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("a", "amount", false, "message amount | default 100"),
            OptSpec::arg("s", "size", false, "message size | default 128 Byte"),
            OptSpec::arg(
                "c",
                "cluster",
                false,
                "cluster name | default display all cluster",
            ),
            OptSpec::arg(
                "i",
                "interval",
                false,
                "print interval | default 10 seconds",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let amount: u64 = num_opt(args, "a", 100)?;
        let size: usize = num_opt(args, "s", 128)?;
        let only = args.value("c").map(str::trim);
        let interval = match args.value("i") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| CliError::Usage(format!("-i wants seconds, got {v:?}")))?,
            ),
        };
        let mut config = ProducerConfig::new("PID_SMSC", "");
        config.client = admin.client_config()?;
        config.retry_times_when_send_failed = 0;
        let producer = Producer::new(config)?;
        producer.start().await?;
        let result = run(admin, &producer, amount, size, only, interval, out).await;
        producer.shutdown().await;
        result
    }
}

async fn run(
    admin: &Admin,
    producer: &Producer,
    amount: u64,
    size: usize,
    only: Option<&str>,
    interval: Option<u64>,
    out: Out<'_>,
) -> Result<()> {
    let body = vec![b'a'; size];
    loop {
        let info = admin.cluster_info().await?;
        writeln!(
            out,
            "{:<24}  {:<24}  {:<4}  {:<8}  {:<8}",
            "#Cluster Name", "#Broker Name", "#RT", "#successCount", "#failCount"
        )?;
        for (cluster, names) in &info.cluster_addr_table {
            if only.is_some_and(|c| c != cluster) {
                continue;
            }
            for broker in names {
                let (mut ok, mut failed, mut elapsed) = (0u64, 0u64, Duration::ZERO);
                for _ in 0..amount {
                    let start = Instant::now();
                    match producer
                        .send(Message::new(broker.as_str(), body.clone()))
                        .await
                    {
                        Ok(_) => {
                            ok += 1;
                            elapsed += start.elapsed();
                        }
                        Err(_) => failed += 1,
                    }
                }
                let rt = if ok > 0 {
                    elapsed.as_secs_f64() * 1000.0 / ok as f64
                } else {
                    0.0
                };
                writeln!(
                    out,
                    "{cluster:<24}  {broker:<24}  {:<4}  {ok:<8}  {failed:<8}",
                    format!("{rt:.2}")
                )?;
            }
        }
        out.flush()?;
        match interval {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
            None => return Ok(()),
        }
    }
}
