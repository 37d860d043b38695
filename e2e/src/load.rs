//! Load for the scenario suites: many concurrent producers that remember what was acknowledged,
//! and a drain that reads every queue of a topic from whichever member of its group answers
//! (the master, or its slave once the master is gone), then the loss/duplicate count.
//!
//! Message bodies are `"<run>-<seq>"`, so a drain can tell exactly which sends arrived and how
//! often; counting by body (not msg id) also catches a retried send stored twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use client::{ClientConfig, ClientInstance, Message, Producer, ProducerConfig, SendStatus};
use remoting::header::pull::{PullMessageRequestHeader, PullSysFlag};

use anyhow::{Context, Result, anyhow};

/// What the producers saw.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    /// Sequence numbers answered SEND_OK (for SYNC_MASTER: on the slave too).
    pub acked: BTreeSet<u64>,
    /// Stored with a weaker status (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE).
    pub weak: BTreeSet<u64>,
    /// Sends that failed after the client's own retries (may or may not be stored).
    pub failed: BTreeSet<u64>,
    /// Broker name → SEND_OK count, to show traffic moved between groups.
    pub per_broker: BTreeMap<String, u64>,
}

/// Shared state of a running load.
#[derive(Clone)]
pub struct Load {
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// Acknowledged sends so far (for waiting on progress).
    pub acked: Arc<AtomicU64>,
}

impl Load {
    /// A fresh load: sequence numbers start at 0, nothing acknowledged, not stopped.
    pub fn new() -> Self {
        Load {
            next: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            acked: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Asks every producer task to stop after its current send.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits until at least `n` sends were acknowledged, or `timeout`.
    pub async fn wait_acked(&self, n: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.acked.load(Ordering::SeqCst) < n {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

impl Default for Load {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `tasks` concurrent producers (one `Producer` each, so each has its own connections as
/// a separate client thread would) sending `total` messages to `topic`, or until stopped.
/// `pace` sleeps between sends of one task (spreads a small count over a restart window).
pub async fn produce(
    load: Load,
    namesrv: &str,
    topic: &str,
    run: &str,
    tasks: usize,
    total: u64,
    pace: Option<Duration>,
) -> Result<Sent> {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let mut cfg = ProducerConfig::new(format!("e2e-pg-{run}"), namesrv.to_string());
        cfg.client.instance_name = Some(format!("{run}-p{t}"));
        let producer = Producer::new(cfg).context("producer")?;
        producer.start().await.context("producer start")?;
        let load = load.clone();
        let topic = topic.to_string();
        let run = run.to_string();
        handles.push(tokio::spawn(async move {
            let mut sent = Sent::default();
            loop {
                if load.stop.load(Ordering::SeqCst) {
                    break;
                }
                let seq = load.next.fetch_add(1, Ordering::SeqCst);
                if seq >= total {
                    break;
                }
                let msg = Message::new(topic.clone(), format!("{run}-{seq}"))
                    .with_key(format!("{run}-{seq}"));
                match producer.send(msg).await {
                    Ok(r) if r.status == SendStatus::SendOk => {
                        sent.acked.insert(seq);
                        *sent
                            .per_broker
                            .entry(r.message_queue.broker_name.clone())
                            .or_default() += 1;
                        load.acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {
                        sent.weak.insert(seq);
                    }
                    Err(e) => {
                        tracing::debug!(seq, error = %e, "send failed");
                        sent.failed.insert(seq);
                    }
                }
                if let Some(p) = pace {
                    tokio::time::sleep(p).await;
                }
            }
            producer.shutdown().await;
            sent
        }));
    }
    let mut all = Sent::default();
    for h in handles {
        let s = h.await.context("producer task")?;
        all.acked.extend(s.acked);
        all.weak.extend(s.weak);
        all.failed.extend(s.failed);
        for (b, n) in s.per_broker {
            *all.per_broker.entry(b).or_default() += n;
        }
    }
    Ok(all)
}

/// One broker group as the drain sees it: its name and its members' addresses, master first.
#[derive(Debug, Clone)]
pub struct Group {
    /// brokerName.
    pub broker_name: String,
    /// `ip:port` of the members, brokerId order (master first).
    pub addrs: Vec<String>,
}

/// What a drain read.
#[derive(Debug, Default, Clone)]
pub struct Drained {
    /// Sequence number → how many times it was read.
    pub seen: BTreeMap<u64, u32>,
    /// Broker address → messages read from it.
    pub per_addr: BTreeMap<String, u64>,
    /// `broker:queue` → entries between where the drain got stuck and the queue's max offset.
    pub stuck: BTreeMap<String, u64>,
}

/// Reads queues `0..queues` of `topic` in every group from offset 0 to the end, each from the
/// first member that answers (so a dead master's queues are read from its slave).
pub async fn drain(
    namesrv: &str,
    topic: &str,
    run: &str,
    groups: &[Group],
    queues: i32,
) -> Result<Drained> {
    let mut cfg = ClientConfig::new(namesrv.to_string());
    cfg.instance_name = Some(format!("{run}-drain"));
    let instance = ClientInstance::new(cfg).context("drain client")?;
    instance.start().context("drain start")?;
    let mut out = Drained::default();
    let prefix = format!("{run}-");
    for g in groups {
        for q in 0..queues {
            let mut offset = 0;
            'queue: loop {
                let mut last_err = None;
                let mut progressed = None;
                for addr in &g.addrs {
                    let header = PullMessageRequestHeader {
                        consumer_group: format!("e2e-drain-{run}"),
                        topic: topic.to_string(),
                        queue_id: q,
                        queue_offset: offset,
                        max_msg_nums: 256,
                        sys_flag: PullSysFlag::build(false, false, true, false).0,
                        commit_offset: 0,
                        suspend_timeout_millis: 0,
                        subscription: Some("*".to_string()),
                        sub_version: 0,
                        expression_type: Some("TAG".to_string()),
                        max_msg_bytes: None,
                        bname: Some(g.broker_name.clone()),
                    };
                    match instance
                        .pull_message(addr, &g.broker_name, &header, Duration::from_secs(10))
                        .await
                    {
                        Ok(r) => {
                            progressed = Some((addr.clone(), r));
                            break;
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
                let Some((addr, r)) = progressed else {
                    instance.shutdown().await;
                    return Err(anyhow!(
                        "{} queue {q} at offset {offset}: no member answered: {last_err:?}",
                        g.broker_name
                    ));
                };
                // An empty answer that still moves the offset (no matching message, offset
                // moved) is not the end of the queue: only no progress or the queue's end is.
                if r.next_begin_offset <= offset || (r.msgs.is_empty() && offset >= r.max_offset) {
                    if offset < r.max_offset {
                        tracing::warn!(broker = %g.broker_name, queue = q, offset, max = r.max_offset, status = ?r.status, "drain stuck before the queue's end");
                        *out.stuck
                            .entry(format!("{}:{q}", g.broker_name))
                            .or_default() += (r.max_offset - offset) as u64;
                    }
                    break 'queue;
                }
                for m in &r.msgs {
                    let body = m.body_str();
                    if let Some(seq) = body.strip_prefix(&prefix).and_then(|s| s.parse().ok()) {
                        *out.seen.entry(seq).or_default() += 1;
                    }
                }
                *out.per_addr.entry(addr).or_default() += r.msgs.len() as u64;
                offset = r.next_begin_offset;
            }
        }
    }
    instance.shutdown().await;
    Ok(out)
}

/// [`drain`] again until every acknowledged send of `sent` is read, or `patience` runs out (then
/// the last read, with what it lacks). An acknowledgement means the commit log holds the message;
/// its consume-queue entry follows within the store's dispatch lag (Java's reput service alike),
/// so a read started right after the last acknowledgement can end before it. Returns the read and
/// how many reads it took.
pub async fn drain_acked(
    namesrv: &str,
    topic: &str,
    run: &str,
    groups: &[Group],
    queues: i32,
    sent: &Sent,
    patience: Duration,
) -> Result<(Drained, u32)> {
    let deadline = Instant::now() + patience;
    let mut reads = 0;
    loop {
        let d = drain(namesrv, topic, run, groups, queues).await?;
        reads += 1;
        if tally(sent, &d).lost.is_empty() || Instant::now() >= deadline {
            return Ok((d, reads));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The verdict of a scenario.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Acknowledged sends never read back.
    pub lost: Vec<u64>,
    /// Messages read more than once (extra copies counted).
    pub duplicates: u64,
    /// Failed or weak sends that were nevertheless stored.
    pub unacked_stored: u64,
}

/// Compares what was acknowledged with what was read.
pub fn tally(sent: &Sent, drained: &Drained) -> Tally {
    let mut t = Tally::default();
    for seq in &sent.acked {
        if !drained.seen.contains_key(seq) {
            t.lost.push(*seq);
        }
    }
    for (seq, n) in &drained.seen {
        if *n > 1 {
            t.duplicates += u64::from(*n - 1);
        }
        if !sent.acked.contains(seq) {
            t.unacked_stored += 1;
        }
    }
    t
}
