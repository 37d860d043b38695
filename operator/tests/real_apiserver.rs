//! The operator against a real kube-apiserver, kube-controller-manager and etcd on 127.0.0.1
//! (see `support/control_plane.rs`): CRD acceptance (CEL cost), admission rules, RBAC of the
//! operator's own ServiceAccount, server-side-apply ownership, garbage collection, leader
//! election, and rolls/scaling with a stand-in kubelet.
//!
//! The tests are `#[ignore]`d: `cargo test --workspace` reports them as ignored, and `.ci/run`
//! runs them with `--include-ignored` where the binaries are (`$KUBE_TEST_BIN` or
//! /opt/kube-test/bin). Run that way without them, every test prints `SKIPPED (...)` and passes.
//! One control plane serves the whole binary; each test works in its
//! own namespace with its own operator process(es).

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use operator::crd::RocketMQCluster;
use operator::names;
use support::*;

/// Generous bound for the API server and controllers to act (never a timing assertion: a test
/// only fails when the state never arrives).
const SETTLE: Duration = Duration::from_secs(60);

fn cluster(name: &str, spec: serde_json::Value) -> RocketMQCluster {
    custom("RocketMQCluster", name, spec)
}

async fn events_of(client: &kube::Client, ns: &str, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect()
}

async fn count_children(client: &kube::Client, ns: &str, cluster: &str) -> usize {
    let lp = ListParams::default().labels(&names::instance_selector(cluster));
    let sts = Api::<StatefulSet>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("list")
        .items
        .len();
    let deps = Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("list")
        .items
        .len();
    let cms = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("list")
        .items
        .len();
    let svcs = Api::<Service>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("list")
        .items
        .len();
    sts + deps + cms + svcs
}

/// `deploy/operator.yaml` applies whole (done by `installed()`, re-applied here to show it is
/// idempotent), the chart passes a server-side dry run, and the CRD copies are the same bytes as
/// what the Rust types generate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn manifests_apply_and_chart_passes_server_dry_run() {
    let cp = control_plane_or_skip!();
    let t0 = Instant::now();
    let root = repo();
    let crd = std::fs::read(root.join("crds/rocketmqclusters.yaml")).expect("crds/");
    let chart_crd = std::fs::read(root.join("charts/rocketmq-operator/crds/rocketmqclusters.yaml"))
        .expect("chart crds/");
    assert!(crd == chart_crd, "crds/ and the chart's crds/ differ");
    assert_eq!(
        String::from_utf8_lossy(&crd),
        operator::crd::crd_yaml().expect("crd yaml"),
        "crds/ is stale: regenerate with `cargo run -p operator -- crd -o crds/rocketmqclusters.yaml`"
    );
    let manifest = root.join("deploy/operator.yaml");
    let out = cp
        .kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager=kube-test-install",
                "-f",
                manifest.to_str().unwrap(),
            ],
            None,
        )
        .expect("deploy/operator.yaml applies");
    for kind in [
        "customresourcedefinition.apiextensions.k8s.io/rocketmqclusters.rocketmq.rocketmq-rs.io",
        "clusterrole.rbac.authorization.k8s.io/rocketmq-operator",
        "role.rbac.authorization.k8s.io/rocketmq-operator-leader-election",
        "deployment.apps/rocketmq-operator",
    ] {
        assert!(
            out.contains(kind),
            "{kind} missing from apply output:\n{out}"
        );
    }
    // The CRD as stored has every CEL rule (the API server refuses the whole CRD when one rule's
    // estimated cost is over budget, so acceptance above covers each rule).
    let stored = cp
        .kubectl(
            &[
                "get",
                "crd",
                "rocketmqclusters.rocketmq.rocketmq-rs.io",
                "-o",
                "json",
            ],
            None,
        )
        .expect("get crd");
    assert_eq!(
        stored.matches("\"rule\"").count(),
        String::from_utf8_lossy(&crd).matches("rule:").count(),
        "every rule of crds/ is in the stored CRD"
    );

    let helm = std::env::var_os("HELM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/ci-tools/helm/helm"));
    if !helm.is_file() {
        eprintln!(
            "SKIPPED chart dry run (no helm at {}; operator/ci/offline-checks.sh installs it)",
            helm.display()
        );
        return;
    }
    let ns = namespace(cp, "chart");
    for extra in [
        vec![],
        vec!["--set", "cluster.enabled=true", "--set", "replicas=2"],
    ] {
        let mut args = vec![
            "template",
            "t",
            "charts/rocketmq-operator",
            "--include-crds",
            "--namespace",
            &ns,
        ];
        args.extend(extra.iter().copied());
        let rendered = std::process::Command::new(&helm)
            .current_dir(&root)
            .args(&args)
            .output()
            .expect("helm template");
        assert!(
            rendered.status.success(),
            "helm template: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let out = cp
            .kubectl(
                &[
                    "apply",
                    "--server-side",
                    "--dry-run=server",
                    "--field-manager=helm-dry-run",
                    "-f",
                    "-",
                ],
                Some(&rendered.stdout),
            )
            .unwrap_or_else(|e| panic!("chart {extra:?} fails the server-side dry run: {e}"));
        assert!(out.contains("(server dry run)"), "{out}");
    }
    eprintln!("manifests: {:.1}s", t0.elapsed().as_secs_f64());
}

/// Invalid specs the CRD's CEL rules can judge are refused at admission, with the rule's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn cel_rules_refuse_invalid_specs_at_admission() {
    let cp = control_plane_or_skip!();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "cel");
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    let refused = |r: Result<RocketMQCluster, kube::Error>, needle: &str| match r {
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
    refused(
        api.create(
            &pp,
            &cluster(
                "sync0",
                serde_json::json!({"broker": {"replication": "sync", "replicasPerGroup": 0}}),
            ),
        )
        .await,
        "SLAVE_NOT_AVAILABLE",
    );
    for key in ["brokerId", "namesrvAddr", "brokerRole", "storePathRootDir"] {
        refused(
            api.create(
                &pp,
                &cluster(
                    "owned",
                    serde_json::json!({"broker": {"config": {key: "1"}}}),
                ),
            )
            .await,
            "config may not set keys the operator owns",
        );
    }
    // spec.security owns its keys, only with its section set (the root rule).
    for (section, key) in [
        ("acl", "aclPlainFile"),
        ("haAuth", "haAuthSecretFile"),
        ("tls", "tls.server.certPath"),
    ] {
        refused(
            api.create(
                &pp,
                &cluster(
                    "secowned",
                    serde_json::json!({"security": {section: {"secretName": "s"}},
                        "broker": {"config": {key: "/x"}}}),
                ),
            )
            .await,
            "spec.broker.config may not set the keys spec.security owns",
        );
    }
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(
        &dry,
        &cluster(
            "secok",
            serde_json::json!({"security": {"tls": {"secretName": "s", "clientAuth": "Require"},
                "acl": {"secretName": "a"}, "haAuth": {"secretName": "h", "key": "k"}},
                "broker": {"config": {"tls.enable": "true"}}}),
        ),
    )
    .await
    .expect("a spec.security without conflicting keys is accepted");
    let many: serde_json::Map<String, serde_json::Value> = (0..=operator::crd::MAX_CONFIG_KEYS)
        .map(|i| (format!("k{i}"), serde_json::Value::from("1")))
        .collect();
    refused(
        api.create(
            &pp,
            &cluster("many", serde_json::json!({"broker": {"config": many}})),
        )
        .await,
        "must have at most",
    );
    for bad in [
        "n".repeat(41),
        "dotted.name".to_string(),
        "-dash".to_string(),
    ] {
        refused(
            api.create(&pp, &cluster(&bad, serde_json::json!({}))).await,
            "metadata.name must be a DNS label",
        );
    }
    refused(
        api.create(
            &pp,
            &cluster("badname", serde_json::json!({"clusterName": "has space"})),
        )
        .await,
        "clusterName: 1-64 letters",
    );
    refused(
        api.create(
            &pp,
            &cluster(
                "badsize",
                serde_json::json!({"broker": {"storage": {"size": "ten gigs"}}}),
            ),
        )
        .await,
        "must be a Kubernetes quantity",
    );

    // A valid cluster, then updates: immutable storage fields are refused by transition rules.
    let ok = api
        .create(
            &pp,
            &cluster("ok", serde_json::json!({"broker": {"config": {"deleteWhen": "04"}, "storage": {"size": "10Gi", "storageClassName": "fast"}}})),
        )
        .await
        .expect("a valid cluster is admitted");
    assert_eq!(ok.spec.broker.storage.size, "10Gi");
    let patch = |spec: serde_json::Value| {
        let api = api.clone();
        async move {
            api.patch(
                "ok",
                &PatchParams::default(),
                &Patch::Merge(&serde_json::json!({"spec": spec})),
            )
            .await
        }
    };
    refused(
        patch(serde_json::json!({"broker": {"storage": {"storageClassName": "slow"}}})).await,
        "storage.storageClassName is immutable",
    );
    refused(
        patch(serde_json::json!({"broker": {"storage": {"storageClassName": null}}})).await,
        "storage.storageClassName is immutable",
    );
    refused(
        patch(serde_json::json!({"broker": {"storage": {"ephemeral": true}}})).await,
        "storage.ephemeral is immutable",
    );
    refused(
        patch(serde_json::json!({"broker": {"storage": {"size": "5Gi"}}})).await,
        "storage.size cannot shrink",
    );
    refused(
        patch(serde_json::json!({"broker": {"replication": "sync"}})).await,
        "SLAVE_NOT_AVAILABLE",
    );
    // Allowed changes pass.
    let grown = patch(serde_json::json!({"broker": {"storage": {"size": "20Gi"}, "groups": 3}}))
        .await
        .expect("growing storage and adding groups are allowed");
    assert_eq!(grown.spec.broker.storage.size, "20Gi");
    assert_eq!(grown.meta().generation, Some(2));
}

/// The operator, authenticated as its own ServiceAccount (RBAC from deploy/operator.yaml), turns
/// every example into its objects with status at the current generation; another field manager's
/// change to an operator-owned field is corrected while a user's annotation survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn operator_as_service_account_builds_every_example_and_owns_its_fields() {
    let cp = control_plane_or_skip!();
    let t0 = Instant::now();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "examples");
    let _op = Operator::start(cp, &ns, "op-examples", &[]);
    let files = [
        "cluster-2m-2s-async.yaml",
        "cluster-2m-2s-sync.yaml",
        "cluster-2m-noslave.yaml",
        "cluster-single-master.yaml",
    ];
    let mut crs = Vec::new();
    for f in files {
        let cr = example(f);
        apply_cluster(&client, &ns, &cr).await;
        crs.push(cr);
    }
    for cr in &crs {
        let name = cr.name_any();
        let live = status_at_generation(&client, &ns, &name, SETTLE).await;
        let uid = live.meta().uid.clone().expect("uid");
        let st = live.status.as_ref().expect("status");
        assert!(st.mode.is_some());
        assert_eq!(
            st.ready_groups.as_deref(),
            Some(format!("0/{}", cr.spec.broker.groups).as_str()),
            "no kubelet here: no group is ready"
        );
        let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
        for g in 0..cr.spec.broker.groups as usize {
            let sts = sts_api
                .get(&names::broker_group(&name, g))
                .await
                .expect("group StatefulSet");
            assert_eq!(
                sts.spec.as_ref().and_then(|s| s.replicas),
                Some(1 + cr.spec.broker.replicas_per_group)
            );
            let owner = sts
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true))
                .expect("controller owner");
            assert_eq!(owner.uid, uid);
            // The group's config revision: the ConfigMap its pod template mounts
            // (`<group>-<hash>`), owned by the cluster as well.
            let cm_name = sts
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|p| p.volumes.as_ref())
                .and_then(|v| v.iter().find(|v| v.name == names::CONFIG_VOLUME))
                .and_then(|v| v.config_map.as_ref())
                .map(|c| c.name.clone())
                .expect("the pod template mounts the group's ConfigMap");
            assert!(
                cm_name.starts_with(&format!("{}-", names::broker_group(&name, g))),
                "{cm_name}"
            );
            let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
                .get(&cm_name)
                .await
                .expect("group ConfigMap");
            assert!(
                cm.owner_references().iter().any(|o| o.uid == uid),
                "the ConfigMap {cm_name} is owned by the cluster"
            );
        }
        let dep = Api::<Deployment>::namespaced(client.clone(), &ns)
            .get(&names::namesrv(&name))
            .await
            .expect("name server Deployment");
        assert_eq!(
            dep.spec.as_ref().and_then(|s| s.replicas),
            Some(cr.spec.name_server.replicas)
        );
        Api::<Service>::namespaced(client.clone(), &ns)
            .get(&names::namesrv_service(&name))
            .await
            .expect("name server Service");
        // The StatefulSet controller (kube-controller-manager) made the pods.
        let pods = Api::<Pod>::namespaced(client.clone(), &ns);
        wait_for(
            "broker pods created by the StatefulSet controller",
            SETTLE,
            || async {
                let n = pods
                    .list(&ListParams::default().labels(&format!(
                        "{},app.kubernetes.io/component=broker",
                        names::instance_selector(&name)
                    )))
                    .await
                    .map_err(|e| e.to_string())?
                    .items
                    .len();
                let want =
                    (cr.spec.broker.groups * (1 + cr.spec.broker.replicas_per_group)) as usize;
                if n == want {
                    Ok(())
                } else {
                    Err(format!("{n}/{want} pods"))
                }
            },
        )
        .await;
    }
    eprintln!("examples built in {:.1}s", t0.elapsed().as_secs_f64());

    // Server-side apply: an intruder takes the name server's replicas (operator-owned) and adds
    // an annotation (not operator-owned).
    let name = crs[0].name_any();
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let intruder = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": names::namesrv(&name), "annotations": {"example.com/owner": "team-a"}},
        "spec": {"replicas": 7}
    });
    deps.patch(
        &names::namesrv(&name),
        &PatchParams::apply("intruder").force(),
        &Patch::Apply(&intruder),
    )
    .await
    .expect("intruder apply");
    let want = crs[0].spec.name_server.replicas;
    let fixed = wait_for("the operator to take replicas back", SETTLE, || async {
        let d = deps
            .get(&names::namesrv(&name))
            .await
            .map_err(|e| e.to_string())?;
        let r = d.spec.as_ref().and_then(|s| s.replicas);
        if r == Some(want) {
            Ok(d)
        } else {
            Err(format!("replicas {r:?}"))
        }
    })
    .await;
    assert_eq!(
        fixed
            .annotations()
            .get("example.com/owner")
            .map(String::as_str),
        Some("team-a"),
        "a field the operator does not own survives its apply"
    );
    let managers: BTreeMap<String, String> = fixed
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                serde_json::to_string(&m.fields_v1).unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers
            .get("rocketmq-operator")
            .is_some_and(|f| f.contains("f:replicas")),
        "{managers:?}"
    );
    assert!(
        managers
            .get("intruder")
            .is_some_and(|f| f.contains("example.com/owner") && !f.contains("f:replicas")),
        "{managers:?}"
    );

    // A spec change: status follows the new generation and the Deployment scales.
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), &ns);
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"nameServer": {"replicas": 3}}})),
    )
    .await
    .expect("scale name servers");
    let live = status_at_generation(&client, &ns, &name, SETTLE).await;
    assert_eq!(live.meta().generation, Some(2));
    let d = deps.get(&names::namesrv(&name)).await.expect("deployment");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(3));
}

/// A spec the CRD admits but the operator refuses gets Degraded (at the current generation) and
/// one Warning Event, and nothing is created; fixing it builds the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn refused_spec_is_degraded_with_a_warning_and_no_children() {
    let cp = control_plane_or_skip!();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "refused");
    let _op = Operator::start(cp, &ns, "op-refused", &[]);
    let cases = [
        (
            "small",
            serde_json::json!({"broker": {"storage": {"size": "100Mi"}}}),
            "StorageTooSmall",
        ),
        (
            "unknown",
            serde_json::json!({"broker": {"config": {"noSuchBrokerKey": "1"}}}),
            "UnknownConfigKey",
        ),
        (
            "badvalue",
            serde_json::json!({"broker": {"config": {"deleteWhen": "not-an-hour"}}}),
            "InvalidConfigValue",
        ),
    ];
    for (name, spec, _) in &cases {
        apply_cluster(&client, &ns, &cluster(name, spec.clone())).await;
    }
    for (name, _, reason) in &cases {
        let live = status_at_generation(&client, &ns, name, SETTLE).await;
        assert_eq!(
            condition(&live, "Degraded"),
            Some(("True".to_string(), reason.to_string())),
            "{name}"
        );
        let evs = wait_for("the Warning event", SETTLE, || async {
            let evs = events_of(&client, &ns, name).await;
            if evs.iter().any(|e| {
                e.type_.as_deref() == Some("Warning") && e.reason.as_deref() == Some(reason)
            }) {
                Ok(evs)
            } else {
                Err(format!("{evs:?}"))
            }
        })
        .await;
        assert_eq!(
            evs.iter()
                .filter(|e| e.reason.as_deref() == Some(reason))
                .count(),
            1,
            "one event: {evs:?}"
        );
        assert_eq!(
            count_children(&client, &ns, name).await,
            0,
            "{name}: nothing created"
        );
    }
    // Fixing the spec builds the cluster and clears Degraded.
    apply_cluster(
        &client,
        &ns,
        &cluster(
            "small",
            serde_json::json!({"broker": {"storage": {"size": "10Gi"}}}),
        ),
    )
    .await;
    let live = status_at_generation(&client, &ns, "small", SETTLE).await;
    assert_eq!(
        condition(&live, "Degraded").map(|c| c.0),
        Some("False".to_string())
    );
    assert!(count_children(&client, &ns, "small").await > 0);
}

/// Deleting a cluster garbage-collects every child (kube-controller-manager's collector); the
/// claims follow `spec.broker.storage.deleteClaimsOnDeletion` through the StatefulSet's
/// persistentVolumeClaimRetentionPolicy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn deletion_garbage_collects_children_and_claims_follow_the_policy() {
    let cp = control_plane_or_skip!();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "gc");
    let op = Operator::start(cp, &ns, "op-gc", &[]);
    apply_cluster(
        &client,
        &ns,
        &cluster(
            "keep",
            serde_json::json!({"broker": {"replicasPerGroup": 1}}),
        ),
    )
    .await;
    apply_cluster(&client, &ns, &cluster("drop", serde_json::json!({"broker": {"replicasPerGroup": 1, "storage": {"deleteClaimsOnDeletion": true}}}))).await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let claims_of = |cluster: &'static str| {
        let pvcs = pvcs.clone();
        async move {
            pvcs.list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())
                .map(|l| {
                    l.items
                        .into_iter()
                        .map(|p| p.name_any())
                        .filter(|n| n.contains(&format!("-{cluster}-broker-")))
                        .collect::<Vec<_>>()
                })
        }
    };
    for c in ["keep", "drop"] {
        status_at_generation(&client, &ns, c, SETTLE).await;
        wait_for(
            "claims made by the StatefulSet controller",
            SETTLE,
            || async {
                let n = claims_of(c).await?.len();
                if n == 2 {
                    Ok(())
                } else {
                    Err(format!("{n} claims"))
                }
            },
        )
        .await;
    }
    // The operator is not needed for deletion: stop it, so only the API server and the
    // controller-manager act.
    op.process.stop();
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), &ns);
    for c in ["keep", "drop"] {
        api.delete(c, &DeleteParams::default())
            .await
            .expect("delete cluster");
    }
    for c in ["keep", "drop"] {
        wait_for("garbage collection of the children", SETTLE, || async {
            let n = count_children(&client, &ns, c).await;
            if n == 0 {
                Ok(())
            } else {
                Err(format!("{n} children left"))
            }
        })
        .await;
    }
    wait_for("claims of `drop` deleted", SETTLE, || async {
        let left = claims_of("drop").await?;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    })
    .await;
    let kept = claims_of("keep").await.expect("list claims");
    assert_eq!(kept.len(), 2, "claims of `keep` are retained: {kept:?}");
    for k in &kept {
        let pvc = pvcs.get(k).await.expect("claim");
        assert!(
            pvc.metadata.deletion_timestamp.is_none(),
            "{k} is being deleted"
        );
    }
}

/// Two replicas: one leads through a Lease and reconciles, the other waits; killing the leader
/// hands over; each transition is one Event from the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn two_replicas_elect_one_leader_and_hand_over() {
    let cp = control_plane_or_skip!();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "leader");
    let lease_args = ["--lease-duration-secs", "6", "--lease-renew-secs", "2"];
    let a = Operator::start(cp, &ns, "op-a", &lease_args);
    let b = Operator::start(cp, &ns, "op-b", &lease_args);
    let leases: Api<Lease> = Api::namespaced(client.clone(), OPERATOR_NS);
    let lease_name = format!("rocketmq-operator-{ns}");
    let holder = |leases: Api<Lease>, lease_name: String| async move {
        let l = leases.get(&lease_name).await.map_err(|e| e.to_string())?;
        l.spec
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
            .ok_or("no holder".to_string())
    };
    let first = wait_for("a leader", SETTLE, || {
        holder(leases.clone(), lease_name.clone())
    })
    .await;
    assert!(first == "op-a" || first == "op-b", "{first}");
    apply_cluster(&client, &ns, &cluster("led", serde_json::json!({}))).await;
    status_at_generation(&client, &ns, "led", SETTLE).await;
    // Let both replicas run for several renewals: the follower must stay idle.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let evs = events_of(&client, &ns, "led").await;
    assert!(!evs.is_empty(), "the leader published events");
    for e in &evs {
        assert_eq!(
            e.reporting_instance.as_deref(),
            Some(first.as_str()),
            "only the leader publishes: {e:?}"
        );
    }
    let mut per_reason: BTreeMap<String, usize> = BTreeMap::new();
    for e in &evs {
        *per_reason
            .entry(e.reason.clone().unwrap_or_default())
            .or_default() += 1;
    }
    assert!(
        per_reason.values().all(|&n| n == 1),
        "one Event per transition: {per_reason:?}"
    );
    assert_eq!(
        holder(leases.clone(), lease_name.clone()).await.as_deref(),
        Ok(first.as_str()),
        "leadership is stable"
    );

    // Kill the leader without a chance to release: the follower takes over after expiry.
    let (leader, follower) = if first == "op-a" { (a, b) } else { (b, a) };
    let killed = Instant::now();
    leader.process.signal("KILL");
    let second = wait_for("the follower to take over", SETTLE, || async {
        let h = holder(leases.clone(), lease_name.clone()).await?;
        if h == follower.identity {
            Ok(h)
        } else {
            Err(format!("holder {h}"))
        }
    })
    .await;
    let handover = killed.elapsed();
    eprintln!(
        "leader {first} killed; {second} leads after {:.1}s (lease 6s, renew 2s)",
        handover.as_secs_f64()
    );
    let l = leases.get(&lease_name).await.expect("lease");
    assert!(
        l.spec
            .as_ref()
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0)
            >= 1
    );
    // The new leader reconciles a spec change.
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), &ns);
    api.patch(
        "led",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"broker": {"groups": 2}}})),
    )
    .await
    .expect("patch");
    let live = status_at_generation(&client, &ns, "led", SETTLE).await;
    assert_eq!(
        live.status
            .as_ref()
            .and_then(|s| s.ready_groups.clone())
            .as_deref(),
        Some("0/2")
    );
    Api::<StatefulSet>::namespaced(client.clone(), &ns)
        .get(&names::broker_group("led", 1))
        .await
        .expect("the new leader created group 1");
    // A clean stop releases the lease at once (empty holder) instead of letting it expire.
    follower.process.signal("TERM");
    wait_for("the lease released on SIGTERM", SETTLE, || async {
        match holder(leases.clone(), lease_name.clone()).await {
            Err(e) if e == "no holder" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    drop(follower);
    drop(leader);
}

/// The API server really estimates CEL cost: the rule this CRD used to carry, on an unbounded
/// map, is refused ("estimated rule cost exceeds budget"), while the current rule is accepted on
/// the same unbounded map. Guards against reintroducing an over-budget rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn api_server_estimates_rule_cost() {
    let cp = control_plane_or_skip!();
    let crd = |group: &str, rule: &str| {
        serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("things.{group}")},
            "spec": {"group": group, "scope": "Namespaced",
                "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": {
                        "config": {"type": "object", "additionalProperties": {"type": "string"},
                            "x-kubernetes-validations": [{"rule": rule}]}}}}}}}]}
        })
        .to_string()
    };
    let old_rule = "self.all(k, !(k in ['brokerClusterName', 'brokerName', 'brokerId', 'brokerRole', 'brokerIP1', 'brokerIP2', 'namesrvAddr', 'listenPort', 'haListenPort', 'haMasterAddress', 'storePathRootDir', 'storePathCommitLog', 'flushDiskType', 'autoCreateTopicEnable']))";
    let err = cp
        .kubectl(
            &["create", "-f", "-"],
            Some(crd("old.cost.example.com", old_rule).as_bytes()),
        )
        .expect_err("the former rule is over budget on an unbounded map");
    assert!(err.contains("estimated rule cost exceeds budget"), "{err}");
    cp.kubectl(
        &["create", "-f", "-"],
        Some(crd("new.cost.example.com", operator::crd::OWNED_KEYS_RULE).as_bytes()),
    )
    .expect("the current rule is within budget even without maxProperties");
}

/// Rolls and scaling driven end to end, with this test as kubelet: a masters-only cluster comes
/// up Ready; an image change replaces each broker pod exactly once, one group at a time; name
/// servers scale; a group is added and comes up; lowering the group count keeps the undrained
/// group and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn roll_and_scale_end_to_end_with_a_stand_in_kubelet() {
    roll_and_scale(false, true, 3).await;
}

/// The strict half of the roll: group 1's master is released only once group 0's new master is
/// Ready again and registered with every name server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn roll_releases_the_next_group_only_after_the_previous_master_is_ready() {
    roll_and_scale(true, false, 4).await;
}

/// Real servers behind the pod IPs the stand-in kubelet reports: a name server on each address
/// of a pool the name-server pods draw from, and a broker per broker pod (fixed address by pod
/// name) that registers with every one of those name servers under its group's brokerName and
/// its pod IP, as the operator's roll gate ("the restarted master is registered with every
/// Ready name server") expects.
struct Backends {
    /// Broker pod name → its pod IP.
    broker_ips: BTreeMap<String, String>,
    /// Addresses of the name servers (pod IPs for name-server pods).
    namesrv_ips: Vec<String>,
    namesrv_port: u16,
    broker_port: u16,
    name_servers: Vec<namesrv::NameServerHandle>,
    brokers: Vec<broker::BrokerHandle>,
    _store: tempfile::TempDir,
}

impl Backends {
    /// Name servers on 127.77.`net`.1..=`pool`, brokers of `groups` masters-only groups of
    /// cluster `cr` on 127.77.`net`.(100 + group). Fresh addresses: nothing else listens there.
    async fn start(net: u8, cr: &RocketMQCluster, groups: usize, pool: u8) -> Backends {
        let store = tempfile::tempdir().expect("tempdir");
        let servers = NameServers::start(net, pool, store.path(), Duration::from_secs(10)).await;
        let (namesrv_ips, namesrv_port, namesrv_addr, name_servers) =
            (servers.ips, servers.port, servers.addr, servers.handles);
        let first_broker = format!("127.77.{net}.100");
        let broker_port = free_port(&first_broker);
        let cluster = cr.name_any();
        let mut broker_ips = BTreeMap::new();
        let mut brokers = Vec::new();
        for g in 0..groups {
            let ip = format!("127.77.{net}.{}", 100 + g);
            let config = broker::config::BrokerConfig {
                broker_cluster_name: cr.spec.cluster_name.clone(),
                broker_name: names::broker_group(&cluster, g),
                broker_id: 0,
                broker_role: broker::config::BrokerRole::AsyncMaster,
                bind_address: ip.clone(),
                broker_ip1: Some(ip.clone()),
                listen_port: broker_port,
                namesrv_addr: Some(namesrv_addr.clone()),
                register_name_server_period: 1000,
                store_path_root_dir: store.path().join(&ip).display().to_string(),
                mapped_file_size_commit_log: 4 << 20,
                mapped_file_size_consume_queue: 20 * 10_000,
                max_message_size: 64 * 1024,
                ..Default::default()
            };
            brokers.push(
                broker::Broker::start(config)
                    .await
                    .unwrap_or_else(|e| panic!("broker on {ip}:{broker_port}: {e}")),
            );
            broker_ips.insert(names::broker_pod(&cluster, g, 0), ip);
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

    async fn stop(self) {
        for b in self.brokers {
            b.shutdown().await;
        }
        for n in self.name_servers {
            n.shutdown().await;
        }
    }
}

async fn roll_and_scale(strict_order: bool, scale: bool, net: u8) {
    let cp = control_plane_or_skip!();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "roll");
    // How long a broker takes to stop once its pod is deleted (ROLL_STOP_SECS, default 2).
    let stop_secs: u64 = std::env::var("ROLL_STOP_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut cr = example("cluster-2m-noslave.yaml");
    cr.metadata.name = Some("roll".to_string());
    cr.spec.image = "rocketmq-rs:1".to_string();
    // Three groups' brokers (the scale-out adds group 2); name servers for 3 replicas plus the
    // Deployment's surge and pods still stopping.
    let backends = Backends::start(net, &cr, 3, 8).await;
    cr.spec.name_server.port = i32::from(backends.namesrv_port);
    cr.spec.broker.port = i32::from(backends.broker_port);
    let _op = Operator::start(cp, &ns, "op-roll", &[]);
    let kubelet = Kubelet::start_with_addresses(
        client.clone(),
        &ns,
        Duration::from_secs(stop_secs),
        backends.broker_ips.clone(),
        vec![(
            format!("{}-", names::namesrv("roll")),
            backends.namesrv_ips.clone(),
        )],
    )
    .await;
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), &ns);
    apply_cluster(&client, &ns, &cr).await;
    let ready = |api: Api<RocketMQCluster>| async move {
        let cr = api.get("roll").await.map_err(|e| e.to_string())?;
        let st = cr.status.clone().ok_or("no status")?;
        if st.observed_generation != cr.meta().generation {
            return Err("stale status".to_string());
        }
        match (condition(&cr, "Ready"), condition(&cr, "Progressing")) {
            (Some((r, _)), Some((p, _))) if r == "True" && p == "False" => Ok(cr),
            other => Err(format!("{other:?} {:?}", st.ready_groups)),
        }
    };
    let t0 = Instant::now();
    let up = wait_for("the cluster Ready", SETTLE, || ready(api.clone())).await;
    assert_eq!(
        up.status
            .as_ref()
            .and_then(|s| s.ready_groups.clone())
            .as_deref(),
        Some("2/2")
    );
    eprintln!("2m-noslave Ready in {:.1}s", t0.elapsed().as_secs_f64());

    // Image roll.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let uid_of = |name: String| {
        let pods = pods.clone();
        async move { pods.get(&name).await.ok().and_then(|p| p.metadata.uid) }
    };
    let before = [
        uid_of(names::broker_pod("roll", 0, 0)).await,
        uid_of(names::broker_pod("roll", 1, 0)).await,
    ];
    let t1 = Instant::now();
    api.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"image": "rocketmq-rs:2"}})),
    )
    .await
    .expect("image change");
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    wait_for(
        "the roll to finish",
        Duration::from_secs(120 + 4 * stop_secs),
        || async {
            let cr = ready(api.clone()).await?;
            for g in 0..2 {
                let p = pods
                    .get(&names::broker_pod("roll", g, 0))
                    .await
                    .map_err(|e| e.to_string())?;
                let image = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone());
                if image.as_deref() != Some("rocketmq-rs:2") || !operator::read::pod_ready(&p) {
                    return Err(format!("group {g}: {image:?}"));
                }
            }
            Ok(cr)
        },
    )
    .await;
    eprintln!(
        "image roll of 2 groups (pods stop in {stop_secs}s) finished in {:.1}s",
        t1.elapsed().as_secs_f64()
    );
    // Broker pods only: the name server Deployment rolls to the new image as well.
    let broker = |n: &String| n.starts_with("roll-broker-");
    let deletions: BTreeMap<String, u32> = kubelet
        .deletions
        .lock()
        .expect("kubelet record")
        .iter()
        .filter(|(n, _)| broker(n))
        .map(|(n, c)| (n.clone(), *c))
        .collect();
    let journal: Vec<String> = kubelet.journal.lock().expect("kubelet record").clone();
    let at = |entry: String| {
        journal
            .iter()
            .rposition(|e| *e == entry)
            .unwrap_or_else(|| panic!("{entry:?} not in {journal:?}"))
    };
    let (m0, m1) = (
        names::broker_pod("roll", 0, 0),
        names::broker_pod("roll", 1, 0),
    );
    // One group at a time: group 1's master is released only once group 0's new master is Ready.
    let in_order = at(format!("ready {m0}")) < at(format!("terminating {m1}"));
    eprintln!("kubelet journal of the roll: {journal:?}");
    if strict_order {
        assert!(
            in_order,
            "group 1 started before group 0 was Ready again: {journal:?}"
        );
    } else if !in_order {
        eprintln!("NOTE: group 1 was released before group 0's new master was Ready (issue 12 §3)");
    }
    let after = [
        uid_of(names::broker_pod("roll", 0, 0)).await,
        uid_of(names::broker_pod("roll", 1, 0)).await,
    ];
    assert!(
        before[0] != after[0] && before[1] != after[1],
        "both pods were replaced"
    );
    assert_eq!(
        deletions,
        BTreeMap::from([
            (names::broker_pod("roll", 0, 0), 1),
            (names::broker_pod("roll", 1, 0), 1)
        ]),
        "each broker pod replaced exactly once"
    );
    for g in 0..2 {
        let s = sts.get(&names::broker_group("roll", g)).await.expect("sts");
        let partition = s
            .spec
            .and_then(|s| s.update_strategy)
            .and_then(|u| u.rolling_update)
            .and_then(|r| r.partition);
        assert_eq!(partition, Some(0), "roll released");
    }
    if !scale {
        kubelet.stop().await;
        backends.stop().await;
        return;
    }

    // Name servers 2 -> 3.
    api.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"nameServer": {"replicas": 3}}})),
    )
    .await
    .expect("scale name servers");
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    wait_for("three ready name servers", SETTLE, || async {
        let d = deps
            .get(&names::namesrv("roll"))
            .await
            .map_err(|e| e.to_string())?;
        let ready = d.status.and_then(|s| s.ready_replicas);
        if ready == Some(3) {
            Ok(())
        } else {
            Err(format!("ready {ready:?}"))
        }
    })
    .await;
    wait_for("Ready after scaling name servers", SETTLE, || {
        ready(api.clone())
    })
    .await;

    // Scale out: a third group comes up.
    api.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"broker": {"groups": 3}}})),
    )
    .await
    .expect("scale out");
    wait_for("group 2 ready", SETTLE, || async {
        let cr = api.get("roll").await.map_err(|e| e.to_string())?;
        let st = cr.status.clone().ok_or("no status")?;
        if st.observed_generation == cr.meta().generation
            && st.ready_groups.as_deref() == Some("3/3")
        {
            Ok(())
        } else {
            Err(format!("{:?}", st.ready_groups))
        }
    })
    .await;
    // Scale in: the group's broker still takes writes (not drained), so the group stays and
    // Degraded says so.
    api.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"broker": {"groups": 2}}})),
    )
    .await
    .expect("scale in");
    let refused = wait_for("scale-in refusal", SETTLE, || async {
        let cr = api.get("roll").await.map_err(|e| e.to_string())?;
        let st = cr.status.clone().ok_or("no status")?;
        match condition(&cr, "Degraded") {
            Some((s, r))
                if s == "True"
                    && r == "ScaleInRefused"
                    && st.observed_generation == cr.meta().generation =>
            {
                Ok(cr)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        refused
            .status
            .as_ref()
            .and_then(|s| s.ready_groups.clone())
            .is_some_and(|r| r.ends_with("/2")),
        "readyGroups counts desired groups only"
    );
    sts.get(&names::broker_group("roll", 2))
        .await
        .expect("the undrained group is kept");
    kubelet.stop().await;
    backends.stop().await;
}

/// A real broker for one pod, listening on the pod IP the stand-in kubelet reports for it, so the
/// operator's admin calls (replication catch-up before a master is replaced) reach a real broker.
async fn broker_for_pod(dir: &std::path::Path, ip: &str, port: u16) -> broker::BrokerHandle {
    let config = broker::config::BrokerConfig {
        broker_name: format!("pod-{}", ip.replace('.', "-")),
        broker_id: 0,
        broker_role: broker::config::BrokerRole::AsyncMaster,
        bind_address: ip.to_string(),
        listen_port: port,
        namesrv_addr: None,
        store_path_root_dir: dir.join(ip).display().to_string(),
        mapped_file_size_commit_log: 4 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        max_message_size: 64 * 1024,
        ..Default::default()
    };
    broker::Broker::start(config)
        .await
        .unwrap_or_else(|e| panic!("broker on {ip}:{port}: {e}"))
}

/// The issue's roll: 2m-2s-async, image change, brokers that take `ROLL_STOP_SECS` (default 2)
/// to stop. Each broker pod answers the operator's admin calls through a real broker on its pod
/// IP. Asserts the roll finishes (every pod on the new image and Ready, Stable at the current
/// generation), each broker pod is replaced exactly once, slaves before their master, and group
/// 1 only after group 0's new master is Ready. Before the roll state machine (branch op-roll) it
/// never finished once terminating pods turn unready (measured: the master of group 0 deleted 57
/// times in 196 s with 2 s stops, 19 times in 276 s with 12 s stops). `ROLL_STOP_SECS=12` runs
/// it with the issue's slow broker shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn roll_of_2m_2s_async_finishes_slaves_first_one_group_at_a_time() {
    let cp = control_plane_or_skip!();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "roll2s");
    let stop_secs: u64 = std::env::var("ROLL_STOP_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    // One real broker per pod on 127.77.2.x, all on one port (distinct addresses).
    let store = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.77.2.10:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.77.2.10")
        .port();
    let mut fixed = BTreeMap::new();
    let mut brokers = Vec::new();
    for g in 0..2 {
        for o in 0..2u32 {
            let ip = format!("127.77.2.{}", 10 + g * 10 + o as usize);
            brokers.push(broker_for_pod(store.path(), &ip, port).await);
            fixed.insert(names::broker_pod("r", g, o), ip);
        }
    }
    let _op = Operator::start(cp, &ns, "op-roll2s", &[]);
    let kubelet =
        Kubelet::start_with_ips(client.clone(), &ns, Duration::from_secs(stop_secs), fixed).await;
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), &ns);
    let mut cr = example("cluster-2m-2s-async.yaml");
    cr.metadata.name = Some("r".to_string());
    cr.spec.image = "rocketmq-rs:1".to_string();
    cr.spec.broker.port = i32::from(port);
    apply_cluster(&client, &ns, &cr).await;
    let stable = |api: Api<RocketMQCluster>| async move {
        let cr = api.get("r").await.map_err(|e| e.to_string())?;
        let st = cr.status.clone().ok_or("no status")?;
        if st.observed_generation != cr.meta().generation {
            return Err("stale status".to_string());
        }
        match (
            condition(&cr, "Ready"),
            condition(&cr, "Progressing"),
            condition(&cr, "Degraded"),
        ) {
            (Some((r, _)), Some((p, _)), Some((d, _)))
                if r == "True" && p == "False" && d == "False" =>
            {
                Ok(cr)
            }
            other => Err(format!("{other:?} {:?}", st.ready_groups)),
        }
    };
    wait_for("2m-2s Ready and Stable", SETTLE, || stable(api.clone())).await;
    let t1 = Instant::now();
    api.patch(
        "r",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"image": "rocketmq-rs:2"}})),
    )
    .await
    .expect("image change");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let finished = poll_until(Duration::from_secs(180 + 8 * stop_secs), || async {
        stable(api.clone()).await?;
        for g in 0..2 {
            for o in 0..2 {
                let p = pods
                    .get(&names::broker_pod("r", g, o))
                    .await
                    .map_err(|e| e.to_string())?;
                let image = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone());
                if image.as_deref() != Some("rocketmq-rs:2") || !operator::read::pod_ready(&p) {
                    return Err(format!("{}: {image:?}", p.name_any()));
                }
            }
        }
        Ok(())
    })
    .await;
    if let Err(last) = finished {
        let journal = kubelet.journal.lock().expect("kubelet record").clone();
        let deletions = kubelet.deletions.lock().expect("kubelet record").clone();
        panic!(
            "the 2m-2s roll did not finish in {:.0}s; last: {last}\npod deletions: {deletions:?}\nkubelet journal: {journal:?}",
            t1.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "2m-2s-async image roll (brokers stop in {stop_secs}s) finished in {:.1}s",
        t1.elapsed().as_secs_f64()
    );
    let journal: Vec<String> = kubelet.journal.lock().expect("kubelet record").clone();
    eprintln!("kubelet journal of the roll: {journal:?}");
    let deletions: BTreeMap<String, u32> = kubelet
        .deletions
        .lock()
        .expect("kubelet record")
        .iter()
        .filter(|(n, _)| n.starts_with("r-broker-"))
        .map(|(n, c)| (n.clone(), *c))
        .collect();
    let want: BTreeMap<String, u32> = (0..2)
        .flat_map(|g| (0..2).map(move |o| (names::broker_pod("r", g, o), 1)))
        .collect();
    assert_eq!(deletions, want, "each broker pod replaced exactly once");
    let at = |entry: String| {
        journal
            .iter()
            .rposition(|e| *e == entry)
            .unwrap_or_else(|| panic!("{entry:?} not in {journal:?}"))
    };
    for g in 0..2 {
        let (m, s) = (names::broker_pod("r", g, 0), names::broker_pod("r", g, 1));
        assert!(
            at(format!("ready {s}")) < at(format!("terminating {m}")),
            "group {g}: master before its slave was back: {journal:?}"
        );
    }
    assert!(
        at(format!("ready {}", names::broker_pod("r", 0, 0)))
            < at(format!("terminating {}", names::broker_pod("r", 1, 1))),
        "group 1 started before group 0's master was Ready again: {journal:?}"
    );
    kubelet.stop().await;
    for b in brokers {
        b.shutdown().await;
    }
}
