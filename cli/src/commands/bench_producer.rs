//! `benchProducer`: RocketMQ's benchmark producer as an mqadmin command. `-w` tasks send `-s`
//! byte messages (`-b` per batch) to `-t` for `-d` seconds or `-m` messages, synchronously or
//! with `-a` (each task keeps [`ASYNC_WINDOW`] sends in flight). One line a second with the TPS
//! and latency percentiles of that second, then a summary.
//!
//! `-x` (probe) sends GET_MAX_OFFSET requests instead of messages, paced, counted and timed
//! the same way: the round trip of this client, the connection and the broker's request path
//! without a body or the store. Run at a send run's `-r`, it is the floor a send's latency at
//! that load can be held against on the same machine (issue 23: at half load on a 2-core VM a
//! send's p99 was 1.5 ms while a probe's at the same rate was 0.4 ms; BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use client::{Message, MessageQueue, Producer, ProducerConfig};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use remoting::body::topic::TopicConfig;
use tokio::sync::Semaphore;

use super::bench_stats::{BenchStats, progress};
use super::broker_format::num_opt;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::{CliError, Result};

/// Sends each task keeps in flight with `-a`.
pub const ASYNC_WINDOW: usize = 16;

/// `mqadmin benchProducer`.
pub struct BenchProducerCommand;

struct Plan {
    topic: String,
    threads: usize,
    size: usize,
    batch: usize,
    duration: Option<Duration>,
    count: Option<u64>,
    window: usize,
    /// Messages per second across all tasks; `None` sends as fast as the answers come.
    rate: Option<f64>,
    /// GET_MAX_OFFSET probes instead of messages (`-x`).
    probe: bool,
    /// The producer batches concurrent sends (`-B`, `ProducerConfig::auto_batch`).
    auto_batch: bool,
}

impl Command for BenchProducerCommand {
    fn name(&self) -> &'static str {
        "benchProducer"
    }
    fn description(&self) -> &'static str {
        "Benchmark producer: TPS and send latency percentiles"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("t", "topic", false, "Topic name (default BenchmarkTest)"),
            OptSpec::arg("w", "threadCount", false, "Sending tasks (default 64)"),
            OptSpec::arg(
                "s",
                "messageSize",
                false,
                "Message body size in bytes (default 128)",
            ),
            OptSpec::arg(
                "b",
                "batchSize",
                false,
                "Messages per send; over 1 sends batches (default 1)",
            ),
            OptSpec::arg(
                "d",
                "duration",
                false,
                "Seconds to run (default 10; 0 with -m: until -m are sent)",
            ),
            OptSpec::arg("m", "messageCount", false, "Stop after this many messages"),
            OptSpec::flag("a", "async", "Asynchronous sends (16 in flight per task)"),
            OptSpec::arg(
                "r",
                "rate",
                false,
                "Messages per second across all tasks (default: as fast as possible); \
                 for latency at a given load",
            ),
            OptSpec::flag(
                "x",
                "probe",
                "Send GET_MAX_OFFSET requests for the topic's first queue instead of \
                 messages (nothing is stored), counted and timed like sends: with -r, the \
                 round-trip floor to hold a send's latency at that rate against",
            ),
            OptSpec::flag(
                "B",
                "autoBatch",
                "The producer sends the tasks' concurrent messages of the topic in batches, \
                 each task still getting its own result (client auto-batching)",
            ),
            OptSpec::arg(
                "c",
                "clusterName",
                false,
                "Create the topic in this cluster first",
            ),
            OptSpec::arg(
                "q",
                "queueNums",
                false,
                "Queues of a created topic (default 8)",
            ),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let secs: u64 = num_opt(args, "d", 10)?;
        let count: Option<u64> = match args.value("m") {
            Some(_) => Some(num_opt(args, "m", 0)?),
            None => None,
        };
        let plan = Plan {
            topic: args.value("t").unwrap_or("BenchmarkTest").to_string(),
            threads: num_opt::<usize>(args, "w", 64)?.max(1),
            size: num_opt(args, "s", 128)?,
            batch: num_opt::<usize>(args, "b", 1)?.max(1),
            duration: (secs > 0).then(|| Duration::from_secs(secs)),
            count,
            window: if args.has("a") { ASYNC_WINDOW } else { 1 },
            rate: match args.value("r") {
                Some(_) => Some(num_opt::<f64>(args, "r", 0.0)?).filter(|r| *r > 0.0),
                None => None,
            },
            probe: args.has("x"),
            auto_batch: args.has("B"),
        };
        if plan.duration.is_none() && plan.count.is_none() {
            return Err(CliError::Usage("give -d seconds > 0 or -m messages".into()));
        }
        if plan.probe && (plan.batch > 1 || plan.auto_batch) {
            return Err(CliError::Usage(
                "-x sends probes, not messages: -b and -B do not apply".into(),
            ));
        }
        if let Some(cluster) = args.value("c") {
            let queues: i32 = num_opt(args, "q", 8)?;
            let config = TopicConfig {
                topic_name: plan.topic.clone(),
                read_queue_nums: queues,
                write_queue_nums: queues,
                ..TopicConfig::default()
            };
            let addrs = admin.typed()?.create_topic(cluster, &config).await?;
            writeln!(out, "topic {} created on {}", plan.topic, addrs.join(", "))?;
        }
        let mut config = ProducerConfig::new("benchmark_producer", "");
        config.client = admin.client_config()?;
        config.send_timeout = Duration::from_secs(10);
        config.auto_batch = plan.auto_batch;
        let producer = Producer::new(config)?;
        producer.start().await?;
        let result = run(&plan, &producer, out).await;
        producer.shutdown().await;
        result
    }
}

async fn run(plan: &Plan, producer: &Producer, out: Out<'_>) -> Result<()> {
    writeln!(
        out,
        "benchProducer topic={} threads={} size={} batch={} mode={}{} {}",
        plan.topic,
        plan.threads,
        plan.size,
        plan.batch,
        match (plan.probe, plan.window > 1) {
            (true, _) => "probe",
            (false, true) => "async",
            (false, false) => "sync",
        },
        if plan.auto_batch { " auto-batch" } else { "" },
        match (plan.duration, plan.count) {
            (Some(d), Some(c)) => format!("duration={}s count={c}", d.as_secs()),
            (Some(d), None) => format!("duration={}s", d.as_secs()),
            (None, Some(c)) => format!("count={c}"),
            (None, None) => String::new(),
        }
    )?;
    // Fail fast (and clearly) when the topic cannot be sent to at all.
    let queues = producer.fetch_publish_queues(&plan.topic).await?;
    let probe = if plan.probe {
        let first = queues.into_iter().next();
        Some(first.ok_or_else(|| {
            CliError::Usage(format!("topic {} has no queue to probe", plan.topic))
        })?)
    } else {
        None
    };
    let stats = Arc::new(BenchStats::new()?);
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let body: Arc<Vec<u8>> = Arc::new(vec![b'a'; plan.size]);
    let pacer = plan
        .rate
        .map(|r| Pacer::start(r / plan.batch as f64, stop.clone()))
        .transpose()?;
    let mut workers = Vec::with_capacity(plan.threads);
    for _ in 0..plan.threads {
        let w = Worker {
            producer: producer.clone(),
            topic: plan.topic.clone(),
            body: body.clone(),
            batch: plan.batch,
            window: plan.window,
            limit: plan.count,
            stats: stats.clone(),
            stop: stop.clone(),
            issued: issued.clone(),
            permits: pacer.as_ref().map(|p| p.permits.clone()),
            probe: probe.clone(),
        };
        workers.push(tokio::spawn(w.run()));
    }
    let started = Instant::now();
    let mut last_ok = 0u64;
    let mut last_at = started;
    loop {
        let done = workers.iter().all(|w| w.is_finished());
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Instant::now();
        if plan.duration.is_some_and(|d| now - started >= d) {
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
            _ => None,
        };
        writeln!(
            out,
            "{} Send TPS: {:.0} | Sent: {} | Failed: {} | RT(ms) {}",
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
    for w in workers {
        // A worker never panics on purpose; a join error is reported, not unwrapped.
        if let Err(e) = w.await {
            writeln!(out, "a sending task failed: {e}")?;
        }
    }
    let elapsed = started.elapsed();
    let snap = stats.snapshot();
    let total = stats.total();
    let other = stats.other();
    let not_ok: u64 = other.values().sum();
    let tps = stats.busy_tps(elapsed);
    writeln!(out, "=== benchProducer summary ===")?;
    // Java's benchmark Producer's closing line, with its names.
    writeln!(
        out,
        "[Complete] Send Total: {} | Send TPS: {:.0} | Max RT(ms): {:.3} | Average RT(ms): {:.3} | Send Failed: {} | Response Failed: {}",
        snap.ok + not_ok + snap.failed,
        tps,
        total.max,
        total.mean,
        snap.failed,
        not_ok
    )?;
    writeln!(
        out,
        "{}: {} | Failed: {} | Elapsed: {:.2} s",
        if plan.probe {
            "Probes answered"
        } else {
            "Messages sent"
        },
        snap.ok,
        snap.failed,
        elapsed.as_secs_f64()
    )?;
    if plan.probe {
        writeln!(
            out,
            "TPS: {tps:.0} probes/s (answered only, over {:.2} s from the first to the last)",
            stats.busy().as_secs_f64()
        )?;
    } else {
        let mut statuses = format!("SEND_OK={}", snap.ok);
        for name in [
            "FLUSH_DISK_TIMEOUT",
            "FLUSH_SLAVE_TIMEOUT",
            "SLAVE_NOT_AVAILABLE",
        ] {
            statuses.push_str(&format!(
                " {name}={}",
                other.get(name).copied().unwrap_or(0)
            ));
        }
        statuses.push_str(&format!(" exception={}", snap.failed));
        writeln!(out, "Send status: {statuses}")?;
        writeln!(
            out,
            "TPS: {:.0} msgs/s | {:.2} MiB/s (SEND_OK only, over {:.2} s from the first to the last)",
            tps,
            tps * plan.size as f64 / (1024.0 * 1024.0),
            stats.busy().as_secs_f64()
        )?;
    }
    writeln!(out, "Send RT(ms): {} mean {:.3}", total.line(), total.mean)?;
    Ok(())
}

struct Worker {
    producer: Producer,
    topic: String,
    body: Arc<Vec<u8>>,
    batch: usize,
    window: usize,
    limit: Option<u64>,
    stats: Arc<BenchStats>,
    stop: Arc<AtomicBool>,
    issued: Arc<AtomicU64>,
    /// With `-r`: one permit per send, released by the [`Pacer`] on its schedule.
    permits: Option<Arc<Semaphore>>,
    /// With `-x`: the queue whose max offset each "send" asks for.
    probe: Option<MessageQueue>,
}

impl Worker {
    /// Takes the next `batch` messages from the budget; false when the run is over.
    fn take(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        match self.limit {
            None => true,
            Some(limit) => {
                let before = self.issued.fetch_add(self.batch as u64, Ordering::Relaxed);
                before + self.batch as u64 <= limit
            }
        }
    }

    async fn send_one(&self) {
        let n = self.batch as u64;
        let started = Instant::now();
        if let Some(mq) = &self.probe {
            match self.producer.instance().max_offset(mq).await {
                Ok(_) => self.stats.record_ok(n, started.elapsed()),
                Err(e) => {
                    tracing_free_log(&e);
                    self.stats.record_failed(n);
                }
            }
            return;
        }
        let result = if self.batch == 1 {
            self.producer
                .send(Message::new(self.topic.clone(), self.body.to_vec()))
                .await
        } else {
            let msgs = (0..self.batch)
                .map(|_| Message::new(self.topic.clone(), self.body.to_vec()))
                .collect();
            self.producer.send_batch(msgs).await
        };
        match result {
            Ok(r) => match status_name(r.status) {
                None => self.stats.record_ok(n, started.elapsed()),
                // Stored, but not as the broker's policy promises: not a success.
                Some(name) => self.stats.record_other(name, n, started.elapsed()),
            },
            Err(e) => {
                tracing_free_log(&e);
                self.stats.record_failed(n);
            }
        }
    }

    async fn run(self) {
        if self.window == 1 {
            // Sync: one send at a time, awaited in place (a set of futures per task cost the
            // client about a tenth of its CPU per send).
            while self.take() && self.permit().await {
                self.send_one().await;
            }
            return;
        }
        let mut inflight = FuturesUnordered::new();
        loop {
            while inflight.len() < self.window && self.take() {
                if !self.permit().await {
                    break;
                }
                inflight.push(self.send_one());
            }
            if inflight.next().await.is_none() {
                break;
            }
        }
    }

    /// With `-r`, waits for the pacer's permit to start the next send; false when the run is
    /// over (the pacer closed).
    async fn permit(&self) -> bool {
        match &self.permits {
            Some(permits) => match permits.acquire().await {
                Ok(p) => {
                    p.forget();
                    true
                }
                Err(_) => false,
            },
            None => true,
        }
    }
}

/// Starts the sends of a `-r` run on a fixed schedule shared by all tasks: the n-th send may
/// start at n / rate seconds (a late one starts at once and does not shift the next), so
/// latency is measured at that offered load. The schedule is kept by a thread of its own
/// sleeping [`PACER_TICK`] at a time, because tokio's timer rounds every deadline up to the
/// next millisecond: tasks each sleeping to their own start time all woke on the same
/// millisecond tick and sent in bursts (tens of sends at once at 45 k msgs/s), which measured
/// the burst's queueing rather than the latency at a steady load.
struct Pacer {
    permits: Arc<Semaphore>,
    /// Set on drop: the run is over (a counted run never sets the run's stop flag).
    done: Arc<AtomicBool>,
}

/// The pacer's resolution: sends due within it start together.
const PACER_TICK: Duration = Duration::from_micros(100);

/// The pacer's longest sleep, so that it sees the end of a slow run soon.
const PACER_MAX_SLEEP: Duration = Duration::from_millis(10);

impl Pacer {
    /// Releases `per_sec` permits a second until `stop` or the pacer's drop, then closes the
    /// semaphore (tasks waiting for a permit see the end of the run).
    fn start(per_sec: f64, stop: Arc<AtomicBool>) -> Result<Self> {
        let permits = Arc::new(Semaphore::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (released, finished) = (permits.clone(), done.clone());
        let period = 1.0 / per_sec.max(1e-3);
        std::thread::Builder::new()
            .name("bench-pacer".into())
            .spawn(move || {
                let started = Instant::now();
                let mut given: u64 = 0;
                while !stop.load(Ordering::Relaxed) && !finished.load(Ordering::Relaxed) {
                    let elapsed = started.elapsed().as_secs_f64();
                    // Sends 0..due have reached their start time.
                    let due = (elapsed / period) as u64 + 1;
                    if due > given {
                        let room = Semaphore::MAX_PERMITS - released.available_permits();
                        let add = usize::try_from(due - given).unwrap_or(room);
                        released.add_permits(add.min(room));
                        given = due;
                    }
                    let next = Duration::try_from_secs_f64(given as f64 * period - elapsed)
                        .unwrap_or(PACER_TICK);
                    std::thread::sleep(next.clamp(PACER_TICK, PACER_MAX_SLEEP));
                }
                released.close();
            })
            .map_err(CliError::Thread)?;
        Ok(Pacer { permits, done })
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Java's name of a send status other than `SEND_OK` (`None` for `SEND_OK`).
fn status_name(s: client::SendStatus) -> Option<&'static str> {
    match s {
        client::SendStatus::SendOk => None,
        client::SendStatus::FlushDiskTimeout => Some("FLUSH_DISK_TIMEOUT"),
        client::SendStatus::FlushSlaveTimeout => Some("FLUSH_SLAVE_TIMEOUT"),
        client::SendStatus::SlaveNotAvailable => Some("SLAVE_NOT_AVAILABLE"),
    }
}

/// Failures are counted; the first few are worth seeing on stderr without flooding it.
fn tracing_free_log(e: &client::ClientError) {
    static SHOWN: AtomicU64 = AtomicU64::new(0);
    if SHOWN.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("send failed: {e}");
    }
}
