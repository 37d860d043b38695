//! RocketMQTopic and RocketMQConsumerGroup on a real kube-apiserver, kube-controller-manager and
//! etcd (see `support/control_plane.rs`): the CRDs are accepted (CEL cost), admission refuses bad
//! specs and changes of immutable fields, and the operator binary (as its own ServiceAccount)
//! drives real brokers behind the pod IPs of a stand-in kubelet: create, update, drift
//! correction, the shrink refusal with its Warning and annotation, adoption, the unmanaged
//! annotation, conflict, a scale-out's new group, and deletion with both policies.
//!
//! The tests are `#[ignore]`d; `.ci/run` runs them with `--include-ignored` where the binaries are
//! (`$KUBE_TEST_BIN` or /opt/kube-test/bin). Run that way without them, every test prints
//! `SKIPPED (...)` and passes.

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use operator::admin::RemotingAdmin;
use operator::crd::RocketMQCluster;
use operator::group::RocketMQConsumerGroup;
use operator::names;
use operator::resource::controller::Declares;
use operator::topic::RocketMQTopic;
use remoting::body::topic::TopicConfig;
use support::control_plane::Process;
use support::*;

const SETTLE: Duration = Duration::from_secs(90);

/// The shared control plane with the topic and consumer-group CRDs established, or `SKIPPED`.
macro_rules! control_plane_with_resource_crds_or_skip {
    () => {{
        let cp = control_plane_or_skip!();
        cp.kubectl(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/rocketmqtopics.rocketmq.rocketmq-rs.io",
                "crd/rocketmqconsumergroups.rocketmq.rocketmq-rs.io",
            ],
            None,
        )
        .expect("the topic and consumer-group CRDs are established");
        cp
    }};
}

fn topic(name: &str, spec: serde_json::Value) -> RocketMQTopic {
    custom("RocketMQTopic", name, spec)
}

fn group(name: &str, spec: serde_json::Value) -> RocketMQConsumerGroup {
    custom("RocketMQConsumerGroup", name, spec)
}

/// The generated CRDs are what `crds/` and the chart hold, the API server accepts them (every
/// CEL rule within the cost budget), and admission refuses what the rules refuse, including
/// changes of `clusterRef` and `topicName`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn crds_are_accepted_and_cel_refuses_bad_specs_and_immutable_changes() {
    let cp = control_plane_with_resource_crds_or_skip!();
    let root = repo();
    for (file, yaml) in [
        ("rocketmqtopics.yaml", operator::resource::topic_crd_yaml()),
        (
            "rocketmqconsumergroups.yaml",
            operator::resource::group_crd_yaml(),
        ),
    ] {
        let ours = std::fs::read_to_string(root.join("crds").join(file)).expect("crds/");
        let chart = std::fs::read_to_string(root.join("charts/rocketmq-operator/crds").join(file))
            .expect("chart crds/");
        assert_eq!(ours, yaml.expect("yaml"), "crds/{file} is stale");
        assert_eq!(ours, chart, "crds/{file} and the chart's copy differ");
        let stored = cp
            .kubectl(
                &[
                    "get",
                    "crd",
                    &format!("{}.rocketmq.rocketmq-rs.io", file.trim_end_matches(".yaml")),
                    "-o",
                    "json",
                ],
                None,
            )
            .expect("get crd");
        assert_eq!(
            stored.matches("\"rule\"").count(),
            ours.matches("rule:").count(),
            "every rule of {file} is in the stored CRD"
        );
    }
    let client = cp.admin_client().await;
    let ns = namespace(cp, "topic-cel");
    let topics: Api<RocketMQTopic> = Api::namespaced(client.clone(), &ns);
    let groups: Api<RocketMQConsumerGroup> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    let refused = |r: Result<RocketMQTopic, kube::Error>, needle: &str| match r {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{s:?}");
            assert!(
                s.message.contains(needle),
                "expected {needle:?} in {:?}",
                s.message
            );
        }
        Ok(_) => panic!("accepted, expected a refusal mentioning {needle:?}"),
        Err(e) => panic!("unexpected error {e}"),
    };
    for (spec, needle) in [
        (
            serde_json::json!({"clusterRef": "c", "topicName": "%DLQ%x"}),
            "topicName",
        ),
        (
            serde_json::json!({"clusterRef": "c", "topicName": "a b"}),
            "topicName",
        ),
        (
            serde_json::json!({"clusterRef": "c", "perm": 5}),
            "perm must be",
        ),
        (
            serde_json::json!({"clusterRef": "c", "writeQueues": 8, "readQueues": 4}),
            "readQueues below",
        ),
        (
            serde_json::json!({"clusterRef": "c", "writeQueues": 2000}),
            "writeQueues",
        ),
        (
            serde_json::json!({"clusterRef": "c", "messageType": "FIFO", "attributes": {"message.type": "FIFO"}}),
            "messageType",
        ),
        (
            serde_json::json!({"clusterRef": "c", "attributes": {"k".repeat(65): "v"}}),
            "at most 64",
        ),
    ] {
        refused(topics.create(&pp, &topic("bad", spec)).await, needle);
    }
    // metadata.name as the topic name must be one the broker accepts.
    refused(
        topics
            .create(
                &pp,
                &topic("with.dot", serde_json::json!({"clusterRef": "c"})),
            )
            .await,
        "metadata.name is the topic name",
    );
    topics
        .create(
            &pp,
            &topic(
                "with.dot",
                serde_json::json!({"clusterRef": "c", "topicName": "WithDot"}),
            ),
        )
        .await
        .expect("a topicName makes any resource name fine");
    let t = topics
        .create(
            &pp,
            &topic("orders", serde_json::json!({"clusterRef": "c"})),
        )
        .await
        .expect("valid topic");
    assert_eq!(t.spec.write_queues, 8, "defaults applied by the API server");
    for (patch, needle) in [
        (
            serde_json::json!({"spec": {"clusterRef": "d"}}),
            "clusterRef is immutable",
        ),
        (
            serde_json::json!({"spec": {"topicName": "Other"}}),
            "topicName is immutable",
        ),
    ] {
        match topics
            .patch("orders", &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Err(kube::Error::Api(s)) => assert!(s.message.contains(needle), "{s:?}"),
            other => panic!("{patch} accepted: {other:?}"),
        }
    }
    topics
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"writeQueues": 16}})),
        )
        .await
        .expect("queue counts may change");
    match groups
        .create(
            &pp,
            &group(
                "g",
                serde_json::json!({"clusterRef": "c", "groupName": "a b"}),
            ),
        )
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 422, "{s:?}"),
        other => panic!("bad group name accepted: {other:?}"),
    }
    groups
        .create(
            &pp,
            &group(
                "g",
                serde_json::json!({"clusterRef": "c", "groupName": "CID_G"}),
            ),
        )
        .await
        .expect("valid group");
    match groups
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"groupName": "CID_H"}})),
        )
        .await
    {
        Err(kube::Error::Api(s)) => assert!(s.message.contains("groupName is immutable"), "{s:?}"),
        other => panic!("groupName change accepted: {other:?}"),
    }
    // The example passes admission whole (schema and every CEL rule).
    let example = root.join("deploy/topics-noslave.yaml");
    let example_ns = namespace(cp, "topic-example");
    let out = cp
        .kubectl(
            &[
                "apply",
                "--dry-run=server",
                "-n",
                &example_ns,
                "-f",
                example.to_str().expect("path"),
            ],
            None,
        )
        .expect("deploy/topics-noslave.yaml passes admission");
    assert_eq!(out.matches("(server dry run)").count(), 3, "{out}");
    // The printer columns.
    let table = cp
        .kubectl(&["get", "rmqtopic", "-n", &ns], None)
        .expect("kubectl get");
    for col in ["CLUSTER", "TOPIC", "QUEUES", "APPLIED", "READY"] {
        assert!(table.contains(col), "{col} missing:\n{table}");
    }
}

/// Real name server and masters behind the pod IPs the stand-in kubelet reports.
struct Backends {
    broker_ips: BTreeMap<String, String>,
    namesrv_ips: Vec<String>,
    namesrv_port: u16,
    broker_port: u16,
    name_servers: Vec<namesrv::NameServerHandle>,
    brokers: Vec<broker::BrokerHandle>,
    _store: tempfile::TempDir,
}

impl Backends {
    async fn start(net: u8, cluster: &str, cluster_name: &str, groups: usize) -> Backends {
        let store = tempfile::tempdir().expect("tempdir");
        let servers = NameServers::start(net, 3, store.path(), Duration::from_secs(10)).await;
        let (namesrv_ips, namesrv_port, namesrv_addr, name_servers) =
            (servers.ips, servers.port, servers.addr, servers.handles);
        let broker_port = free_port(&format!("127.77.{net}.100"));
        let mut broker_ips = BTreeMap::new();
        let mut brokers = Vec::new();
        for g in 0..groups {
            let ip = format!("127.77.{net}.{}", 100 + g);
            brokers.push(
                broker::Broker::start(broker::config::BrokerConfig {
                    broker_cluster_name: cluster_name.to_string(),
                    broker_name: names::broker_group(cluster, g),
                    broker_id: 0,
                    broker_role: broker::config::BrokerRole::AsyncMaster,
                    bind_address: ip.clone(),
                    broker_ip1: Some(ip.clone()),
                    listen_port: broker_port,
                    namesrv_addr: Some(namesrv_addr.clone()),
                    register_name_server_period: 1000,
                    auto_create_topic_enable: false,
                    store_path_root_dir: store.path().join(&ip).display().to_string(),
                    mapped_file_size_commit_log: 4 << 20,
                    mapped_file_size_consume_queue: 20 * 10_000,
                    max_message_size: 64 * 1024,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("broker on {ip}: {e}")),
            );
            broker_ips.insert(names::broker_pod(cluster, g, 0), ip);
        }
        Backends {
            broker_ips,
            namesrv_ips,
            namesrv_port,
            broker_port,
            name_servers,
            brokers,
            _store: store,
        }
    }

    fn addr(&self, g: usize) -> String {
        self.brokers[g].local_addr().to_string()
    }

    async fn stop(self) {
        for b in self.brokers {
            b.shutdown().await;
        }
        for n in self.name_servers {
            n.shutdown().await;
        }
    }
}

/// The operator binary as its ServiceAccount, resyncing every 2 s (drift shows up quickly).
fn start_operator(cp: &control_plane::ControlPlane, ns: &str) -> Process {
    let kubeconfig = cp.service_account_kubeconfig(OPERATOR_NS, OPERATOR_SA);
    let args: Vec<String> = [
        "run",
        "--http",
        "127.0.0.1:0",
        "--namespace",
        ns,
        "--leader-elect",
        "false",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Process::spawn(
        "op-topics",
        Path::new(env!("CARGO_BIN_EXE_operator")),
        &args,
        &[
            ("KUBECONFIG", kubeconfig.display().to_string()),
            ("POD_NAMESPACE", OPERATOR_NS.to_string()),
            ("POD_NAME", "op-topics".to_string()),
            ("RUST_LOG", "info,kube=warn".to_string()),
            ("ROCKETMQ_OPERATOR_RESYNC_SECS", "2".to_string()),
        ],
        &cp.dir.join(format!("operator-{ns}.log")),
        None,
    )
    .expect("starting the operator binary")
}

async fn ready_reason<K>(api: &Api<K>, name: &str, reason: &str) -> K
where
    K: Declares,
{
    wait_for(&format!("{name} Ready reason {reason}"), SETTLE, || async {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let st = o.resource_status().ok_or("no status")?;
        let c = st.ready().ok_or("no Ready condition")?;
        if st.observed_generation == o.meta().generation
            && c.observed_generation == o.meta().generation
            && c.reason == reason
        {
            Ok(o)
        } else {
            Err(format!(
                "{} {}: {} ({:?})",
                c.status, c.reason, c.message, st.applied_groups
            ))
        }
    })
    .await
}

async fn topic_on(admin: &RemotingAdmin, addr: &str, name: &str) -> Option<TopicConfig> {
    admin.topic_table(addr).await.ok()?.get(name).cloned()
}

async fn events_of(client: &kube::Client, ns: &str, name: &str) -> Vec<(String, String, String)> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

/// The whole life of declared topics and a consumer group against real brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn operator_applies_topics_and_groups_to_every_broker_group() {
    let cp = control_plane_with_resource_crds_or_skip!();
    let t0 = Instant::now();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "topics");
    let mut cr = example("cluster-2m-noslave.yaml");
    cr.metadata.name = Some("tc".to_string());
    // Three brokers: the scale-out adds group 2.
    let backends = Backends::start(20, "tc", &cr.spec.cluster_name, 3).await;
    cr.spec.name_server.port = i32::from(backends.namesrv_port);
    cr.spec.broker.port = i32::from(backends.broker_port);
    let admin = RemotingAdmin::default();
    // Made with mqadmin before any resource: adopted later.
    admin
        .put_topic(
            &backends.addr(0),
            &TopicConfig::with_queues("legacy", 4, 4, 6),
            &[],
        )
        .await
        .expect("legacy topic");
    let _op = start_operator(cp, &ns);
    let kubelet = Kubelet::start_with_addresses(
        client.clone(),
        &ns,
        Duration::from_secs(1),
        backends.broker_ips.clone(),
        vec![(
            format!("{}-", names::namesrv("tc")),
            backends.namesrv_ips.clone(),
        )],
    )
    .await;
    apply_cluster(&client, &ns, &cr).await;
    let topics: Api<RocketMQTopic> = Api::namespaced(client.clone(), &ns);
    let groups: Api<RocketMQConsumerGroup> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();

    // Create: a topic and a consumer group on both groups.
    topics
        .create(
            &pp,
            &topic(
                "orders",
                serde_json::json!({"clusterRef": "tc", "writeQueues": 4}),
            ),
        )
        .await
        .expect("create topic");
    groups
        .create(
            &pp,
            &group(
                "svc",
                serde_json::json!({"clusterRef": "tc", "groupName": "CID_SVC",
                    "retryPolicy": {"maxReconsumeTimes": 3, "retryQueueNums": 1}}),
            ),
        )
        .await
        .expect("create group");
    let t = ready_reason(&topics, "orders", "Applied").await;
    let st = t.status.clone().expect("status");
    assert_eq!(st.applied_groups.as_deref(), Some("2/2"));
    assert_eq!(st.name.as_deref(), Some("orders"));
    assert!(
        t.finalizers()
            .iter()
            .any(|f| f == operator::resource::TOPIC_FINALIZER)
    );
    eprintln!(
        "topic applied on 2/2 groups {:.1}s after start",
        t0.elapsed().as_secs_f64()
    );
    for g in 0..2 {
        let tc = topic_on(&admin, &backends.addr(g), "orders")
            .await
            .expect("topic on broker");
        assert_eq!(tc.write_queue_nums, 4);
    }
    let g = ready_reason(&groups, "svc", "Applied").await;
    assert_eq!(
        g.status
            .as_ref()
            .and_then(|s| s.applied_groups.clone())
            .as_deref(),
        Some("2/2")
    );
    for b in 0..2 {
        let table = admin.group_table(&backends.addr(b)).await.expect("groups");
        assert_eq!(table["CID_SVC"].retry_max_times, 3);
    }
    let table = cp
        .kubectl(&["get", "rmqtopic", "-n", &ns], None)
        .expect("kubectl get");
    eprintln!("kubectl get rmqtopic:\n{table}");
    assert!(table.contains("2/2"), "{table}");

    // Update: more queues.
    topics
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"writeQueues": 8}})),
        )
        .await
        .expect("grow");
    wait_for("8 queues on both brokers", SETTLE, || async {
        for g in 0..2 {
            let q = topic_on(&admin, &backends.addr(g), "orders")
                .await
                .map(|t| t.write_queue_nums);
            if q != Some(8) {
                return Err(format!("group {g}: {q:?}"));
            }
        }
        Ok(())
    })
    .await;
    ready_reason(&topics, "orders", "Applied").await;

    // Drift: deleted on group 1 and made read-only on group 0 behind the operator's back.
    let mut ro = topic_on(&admin, &backends.addr(0), "orders")
        .await
        .expect("topic");
    ro.perm = 4;
    admin
        .put_topic(&backends.addr(0), &ro, &[])
        .await
        .expect("perm drift");
    admin
        .delete_topic(&backends.addr(1), "orders")
        .await
        .expect("delete drift");
    let mut cg = admin.group_table(&backends.addr(1)).await.expect("groups")["CID_SVC"].clone();
    cg.consume_enable = false;
    admin
        .put_group(&backends.addr(1), &cg)
        .await
        .expect("group drift");
    wait_for("drift corrected on the next resync", SETTLE, || async {
        let a = topic_on(&admin, &backends.addr(0), "orders")
            .await
            .map(|t| t.perm);
        let b = topic_on(&admin, &backends.addr(1), "orders")
            .await
            .map(|t| t.write_queue_nums);
        let c = admin
            .group_table(&backends.addr(1))
            .await
            .map_err(|e| e.to_string())?["CID_SVC"]
            .consume_enable;
        if a == Some(6) && b == Some(8) && c {
            Ok(())
        } else {
            Err(format!(
                "perm {a:?}, queues on group 1 {b:?}, consumeEnable {c}"
            ))
        }
    })
    .await;

    // Shrink: refused with a Warning, nothing changes; the annotation allows it.
    topics
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"writeQueues": 2}})),
        )
        .await
        .expect("shrink");
    let refused = ready_reason(&topics, "orders", "QueueShrinkRefused").await;
    assert_eq!(
        refused
            .status
            .as_ref()
            .and_then(|s| s.applied_groups.clone())
            .as_deref(),
        Some("0/2")
    );
    assert_eq!(
        topic_on(&admin, &backends.addr(0), "orders")
            .await
            .map(|t| t.write_queue_nums),
        Some(8)
    );
    wait_for("a QueueShrinkRefused Warning", SETTLE, || async {
        let ev = events_of(&client, &ns, "orders").await;
        if ev
            .iter()
            .any(|(t, r, _)| t == "Warning" && r == "QueueShrinkRefused")
        {
            Ok(())
        } else {
            Err(format!("{ev:?}"))
        }
    })
    .await;
    topics
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"metadata": {"annotations": {operator::resource::ALLOW_SHRINK_ANNOTATION: "true"}}})),
        )
        .await
        .expect("annotate");
    wait_for("2 queues once allowed", SETTLE, || async {
        let q = topic_on(&admin, &backends.addr(1), "orders")
            .await
            .map(|t| t.write_queue_nums);
        if q == Some(2) {
            Ok(())
        } else {
            Err(format!("{q:?}"))
        }
    })
    .await;

    // Adoption of the topic made before, and a conflicting second declaration of it.
    topics
        .create(
            &pp,
            &topic(
                "legacy",
                serde_json::json!({"clusterRef": "tc", "writeQueues": 4}),
            ),
        )
        .await
        .expect("create legacy");
    ready_reason(&topics, "legacy", "Applied").await;
    let ev = events_of(&client, &ns, "legacy").await;
    assert!(
        ev.iter()
            .any(|(_, r, n)| r == "Adopted" && n.contains(&names::broker_group("tc", 0))),
        "{ev:?}"
    );
    topics
        .create(
            &pp,
            &topic(
                "legacy-again",
                serde_json::json!({"clusterRef": "tc", "topicName": "legacy", "writeQueues": 16}),
            ),
        )
        .await
        .expect("create conflicting");
    ready_reason(&topics, "legacy-again", "ResourceConflict").await;
    assert_eq!(
        topic_on(&admin, &backends.addr(0), "legacy")
            .await
            .map(|t| t.write_queue_nums),
        Some(4)
    );

    // Scale-out: the new group gets every declared topic and group.
    let clusters: Api<RocketMQCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .patch(
            "tc",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"broker": {"groups": 3}}})),
        )
        .await
        .expect("scale out");
    wait_for("applied on 3/3 after the scale-out", SETTLE, || async {
        let t = topics.get("orders").await.map_err(|e| e.to_string())?;
        let g = groups.get("svc").await.map_err(|e| e.to_string())?;
        let a = t.status.and_then(|s| s.applied_groups);
        let b = g.status.and_then(|s| s.applied_groups);
        if a.as_deref() == Some("3/3") && b.as_deref() == Some("3/3") {
            Ok(())
        } else {
            Err(format!("topic {a:?}, group {b:?}"))
        }
    })
    .await;
    assert!(
        topic_on(&admin, &backends.addr(2), "orders")
            .await
            .is_some()
    );
    assert!(
        admin
            .group_table(&backends.addr(2))
            .await
            .expect("groups")
            .contains_key("CID_SVC")
    );

    // Deleting the conflicting declaration leaves the topic the other one declares.
    topics
        .delete("legacy-again", &DeleteParams::default())
        .await
        .expect("delete conflicting");
    wait_for("legacy-again deleted", SETTLE, || async {
        match topics
            .get_opt("legacy-again")
            .await
            .map_err(|e| e.to_string())?
        {
            Some(_) => Err("still there".to_string()),
            None => Ok(()),
        }
    })
    .await;
    assert!(
        topic_on(&admin, &backends.addr(0), "legacy")
            .await
            .is_some()
    );
    // Unmanaged: the finalizer goes, deleting the resource leaves the topic.
    topics
        .patch(
            "legacy",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"metadata": {"annotations": {operator::resource::MANAGED_ANNOTATION: "false"}}})),
        )
        .await
        .expect("unmanage");
    let u = ready_reason(&topics, "legacy", "Unmanaged").await;
    assert!(u.finalizers().is_empty(), "{:?}", u.finalizers());
    topics
        .delete("legacy", &DeleteParams::default())
        .await
        .expect("delete unmanaged");

    // Delete (policy Delete): gone from every broker, then the resource itself.
    topics
        .delete("orders", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("orders deleted", SETTLE, || async {
        match topics.get_opt("orders").await.map_err(|e| e.to_string())? {
            Some(o) => Err(format!("still there: {:?}", o.status)),
            None => Ok(()),
        }
    })
    .await;
    for g in 0..3 {
        assert!(
            topic_on(&admin, &backends.addr(g), "orders")
                .await
                .is_none(),
            "group {g}"
        );
    }
    // Neither the conflicting nor the unmanaged resource deleted the topic.
    assert!(
        topic_on(&admin, &backends.addr(0), "legacy")
            .await
            .is_some()
    );
    // Orphan: the group stays on the brokers.
    groups
        .patch(
            "svc",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"deletionPolicy": "Orphan"}})),
        )
        .await
        .expect("orphan");
    ready_reason(&groups, "svc", "Applied").await;
    groups
        .delete("svc", &DeleteParams::default())
        .await
        .expect("delete group");
    wait_for("svc deleted", SETTLE, || async {
        match groups.get_opt("svc").await.map_err(|e| e.to_string())? {
            Some(_) => Err("still there".to_string()),
            None => Ok(()),
        }
    })
    .await;
    assert!(
        admin
            .group_table(&backends.addr(0))
            .await
            .expect("groups")
            .contains_key("CID_SVC")
    );
    eprintln!(
        "topic/group life on the real API server: {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    kubelet.stop().await;
    backends.stop().await;
}
