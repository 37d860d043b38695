//! The charts' data: every sample interval the sampler records the cluster's put and get TPS and
//! each consumer group's lag; samples older than the window (an hour) are dropped. Nothing is
//! written to disk: a restarted console starts with empty charts, as Java's dashboard does.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

/// One point in time.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Epoch milliseconds.
    pub t: i64,
    /// Messages put per second, summed over masters.
    pub in_tps: f64,
    /// Messages delivered per second, summed over every broker.
    pub out_tps: f64,
    /// Total lag (broker offset − consumer offset) per consumer group.
    pub lag: BTreeMap<String, i64>,
    /// Why the sample is partial (a broker or the name server did not answer), if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The samples of the last `window`.
#[derive(Debug)]
pub struct History {
    window: Duration,
    samples: VecDeque<Sample>,
}

impl History {
    /// An empty history keeping `window` worth of samples.
    pub fn new(window: Duration) -> Self {
        History {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample and drops those older than the window before it.
    pub fn push(&mut self, s: Sample) {
        let oldest = s.t - self.window.as_millis() as i64;
        self.samples.push_back(s);
        while self.samples.front().is_some_and(|f| f.t < oldest) {
            self.samples.pop_front();
        }
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.iter().cloned().collect()
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64) -> Sample {
        Sample {
            t,
            in_tps: t as f64,
            out_tps: 0.0,
            lag: BTreeMap::new(),
            error: None,
        }
    }

    #[test]
    fn keeps_only_the_window() {
        let mut h = History::new(Duration::from_secs(3600));
        for i in 0..500 {
            h.push(at(i * 10_000));
        }
        let s = h.samples();
        let last = 499 * 10_000;
        assert_eq!(s.last().map(|x| x.t), Some(last));
        assert!(s.iter().all(|x| x.t >= last - 3_600_000));
        assert_eq!(s.len(), 361);
    }
}
