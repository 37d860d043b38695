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
        &shorts[..4],
        &[
            "GET statefulsets",
            "GET pods",
            "GET pods",
            "GET deployments"
        ]
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

impl Env {
    fn annotate(&self, name: &str, key: &str, value: &str) {
        let mut s = self.state.lock().unwrap();
        let mut cr = s.get(CRS, NS, name).unwrap().clone();
        cr["metadata"]["annotations"][key] = json!(value);
        s.put(CRS, NS, name, cr);
    }
    async fn try_reconcile(&self, name: &str) -> crate::Result<Action> {
        let cr: RocketMQCluster = {
            let s = self.state.lock().unwrap();
            serde_json::from_value(s.get(CRS, NS, name).unwrap().clone()).unwrap()
        };
        reconcile(Arc::new(cr), self.ctx.clone()).await
    }
    fn events(&self) -> Vec<(String, String)> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|c| c.resource == "events" && c.method == "POST")
            .map(|c| {
                (
                    c.body["type"].as_str().unwrap_or("").to_string(),
                    c.body["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn a_failed_reconcile_reaches_the_resource_and_backs_off_exponentially() {
    use crate::controller::{backoff_delay, error_policy};
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    assert_eq!(e.condition("demo", "Ready").0, "True");
    // A spec change whose StatefulSet writes fail (e.g. a webhook or quota refusing them).
    e.edit_spec("demo", |s| s["image"] = json!("rocketmq-rs:9.9.9"));
    e.state.lock().unwrap().fail = vec![("PATCH statefulsets".into(), 100)];
    e.clear_log();
    let err = e.try_reconcile("demo").await.unwrap_err();
    assert!(err.to_string().contains("statefulset"), "{err}");
    let (status, reason, message) = e.condition("demo", "Degraded");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ReconcileFailed")
    );
    assert!(message.contains("injected failure"), "{message}");
    assert!(
        e.events()
            .contains(&("Warning".into(), "ReconcileFailed".into()))
    );
    // Never Ready/Stable at a generation whose spec did not apply.
    assert_eq!(e.status("demo")["observedGeneration"], 2);
    assert_eq!(e.condition("demo", "Ready").0, "False");
    assert_eq!(e.condition("demo", "Progressing").1, "Retrying");
    // Exponential backoff per cluster, reset by a success.
    let cr: Arc<RocketMQCluster> = Arc::new(
        serde_json::from_value(
            e.state
                .lock()
                .unwrap()
                .get(CRS, NS, "demo")
                .unwrap()
                .clone(),
        )
        .unwrap(),
    );
    let delays: Vec<Action> = (0..4)
        .map(|_| error_policy(cr.clone(), &err, e.ctx.clone()))
        .collect();
    let want: Vec<Action> = (1..=4).map(|n| Action::requeue(backoff_delay(n))).collect();
    assert_eq!(delays, want);
    assert_eq!(
        (1..=8)
            .map(backoff_delay)
            .map(|d| d.as_secs())
            .collect::<Vec<_>>(),
        [5, 10, 20, 40, 80, 160, 300, 300]
    );
    // The same failure again: no second Warning event.
    e.clear_log();
    let _ = e.try_reconcile("demo").await.unwrap_err();
    assert!(e.events().is_empty(), "{:?}", e.events());
    // The API recovers: the change applies and the status is clean again.
    e.state.lock().unwrap().fail.clear();
    e.reconcile("demo").await;
    assert_eq!(e.condition("demo", "Degraded").0, "False");
    assert_eq!(
        error_policy(cr, &err, e.ctx.clone()),
        Action::requeue(backoff_delay(1))
    );
}

#[tokio::test]
async fn pause_annotation_stops_every_write_but_the_status() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.annotate("demo", crate::crd::PAUSE_ANNOTATION, "true");
    e.edit_spec("demo", |s| s["image"] = json!("rocketmq-rs:9.9.9"));
    e.clear_log();
    assert_eq!(e.reconcile("demo").await, Action::await_change());
    let writes: Vec<String> = e
        .writes()
        .into_iter()
        .filter(|w| !w.contains("events"))
        .collect();
    assert_eq!(writes, ["PATCH rocketmqclusters/demo/status"]);
    assert!(
        !e.state
            .lock()
            .unwrap()
            .log
            .iter()
            .any(|c| c.resource == "statefulsets"),
        "a paused cluster is not even read"
    );
    assert_eq!(e.condition("demo", "Progressing").1, "ReconciliationPaused");
    assert_eq!(e.condition("demo", "Ready").0, "False");
    // Unpaused: the change applies.
    e.annotate("demo", crate::crd::PAUSE_ANNOTATION, "false");
    e.reconcile("demo").await;
    assert!(
        e.sts("demo-broker-0")["spec"]["template"]["spec"]["containers"][0]["image"]
            == "rocketmq-rs:9.9.9"
    );
}

#[tokio::test]
async fn manual_restart_annotation_rolls_every_pod_once_per_value() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    let before = e.template_hash("demo-broker-1");
    let ns_before = e
        .state
        .lock()
        .unwrap()
        .get("deployments", NS, "demo-namesrv")
        .unwrap()["spec"]["template"]
        .clone();
    e.annotate("demo", crate::crd::RESTART_ANNOTATION, "2026-12-02T08:00");
    e.reconcile("demo").await;
    let after = e.template_hash("demo-broker-1");
    assert_ne!(before, after);
    // Through the safe roll: group 0's slave first, group 1 held.
    assert_eq!(
        (e.partition("demo-broker-0"), e.partition("demo-broker-1")),
        (1, 2)
    );
    assert_eq!(e.condition("demo", "Progressing").1, "RollingSlaves");
    let ns_after = e
        .state
        .lock()
        .unwrap()
        .get("deployments", NS, "demo-namesrv")
        .unwrap()["spec"]["template"]
        .clone();
    assert_ne!(ns_before, ns_after, "name servers restart too");
    // The same value again changes nothing.
    e.reconcile("demo").await;
    assert_eq!(e.template_hash("demo-broker-1"), after);
}

#[tokio::test]
async fn ready_groups_never_exceed_the_desired_groups() {
    let e = env();
    e.put_cr(cluster("demo", async_spec()));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    // Scale-in refused: group 1 is kept, ready, listed, but not counted.
    e.edit_spec("demo", |s| s["broker"]["groups"] = json!(1));
    e.reconcile("demo").await;
    let st = e.status("demo");
    assert_eq!(st["readyGroups"], "1/1");
    assert_eq!(st["groups"].as_array().unwrap().len(), 2);
    let (_, _, msg) = e.condition("demo", "Ready");
    assert!(msg.starts_with("1/1 broker groups"), "{msg}");
}

fn put_claims(e: &Env, sts: &str, replicas: u32, size: &str, class: &str) {
    let mut s = e.state.lock().unwrap();
    for o in 0..replicas {
        let name = format!("store-{sts}-{o}");
        let labels =
            s.get("statefulsets", NS, sts).unwrap()["spec"]["volumeClaimTemplates"][0]["metadata"]
                ["labels"]
                .clone();
        s.put(
            "persistentvolumeclaims",
            NS,
            &name,
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": name, "namespace": NS, "labels": labels},
                   "spec": {"storageClassName": class, "resources": {"requests": {"storage": size}}}}),
        );
    }
}

fn storage_spec(size: &str) -> Value {
    json!({"broker": {"groups": 2, "replicasPerGroup": 1,
                      "storage": {"size": size, "storageClassName": "fast"}}})
}

#[tokio::test]
async fn storage_growth_expands_claims_and_recreates_statefulsets_without_pods() {
    let e = env();
    e.put_cr(cluster("demo", storage_spec("10Gi")));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    for g in 0..2 {
        put_claims(&e, &format!("demo-broker-{g}"), 2, "10Gi", "fast");
    }
    e.state.lock().unwrap().put(
        "storageclasses",
        "",
        "fast",
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
               "metadata": {"name": "fast"}, "provisioner": "x", "allowVolumeExpansion": true}),
    );
    let hash = e.template_hash("demo-broker-0");
    e.edit_spec("demo", |s| s["broker"]["storage"]["size"] = json!("20Gi"));
    e.clear_log();
    e.reconcile("demo").await;
    let writes = e.writes();
    for g in 0..2 {
        for o in 0..2 {
            assert!(
                writes.contains(&format!(
                    "PATCH persistentvolumeclaims/store-demo-broker-{g}-{o}"
                )),
                "{writes:?}"
            );
        }
    }
    let deletes: Vec<_> = {
        let s = e.state.lock().unwrap();
        s.log
            .iter()
            .filter(|c| c.method == "DELETE" && c.resource == "statefulsets")
            .map(|c| (c.name.clone().unwrap(), c.body["propagationPolicy"].clone()))
            .collect()
    };
    assert_eq!(
        deletes,
        [
            ("demo-broker-0".to_string(), json!("Orphan")),
            ("demo-broker-1".to_string(), json!("Orphan"))
        ]
    );
    assert!(!e.writes().iter().any(|w| w.starts_with("DELETE pods")));
    // Next reconcile re-creates them with the new claim template and the same pod template, so
    // the orphaned pods are adopted without a restart.
    e.reconcile("demo").await;
    let sts = e.sts("demo-broker-0");
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "20Gi"
    );
    assert_eq!(e.template_hash("demo-broker-0"), hash);
    assert_eq!(e.partition("demo-broker-0"), 0);
    assert_eq!(e.condition("demo", "Degraded").0, "False");
}

#[tokio::test]
async fn impossible_storage_changes_are_refused_and_never_wedge_later_changes() {
    let e = env();
    e.put_cr(cluster("demo", storage_spec("10Gi")));
    e.reconcile("demo").await;
    e.all_ready();
    e.reconcile("demo").await;
    // Shrinking: refused; the StatefulSets keep 10Gi.
    e.edit_spec("demo", |s| s["broker"]["storage"]["size"] = json!("5Gi"));
    e.reconcile("demo").await;
    let (status, reason, message) = e.condition("demo", "Degraded");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "StorageChangeRefused")
    );
    assert!(message.contains("cannot shrink"), "{message}");
    let size = |e: &Env| {
        e.sts("demo-broker-0")["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]
            ["storage"]
            .clone()
    };
    assert_eq!(size(&e), "10Gi");
    // A later image change still applies (the refused storage does not block it).
    e.edit_spec("demo", |s| s["image"] = json!("rocketmq-rs:9.9.9"));
    e.reconcile("demo").await;
    assert_eq!(
        e.sts("demo-broker-0")["spec"]["template"]["spec"]["containers"][0]["image"],
        "rocketmq-rs:9.9.9"
    );
    assert_eq!(e.status("demo")["observedGeneration"], 3);
    assert_eq!(e.condition("demo", "Progressing").0, "True");
    // Growing on a class that cannot expand: refused too, with the reason.
    e.state.lock().unwrap().put(
        "storageclasses",
        "",
        "fast",
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
               "metadata": {"name": "fast"}, "provisioner": "x"}),
    );
    e.edit_spec("demo", |s| s["broker"]["storage"]["size"] = json!("50Gi"));
    e.reconcile("demo").await;
    let (_, reason, message) = e.condition("demo", "Degraded");
    assert_eq!(reason, "StorageChangeRefused");
    assert!(
        message.contains("does not allow volume expansion"),
        "{message}"
    );
    assert_eq!(size(&e), "10Gi");
    // Back to the live size: clean.
    e.edit_spec("demo", |s| s["broker"]["storage"]["size"] = json!("10Gi"));
    e.reconcile("demo").await;
    assert_eq!(e.condition("demo", "Degraded").0, "False");
}

#[tokio::test]
async fn masters_only_gets_one_budget_and_switching_prunes_the_other_kind() {
    let e = env();
    e.put_cr(cluster("demo", json!({"broker": {"groups": 2}})));
    e.reconcile("demo").await;
    let pdbs = |e: &Env| -> Vec<String> {
        let s = e.state.lock().unwrap();
        s.objects
            .keys()
            .filter(|(r, _, _)| r == "poddisruptionbudgets")
            .map(|(_, _, n)| n.clone())
            .collect()
    };
    assert_eq!(pdbs(&e), ["demo-broker", "demo-namesrv"]);
    e.edit_spec("demo", |s| s["broker"]["replicasPerGroup"] = json!(1));
    e.reconcile("demo").await;
    assert_eq!(pdbs(&e), ["demo-broker-0", "demo-broker-1", "demo-namesrv"]);
    e.edit_spec("demo", |s| {
        s["broker"]["podDisruptionBudget"] = json!({"enabled": false});
        s["nameServer"] = json!({"podDisruptionBudget": {"maxUnavailable": 2}});
    });
    e.reconcile("demo").await;
    assert_eq!(pdbs(&e), ["demo-namesrv"]);
    let s = e.state.lock().unwrap();
    assert_eq!(
        s.get("poddisruptionbudgets", NS, "demo-namesrv").unwrap()["spec"]["maxUnavailable"],
        2
    );
}

/// A failover cluster whose master is ordinal 1 (after a failover, as the roles ConfigMap
/// says): the StatefulSet is `OnDelete`, the roll deletes the slave (ordinal 0) first, asks
/// whether it caught up with the master at ordinal 1, then deletes the master last; the status
/// names ordinal 1 as master throughout.
#[tokio::test]
async fn failover_roll_deletes_the_slave_first_and_the_current_master_last() {
    let e = env();
    e.put_cr(cluster(
        "demo",
        json!({"broker": {"groups": 1, "replicasPerGroup": 1, "failover": {"enabled": true}}}),
    ));
    e.reconcile("demo").await;
    assert_eq!(
        e.sts("demo-broker-0")["spec"]["updateStrategy"]["type"],
        "OnDelete"
    );
    e.all_ready();
    // The failover loop's record: ordinal 1 is master in epoch 2.
    e.state.lock().unwrap().put(
        "configmaps",
        NS,
        "demo-broker-0-roles",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "demo-broker-0-roles", "namespace": NS,
                            "labels": names::labels("demo", names::Component::Broker, Some(0), "x")},
               "data": {names::ROLES_KEY: "epoch=2\ndemo-broker-0-0=1\ndemo-broker-0-1=0\n"}}),
    );
    e.reconcile("demo").await;
    let master = &e.status("demo")["groups"][0]["master"];
    assert_eq!(master["pod"], "demo-broker-0-1");
    assert_eq!(e.status("demo")["groups"][0]["epoch"], 2);
    e.edit_spec("demo", |s| s["image"] = json!("rocketmq-rs:0.2"));
    let deleted = |e: &Env| -> Vec<String> {
        e.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|c| c.resource == "pods" && c.method == "DELETE")
            .map(|c| c.name.clone().unwrap_or_default())
            .collect()
    };
    // The first pass applies the new template only (a pod deleted now would come back old).
    e.reconcile("demo").await;
    assert!(deleted(&e).is_empty());
    let new = e.template_hash("demo-broker-0");
    // Then the slave, ordinal 0, goes first.
    e.reconcile("demo").await;
    assert_eq!(deleted(&e), vec!["demo-broker-0-0"]);
    assert_eq!(e.condition("demo", "Progressing").1, "RollingSlaves");
    // Back on the new template: the master at ordinal 1 waits for the catch-up answer.
    e.pod("demo-broker-0", 0, &new, true);
    e.admin_calls();
    e.reconcile("demo").await;
    assert_eq!(
        e.admin_calls(),
        vec!["caught_up 10.0.0.1:10911 10.0.0.0:10911"]
    );
    assert_eq!(deleted(&e), vec!["demo-broker-0-0"]);
    *e.admin.caught_up.lock().unwrap() = true;
    e.reconcile("demo").await;
    assert_eq!(deleted(&e), vec!["demo-broker-0-0", "demo-broker-0-1"]);
    assert_eq!(e.condition("demo", "Progressing").1, "RollingMaster");
    e.pod("demo-broker-0", 1, &new, true);
    e.reconcile("demo").await;
    assert_eq!(e.condition("demo", "Progressing").1, "Stable");
    assert_eq!(deleted(&e).len(), 2, "each pod deleted once");
}
