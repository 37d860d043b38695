//! Reconcile scenarios against the fake API server: create, status, roll order, scale out with
//! topic copy, refused and drained scale-in, deletion, a bad CR beside a good one.

use std::sync::{Arc, Mutex};

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use crate::controller::{Context, REQUEUE_BUSY, REQUEUE_IDLE, reconcile};
use crate::crd::RocketMQCluster;
use crate::fixtures::{FakeAdmin, State, fake_api};
use crate::names;

const NS: &str = "rmq";
const CRS: &str = "rocketmqclusters";

struct Env {
    ctx: Arc<Context>,
    state: Arc<Mutex<State>>,
    admin: Arc<FakeAdmin>,
}

fn env() -> Env {
    let (client, state) = fake_api();
    let admin = Arc::new(FakeAdmin::default());
    let ctx = Arc::new(Context::new(client, admin.clone()));
    Env { ctx, state, admin }
}

fn cluster(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "rocketmq.rocketmq-rs.io/v1alpha1",
        "kind": "RocketMQCluster",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1},
        "spec": spec,
    })
}

impl Env {
    /// Reconciles the stored version of the CR (status included), as a watch would deliver it.
    async fn reconcile(&self, name: &str) -> Action {
        let cr: RocketMQCluster = {
            let s = self.state.lock().unwrap();
            serde_json::from_value(s.get(CRS, NS, name).unwrap().clone()).unwrap()
        };
        reconcile(Arc::new(cr), self.ctx.clone()).await.unwrap()
    }
    fn put_cr(&self, cr: Value) {
        let name = cr["metadata"]["name"].as_str().unwrap().to_string();
        let mut s = self.state.lock().unwrap();
        let status = s.get(CRS, NS, &name).and_then(|o| o.get("status").cloned());
        let mut cr = cr;
        if let Some(st) = status {
            cr["status"] = st;
        }
        s.put(CRS, NS, &name, cr);
    }
    fn edit_spec(&self, name: &str, f: impl FnOnce(&mut Value)) {
        let mut s = self.state.lock().unwrap();
        let mut cr = s.get(CRS, NS, name).unwrap().clone();
        f(&mut cr["spec"]);
        let g = cr["metadata"]["generation"].as_i64().unwrap_or(1);
        cr["metadata"]["generation"] = json!(g + 1);
        s.put(CRS, NS, name, cr);
    }
    fn status(&self, name: &str) -> Value {
        self.state.lock().unwrap().get(CRS, NS, name).unwrap()["status"].clone()
    }
    fn condition(&self, name: &str, type_: &str) -> (String, String, String) {
        let st = self.status(name);
        let c = st["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == type_)
            .unwrap()
            .clone();
        (
            c["status"].as_str().unwrap().into(),
            c["reason"].as_str().unwrap().into(),
            c["message"].as_str().unwrap().into(),
        )
    }
    fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
    fn writes(&self) -> Vec<String> {
        self.state.lock().unwrap().writes()
    }
    fn sts(&self, name: &str) -> Value {
        self.state
            .lock()
            .unwrap()
            .get("statefulsets", NS, name)
            .unwrap()
            .clone()
    }
    fn partition(&self, name: &str) -> i64 {
        self.sts(name)["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
            .as_i64()
            .unwrap()
    }
    fn template_hash(&self, sts: &str) -> String {
        self.sts(sts)["spec"]["template"]["metadata"]["annotations"][names::CONFIG_HASH_ANNOTATION]
            .as_str()
            .unwrap()
            .to_string()
    }
    /// Plays kubelet and the StatefulSet controller: pod `ordinal` of `sts` runs `hash`.
    fn pod(&self, sts: &str, ordinal: u32, hash: &str, ready: bool) {
        let s = self.sts(sts);
        let labels = s["spec"]["template"]["metadata"]["labels"].clone();
        let group: u32 = labels[names::GROUP_LABEL]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let name = format!("{sts}-{ordinal}");
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels,
                         "annotations": {names::CONFIG_HASH_ANNOTATION: hash}},
            "status": {"podIP": format!("10.0.{group}.{ordinal}"),
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        self.state.lock().unwrap().put("pods", NS, &name, pod);
    }
    /// Every pod of every StatefulSet runs its current template and is ready; name servers too.
    fn all_ready(&self) {
        let stss: Vec<(String, i64)> = {
            let s = self.state.lock().unwrap();
            s.objects
                .iter()
                .filter(|((r, _, _), _)| r == "statefulsets")
                .map(|((_, _, n), o)| (n.clone(), o["spec"]["replicas"].as_i64().unwrap()))
                .collect()
        };
        for (sts, replicas) in stss {
            let h = self.template_hash(&sts);
            for o in 0..replicas as u32 {
                self.pod(&sts, o, &h, true);
            }
        }
        let mut s = self.state.lock().unwrap();
        let deps: Vec<_> = s
            .objects
            .keys()
            .filter(|(r, _, _)| r == "deployments")
            .cloned()
            .collect();
        for k in deps {
            let o = s.objects.get_mut(&k).unwrap();
            o["status"] = json!({"readyReplicas": o["spec"]["replicas"].clone()});
        }
    }
    fn admin_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.admin.calls.lock().unwrap())
    }
}

fn async_spec() -> Value {
    json!({"broker": {"groups": 2, "replicasPerGroup": 1, "replication": "async"}})
}

#[tokio::test]
async fn create_applies_in_order_with_one_field_manager_then_writes_status() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    let action = e.reconcile("demo").await;
    assert_eq!(action, Action::requeue(REQUEUE_BUSY));
    let log = e.state.lock().unwrap().log.clone();
    let shorts: Vec<String> = log.iter().map(|c| c.short()).collect();
    // Reads first.
    assert_eq!(
        &shorts[..3],
        &["GET statefulsets", "GET pods", "GET deployments"]
    );
    let applies: Vec<&str> = log
        .iter()
        .filter(|c| c.method == "PATCH" && !c.status)
        .map(|c| c.resource.as_str())
        .collect();
    assert_eq!(
        applies,
        vec![
            "configmaps",
            "configmaps",
            "configmaps",
            "services",
            "services",
            "services",
            "services",
            "poddisruptionbudgets",
            "poddisruptionbudgets",
            "poddisruptionbudgets",
            "deployments",
            "statefulsets",
            "statefulsets"
        ]
    );
    for c in log.iter().filter(|c| c.method == "PATCH") {
        assert!(
            c.query.contains("fieldManager=rocketmq-operator") && c.query.contains("force=true"),
            "{}",
            c.query
        );
        assert!(
            c.status
                || c.body["metadata"]["ownerReferences"][0]["uid"]
                    .as_str()
                    .is_some()
        );
    }
    // The status patch is the last call and describes what was found.
    assert_eq!(shorts.last().unwrap(), "PATCH rocketmqclusters/demo/status");
    assert!(shorts.iter().any(|s| s == "POST events"), "{shorts:?}");
    let st = e.status("demo");
    assert_eq!(st["mode"], "2m-2s-async");
    assert_eq!(st["readyGroups"], "0/2");
    assert_eq!(st["observedGeneration"], 1);
    assert_eq!(st["nameServerAddress"], "demo-namesrv.rmq.svc:9876");
    assert_eq!(e.condition("demo", "Progressing").1, "Creating");
    assert_eq!(e.condition("demo", "Ready").0, "False");
    // The StatefulSets carry owner references to the CR.
    assert_eq!(
        e.sts("demo-broker-0")["metadata"]["ownerReferences"][0]["uid"],
        "uid-demo"
    );
    assert_eq!(
        e.sts("demo-broker-1")["metadata"]["ownerReferences"][0]["kind"],
        "RocketMQCluster"
    );
}

#[tokio::test]
async fn status_reports_ready_groups_and_addresses() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.all_ready();
    e.clear_log();
    let action = e.reconcile("demo").await;
    assert_eq!(action, Action::requeue(REQUEUE_IDLE));
    let st = e.status("demo");
    assert_eq!(st["readyGroups"], "2/2");
    assert_eq!(st["groups"][1]["brokerName"], "demo-broker-1");
    assert_eq!(st["groups"][1]["master"]["address"], "10.0.1.0:10911");
    assert_eq!(st["groups"][1]["master"]["ready"], true);
    assert_eq!(st["groups"][1]["slaves"][0]["address"], "10.0.1.1:10911");
    assert_eq!(st["groups"][1]["slaves"][0]["brokerId"], 1);
    assert_eq!(e.condition("demo", "Ready").0, "True");
    assert_eq!(
        e.condition("demo", "Progressing"),
        (
            "False".into(),
            "Stable".into(),
            "all pods run the desired spec".into()
        )
    );
    assert_eq!(e.condition("demo", "Degraded").0, "False");
    // Nothing new to tell: Ready became True, so exactly one event for that.
    let events: Vec<_> = e
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|c| c.resource == "events")
        .map(|c| c.body["reason"].clone())
        .collect();
    assert_eq!(events, vec![json!("AllGroupsReady")]);
}

#[tokio::test]
async fn image_change_rolls_slaves_first_then_master_after_catch_up_one_group_at_a_time() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    let old = e.template_hash("demo-broker-0");
    e.edit_spec("demo", |s| s["image"] = json!("rocketmq-rs:0.2"));

    // Step 1: group 0 may update its slave only (partition 1); group 1 is held (partition 2).
    e.reconcile("demo").await;
    let new = e.template_hash("demo-broker-0");
    assert_ne!(old, new);
    assert_eq!(
        (e.partition("demo-broker-0"), e.partition("demo-broker-1")),
        (1, 2)
    );
    assert_eq!(e.condition("demo", "Progressing").1, "RollingSlaves");
    assert!(e.admin_calls().is_empty());

    // Step 2: the slave restarted with the new template; the admin says it has not caught up.
    e.pod("demo-broker-0", 1, &new, true);
    e.reconcile("demo").await;
    assert_eq!(
        e.admin_calls(),
        vec!["caught_up 10.0.0.0:10911 10.0.0.1:10911"]
    );
    assert_eq!(
        (e.partition("demo-broker-0"), e.partition("demo-broker-1")),
        (1, 2)
    );
    assert_eq!(
        e.condition("demo", "Progressing").1,
        "WaitingForSlaveCatchUp"
    );

    // Step 3: caught up: the master may go.
    *e.admin.caught_up.lock().unwrap() = true;
    e.reconcile("demo").await;
    assert_eq!(
        (e.partition("demo-broker-0"), e.partition("demo-broker-1")),
        (0, 2)
    );
    assert_eq!(e.condition("demo", "Progressing").1, "RollingMaster");

    // Step 4: group 0 done; group 1 starts with its slave.
    e.pod("demo-broker-0", 0, &new, true);
    e.admin_calls();
    e.reconcile("demo").await;
    assert_eq!(
        (e.partition("demo-broker-0"), e.partition("demo-broker-1")),
        (0, 1)
    );
    assert_eq!(e.condition("demo", "Progressing").1, "RollingSlaves");

    // Step 5: everything updated: stable.
    let new1 = e.template_hash("demo-broker-1");
    e.pod("demo-broker-1", 1, &new1, true);
    e.pod("demo-broker-1", 0, &new1, true);
    e.reconcile("demo").await;
    assert_eq!(
        (e.partition("demo-broker-0"), e.partition("demo-broker-1")),
        (0, 0)
    );
    assert_eq!(e.condition("demo", "Progressing").1, "Stable");
    // The roll was announced through events, in order.
    let reasons: Vec<String> = e
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|c| c.resource == "events")
        .map(|c| c.body["reason"].as_str().unwrap().to_string())
        .collect();
    let roll: Vec<&String> = reasons
        .iter()
        .filter(|r| r.starts_with("Rolling") || r.starts_with("Waiting"))
        .collect();
    assert_eq!(
        roll,
        [
            "RollingSlaves",
            "WaitingForSlaveCatchUp",
            "RollingMaster",
            "RollingSlaves"
        ]
    );
}

#[tokio::test]
async fn scale_out_adds_a_group_and_copies_topics_once_its_master_is_ready() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    e.edit_spec("demo", |s| s["broker"]["groups"] = json!(3));
    e.reconcile("demo").await;
    assert_eq!(e.sts("demo-broker-2")["spec"]["replicas"], 2);
    assert!(
        e.admin_calls().is_empty(),
        "no copy before the new master is ready"
    );
    assert_eq!(e.status("demo")["groups"][2]["topicsCopied"], false);
    e.all_ready();
    e.reconcile("demo").await;
    assert_eq!(
        e.admin_calls(),
        vec![
            "copy 10.0.0.0:10911 10.0.2.0:10911 skip=demo-broker-0,demo-broker-1,demo-broker-2,DefaultCluster"
        ]
    );
    assert_eq!(e.status("demo")["groups"][2]["topicsCopied"], true);
    // Done once: the next reconcile copies nothing.
    e.reconcile("demo").await;
    assert!(e.admin_calls().is_empty());
}

#[tokio::test]
async fn scale_in_is_refused_until_the_group_is_drained() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    e.edit_spec("demo", |s| s["broker"]["groups"] = json!(1));
    e.clear_log();
    e.reconcile("demo").await;
    assert_eq!(e.admin_calls(), vec!["drained 10.0.1.0:10911"]);
    assert!(
        !e.writes().iter().any(|w| w.starts_with("DELETE")),
        "{:?}",
        e.writes()
    );
    let (status, reason, message) = e.condition("demo", "Degraded");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ScaleInRefused")
    );
    assert!(message.contains("demo-broker-1"));
    let warn = e.state.lock().unwrap().log.iter().any(|c| {
        c.resource == "events"
            && c.body["type"] == "Warning"
            && c.body["reason"] == "ScaleInRefused"
    });
    assert!(warn);
    // The kept group stays in the status.
    assert_eq!(e.status("demo")["groups"].as_array().unwrap().len(), 2);

    *e.admin.drained.lock().unwrap() = true;
    e.clear_log();
    e.reconcile("demo").await;
    let deletes: Vec<String> = e
        .writes()
        .into_iter()
        .filter(|w| w.starts_with("DELETE"))
        .collect();
    assert_eq!(deletes.len(), 4);
    assert_eq!(
        deletes[..3],
        [
            "DELETE statefulsets/demo-broker-1",
            "DELETE poddisruptionbudgets/demo-broker-1",
            "DELETE services/demo-broker-1",
        ]
    );
    assert!(deletes[3].starts_with("DELETE configmaps/demo-broker-1-"));
    assert!(
        !e.writes()
            .iter()
            .any(|w| w.contains("persistentvolumeclaims")),
        "claims are kept"
    );
    assert_eq!(e.condition("demo", "Degraded").0, "False");
}

#[tokio::test]
async fn deletion_touches_nothing_and_claims_are_retained_by_policy() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    assert_eq!(
        e.sts("demo-broker-0")["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
    let mut cr = e
        .state
        .lock()
        .unwrap()
        .get(CRS, NS, "demo")
        .unwrap()
        .clone();
    cr["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    e.put_cr(cr);
    e.clear_log();
    assert_eq!(e.reconcile("demo").await, Action::await_change());
    assert!(e.state.lock().unwrap().log.is_empty());

    // Asking for claim deletion switches the policy.
    let e = env();
    e.put_cr(cluster(
        "gone",
        json!({"broker": {"storage": {"deleteClaimsOnDeletion": true}}}),
    ));
    e.reconcile("gone").await;
    assert_eq!(
        e.sts("gone-broker-0")["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Delete"
    );
}

#[tokio::test]
async fn a_refused_cr_gets_degraded_and_does_not_stop_a_good_one() {
    let e = env();
    e.put_cr(cluster(
        "bad",
        json!({"broker": {"groups": 2, "replicasPerGroup": 0, "replication": "sync"}}),
    ));
    e.put_cr(cluster("good", async_spec()));
    e.clear_log();
    assert_eq!(e.reconcile("bad").await, Action::await_change());
    let writes = e.writes();
    assert_eq!(writes, ["POST events", "PATCH rocketmqclusters/bad/status"]);
    let (status, reason, message) = e.condition("bad", "Degraded");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "SyncWithoutSlave")
    );
    assert!(message.contains("SLAVE_NOT_AVAILABLE"));
    // Same context, next CR: reconciled normally.
    e.reconcile("good").await;
    assert_eq!(e.status("good")["mode"], "2m-2s-async");
    // The bad one again: same problem, no second event.
    e.clear_log();
    e.reconcile("bad").await;
    assert_eq!(e.writes(), ["PATCH rocketmqclusters/bad/status"]);
}

#[tokio::test]
async fn a_refused_update_keeps_the_running_cluster() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    e.edit_spec("demo", |s| {
        s["broker"]["config"] = json!({"brokerRole": "SLAVE"})
    });
    e.clear_log();
    e.reconcile("demo").await;
    assert_eq!(
        e.writes()
            .iter()
            .filter(|w| !w.contains("events"))
            .cloned()
            .collect::<Vec<_>>(),
        ["PATCH rocketmqclusters/demo/status"]
    );
    assert_eq!(e.condition("demo", "Degraded").1, "OperatorOwnedConfigKey");
    assert_eq!(
        e.condition("demo", "Ready"),
        (
            "True".into(),
            "PreviousSpecRunning".into(),
            "the current spec was refused; see Degraded".into()
        )
    );
    assert_eq!(e.status("demo")["readyGroups"], "2/2");
}
