//! The operator's Prometheus metrics (listed in [`METRICS`] and the generated `docs/metrics.md`):
//! reconciles by result and their duration, each cluster's conditions and roll phase, broker
//! admin calls by outcome, and in local mode the supervisor's process restarts.
//!
//! `operator run` serves them on `--http` next to `/healthz` and `/readyz`; `operator local`
//! serves them with `--metrics-port` (docs/local-mode.md), which also turns on the metrics
//! endpoint of every process it starts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use telemetry::encode::{self, counter_series, gauge_series};
use telemetry::{AtomicHistogram, Kind, MetricDef};

use crate::admin::BrokerAdmin;
use crate::crd::RocketMQClusterStatus;
use crate::error::Result;

const fn def(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [&'static str],
) -> MetricDef {
    MetricDef {
        name,
        kind,
        help,
        labels,
    }
}

/// Reconciles run.
pub const RECONCILES: MetricDef = def(
    "rocketmq_operator_reconciles",
    Kind::Counter,
    "Reconciles run (all results).",
    &[],
);
/// Reconciles by result.
pub const RECONCILE_RESULTS: MetricDef = def(
    "rocketmq_operator_reconcile_results",
    Kind::Counter,
    "Reconciles by result: success (including a refused spec, which is reported on the resource) or error (retried with a backoff).",
    &["result"],
);
/// Reconcile failures.
pub const FAILURES: MetricDef = def(
    "rocketmq_operator_reconcile_failures",
    Kind::Counter,
    "Reconciles that returned an error (each is retried with an exponential backoff).",
    &[],
);
/// Refused specs.
pub const REFUSED: MetricDef = def(
    "rocketmq_operator_refused_specs",
    Kind::Counter,
    "Reconciles that found the spec invalid (Degraded with the refusal's reason; nothing applied).",
    &[],
);
/// Reconcile duration.
pub const RECONCILE_DURATION: MetricDef = def(
    "rocketmq_operator_reconcile_duration_seconds",
    Kind::Histogram,
    "Duration of one reconcile (API reads and writes, broker admin calls), seconds.",
    &[],
);
/// Cluster conditions.
pub const CLUSTER_CONDITION: MetricDef = def(
    "rocketmq_operator_cluster_condition",
    Kind::Gauge,
    "1 for each condition of each RocketMQCluster as last reconciled (type Ready, Progressing, Degraded; status True/False; its reason).",
    &["namespace", "cluster", "type", "status", "reason"],
);
/// Roll phase.
pub const ROLL_PHASE: MetricDef = def(
    "rocketmq_operator_cluster_roll_phase",
    Kind::Gauge,
    "1 for the roll phase of each cluster: the Progressing reason while Progressing is True (RollingSlaves, RollingMaster, …), else Idle.",
    &["namespace", "cluster", "phase"],
);
/// Admin calls.
pub const ADMIN_CALLS: MetricDef = def(
    "rocketmq_operator_admin_calls",
    Kind::Counter,
    "Broker admin calls the roll makes (slaves_caught_up, copy_topics, is_drained, master_registered), by outcome (ok, error).",
    &["call", "outcome"],
);
/// Local mode: restarts.
pub const LOCAL_RESTARTS: MetricDef = def(
    "rocketmq_operator_local_process_restarts",
    Kind::Counter,
    "operator local only: restarts of each supervised process after it exited.",
    &["process"],
);

/// Every operator metric (besides `process_*`).
pub const METRICS: &[MetricDef] = &[
    RECONCILES,
    RECONCILE_RESULTS,
    FAILURES,
    REFUSED,
    RECONCILE_DURATION,
    CLUSTER_CONDITION,
    ROLL_PHASE,
    ADMIN_CALLS,
    LOCAL_RESTARTS,
];

const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// One cluster's conditions `(type, status, reason)` and roll phase.
#[derive(Debug, Clone, Default, PartialEq)]
struct ClusterView {
    conditions: Vec<(String, String, String)>,
    phase: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The operator's counters; the field names of the first three are the original `/metrics`.
pub struct Metrics {
    /// Reconciles run.
    pub reconciles: AtomicU64,
    /// Reconciles that returned an error.
    pub failures: AtomicU64,
    /// Specs refused by validation.
    pub refused: AtomicU64,
    succeeded: AtomicU64,
    errored: AtomicU64,
    duration: AtomicHistogram,
    clusters: Mutex<BTreeMap<(String, String), ClusterView>>,
    admin: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    restarts: Mutex<BTreeMap<String, u64>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("reconciles", &self.reconciles)
            .field("failures", &self.failures)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            errored: AtomicU64::new(0),
            duration: AtomicHistogram::new(DURATION_BUCKETS, 1e-6),
            clusters: Mutex::new(BTreeMap::new()),
            admin: Mutex::new(BTreeMap::new()),
            restarts: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    /// A reconcile ended after `took`, successfully or not.
    pub fn observe_reconcile(&self, took: Duration, ok: bool) {
        self.duration.observe(took.as_micros() as u64);
        let c = if ok { &self.succeeded } else { &self.errored };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the conditions of cluster `namespace/name` (its status as reconciled); `None`
    /// forgets the cluster (deleted).
    pub fn observe_cluster(
        &self,
        namespace: &str,
        name: &str,
        status: Option<&RocketMQClusterStatus>,
    ) {
        let key = (namespace.to_string(), name.to_string());
        let Some(status) = status else {
            lock(&self.clusters).remove(&key);
            return;
        };
        let conditions: Vec<_> = status
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect();
        let phase = conditions
            .iter()
            .find(|(t, s, _)| t == crate::status::PROGRESSING && s == "True")
            .map_or_else(|| "Idle".to_string(), |(_, _, r)| r.clone());
        lock(&self.clusters).insert(key, ClusterView { conditions, phase });
    }

    /// A broker admin call ended.
    pub fn on_admin_call(&self, call: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        *lock(&self.admin).entry((call, outcome)).or_default() += 1;
    }

    /// Local mode: `process` was started again after it exited.
    pub fn on_restart(&self, process: &str) {
        *lock(&self.restarts).entry(process.to_string()).or_default() += 1;
    }

    /// Local mode: restarts of `process` so far.
    pub fn restarts(&self, process: &str) -> u64 {
        lock(&self.restarts).get(process).copied().unwrap_or(0)
    }
}

/// Serves a [`Metrics`] on every scrape.
#[derive(Debug)]
pub struct OperatorCollector {
    metrics: Arc<Metrics>,
}

impl Collector for OperatorCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> encode::Result {
        let m = &self.metrics;
        let enc = &mut enc;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        encode::counter(enc, &RECONCILES, load(&m.reconciles))?;
        encode::family(enc, &RECONCILE_RESULTS, |f| {
            counter_series(f, &[("result", "success")], load(&m.succeeded))?;
            counter_series(f, &[("result", "error")], load(&m.errored))
        })?;
        encode::counter(enc, &FAILURES, load(&m.failures))?;
        encode::counter(enc, &REFUSED, load(&m.refused))?;
        m.duration.encode(enc, &RECONCILE_DURATION)?;
        let clusters = lock(&m.clusters).clone();
        encode::family(enc, &CLUSTER_CONDITION, |f| {
            for ((ns, name), v) in &clusters {
                for (t, s, r) in &v.conditions {
                    let labels = [
                        ("namespace", ns.as_str()),
                        ("cluster", name.as_str()),
                        ("type", t.as_str()),
                        ("status", s.as_str()),
                        ("reason", r.as_str()),
                    ];
                    gauge_series(f, &labels, 1)?;
                }
            }
            Ok(())
        })?;
        encode::family(enc, &ROLL_PHASE, |f| {
            for ((ns, name), v) in &clusters {
                let labels = [
                    ("namespace", ns.as_str()),
                    ("cluster", name.as_str()),
                    ("phase", v.phase.as_str()),
                ];
                gauge_series(f, &labels, 1)?;
            }
            Ok(())
        })?;
        let admin = lock(&m.admin).clone();
        encode::family(enc, &ADMIN_CALLS, |f| {
            for ((call, outcome), n) in &admin {
                counter_series(f, &[("call", *call), ("outcome", *outcome)], *n)?;
            }
            Ok(())
        })?;
        let restarts = lock(&m.restarts).clone();
        encode::family(enc, &LOCAL_RESTARTS, |f| {
            for (p, n) in &restarts {
                counter_series(f, &[("process", p.as_str())], *n)?;
            }
            Ok(())
        })
    }
}

/// The registry an operator endpoint serves: `metrics` and the process metrics.
pub fn registry(metrics: Arc<Metrics>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(OperatorCollector { metrics }));
    r.register_collector(Box::new(telemetry::process::ProcessCollector::default()));
    r
}

/// The metrics of `operator local` (one supervisor per process).
pub fn local() -> &'static Arc<Metrics> {
    static LOCAL: OnceLock<Arc<Metrics>> = OnceLock::new();
    LOCAL.get_or_init(Default::default)
}

/// A [`BrokerAdmin`] that counts the calls of another by outcome.
pub struct MeteredAdmin {
    inner: Arc<dyn BrokerAdmin>,
    metrics: Arc<Metrics>,
}

impl MeteredAdmin {
    /// Counts `inner`'s calls into `metrics`.
    pub fn new(inner: Arc<dyn BrokerAdmin>, metrics: Arc<Metrics>) -> Self {
        MeteredAdmin { inner, metrics }
    }

    fn count<'a, T: Send + 'a>(
        &'a self,
        call: &'static str,
        fut: BoxFuture<'a, Result<T>>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let r = fut.await;
            self.metrics.on_admin_call(call, r.is_ok());
            r
        })
    }
}

impl BrokerAdmin for MeteredAdmin {
    fn slaves_caught_up<'a>(
        &'a self,
        master: &'a str,
        slaves: &'a [String],
    ) -> BoxFuture<'a, Result<bool>> {
        self.count(
            "slaves_caught_up",
            self.inner.slaves_caught_up(master, slaves),
        )
    }

    fn copy_topics<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        skip: &'a [String],
    ) -> BoxFuture<'a, Result<usize>> {
        self.count("copy_topics", self.inner.copy_topics(from, to, skip))
    }

    fn is_drained<'a>(&'a self, master: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.count("is_drained", self.inner.is_drained(master))
    }

    fn master_registered<'a>(
        &'a self,
        namesrv: &'a str,
        cluster: &'a str,
        broker_name: &'a str,
        master_addr: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool>> {
        self.count(
            "master_registered",
            self.inner
                .master_registered(namesrv, cluster, broker_name, master_addr),
        )
    }
}

/// Local mode with `--metrics-port BASE`: the supervisor serves on `BASE`, and the processes
/// (in start order) on `BASE+1`, `BASE+2`…, on 127.0.0.1. Rewrites each process's config to
/// turn its exporter on and returns the ports with who binds them.
pub fn enable_local(
    local: &mut crate::local::LocalPlan,
    base: u16,
) -> std::result::Result<Vec<(u16, String)>, String> {
    let mut ports = vec![(base, "operator local (metrics)".to_string())];
    for (i, p) in local.processes.iter_mut().enumerate() {
        let port = u16::try_from(i + 1)
            .ok()
            .and_then(|o| base.checked_add(o))
            .ok_or_else(|| format!("--metrics-port {base} leaves no port for {}", p.name))?;
        let keys = [
            ("metricsExporterType", "PROM".to_string()),
            ("metricsPromExporterHost", "127.0.0.1".to_string()),
            ("metricsPromExporterPort", port.to_string()),
        ];
        if p.binary == "broker" {
            let (mut c, _) = ::broker::BrokerConfig::from_properties_text(&p.config.1)
                .map_err(|e| format!("{}: {e}", p.name))?;
            for (k, v) in &keys {
                c.set(k, v).map_err(|e| format!("{}: {e}", p.name))?;
            }
            p.config.1 = c.to_properties();
        } else {
            for (k, v) in &keys {
                p.config.1.push_str(&format!("{k}={v}\n"));
            }
        }
        ports.push((port, format!("{} (metrics)", p.name)));
    }
    Ok(ports)
}

/// The metrics port of a broker pod: `metricsPromExporterPort` from `spec.broker.config`, else
/// [`crate::names::METRICS_PORT`]; `None` when `spec.broker.config` sets
/// `metricsExporterType=DISABLE` (then no port is declared, so no monitor scrapes a closed one).
pub fn broker_pod_port(plan: &crate::plan::ClusterPlan) -> Option<u16> {
    let mut c = ::broker::BrokerConfig::default();
    for (k, v) in &plan.extra_config {
        // Validation already refused values that do not parse.
        let _ = c.set(k, v);
    }
    apply_pod_defaults(&mut c, plan);
    (c.metrics_exporter_type == ::broker::MetricsExporterType::Prom)
        .then_some(c.metrics_prom_exporter_port)
}

/// Turns the broker's exporter on in pods on [`crate::names::METRICS_PORT`], unless
/// `spec.broker.config` sets either key itself (`c` already holds that config).
pub fn apply_pod_defaults(c: &mut ::broker::BrokerConfig, plan: &crate::plan::ClusterPlan) {
    if !plan.extra_config.contains_key("metricsExporterType") {
        c.metrics_exporter_type = ::broker::MetricsExporterType::Prom;
    }
    if !plan.extra_config.contains_key("metricsPromExporterPort") {
        c.metrics_prom_exporter_port = crate::names::METRICS_PORT;
    }
}

/// The broker.conf of a pod: [`crate::plan::ClusterPlan::broker_conf`] with the exporter on.
pub fn pod_broker_conf(
    plan: &crate::plan::ClusterPlan,
    g: &crate::plan::GroupPlan,
    m: &crate::plan::MemberPlan,
    ep: &crate::plan::Endpoints,
) -> Result<String> {
    let mut c = plan.broker_config(g, m, ep)?;
    apply_pod_defaults(&mut c, plan);
    for (k, v) in crate::build::security::broker_conf_entries(plan) {
        c.set(k, &v)
            .map_err(|source| crate::error::Error::BrokerConfig {
                broker: crate::names::broker_pod(&plan.name, g.index, m.ordinal),
                source,
            })?;
    }
    Ok(c.to_properties())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn cond(t: &str, s: &str, r: &str) -> Condition {
        Condition {
            type_: t.into(),
            status: s.into(),
            reason: r.into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        }
    }

    fn scrape(m: &Arc<Metrics>) -> String {
        telemetry::Endpoint::new(registry(m.clone()))
            .scrape()
            .unwrap()
    }

    #[test]
    fn reconciles_conditions_and_roll_phase_are_served() {
        let m = Arc::new(Metrics::default());
        m.reconciles.fetch_add(2, Ordering::Relaxed);
        m.observe_reconcile(Duration::from_millis(20), true);
        m.observe_reconcile(Duration::from_millis(30), false);
        let status = RocketMQClusterStatus {
            conditions: vec![
                cond("Ready", "False", "Rolling"),
                cond("Progressing", "True", "RollingSlaves"),
                cond("Degraded", "False", "AsExpected"),
            ],
            ..Default::default()
        };
        m.observe_cluster("ns", "c1", Some(&status));
        m.on_admin_call("slaves_caught_up", true);
        m.on_admin_call("slaves_caught_up", false);
        let t = scrape(&m);
        let v = |s: &str| telemetry::scrape::value(&t, s).unwrap_or_else(|| panic!("{s}\n{t}"));
        assert_eq!(v("rocketmq_operator_reconciles_total"), 2.0);
        assert_eq!(
            v("rocketmq_operator_reconcile_results_total{result=\"error\"}"),
            1.0
        );
        assert_eq!(v("rocketmq_operator_reconcile_duration_seconds_count"), 2.0);
        assert_eq!(
            v(
                "rocketmq_operator_cluster_roll_phase{namespace=\"ns\",cluster=\"c1\",phase=\"RollingSlaves\"}"
            ),
            1.0
        );
        assert_eq!(
            v(
                "rocketmq_operator_cluster_condition{namespace=\"ns\",cluster=\"c1\",type=\"Ready\",status=\"False\",reason=\"Rolling\"}"
            ),
            1.0
        );
        assert_eq!(
            v("rocketmq_operator_admin_calls_total{call=\"slaves_caught_up\",outcome=\"error\"}"),
            1.0
        );
        match telemetry::scrape::lint(&t) {
            telemetry::scrape::Lint::Refused(e) => panic!("{e}\n{t}"),
            telemetry::scrape::Lint::Skipped(why) => eprintln!("SKIPPED lint: {why}"),
            telemetry::scrape::Lint::Ok(n) => assert_eq!(n, METRICS.len() + 5),
        }
        // Done rolling, then deleted: the phase goes Idle, then the cluster's series go.
        let done = RocketMQClusterStatus {
            conditions: vec![cond("Progressing", "False", "Idle")],
            ..Default::default()
        };
        m.observe_cluster("ns", "c1", Some(&done));
        let t = scrape(&m);
        assert!(t.contains("phase=\"Idle\""), "{t}");
        assert!(!t.contains("phase=\"RollingSlaves\""), "{t}");
        m.observe_cluster("ns", "c1", None);
        assert!(!scrape(&m).contains("cluster=\"c1\""));
    }
}
