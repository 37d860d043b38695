//! `benchConsumer`: RocketMQ's benchmark consumer as an mqadmin command. One pull task per
//! queue of `-t` reads from the queue's first offset (or its end with `-l`); it runs for `-d`
//! seconds, or until `-m` messages, or (with neither) until it has caught up with what was
//! stored when it started. One line a second with the consume TPS and the store-to-consume
//! latency of that second, then a summary. Offsets are not committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::{MessageQueue, PullConsumer, PullStatus};

use super::bench_stats::{BenchStats, progress};
use super::broker_format::num_opt;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin benchConsumer`.
pub struct BenchConsumerCommand;

impl Command for BenchConsumerCommand {
    fn name(&self) -> &'static str {
        "benchConsumer"
    }
    fn description(&self) -> &'static str {
        "Benchmark consumer: consume TPS and store-to-consume latency"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", false, "Topic name (default BenchmarkTest)"),
            OptSpec::arg(
                "g",
                "group",
                false,
                "Consumer group (default benchmark_consumer)",
            ),
            OptSpec::arg(
                "d",
                "duration",
                false,
                "Seconds to run (default: until caught up)",
            ),
            OptSpec::arg("m", "messageCount", false, "Stop after this many messages"),
            OptSpec::arg("p", "pullBatch", false, "Messages per pull (default 32)"),
            OptSpec::flag(
                "l",
                "fromLast",
                "Start at each queue's end (consume new messages only)",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.value("t").unwrap_or("BenchmarkTest").to_string();
        let group = args.value("g").unwrap_or("benchmark_consumer");
        let secs: u64 = num_opt(args, "d", 0)?;
        let count: Option<u64> = match args.value("m") {
            Some(_) => Some(num_opt(args, "m", 0)?),
            None => None,
        };
        let batch: i32 = num_opt::<i32>(args, "p", 32)?.clamp(1, 1024);
        let duration = (secs > 0).then(|| Duration::from_secs(secs));
        let consumer = PullConsumer::new(group, admin.client_config()?)?;
        consumer.start().await?;
        let plan = Plan {
            topic,
            duration,
            count,
            batch,
            from_last: args.has("l"),
        };
        let result = run(&plan, &consumer, out).await;
        consumer.shutdown().await;
        result
    }
}

struct Plan {
    topic: String,
    duration: Option<Duration>,
    count: Option<u64>,
    batch: i32,
    from_last: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

async fn run(plan: &Plan, consumer: &PullConsumer, out: Out<'_>) -> Result<()> {
    let queues = consumer.fetch_subscribe_queues(&plan.topic).await?;
    let catch_up = plan.duration.is_none() && plan.count.is_none();
    writeln!(
        out,
        "benchConsumer topic={} queues={} {}",
        plan.topic,
        queues.len(),
        match (plan.duration, plan.count) {
            (Some(d), _) => format!("duration={}s", d.as_secs()),
            (None, Some(c)) => format!("count={c}"),
            (None, None) => "until caught up".to_string(),
        }
    )?;
    let stats = Arc::new(BenchStats::new()?);
    let stop = Arc::new(AtomicBool::new(false));
    let mut expected = 0i64;
    let mut tasks = Vec::new();
    for mq in queues {
        let start = if plan.from_last {
            consumer.max_offset(&mq).await?
        } else {
            consumer.min_offset(&mq).await?
        };
        let end = consumer.max_offset(&mq).await?;
        expected += (end - start).max(0);
        let t = QueueTask {
            consumer: consumer.clone(),
            mq,
            offset: start,
            end: catch_up.then_some(end),
            batch: plan.batch,
            stats: stats.clone(),
            stop: stop.clone(),
        };
        tasks.push(tokio::spawn(t.run()));
    }
    let started = Instant::now();
    let mut last_ok = 0u64;
    let mut last_at = started;
    loop {
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Instant::now();
        if plan.duration.is_some_and(|d| now - started >= d)
            || plan.count.is_some_and(|c| stats.ok() >= c)
        {
            stop.store(true, Ordering::Relaxed);
        }
        if now - last_at < Duration::from_secs(1) {
            continue;
        }
        let snap = stats.snapshot();
        let tps = (snap.ok - last_ok) as f64 / (now - last_at).as_secs_f64();
        let share = match (plan.duration, plan.count) {
            (Some(d), _) => Some((now - started).as_secs_f64() / d.as_secs_f64()),
            (None, Some(c)) if c > 0 => Some(snap.ok as f64 / c as f64),
            _ if expected > 0 => Some(snap.ok as f64 / expected as f64),
            _ => None,
        };
        writeln!(
            out,
            "{} Consume TPS: {:.0} | Consumed: {} | Errors: {} | Store->consume RT(ms) {}",
            progress(now - started, share),
            tps,
            snap.ok,
            snap.failed,
            snap.interval.line()
        )?;
        out.flush()?;
        last_ok = snap.ok;
        last_at = now;
    }
    for t in tasks {
        if let Err(e) = t.await {
            writeln!(out, "a pull task failed: {e}")?;
        }
    }
    let elapsed = started.elapsed();
    let snap = stats.snapshot();
    let total = stats.total();
    let tps = stats.busy_tps(elapsed);
    writeln!(out, "=== benchConsumer summary ===")?;
    // Java's benchmark Consumer's names (its B2C is this store-to-consume latency).
    writeln!(
        out,
        "[Complete] Consume Total: {} | Consume TPS: {:.0} | AVG(S2C) RT(ms): {:.3} | MAX(S2C) RT(ms): {:.3}",
        snap.ok, tps, total.mean, total.max
    )?;
    writeln!(
        out,
        "Messages consumed: {} | Errors: {} | Elapsed: {:.2} s",
        snap.ok,
        snap.failed,
        elapsed.as_secs_f64()
    )?;
    writeln!(
        out,
        "TPS: {:.0} msgs/s (over {:.2} s from the first message to the last; idle time not counted)",
        tps,
        stats.busy().as_secs_f64()
    )?;
    writeln!(
        out,
        "Store->consume RT(ms): {} mean {:.3}",
        total.line(),
        total.mean
    )?;
    Ok(())
}

struct QueueTask {
    consumer: PullConsumer,
    mq: MessageQueue,
    offset: i64,
    end: Option<i64>,
    batch: i32,
    stats: Arc<BenchStats>,
    stop: Arc<AtomicBool>,
}

impl QueueTask {
    async fn run(mut self) {
        let hold = Duration::from_millis(500);
        while !self.stop.load(Ordering::Relaxed) {
            if self.end.is_some_and(|e| self.offset >= e) {
                break;
            }
            let r = self
                .consumer
                .pull_block_with_hold(&self.mq, "*", self.offset, self.batch, hold)
                .await;
            let r = match r {
                Ok(r) => r,
                Err(_) => {
                    self.stats.record_failed(1);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if r.status == PullStatus::Found {
                let now = now_ms();
                self.stats.add_ok(r.msgs.len() as u64);
                self.stats.record_latencies(r.msgs.iter().map(|m| {
                    Duration::from_millis(
                        u64::try_from((now - m.store_timestamp).max(0)).unwrap_or(0),
                    )
                }));
            }
            self.offset = r.next_begin_offset.max(self.offset);
        }
    }
}
