//! Per-topic and per-group statistics with Java's minute, hour and day windows, which
//! VIEW_BROKER_STATS_DATA (315, `crate::handlers::stats_data`) answers from and `mqadmin
//! statsAll` and `exportMetrics` read.
//!
//! Java's `BrokerStatsManager` keeps one `StatsItem` per (statistic, key): a running sum, a
//! count of increments, and three lists of snapshots — every 10 s (7 kept: the last minute),
//! every 10 min (7 kept: the last hour) and every hour (25 kept: the last day). A window's
//! figures compare its first and last snapshot: `sum` = value difference, `tps` = sum per
//! second over the time between them, `avgpt` = sum per increment. An item's lists start with a
//! zero snapshot one period before the item was created, as Java's do, so the first sample
//! already shows what arrived since. Keys follow Java: `topic` for TOPIC_PUT_*, `topic@group`
//! for GROUP_GET_* and SNDBCK_PUT_NUMS, the cluster name for BROKER_PUT_NUMS / BROKER_GET_NUMS.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::state::stats::now_millis;

/// Messages stored per topic (key: topic).
pub const TOPIC_PUT_NUMS: &str = "TOPIC_PUT_NUMS";
/// Bytes stored per topic (key: topic).
pub const TOPIC_PUT_SIZE: &str = "TOPIC_PUT_SIZE";
/// Messages pulled per topic and group (key: `topic@group`).
pub const GROUP_GET_NUMS: &str = "GROUP_GET_NUMS";
/// Bytes pulled per topic and group (key: `topic@group`).
pub const GROUP_GET_SIZE: &str = "GROUP_GET_SIZE";
/// Messages sent back for retry (key: `topic@group`, the topic the message was consumed from).
pub const SNDBCK_PUT_NUMS: &str = "SNDBCK_PUT_NUMS";
/// Messages stored by the broker (key: cluster name).
pub const BROKER_PUT_NUMS: &str = "BROKER_PUT_NUMS";
/// Messages pulled from the broker (key: cluster name).
pub const BROKER_GET_NUMS: &str = "BROKER_GET_NUMS";

/// Java's group name for the schedule service's reads (`MixAll.SCHEDULE_CONSUMER_GROUP`).
const SCHEDULE_CONSUMER_GROUP: &str = "SCHEDULE_CONSUMER";
const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";

/// Snapshot periods and how many snapshots each window keeps (Java `StatsItem`).
const MINUTE: (Duration, usize) = (Duration::from_secs(10), 7);
const HOUR: (Duration, usize) = (Duration::from_secs(600), 7);
const DAY: (Duration, usize) = (Duration::from_secs(3600), 25);

#[derive(Debug, Clone, Copy)]
struct Snap {
    at_ms: i64,
    times: u64,
    value: u64,
}

/// One window's figures (Java `StatsSnapshot` / `BrokerStatsItem`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct WindowStats {
    /// Average value per increment (e.g. bytes per put).
    pub avgpt: f64,
    /// Value added during the window.
    pub sum: u64,
    /// Value per second over the window.
    pub tps: f64,
}

/// The VIEW_BROKER_STATS_DATA body (Java `BrokerStatsData`; fastjson orders keys by name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatsData {
    /// Last 24 hours.
    pub stats_day: WindowStats,
    /// Last hour.
    pub stats_hour: WindowStats,
    /// Last minute.
    pub stats_minute: WindowStats,
}

struct Window {
    period: Duration,
    keep: usize,
    snaps: VecDeque<Snap>,
    next: Instant,
}

impl Window {
    fn new((period, keep): (Duration, usize), now: Instant) -> Window {
        let at = now_millis();
        let mut snaps = VecDeque::with_capacity(keep + 1);
        snaps.push_back(Snap {
            at_ms: at - period.as_millis() as i64,
            times: 0,
            value: 0,
        });
        Window {
            period,
            keep,
            snaps,
            next: now,
        }
    }

    fn sample(&mut self, now: Instant, times: u64, value: u64) {
        if now < self.next {
            return;
        }
        self.next = now + self.period;
        self.snaps.push_back(Snap {
            at_ms: now_millis(),
            times,
            value,
        });
        while self.snaps.len() > self.keep {
            self.snaps.pop_front();
        }
    }

    fn stats(&self) -> WindowStats {
        let (Some(first), Some(last)) = (self.snaps.front(), self.snaps.back()) else {
            return WindowStats::default();
        };
        let sum = last.value.saturating_sub(first.value);
        let dt = last.at_ms - first.at_ms;
        let times = last.times.saturating_sub(first.times);
        WindowStats {
            sum,
            tps: if dt > 0 {
                sum as f64 * 1000.0 / dt as f64
            } else {
                0.0
            },
            avgpt: if times > 0 {
                sum as f64 / times as f64
            } else {
                0.0
            },
        }
    }
}

/// One statistic for one key.
pub struct StatsItem {
    value: AtomicU64,
    times: AtomicU64,
    windows: Mutex<[Window; 3]>,
}

impl StatsItem {
    fn new() -> StatsItem {
        let now = Instant::now();
        StatsItem {
            value: AtomicU64::new(0),
            times: AtomicU64::new(0),
            windows: Mutex::new([
                Window::new(MINUTE, now),
                Window::new(HOUR, now),
                Window::new(DAY, now),
            ]),
        }
    }

    fn add(&self, value: u64, times: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
        self.times.fetch_add(times, Ordering::Relaxed);
    }

    fn sample(&self, now: Instant) {
        let (t, v) = (
            self.times.load(Ordering::Relaxed),
            self.value.load(Ordering::Relaxed),
        );
        for w in self.windows.lock().iter_mut() {
            w.sample(now, t, v);
        }
    }

    /// Everything counted since the item was made: the sum of the values and the number of
    /// increments (for `TOPIC_PUT_NUMS`: messages stored and the sends that stored them).
    pub fn totals(&self) -> (u64, u64) {
        (
            self.value.load(Ordering::Relaxed),
            self.times.load(Ordering::Relaxed),
        )
    }

    /// The three windows' figures.
    pub fn data(&self) -> BrokerStatsData {
        let w = self.windows.lock();
        BrokerStatsData {
            stats_minute: w[0].stats(),
            stats_hour: w[1].stats(),
            stats_day: w[2].stats(),
        }
    }
}

/// Every statistic item, created on first use: statistic name → key → item.
///
/// Every send and pull counts here, so the common case (the item exists) takes a shared read
/// lock, allocates nothing and counts under it; the key is copied only when an item is
/// created. Hashed with foldhash (randomly seeded per map): a send makes three lookups here,
/// and with SipHash they cost more than the counting.
#[derive(Default)]
pub struct BrokerStatsManager {
    items: RwLock<HashMap<&'static str, ItemsByKey, FastHash>>,
}

type FastHash = foldhash::fast::RandomState;

/// One statistic's items by key (topic, `topic@group`, cluster).
type ItemsByKey = HashMap<String, Arc<StatsItem>, FastHash>;

impl BrokerStatsManager {
    fn add(&self, name: &'static str, key: &str, value: u64, times: u64) {
        if let Some(item) = self.items.read().get(name).and_then(|keys| keys.get(key)) {
            item.add(value, times);
            return;
        }
        let item = self
            .items
            .write()
            .entry(name)
            .or_default()
            .entry(key.to_string())
            .or_insert_with(|| {
                let item = Arc::new(StatsItem::new());
                // The creation sample, as Java's timers run at once.
                item.sample(Instant::now());
                item
            })
            .clone();
        item.add(value, times);
    }

    /// A stored send: `msgs` messages (one increment, as Java counts a batch), `bytes` written.
    pub fn on_put(&self, cluster: &str, topic: &str, msgs: u64, bytes: u64) {
        self.add(TOPIC_PUT_NUMS, topic, msgs, 1);
        self.add(TOPIC_PUT_SIZE, topic, bytes, 1);
        self.add(BROKER_PUT_NUMS, cluster, msgs, 0);
    }

    /// A pull that returned `msgs` messages of `bytes` bytes.
    pub fn on_get(&self, cluster: &str, topic: &str, group: &str, msgs: u64, bytes: u64) {
        let key = format!("{topic}@{group}");
        self.add(GROUP_GET_NUMS, &key, msgs, 1);
        self.add(GROUP_GET_SIZE, &key, bytes, 1);
        self.add(BROKER_GET_NUMS, cluster, msgs, 0);
    }

    /// A delayed message re-put into its real `topic` at its time (Java's
    /// `ScheduleMessageService`: a get by `SCHEDULE_CONSUMER` from the schedule topic and a put
    /// into the real topic).
    pub fn on_schedule_delivery(&self, cluster: &str, topic: &str, wrote: u64) {
        let key = format!("{SCHEDULE_TOPIC}@{SCHEDULE_CONSUMER_GROUP}");
        self.add(GROUP_GET_NUMS, &key, 1, 1);
        self.add(GROUP_GET_SIZE, &key, wrote, 1);
        self.on_put(cluster, topic, 1, wrote);
    }

    /// A message of `topic` sent back for retry by `group`.
    pub fn on_send_back(&self, group: &str, topic: &str) {
        self.add(SNDBCK_PUT_NUMS, &format!("{topic}@{group}"), 1, 1);
    }

    /// Forgets a deleted topic's statistics (Java `onTopicDeleted`).
    pub fn on_topic_deleted(&self, topic: &str) {
        let prefix = format!("{topic}@");
        for (name, keys) in self.items.write().iter_mut() {
            match *name {
                TOPIC_PUT_NUMS | TOPIC_PUT_SIZE => keys.retain(|key, _| key != topic),
                GROUP_GET_NUMS | GROUP_GET_SIZE | SNDBCK_PUT_NUMS => {
                    keys.retain(|key, _| !key.starts_with(&prefix))
                }
                _ => {}
            }
        }
    }

    /// Forgets a deleted group's statistics (Java `onGroupDeleted`).
    pub fn on_group_deleted(&self, group: &str) {
        let suffix = format!("@{group}");
        for (name, keys) in self.items.write().iter_mut() {
            if matches!(*name, GROUP_GET_NUMS | GROUP_GET_SIZE | SNDBCK_PUT_NUMS) {
                keys.retain(|key, _| !key.ends_with(&suffix));
            }
        }
    }

    /// The item for `name` / `key`, if anything was counted for it.
    pub fn item(&self, name: &str, key: &str) -> Option<Arc<StatsItem>> {
        self.items.read().get(name)?.get(key).cloned()
    }

    /// Takes the snapshots that are due; call about once a second.
    pub fn tick(&self) {
        let now = Instant::now();
        let items: Vec<Arc<StatsItem>> = self
            .items
            .read()
            .values()
            .flat_map(|keys| keys.values().cloned())
            .collect();
        for item in items {
            item.sample(now);
        }
    }
}

/// The topic Java's statistics count a send under: the commit log stores a delayed message in
/// `SCHEDULE_TOPIC_XXXX` and a transaction half message in `RMQ_SYS_TRANS_HALF_TOPIC`, and Java
/// counts the stored topic (`exportMetrics` reads those two for its schedule and transaction
/// rates).
pub fn put_stats_topic<'a>(topic: &'a str, half: bool, delay: Option<&str>) -> &'a str {
    if half {
        return TRANS_HALF_TOPIC;
    }
    if delay.is_some_and(|d| d.trim().parse::<i32>().is_ok_and(|l| l > 0)) {
        return SCHEDULE_TOPIC;
    }
    topic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_compares_its_first_and_last_snapshot() {
        let now = Instant::now();
        let mut w = Window::new(MINUTE, now);
        w.sample(now, 0, 0);
        // Not due yet: ignored.
        w.sample(now + Duration::from_secs(1), 3, 300);
        assert_eq!(w.snaps.len(), 2);
        w.snaps.push_back(Snap {
            at_ms: w.snaps[1].at_ms + 10_000,
            times: 4,
            value: 400,
        });
        let s = w.stats();
        assert_eq!(s.sum, 400);
        // 400 over the 20 s since the zero snapshot one period before creation.
        assert!((s.tps - 20.0).abs() < 1.0, "{s:?}");
        assert_eq!(s.avgpt, 100.0);
    }

    #[test]
    fn delayed_and_half_messages_count_under_the_stored_topic() {
        assert_eq!(put_stats_topic("T", false, None), "T");
        assert_eq!(put_stats_topic("T", false, Some("0")), "T");
        assert_eq!(
            put_stats_topic("T", false, Some("3")),
            "SCHEDULE_TOPIC_XXXX"
        );
        assert_eq!(
            put_stats_topic("T", true, Some("3")),
            "RMQ_SYS_TRANS_HALF_TOPIC"
        );
    }

    #[test]
    fn items_are_keyed_as_java_keys_them() {
        let m = BrokerStatsManager::default();
        m.on_put("C", "T", 2, 100);
        m.on_get("C", "T", "G", 2, 100);
        m.on_send_back("G", "T");
        assert!(m.item(TOPIC_PUT_NUMS, "T").is_some());
        assert!(m.item(GROUP_GET_NUMS, "T@G").is_some());
        assert!(m.item(BROKER_PUT_NUMS, "C").is_some());
        assert!(m.item(SNDBCK_PUT_NUMS, "T@G").is_some());
        assert!(m.item(TOPIC_PUT_NUMS, "U").is_none());
        m.on_group_deleted("G");
        assert!(m.item(GROUP_GET_NUMS, "T@G").is_none());
        assert!(m.item(SNDBCK_PUT_NUMS, "T@G").is_none());
        assert!(m.item(TOPIC_PUT_NUMS, "T").is_some());
        m.on_topic_deleted("T");
        assert!(m.item(TOPIC_PUT_NUMS, "T").is_none());
        assert!(m.item(BROKER_PUT_NUMS, "C").is_some());
    }
}
