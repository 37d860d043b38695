//! `docs/cluster-reference.md`, every field of a `RocketMQCluster` (what `kubectl apply -f` and
//! `operator local -f` take), is generated from the CRD's OpenAPI schema, which is generated from
//! `operator/src/crd.rs`. This test fails when the file and the code disagree; regenerate with
//! `UPDATE_DOCS=1 cargo test -p operator --test cluster_reference`.

#![allow(clippy::unwrap_used)] // test code

use kube::CustomResourceExt as _;
use serde_json::Value;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn walk(path: &str, schema: &Value, out: &mut String) {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or(
        if schema.get("properties").is_some() {
            "object"
        } else {
            "any"
        },
    );
    let ty = match (ty, schema.get("items"), schema.get("additionalProperties")) {
        ("array", Some(items), _) => format!(
            "array of {}",
            items
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("object")
        ),
        ("object", _, Some(add)) if add.is_object() => format!(
            "map of {}",
            add.get("type").and_then(Value::as_str).unwrap_or("object")
        ),
        (t, _, _) => t.to_string(),
    };
    let default = schema
        .get("default")
        .map(|d| format!("`{}`", serde_json::to_string(d).unwrap()))
        .unwrap_or_default();
    let mut desc = schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        let vals: Vec<String> = e
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or("")))
            .collect();
        desc.push_str(&format!(" One of {}.", vals.join(", ")));
    }
    out.push_str(&format!(
        "| `{path}` | {ty} | {} | {} |\n",
        cell(&default),
        cell(desc.trim())
    ));
    // Below three levels are only Kubernetes' own types (resources, affinity, securityContext,
    // tolerations): their fields are in the Kubernetes API reference, not repeated here.
    if path.matches('.').count() >= 3 {
        return;
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            walk(&format!("{path}.{k}"), sub, out);
        }
    }
    if let Some(items) = schema.get("items")
        && items.get("properties").is_some()
    {
        walk(&format!("{path}[]"), items, out);
    }
}

fn render() -> String {
    let crd = serde_json::to_value(operator::crd::RocketMQCluster::crd()).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut md = String::from(
        "# RocketMQCluster reference\n\n\
         Generated from the CRD schema (`operator crd`, from `operator/src/crd.rs`) by \
         `operator/tests/cluster_reference.rs`; do not edit (regenerate with \
         `UPDATE_DOCS=1 cargo test -p operator --test cluster_reference`).\n\n\
         The same file is taken by `kubectl apply -f` and by `operator local -f` \
         (see [local-mode.md](local-mode.md)); examples for the four modes are in `deploy/`. \
         `operator local` refuses fields that are not listed here, naming their path. \
         `spec.broker.config` takes any `broker.conf` key (see \
         [config-reference.md](config-reference.md)) except the ones the operator sets.\n\n\
         ```yaml\napiVersion: rocketmq.rocketmq-rs.io/v1alpha1\nkind: RocketMQCluster\n\
         metadata:\n  name: async\nspec:\n  nameServer:\n    replicas: 2\n  broker:\n    \
         groups: 2\n    replicasPerGroup: 1\n```\n\n\
         Fields below three levels (inside `resources`, `affinity`, `securityContext`, \
         `tolerations`) are Kubernetes' own types; see the Kubernetes API reference.\n\n\
         | field | type | default | meaning |\n|---|---|---|---|\n",
    );
    walk("spec", schema, &mut md);
    md
}

#[test]
fn cluster_reference_matches_the_crd() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cluster-reference.md");
    let want = render();
    if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is out of date: run UPDATE_DOCS=1 cargo test -p operator --test cluster_reference",
        path.display()
    );
}

/// `docs/topics-reference.md`: every field of RocketMQTopic and RocketMQConsumerGroup, from their
/// CRDs, with the semantics the operator gives them.
fn render_topics() -> String {
    let mut md = String::from(
        "# RocketMQTopic and RocketMQConsumerGroup reference\n\n\
         Generated from the CRD schemas (`operator crd --kind topic|consumer-group`, from \
         `operator/src/topic/mod.rs` and `operator/src/group/mod.rs`) by \
         `operator/tests/cluster_reference.rs`; do not edit (regenerate with \
         `UPDATE_DOCS=1 cargo test -p operator --test cluster_reference`).\n\n\
         Topics and consumer groups declared in git, applied by the operator over the admin \
         protocol onto the master of every broker group of the referenced RocketMQCluster \
         (same namespace), including groups a later scale-out adds. Example: \
         `deploy/topics-noslave.yaml`. With the cluster's `autoCreateTopicEnable: false` these \
         resources are the only way topics come to exist. In local mode the same documents go \
         into the cluster file (one multi-document YAML file) and are applied once the cluster \
         is up.\n\n\
         - **Status**: `Ready` (reason `Applied`, `QueueShrinkRefused`, `BrokerUnreachable`, \
         `WaitingForBrokers`, `ClusterNotFound`, `ClusterInvalid`, `Invalid`, \
         `ResourceConflict`, `Unmanaged`, `DeletionFailed`), `appliedGroups` (`2/2`) and one \
         entry per broker group; `kubectl get rmqtopic,rmqgroup` shows them.\n\
         - **Drift** (changed or deleted with mqadmin) is corrected on the next resync \
         (`ROCKETMQ_OPERATOR_RESYNC_SECS` of the operator, default 60).\n\
         - **Fewer queues** than a topic has are refused with a Warning Event (messages in the \
         removed queues would be stranded) unless the annotation \
         `rocketmq.rocketmq-rs.io/allow-queue-shrink: \"true\"` is set.\n\
         - **Adoption**: a topic or group that already exists is taken over (an `Adopted` \
         Event) and brought to the spec.\n\
         - **Unmanaged**: `rocketmq.rocketmq-rs.io/managed: \"false\"` makes the operator leave \
         it alone and drop its finalizer (deleting the resource then keeps the topic).\n\
         - **Deletion** (finalizer): `deletionPolicy: Delete` removes the topic from every \
         broker group and its route from every name server (a group: from every broker group, \
         committed offsets kept); `Orphan` keeps it. Nothing is removed while another resource \
         still declares it. A broker group without a Ready master holds the deletion \
         (`DeletionFailed`, retried) until it is back or the resource is annotated unmanaged; \
         a cluster that is gone has nothing left to clean.\n\
         - **Conflicts**: two resources declaring the same topic or group of one cluster: the \
         older owns it, the other reports `ResourceConflict` and changes nothing.\n\
         - `clusterRef`, `topicName` and `groupName` are immutable (CEL transition rules).\n\n",
    );
    for (title, crd) in [
        (
            "RocketMQTopic (`rmqtopic`)",
            serde_json::to_value(operator::topic::RocketMQTopic::crd()).unwrap(),
        ),
        (
            "RocketMQConsumerGroup (`rmqgroup`)",
            serde_json::to_value(operator::group::RocketMQConsumerGroup::crd()).unwrap(),
        ),
    ] {
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        md.push_str(&format!(
            "## {title}\n\n| field | type | default | meaning |\n|---|---|---|---|\n"
        ));
        walk("spec", schema, &mut md);
        md.push('\n');
    }
    md
}

#[test]
fn topics_reference_matches_the_crds() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/topics-reference.md");
    let want = render_topics();
    if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is out of date: run UPDATE_DOCS=1 cargo test -p operator --test cluster_reference",
        path.display()
    );
}
