//! The chart's monitoring objects, rendered by the real `helm` (the one
//! `operator/ci/offline-checks.sh` installs under `target/ci-tools`, or `$HELM`; SKIPPED
//! without it) and checked against what the operator builds and what the servers serve:
//! nothing is rendered unless asked; the PodMonitor selects the operator's broker and
//! name-server pod templates and names a port they declare; the ServiceMonitor names the metrics
//! Service's port; every alert and every dashboard query uses only metrics the servers serve
//! (docs/metrics.md), and the dashboard is valid JSON embedded unchanged.

#![allow(clippy::unwrap_used)] // test code

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn helm() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("HELM") {
        return Some(PathBuf::from(h));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let h = target.join("ci-tools/helm/helm");
    h.is_file().then_some(h)
}

fn render(helm: &Path, set: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(helm);
    cmd.args(["template", "t"])
        .arg(root().join("charts/rocketmq-operator"))
        .args(["--namespace", "mon"]);
    for s in set {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split("\n---")
        .filter_map(|d| serde_yaml::from_str::<Value>(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

const ALL: &[&str] = &[
    "metrics.serviceMonitor.enabled=true",
    "metrics.podMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.dashboard.enabled=true",
];

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// Every name a scrape may show: counters with `_total`, histograms' series, gauges as is.
fn served_names() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for d in broker::metrics::METRICS
        .iter()
        .chain(namesrv::metrics::METRICS)
        .chain(operator::metrics::METRICS)
        .chain(telemetry::process::METRICS)
    {
        match d.kind {
            telemetry::Kind::Histogram => {
                for s in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{}{s}", d.name));
                }
            }
            _ => {
                out.insert(d.exposed_name());
            }
        }
    }
    out
}

/// The metric names a PromQL expression uses (ours and the process ones; `rocketmq_cluster` is
/// the label the PodMonitor adds).
fn metrics_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("rocketmq_") || t.starts_with("process_"))
        .filter(|t| *t != "rocketmq_cluster")
        .map(str::to_string)
        .collect()
}

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn monitoring_objects_match_the_pods_and_the_served_metrics() {
    let Some(helm) = helm() else {
        eprintln!("SKIPPED: no helm (run operator/ci/offline-checks.sh once, or set HELM)");
        return;
    };
    // Off by default.
    let default = render(&helm, &[]);
    for k in ["ServiceMonitor", "PodMonitor", "PrometheusRule"] {
        assert!(of_kind(&default, k).is_empty(), "{k} rendered by default");
    }
    assert!(!default.iter().any(|d| {
        d["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .ends_with("-dashboard")
    }));

    let docs = render(&helm, ALL);
    let served = served_names();

    // PodMonitor: selects the pod templates the operator builds, on a port they declare.
    let pm = of_kind(&docs, "PodMonitor");
    assert_eq!(pm.len(), 1);
    assert_eq!(pm[0]["apiVersion"], "monitoring.coreos.com/v1");
    let selector = labels_of(&pm[0]["spec"]["selector"]["matchLabels"]);
    assert!(!selector.is_empty());
    let port = pm[0]["spec"]["podMetricsEndpoints"][0]["port"]
        .as_str()
        .unwrap();
    assert_eq!(pm[0]["spec"]["podMetricsEndpoints"][0]["path"], "/metrics");
    let cr =
        operator::local::load_cluster_file(&root().join("deploy/cluster-2m-2s-sync.yaml")).unwrap();
    let plan = operator::validate::validate("c", "apps", &cr.spec).unwrap();
    let owner = OwnerReference {
        api_version: "rocketmq.rocketmq-rs.io/v1alpha1".into(),
        kind: "RocketMQCluster".into(),
        name: "c".into(),
        uid: "u".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let children = operator::build::build(&plan, &owner, &Default::default()).unwrap();
    let templates: Vec<_> = children
        .stateful_sets
        .iter()
        .filter_map(|s| s.spec.as_ref().map(|s| &s.template))
        .chain(
            children
                .deployments
                .iter()
                .filter_map(|d| d.spec.as_ref().map(|s| &s.template)),
        )
        .collect();
    assert!(templates.len() >= 3);
    for t in templates {
        let labels = t.metadata.as_ref().unwrap().labels.clone().unwrap();
        for (k, v) in &selector {
            assert_eq!(
                labels.get(k),
                Some(v),
                "pod template lacks {k}={v}: {labels:?}"
            );
        }
        let spec = t.spec.as_ref().unwrap();
        assert!(
            spec.containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .any(|p| p.name.as_deref() == Some(port)),
            "no container port named {port}"
        );
    }

    // ServiceMonitor: the metrics Service's port, selected by its labels.
    let sm = of_kind(&docs, "ServiceMonitor");
    assert_eq!(sm.len(), 1);
    let svc = of_kind(&docs, "Service")
        .into_iter()
        .find(|s| {
            s["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with("-metrics")
        })
        .unwrap();
    let svc_labels = labels_of(&svc["metadata"]["labels"]);
    for (k, v) in labels_of(&sm[0]["spec"]["selector"]["matchLabels"]) {
        assert_eq!(svc_labels.get(&k), Some(&v));
    }
    let sm_port = sm[0]["spec"]["endpoints"][0]["port"].as_str().unwrap();
    assert!(
        svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == sm_port)
    );

    // PrometheusRule: every alert named once, with a duration, a severity, a summary, and
    // only served metrics in its expression.
    let rules = of_kind(&docs, "PrometheusRule");
    assert_eq!(rules.len(), 1);
    let mut alerts = BTreeSet::new();
    for g in rules[0]["spec"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let name = r["alert"].as_str().unwrap().to_string();
            assert!(alerts.insert(name.clone()), "{name} twice");
            assert!(r["for"].is_string(), "{name}");
            assert!(r["labels"]["severity"].is_string(), "{name}");
            assert!(r["annotations"]["summary"].is_string(), "{name}");
            let expr = r["expr"].as_str().unwrap();
            for m in metrics_in(expr) {
                assert!(served.contains(&m), "{name} uses {m}, which nothing serves");
            }
        }
    }
    for want in [
        "RocketMQDiskUsageHigh",
        "RocketMQSlaveOutOfSync",
        "RocketMQConsumerLagGrowing",
        "RocketMQBrokerDown",
        "RocketMQReconcileFailing",
    ] {
        assert!(alerts.contains(want), "{want} missing: {alerts:?}");
    }

    // Dashboard: the file is embedded unchanged and every query uses served metrics.
    let file = std::fs::read_to_string(
        root().join("charts/rocketmq-operator/dashboards/rocketmq-cluster.json"),
    )
    .unwrap();
    let cm = of_kind(&docs, "ConfigMap")
        .into_iter()
        .find(|c| {
            c["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with("-dashboard")
        })
        .unwrap();
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let embedded = cm["data"]["rocketmq-cluster.json"].as_str().unwrap();
    assert_eq!(embedded.trim_end(), file.trim_end());
    let dash: Value = serde_json::from_str(&file).unwrap();
    assert!(dash["uid"].is_string() && dash["title"].is_string());
    let mut ids = BTreeSet::new();
    let mut queries = 0;
    for p in dash["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_i64().unwrap()), "panel id twice");
        assert!(p["gridPos"]["w"].as_i64().unwrap() > 0);
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            let used = metrics_in(expr);
            assert!(!used.is_empty(), "{expr}");
            for m in used {
                assert!(served.contains(&m), "panel {} uses {m}", p["title"]);
            }
            queries += 1;
        }
    }
    assert!(queries >= 20, "{queries}");
}
