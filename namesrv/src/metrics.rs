//! Prometheus metrics of the name server (`metricsExporterType=PROM`; listed in [`METRICS`] and
//! the generated `docs/metrics.md`): brokers and topics registered, requests by kind and
//! response code (registrations and route lookups per second are their rates), brokers expired.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use remoting::{RequestCode, ResponseCode};
use telemetry::encode::{self, counter_series};
use telemetry::{Kind, MetricDef};

use crate::route::RouteInfoManager;

/// Live broker addresses.
pub const BROKERS: MetricDef = MetricDef {
    name: "rocketmq_namesrv_brokers",
    kind: Kind::Gauge,
    help: "Live broker addresses (masters and slaves) registered now.",
    labels: &[],
};
/// Topics with a route.
pub const TOPICS: MetricDef = MetricDef {
    name: "rocketmq_namesrv_topics",
    kind: Kind::Gauge,
    help: "Topics with a route (registered by at least one broker).",
    labels: &[],
};
/// Requests by kind and response code.
pub const REQUESTS: MetricDef = MetricDef {
    name: "rocketmq_namesrv_requests",
    kind: Kind::Counter,
    help: "Requests answered, by kind (register_broker, unregister_broker, query_data_version, get_route, other) and response code name; rate() of register_broker is registrations per second, of get_route route lookups per second (TOPIC_NOT_EXIST: no route).",
    labels: &["request", "code"],
};
/// Brokers expired.
pub const EXPIRED: MetricDef = MetricDef {
    name: "rocketmq_namesrv_brokers_expired",
    kind: Kind::Counter,
    help: "Brokers dropped because they did not register within brokerChannelExpiredTime (closed connections are not counted).",
    labels: &[],
};

/// Every name-server metric (besides `process_*`).
pub const METRICS: &[MetricDef] = &[BROKERS, TOPICS, REQUESTS, EXPIRED];

const KINDS: [&str; 5] = [
    "register_broker",
    "unregister_broker",
    "query_data_version",
    "get_route",
    "other",
];
const CODES: usize = 256;

fn kind_of(code: RequestCode) -> usize {
    match code {
        RequestCode::REGISTER_BROKER => 0,
        RequestCode::UNREGISTER_BROKER => 1,
        RequestCode::QUERY_DATA_VERSION => 2,
        RequestCode::GET_ROUTEINFO_BY_TOPIC => 3,
        _ => 4,
    }
}

/// The name server's counters (always kept: a few atomic adds per request).
pub struct NamesrvMetrics {
    requests: Box<[AtomicU64]>,
    expired: AtomicU64,
}

impl fmt::Debug for NamesrvMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamesrvMetrics")
            .field("expired", &self.expired)
            .finish_non_exhaustive()
    }
}

impl Default for NamesrvMetrics {
    fn default() -> Self {
        NamesrvMetrics {
            requests: (0..KINDS.len() * (CODES + 1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            expired: AtomicU64::new(0),
        }
    }
}

impl NamesrvMetrics {
    /// A request with `request` code was answered with `response` code.
    pub fn on_response(&self, request: RequestCode, response: i32) {
        let c = usize::try_from(response)
            .ok()
            .filter(|c| *c < CODES)
            .unwrap_or(CODES);
        if let Some(slot) = self.requests.get(kind_of(request) * (CODES + 1) + c) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `n` brokers expired.
    pub fn on_expired(&self, n: usize) {
        self.expired.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Reads the route tables and counters on every scrape.
pub struct NamesrvCollector {
    routes: Arc<RouteInfoManager>,
    metrics: Arc<NamesrvMetrics>,
}

impl fmt::Debug for NamesrvCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NamesrvCollector")
    }
}

impl Collector for NamesrvCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> encode::Result {
        let enc = &mut enc;
        encode::gauge(enc, &BROKERS, self.routes.live_broker_count() as i64)?;
        let topics = self.routes.all_topics().topic_list.len();
        encode::gauge(enc, &TOPICS, topics as i64)?;
        encode::family(enc, &REQUESTS, |m| {
            for (i, slot) in self.metrics.requests.iter().enumerate() {
                let v = slot.load(Ordering::Relaxed);
                if v == 0 {
                    continue;
                }
                let (kind, code) = (KINDS[i / (CODES + 1)], i % (CODES + 1));
                let name = if code == CODES {
                    "other".to_string()
                } else {
                    let rc = ResponseCode(code as i32);
                    rc.name().map_or_else(|| code.to_string(), str::to_string)
                };
                counter_series(m, &[("request", kind), ("code", name.as_str())], v)?;
            }
            Ok(())
        })?;
        encode::counter(enc, &EXPIRED, self.metrics.expired.load(Ordering::Relaxed))
    }
}

/// The registry the endpoint serves: the name server's collector and the process metrics.
pub fn registry(routes: Arc<RouteInfoManager>, metrics: Arc<NamesrvMetrics>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(NamesrvCollector { routes, metrics }));
    r.register_collector(Box::new(telemetry::process::ProcessCollector::default()));
    r
}
