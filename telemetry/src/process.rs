//! The standard `process_*` metrics of the Prometheus client libraries, read from `/proc/self`
//! at scrape time (nothing is sampled in between). Elsewhere than Linux the family is empty.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use crate::encode;
use crate::{Kind, MetricDef};

/// The process metrics every binary serves.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: "process_resident_memory_bytes",
        kind: Kind::Gauge,
        help: "Resident set size (RSS) of the process, bytes.",
        labels: &[],
    },
    MetricDef {
        name: "process_virtual_memory_bytes",
        kind: Kind::Gauge,
        help: "Virtual memory size of the process, bytes.",
        labels: &[],
    },
    MetricDef {
        name: "process_cpu_seconds",
        kind: Kind::Counter,
        help: "User and system CPU time the process used, seconds.",
        labels: &[],
    },
    MetricDef {
        name: "process_open_fds",
        kind: Kind::Gauge,
        help: "Open file descriptors (sockets and files).",
        labels: &[],
    },
    MetricDef {
        name: "process_start_time_seconds",
        kind: Kind::Gauge,
        help: "When the process started, seconds since the Unix epoch.",
        labels: &[],
    },
];

/// Reads `/proc/self` on every scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    start: f64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        ProcessCollector { start }
    }
}

/// `(resident, virtual)` bytes from `/proc/self/statm`.
fn memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut it = text.split_whitespace();
    let size: u64 = it.next()?.parse().ok()?;
    let resident: u64 = it.next()?.parse().ok()?;
    let page = rustix::param::page_size() as u64;
    Some((resident * page, size * page))
}

/// User + system CPU seconds from `/proc/self/stat` (fields 14 and 15, in clock ticks).
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    Some((utime + stime) as f64 / ticks as f64)
}

fn open_fds() -> Option<i64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as i64)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> encode::Result {
        let [rss, vsz, cpu, fds, start] = METRICS else {
            return Ok(());
        };
        if let Some((r, v)) = memory() {
            encode::gauge(&mut enc, rss, r as i64)?;
            encode::gauge(&mut enc, vsz, v as i64)?;
        }
        if let Some(c) = cpu_seconds() {
            let m = enc.encode_descriptor(cpu.name, cpu.help, None, cpu.kind.metric_type())?;
            ConstCounter::new(c).encode(m)?;
        }
        if let Some(n) = open_fds() {
            encode::gauge(&mut enc, fds, n)?;
        }
        encode::gauge_f64(&mut enc, start, self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_parses() {
        let (rss, vsz) = memory().expect("statm");
        assert!(rss > 0 && vsz >= rss);
        assert!(cpu_seconds().expect("stat") >= 0.0);
        assert!(open_fds().expect("fd") > 0);
    }
}
