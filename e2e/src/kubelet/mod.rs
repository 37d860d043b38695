//! A test kubelet that runs the project's own binaries as pods: what kwok does for pod status,
//! but with real processes, in real network namespaces, behind real probes.
//!
//! Why: the operator's decisions (roll order, scale-in refusal, failover) depend on pods that
//! start slowly, fail probes, die and come back on their volumes. A stand-in that only writes
//! pod status cannot show whether a broker really stays readable or a roll really loses nothing.
//! There is no container runtime on these machines, so each container is a process.
//!
//! What it does, per Node it registers (see [`Kubelet::start`]):
//! - **Scheduling**: pods in the served namespaces that no one bound are bound to this node
//!   (no kube-scheduler needed; affinity and resources are ignored).
//! - **Images**: only containers whose image name starts with
//!   [`KubeletConfig::image_prefix`] run; their `/usr/local/bin` is the directory of this
//!   checkout's binaries (`target/<profile>`: `broker`, `namesrv`, `operator`, `mqadmin`). A pod
//!   with any other image is left alone (unbound pods of other images are still bound).
//! - **Network**: each pod gets its own network namespace with one address from 198.18.0.0/15 on
//!   a bridge inside a node namespace the kubelet creates ([`net`]); no default route.
//! - **Processes**: `command` + `args` with `env` (literal values, downward API `metadata.name`,
//!   `metadata.namespace`, `metadata.uid`, `status.podIP`, `spec.nodeName`,
//!   `spec.serviceAccountName`, and ConfigMap/Secret key references) run under
//!   `ip netns exec`, in a mount namespace of their own, chrooted into a root directory of their
//!   own ([`rootfs`]: the host's system directories read-only, every volume mount a bind mount
//!   there, the root itself read-only with `readOnlyRootFilesystem`), as `runAsUser`/
//!   `runAsGroup` with `supplementalGroups` and `fsGroup` (`setpriv`, no_new_privs when
//!   `allowPrivilegeEscalation: false`), in `workingDir` or `/`. configMap and secret volumes
//!   are files written from the API objects at each container start (projected ones too: a real
//!   token from the TokenRequest API, ConfigMap keys, the namespace), emptyDir a directory (mode
//!   0777) that lives as long as the pod, a persistentVolumeClaim a directory keyed by namespace
//!   and claim name that outlives pods (removed only when the kubelet stops); with `fsGroup`
//!   both belong to that group. Nothing is created outside the kubelet's state directory:
//!   the host's `/tmp`, `/etc` and the rest are never mounted over or written.
//! - **DNS without CoreDNS**: `/etc/netns/<ns>/hosts` (which `ip netns exec` bind-mounts over
//!   `/etc/hosts`) lists every Service of the served namespaces as
//!   `<svc>.<ns>.svc.cluster.local`, `<svc>.<ns>.svc`, `<svc>.<ns>` (and `<svc>` in its own
//!   namespace), resolving to the addresses of its selected pods (ready ones, or all with
//!   `publishNotReadyAddresses`; a ClusterIP is never used: there is no kube-proxy), plus the
//!   per-pod records `<hostname>.<subdomain>.<ns>.svc[.cluster.local]` of headless Services.
//!   Rewritten in place (same inode, so running processes see it) whenever a record changes;
//!   `host.conf` says `multi on` so every address of a name is returned.
//! - **Probes**: tcpSocket, httpGet (from inside the pod's namespace) and exec (`nsenter` into the
//!   container's mount and network namespaces) with their delays, periods and thresholds;
//!   readiness drives the pod's `Ready` condition, liveness failures restart the container.
//! - **Status**: phase, podIP/podIPs, conditions and containerStatuses (state, ready, started,
//!   restartCount, lastState; containerID `e2ek://<pid>` names the process).
//! - **Restarts**: with restartPolicy Always (or OnFailure after a failure) a dead process is
//!   started again after a back-off of 1, 2, 4, 8, then 16 s (the real kubelet: 10 s up to 5 min).
//! - **Deletion**: SIGTERM to the process group, up to the grace period, then SIGKILL; then the pod
//!   is removed from the API (grace 0, with the pod's UID as precondition) and its namespace and
//!   emptyDirs deleted.
//! - **Cleanup**: dropping the [`Kubelet`] (also while unwinding from a panic) SIGKILLs every
//!   process group and removes every namespace, the bridge and the state directory. Each process
//!   group also has a watcher reading a pipe from this process: if the test process dies without
//!   unwinding (SIGKILL), the pipe closes and the watcher kills the group; the namespaces of such
//!   a dead run are removed by the next run ([`net::sweep_stale`]).
//!
//! Not implemented (not needed by the operator's pods): init containers, ephemeral containers,
//! `envFrom`, `$(VAR)` expansion, `items` of configMap/secret volumes (every key is written),
//! subPath (refused), capabilities and seccomp (the processes run unconfined), ConfigMap
//! updates while a container runs, resource limits, startup probes, image pulls.

pub mod net;
pub mod rootfs;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Node, Pod, Probe, Secret, Service, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use tokio::sync::watch;

/// What can go wrong in the kubelet.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// An external command (`ip`, `mount`, …) failed.
    #[error("command failed: {0}")]
    Command(String),
    /// Local files or processes.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The API server refused or was unreachable.
    #[error("api: {0}")]
    Kube(#[from] kube::Error),
    /// The pod cannot be run as specified.
    #[error("pod {0}")]
    Pod(String),
}

/// Result of the kubelet's functions.
pub type Result<T, E = KubeletError> = std::result::Result<T, E>;

/// How the kubelet is set up.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// Name of the Node it registers.
    pub node: String,
    /// Namespaces whose pods it binds and runs.
    pub namespaces: Vec<String>,
    /// Containers whose image starts with this run (e.g. `rocketmq-rs`).
    pub image_prefix: String,
    /// Directory with this checkout's binaries, seen by containers as `/usr/local/bin`.
    pub bin_dir: PathBuf,
}

/// A running test kubelet. Dropping it kills everything it started.
pub struct Kubelet {
    inner: Arc<Inner>,
    task: Option<tokio::task::JoinHandle<()>>,
}

struct Inner {
    client: kube::Client,
    cfg: KubeletConfig,
    bridge: net::Bridge,
    state: PathBuf,
    next_ip: AtomicU32,
    stop: AtomicBool,
    pods: Mutex<BTreeMap<String, PodEntry>>,
    /// Every process group started and not yet reaped: killed on drop.
    groups: Mutex<BTreeSet<i32>>,
    /// Namespaces attached for test clients: (netns, k8s namespace for short names).
    clients: Mutex<Vec<net::Attached>>,
    /// Latest DNS records: netns → hosts text written.
    hosts_written: Mutex<BTreeMap<String, String>>,
    journal: Mutex<Vec<String>>,
    deletions: Mutex<BTreeMap<String, u32>>,
}

struct PodEntry {
    tx: watch::Sender<Option<Pod>>,
    task: tokio::task::JoinHandle<()>,
    att: net::Attached,
    namespace: String,
    name: String,
    pids: Arc<Mutex<BTreeMap<String, i32>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

impl Kubelet {
    /// Registers the Node and starts serving pods. Fails without root or `ip`.
    pub async fn start(client: kube::Client, cfg: KubeletConfig) -> Result<Kubelet> {
        net::usable().map_err(KubeletError::Command)?;
        net::sweep_stale();
        let bridge = net::Bridge::create()?;
        // One state directory per kubelet (several may run in one test process).
        let state = std::env::temp_dir().join(&bridge.stem);
        if let Err(e) = std::fs::create_dir_all(state.join("bin")) {
            bridge.remove();
            return Err(e.into());
        }
        for b in ["broker", "namesrv", "operator", "mqadmin"] {
            let src = cfg.bin_dir.join(b);
            let dst = state.join("bin").join(b);
            let _ = std::fs::remove_file(&dst);
            if let Err(e) = std::os::unix::fs::symlink(&src, &dst) {
                bridge.remove();
                let _ = std::fs::remove_dir_all(&state);
                return Err(e.into());
            }
        }
        let inner = Arc::new(Inner {
            client,
            cfg,
            bridge,
            state,
            next_ip: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            pods: Mutex::new(BTreeMap::new()),
            groups: Mutex::new(BTreeSet::new()),
            clients: Mutex::new(Vec::new()),
            hosts_written: Mutex::new(BTreeMap::new()),
            journal: Mutex::new(Vec::new()),
            deletions: Mutex::new(BTreeMap::new()),
        });
        // From here on, a failure drops `k`, which removes the bridge and the state directory.
        let mut k = Kubelet {
            inner: inner.clone(),
            task: None,
        };
        inner.register_node().await?;
        k.task = Some(tokio::spawn(main_loop(inner)));
        Ok(k)
    }

    /// The node namespace holding the bridge.
    pub fn node_netns(&self) -> &str {
        &self.inner.bridge.node_ns
    }

    /// Attaches a namespace for a test client to the bridge (an address from the pool, the
    /// cluster's names in its hosts file); removed when the kubelet stops.
    pub fn client_netns(&self, name: &str) -> Result<net::Attached> {
        let n = self.inner.next_ip.fetch_add(1, Ordering::Relaxed);
        let att = self.inner.bridge.attach(name, n)?;
        std::fs::create_dir_all(format!("/etc/netns/{}", att.ns))?;
        std::fs::write(format!("/etc/netns/{}/host.conf", att.ns), "multi on\n")?;
        std::fs::write(
            format!("/etc/netns/{}/hosts", att.ns),
            format!("127.0.0.1 localhost\n{} {name}\n", att.ip),
        )?;
        lock(&self.inner.clients).push(att.clone());
        Ok(att)
    }

    /// The pod IP of a running pod `namespace/name`.
    pub fn pod_ip(&self, namespace: &str, name: &str) -> Option<Ipv4Addr> {
        lock(&self.inner.pods)
            .values()
            .find(|e| e.namespace == namespace && e.name == name)
            .map(|e| e.att.ip)
    }

    /// PID (and process group) of `container` in pod `namespace/name`, while it runs.
    pub fn pid(&self, namespace: &str, name: &str, container: &str) -> Option<i32> {
        lock(&self.inner.pods)
            .values()
            .find(|e| e.namespace == namespace && e.name == name)
            .and_then(|e| lock(&e.pids).get(container).copied())
    }

    /// Sends `signal` to the process group of `container` in pod `namespace/name` (as a crash
    /// or the OOM killer would). Returns whether a process was signalled.
    pub fn signal(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
        signal: rustix::process::Signal,
    ) -> bool {
        match self.pid(namespace, name, container) {
            Some(pid) => kill_group(pid, signal),
            None => false,
        }
    }

    /// What the kubelet did so far (`start ns/pod/container pid=…`, `exit …`, `ready …`,
    /// `terminating …`, `deleted …`), in order.
    pub fn journal(&self) -> Vec<String> {
        lock(&self.inner.journal).clone()
    }

    /// Pod name (`ns/name`) → how many of its deletions this kubelet finished.
    pub fn deletions(&self) -> BTreeMap<String, u32> {
        lock(&self.inner.deletions).clone()
    }

    /// How many pods currently run here.
    pub fn running_pods(&self) -> usize {
        lock(&self.inner.pods).len()
    }

    /// Directory of the persistent volume claim `namespace/claim` (exists once a pod used it).
    pub fn claim_dir(&self, namespace: &str, claim: &str) -> PathBuf {
        self.inner.state.join("pvc").join(namespace).join(claim)
    }

    /// Stops serving and kills everything at once (same as dropping it).
    pub fn shutdown(self) {
        drop(self)
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            t.abort();
        }
        let entries: Vec<PodEntry> = std::mem::take(&mut *lock(&self.inner.pods))
            .into_values()
            .collect();
        for e in &entries {
            e.task.abort();
        }
        for g in std::mem::take(&mut *lock(&self.inner.groups)) {
            kill_group(g, rustix::process::Signal::KILL);
        }
        // Give the kernel a moment to reap before the namespaces go.
        std::thread::sleep(Duration::from_millis(200));
        for e in &entries {
            net::remove_ns(&e.att.ns);
        }
        for c in std::mem::take(&mut *lock(&self.inner.clients)) {
            net::remove_ns(&c.ns);
        }
        self.inner.bridge.remove();
        let _ = std::fs::remove_dir_all(&self.inner.state);
    }
}

/// Sends `signal` to process group `pgid` (a container's PID, see [`Kubelet::pid`]); whether it
/// was delivered.
pub fn kill_group(pgid: i32, signal: rustix::process::Signal) -> bool {
    match rustix::process::Pid::from_raw(pgid) {
        Some(pid) if pgid > 1 => rustix::process::kill_process_group(pid, signal).is_ok(),
        _ => false,
    }
}

impl Inner {
    fn record(&self, line: String) {
        tracing::info!(target: "e2e::kubelet", "{line}");
        lock(&self.journal).push(line);
    }

    async fn register_node(&self) -> Result<()> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.cfg.node, "labels": {"kubernetes.io/hostname": self.cfg.node}}
        }))
        .map_err(|e| KubeletError::Pod(e.to_string()))?;
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let t = now();
        let status = serde_json::json!({"status": {
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "250"},
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "250"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "lastHeartbeatTime": t, "lastTransitionTime": t}]
        }});
        nodes
            .patch_status(
                &self.cfg.node,
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await?;
        Ok(())
    }

    fn ours(&self, pod: &Pod) -> bool {
        pod.spec.as_ref().is_some_and(|s| {
            !s.containers.is_empty()
                && s.containers.iter().all(|c| {
                    c.image
                        .as_deref()
                        .is_some_and(|i| i.starts_with(&self.cfg.image_prefix))
                })
        })
    }
}

async fn main_loop(inner: Arc<Inner>) {
    while !inner.stop.load(Ordering::SeqCst) {
        if let Err(e) = tick(&inner).await {
            tracing::warn!(error = %e, "kubelet tick");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn tick(inner: &Arc<Inner>) -> Result<()> {
    let mut all: Vec<Pod> = Vec::new();
    let mut services: Vec<Service> = Vec::new();
    for ns in &inner.cfg.namespaces {
        let pods: Api<Pod> = Api::namespaced(inner.client.clone(), ns);
        all.extend(pods.list(&ListParams::default()).await?.items);
        let svcs: Api<Service> = Api::namespaced(inner.client.clone(), ns);
        services.extend(svcs.list(&ListParams::default()).await?.items);
    }
    let mut seen = BTreeSet::new();
    for p in &all {
        let uid = p.uid().unwrap_or_default();
        let ns = p.namespace().unwrap_or_default();
        let name = p.name_any();
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
        if node.is_none() {
            if p.metadata.deletion_timestamp.is_none() {
                bind(inner, &ns, &name).await;
            }
            continue;
        }
        if node.as_deref() != Some(inner.cfg.node.as_str()) || !inner.ours(p) {
            continue;
        }
        seen.insert(uid.clone());
        let known = {
            let pods = lock(&inner.pods);
            if let Some(e) = pods.get(&uid) {
                e.tx.send_replace(Some(p.clone()));
                true
            } else {
                false
            }
        };
        if known {
            continue;
        }
        if p.metadata.deletion_timestamp.is_some() {
            // Nothing of it runs here (e.g. left from before a restart): finish the deletion.
            let _ = finalize(inner, &ns, &name, &uid).await;
            continue;
        }
        if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
            || p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
        {
            continue;
        }
        let n = inner.next_ip.fetch_add(1, Ordering::Relaxed);
        let short = format!("p{n}");
        let att = match inner.bridge.attach(&short, n) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "network namespace");
                continue;
            }
        };
        std::fs::create_dir_all(format!("/etc/netns/{}", att.ns))?;
        std::fs::write(format!("/etc/netns/{}/host.conf", att.ns), "multi on\n")?;
        std::fs::write(
            format!("/etc/netns/{}/hosts", att.ns),
            format!("127.0.0.1 localhost\n{} {name}\n", att.ip),
        )?;
        let (tx, rx) = watch::channel(Some(p.clone()));
        let pids = Arc::new(Mutex::new(BTreeMap::new()));
        let task = tokio::spawn(run_pod(inner.clone(), rx, att.clone(), pids.clone()));
        inner.record(format!("admit {ns}/{name} ip={}", att.ip));
        lock(&inner.pods).insert(
            uid,
            PodEntry {
                tx,
                task,
                att,
                namespace: ns,
                name,
                pids,
            },
        );
    }
    // Pods gone from the API (force-deleted) stop; finished pod tasks leave the table.
    {
        let mut pods = lock(&inner.pods);
        for (uid, e) in pods.iter() {
            if !seen.contains(uid) {
                e.tx.send_replace(None);
            }
        }
        let done: Vec<String> = pods
            .iter()
            .filter(|(_, e)| e.task.is_finished())
            .map(|(u, _)| u.clone())
            .collect();
        for u in done {
            if let Some(e) = pods.remove(&u) {
                net::remove_ns(&e.att.ns);
                lock(&inner.hosts_written).remove(&e.att.ns);
            }
        }
    }
    write_dns(inner, &all, &services);
    Ok(())
}

async fn bind(inner: &Inner, ns: &str, name: &str) {
    let pods: Api<Pod> = Api::namespaced(inner.client.clone(), ns);
    let binding = serde_json::json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": inner.cfg.node}
    });
    if pods
        .create_subresource::<_, serde_json::Value>(
            "binding",
            name,
            &PostParams::default(),
            &binding,
        )
        .await
        .is_ok()
    {
        inner.record(format!("bind {ns}/{name}"));
    }
}

async fn finalize(inner: &Inner, ns: &str, name: &str, uid: &str) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(inner.client.clone(), ns);
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match pods.delete(name, &dp).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    *lock(&inner.deletions)
        .entry(format!("{ns}/{name}"))
        .or_default() += 1;
    inner.record(format!("deleted {ns}/{name}"));
    Ok(())
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    if sel.is_empty() || svc.namespace() != pod.namespace() {
        return false;
    }
    let labels = pod.labels();
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The hosts file of a namespace whose short names resolve in `home` (None: fully qualified
/// names only).
fn hosts_text(
    own: Option<(&str, Ipv4Addr)>,
    home: Option<&str>,
    running: &[(Pod, Ipv4Addr)],
    services: &[Service],
) -> String {
    let mut lines: BTreeSet<String> = BTreeSet::new();
    let mut out = String::from("127.0.0.1 localhost\n");
    if let Some((name, ip)) = own {
        out.push_str(&format!("{ip} {name}\n"));
    }
    for svc in services {
        let sname = svc.name_any();
        let sns = svc.namespace().unwrap_or_default();
        let spec = svc.spec.clone().unwrap_or_default();
        let headless = spec.cluster_ip.as_deref() == Some("None");
        let not_ready_too = spec.publish_not_ready_addresses.unwrap_or(false);
        for (p, ip) in running {
            if !selects(svc, p) {
                continue;
            }
            if !(not_ready_too || pod_ready(p) && p.metadata.deletion_timestamp.is_none()) {
                continue;
            }
            let mut names = vec![
                format!("{sname}.{sns}.svc.cluster.local"),
                format!("{sname}.{sns}.svc"),
                format!("{sname}.{sns}"),
            ];
            if home == Some(sns.as_str()) {
                names.push(sname.clone());
            }
            lines.insert(format!("{ip} {}", names.join(" ")));
            let ps = p.spec.clone().unwrap_or_default();
            if headless
                && ps.subdomain.as_deref() == Some(sname.as_str())
                && let Some(h) = ps.hostname.as_deref()
            {
                let mut names = vec![
                    format!("{h}.{sname}.{sns}.svc.cluster.local"),
                    format!("{h}.{sname}.{sns}.svc"),
                ];
                if home == Some(sns.as_str()) {
                    names.push(format!("{h}.{sname}"));
                }
                lines.insert(format!("{ip} {}", names.join(" ")));
            }
        }
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// A hosts file to keep: (netns, own (pod name, IP), home namespace for short names).
type HostsTarget = (String, Option<(String, Ipv4Addr)>, Option<String>);

fn write_dns(inner: &Inner, all: &[Pod], services: &[Service]) {
    let targets: Vec<HostsTarget>;
    let running: Vec<(Pod, Ipv4Addr)>;
    {
        let pods = lock(&inner.pods);
        running = all
            .iter()
            .filter_map(|p| {
                pods.get(&p.uid().unwrap_or_default())
                    .map(|e| (p.clone(), e.att.ip))
            })
            .collect();
        let mut t: Vec<_> = pods
            .values()
            .map(|e| {
                (
                    e.att.ns.clone(),
                    Some((e.name.clone(), e.att.ip)),
                    Some(e.namespace.clone()),
                )
            })
            .collect();
        t.extend(
            lock(&inner.clients)
                .iter()
                .map(|c| (c.ns.clone(), None, None)),
        );
        targets = t;
    }
    for (netns, own, home) in targets {
        let text = hosts_text(
            own.as_ref().map(|(n, ip)| (n.as_str(), *ip)),
            home.as_deref(),
            &running,
            services,
        );
        let mut written = lock(&inner.hosts_written);
        if written.get(&netns) == Some(&text) {
            continue;
        }
        // In place (truncate + write): the bind mount of a running process follows the inode.
        if std::fs::write(format!("/etc/netns/{netns}/hosts"), &text).is_ok() {
            written.insert(netns, text);
        }
    }
}

/// State of one container of a pod.
struct Ctr {
    spec: Container,
    child: Option<Running>,
    restarts: i32,
    next_start: Instant,
    ready: bool,
    started_at: Option<String>,
    last_exit: Option<(i32, String)>,
    waiting: Option<String>,
    ready_ok: i32,
    ready_fail: i32,
    live_fail: i32,
    next_ready_probe: Instant,
    next_live_probe: Instant,
}

struct Running {
    child: Child,
    pid: i32,
    started: Instant,
    watcher: Option<(Child, ChildStdin)>,
}

fn port_of(c: &Container, p: &IntOrString) -> Option<u16> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => c
            .ports
            .as_ref()?
            .iter()
            .find(|cp| cp.name.as_deref() == Some(name.as_str()))
            .and_then(|cp| u16::try_from(cp.container_port).ok()),
    }
}

/// Runs one probe; true on success.
async fn probe(att: &net::Attached, c: &Container, pid: i32, p: &Probe) -> bool {
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(t) = &p.tcp_socket {
        let Some(port) = port_of(c, &t.port) else {
            return false;
        };
        return net::tcp_probe(&att.ns, SocketAddr::from((att.ip, port)), timeout).await;
    }
    if let Some(h) = &p.http_get {
        let Some(port) = port_of(c, &h.port) else {
            return false;
        };
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let addr = SocketAddr::from((att.ip, port));
        return net::run_in_netns(&att.ns, move || {
            use std::io::{Read, Write};
            let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(timeout));
            if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
                .is_err()
            {
                return false;
            }
            let mut head = [0u8; 12];
            if s.read_exact(&mut head).is_err() {
                return false;
            }
            let code: u16 = String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0);
            (200..400).contains(&code)
        })
        .await
        .unwrap_or(false);
    }
    if let Some(e) = &p.exec {
        let cmd = e.command.clone().unwrap_or_default();
        if cmd.is_empty() {
            return false;
        }
        let out = tokio::process::Command::new("nsenter")
            // The container's mount and network namespaces, and its root and working directory.
            .args(["-t", &pid.to_string(), "-m", "-n", "--root", "--wd", "--"])
            .args(&cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status();
        return matches!(tokio::time::timeout(timeout, out).await, Ok(Ok(s)) if s.success());
    }
    // No handler (e.g. grpc): not supported, count as success as the probe cannot be run.
    true
}

/// Whether process `pid` has left the host's root (chroot into its container root done).
fn entered_root(pid: i32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|p| p != Path::new("/"))
}

/// Who a container runs as: its securityContext over the pod's, as the real kubelet merges
/// them. `runAsNonRoot` without a non-zero `runAsUser` is refused (the image's user is unknown
/// here, and the real kubelet would refuse a root one).
fn identity(pod: &Pod, c: &Container) -> Result<rootfs::Identity> {
    let psc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let csc = c.security_context.clone().unwrap_or_default();
    let uid = csc.run_as_user.or(psc.run_as_user);
    let gid = csc.run_as_group.or(psc.run_as_group);
    let non_root = csc.run_as_non_root.or(psc.run_as_non_root) == Some(true);
    if non_root && uid.unwrap_or(0) == 0 {
        return Err(KubeletError::Pod(format!(
            "container {}: runAsNonRoot needs a non-zero runAsUser here",
            c.name
        )));
    }
    let mut groups: Vec<i64> = psc.supplemental_groups.unwrap_or_default();
    groups.extend(psc.fs_group);
    if let Some(g) = gid {
        groups.push(g);
    }
    groups.sort_unstable();
    groups.dedup();
    Ok(rootfs::Identity {
        uid,
        gid,
        groups,
        no_new_privs: csc.allow_privilege_escalation == Some(false),
    })
}

/// Ownership of a writable volume directory as the real kubelet leaves it: emptyDir mode 0777,
/// and with `fsGroup` the directory's group is it, with the setgid bit (files made inside
/// inherit the group).
fn own_volume(pod: &Pod, d: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let fs_group = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.fs_group);
    let mut mode = mode;
    if let Some(g) = fs_group.and_then(|g| u32::try_from(g).ok()) {
        std::os::unix::fs::chown(d, None, Some(g))?;
        mode |= 0o2070;
    }
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

async fn run_pod(
    inner: Arc<Inner>,
    mut rx: watch::Receiver<Option<Pod>>,
    att: net::Attached,
    pids: Arc<Mutex<BTreeMap<String, i32>>>,
) {
    let Some(first) = rx.borrow().clone() else {
        return;
    };
    let ns = first.namespace().unwrap_or_default();
    let name = first.name_any();
    let uid = first.uid().unwrap_or_default();
    let dir = inner.state.join("pods").join(&uid);
    let api: Api<Pod> = Api::namespaced(inner.client.clone(), &ns);
    let spec = first.spec.clone().unwrap_or_default();
    let policy = spec
        .restart_policy
        .clone()
        .unwrap_or_else(|| "Always".into());
    let mut ctrs: Vec<Ctr> = spec
        .containers
        .iter()
        .map(|c| Ctr {
            spec: c.clone(),
            child: None,
            restarts: 0,
            next_start: Instant::now(),
            ready: false,
            started_at: None,
            last_exit: None,
            waiting: Some("ContainerCreating".into()),
            ready_ok: 0,
            ready_fail: 0,
            live_fail: 0,
            next_ready_probe: Instant::now(),
            next_live_probe: Instant::now(),
        })
        .collect();
    let start_time = now();
    let mut last_status = serde_json::Value::Null;
    let mut was_ready = false;
    let mut failed_setup: Option<String> = None;
    loop {
        let current = rx.borrow_and_update().clone();
        let Some(pod) = current else {
            // Gone from the API: kill at once.
            for c in &mut ctrs {
                stop_container(&inner, c, Duration::ZERO).await;
            }
            lock(&pids).clear();
            break;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            inner.record(format!("terminating {ns}/{name}"));
            let t = now();
            let unready = serde_json::json!({"status": {"conditions": [
                {"type": "ContainersReady", "status": "False", "lastTransitionTime": t},
                {"type": "Ready", "status": "False", "lastTransitionTime": t}
            ]}});
            let _ = api
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&unready))
                .await;
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .or(spec.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0) as u64;
            let stops = ctrs
                .iter_mut()
                .map(|c| stop_container(&inner, c, Duration::from_secs(grace)));
            futures_join_all(stops).await;
            lock(&pids).clear();
            if let Err(e) = finalize(&inner, &ns, &name, &uid).await {
                tracing::warn!(pod = %name, error = %e, "finishing the deletion");
            }
            break;
        }
        for c in &mut ctrs {
            // Exit of a running process.
            if let Some(r) = &mut c.child
                && let Ok(Some(st)) = r.child.try_wait()
            {
                let code = st.code().unwrap_or(128 + st_signal(&st));
                let pid = r.pid;
                stop_watcher(r);
                lock(&inner.groups).remove(&pid);
                lock(&pids).remove(&c.spec.name);
                inner.record(format!(
                    "exit {ns}/{name}/{} pid={pid} code={code}",
                    c.spec.name
                ));
                c.child = None;
                c.ready = false;
                c.last_exit = Some((code, now()));
                let again = match policy.as_str() {
                    "Never" => false,
                    "OnFailure" => code != 0,
                    _ => true,
                };
                if again {
                    c.restarts += 1;
                    let backoff = 1u64 << (c.restarts - 1).clamp(0, 4);
                    c.next_start = Instant::now() + Duration::from_secs(backoff);
                    c.waiting = Some("CrashLoopBackOff".into());
                } else {
                    c.next_start = Instant::now() + Duration::from_secs(86_400 * 365);
                    c.waiting = None;
                }
            }
            // (Re)start.
            if c.child.is_none() && Instant::now() >= c.next_start && failed_setup.is_none() {
                match start_container(&inner, &pod, &att, &dir, &c.spec).await {
                    Ok(r) => {
                        inner.record(format!(
                            "start {ns}/{name}/{} pid={} ip={}",
                            c.spec.name, r.pid, att.ip
                        ));
                        lock(&pids).insert(c.spec.name.clone(), r.pid);
                        let delay = |p: &Option<Probe>| {
                            Duration::from_secs(
                                p.as_ref()
                                    .and_then(|p| p.initial_delay_seconds)
                                    .unwrap_or(0)
                                    .max(0) as u64,
                            )
                        };
                        c.next_ready_probe = Instant::now() + delay(&c.spec.readiness_probe);
                        c.next_live_probe = Instant::now() + delay(&c.spec.liveness_probe);
                        c.ready_ok = 0;
                        c.ready_fail = 0;
                        c.live_fail = 0;
                        c.started_at = Some(now());
                        c.waiting = None;
                        c.child = Some(r);
                    }
                    Err(e) => {
                        inner.record(format!("setup-failed {ns}/{name}/{}: {e}", c.spec.name));
                        c.waiting = Some("CreateContainerError".into());
                        c.restarts += 1;
                        c.next_start = Instant::now()
                            + Duration::from_secs(1u64 << (c.restarts - 1).clamp(0, 4));
                        if matches!(e, KubeletError::Pod(_)) {
                            failed_setup = Some(e.to_string());
                        }
                    }
                }
            }
            // Probes, once the process runs the container's command (chrooted): while its set-up
            // script still mounts, an exec probe would run on the host's root and a SIGTERM
            // would hit the script, not the program.
            let Some(r) = &c.child else { continue };
            if !entered_root(r.pid) {
                continue;
            }
            let pid = r.pid;
            let started = r.started;
            if Instant::now() >= c.next_ready_probe {
                match c.spec.readiness_probe.clone() {
                    None => c.ready = true,
                    Some(p) => {
                        let ok = probe(&att, &c.spec, pid, &p).await;
                        let period = p.period_seconds.unwrap_or(10).max(1) as u64;
                        c.next_ready_probe = Instant::now() + Duration::from_secs(period);
                        if ok {
                            c.ready_fail = 0;
                            c.ready_ok += 1;
                            if c.ready_ok >= p.success_threshold.unwrap_or(1) {
                                c.ready = true;
                            }
                        } else {
                            c.ready_ok = 0;
                            c.ready_fail += 1;
                            if c.ready_fail >= p.failure_threshold.unwrap_or(3) {
                                c.ready = false;
                            }
                        }
                    }
                }
            }
            if let Some(p) = c.spec.liveness_probe.clone()
                && Instant::now() >= c.next_live_probe
            {
                let ok = probe(&att, &c.spec, pid, &p).await;
                let period = p.period_seconds.unwrap_or(10).max(1) as u64;
                c.next_live_probe = Instant::now() + Duration::from_secs(period);
                if ok {
                    c.live_fail = 0;
                } else {
                    c.live_fail += 1;
                    if c.live_fail >= p.failure_threshold.unwrap_or(3) {
                        inner.record(format!(
                            "liveness-failed {ns}/{name}/{} after {:?}",
                            c.spec.name,
                            started.elapsed()
                        ));
                        kill_group(pid, rustix::process::Signal::TERM);
                        c.live_fail = 0;
                    }
                }
            }
        }
        // Status.
        let all_ready = ctrs.iter().all(|c| c.ready);
        if all_ready && !was_ready {
            inner.record(format!("ready {ns}/{name}"));
        }
        was_ready = all_ready;
        let status = pod_status(&ctrs, &att, &start_time, all_ready, failed_setup.as_deref());
        if status != last_status {
            let body = serde_json::json!({ "status": status });
            match api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
                .await
            {
                Ok(_) => last_status = status,
                Err(e) => tracing::debug!(pod = %name, error = %e, "status patch"),
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(250), rx.changed()).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn futures_join_all<F: std::future::Future<Output = ()>>(fs: impl Iterator<Item = F>) {
    let fs: Vec<_> = fs.collect();
    for f in fs {
        f.await;
    }
}

fn st_signal(st: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.signal().unwrap_or(0)
}

fn stop_watcher(r: &mut Running) {
    if let Some((mut w, stdin)) = r.watcher.take() {
        let _ = w.kill();
        let _ = w.wait();
        drop(stdin);
    }
}

/// SIGTERM, up to `grace`, SIGKILL; reaps the process.
async fn stop_container(inner: &Inner, c: &mut Ctr, grace: Duration) {
    let Some(mut r) = c.child.take() else {
        return;
    };
    kill_group(r.pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + grace;
    let mut code = None;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = r.child.try_wait() {
            code = Some(st.code().unwrap_or(128 + st_signal(&st)));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The whole group: also anything the process started.
    kill_group(r.pid, rustix::process::Signal::KILL);
    if code.is_none() {
        let _ = r.child.kill();
        let st = r.child.wait();
        code = st.ok().map(|st| st.code().unwrap_or(128 + st_signal(&st)));
        inner.record(format!(
            "sigkill {} pid={} after {grace:?}",
            c.spec.name, r.pid
        ));
    }
    stop_watcher(&mut r);
    lock(&inner.groups).remove(&r.pid);
    inner.record(format!(
        "stopped {} pid={} code={}",
        c.spec.name,
        r.pid,
        code.unwrap_or(-1)
    ));
    c.ready = false;
}

fn pod_status(
    ctrs: &[Ctr],
    att: &net::Attached,
    start_time: &str,
    ready: bool,
    failed: Option<&str>,
) -> serde_json::Value {
    let b = |v: bool| if v { "True" } else { "False" };
    let statuses: Vec<serde_json::Value> = ctrs
        .iter()
        .map(|c| {
            let state = match (&c.child, &c.waiting) {
                (Some(_), _) => {
                    serde_json::json!({"running": {"startedAt": c.started_at}})
                }
                (None, Some(reason)) => serde_json::json!({"waiting": {"reason": reason}}),
                (None, None) => {
                    let (code, at) = c.last_exit.clone().unwrap_or((0, start_time.to_string()));
                    serde_json::json!({"terminated": {"exitCode": code, "finishedAt": at,
                        "reason": if code == 0 {"Completed"} else {"Error"}}})
                }
            };
            let mut s = serde_json::json!({
                "name": c.spec.name,
                "image": c.spec.image.clone().unwrap_or_default(),
                "imageID": "",
                "ready": c.ready,
                "started": c.child.is_some(),
                "restartCount": c.restarts,
                "state": state,
            });
            if let Some(r) = &c.child {
                s["containerID"] = serde_json::json!(format!("e2ek://{}", r.pid));
            }
            if let Some((code, at)) = &c.last_exit {
                s["lastState"] = serde_json::json!({"terminated": {"exitCode": code,
                    "finishedAt": at, "reason": if *code == 0 {"Completed"} else {"Error"}}});
            }
            s
        })
        .collect();
    let running = ctrs.iter().all(|c| c.child.is_some());
    // Condition times only change with the status itself: a patch is only sent on changes.
    let t = start_time;
    let ip = att.ip.to_string();
    let mut status = serde_json::json!({
        "phase": if failed.is_some() { "Failed" } else if running || ctrs.iter().any(|c| c.restarts > 0) { "Running" } else { "Pending" },
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": start_time,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
            {"type": "Initialized", "status": "True", "lastTransitionTime": t},
            {"type": "ContainersReady", "status": b(ready), "lastTransitionTime": t},
            {"type": "Ready", "status": b(ready), "lastTransitionTime": t}
        ],
        "containerStatuses": statuses,
    });
    if let Some(f) = failed {
        status["message"] = serde_json::json!(f);
    }
    status
}

/// Resolves the container's environment (literal values and references).
async fn env_of(
    inner: &Inner,
    pod: &Pod,
    ip: Ipv4Addr,
    c: &Container,
) -> Result<Vec<(String, String)>> {
    let ns = pod.namespace().unwrap_or_default();
    let mut out = Vec::new();
    for e in c.env.clone().unwrap_or_default() {
        let value = if let Some(v) = e.value {
            v
        } else if let Some(from) = e.value_from {
            if let Some(f) = from.field_ref {
                let spec = pod.spec.clone().unwrap_or_default();
                match f.field_path.as_str() {
                    "metadata.name" => pod.name_any(),
                    "metadata.namespace" => ns.clone(),
                    "metadata.uid" => pod.uid().unwrap_or_default(),
                    "status.podIP" => ip.to_string(),
                    "spec.nodeName" => spec.node_name.unwrap_or_default(),
                    "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
                    other => {
                        return Err(KubeletError::Pod(format!(
                            "env {}: fieldRef {other} not supported",
                            e.name
                        )));
                    }
                }
            } else if let Some(r) = from.config_map_key_ref {
                let api: Api<ConfigMap> = Api::namespaced(inner.client.clone(), &ns);
                let cm = api.get(&r.name).await?;
                cm.data
                    .and_then(|d| d.get(&r.key).cloned())
                    .unwrap_or_default()
            } else if let Some(r) = from.secret_key_ref {
                let api: Api<Secret> = Api::namespaced(inner.client.clone(), &ns);
                let s = api.get(&r.name).await?;
                s.data
                    .and_then(|d| d.get(&r.key).cloned())
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        out.push((e.name, value));
    }
    Ok(out)
}

/// Materialises the pod's volumes; returns (volume name → host directory).
async fn volumes(inner: &Inner, pod: &Pod, dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let ns = pod.namespace().unwrap_or_default();
    let mut out = BTreeMap::new();
    for v in pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default()
    {
        let path = if let Some(cm) = &v.config_map {
            let d = dir.join("vol").join(&v.name);
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d)?;
            let api: Api<ConfigMap> = Api::namespaced(inner.client.clone(), &ns);
            match api.get(&cm.name).await {
                Ok(obj) => {
                    for (k, val) in obj.data.unwrap_or_default() {
                        std::fs::write(d.join(k), val)?;
                    }
                    for (k, val) in obj.binary_data.unwrap_or_default() {
                        std::fs::write(d.join(k), val.0)?;
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 && cm.optional == Some(true) => {}
                Err(e) => return Err(e.into()),
            }
            d
        } else if let Some(sec) = &v.secret {
            let d = dir.join("vol").join(&v.name);
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d)?;
            let api: Api<Secret> = Api::namespaced(inner.client.clone(), &ns);
            let name = sec.secret_name.clone().unwrap_or_default();
            match api.get(&name).await {
                Ok(obj) => {
                    for (k, val) in obj.data.unwrap_or_default() {
                        std::fs::write(d.join(k), val.0)?;
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 && sec.optional == Some(true) => {}
                Err(e) => return Err(e.into()),
            }
            d
        } else if v.empty_dir.is_some() {
            let d = dir.join("vol").join(&v.name);
            std::fs::create_dir_all(&d)?;
            own_volume(pod, &d, 0o777)?;
            d
        } else if let Some(proj) = &v.projected {
            // The service-account volume admission adds: a real token (TokenRequest), the
            // cluster CA ConfigMap and the namespace.
            let d = dir.join("vol").join(&v.name);
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d)?;
            for src in proj.sources.clone().unwrap_or_default() {
                if let Some(t) = src.service_account_token {
                    let sa = pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.service_account_name.clone())
                        .unwrap_or_else(|| "default".into());
                    let api: Api<ServiceAccount> = Api::namespaced(inner.client.clone(), &ns);
                    let req: TokenRequest = serde_json::from_value(serde_json::json!({
                        "spec": {"audiences": t.audience.map(|a| vec![a]).unwrap_or_default(),
                                 "expirationSeconds": t.expiration_seconds.unwrap_or(3600)}
                    }))
                    .map_err(|e| KubeletError::Pod(e.to_string()))?;
                    let tok = api
                        .create_token_request(&sa, &PostParams::default(), &req)
                        .await?;
                    let token = tok.status.map(|s| s.token).unwrap_or_default();
                    std::fs::write(d.join(&t.path), token)?;
                }
                if let Some(cm) = src.config_map {
                    let api: Api<ConfigMap> = Api::namespaced(inner.client.clone(), &ns);
                    if let Ok(obj) = api.get(&cm.name).await {
                        let data = obj.data.unwrap_or_default();
                        match cm.items {
                            Some(items) => {
                                for it in items {
                                    if let Some(val) = data.get(&it.key) {
                                        std::fs::write(d.join(&it.path), val)?;
                                    }
                                }
                            }
                            None => {
                                for (k, val) in data {
                                    std::fs::write(d.join(k), val)?;
                                }
                            }
                        }
                    }
                }
                if let Some(da) = src.downward_api {
                    for it in da.items.unwrap_or_default() {
                        let val = match it.field_ref.map(|f| f.field_path).as_deref() {
                            Some("metadata.namespace") => ns.clone(),
                            Some("metadata.name") => pod.name_any(),
                            _ => continue,
                        };
                        std::fs::write(d.join(&it.path), val)?;
                    }
                }
            }
            d
        } else if let Some(pvc) = &v.persistent_volume_claim {
            let d = inner.state.join("pvc").join(&ns).join(&pvc.claim_name);
            std::fs::create_dir_all(&d)?;
            own_volume(pod, &d, 0o755)?;
            d
        } else {
            return Err(KubeletError::Pod(format!(
                "volume {}: only configMap, secret, projected, emptyDir and persistentVolumeClaim are supported",
                v.name
            )));
        };
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

async fn start_container(
    inner: &Inner,
    pod: &Pod,
    att: &net::Attached,
    dir: &Path,
    c: &Container,
) -> Result<Running> {
    let vols = volumes(inner, pod, dir).await?;
    let env = env_of(inner, pod, att.ip, c).await?;
    let mut argv: Vec<String> = c.command.clone().unwrap_or_default();
    argv.extend(c.args.clone().unwrap_or_default());
    if argv.is_empty() {
        return Err(KubeletError::Pod(format!(
            "container {}: no command (image entrypoints are unknown here)",
            c.name
        )));
    }
    let mut mounts: Vec<(PathBuf, String, bool)> = Vec::new();
    for m in c.volume_mounts.clone().unwrap_or_default() {
        let Some(src) = vols.get(&m.name) else {
            return Err(KubeletError::Pod(format!(
                "mount of unknown volume {}",
                m.name
            )));
        };
        if m.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(KubeletError::Pod(format!(
                "mount {}: subPath is not supported",
                m.mount_path
            )));
        }
        mounts.push((src.clone(), m.mount_path.clone(), m.read_only == Some(true)));
    }
    // The container's own root (see `rootfs`): every mount point is made there, none on the host.
    let root = dir.join("rootfs").join(&c.name);
    let binds = rootfs::plan(&root, &mounts, &inner.cfg.bin_dir)?;
    let who = identity(pod, c)?;
    let read_only_root = c
        .security_context
        .as_ref()
        .and_then(|s| s.read_only_root_filesystem)
        .unwrap_or(false);
    let workdir = c.working_dir.clone().unwrap_or_else(|| "/".into());
    let script = rootfs::script(&root, &binds, read_only_root, &who, &workdir);
    let log = dir.join(format!("{}.log", c.name));
    std::fs::create_dir_all(dir)?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &att.ns,
        "/bin/sh",
        "-c",
        &script,
        "container",
    ])
    .args(&argv)
    .env_clear()
    .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    // What a runtime sets when the image says nothing; the container's env may override it.
    .env(
        "HOME",
        if who.uid.unwrap_or(0) == 0 {
            "/root"
        } else {
            "/"
        },
    )
    .env("HOSTNAME", pod.name_any())
    .current_dir(dir)
    .stdin(Stdio::null())
    .stdout(out)
    .stderr(err);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let child = cmd.spawn()?;
    let pid = i32::try_from(child.id()).map_err(|_| KubeletError::Pod("pid".into()))?;
    lock(&inner.groups).insert(pid);
    // The watcher: when this process dies, its end of the pipe closes and the group is killed.
    let watcher = Command::new("sh")
        .args([
            "-c",
            "cat >/dev/null; kill -KILL -- -\"$1\"",
            "watcher",
            &pid.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
        .and_then(|mut w| w.stdin.take().map(|s| (w, s)));
    Ok(Running {
        child,
        pid,
        started: Instant::now(),
        watcher,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pod(name: &str, ready: bool, labels: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns", "labels": labels},
            "spec": {"hostname": name, "subdomain": "db", "containers": []},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap()
    }

    fn svc(name: &str, headless: bool, not_ready: bool) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"clusterIP": if headless {"None"} else {"10.0.0.9"},
                     "selector": {"app": "db"}, "publishNotReadyAddresses": not_ready}
        }))
        .unwrap()
    }

    #[test]
    fn hosts_list_ready_endpoints_and_per_pod_records_of_headless_services() {
        let a = Ipv4Addr::new(198, 18, 0, 2);
        let b = Ipv4Addr::new(198, 18, 0, 3);
        let running = vec![
            (pod("db-0", true, serde_json::json!({"app": "db"})), a),
            (pod("db-1", false, serde_json::json!({"app": "db"})), b),
            (pod("other", true, serde_json::json!({"app": "x"})), b),
        ];
        let text = hosts_text(
            Some(("me", a)),
            Some("ns"),
            &running,
            &[svc("db", true, false), svc("front", false, false)],
        );
        // Only the ready pod is an endpoint; the ClusterIP is never written.
        assert!(text.contains("198.18.0.2 db.ns.svc.cluster.local db.ns.svc db.ns db\n"));
        assert!(text.contains("198.18.0.2 db-0.db.ns.svc.cluster.local db-0.db.ns.svc db-0.db\n"));
        assert!(text.contains("198.18.0.2 front.ns.svc.cluster.local"));
        assert!(!text.contains("198.18.0.3"), "{text}");
        assert!(!text.contains("10.0.0.9"));
        // publishNotReadyAddresses lists the unready pod too; no short names outside `ns`.
        let text = hosts_text(None, None, &running, &[svc("db", true, true)]);
        assert!(text.contains("198.18.0.3 db-1.db.ns.svc.cluster.local db-1.db.ns.svc\n"));
        assert!(text.contains("198.18.0.3 db.ns.svc.cluster.local db.ns.svc db.ns\n"));
        assert!(!text.contains("other"));
    }

    #[test]
    fn pool_addresses_stay_inside_198_18_0_0_15() {
        for n in [0, 1, 253, 65_535, 129_999, 130_000, u32::MAX] {
            let ip = net::pool_address(n);
            let o = ip.octets();
            assert!(o[0] == 198 && (o[1] == 18 || o[1] == 19), "{ip}");
            assert_ne!(ip, Ipv4Addr::new(198, 18, 0, 0));
            assert_ne!(ip, Ipv4Addr::new(198, 19, 255, 255));
        }
    }
}
