//! Test support for the real-control-plane suite: the control plane itself
//! ([`control_plane`]), the operator's manifests installed once, a namespace per test, the real
//! operator binary run as its own ServiceAccount, and a stand-in kubelet.

#![allow(dead_code)]

/// The shared control plane, or `SKIPPED` and an early return from the test when the binaries
/// are missing.
macro_rules! control_plane_or_skip {
    () => {
        match support::installed() {
            Some(cp) => cp,
            None => {
                eprintln!(
                    "SKIPPED (no kube-apiserver at {})",
                    support::control_plane::bin_dir().display()
                );
                return;
            }
        }
    };
}

pub mod control_plane;

/// A custom resource of this project's API group from its kind, name and spec.
pub fn custom<T: serde::de::DeserializeOwned>(
    kind: &str,
    name: &str,
    spec: serde_json::Value,
) -> T {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "rocketmq.rocketmq-rs.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("{kind} {name}: {e}"))
}

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use control_plane::{ControlPlane, Process};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use operator::crd::RocketMQCluster;

/// Namespace and ServiceAccount of the operator in `deploy/operator.yaml`.
pub const OPERATOR_NS: &str = "rocketmq-system";
/// The operator's ServiceAccount.
pub const OPERATOR_SA: &str = "rocketmq-operator";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("operator/ has a parent")
        .to_path_buf()
}

/// The control plane with `deploy/operator.yaml` applied (once per test binary), or `None`
/// when the binaries are missing (the caller returns: the test is skipped).
pub fn installed() -> Option<&'static ControlPlane> {
    let cp = control_plane::shared()?;
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let r = INSTALLED.get_or_init(|| {
        let manifest = repo().join("deploy/operator.yaml");
        cp.kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager=kube-test-install",
                "-f",
                manifest.to_str().unwrap_or_default(),
            ],
            None,
        )?;
        cp.kubectl(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/rocketmqclusters.rocketmq.rocketmq-rs.io",
            ],
            None,
        )?;
        Ok(())
    });
    if let Err(e) = r {
        panic!("deploy/operator.yaml did not apply on the real API server: {e}");
    }
    Some(cp)
}

/// Creates a fresh namespace `<prefix>-<n>`.
pub fn namespace(cp: &ControlPlane, prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let ns = format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed));
    cp.kubectl(&["create", "namespace", &ns], None)
        .expect("create namespace");
    ns
}

/// Polls `f` every 250 ms until it returns `Ok`, or panics after `timeout` with `what` and the
/// last state `f` reported.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    match poll_until(timeout, f).await {
        Ok(v) => v,
        Err(last) => panic!("timed out after {timeout:?} waiting for {what}; last: {last}"),
    }
}

/// Polls `f` every 250 ms until it returns `Ok`; after `timeout`, the last error.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if start.elapsed() > timeout {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The real operator binary, authenticated as the ServiceAccount of `deploy/operator.yaml`.
pub struct Operator {
    /// The process.
    pub process: Process,
    /// Its identity (POD_NAME): the Lease holder and the Events' reportingInstance.
    pub identity: String,
}

impl Operator {
    /// Starts `operator run --namespace <watch>` as `identity`, with `extra` arguments.
    pub fn start(cp: &ControlPlane, watch: &str, identity: &str, extra: &[&str]) -> Operator {
        let kubeconfig = cp.service_account_kubeconfig(OPERATOR_NS, OPERATOR_SA);
        let mut args = vec![
            "run".to_string(),
            "--http".to_string(),
            "127.0.0.1:0".to_string(),
            "--namespace".to_string(),
            watch.to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let process = Process::spawn(
            identity,
            Path::new(env!("CARGO_BIN_EXE_operator")),
            &args,
            &[
                ("KUBECONFIG", kubeconfig.display().to_string()),
                ("POD_NAMESPACE", OPERATOR_NS.to_string()),
                ("POD_NAME", identity.to_string()),
                ("RUST_LOG", "info,kube=warn".to_string()),
            ],
            &cp.dir.join(format!("operator-{watch}-{identity}.log")),
            None,
        )
        .expect("starting the operator binary");
        Operator {
            process,
            identity: identity.to_string(),
        }
    }
}

/// Reads an example cluster file from `deploy/`.
pub fn example(file: &str) -> RocketMQCluster {
    let text = std::fs::read_to_string(repo().join("deploy").join(file)).expect("example file");
    serde_yaml::from_str(&text).expect("example parses as a RocketMQCluster")
}

/// Server-side applies `cr` into `ns` as field manager `kube-test-user` (a user's kubectl).
pub async fn apply_cluster(client: &kube::Client, ns: &str, cr: &RocketMQCluster) {
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    let mut body = serde_json::to_value(cr).expect("serialize");
    body["metadata"] = serde_json::json!({ "name": cr.name_any() });
    body.as_object_mut().map(|o| o.remove("status"));
    api.patch(
        &cr.name_any(),
        &PatchParams::apply("kube-test-user").force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {} into {ns}: {e}", cr.name_any()));
}

/// The cluster's status once it describes the current generation with every condition at that
/// generation.
pub async fn status_at_generation(
    client: &kube::Client,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> RocketMQCluster {
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    wait_for(
        &format!("{ns}/{name} status at its generation"),
        timeout,
        || async {
            let cr = api.get(name).await.map_err(|e| e.to_string())?;
            let generation = cr.meta().generation;
            let st = cr.status.clone().ok_or("no status yet")?;
            if st.observed_generation != generation {
                return Err(format!(
                    "observedGeneration {:?} != generation {generation:?}",
                    st.observed_generation
                ));
            }
            if st.conditions.len() < 3
                || st
                    .conditions
                    .iter()
                    .any(|c| c.observed_generation != generation)
            {
                return Err(format!("conditions {:?}", st.conditions));
            }
            Ok(cr)
        },
    )
    .await
}

/// The condition `type_` of a cluster, as (status, reason).
pub fn condition(cr: &RocketMQCluster, type_: &str) -> Option<(String, String)> {
    cr.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Name of the Node the stand-in kubelet binds pods to.
pub const NODE: &str = "kube-test-node";

/// Plays scheduler and kubelet for the pods of one namespace, where no kubelet exists: binds
/// every pod to [`NODE`], reports it Running and Ready with a loopback pod IP (127.77.x.y: the
/// operator's admin calls never leave the machine; they reach whatever the test runs on that
/// address — a real broker or name server — or fail fast when nothing listens there),
/// reports a terminating pod not Ready at once (its container is stopping), and finishes the
/// graceful deletion after `stop_after` (a broker that takes that long to stop).
/// Records how many times each pod name was deleted.
pub struct Kubelet {
    stop: Arc<AtomicBool>,
    /// Pod name → number of deletions finished.
    pub deletions: Arc<Mutex<BTreeMap<String, u32>>>,
    /// What the kubelet did, in order: `terminating <pod>` (first seen with a deletion
    /// timestamp), `deleted <pod>` (deletion finished), `ready <pod>` (reported Ready).
    pub journal: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Kubelet {
    /// Starts the stand-in kubelet for namespace `ns`.
    pub async fn start(client: kube::Client, ns: &str, stop_after: Duration) -> Kubelet {
        Self::start_with_ips(client, ns, stop_after, BTreeMap::new()).await
    }

    /// Like [`Kubelet::start`], but the pods named in `fixed_ips` always get that pod IP (e.g. the
    /// address of a real broker the test runs for that pod).
    pub async fn start_with_ips(
        client: kube::Client,
        ns: &str,
        stop_after: Duration,
        fixed_ips: BTreeMap<String, String>,
    ) -> Kubelet {
        Self::start_with_addresses(client, ns, stop_after, fixed_ips, Vec::new()).await
    }

    /// Like [`Kubelet::start_with_ips`]; in addition a pod whose name starts with the prefix of
    /// one of `pools` gets the first address of that pool no listed pod holds (for pods with
    /// generated names, such as a Deployment's: e.g. the addresses where the test runs real
    /// name servers). Addresses go back to the pool once their pod is gone.
    pub async fn start_with_addresses(
        client: kube::Client,
        ns: &str,
        stop_after: Duration,
        fixed_ips: BTreeMap<String, String>,
        pools: Vec<(String, Vec<String>)>,
    ) -> Kubelet {
        let nodes: Api<Node> = Api::all(client.clone());
        let node: Node = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}
        }))
        .expect("node");
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("creating node {NODE}: {e}"),
        }
        let stop = Arc::new(AtomicBool::new(false));
        let deletions = Arc::new(Mutex::new(BTreeMap::new()));
        let journal = Arc::new(Mutex::new(Vec::new()));
        let pods: Api<Pod> = Api::namespaced(client, ns);
        let (s, d, o) = (stop.clone(), deletions.clone(), journal.clone());
        let task = tokio::spawn(async move {
            let mut ips: BTreeMap<String, String> = BTreeMap::new();
            let mut terminating_since: BTreeMap<String, Instant> = BTreeMap::new();
            let mut next_ip: u32 = 1;
            while !s.load(Ordering::Relaxed) {
                if let Ok(list) = pods.list(&ListParams::default()).await {
                    let mut seen = BTreeSet::new();
                    for p in list.items {
                        let name = p.name_any();
                        let uid = p.metadata.uid.clone().unwrap_or_default();
                        seen.insert(uid.clone());
                        if p.metadata.deletion_timestamp.is_some() {
                            if !terminating_since.contains_key(&uid) {
                                o.lock()
                                    .expect("kubelet record")
                                    .push(format!("terminating {name}"));
                                terminating_since.insert(uid.clone(), Instant::now());
                                // A stopping container fails its readiness probe at once.
                                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                                let unready = serde_json::json!({"status": {"conditions": [
                                    {"type": "ContainersReady", "status": "False", "lastTransitionTime": now},
                                    {"type": "Ready", "status": "False", "lastTransitionTime": now}
                                ]}});
                                let _ = pods
                                    .patch_status(
                                        &name,
                                        &PatchParams::default(),
                                        &Patch::Strategic(&unready),
                                    )
                                    .await;
                            }
                            let since = terminating_since
                                .get(&uid)
                                .copied()
                                .unwrap_or_else(Instant::now);
                            if since.elapsed() >= stop_after {
                                let dp = DeleteParams {
                                    grace_period_seconds: Some(0),
                                    ..DeleteParams::default()
                                };
                                if pods.delete(&name, &dp).await.is_ok() {
                                    *d.lock()
                                        .expect("kubelet record")
                                        .entry(name.clone())
                                        .or_default() += 1;
                                    o.lock()
                                        .expect("kubelet record")
                                        .push(format!("deleted {name}"));
                                    terminating_since.remove(&uid);
                                }
                            }
                            continue;
                        }
                        let bound = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
                        if !bound {
                            let binding = serde_json::json!({
                                "apiVersion": "v1", "kind": "Binding",
                                "metadata": {"name": name},
                                "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}
                            });
                            let _ = pods
                                .create_subresource::<_, serde_json::Value>(
                                    "binding",
                                    &name,
                                    &PostParams::default(),
                                    &binding,
                                )
                                .await;
                            continue;
                        }
                        let ready = operator::read::pod_ready(&p);
                        if !ready {
                            let ip = match ips.get(&uid) {
                                Some(ip) => ip.clone(),
                                None => {
                                    let pooled = pools
                                        .iter()
                                        .find(|(prefix, _)| name.starts_with(prefix.as_str()))
                                        .and_then(|(_, pool)| {
                                            let held: BTreeSet<&String> = ips.values().collect();
                                            pool.iter().find(|ip| !held.contains(ip)).cloned()
                                        });
                                    let ip = match (fixed_ips.get(&name), pooled) {
                                        (Some(ip), _) => ip.clone(),
                                        (None, Some(ip)) => ip,
                                        (None, None) => {
                                            let n = next_ip;
                                            next_ip += 1;
                                            format!("127.77.{}.{}", n / 250, n % 250 + 1)
                                        }
                                    };
                                    ips.insert(uid.clone(), ip.clone());
                                    ip
                                }
                            };
                            let now = k8s_openapi::jiff::Timestamp::now().to_string();
                            let status = serde_json::json!({"status": {
                                "phase": "Running",
                                "podIP": ip, "podIPs": [{"ip": ip}],
                                "hostIP": "127.0.0.1",
                                "startTime": now,
                                "conditions": [
                                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                                    {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                                    {"type": "Ready", "status": "True", "lastTransitionTime": now}
                                ]
                            }});
                            if pods
                                .patch_status(
                                    &name,
                                    &PatchParams::default(),
                                    &Patch::Merge(&status),
                                )
                                .await
                                .is_ok()
                            {
                                o.lock()
                                    .expect("kubelet record")
                                    .push(format!("ready {name}"));
                            }
                        }
                    }
                    terminating_since.retain(|uid, _| seen.contains(uid));
                    ips.retain(|uid, _| seen.contains(uid));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        Kubelet {
            stop,
            deletions,
            journal,
            task,
        }
    }

    /// Stops the loop.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

/// A port free on `ip` now (the test then binds it on that address only).
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind(format!("{ip}:0"))
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("a free port on {ip}: {e}"))
        .port()
}

/// Real name servers on 127.77.`net`.1..=`count`, one free port for all, their files under
/// `dir`, looking for silent brokers every `scan`.
pub struct NameServers {
    /// Their addresses (pod IPs for name-server pods).
    pub ips: Vec<String>,
    /// Their port.
    pub port: u16,
    /// `namesrvAddr` for brokers: every `ip:port`, `;`-separated.
    pub addr: String,
    /// The servers.
    pub handles: Vec<namesrv::NameServerHandle>,
}

impl NameServers {
    /// Starts them.
    pub async fn start(net: u8, count: u8, dir: &Path, scan: Duration) -> NameServers {
        let ips: Vec<String> = (1..=count).map(|i| format!("127.77.{net}.{i}")).collect();
        let port = free_port(&ips[0]);
        let mut handles = Vec::new();
        for ip in &ips {
            let d = dir.join(format!("namesrv-{ip}"));
            std::fs::create_dir_all(&d).expect("namesrv dir");
            handles.push(
                namesrv::NameServer::start(namesrv::NamesrvConfig {
                    bind_address: ip.clone(),
                    listen_port: port,
                    kv_config_path: d.join("kvConfig.json"),
                    config_store_path: d.join("namesrv.properties"),
                    scan_not_active_broker_interval: scan,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("name server on {ip}:{port}: {e}")),
            );
        }
        let addr = ips
            .iter()
            .map(|ip| format!("{ip}:{port}"))
            .collect::<Vec<_>>()
            .join(";");
        NameServers {
            ips,
            port,
            addr,
            handles,
        }
    }
}

/// `Ok` when each of `names` exists, runs `image` and is Ready; else which one does not.
pub async fn pods_on_image(pods: &Api<Pod>, names: &[&String], image: &str) -> Result<(), String> {
    for n in names {
        let p = pods.get(n).await.map_err(|e| e.to_string())?;
        let running = p
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone());
        if running.as_deref() != Some(image) || !operator::read::pod_ready(&p) {
            return Err(format!("{n}: {running:?}"));
        }
    }
    Ok(())
}
