//! Broker counters for GET_BROKER_RUNTIME_INFO: messages put and got, with TPS over the last
//! 10 s, 60 s and 600 s and the day boundaries `mqadmin clusterList` subtracts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Counters and the samples TPS is computed from.
pub struct BrokerStats {
    /// Messages stored.
    pub put_total: AtomicU64,
    /// Bytes stored.
    pub put_bytes: AtomicU64,
    /// Pull requests that found messages.
    pub get_found: AtomicU64,
    /// Pull requests that found nothing.
    pub get_miss: AtomicU64,
    /// Messages returned by pulls.
    pub get_transferred: AtomicU64,
    /// Longest single append, ms.
    pub put_time_max_ms: AtomicU64,
    samples: Mutex<VecDeque<Sample>>,
    day: Mutex<DayMarks>,
    /// When the broker started.
    pub boot: Instant,
    /// Boot time, ms since the epoch.
    pub boot_millis: i64,
    /// Per-topic / per-group figures for VIEW_BROKER_STATS_DATA.
    /// Shared with the schedule service, which counts its deliveries as Java's does.
    pub detail: std::sync::Arc<crate::state::broker_stats::BrokerStatsManager>,
    /// Append latency histogram (`putLatency99`, `putMessageDistributeTime`).
    pub put_latency: crate::state::put_latency::PutLatency,
}

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    put: u64,
    found: u64,
    miss: u64,
    transferred: u64,
}

#[derive(Default)]
struct DayMarks {
    day: i64,
    put_today_morning: u64,
    put_yesterday_morning: u64,
    get_today_morning: u64,
    get_yesterday_morning: u64,
}

impl Default for BrokerStats {
    fn default() -> Self {
        BrokerStats {
            put_total: AtomicU64::new(0),
            put_bytes: AtomicU64::new(0),
            get_found: AtomicU64::new(0),
            get_miss: AtomicU64::new(0),
            get_transferred: AtomicU64::new(0),
            put_time_max_ms: AtomicU64::new(0),
            samples: Mutex::new(VecDeque::new()),
            day: Mutex::new(DayMarks {
                day: now_millis() / 86_400_000,
                ..Default::default()
            }),
            boot: Instant::now(),
            boot_millis: now_millis(),
            detail: Default::default(),
            put_latency: Default::default(),
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Per-second rates over three windows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tps {
    /// Put TPS over 10 s, 60 s, 600 s.
    pub put: [f64; 3],
    /// Pulls that found messages, per second.
    pub found: [f64; 3],
    /// Pulls that found nothing, per second.
    pub miss: [f64; 3],
    /// Messages returned by pulls, per second.
    pub transferred: [f64; 3],
}

impl BrokerStats {
    /// Takes a sample; call once a second.
    pub fn sample(&self) {
        let s = Sample {
            at: Instant::now(),
            put: self.put_total.load(Ordering::Relaxed),
            found: self.get_found.load(Ordering::Relaxed),
            miss: self.get_miss.load(Ordering::Relaxed),
            transferred: self.get_transferred.load(Ordering::Relaxed),
        };
        let mut q = self.samples.lock();
        self.detail.tick();
        self.put_latency.maybe_rotate();
        q.push_back(s);
        while q.len() > 601 {
            q.pop_front();
        }
        drop(q);
        let today = now_millis() / 86_400_000;
        let mut d = self.day.lock();
        if d.day != today {
            d.day = today;
            d.put_yesterday_morning = d.put_today_morning;
            d.get_yesterday_morning = d.get_today_morning;
            d.put_today_morning = s.put;
            d.get_today_morning = s.transferred;
        }
    }

    /// TPS over the last 10, 60 and 600 seconds.
    pub fn tps(&self) -> Tps {
        let q = self.samples.lock();
        let mut out = Tps::default();
        let Some(last) = q.back().copied() else {
            return out;
        };
        for (i, secs) in [10u64, 60, 600].into_iter().enumerate() {
            let first = q
                .iter()
                .find(|s| last.at.duration_since(s.at).as_secs() <= secs)
                .copied()
                .unwrap_or(last);
            let dt = last.at.duration_since(first.at).as_secs_f64();
            if dt <= 0.0 {
                continue;
            }
            out.put[i] = (last.put - first.put) as f64 / dt;
            out.found[i] = (last.found - first.found) as f64 / dt;
            out.miss[i] = (last.miss - first.miss) as f64 / dt;
            out.transferred[i] = (last.transferred - first.transferred) as f64 / dt;
        }
        out
    }

    /// (put yesterday morning, put today morning, get yesterday morning, get today morning).
    pub fn day_marks(&self) -> (u64, u64, u64, u64) {
        let d = self.day.lock();
        (
            d.put_yesterday_morning,
            d.put_today_morning,
            d.get_yesterday_morning,
            d.get_today_morning,
        )
    }
}

/// Java's TPS text: three rates separated by spaces, two decimals.
pub fn tps_text(v: [f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", v[0], v[1], v[2])
}
