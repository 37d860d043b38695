//! Roll simulation: the real `reconcile` against the fake API server, with this module playing
//! the StatefulSet controller and the kubelet on a simulated clock, and a broker that takes
//! [`Sim::stop_secs`] to stop (pods stay Terminating that long, then disappear, come back not
//! Ready, then Ready). Operator restarts (a fresh [`Context`]: no memory) and API errors are
//! injected mid-roll.
//!
//! The StatefulSet controller model follows `stateful_set_control.go` for `Parallel` pod
//! management and `RollingUpdate` with a partition: missing pods are created at once, from the
//! update revision when their ordinal is `>= partition`, else from the current revision; one pod
//! at a time (highest ordinal first, every pod Ready) whose ordinal is `>= partition` and whose
//! revision is not the update revision is deleted; once every pod runs the update revision it
//! becomes the current one.
//!
//! Checked on every tick: every pod's config revision (ConfigMap) exists. Checked at the end:
//! the roll finished, every pod was deleted exactly once per change, each StatefulSet's
//! partition never went up after the change was written, groups rolled in index order, slaves
//! before their master, a master only after its slaves ran the new template and were Ready.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::admin::BrokerAdmin;
use crate::controller::{BACKOFF_MAX, Context, backoff_delay, error_policy, reconcile};
use crate::crd::RocketMQCluster;
use crate::error::Result;
use crate::fixtures::{State, fake_api};
use crate::names;
use kube::runtime::controller::Action;

const NS: &str = "rmq";
const CRS: &str = "rocketmqclusters";

/// One simulated pod.
#[derive(Clone, Debug)]
struct SimPod {
    revision: String,
    /// Ready from this second on.
    ready_at: u64,
    /// Terminating since this second.
    terminating_since: Option<u64>,
    ip: String,
}

/// Simulated cluster state, shared with the admin answers.
#[derive(Default)]
struct World {
    now: u64,
    /// pod name → pod.
    pods: BTreeMap<String, SimPod>,
    /// StatefulSet name → current revision (what held pods are re-created from).
    current: BTreeMap<String, String>,
    /// revision hash → pod template (as the operator wrote it).
    templates: BTreeMap<String, Value>,
    /// Every pod deletion the StatefulSet controller made: (second, pod, revision it ran).
    deletions: Vec<(u64, String, String)>,
    /// Pod became Ready on a revision: (second, pod, revision).
    readies: Vec<(u64, String, String)>,
    /// Partition history per StatefulSet: (second, template hash, partition).
    partitions: BTreeMap<String, Vec<(u64, String, i64)>>,
    /// Violations found during the run.
    violations: Vec<String>,
    /// Ordinal-0 deletions, with whether the group's slaves ran the update revision and were
    /// Ready at that moment.
    master_deletions: Vec<(u64, String, bool)>,
    ip_counter: u32,
}

/// Answers admin questions from the simulated world: slaves caught up once Ready for
/// `catch_up_secs`; a master registered once Ready for `register_secs`.
struct SimAdmin {
    world: Arc<Mutex<World>>,
    catch_up_secs: u64,
    register_secs: u64,
    /// Injected admin failures (count).
    fail_caught_up: Mutex<u32>,
    calls: Mutex<Vec<String>>,
}

impl SimAdmin {
    fn ready_for(&self, ip_port: &str) -> Option<u64> {
        let ip = ip_port.split(':').next()?;
        let w = self.world.lock().unwrap();
        let p = w.pods.values().find(|p| p.ip == ip)?;
        if p.terminating_since.is_some() || w.now < p.ready_at {
            return None;
        }
        Some(w.now - p.ready_at)
    }
}

impl BrokerAdmin for SimAdmin {
    fn slaves_caught_up<'a>(
        &'a self,
        master: &'a str,
        slaves: &'a [String],
    ) -> BoxFuture<'a, Result<bool>> {
        async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("caught_up {master}"));
            {
                let mut f = self.fail_caught_up.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    return Err(crate::Error::Admin {
                        addr: master.to_string(),
                        message: "injected: connection refused".into(),
                    });
                }
            }
            Ok(self.ready_for(master).is_some()
                && slaves
                    .iter()
                    .all(|s| self.ready_for(s).is_some_and(|t| t >= self.catch_up_secs)))
        }
        .boxed()
    }
    fn copy_topics<'a>(
        &'a self,
        _from: &'a str,
        _to: &'a str,
        _skip: &'a [String],
    ) -> BoxFuture<'a, Result<usize>> {
        async move { Ok(0) }.boxed()
    }
    fn is_drained<'a>(&'a self, _master: &'a str) -> BoxFuture<'a, Result<bool>> {
        async move { Ok(false) }.boxed()
    }
    fn master_registered<'a>(
        &'a self,
        namesrv: &'a str,
        _cluster: &'a str,
        broker_name: &'a str,
        master_addr: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool>> {
        async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("registered {broker_name}"));
            // Asked at the name server pod's IP, not a DNS name.
            assert_eq!(namesrv, "10.2.0.1:9876");
            Ok(master_addr
                .and_then(|m| self.ready_for(m))
                .is_some_and(|t| t >= self.register_secs))
        }
        .boxed()
    }
}

/// The simulation: settings, fake API, world.
struct Sim {
    state: Arc<Mutex<State>>,
    client: kube::Client,
    world: Arc<Mutex<World>>,
    admin: Arc<SimAdmin>,
    ctx: Arc<Context>,
    /// Seconds a broker takes to stop (Terminating).
    stop_secs: u64,
    /// Seconds from creation to Ready.
    start_secs: u64,
    /// Seconds between reconciles (watch events in a real controller come at least this often
    /// while pods change).
    reconcile_every: u64,
    next_reconcile: u64,
    reconciles: u32,
    errors: u32,
    restarts: u32,
}

impl Sim {
    fn new(stop_secs: u64) -> Sim {
        let (client, state) = fake_api();
        let world = Arc::new(Mutex::new(World::default()));
        let admin = Arc::new(SimAdmin {
            world: world.clone(),
            catch_up_secs: 4,
            register_secs: 2,
            fail_caught_up: Mutex::new(0),
            calls: Mutex::new(Vec::new()),
        });
        let ctx = Arc::new(Context::new(client.clone(), admin.clone()));
        Sim {
            state,
            client,
            world,
            admin,
            ctx,
            stop_secs,
            start_secs: 5,
            reconcile_every: 2,
            next_reconcile: 0,
            reconciles: 0,
            errors: 0,
            restarts: 0,
        }
    }

    /// A fresh operator process: a new context (no memory of earlier reconciles).
    fn restart_operator(&mut self) {
        self.ctx = Arc::new(Context::new(self.client.clone(), self.admin.clone()));
        self.restarts += 1;
    }

    fn put_cr(&self, name: &str, spec: Value) {
        let cr = json!({
            "apiVersion": "rocketmq.rocketmq-rs.io/v1alpha1",
            "kind": "RocketMQCluster",
            "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1},
            "spec": spec,
        });
        self.state.lock().unwrap().put(CRS, NS, name, cr);
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

    fn condition(&self, name: &str, type_: &str) -> (String, String) {
        let st = self.status(name);
        st["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or("").to_string(),
                    c["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .unwrap_or_default()
    }

    fn stateful_sets(&self) -> Vec<(String, Value)> {
        let s = self.state.lock().unwrap();
        s.objects
            .iter()
            .filter(|((r, _, _), _)| r == "statefulsets")
            .map(|((_, _, n), o)| (n.clone(), o.clone()))
            .collect()
    }

    /// One simulated second: kubelet, StatefulSet controller, maybe a reconcile.
    async fn tick(&mut self, cluster: &str) {
        let now = {
            let mut w = self.world.lock().unwrap();
            w.now += 1;
            w.now
        };
        self.kubelet(now);
        self.statefulset_controller(now);
        self.namesrv_ready();
        self.publish_pods();
        self.check_config_revisions();
        if now >= self.next_reconcile {
            self.reconcile(cluster, now).await;
        }
    }

    fn kubelet(&self, now: u64) {
        let mut w = self.world.lock().unwrap();
        let stop = self.stop_secs;
        let gone: Vec<String> = w
            .pods
            .iter()
            .filter(|(_, p)| p.terminating_since.is_some_and(|t| now >= t + stop))
            .map(|(n, _)| n.clone())
            .collect();
        for n in gone {
            w.pods.remove(&n);
        }
        let became_ready: Vec<(String, String)> = w
            .pods
            .iter()
            .filter(|(_, p)| p.terminating_since.is_none() && p.ready_at == now)
            .map(|(n, p)| (n.clone(), p.revision.clone()))
            .collect();
        for (n, r) in became_ready {
            w.readies.push((now, n, r));
        }
    }

    fn statefulset_controller(&self, now: u64) {
        for (name, sts) in self.stateful_sets() {
            let replicas = sts["spec"]["replicas"].as_u64().unwrap_or(0) as u32;
            let partition = sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
                .as_i64()
                .unwrap_or(0);
            let template = sts["spec"]["template"].clone();
            let update = template["metadata"]["annotations"][names::CONFIG_HASH_ANNOTATION]
                .as_str()
                .unwrap_or("")
                .to_string();
            let mut w = self.world.lock().unwrap();
            w.templates.insert(update.clone(), template.clone());
            let hist = w.partitions.entry(name.clone()).or_default();
            if hist.last().map(|(_, h, p)| (h.clone(), *p)) != Some((update.clone(), partition)) {
                hist.push((now, update.clone(), partition));
            }
            let current = w
                .current
                .entry(name.clone())
                .or_insert_with(|| update.clone())
                .clone();
            // Create missing pods (Parallel), from the revision their ordinal gets.
            for ord in 0..replicas {
                let pod = format!("{name}-{ord}");
                if !w.pods.contains_key(&pod) {
                    let revision = if i64::from(ord) >= partition {
                        update.clone()
                    } else {
                        current.clone()
                    };
                    w.ip_counter += 1;
                    let ip = format!("10.1.{}.{}", w.ip_counter / 250, w.ip_counter % 250);
                    w.pods.insert(
                        pod,
                        SimPod {
                            revision,
                            ready_at: now + self.start_secs,
                            terminating_since: None,
                            ip,
                        },
                    );
                }
            }
            // Scale down: delete pods beyond replicas.
            let extra: Vec<String> = w
                .pods
                .keys()
                .filter(|p| {
                    p.strip_prefix(&format!("{name}-"))
                        .and_then(|o| o.parse::<u32>().ok())
                        .is_some_and(|o| o >= replicas)
                })
                .cloned()
                .collect();
            for p in extra {
                if let Some(pod) = w.pods.get_mut(&p)
                    && pod.terminating_since.is_none()
                {
                    pod.terminating_since = Some(now);
                }
            }
            // Rolling update: one at a time, every pod healthy first.
            let healthy = (0..replicas).all(|o| {
                w.pods
                    .get(&format!("{name}-{o}"))
                    .is_some_and(|p| p.terminating_since.is_none() && now >= p.ready_at)
            });
            if healthy {
                let target = (0..replicas).rev().find(|&o| {
                    i64::from(o) >= partition && w.pods[&format!("{name}-{o}")].revision != update
                });
                if let Some(o) = target {
                    let pod = format!("{name}-{o}");
                    let revision = w.pods[&pod].revision.clone();
                    if o == 0 {
                        let slaves_ready = (1..replicas).all(|s| {
                            w.pods
                                .get(&format!("{name}-{s}"))
                                .is_some_and(|p| p.revision == update && now >= p.ready_at)
                        });
                        w.master_deletions.push((now, name.clone(), slaves_ready));
                    }
                    if let Some(p) = w.pods.get_mut(&pod) {
                        p.terminating_since = Some(now);
                    }
                    w.deletions.push((now, pod, revision));
                } else if (0..replicas).all(|o| w.pods[&format!("{name}-{o}")].revision == update) {
                    w.current.insert(name.clone(), update.clone());
                }
            }
            // Status as the real controller reports it.
            let current = w.current[&name].clone();
            let mut st = self.state.lock().unwrap();
            let key = ("statefulsets".to_string(), NS.to_string(), name.clone());
            if let Some(obj) = st.objects.get_mut(&key) {
                obj["status"] = json!({"currentRevision": current, "updateRevision": update,
                                       "replicas": replicas});
            }
        }
    }

    fn namesrv_ready(&self) {
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
            // One Ready name server pod (the operator asks it about registrations).
            let labels = o["spec"]["template"]["metadata"]["labels"].clone();
            let name = format!("{}-abc", k.2);
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": NS, "labels": labels},
                "status": {"podIP": "10.2.0.1",
                           "conditions": [{"type": "Ready", "status": "True"}]}});
            s.put("pods", NS, &name, pod);
        }
    }

    /// Writes the simulated pods into the fake API server.
    fn publish_pods(&self) {
        let w = self.world.lock().unwrap();
        let mut s = self.state.lock().unwrap();
        s.objects
            .retain(|(r, _, n), _| r != "pods" || !n.contains("-broker-"));
        for (name, p) in &w.pods {
            let Some(tpl) = w.templates.get(&p.revision) else {
                continue;
            };
            let ready = p.terminating_since.is_none() && w.now >= p.ready_at;
            let mut meta = json!({
                "name": name, "namespace": NS,
                "labels": tpl["metadata"]["labels"].clone(),
                "annotations": tpl["metadata"]["annotations"].clone(),
                "creationTimestamp": "2026-01-01T00:00:00Z",
            });
            if p.terminating_since.is_some() {
                meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": meta,
                "spec": {"containers": [{"name": "broker"}], "volumes": tpl["spec"]["volumes"].clone()},
                "status": {"podIP": p.ip,
                           "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
            });
            s.put("pods", NS, name, pod);
        }
    }

    /// Every pod (held, crashed and re-created ones included) finds its config revision.
    fn check_config_revisions(&self) {
        let mut w = self.world.lock().unwrap();
        let s = self.state.lock().unwrap();
        let mut missing = Vec::new();
        for (name, p) in &w.pods {
            if p.terminating_since.is_some() {
                continue;
            }
            let Some(tpl) = w.templates.get(&p.revision) else {
                continue;
            };
            for v in tpl["spec"]["volumes"].as_array().into_iter().flatten() {
                if let Some(cm) = v["configMap"]["name"].as_str()
                    && s.get("configmaps", NS, cm).is_none()
                {
                    missing.push(format!(
                        "t={} pod {name} needs missing ConfigMap {cm}",
                        w.now
                    ));
                }
            }
        }
        w.violations.extend(missing);
    }

    async fn reconcile(&mut self, name: &str, now: u64) {
        let cr: RocketMQCluster = {
            let s = self.state.lock().unwrap();
            serde_json::from_value(s.get(CRS, NS, name).unwrap().clone()).unwrap()
        };
        let cr = Arc::new(cr);
        self.reconciles += 1;
        match reconcile(cr.clone(), self.ctx.clone()).await {
            Ok(_) => self.next_reconcile = now + self.reconcile_every,
            Err(e) => {
                self.errors += 1;
                let action = error_policy(cr, &e, self.ctx.clone());
                // `Action` hides its delay: find which step of the backoff it is.
                let delay = (1..=32)
                    .map(backoff_delay)
                    .find(|d| Action::requeue(*d) == action)
                    .unwrap_or(BACKOFF_MAX);
                self.next_reconcile = now + delay.as_secs();
            }
        }
    }

    /// Runs until `done` holds (checked after each tick) or `limit` seconds pass.
    async fn run_until(
        &mut self,
        cluster: &str,
        limit: u64,
        mut hook: impl FnMut(&mut Sim, u64),
        done: impl Fn(&Sim) -> bool,
    ) -> Option<u64> {
        let start = self.world.lock().unwrap().now;
        loop {
            self.tick(cluster).await;
            let now = self.world.lock().unwrap().now;
            hook(self, now - start);
            if done(self) {
                return Some(now - start);
            }
            if now - start >= limit {
                return None;
            }
        }
    }

    /// Every desired pod runs its StatefulSet's template, is Ready, and the status is Stable.
    fn settled(&self, cluster: &str) -> bool {
        let w = self.world.lock().unwrap();
        let stss = self.stateful_sets();
        let pods_ok = stss.iter().all(|(name, sts)| {
            let replicas = sts["spec"]["replicas"].as_u64().unwrap_or(0) as u32;
            let h = sts["spec"]["template"]["metadata"]["annotations"]
                [names::CONFIG_HASH_ANNOTATION]
                .as_str()
                .unwrap_or("");
            (0..replicas).all(|o| {
                w.pods.get(&format!("{name}-{o}")).is_some_and(|p| {
                    p.revision == h && p.terminating_since.is_none() && w.now >= p.ready_at
                })
            })
        });
        drop(w);
        let current_generation = {
            let s = self.state.lock().unwrap();
            let cr = s.get(CRS, NS, cluster).unwrap();
            cr["status"]["observedGeneration"] == cr["metadata"]["generation"]
        };
        pods_ok
            && !stss.is_empty()
            && current_generation
            && self.condition(cluster, "Progressing").1 == "Stable"
    }

    /// Deletions since second `from`.
    fn deletions_since(&self, from: u64) -> Vec<(u64, String, String)> {
        self.world
            .lock()
            .unwrap()
            .deletions
            .iter()
            .filter(|d| d.0 > from)
            .cloned()
            .collect()
    }

    fn now(&self) -> u64 {
        self.world.lock().unwrap().now
    }
}

fn async_2m_2s() -> Value {
    json!({"image": "rocketmq-rs:v1", "nameServer": {"replicas": 1},
           "broker": {"groups": 2, "replicasPerGroup": 1, "replication": "async",
                      "storage": {"size": "10Gi"}}})
}

/// Checks of a finished roll that started at second `from`, for `pods` (every broker pod).
fn check_roll(sim: &Sim, from: u64, pods: &[&str]) {
    let w = sim.world.lock().unwrap();
    assert!(w.violations.is_empty(), "{:#?}", w.violations);
    // Each pod deleted exactly once.
    let mut count: BTreeMap<&str, u32> = BTreeMap::new();
    for (t, p, _) in &w.deletions {
        if *t > from {
            *count.entry(p.as_str()).or_default() += 1;
        }
    }
    for p in pods {
        assert_eq!(count.get(p), Some(&1), "{p} deletions: {count:?}");
    }
    assert_eq!(count.len(), pods.len(), "{count:?}");
    // Partition never goes up while the template stays the same.
    for (sts, hist) in &w.partitions {
        for pair in hist.windows(2) {
            let ((_, h1, p1), (t2, h2, p2)) = (&pair[0], &pair[1]);
            if h1 == h2 {
                assert!(
                    p2 <= p1,
                    "{sts}: partition raised {p1} -> {p2} at t={t2}: {hist:?}"
                );
            }
        }
    }
    // Groups in index order; slaves before their master; a master only with its slaves new
    // and Ready.
    let order: Vec<&str> = w
        .deletions
        .iter()
        .filter(|d| d.0 > from)
        .map(|d| d.1.as_str())
        .collect();
    let pos = |p: &str| order.iter().position(|x| *x == p).unwrap();
    let groups: BTreeMap<&str, Vec<&str>> = pods.iter().fold(BTreeMap::new(), |mut m, p| {
        m.entry(&p[..p.rfind('-').unwrap()]).or_default().push(*p);
        m
    });
    let mut last_of_previous: Option<usize> = None;
    for (g, members) in &groups {
        let first = members.iter().map(|p| pos(p)).min().unwrap();
        let last = members.iter().map(|p| pos(p)).max().unwrap();
        if let Some(prev) = last_of_previous {
            assert!(
                prev < first,
                "group {g} started before the previous finished: {order:?}"
            );
        }
        last_of_previous = Some(last);
        let master = format!("{g}-0");
        assert_eq!(order[last], master, "master of {g} not last: {order:?}");
    }
    for (t, sts, slaves_ready) in &w.master_deletions {
        if *t > from {
            assert!(
                slaves_ready,
                "master of {sts} deleted at t={t} before its slaves were new and Ready"
            );
        }
    }
}

/// Prints when each pod was deleted and Ready again during the roll.
fn print_timings(sim: &Sim, label: &str, from: u64, total: u64) {
    let w = sim.world.lock().unwrap();
    println!(
        "{label}: roll took {total} s (stop {} s, start {} s, {} reconciles, {} failed, {} operator restarts)",
        sim.stop_secs, sim.start_secs, sim.reconciles, sim.errors, sim.restarts
    );
    for (t, p, _) in w.deletions.iter().filter(|d| d.0 > from) {
        let back = w
            .readies
            .iter()
            .find(|(rt, rp, _)| rp == p && rt > t)
            .map(|(rt, _, _)| *rt);
        println!(
            "  {p:<24} deleted at +{:>3} s, Ready again at +{:>3} s (down {} s)",
            t - from,
            back.map_or(0, |b| b - from),
            back.map_or(0, |b| b - t)
        );
    }
}

/// The wedge of issue 12: an image roll of 2m-2s-async with a broker that takes 12 s to stop,
/// the operator restarted twice mid-roll and API errors injected. Without the state machine
/// the master of group 0 was deleted over and over and the roll never finished.
#[tokio::test]
async fn image_roll_with_slow_stop_restarts_and_api_errors_finishes_once_per_pod() {
    let mut sim = Sim::new(12);
    sim.put_cr("demo", async_2m_2s());
    let created = sim
        .run_until("demo", 120, |_, _| {}, |s| s.settled("demo"))
        .await;
    assert!(
        created.is_some(),
        "cluster never came up: {:?}",
        sim.status("demo")
    );
    let from = sim.now();
    sim.edit_spec("demo", |s| s["image"] = json!("rocketmq-rs:v2"));
    let took = sim
        .run_until(
            "demo",
            900,
            |s, t| match t {
                // Mid slave replacement of group 0: the operator restarts.
                8 => s.restart_operator(),
                // While group 0's master is terminating: StatefulSet writes and pod lists fail.
                30 => {
                    s.state.lock().unwrap().fail =
                        vec![("PATCH statefulsets".into(), 2), ("GET pods".into(), 1)];
                    *s.admin.fail_caught_up.lock().unwrap() = 1;
                }
                // In group 1: another restart.
                60 => s.restart_operator(),
                _ => {}
            },
            |s| s.now() > from + 3 && s.settled("demo"),
        )
        .await;
    let Some(took) = took else {
        panic!(
            "roll did not finish: status {:#?}\ndeletions {:?}",
            sim.status("demo"),
            sim.deletions_since(from)
        );
    };
    print_timings(&sim, "2m-2s-async image roll, 12 s broker stop", from, took);
    check_roll(
        &sim,
        from,
        &[
            "demo-broker-0-0",
            "demo-broker-0-1",
            "demo-broker-1-0",
            "demo-broker-1-1",
        ],
    );
    assert!(
        sim.errors >= 1,
        "the injected API errors must have hit a reconcile"
    );
    assert_eq!(sim.condition("demo", "Degraded").0, "False");
}

/// Masters only: one master at a time, each waiting for the previous one to be Ready and
/// registered with the name server.
#[tokio::test]
async fn masters_only_roll_one_master_at_a_time_after_registration() {
    let mut sim = Sim::new(12);
    sim.admin_register_secs(6);
    sim.put_cr(
        "mo",
        json!({"image": "rocketmq-rs:v1", "broker": {"groups": 3, "replicasPerGroup": 0}}),
    );
    assert!(
        sim.run_until("mo", 120, |_, _| {}, |s| s.settled("mo"))
            .await
            .is_some()
    );
    let from = sim.now();
    sim.edit_spec("mo", |s| s["image"] = json!("rocketmq-rs:v2"));
    let took = sim
        .run_until(
            "mo",
            900,
            |_, _| {},
            |s| s.now() > from + 3 && s.settled("mo"),
        )
        .await
        .expect("roll finishes");
    print_timings(&sim, "3m-noslave image roll, 12 s broker stop", from, took);
    let pods = ["mo-broker-0-0", "mo-broker-1-0", "mo-broker-2-0"];
    check_roll(&sim, from, &pods);
    // Each master deleted only once the previous one was Ready and registered for 6 s.
    let w = sim.world.lock().unwrap();
    for pair in pods.windows(2) {
        let ready_prev = w
            .readies
            .iter()
            .find(|(t, p, _)| *t > from && p == pair[0])
            .map(|r| r.0)
            .unwrap();
        let deleted_next = w
            .deletions
            .iter()
            .find(|(t, p, _)| *t > from && p == pair[1])
            .map(|d| d.0)
            .unwrap();
        assert!(
            deleted_next >= ready_prev + 6,
            "{} deleted at {deleted_next}, {} Ready at {ready_prev}",
            pair[1],
            pair[0]
        );
    }
}

/// Adding a slave creates a pod and restarts no existing broker.
#[tokio::test]
async fn adding_a_slave_restarts_no_existing_broker() {
    let mut sim = Sim::new(12);
    sim.put_cr("demo", async_2m_2s());
    assert!(
        sim.run_until("demo", 120, |_, _| {}, |s| s.settled("demo"))
            .await
            .is_some()
    );
    let from = sim.now();
    sim.edit_spec("demo", |s| s["broker"]["replicasPerGroup"] = json!(2));
    sim.run_until(
        "demo",
        120,
        |_, _| {},
        |s| s.now() > from + 3 && s.settled("demo"),
    )
    .await
    .expect("scale-out finishes");
    assert_eq!(sim.deletions_since(from), vec![]);
    let w = sim.world.lock().unwrap();
    assert!(w.pods.contains_key("demo-broker-0-2") && w.pods.contains_key("demo-broker-1-2"));
}

/// A held group keeps its config revision: its pods crash and come back mid-roll from the old
/// revision, whose ConfigMap must still exist (checked every tick), and old revisions are
/// removed once the roll is over.
#[tokio::test]
async fn held_groups_keep_their_config_revision_until_their_turn() {
    let mut sim = Sim::new(12);
    sim.put_cr("demo", async_2m_2s());
    assert!(
        sim.run_until("demo", 120, |_, _| {}, |s| s.settled("demo"))
            .await
            .is_some()
    );
    let old_cms = config_maps(&sim);
    let from = sim.now();
    sim.edit_spec("demo", |s| {
        s["broker"]["config"] = json!({"deleteWhen": "03"})
    });
    let mut crashed_revision = None;
    sim.run_until(
        "demo",
        900,
        |s, t| {
            if t == 10 {
                // Group 1 is held: its master crashes and is re-created by the StatefulSet.
                let mut w = s.world.lock().unwrap();
                crashed_revision = w.pods.get("demo-broker-1-0").map(|p| p.revision.clone());
                w.pods.remove("demo-broker-1-0");
            }
            if t == 11 {
                let w = s.world.lock().unwrap();
                let pod = w.pods.get("demo-broker-1-0").unwrap();
                assert_eq!(
                    Some(&pod.revision),
                    crashed_revision.as_ref(),
                    "a held pod came back on the new template early"
                );
                // And the config its template mounts is still the old one.
                let tpl = &w.templates[&pod.revision];
                let cm = tpl["spec"]["volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find_map(|v| v["configMap"]["name"].as_str())
                    .unwrap();
                let st = s.state.lock().unwrap();
                let conf = st.get("configmaps", NS, cm).unwrap()["data"]["broker-master.conf"]
                    .as_str()
                    .unwrap()
                    .to_string();
                assert!(
                    !conf.contains("deleteWhen=03"),
                    "a held pod reads the new config: {cm}"
                );
            }
        },
        |s| s.now() > from + 3 && s.settled("demo"),
    )
    .await
    .expect("config roll finishes");
    assert!(sim.world.lock().unwrap().violations.is_empty());
    let new_cms = config_maps(&sim);
    assert!(
        old_cms.iter().all(|c| !new_cms.contains(c)),
        "old revisions pruned: {old_cms:?} {new_cms:?}"
    );
    assert_eq!(new_cms.len(), 2, "{new_cms:?}");
}

fn config_maps(sim: &Sim) -> Vec<String> {
    let s = sim.state.lock().unwrap();
    s.objects
        .keys()
        .filter(|(r, _, n)| r == "configmaps" && n.starts_with("demo-broker-"))
        .map(|(_, _, n)| n.clone())
        .collect()
}

impl Sim {
    fn admin_register_secs(&mut self, secs: u64) {
        let admin = Arc::new(SimAdmin {
            world: self.world.clone(),
            catch_up_secs: self.admin.catch_up_secs,
            register_secs: secs,
            fail_caught_up: Mutex::new(0),
            calls: Mutex::new(Vec::new()),
        });
        self.admin = admin;
        self.ctx = Arc::new(Context::new(self.client.clone(), self.admin.clone()));
    }
}

/// A second change while the first one's master is stopping: the master comes back on the
/// newest template (replaced once), the slave is replaced once per change, the held group once.
#[tokio::test]
async fn a_second_change_mid_roll_replaces_the_stopping_master_once() {
    let mut sim = Sim::new(12);
    sim.put_cr("demo", async_2m_2s());
    assert!(
        sim.run_until("demo", 120, |_, _| {}, |s| s.settled("demo"))
            .await
            .is_some()
    );
    let from = sim.now();
    sim.edit_spec("demo", |s| s["image"] = json!("rocketmq-rs:v2"));
    let mut changed = false;
    let took = sim
        .run_until(
            "demo",
            900,
            |s, _| {
                let stopping = s
                    .world
                    .lock()
                    .unwrap()
                    .pods
                    .get("demo-broker-0-0")
                    .is_some_and(|p| p.terminating_since.is_some());
                if stopping && !changed {
                    changed = true;
                    s.edit_spec("demo", |spec| spec["image"] = json!("rocketmq-rs:v3"));
                }
            },
            |s| s.now() > from + 3 && s.settled("demo"),
        )
        .await
        .expect("both changes finish");
    assert!(changed);
    print_timings(
        &sim,
        "2m-2s-async, second image change mid-roll",
        from,
        took,
    );
    let w = sim.world.lock().unwrap();
    assert!(w.violations.is_empty(), "{:#?}", w.violations);
    let count = |pod: &str| {
        w.deletions
            .iter()
            .filter(|d| d.0 > from && d.1 == pod)
            .count()
    };
    assert_eq!(count("demo-broker-0-0"), 1, "{:?}", w.deletions);
    assert_eq!(count("demo-broker-0-1"), 2, "{:?}", w.deletions);
    assert_eq!(count("demo-broker-1-0"), 1, "{:?}", w.deletions);
    assert_eq!(count("demo-broker-1-1"), 1, "{:?}", w.deletions);
    // The master never ran the intermediate or the old template again after its release.
    let final_rev = w.pods["demo-broker-0-0"].revision.clone();
    assert!(
        w.readies
            .iter()
            .filter(|r| r.0 > from && r.1 == "demo-broker-0-0")
            .all(|r| r.2 == final_rev),
        "{:?}",
        w.readies
    );
}

/// The same roll when nothing but the busy requeue (10 s) triggers reconciles (no watch events):
/// slower, same guarantees.
#[tokio::test]
async fn image_roll_with_only_the_busy_requeue_keeps_every_guarantee() {
    let mut sim = Sim::new(12);
    sim.reconcile_every = crate::controller::REQUEUE_BUSY.as_secs();
    sim.put_cr("demo", async_2m_2s());
    assert!(
        sim.run_until("demo", 300, |_, _| {}, |s| s.settled("demo"))
            .await
            .is_some()
    );
    let from = sim.now();
    sim.edit_spec("demo", |s| s["image"] = json!("rocketmq-rs:v2"));
    let took = sim
        .run_until(
            "demo",
            1800,
            |s, t| {
                if t == 40 {
                    s.restart_operator();
                }
            },
            |s| s.now() > from + 3 && s.settled("demo"),
        )
        .await
        .expect("roll finishes");
    print_timings(
        &sim,
        "2m-2s-async image roll, 12 s stop, 10 s reconcile period",
        from,
        took,
    );
    check_roll(
        &sim,
        from,
        &[
            "demo-broker-0-0",
            "demo-broker-0-1",
            "demo-broker-1-0",
            "demo-broker-1-1",
        ],
    );
}
