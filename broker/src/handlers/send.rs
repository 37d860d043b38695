//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and the reply sends
//! (324/325): the checks of spec §3.1 in order, then the store.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use remoting::body::topic::{TopicFilterType, perm};
use remoting::ext::FieldValue;
use remoting::header::send::{
    SendMessageRequestHeader, SendMessageResponseHeader, decode_send_request,
};
use remoting::message::properties::{MAX_PROPERTIES_LEN, validate_raw};
use remoting::message::{MessageRecord, Properties, decode_batch, keys, sysflag};
use remoting::{CommandHeader, Connection, RemotingCommand, ResponseCode};
use tracing::debug;

use crate::config::{BrokerConfig, BrokerRole};
use crate::handlers::Core;
use crate::metrics::BrokerMetrics;
use crate::names;
use crate::services::{ha, schedule, transaction};
use crate::state::long_polling::LongPolling;
use crate::state::stats::now_millis;
use crate::store_api::{PutOutcome, PutStatus};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::AtomicUsize;
use tokio::sync::{Semaphore, SemaphorePermit};

/// What a send touches (built per request in [`crate::processor`]).
pub struct Deps<'a> {
    /// The config, role, permission, store, tables and counters ([`Core`]).
    pub core: Core<'a>,
    /// Sends in flight; beyond `sendThreadPoolQueueCapacity` SYSTEM_BUSY.
    pub send_permits: &'a Semaphore,
    /// Turns at the store.
    pub send_turns: &'a Semaphore,
    /// Sends waiting for a turn now.
    pub send_waiting: &'a AtomicUsize,
    /// Replication, for the SYNC_MASTER wait (set once HA runs).
    pub ha: &'a OnceLock<Arc<ha::HaService>>,
    /// Parked pulls, woken by a stored message.
    pub long_polling: &'a LongPolling,
    /// Prometheus counters.
    pub metrics: &'a BrokerMetrics,
    /// STOREHOST stamped into records.
    pub store_host: SocketAddr,
}

crate::handlers::deps_over_core!(Deps);

fn reply(req: &RemotingCommand, code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    req.response_to(code, Some(remark.into()))
}

/// Handles every send code; the header's `batch` flag, not only the code, selects a batch.
pub async fn handle(ctx: &Deps<'_>, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    let header = match decode_send_request(&req) {
        Ok(h) => h,
        Err(e) => return reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string()),
    };
    // Busy is explicit: a bounded number of sends in flight, the rest told at once.
    let Ok(_permit) = ctx.send_permits.try_acquire() else {
        return reply(
            &req,
            ResponseCode::SYSTEM_BUSY,
            "[OVERLOAD]system busy, too many send requests in flight, try later",
        );
    };
    let turn = match take_turn(ctx, &req).await {
        Ok(t) => t,
        Err(busy) => return busy,
    };
    match store(ctx, conn, &req, &header, turn) {
        Ok((stored, outcome)) => settle(ctx, &req, stored, outcome).await,
        Err(resp) => resp,
    }
}

/// Answers a send that waits for nothing right away, with no future: on a broker that
/// flushes asynchronously and is no SYNC_MASTER, when a place in flight and a turn at the
/// store are free now. Any other send is given back untouched and goes through [`handle`].
/// Such a send had three boxed futures (the connection's, the processor's and the store's
/// put), one of them above what glibc's per-thread cache serves (BENCHMARKS.md, session 25).
pub fn answer_now(
    ctx: &Deps<'_>,
    conn: &Connection,
    req: RemotingCommand,
) -> Result<RemotingCommand, RemotingCommand> {
    if !waits_for_nothing(ctx) {
        return Err(req);
    }
    let Ok(_permit) = ctx.send_permits.try_acquire() else {
        return Err(req);
    };
    let Ok(turn) = ctx.send_turns.try_acquire() else {
        return Err(req);
    };
    let header = match decode_send_request(&req) {
        Ok(h) => h,
        Err(e) => return Ok(reply(&req, ResponseCode::SYSTEM_ERROR, e.to_string())),
    };
    let (stored, outcome) = match store(ctx, conn, &req, &header, turn) {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    let outcome = match ha::after_put_now(ctx.ha.get(), ctx.role, outcome, stored.wait) {
        ha::AfterPut::Done(outcome) => outcome,
        // Switched to SYNC_MASTER since the check above: stored, and no slave has it yet.
        ha::AfterPut::WaitForSlave { outcome, .. } => PutOutcome {
            status: PutStatus::SlaveNotAvailable,
            ..outcome
        },
    };
    Ok(answer(ctx, &req, stored, outcome))
}

/// Whether this broker's sends wait for nothing after their append: it flushes
/// asynchronously and is no SYNC_MASTER ([`answer_now`] answers those).
pub fn waits_for_nothing(ctx: &Deps<'_>) -> bool {
    !ctx.store.supports_flush_wait() && ctx.role.role() != BrokerRole::SyncMaster
}

/// Waits for a turn at the store, first come first served (Java: the send thread pool's
/// queue). A send that waited `waitTimeMillsInSendQueue` is answered SYSTEM_BUSY with Java's
/// `BrokerFastFailure` remark and never stored: its producer retries elsewhere instead of
/// timing out. With `brokerFastFailureEnable=false` it waits as long as it takes.
pub(crate) async fn take_turn<'a>(
    ctx: &'a Deps<'a>,
    req: &RemotingCommand,
) -> Result<SemaphorePermit<'a>, RemotingCommand> {
    if let Ok(p) = ctx.send_turns.try_acquire() {
        return Ok(p);
    }
    struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
    ctx.send_waiting.fetch_add(1, Ordering::AcqRel);
    let _waiting = Waiting(ctx.send_waiting);
    let started = Instant::now();
    let closed = || {
        reply(
            req,
            ResponseCode::SERVICE_NOT_AVAILABLE,
            "service not available now: broker shutting down",
        )
    };
    if !ctx.live().broker_fast_failure_enable {
        return ctx.send_turns.acquire().await.map_err(|_| closed());
    }
    let wait = Duration::from_millis(ctx.live().wait_time_mills_in_send_queue);
    match tokio::time::timeout(wait, ctx.send_turns.acquire()).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(_)) => Err(closed()),
        Err(_) => Err(reply(
            req,
            ResponseCode::SYSTEM_BUSY,
            format!(
                "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: {}ms, size of queue: {}",
                started.elapsed().as_millis(),
                ctx.send_waiting.load(Ordering::Acquire)
            ),
        )),
    }
}

/// A send appended to the store, its turn at the store given back: what is left is its
/// waits and its answer.
pub(crate) struct Stored {
    /// The `WAIT` property (of a batch's first message): the producer waits for the flush
    /// (SYNC_FLUSH) and a SYNC_MASTER's slave.
    wait: bool,
    /// A transaction's half message.
    half: bool,
    topic: FieldValue,
    /// The topic Java's statistics count the put under ([`put_stats_topic`]).
    ///
    /// [`put_stats_topic`]: crate::state::broker_stats::put_stats_topic
    stats_topic: FieldValue,
    queue_id: i32,
    count: u64,
    body_len: u64,
    started: Instant,
}

/// Checks a send (spec §3.1), builds its records and appends them during `turn`, which it
/// gives back before returning: the append never waits for the disk. A send refused on the
/// way gets its answer as the error. Under SYNC_FLUSH too the append runs on the worker: the
/// flush thread holds the log's tail only to hand over what it syncs, never during the fsync,
/// and moving each SYNC_FLUSH put off the worker (`block_in_place`) cost a thread hand-off
/// per message.
fn store(
    ctx: &Deps<'_>,
    conn: &Connection,
    req: &RemotingCommand,
    h: &SendMessageRequestHeader,
    turn: SemaphorePermit<'_>,
) -> Result<(Stored, PutOutcome), RemotingCommand> {
    let prepared = check_and_prepare(ctx, req, h)?;
    if h.is_batch() {
        store_batch(ctx, conn, req, h, prepared, turn)
    } else {
        store_one(ctx, conn, req, h, prepared, turn)
    }
}

/// The waits of a stored send, then its answer: under SYNC_FLUSH for the fsync that covers
/// it, outside any turn, so that every send appended meanwhile shares that fsync; on a
/// SYNC_MASTER for a slave (spec §7.4).
pub(crate) async fn settle(
    ctx: &Deps<'_>,
    req: &RemotingCommand,
    stored: Stored,
    mut outcome: PutOutcome,
) -> RemotingCommand {
    if stored.wait && ctx.store.supports_flush_wait() && outcome.status == PutStatus::Ok {
        outcome.status = ctx.store.wait_flushed(outcome.end_offset).await;
    }
    let outcome = ha::after_put(ctx.ha.get(), ctx.role, outcome, stored.wait).await;
    answer(ctx, req, stored, outcome)
}

fn answer(
    ctx: &Deps<'_>,
    req: &RemotingCommand,
    s: Stored,
    outcome: PutOutcome,
) -> RemotingCommand {
    if s.half && outcome.status == PutStatus::Ok {
        ctx.metrics.on_half_message();
    }
    let put = (s.topic.as_str(), s.stats_topic.as_str());
    finish(
        ctx, req, put, s.queue_id, outcome, s.count, s.body_len, s.started,
    )
}

/// The topic and queue a send goes to after the checks.
pub(crate) struct Prepared {
    /// Inline for names up to 24 bytes: copied into the record and the statistics without an
    /// allocation each.
    topic: FieldValue,
    pub(crate) queue_id: i32,
    multi_tag: bool,
    dlq: bool,
}

/// Steps 1–9 of spec §3.1.
pub(crate) fn check_and_prepare(
    ctx: &Deps<'_>,
    req: &RemotingCommand,
    h: &SendMessageRequestHeader,
) -> Result<Prepared, RemotingCommand> {
    // The names first, as for every other request (`names::check_header`).
    if let Err(e) = names::check_send_names(&h.topic, &h.producer_group) {
        return Err(reply(req, ResponseCode::SYSTEM_ERROR, e));
    }
    let c = ctx.live();
    if now_millis() < c.start_accept_send_request_time_stamp {
        return Err(reply(
            req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "broker unable to service, until {}",
                c.start_accept_send_request_time_stamp
            ),
        ));
    }
    if ctx.is_slave() {
        return Err(reply(
            req,
            ResponseCode::SERVICE_NOT_AVAILABLE,
            "broker is a slave and refuses sends",
        ));
    }
    if let Some(why) = ctx.write_refused() {
        // Fenced (docs/failover.md): a newer epoch exists or the lease ran out.
        return Err(reply(req, ResponseCode::SERVICE_NOT_AVAILABLE, why));
    }
    if !perm::is_writeable(ctx.permission()) {
        return Err(reply(
            req,
            ResponseCode::NO_PERMISSION,
            format!("the broker[{}] sending message is forbidden", c.broker_name),
        ));
    }
    if names::NOT_ALLOWED_SEND_TOPICS.contains(&h.topic.as_str()) {
        return Err(reply(
            req,
            ResponseCode::NO_PERMISSION,
            format!("Sending message to topic[{}] is forbidden.", h.topic),
        ));
    }
    let mut tc = ctx.topics.get(&h.topic);
    if tc.is_none() {
        let sys_flag = if h.is_unit_mode() {
            remoting::body::topic::sys_flag::UNIT
        } else {
            0
        };
        if names::check_topic(&h.default_topic).is_ok() {
            tc = ctx
                .topics
                .create_in_send(
                    &h.topic,
                    &h.default_topic,
                    h.default_topic_queue_nums,
                    sys_flag,
                )
                .map_err(|e| reply(req, ResponseCode::SYSTEM_ERROR, e.to_string()))?;
        }
        if tc.is_none() && h.topic.starts_with(names::RETRY_GROUP_TOPIC_PREFIX) {
            tc = Some(
                ctx.topics
                    .ensure(&h.topic, 1, perm::READ_WRITE)
                    .map_err(|e| reply(req, ResponseCode::SYSTEM_ERROR, e.to_string()))?,
            );
        }
    }
    let Some(tc) = tc else {
        return Err(reply(
            req,
            ResponseCode::TOPIC_NOT_EXIST,
            format!(
                "No route info of this topic, {}: topic[{}] not exist, apply first please!",
                h.topic, h.topic
            ),
        ));
    };
    if !perm::is_writeable(tc.perm) {
        return Err(reply(
            req,
            ResponseCode::NO_PERMISSION,
            format!("the topic[{}] sending message is forbidden", h.topic),
        ));
    }
    let queue_nums = tc.write_queue_nums.max(tc.read_queue_nums);
    if h.queue_id >= queue_nums {
        return Err(reply(
            req,
            ResponseCode::SYSTEM_ERROR,
            format!(
                "request queueId[{}] is illegal, topic {} writeQueueNums {} readQueueNums {}",
                h.queue_id, h.topic, tc.write_queue_nums, tc.read_queue_nums
            ),
        ));
    }
    let mut queue_id = h.queue_id;
    if queue_id < 0 {
        queue_id = if tc.write_queue_nums > 0 {
            rand::random_range(0..tc.write_queue_nums)
        } else {
            0
        };
    }
    let mut topic = h.topic.clone();
    let mut dlq = false;
    if let Some(group) = h.topic.strip_prefix(names::RETRY_GROUP_TOPIC_PREFIX) {
        let Ok(Some(g)) = ctx.groups.find_or_create(group) else {
            return Err(reply(
                req,
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {group}"),
            ));
        };
        let max = match h.max_reconsume_times {
            Some(m) if req.version >= 121 => m,
            _ => g.retry_max_times,
        };
        if h.reconsume_times() >= max {
            let dlq_topic = names::dlq_topic(group);
            ctx.topics
                .ensure(&dlq_topic, 1, perm::READ_WRITE)
                .map_err(|e| reply(req, ResponseCode::SYSTEM_ERROR, e.to_string()))?;
            topic = dlq_topic.into();
            queue_id = 0;
            dlq = true;
        }
    }
    Ok(Prepared {
        topic,
        queue_id,
        multi_tag: tc.topic_filter_type == TopicFilterType::MultiTag,
        dlq,
    })
}

/// A send's body (a batch's whole body) within `maxMessageSize`.
fn check_body_size(req: &RemotingCommand, c: &BrokerConfig) -> Result<(), RemotingCommand> {
    if req.body.len() > c.max_message_size as usize {
        return Err(reply(
            req,
            ResponseCode::MESSAGE_ILLEGAL,
            format!(
                "the message body size over max value, MAX: {}",
                c.max_message_size
            ),
        ));
    }
    Ok(())
}

/// Parses and checks the header's properties string.
fn parse_properties(
    req: &RemotingCommand,
    raw: Option<&str>,
) -> Result<Properties, RemotingCommand> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_PROPERTIES_LEN {
        return Err(reply(
            req,
            ResponseCode::MESSAGE_ILLEGAL,
            format!(
                "the message properties length {} exceeds {MAX_PROPERTIES_LEN}",
                raw.len()
            ),
        ));
    }
    if let Err(e) = validate_raw(raw) {
        return Err(reply(req, ResponseCode::MESSAGE_ILLEGAL, e.to_string()));
    }
    Ok(Properties::parse(raw))
}

fn base_record(
    ctx: &Deps<'_>,
    conn: &Connection,
    h: &SendMessageRequestHeader,
    p: &Prepared,
    body: Bytes,
    properties: Properties,
) -> MessageRecord {
    let mut sys_flag = h.sys_flag;
    if p.multi_tag {
        sys_flag |= sysflag::MULTI_TAGS_FLAG;
    }
    MessageRecord {
        queue_id: p.queue_id,
        flag: h.flag,
        sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: conn.peer(),
        store_host: ctx.store_host,
        reconsume_times: h.reconsume_times(),
        body,
        topic: p.topic.to_string(),
        properties,
        ..Default::default()
    }
}

/// Stores a single message (see [`store`]); [`settle`] does the rest. Also the reply sends'.
pub(crate) fn store_one(
    ctx: &Deps<'_>,
    conn: &Connection,
    req: &RemotingCommand,
    h: &SendMessageRequestHeader,
    p: Prepared,
    turn: SemaphorePermit<'_>,
) -> Result<(Stored, PutOutcome), RemotingCommand> {
    let c = ctx.live();
    check_body_size(req, &c)?;
    let mut props = parse_properties(req, h.properties.as_deref())?;
    props.insert(keys::CLUSTER, &c.broker_cluster_name);
    if p.dlq {
        props.remove(keys::DELAY);
    }
    // The level count comes from parsing the config text: only for messages that ask for one.
    let levels = if props.get(keys::DELAY).is_some() {
        c.delay_levels_millis().len()
    } else {
        0
    };
    if let Err(why) = schedule::check_delay_level(levels, &p.topic, &mut props) {
        return Err(reply(req, ResponseCode::MESSAGE_ILLEGAL, why));
    }
    let half = props
        .get(keys::TRAN_MSG)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if half && c.reject_transaction_message {
        return Err(reply(
            req,
            ResponseCode::NO_PERMISSION,
            format!(
                "the broker[{}] sending transaction message is forbidden",
                c.broker_name
            ),
        ));
    }
    // The store moves DELAY messages to SCHEDULE_TOPIC_XXXX and strips WAIT.
    let rec = base_record(ctx, conn, h, &p, req.body.clone(), props);
    let wait = ha::wants_wait(&rec.properties);
    let stats_topic = crate::state::broker_stats::put_stats_topic(
        &p.topic,
        half,
        rec.properties.get(keys::DELAY),
    )
    .into();
    let body_len = rec.body.len() as u64;
    let started = Instant::now();
    // Half message (spec §10.8): invisible until END_TRANSACTION commits it.
    let rec = if half {
        transaction::half_record(rec, &h.producer_group)
    } else {
        rec
    };
    let outcome = ctx.store.append(rec);
    drop(turn);
    let stored = Stored {
        wait,
        half,
        topic: p.topic,
        stats_topic,
        queue_id: p.queue_id,
        count: 1,
        body_len,
        started,
    };
    Ok((stored, outcome))
}

/// Stores a batch (see [`store`]): one append for all its messages.
fn store_batch(
    ctx: &Deps<'_>,
    conn: &Connection,
    req: &RemotingCommand,
    h: &SendMessageRequestHeader,
    p: Prepared,
    turn: SemaphorePermit<'_>,
) -> Result<(Stored, PutOutcome), RemotingCommand> {
    let c = ctx.live();
    check_body_size(req, &c)?;
    if sysflag::transaction_type(h.sys_flag) == sysflag::TRANSACTION_PREPARED_TYPE {
        return Err(reply(
            req,
            ResponseCode::MESSAGE_ILLEGAL,
            "batch message does not support transaction",
        ));
    }
    let items = match decode_batch(&req.body) {
        Ok(items) if !items.is_empty() => items,
        Ok(_) => return Err(reply(req, ResponseCode::MESSAGE_ILLEGAL, "empty batch")),
        Err(e) => return Err(reply(req, ResponseCode::MESSAGE_ILLEGAL, e.to_string())),
    };
    let batch_props = parse_properties(req, h.properties.as_deref())?;
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        if item
            .properties
            .get(keys::DELAY)
            .is_some_and(|d| d.trim() != "0" && !d.trim().is_empty())
        {
            return Err(reply(
                req,
                ResponseCode::MESSAGE_ILLEGAL,
                "batch message does not support delay level",
            ));
        }
        let mut props = item.properties;
        for (k, v) in batch_props.iter() {
            props.insert(keys::stored(k), v);
        }
        props.insert(keys::CLUSTER, &c.broker_cluster_name);
        let mut rec = base_record(ctx, conn, h, &p, item.body, props);
        rec.flag = item.flag;
        records.push(rec);
    }
    let count = records.len() as u64;
    let body_len: u64 = records.iter().map(|r| r.body.len() as u64).sum();
    let started = Instant::now();
    let wait = records
        .first()
        .is_none_or(|r| ha::wants_wait(&r.properties));
    let outcome = ctx.store.append_batch(records);
    drop(turn);
    let stored = Stored {
        wait,
        half: false,
        stats_topic: p.topic.clone(),
        topic: p.topic,
        queue_id: p.queue_id,
        count,
        body_len,
        started,
    };
    Ok((stored, outcome))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    ctx: &Deps<'_>,
    req: &RemotingCommand,
    // The message's topic, and the topic Java's statistics count it under.
    (topic, stats_topic): (&str, &str),
    queue_id: i32,
    outcome: PutOutcome,
    count: u64,
    bytes: u64,
    started: Instant,
) -> RemotingCommand {
    let code = match &outcome.status {
        PutStatus::Ok => ResponseCode::SUCCESS,
        PutStatus::FlushDiskTimeout => ResponseCode::FLUSH_DISK_TIMEOUT,
        PutStatus::FlushSlaveTimeout => ResponseCode::FLUSH_SLAVE_TIMEOUT,
        PutStatus::SlaveNotAvailable => ResponseCode::SLAVE_NOT_AVAILABLE,
        PutStatus::ServiceNotAvailable(why) => {
            return reply(
                req,
                ResponseCode::SERVICE_NOT_AVAILABLE,
                format!("service not available now: {why}"),
            );
        }
        PutStatus::MessageIllegal(why) => {
            return reply(req, ResponseCode::MESSAGE_ILLEGAL, why.clone());
        }
        PutStatus::OsPageCacheBusy => {
            return reply(
                req,
                ResponseCode::SYSTEM_BUSY,
                "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
            );
        }
        PutStatus::Error(why) => return reply(req, ResponseCode::SYSTEM_ERROR, why.clone()),
    };
    let took = started.elapsed();
    let elapsed = took.as_millis() as u64;
    ctx.stats
        .put_time_max_ms
        .fetch_max(elapsed, Ordering::Relaxed);
    ctx.stats.put_total.fetch_add(count, Ordering::Relaxed);
    // Java counts the bytes written to the commit log (records, not bodies).
    let wrote = outcome.wrote_bytes().unwrap_or(bytes);
    ctx.stats.put_bytes.fetch_add(wrote, Ordering::Relaxed);
    ctx.stats.put_latency.record(elapsed);
    (ctx.stats.detail).on_put(&ctx.config.broker_cluster_name, stats_topic, count, wrote);
    ctx.metrics.on_put(topic, count, bytes, took);
    // Wake parked pulls now; the store's arrival hook does too, this covers stores without one.
    ctx.long_polling.wake(topic, queue_id);
    debug!(
        topic,
        queue_id,
        queue_offset = outcome.queue_offset,
        count,
        "message stored"
    );
    let header = SendMessageResponseHeader {
        msg_id: outcome.msg_id,
        queue_id,
        queue_offset: outcome.queue_offset,
        transaction_id: None,
        batch_uniq_id: None,
        msg_region: Some(ctx.config.region_id.as_str().into()),
        trace_on: Some(ctx.config.trace_on),
    };
    let remark = (code != ResponseCode::SUCCESS).then(|| format!("{code}"));
    req.response_to(code, remark).with_ext(header.into_ext())
}
