//! Delayed messages (spec §10.5, Java `ScheduleMessageService`): the store rewrites a message
//! with a `DELAY` level to `SCHEDULE_TOPIC_XXXX`, queue `level - 1`; this service re-puts each
//! entry to its `REAL_TOPIC` / `REAL_QID` once `store time + level delay` has passed.
//!
//! Progress (the next schedule-queue offset of every level) lives in `config/delayOffset.json`
//! and is written atomically after every delivered batch, before the next one starts. A clean
//! shutdown stops between batches, so nothing is repeated. After a crash the file can lag the
//! deliveries of the one batch in flight: until a level meets its first entry that was not
//! delivered, each due entry is first looked up in the real topic through the index (same
//! `UNIQ_KEY`, born time, reconsume count and queue, stored after the schedule entry), and one
//! found there is skipped rather than delivered twice. Only a master delivers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use remoting::message::{MessageRecord, Properties, decode, keys};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::BrokerConfig;
use crate::error::Result;
use crate::names;
use crate::state::fencing::RoleState;
use crate::state::long_polling::LongPolling;
use crate::state::persist;
use crate::state::stats::now_millis;
use crate::store_api::{MessageStoreApi, PutStatus};

/// What the delivery loop reaches of the broker.
pub struct Handle {
    /// The broker's configuration (its role: only a master delivers).
    pub config: Arc<BrokerConfig>,
    /// The store the schedule queues are read from and deliveries written to.
    pub store: Arc<dyn MessageStoreApi>,
    /// STOREHOST stamped into delivered messages.
    pub store_host: SocketAddr,
    /// Parked pulls, woken when a delivery lands in their queue.
    pub long_polling: Arc<LongPolling>,
    /// Per-topic statistics: a delivery counts as Java's does (VIEW_BROKER_STATS_DATA).
    pub stats: Arc<crate::state::broker_stats::BrokerStatsManager>,
    /// The role now (a failover changes it): only an unfenced master delivers.
    pub role: Arc<RoleState>,
}

impl Handle {
    /// True for a slave (the role now, which a failover may have changed).
    pub fn is_slave(&self) -> bool {
        self.role.is_slave()
    }

    /// Whether this broker may write now: `None` on an unfenced master, else why not (a
    /// slave, or a master fenced by a newer epoch or an expired lease: docs/failover.md).
    pub fn write_refused(&self) -> Option<String> {
        self.role.write_refused()
    }
}

/// The schedule topic.
pub const SCHEDULE_TOPIC: &str = keys::SCHEDULE_TOPIC;
/// Entries delivered per level before progress is persisted.
const BATCH: i32 = 32;
/// Pause between scans when nothing is due (Java `DELAY_FOR_A_WHILE`).
const TICK: Duration = Duration::from_millis(100);
/// Pause of a level after a failed delivery.
const AFTER_ERROR: Duration = Duration::from_secs(1);

/// `delayOffset.json` (Java `DelayOffsetSerializeWrapper`): level (1-based) → next offset.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DelayOffsets {
    /// Level → next schedule-queue offset to deliver.
    pub offset_table: BTreeMap<i32, i64>,
}

impl DelayOffsets {
    /// Loads the file (or its backup); Java writes integer keys unquoted, so both spellings
    /// are accepted. Missing: empty table.
    pub fn load(path: &Path) -> Result<DelayOffsets> {
        let parsed = persist::read_with_backup(path, |b| {
            serde_json::from_slice::<DelayOffsets>(b)
                .ok()
                .or_else(|| remoting::fastjson::from_slice::<DelayOffsets>(b).ok())
        })?;
        Ok(parsed.unwrap_or_default())
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        persist::write_atomic(path, &text)
    }
}

/// Checks the `DELAY` property of a send (spec §10.5): `0` or absent means no delay; a level
/// beyond the configured table or below 0 is refused (nothing is stored), except on retry
/// topics, where Java clients compute `3 + reconsumeTimes` themselves and the broker clamps.
/// Returns the refusal text.
pub fn check_delay_level(levels: usize, topic: &str, props: &mut Properties) -> Result<(), String> {
    let Some(raw) = props.get(keys::DELAY) else {
        return Ok(());
    };
    let raw = raw.trim().to_string();
    let level: i64 = raw
        .parse()
        .map_err(|_| format!("delay level {raw:?} is not a number"))?;
    let max = levels as i64;
    if level == 0 {
        props.remove(keys::DELAY);
        return Ok(());
    }
    if (1..=max).contains(&level) {
        return Ok(());
    }
    if topic.starts_with(names::RETRY_GROUP_TOPIC_PREFIX) {
        props.insert(keys::DELAY, level.clamp(1, max.max(1)).to_string());
        return Ok(());
    }
    Err(format!(
        "delay level {level} out of range: this broker has levels 1..={max} (messageDelayLevel)"
    ))
}

/// The delivery service's shared state: progress per level.
pub struct ScheduleService {
    path: PathBuf,
    levels_ms: Vec<u64>,
    offsets: Mutex<DelayOffsets>,
    /// Levels whose next entries may have been delivered before a crash (see the module doc).
    recovering: Mutex<BTreeSet<i32>>,
}

impl ScheduleService {
    /// Loads `config/delayOffset.json` under the broker's store root.
    pub fn load(config: &BrokerConfig) -> Result<ScheduleService> {
        let path = PathBuf::from(&config.store_path_root_dir)
            .join("config")
            .join("delayOffset.json");
        let offsets = DelayOffsets::load(&path)?;
        Ok(ScheduleService {
            path,
            levels_ms: config.delay_levels_millis(),
            offsets: Mutex::new(offsets),
            recovering: Mutex::new((1..=config.delay_levels_millis().len() as i32).collect()),
        })
    }

    /// A slave promoted to master (docs/failover.md): takes the progress its slave sync wrote
    /// to `delayOffset.json` (the old master's), re-checking every level as after a crash.
    pub fn reload_after_promotion(&self) -> Result<()> {
        let loaded = DelayOffsets::load(&self.path)?;
        *self.offsets.lock() = loaded;
        *self.recovering.lock() = (1..=self.levels_ms.len() as i32).collect();
        Ok(())
    }

    /// A copy of the progress table.
    pub fn offsets(&self) -> DelayOffsets {
        self.offsets.lock().clone()
    }

    /// Delivers due messages until `shutdown`; does nothing while the broker is a slave.
    pub async fn run(self: Arc<Self>, ctx: Handle, shutdown: CancellationToken) {
        info!(levels = self.levels_ms.len(), file = %self.path.display(), "schedule service started");
        let mut paused_until: BTreeMap<i32, tokio::time::Instant> = BTreeMap::new();
        // The recovery lookups need the index to cover the whole commit log.
        for _ in 0..100 {
            if ctx.store.stats().dispatch_behind_bytes <= 0 || shutdown.is_cancelled() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let mut busy = false;
            // A fenced master delivers nothing either (docs/failover.md).
            if ctx.write_refused().is_none() {
                for level in 1..=self.levels_ms.len() as i32 {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    if paused_until
                        .get(&level)
                        .is_some_and(|t| *t > tokio::time::Instant::now())
                    {
                        continue;
                    }
                    match self.deliver_level(&ctx, level).await {
                        Ok(n) => busy |= n == BATCH as usize,
                        Err(()) => {
                            paused_until.insert(level, tokio::time::Instant::now() + AFTER_ERROR);
                        }
                    }
                }
            }
            if !busy {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(TICK) => {}
                }
            }
        }
        if let Err(e) = self.offsets.lock().save(&self.path) {
            warn!(error = %e, "saving delayOffset.json at shutdown failed");
        }
        info!("schedule service stopped");
    }

    /// Delivers the due entries of one level (at most one batch); the count delivered.
    /// `Err` when a delivery failed (the level pauses and retries the same entry).
    async fn deliver_level(&self, ctx: &Handle, level: i32) -> std::result::Result<usize, ()> {
        let queue_id = level - 1;
        let delay = self
            .levels_ms
            .get(queue_id as usize)
            .copied()
            .unwrap_or(1000) as i64;
        let stored = self
            .offsets
            .lock()
            .offset_table
            .get(&level)
            .copied()
            .unwrap_or(0);
        let min = ctx.store.min_offset(SCHEDULE_TOPIC, queue_id);
        let max = ctx.store.max_offset(SCHEDULE_TOPIC, queue_id);
        let mut next = stored.max(min);
        if next >= max {
            if next != stored {
                self.commit(level, next);
            }
            return Ok(0);
        }
        let got = ctx.store.get(SCHEDULE_TOPIC, queue_id, next, BATCH, None);
        let now = now_millis();
        let mut delivered = 0;
        let mut failed = false;
        for raw in &got.records {
            let rec = match decode(raw) {
                Ok(r) => r,
                Err(e) => {
                    warn!(level, offset = next, error = %e, "undecodable schedule entry skipped");
                    next += 1;
                    continue;
                }
            };
            if rec.store_timestamp.saturating_add(delay) > now {
                break;
            }
            let offset = rec.queue_offset;
            match real_message(&rec, ctx.store_host) {
                Some(msg)
                    if self.recovering.lock().contains(&level)
                        && delivered_before(
                            ctx,
                            &rec,
                            &msg,
                            rec.store_timestamp.saturating_add(delay),
                        ) =>
                {
                    info!(level, offset, topic = %msg.topic, "delayed message already delivered before a crash; skipped");
                }
                Some(msg) => {
                    self.recovering.lock().remove(&level);
                    let (topic, qid) = (msg.topic.clone(), msg.queue_id);
                    let out = ctx.store.put_delayed_delivery(msg).await;
                    match out.status {
                        PutStatus::Ok
                        | PutStatus::FlushDiskTimeout
                        | PutStatus::FlushSlaveTimeout
                        | PutStatus::SlaveNotAvailable => {
                            debug!(
                                level,
                                offset,
                                topic,
                                queue_id = qid,
                                "delayed message delivered"
                            );
                            ctx.long_polling.wake(&topic, qid);
                            let (cluster, wrote) = (
                                &ctx.config.broker_cluster_name,
                                out.wrote_bytes().unwrap_or(0),
                            );
                            ctx.stats.on_schedule_delivery(cluster, &topic, wrote);
                            delivered += 1;
                        }
                        other => {
                            warn!(level, offset, topic, status = ?other, "delivering a delayed message failed; will retry");
                            failed = true;
                            break;
                        }
                    }
                }
                None => {
                    warn!(
                        level,
                        offset, "schedule entry without a valid REAL_TOPIC/REAL_QID dropped"
                    );
                }
            }
            next = offset + 1;
        }
        if got.records.is_empty() && got.next_begin_offset > next {
            // Entries gone (retention) or unreadable: move past them as Java does.
            next = got.next_begin_offset;
        }
        if next != stored {
            self.commit(level, next);
        }
        if failed { Err(()) } else { Ok(delivered) }
    }

    /// Records progress and writes the file before the next batch (durability: the offset must
    /// reach disk before more deliveries, so a crash repeats at most one batch).
    fn commit(&self, level: i32, next: i64) {
        let snapshot = {
            let mut o = self.offsets.lock();
            o.offset_table.insert(level, next);
            o.clone()
        };
        if let Err(e) = snapshot.save(&self.path) {
            warn!(error = %e, level, next, "persisting delayOffset.json failed");
        }
    }
}

/// Loads the progress and starts the delivery loop (the broker calls it at start-up): the
/// service (for the runtime info and the metrics) and its task.
pub fn start(
    ctx: Handle,
    shutdown: &CancellationToken,
) -> Result<(Arc<ScheduleService>, tokio::task::JoinHandle<()>)> {
    let svc = Arc::new(ScheduleService::load(&ctx.config)?);
    let task = tokio::spawn(svc.clone().run(ctx, shutdown.clone()));
    Ok((svc, task))
}

/// Records of the real queue scanned when the index does not know a delivery.
const RECOVERY_SCAN: i64 = 1024;

/// True when `msg` (the delivery of schedule entry `entry`, due at `due`) is already in its
/// real topic. The index is asked first; since index entries written just before a crash may
/// be missing, the real queue is also scanned from the first record stored at the due time.
fn delivered_before(ctx: &Handle, entry: &MessageRecord, msg: &MessageRecord, due: i64) -> bool {
    let Some(uniq) = msg.properties.get(keys::UNIQ_KEY) else {
        return false;
    };
    let same = |r: &MessageRecord| {
        r.topic == msg.topic
            && r.queue_id == msg.queue_id
            && r.born_timestamp == msg.born_timestamp
            && r.reconsume_times == msg.reconsume_times
            && r.store_timestamp >= entry.store_timestamp
            && r.properties.get(keys::UNIQ_KEY) == Some(uniq)
    };
    let found = ctx
        .store
        .query_by_key(&msg.topic, uniq, 64, entry.store_timestamp, i64::MAX);
    if found
        .records
        .iter()
        .filter_map(|raw| decode(raw).ok())
        .any(|r| same(&r))
    {
        return true;
    }
    let mut off = ctx.store.offset_by_time(&msg.topic, msg.queue_id, due);
    let end = off.saturating_add(RECOVERY_SCAN);
    while off < end {
        let got = ctx.store.get(&msg.topic, msg.queue_id, off, 32, None);
        if got.records.is_empty() {
            return false;
        }
        for raw in &got.records {
            if decode(raw).is_ok_and(|r| same(&r)) {
                return true;
            }
        }
        off = got.next_begin_offset.max(off + 1);
    }
    false
}

/// The message to re-put for a due schedule entry: real topic and queue restored. `DELAY`,
/// `REAL_TOPIC` and `REAL_QID` stay, as on Java's delivered messages (`messageTimeup` stores the
/// properties string it read); the re-put goes through
/// [`put_delayed_delivery`](crate::store_api::MessageStoreApi::put_delayed_delivery), which does
/// not delay it again. `None` when the entry names no valid destination.
pub fn real_message(
    rec: &MessageRecord,
    store_host: std::net::SocketAddr,
) -> Option<MessageRecord> {
    let topic = rec.properties.get(keys::REAL_TOPIC)?.to_string();
    if names::check_topic(&topic).is_err() {
        return None;
    }
    let queue_id: i32 = rec.properties.get(keys::REAL_QID)?.trim().parse().ok()?;
    if queue_id < 0 {
        return None;
    }
    let props = rec.properties.clone();
    Some(MessageRecord {
        queue_id,
        flag: rec.flag,
        sys_flag: rec.sys_flag,
        born_timestamp: rec.born_timestamp,
        born_host: rec.born_host,
        store_host,
        reconsume_times: rec.reconsume_times,
        prepared_transaction_offset: rec.prepared_transaction_offset,
        body: rec.body.clone(),
        topic,
        properties: props,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_level_checks() {
        let mut p = Properties::new();
        assert!(check_delay_level(4, "T", &mut p).is_ok());
        p.insert(keys::DELAY, "4");
        assert!(check_delay_level(4, "T", &mut p).is_ok());
        p.insert(keys::DELAY, "5");
        assert!(
            check_delay_level(4, "T", &mut p)
                .unwrap_err()
                .contains("out of range")
        );
        p.insert(keys::DELAY, "-1");
        assert!(check_delay_level(4, "T", &mut p).is_err());
        p.insert(keys::DELAY, "x");
        assert!(check_delay_level(4, "T", &mut p).is_err());
        p.insert(keys::DELAY, "9");
        check_delay_level(4, "%RETRY%G", &mut p).unwrap();
        assert_eq!(p.get(keys::DELAY), Some("4"));
        p.insert(keys::DELAY, "0");
        check_delay_level(4, "T", &mut p).unwrap();
        assert_eq!(p.get(keys::DELAY), None);
    }

    #[test]
    fn offsets_file_round_trip_and_java_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("delayOffset.json");
        assert_eq!(DelayOffsets::load(&p).unwrap(), DelayOffsets::default());
        let mut o = DelayOffsets::default();
        o.offset_table.insert(1, 7);
        o.offset_table.insert(3, 2);
        o.save(&p).unwrap();
        assert_eq!(DelayOffsets::load(&p).unwrap(), o);
        std::fs::write(&p, "{\"offsetTable\":{1:7,3:2}}").unwrap();
        assert_eq!(DelayOffsets::load(&p).unwrap(), o);
    }

    #[test]
    fn real_message_restores_destination() {
        let mut rec = MessageRecord {
            topic: SCHEDULE_TOPIC.into(),
            queue_id: 2,
            reconsume_times: 3,
            ..Default::default()
        };
        assert!(real_message(&rec, rec.store_host).is_none());
        rec.properties.insert(keys::REAL_TOPIC, "Orders");
        rec.properties.insert(keys::REAL_QID, "1");
        rec.properties.insert(keys::DELAY, "3");
        rec.properties.insert(keys::TAGS, "a");
        let m = real_message(&rec, rec.store_host).unwrap();
        assert_eq!(
            (m.topic.as_str(), m.queue_id, m.reconsume_times),
            ("Orders", 1, 3)
        );
        assert_eq!(m.properties.get(keys::DELAY), Some("3"));
        assert_eq!(m.properties.get(keys::REAL_TOPIC), Some("Orders"));
        assert_eq!(m.properties.get(keys::REAL_QID), Some("1"));
        assert_eq!(m.properties.get(keys::TAGS), Some("a"));
        rec.properties.insert(keys::REAL_TOPIC, "../etc");
        assert!(real_message(&rec, rec.store_host).is_none());
    }
}
