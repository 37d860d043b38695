//! `docs/metrics.md` is generated from the metric tables the collectors serve
//! (`broker::metrics::METRICS`, `namesrv::metrics::METRICS`, `operator::metrics::METRICS`,
//! `telemetry::process::METRICS`): a metric cannot be served without being documented. This
//! test fails when the file and the code disagree; regenerate with
//! `UPDATE_DOCS=1 cargo test -p operator --test metrics_reference`.

#![allow(clippy::unwrap_used)] // test code

use std::collections::BTreeSet;

use telemetry::MetricDef;
use telemetry::catalogue::markdown_table;

const INTRO: &str = "# Metrics reference

Generated from the metric tables the servers encode by `operator/tests/metrics_reference.rs`; do \
not edit (regenerate with `UPDATE_DOCS=1 cargo test -p operator --test metrics_reference`).

Every binary serves Prometheus text (OpenMetrics 1.0, written by the `prometheus-client` crate) \
on `GET /metrics`:

| binary | how to turn it on | default port |
|---|---|---|
| `broker` | `metricsExporterType=PROM` in `broker.conf` (Java 5's key; default `DISABLE`), `metricsPromExporterHost` (default: all interfaces), `metricsPromExporterPort` | 5557 |
| `namesrv` | the same three keys in `namesrv.conf` | 5557 |
| `operator run` | always on, with `/healthz` and `/readyz`, at `--http` | 8080 |
| `operator local` | `--metrics-port M`: the supervisor on M, each process on the next ports in start order ([local-mode.md](local-mode.md)) | off |
| pods | the operator turns the exporter on and declares a container port named `metrics` (5557) on every broker and name-server pod; `spec.broker.config` may override the two keys | 5557 |

```sh
curl -s 127.0.0.1:5557/metrics | grep rocketmq_broker_messages_in
```

Counters are served with a `_total` suffix and restart from 0 with the process (Prometheus' \
`rate()` handles the reset). Topic and group labels come from the traffic itself, so their \
number grows with the topics and groups in use. The Helm chart renders PodMonitors, a \
ServiceMonitor and PrometheusRule alerts when asked (`metrics.*` values) and holds a Grafana \
dashboard (`charts/rocketmq-operator/dashboards/rocketmq-cluster.json`).

";

fn section(md: &mut String, title: &str, source: &str, defs: &[MetricDef]) {
    md.push_str(&format!("## {title}\n\nServed by `{source}`.\n\n"));
    md.push_str(&markdown_table(defs));
    md.push('\n');
}

fn render() -> String {
    let mut md = INTRO.to_string();
    section(
        &mut md,
        "Broker and store",
        "broker/src/metrics.rs",
        broker::metrics::METRICS,
    );
    section(
        &mut md,
        "Name server",
        "namesrv/src/metrics.rs",
        namesrv::metrics::METRICS,
    );
    section(
        &mut md,
        "Operator",
        "operator/src/metrics.rs",
        operator::metrics::METRICS,
    );
    section(
        &mut md,
        "Process (every binary)",
        "telemetry/src/process.rs",
        telemetry::process::METRICS,
    );
    md.push_str(
        "## Queries\n\n\
         | what | PromQL |\n|---|---|\n\
         | messages in per second, per topic | `sum by (topic) (rate(rocketmq_broker_messages_in_total[1m]))` |\n\
         | messages out per second, per group | `sum by (group) (rate(rocketmq_broker_messages_out_total[1m]))` |\n\
         | p99 put latency | `histogram_quantile(0.99, sum by (le) (rate(rocketmq_broker_put_latency_seconds_bucket[5m])))` |\n\
         | busy answers per second | `sum(rate(rocketmq_broker_responses_total{code=\"SYSTEM_BUSY\"}[1m]))` |\n\
         | consumer lag per group | `sum by (group) (rocketmq_broker_consumer_lag_messages)` |\n\
         | replication gap | `max by (instance) (rocketmq_broker_ha_gap_bytes)` |\n\
         | replication rate, bytes/s | `rate(rocketmq_broker_ha_transferred_bytes_total{direction=\"sent\"}[1m])` |\n\
         | disk use against the limit | `rocketmq_store_disk_used_ratio` (retention acts at diskMaxUsedSpaceRatio, puts stop at diskSpaceWarningLevelRatio) |\n\
         | registrations per second | `rate(rocketmq_namesrv_requests_total{request=\"register_broker\"}[1m])` |\n\
         | failing reconciles | `rate(rocketmq_operator_reconcile_results_total{result=\"error\"}[5m])` |\n",
    );
    md
}

#[test]
fn metric_names_are_unique_and_valid() {
    let all: Vec<&MetricDef> = broker::metrics::METRICS
        .iter()
        .chain(namesrv::metrics::METRICS)
        .chain(operator::metrics::METRICS)
        .chain(telemetry::process::METRICS)
        .collect();
    let mut seen = BTreeSet::new();
    for d in &all {
        assert!(seen.insert(d.name), "{} twice", d.name);
        assert!(
            d.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}",
            d.name
        );
        assert!(
            !d.name.ends_with("_total"),
            "{}: the encoder adds _total",
            d.name
        );
        assert!(
            d.help.ends_with('.') || d.help.ends_with(')'),
            "{}: {}",
            d.name,
            d.help
        );
    }
}

#[test]
fn metrics_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md");
    let want = render();
    if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/metrics.md is stale; regenerate with `UPDATE_DOCS=1 cargo test -p operator --test metrics_reference`"
    );
}
