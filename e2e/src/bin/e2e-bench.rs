//! `e2e-bench`: the producer/consumer the kind suite runs in the cluster (the image has no
//! producing tool of its own). Commands:
//! - `topic`: create a topic on every master of a cluster and wait for its route;
//! - `produce`: N messages from P concurrent producers, bodies `<run>-<seq>` (optionally paced,
//!   and stopped early by `--stop-file`); prints counts and writes the acknowledged sequence
//!   numbers to `--acked-file` when given;
//! - `drain`: read every queue of the topic from offset 0 (master, else the next member; or only
//!   the slaves of `--slaves-only <brokerName>`), compare with `--expect` acknowledged messages
//!   (or the `--acked-file`), print `lost=… duplicates=…`; exit 1 on any loss.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use client::{Admin, ClientConfig};
use e2e::load::{self, Group, Load, Sent};
use remoting::body::topic::TopicConfig;

#[derive(Parser)]
#[command(about = "Producer/consumer checks for the end-to-end suites")]
struct Cli {
    /// Name server address list (`host:port;host:port`).
    #[arg(short = 'n', long, global = true, default_value = "127.0.0.1:9876")]
    namesrv: String,
    /// Topic.
    #[arg(short = 't', long, global = true, default_value = "E2ETopic")]
    topic: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the topic on every master of `--cluster`.
    Topic {
        /// brokerClusterName.
        #[arg(short = 'c', long, default_value = "DefaultCluster")]
        cluster: String,
        /// Read and write queues per master.
        #[arg(short = 'q', long, default_value_t = 4)]
        queues: i32,
    },
    /// Send `--count` messages from `--producers` concurrent producers.
    Produce {
        /// Run id: bodies are `<run>-<seq>`.
        #[arg(long)]
        run: String,
        /// Messages.
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        /// Concurrent producers.
        #[arg(long, default_value_t = 32)]
        producers: usize,
        /// Write acknowledged sequence numbers here, one a line.
        #[arg(long)]
        acked_file: Option<std::path::PathBuf>,
        /// Pause between two sends of one producer (a steady load over a long window).
        #[arg(long)]
        pace_ms: Option<u64>,
        /// Stop (after the sends in flight) once this file exists: a load that runs until the
        /// caller's step is over, whatever `--count` says.
        #[arg(long)]
        stop_file: Option<std::path::PathBuf>,
    },
    /// Read everything back and count.
    Drain {
        /// Run id of the produce to check.
        #[arg(long)]
        run: String,
        /// Queues per group.
        #[arg(short = 'q', long, default_value_t = 4)]
        queues: i32,
        /// Acknowledged sequence numbers (from `produce --acked-file`).
        #[arg(long)]
        acked_file: Option<std::path::PathBuf>,
        /// Otherwise: every sequence number below this was acknowledged.
        #[arg(long)]
        expect: Option<u64>,
        /// Read only this group, and only from its slaves.
        #[arg(long)]
        slaves_only: Option<String>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Topic { cluster, queues } => {
            let admin = Admin::new(ClientConfig::new(cli.namesrv.clone()))?;
            let masters = admin
                .create_topic(
                    &cluster,
                    &TopicConfig::with_queues(&cli.topic, queues, queues, 6),
                )
                .await?;
            for _ in 0..300 {
                if let Ok(r) = admin.topic_route(&cli.topic).await
                    && r.queue_datas.len() == masters.len()
                {
                    println!(
                        "topic {} on {} master(s): {masters:?}",
                        cli.topic,
                        masters.len()
                    );
                    admin.shutdown().await;
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            bail!("no complete route for {}", cli.topic)
        }
        Cmd::Produce {
            run,
            count,
            producers,
            acked_file,
            pace_ms,
            stop_file,
        } => {
            let t = Instant::now();
            let load = Load::new();
            if let Some(stop) = stop_file {
                let load = load.clone();
                tokio::spawn(async move {
                    while !stop.exists() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    load.stop();
                });
            }
            let sent = load::produce(
                load,
                &cli.namesrv,
                &cli.topic,
                &run,
                producers,
                count,
                pace_ms.map(Duration::from_millis),
            )
            .await?;
            let secs = t.elapsed().as_secs_f64();
            println!(
                "produced run={run} acked={} weak={} failed={} per_broker={:?} seconds={secs:.1} msgs_per_s={:.0}",
                sent.acked.len(),
                sent.weak.len(),
                sent.failed.len(),
                sent.per_broker,
                sent.acked.len() as f64 / secs.max(0.001)
            );
            if let Some(path) = acked_file {
                let lines: Vec<String> = sent.acked.iter().map(u64::to_string).collect();
                std::fs::write(&path, lines.join("\n"))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if sent.acked.is_empty() {
                bail!("nothing was acknowledged");
            }
            Ok(())
        }
        Cmd::Drain {
            run,
            queues,
            acked_file,
            expect,
            slaves_only,
        } => {
            let admin = Admin::new(ClientConfig::new(cli.namesrv.clone()))?;
            let route = admin.topic_route(&cli.topic).await?;
            admin.shutdown().await;
            let mut groups: Vec<Group> = route
                .broker_datas
                .iter()
                .map(|b| Group {
                    broker_name: b.broker_name.clone(),
                    addrs: b.broker_addrs.values().cloned().collect(),
                })
                .collect();
            if let Some(only) = &slaves_only {
                groups = route
                    .broker_datas
                    .iter()
                    .filter(|b| &b.broker_name == only)
                    .map(|b| Group {
                        broker_name: b.broker_name.clone(),
                        addrs: b
                            .broker_addrs
                            .iter()
                            .filter(|(id, _)| **id > 0)
                            .map(|(_, a)| a.clone())
                            .collect(),
                    })
                    .collect();
                if groups.first().is_none_or(|g| g.addrs.is_empty()) {
                    bail!("{only} has no slave in the route");
                }
            }
            let mut sent = Sent::default();
            if let Some(path) = acked_file {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                sent.acked = text
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<BTreeSet<u64>>();
            } else if let Some(n) = expect {
                sent.acked = (0..n).collect();
            }
            let drained = load::drain(&cli.namesrv, &cli.topic, &run, &groups, queues).await?;
            let t = load::tally(&sent, &drained);
            println!(
                "drained run={run} distinct={} lost={} duplicates={} per_addr={:?}",
                drained.seen.len(),
                t.lost.len(),
                t.duplicates,
                drained.per_addr
            );
            // With --slaves-only only that group's share can be checked: the messages it
            // holds must be exactly those the caller expects from it, so loss is not judged.
            if slaves_only.is_none() && !t.lost.is_empty() {
                bail!(
                    "{} acknowledged message(s) lost, first {:?}",
                    t.lost.len(),
                    &t.lost[..t.lost.len().min(10)]
                );
            }
            if drained.seen.is_empty() {
                bail!("nothing read");
            }
            Ok(())
        }
    }
}
