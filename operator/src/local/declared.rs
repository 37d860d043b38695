//! RocketMQTopic and RocketMQConsumerGroup documents in a local-mode cluster file: one
//! multi-document YAML file (the GitOps file) holds the cluster and what is declared on it, and
//! `operator local -f` applies the declarations onto every group's master once the cluster is
//! up, as the Kubernetes controller would ([`crate::resource::sync`]).

use std::collections::BTreeSet;
use std::path::Path;

use kube::CustomResourceExt as _;
use serde::Deserialize as _;

use super::{LocalPlan, Role};
use crate::admin::RemotingAdmin;
use crate::crd::RocketMQCluster;
use crate::error::{Error, Result};
use crate::group::RocketMQConsumerGroup;
use crate::names;
use crate::plan::ClusterPlan;
use crate::resource::controller::{Declares, managed};
use crate::resource::sync::{self, Outcome, Target};
use crate::topic::RocketMQTopic;

/// A parsed cluster file.
#[derive(Clone, Debug)]
pub struct ClusterFile {
    /// Its RocketMQCluster.
    pub cluster: RocketMQCluster,
    /// RocketMQTopic documents (every one references the cluster).
    pub topics: Vec<RocketMQTopic>,
    /// RocketMQConsumerGroup documents (every one references the cluster).
    pub groups: Vec<RocketMQConsumerGroup>,
}

/// Reads a cluster file.
pub fn load_file(path: &Path) -> Result<ClusterFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_file(&text).map_err(|message| Error::BadClusterFile {
        path: path.display().to_string(),
        message,
    })
}

fn parse_declared<K: Declares>(
    v: serde_yaml::Value,
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> std::result::Result<K, String> {
    let json = serde_json::to_value(&v).map_err(|e| e.to_string())?;
    let unknown = super::unknown_fields_in(crd, &json);
    if !unknown.is_empty() {
        return Err(format!("unknown field(s) {}", unknown.join(", ")));
    }
    let k: K = serde_yaml::from_value(v).map_err(|e| e.to_string())?;
    if k.meta().name.as_deref().unwrap_or("").is_empty() {
        return Err("metadata.name is missing".to_string());
    }
    let problems = k.problems();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(k)
}

/// Parses a (multi-document) cluster file: exactly one RocketMQCluster, any number of
/// RocketMQTopic and RocketMQConsumerGroup documents referencing it. Refuses other kinds,
/// unknown fields, references to another cluster and two documents declaring the same topic or
/// group, naming the document.
pub fn parse_file(text: &str) -> std::result::Result<ClusterFile, String> {
    let api_version = format!("{}/v1alpha1", crate::crd::GROUP);
    let mut clusters = Vec::new();
    let mut topics = Vec::new();
    let mut groups = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let v = serde_yaml::Value::deserialize(doc).map_err(|e| e.to_string())?;
        if v.is_null() {
            continue;
        }
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let (kind, version) = (field("kind"), field("apiVersion"));
        let at = |e: String| format!("document {} ({kind}): {e}", i + 1);
        if version != api_version {
            return Err(format!(
                "apiVersion/kind must be {api_version} RocketMQCluster (or RocketMQTopic / RocketMQConsumerGroup beside it)"
            ));
        }
        match kind.as_str() {
            "RocketMQCluster" => clusters
                .push(super::parse_cluster_doc(v).map_err(|e| if i == 0 { e } else { at(e) })?),
            "RocketMQTopic" => {
                topics.push(parse_declared::<RocketMQTopic>(v, &RocketMQTopic::crd()).map_err(at)?)
            }
            "RocketMQConsumerGroup" => groups.push(
                parse_declared::<RocketMQConsumerGroup>(v, &RocketMQConsumerGroup::crd())
                    .map_err(at)?,
            ),
            _ => {
                return Err(format!(
                    "apiVersion/kind must be {api_version} RocketMQCluster (or RocketMQTopic / RocketMQConsumerGroup beside it)"
                ));
            }
        }
    }
    let cluster = match clusters.len() {
        1 => clusters.remove(0),
        0 => return Err("no RocketMQCluster document".to_string()),
        n => {
            return Err(format!(
                "{n} RocketMQCluster documents: one file runs one cluster"
            ));
        }
    };
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (kind, res, cluster_ref, declared) in topics
        .iter()
        .map(|t| {
            (
                "RocketMQTopic",
                t.metadata.name.clone(),
                t.cluster_ref().to_string(),
                format!("topic {}", t.declared_name()),
            )
        })
        .chain(groups.iter().map(|g| {
            (
                "RocketMQConsumerGroup",
                g.metadata.name.clone(),
                g.cluster_ref().to_string(),
                format!("group {}", g.declared_name()),
            )
        }))
    {
        let res = res.unwrap_or_default();
        if cluster_ref != name {
            return Err(format!(
                "{kind} {res}: clusterRef {cluster_ref} is not this file's cluster {name}"
            ));
        }
        if !seen.insert(declared.clone()) {
            return Err(format!("{kind} {res}: {declared} is declared twice"));
        }
    }
    Ok(ClusterFile {
        cluster,
        topics,
        groups,
    })
}

/// The masters of the local cluster as targets (a group's master is the member with the master
/// role, which after a failover is no longer ordinal 0).
fn targets(plan: &ClusterPlan, local: &LocalPlan) -> Vec<Target> {
    plan.groups
        .iter()
        .map(|g| {
            let member = |p: &&super::LocalProcess| {
                g.members
                    .iter()
                    .any(|m| p.name == names::broker_pod(&plan.name, g.index, m.ordinal))
            };
            Target {
                broker_name: g.broker_name.clone(),
                master: local
                    .processes
                    .iter()
                    .filter(member)
                    .find(|p| p.role == Role::Master)
                    .map(|p| format!("127.0.0.1:{}", p.port)),
            }
        })
        .collect()
}

/// What the file declares, one line each (for `--dry-run`).
pub fn describe(file: &ClusterFile) -> Vec<String> {
    let mut out = Vec::new();
    for t in &file.topics {
        let c = crate::topic::desired(&t.declared_name(), &t.spec);
        out.push(format!(
            "--- RocketMQTopic {}: topic {} {}r/{}w perm {}{}{} on every group{}",
            t.metadata.name.clone().unwrap_or_default(),
            c.topic_name,
            c.read_queue_nums,
            c.write_queue_nums,
            c.perm,
            if c.order { " ordered" } else { "" },
            if c.attributes.is_empty() {
                String::new()
            } else {
                format!(" {:?}", c.attributes)
            },
            if managed(t) {
                ""
            } else {
                " (unmanaged: left alone)"
            }
        ));
    }
    for g in &file.groups {
        out.push(format!(
            "--- RocketMQConsumerGroup {}: group {} maxReconsumeTimes {} retryQueueNums {} on every group{}",
            g.metadata.name.clone().unwrap_or_default(),
            g.declared_name(),
            g.spec.retry_policy.max_reconsume_times,
            g.spec.retry_policy.retry_queue_nums,
            if managed(g) { "" } else { " (unmanaged: left alone)" }
        ));
    }
    out
}

/// One status line per declaration, as the controller's status would say it.
fn line<K: Declares>(kind: &str, k: &K, report: &sync::Report) -> String {
    let what = k.declared();
    let detail: Vec<String> = report
        .groups
        .iter()
        .map(|(b, (o, adopted))| {
            let o = match o {
                Outcome::Created => "created".to_string(),
                Outcome::Updated(d) => format!("updated ({})", d.join(", ")),
                Outcome::Unchanged => "unchanged".to_string(),
                Outcome::Refused(m) => format!("REFUSED: {m}"),
                Outcome::Failed(m) => format!("FAILED: {m}"),
                Outcome::Waiting => "waiting".to_string(),
            };
            format!("{b} {o}{}", if *adopted { ", adopted" } else { "" })
        })
        .collect();
    format!(
        "{kind} {}: {} {} applied on {} groups [{}]",
        k.meta().name.clone().unwrap_or_default(),
        what.what(),
        what.name(),
        report.summary(),
        detail.join("; ")
    )
}

/// Applies every managed topic and consumer group of `file` onto the running cluster; returns
/// one line per declaration (refusals and failures included: the cluster keeps running).
pub async fn apply_declared(
    file: &ClusterFile,
    plan: &ClusterPlan,
    local: &LocalPlan,
) -> Vec<String> {
    let admin = RemotingAdmin::default();
    let targets = targets(plan, local);
    let mut out = Vec::new();
    let known = BTreeSet::new();
    for t in &file.topics {
        if !managed(t) {
            out.push(format!(
                "RocketMQTopic {}: unmanaged, left alone",
                t.declared_name()
            ));
            continue;
        }
        let r = sync::apply(&admin, &t.declared(), &targets, &known).await;
        out.push(line("RocketMQTopic", t, &r));
    }
    for g in &file.groups {
        if !managed(g) {
            out.push(format!(
                "RocketMQConsumerGroup {}: unmanaged, left alone",
                g.declared_name()
            ));
            continue;
        }
        let r = sync::apply(&admin, &g.declared(), &targets, &known).await;
        out.push(line("RocketMQConsumerGroup", g, &r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_file;

    fn repo_file(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn cluster_file_with_topics_and_groups() {
        let text = format!(
            "{}---\n{}",
            repo_file("cluster-2m-noslave.yaml"),
            repo_file("topics-noslave.yaml")
        );
        let f = parse_file(&text).unwrap();
        let lines = super::describe(&f);
        assert!(
            lines[1].contains("topic PaymentsFifo 4r/4w perm 6 ordered")
                && lines[1].contains("FIFO"),
            "{lines:?}"
        );
        assert!(
            lines[2].contains("group CID_ORDER_SERVICE maxReconsumeTimes 5"),
            "{lines:?}"
        );
        assert_eq!(f.topics.len(), 2);
        assert_eq!(f.groups.len(), 1);
        assert_eq!(f.cluster.metadata.name.as_deref(), Some("noslave"));
        // A single-document cluster file still parses alone.
        assert!(parse_file(&repo_file("cluster-2m-noslave.yaml")).is_ok());
    }

    #[test]
    fn bad_declarations_are_refused_with_their_document() {
        let cluster = repo_file("cluster-2m-noslave.yaml");
        let topic = |spec: &str| {
            format!(
                "{cluster}---\napiVersion: rocketmq.rocketmq-rs.io/v1alpha1\nkind: RocketMQTopic\nmetadata:\n  name: t\nspec:\n{spec}"
            )
        };
        let err = parse_file(&topic("  clusterRef: other\n")).unwrap_err();
        assert!(
            err.contains("clusterRef other is not this file's cluster noslave"),
            "{err}"
        );
        let err = parse_file(&topic("  clusterRef: noslave\n  writeQueue: 3\n")).unwrap_err();
        assert!(
            err.contains("document 2") && err.contains("spec.writeQueue"),
            "{err}"
        );
        let err = parse_file(&topic("  clusterRef: noslave\n  perm: 7\n")).unwrap_err();
        assert!(err.contains("perm 7"), "{err}");
        let twice = format!(
            "{}---\n{}",
            topic("  clusterRef: noslave\n"),
            "apiVersion: rocketmq.rocketmq-rs.io/v1alpha1\nkind: RocketMQTopic\nmetadata:\n  name: t2\nspec:\n  clusterRef: noslave\n  topicName: t\n"
        );
        let err = parse_file(&twice).unwrap_err();
        assert!(err.contains("declared twice"), "{err}");
        let err = parse_file(&format!("{cluster}---\n{cluster}")).unwrap_err();
        assert!(err.contains("2 RocketMQCluster documents"), "{err}");
        let err = parse_file("apiVersion: v1\nkind: ConfigMap\n").unwrap_err();
        assert!(err.contains("apiVersion/kind must be"), "{err}");
    }
}
