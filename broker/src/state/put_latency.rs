//! Store-append latency as Java's `StoreStatsService` keeps it, for GET_BROKER_RUNTIME_INFO's
//! `putMessageDistributeTime`, `putLatency99` and `putLatency999`.
//!
//! Two histograms of the last complete minute (both swapped once a minute, as Java's
//! `printTps` does): thirteen coarse ranges printed as `[<=0ms]:n [0~10ms]:n ...`, and fine
//! buckets (1 ms wide to 20 ms, 2 ms to 50, 5 ms to 100, 10 ms to 200, 50 ms to 500, 100 ms to
//! 1 s, 1 s to 10 s, then one open bucket) that percentiles are interpolated from.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const DESC: [&str; 13] = [
    "[<=0ms]",
    "[0~10ms]",
    "[10~50ms]",
    "[50~100ms]",
    "[100~200ms]",
    "[200~500ms]",
    "[500ms~1s]",
    "[1~2s]",
    "[2~3s]",
    "[3~4s]",
    "[4~5s]",
    "[5~10s]",
    "[10s~]",
];

/// Upper bounds (ms, inclusive) of the fine buckets; the last is open.
fn bucket_bounds() -> Vec<u64> {
    let mut out = Vec::new();
    let mut at = 0;
    for (step, n) in [
        (1, 20),
        (2, 15),
        (5, 10),
        (10, 10),
        (50, 6),
        (100, 5),
        (1000, 9),
    ] {
        for _ in 0..n {
            at += step;
            out.push(at);
        }
    }
    out.push(u64::MAX);
    out
}

fn coarse_index(ms: u64) -> usize {
    match ms {
        0 => 0,
        1..=9 => 1,
        10..=49 => 2,
        50..=99 => 3,
        100..=199 => 4,
        200..=499 => 5,
        500..=999 => 6,
        1000..=1999 => 7,
        2000..=2999 => 8,
        3000..=3999 => 9,
        4000..=4999 => 10,
        5000..=9999 => 11,
        _ => 12,
    }
}

struct Minute {
    coarse: Vec<AtomicU64>,
    fine: Vec<AtomicU64>,
}

impl Minute {
    fn new(fine: usize) -> Minute {
        Minute {
            coarse: (0..DESC.len()).map(|_| AtomicU64::new(0)).collect(),
            fine: (0..fine).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    fn counts(v: &[AtomicU64]) -> Vec<u64> {
        v.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

/// The current minute being counted and the last complete one being reported.
pub struct PutLatency {
    bounds: Vec<u64>,
    current: Mutex<std::sync::Arc<Minute>>,
    last: Mutex<(Vec<u64>, Vec<u64>)>,
    rotated: Mutex<Instant>,
}

impl Default for PutLatency {
    fn default() -> Self {
        let bounds = bucket_bounds();
        PutLatency {
            current: Mutex::new(std::sync::Arc::new(Minute::new(bounds.len()))),
            last: Mutex::new((vec![0; DESC.len()], vec![0; bounds.len()])),
            bounds,
            rotated: Mutex::new(Instant::now()),
        }
    }
}

impl PutLatency {
    /// Counts one append that took `ms` milliseconds.
    pub fn record(&self, ms: u64) {
        let m = self.current.lock().clone();
        m.coarse[coarse_index(ms)].fetch_add(1, Ordering::Relaxed);
        let i = self.bounds.partition_point(|b| *b < ms);
        if let Some(c) = m.fine.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Makes the current minute the reported one when a minute has passed; call about once a
    /// second.
    pub fn maybe_rotate(&self) {
        let mut at = self.rotated.lock();
        if at.elapsed() < Duration::from_secs(60) {
            return;
        }
        *at = Instant::now();
        drop(at);
        self.rotate();
    }

    /// Makes the current minute the reported one now.
    pub fn rotate(&self) {
        let old = std::mem::replace(
            &mut *self.current.lock(),
            std::sync::Arc::new(Minute::new(self.bounds.len())),
        );
        *self.last.lock() = (Minute::counts(&old.coarse), Minute::counts(&old.fine));
    }

    /// Java's `putMessageDistributeTime` text for the last complete minute.
    pub fn distribution_text(&self) -> String {
        let last = self.last.lock();
        let mut out = String::new();
        for (d, n) in DESC.iter().zip(&last.0) {
            out.push_str(&format!("{d}:{n} "));
        }
        out
    }

    /// The `px` percentile (0.99, 0.999) of the last complete minute in ms, interpolated within
    /// its bucket as Java's `findPutMessageEntireTimePX` does.
    pub fn percentile(&self, px: f64) -> f64 {
        let last = self.last.lock();
        let counts = &last.1;
        let total: u64 = counts.iter().sum();
        let index = (total as f64 * px) as u64;
        let mut passed = 0u64;
        for (i, &count) in counts.iter().enumerate() {
            if index <= passed + count {
                let rel = (index - passed) as f64;
                let upper = self.bounds[i] as f64;
                return if i == 0 {
                    if count == 0 {
                        0.0
                    } else {
                        upper * rel / count as f64
                    }
                } else {
                    let lower = self.bounds[i - 1] as f64;
                    lower
                        + if count == 0 {
                            0.0
                        } else {
                            (upper - lower) * rel / count as f64
                        }
                };
            }
            passed += count;
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buckets_are_javas() {
        let b = bucket_bounds();
        assert_eq!(b.len(), 76);
        assert_eq!(b[19], 20);
        assert_eq!(b[34], 50);
        assert_eq!(b[74], 10_000);
    }

    #[test]
    fn percentiles_come_from_the_last_complete_minute() {
        let l = PutLatency::default();
        for _ in 0..990 {
            l.record(1);
        }
        for _ in 0..10 {
            l.record(30);
        }
        assert_eq!(l.percentile(0.99), 0.0);
        l.rotate();
        // 990 of 1000 at <= 1 ms: the 99th percentile is the top of the first bucket.
        assert_eq!(l.percentile(0.99), 1.0);
        let p999 = l.percentile(0.999);
        assert!(p999 > 28.0 && p999 <= 30.0, "{p999}");
        assert!(
            l.distribution_text()
                .starts_with("[<=0ms]:0 [0~10ms]:990 [10~50ms]:10 ")
        );
    }
}
