//! The kind suite's scenarios without Docker: a real control plane (etcd, kube-apiserver,
//! kube-controller-manager from `/opt/kube-test/bin`), the real operator binary, and the test
//! kubelet (`e2e::kubelet`) running this checkout's `namesrv` and `broker` as the pods, each in
//! its own network namespace on a bridge in 198.18.0.0/15.
//!
//! Needs root (network namespaces, bind mounts) and the control-plane binaries. The tests are
//! `#[ignore]`d; `.ci/run` runs them with `--include-ignored` where the binaries are, and run that
//! way without root or the binaries every test prints `SKIPPED (<reason>)` and passes. Figures are printed on stderr
//! (`-- --nocapture`). See e2e/README.md, "Kubernetes with processes as pods".

#![allow(clippy::unwrap_used)] // test code: a failed setup step should stop the test

#[path = "../../operator/tests/support/control_plane.rs"]
#[allow(dead_code)]
mod control_plane;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use client::{Admin, ClientConfig};
use control_plane::{ControlPlane, Process};
use e2e::kubelet::{Kubelet, KubeletConfig, net};
use e2e::load::{self, Group, Load};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use operator::crd::RocketMQCluster;
use remoting::body::topic::TopicConfig;
use rustix::process::Signal;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the binaries the pods run (a no-op when fresh); their directory.
fn binaries() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut dir = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build", "--quiet", "-p", "namesrv", "-p", "broker", "-p", "operator", "-p", "cli",
            "--bins",
        ]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building the pod binaries");
        dir
    })
    .clone()
}

/// The control plane with deploy/operator.yaml applied, or None (after SKIPPED) when this
/// machine cannot run the suite.
fn setup() -> Option<&'static ControlPlane> {
    if let Err(why) = net::usable() {
        eprintln!("SKIPPED ({why})");
        return None;
    }
    let cp = control_plane::shared()?;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let manifest = repo().join("deploy/operator.yaml");
        cp.kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager=kube-test-install",
                "-f",
                manifest.to_str().unwrap(),
            ],
            None,
        )
        .unwrap();
        cp.kubectl(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/rocketmqclusters.rocketmq.rocketmq-rs.io",
            ],
            None,
        )
        .unwrap();
    });
    Some(cp)
}

fn namespace(cp: &ControlPlane, prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let ns = format!(
        "{prefix}-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    cp.kubectl(&["create", "namespace", &ns], None).unwrap();
    ns
}

async fn kubelet(cp: &ControlPlane, ns: &str) -> Kubelet {
    Kubelet::start(
        cp.admin_client().await,
        KubeletConfig {
            node: format!("node-{ns}"),
            namespaces: vec![ns.to_string()],
            image_prefix: "rocketmq-rs".into(),
            bin_dir: binaries(),
        },
    )
    .await
    .unwrap()
}

/// Polls `f` every 250 ms until `Ok`, panics after `timeout` with the last error.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if start.elapsed() > timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|c| c.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0)
}

/// Addresses of `name` in the hosts file the kubelet keeps for namespace `netns`.
fn hosts_lookup(netns: &str, name: &str) -> Vec<Ipv4Addr> {
    let text = std::fs::read_to_string(format!("/etc/netns/{netns}/hosts")).unwrap_or_default();
    text.lines()
        .filter(|l| l.split_whitespace().skip(1).any(|n| n == name))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// `getent ahostsv4 name` as a process in `netns` sees it (through its /etc/hosts).
fn getent(netns: &str, name: &str) -> Vec<Ipv4Addr> {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "getent", "ahostsv4", name])
        .output()
        .unwrap();
    let mut v: Vec<Ipv4Addr> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Runs `f` (a future factory) on a multi-thread runtime whose threads all live in `netns`.
async fn in_client<T, F, Fut>(netns: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    net::run_in_netns(netns, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f())
    })
    .await
    .unwrap()
}

/// The kubelet's own behaviour: Node, binding, pod IP, downward API env, configMap and PVC
/// volumes, DNS records of a headless Service, readiness from an httpGet probe, restart with
/// back-off after SIGKILL, SIGTERM then SIGKILL on deletion, and cleanup.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs root and kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn kubelet_runs_pods_as_processes() {
    let Some(cp) = setup() else { return };
    let t0 = Instant::now();
    let host_paths: Vec<(&str, bool)> = ["/etc/e2ek", "/data/e2ek", "/data"]
        .into_iter()
        .map(|p| (p, Path::new(p).exists()))
        .collect();
    let ns = namespace(cp, "kubelet");
    let client = cp.admin_client().await;
    let k = kubelet(cp, &ns).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let svcs: Api<Service> = Api::namespaced(client.clone(), &ns);
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cfg"}, "data": {"greeting": "hello from a configmap"}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    svcs.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 8080}]}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    // A web server: writes its env and the ConfigMap's file into its claim, serves HTTP on the
    // pod IP. Readiness by httpGet, liveness by tcpSocket.
    let web = serde_json::json!({
        "metadata": {"name": "web-0", "labels": {"app": "web"}},
        "spec": {
            "hostname": "web-0", "subdomain": "web",
            "terminationGracePeriodSeconds": 5,
            "containers": [{
                "name": "web", "image": "rocketmq-rs:test",
                "command": ["/bin/sh", "-c"],
                "args": ["echo \"$POD_NAME $POD_NAMESPACE $POD_IP\" >> /data/e2ek/env; cat /etc/e2ek/greeting >> /data/e2ek/env; cd /etc/e2ek && exec python3 -m http.server 8080 --bind \"$POD_IP\""],
                "env": [
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
                ],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/greeting", "port": "http"}, "periodSeconds": 1},
                "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2, "initialDelaySeconds": 2},
                "volumeMounts": [
                    {"name": "cfg", "mountPath": "/etc/e2ek", "readOnly": true},
                    {"name": "data", "mountPath": "/data/e2ek"}
                ]
            }],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}
            ]
        }
    });
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(web).unwrap(),
    )
    .await
    .unwrap();
    let p = wait_for("web-0 Ready", Duration::from_secs(60), || async {
        let p = pods.get("web-0").await.map_err(|e| e.to_string())?;
        if ready(&p) {
            Ok(p)
        } else {
            Err(format!("{:?}", p.status))
        }
    })
    .await;
    let ready_after = t0.elapsed();
    let st = p.status.clone().unwrap();
    let ip: Ipv4Addr = st.pod_ip.clone().unwrap().parse().unwrap();
    assert_eq!(ip.octets()[0], 198);
    assert!(matches!(ip.octets()[1], 18 | 19), "{ip}");
    assert_eq!(
        p.spec.as_ref().unwrap().node_name.as_deref(),
        Some(format!("node-{ns}").as_str())
    );
    let cs = &st.container_statuses.unwrap()[0];
    assert!(
        cs.ready && cs.state.as_ref().unwrap().running.is_some(),
        "{cs:?}"
    );
    let env = std::fs::read_to_string(k.claim_dir(&ns, "data-web-0").join("env")).unwrap();
    assert_eq!(env, format!("web-0 {ns} {ip}\nhello from a configmap"));
    // The mount points live in the container's own root: nothing was created on the host.
    for (p, existed) in &host_paths {
        assert_eq!(Path::new(p).exists(), *existed, "{p} on the host");
    }

    // DNS: a client namespace resolves the per-pod record and the Service, and reaches the pod.
    let cli = k.client_netns("cli").unwrap();
    let fqdn = format!("web-0.web.{ns}.svc.cluster.local");
    let svc = format!("web.{ns}.svc");
    wait_for("DNS records", Duration::from_secs(10), || async {
        let (a, b) = (getent(&cli.ns, &fqdn), getent(&cli.ns, &svc));
        if a == vec![ip] && b == vec![ip] {
            Ok(())
        } else {
            Err(format!("{a:?} {b:?}"))
        }
    })
    .await;
    assert!(
        net::tcp_probe(
            &cli.ns,
            SocketAddr::from((ip, 8080)),
            Duration::from_secs(2)
        )
        .await
    );

    // SIGKILL: restarted (restartCount 1), Ready again, same IP, the claim kept its file.
    assert!(k.signal(&ns, "web-0", "web", Signal::KILL));
    let p = wait_for(
        "web-0 restarted and Ready",
        Duration::from_secs(60),
        || async {
            let p = pods.get("web-0").await.map_err(|e| e.to_string())?;
            if ready(&p) && restarts(&p) == 1 {
                Ok(p)
            } else {
                Err(format!("{:?}", p.status))
            }
        },
    )
    .await;
    assert_eq!(
        p.status.unwrap().pod_ip.as_deref(),
        Some(ip.to_string().as_str())
    );
    let env = std::fs::read_to_string(k.claim_dir(&ns, "data-web-0").join("env")).unwrap();
    assert_eq!(env.matches("web-0 ").count(), 2, "{env}");

    // A process that ignores SIGTERM is SIGKILLed after its grace period.
    let stubborn = serde_json::json!({
        "metadata": {"name": "stubborn"},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
            "name": "c", "image": "rocketmq-rs:test",
            "command": ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"],
            "readinessProbe": {"exec": {"command": ["/bin/true"]}, "periodSeconds": 1}
        }]}
    });
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(stubborn).unwrap(),
    )
    .await
    .unwrap();
    wait_for(
        "stubborn Ready (exec probe)",
        Duration::from_secs(30),
        || async {
            let p = pods.get("stubborn").await.map_err(|e| e.to_string())?;
            if ready(&p) {
                Ok(())
            } else {
                Err(format!("{:?}", p.status))
            }
        },
    )
    .await;
    let del = Instant::now();
    for name in ["web-0", "stubborn"] {
        pods.delete(name, &DeleteParams::default()).await.unwrap();
    }
    wait_for("both pods gone", Duration::from_secs(40), || async {
        let l = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        if l.items.is_empty() {
            Ok(())
        } else {
            Err(format!("{} left", l.items.len()))
        }
    })
    .await;
    let deleted_in = del.elapsed();
    let journal = k.journal();
    assert!(
        journal.iter().any(|l| l.starts_with("sigkill c ")),
        "{journal:#?}"
    );
    assert!(
        !journal.iter().any(|l| l.starts_with("sigkill web ")),
        "{journal:#?}"
    );
    let dels = k.deletions();
    assert_eq!(dels.get(&format!("{ns}/web-0")), Some(&1));
    assert_eq!(dels.get(&format!("{ns}/stubborn")), Some(&1));
    wait_for("pod namespaces removed", Duration::from_secs(5), || async {
        if k.running_pods() == 0 {
            Ok(())
        } else {
            Err(format!("{}", k.running_pods()))
        }
    })
    .await;
    let stem = k.node_netns().trim_end_matches("node").to_string();
    drop(k);
    let left = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        !left.lines().any(|l| l.starts_with(&stem)),
        "left behind: {left}"
    );
    eprintln!(
        "kubelet: web-0 Ready after {ready_after:?} (incl. kubelet start); restart after SIGKILL ok; \
         2 pods deleted in {deleted_in:?} (one SIGKILLed after its 2 s grace); journal {} entries; total {:?}",
        journal.len(),
        t0.elapsed()
    );
}

/// Forwards `127.0.0.1:6443` inside `netns` to the API server on the host's loopback, so a
/// process in the namespace (the operator) reaches the API server while talking to pods on the
/// bridge. The serving certificate names 127.0.0.1, so TLS verification still holds.
async fn api_forwarder(netns: &str, server: &str) -> tokio::task::JoinHandle<()> {
    let port: u16 = server.rsplit(':').next().unwrap().parse().unwrap();
    let l = net::listen_in(netns, SocketAddr::from(([127, 0, 0, 1], 6443)))
        .await
        .unwrap();
    l.set_nonblocking(true).unwrap();
    let l = tokio::net::TcpListener::from_std(l).unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    })
}

/// The operator binary in its own namespace on the bridge, as its ServiceAccount.
async fn start_operator(
    cp: &ControlPlane,
    k: &Kubelet,
    watch: &str,
) -> (Process, tokio::task::JoinHandle<()>) {
    let op = k.client_netns("op").unwrap();
    let fwd = api_forwarder(&op.ns, &cp.server).await;
    let kc = cp.service_account_kubeconfig("rocketmq-system", "rocketmq-operator");
    let text = std::fs::read_to_string(&kc)
        .unwrap()
        .replace(&cp.server, "https://127.0.0.1:6443");
    std::fs::write(&kc, text).unwrap();
    let bin = binaries().join("operator");
    let p = Process::spawn(
        "operator",
        Path::new("ip"),
        &[
            "netns".into(),
            "exec".into(),
            op.ns.clone(),
            bin.display().to_string(),
            "run".into(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--namespace".into(),
            watch.into(),
        ],
        &[
            ("KUBECONFIG", kc.display().to_string()),
            ("POD_NAMESPACE", "rocketmq-system".into()),
            ("POD_NAME", format!("operator-{watch}")),
            ("RUST_LOG", "info,kube=warn".into()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ],
        &cp.dir.join(format!("operator-{watch}.log")),
        None,
    )
    .unwrap();
    (p, fwd)
}

fn example(file: &str) -> RocketMQCluster {
    let text = std::fs::read_to_string(repo().join("deploy").join(file)).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

async fn apply_cluster(client: &kube::Client, ns: &str, cr: &RocketMQCluster) {
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    let mut body = serde_json::to_value(cr).unwrap();
    body["metadata"] = serde_json::json!({ "name": cr.name_any() });
    body.as_object_mut().map(|o| o.remove("status"));
    api.patch(
        &cr.name_any(),
        &PatchParams::apply("kube-test-user").force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap();
}

async fn cluster_ready(client: &kube::Client, ns: &str, name: &str, timeout: Duration) {
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    wait_for(&format!("{ns}/{name} Ready"), timeout, || async {
        let cr = api.get(name).await.map_err(|e| e.to_string())?;
        let generation = cr.meta().generation;
        let st = cr.status.clone().ok_or("no status")?;
        let r = st.conditions.iter().find(|c| c.type_ == "Ready");
        match r {
            Some(c) if c.status == "True" && c.observed_generation == generation => Ok(()),
            _ => Err(format!("{:?}", st.conditions)),
        }
    })
    .await
}

/// After Ready (a name server and every master serve), the slaves and the other name servers
/// may still be starting: the operator says so with Progressing=True (WaitingForPods) and turns
/// it False (Stable) once every pod is Ready. Waits for that, then counts the pods; returns the
/// count and how long after Ready it took.
async fn cluster_settled(
    client: &kube::Client,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> ((usize, usize), Duration) {
    let t = Instant::now();
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let counted = wait_for(
        &format!("{ns}/{name} Stable with every pod Ready"),
        timeout,
        || async {
            let cr = api.get(name).await.map_err(|e| e.to_string())?;
            let generation = cr.meta().generation;
            let st = cr.status.clone().ok_or("no status")?;
            let p = st.conditions.iter().find(|c| c.type_ == "Progressing");
            match p {
                Some(c) if c.status == "False" && c.observed_generation == generation => {
                    let (r, n) = pods_ready(&pods).await;
                    if r == n {
                        Ok((r, n))
                    } else {
                        Err(format!("Stable but {r}/{n} pods ready"))
                    }
                }
                _ => Err(format!("{:?}", st.conditions)),
            }
        },
    )
    .await;
    (counted, t.elapsed())
}

async fn pods_ready(pods: &Api<Pod>) -> (usize, usize) {
    let l = pods.list(&ListParams::default()).await.unwrap();
    (l.items.iter().filter(|p| ready(p)).count(), l.items.len())
}

/// The groups (master first) and cluster name the name servers know.
async fn groups_of(namesrv: &str) -> Result<(String, Vec<Group>), String> {
    let admin = Admin::new(ClientConfig::new(namesrv.to_string())).map_err(|e| e.to_string())?;
    let info = admin.cluster_info().await.map_err(|e| e.to_string());
    admin.shutdown().await;
    let info = info?;
    let cluster = info
        .cluster_addr_table
        .keys()
        .next()
        .cloned()
        .ok_or("no cluster")?;
    let groups = info
        .broker_addr_table
        .values()
        .map(|b| Group {
            broker_name: b.broker_name.clone(),
            addrs: b.broker_addrs.values().cloned().collect(),
        })
        .collect();
    Ok((cluster, groups))
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kind suite's steps on one example: apply → Ready; produce/consume through the name-server
/// Service (project client, and the C++ client when installed); SIGKILL group 0's master under
/// load; delete leaves nothing.
async fn scenario(file: &str) {
    let Some(cp) = setup() else { return };
    let t0 = Instant::now();
    let label = file
        .trim_start_matches("cluster-")
        .trim_end_matches(".yaml")
        .to_string();
    let ns = namespace(cp, &label);
    let client = cp.admin_client().await;
    let k = kubelet(cp, &ns).await;
    let (operator, _fwd) = start_operator(cp, &k, &ns).await;
    let cr = example(file);
    let name = cr.name_any();
    apply_cluster(&client, &ns, &cr).await;
    cluster_ready(&client, &ns, &name, Duration::from_secs(240)).await;
    let up = t0.elapsed();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let ((r, n), settled) = cluster_settled(&client, &ns, &name, Duration::from_secs(180)).await;
    eprintln!(
        "{label}: Ready after {up:?}, every pod after {settled:?} more: {r}/{n} pods ready; kubelet journal {} entries",
        k.journal().len()
    );
    assert_eq!((r, n), (6, 6), "2 name servers + 2 groups x 2 brokers");

    // The name-server Service, as a process in a client namespace resolves it.
    let cli = k.client_netns("cli").unwrap();
    let svc = format!("{}.{ns}.svc", operator::names::namesrv_service(&name));
    let addrs = wait_for(
        "name-server Service in DNS",
        Duration::from_secs(20),
        || async {
            let a = getent(&cli.ns, &svc);
            if a.len() == 2 {
                Ok(a)
            } else {
                Err(format!("{a:?}"))
            }
        },
    )
    .await;
    assert_eq!(hosts_lookup(&cli.ns, &svc).len(), 2);
    let namesrv = addrs
        .iter()
        .map(|a| format!("{a}:9876"))
        .collect::<Vec<_>>()
        .join(";");
    let topic = "E2EKube";
    let total = env_or("E2E_MESSAGES", 3_000);
    let tasks = env_or("E2E_PRODUCERS", 8) as usize;

    // Topic on every master, then on every slave (metadata sync every 10 s).
    let setup_t = Instant::now();
    let ns2 = namesrv.clone();
    let (cluster, groups) = in_client(&cli.ns, move || async move {
        let (cluster, groups) = wait_for(
            "both groups registered with master and slave",
            Duration::from_secs(60),
            || {
                let ns2 = ns2.clone();
                async move {
                    let (c, g) = groups_of(&ns2).await?;
                    if g.len() == 2 && g.iter().all(|g| g.addrs.len() == 2) {
                        Ok((c, g))
                    } else {
                        Err(format!("{g:?}"))
                    }
                }
            },
        )
        .await;
        let admin = Admin::new(ClientConfig::new(ns2.clone())).unwrap();
        for t in [topic, "E2EKubeCpp"] {
            // A name server may still list one master only (registrations reach the two name
            // servers independently): create until both masters have it.
            wait_for("topic on both masters", Duration::from_secs(60), || {
                let (admin, cluster) = (&admin, &cluster);
                async move {
                    let masters = admin
                        .create_topic(cluster, &TopicConfig::with_queues(t, 4, 4, 6))
                        .await
                        .map_err(|e| e.to_string())?;
                    if masters.len() == 2 {
                        Ok(())
                    } else {
                        Err(format!("{masters:?}"))
                    }
                }
            })
            .await;
        }
        admin.shutdown().await;
        for g in &groups {
            let slave = vec![Group {
                broker_name: g.broker_name.clone(),
                addrs: vec![g.addrs[1].clone()],
            }];
            wait_for("topic on the slave", Duration::from_secs(60), || {
                let (ns2, slave) = (ns2.clone(), slave.clone());
                async move {
                    load::drain(&ns2, topic, "probe", &slave, 1)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            })
            .await;
        }
        (cluster, groups)
    })
    .await;
    eprintln!(
        "{label}: cluster {cluster}, groups {groups:?}; topic on all 4 brokers after {:?}",
        setup_t.elapsed()
    );

    // Produce and consume through the Service.
    let ns2 = namesrv.clone();
    let pc = Instant::now();
    let (sent, drained) = in_client(&cli.ns, move || async move {
        let sent = load::produce(Load::new(), &ns2, topic, "pc", tasks, total, None)
            .await
            .unwrap();
        let groups = groups_of(&ns2).await.unwrap().1;
        let (drained, reads) = load::drain_acked(
            &ns2,
            topic,
            "pc",
            &groups,
            4,
            &sent,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        (sent, (drained, reads))
    })
    .await;
    let (drained, reads) = drained;
    let t = load::tally(&sent, &drained);
    eprintln!(
        "{label}: produce/consume: {total} msgs from {tasks} producers: acked {} weak {} failed {}; per broker {:?}; read {} in {reads} read(s) (per addr {:?}); lost {} duplicates {}; {:?}",
        sent.acked.len(),
        sent.weak.len(),
        sent.failed.len(),
        sent.per_broker,
        drained.seen.len(),
        drained.per_addr,
        t.lost.len(),
        t.duplicates,
        pc.elapsed()
    );
    assert!(t.lost.is_empty() && sent.failed.is_empty());
    assert_eq!(sent.per_broker.len(), 2, "both groups took sends");

    // The C++ client, through the Service name (its resolver reads the namespace's hosts file).
    cpp_client(&label, &cli.ns, &svc);

    // SIGKILL group 0's master under load: sends move to group 1, group 0 stays readable from
    // its slave; the kubelet restarts the master on its volume and nothing acknowledged is lost.
    let master = operator::names::broker_pod(&name, 0, 0);
    let pid = k.pid(&ns, &master, "broker").unwrap();
    let ns2 = namesrv.clone();
    let g2 = groups.clone();
    let kt = Instant::now();
    let (sent, killed_at, from_slave) = in_client(&cli.ns, move || async move {
        let load = Load::new();
        let producing = {
            let (load, ns2) = (load.clone(), ns2.clone());
            tokio::spawn(async move {
                load::produce(load, &ns2, topic, "kill", tasks, total, None).await
            })
        };
        assert!(load.wait_acked(total / 3, Duration::from_secs(120)).await);
        let killed_at = load.acked.load(std::sync::atomic::Ordering::SeqCst);
        assert!(e2e::kubelet::kill_group(pid, Signal::KILL));
        let sent = producing.await.unwrap().unwrap();
        // Group 0 read from its slave alone.
        let slave = vec![Group {
            broker_name: g2[0].broker_name.clone(),
            addrs: vec![g2[0].addrs[1].clone()],
        }];
        let from_slave = load::drain(&ns2, topic, "kill", &slave, 4).await.unwrap();
        (sent, killed_at, from_slave)
    })
    .await;
    let produced = kt.elapsed();
    let g0_acked = sent
        .per_broker
        .get(&groups[0].broker_name)
        .copied()
        .unwrap_or(0);
    eprintln!(
        "{label}: master {master} (pid {pid}) SIGKILLed after {killed_at} acks: acked {} weak {} failed {}; per broker {:?}; read from its slave alone: {} ({} of group 0's {g0_acked} acked); {produced:?}",
        sent.acked.len(),
        sent.weak.len(),
        sent.failed.len(),
        sent.per_broker,
        from_slave.seen.len(),
        sent.acked
            .iter()
            .filter(|s| from_slave.seen.contains_key(s))
            .count()
    );
    assert!(
        !from_slave.seen.is_empty(),
        "group 0 readable from its slave"
    );
    let back = wait_for(
        "master restarted and Ready",
        Duration::from_secs(120),
        || async {
            let p = pods.get(&master).await.map_err(|e| e.to_string())?;
            if ready(&p) && restarts(&p) >= 1 {
                Ok(p)
            } else {
                Err(format!("restarts {}", restarts(&p)))
            }
        },
    )
    .await;
    let back_after = kt.elapsed();
    let ns2 = namesrv.clone();
    let g2 = groups.clone();
    let sent2 = sent.clone();
    let (after, per_member_lost) = in_client(&cli.ns, move || async move {
        // Both members registered again, then read everything (master first).
        wait_for(
            "group 0 master registered again",
            Duration::from_secs(60),
            || {
                let ns2 = ns2.clone();
                async move {
                    let (_, g) = groups_of(&ns2).await?;
                    if g.iter().all(|g| g.addrs.len() == 2) {
                        Ok(())
                    } else {
                        Err(format!("{g:?}"))
                    }
                }
            },
        )
        .await;
        let after = load::drain(&ns2, topic, "kill", &g2, 4).await.unwrap();
        let mut per_member = Vec::new();
        for addr in &g2[0].addrs {
            let only = vec![Group {
                broker_name: g2[0].broker_name.clone(),
                addrs: vec![addr.clone()],
            }];
            let d = load::drain(&ns2, topic, "kill", &only, 4).await.unwrap();
            let missing = sent2
                .acked
                .iter()
                .filter(|s| !d.seen.contains_key(s))
                .count();
            per_member.push((addr.clone(), d.seen.len(), missing));
        }
        (after, per_member)
    })
    .await;
    let t = load::tally(&sent, &after);
    eprintln!(
        "{label}: after the master returned ({back_after:?}, restartCount {}): read {} (per addr {:?}); group 0 members (addr, read, acked-not-there incl. group 1's) {per_member_lost:?}; lost {} duplicates {}",
        restarts(&back),
        after.seen.len(),
        after.per_addr,
        t.lost.len(),
        t.duplicates
    );
    assert!(
        t.lost.is_empty(),
        "acknowledged but lost: {:?}",
        &t.lost[..t.lost.len().min(20)]
    );

    roll_under_load(&client, &k, &cli.ns, &ns, &name, &label, topic).await;
    scale_out_and_in(&client, &k, &cli.ns, &ns, &name, &label, topic).await;
    delete_cluster(&client, &ns, &name, &label, k, operator, t0).await;
}

/// `mqadmin <args> -n <namesrv>` as a process in `netns`; its stdout, or the error.
fn mqadmin(netns: &str, namesrv: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(binaries().join("mqadmin"))
        .args(args)
        .args(["-n", namesrv])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout} {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Merge-patches the cluster's spec (as a user's `kubectl patch --type merge` would).
async fn patch_spec(client: &kube::Client, ns: &str, name: &str, spec: serde_json::Value) {
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({ "spec": spec })),
    )
    .await
    .unwrap();
}

/// The cluster's condition `type_` as (status, reason), at the current generation only.
async fn condition(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
) -> Option<(String, String)> {
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    let cr = api.get(name).await.ok()?;
    let generation = cr.meta().generation;
    cr.status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_ && c.observed_generation == generation)
        .map(|c| (c.status, c.reason))
}

/// Waits until the namespace has exactly `want` pods, all Ready, none terminating, every one
/// running `image`; then until the cluster is Ready at its generation.
async fn settled(client: &kube::Client, ns: &str, name: &str, want: usize, image: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    wait_for(
        &format!("{want} Ready pods running {image}"),
        Duration::from_secs(600),
        || async {
            let l = pods
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let ok = l.items.iter().filter(|p| {
                ready(p)
                    && p.metadata.deletion_timestamp.is_none()
                    && p.spec.as_ref().is_some_and(|s| {
                        s.containers
                            .iter()
                            .all(|c| c.image.as_deref() == Some(image))
                    })
            });
            let (n, all) = (ok.count(), l.items.len());
            if n == want && all == want {
                Ok(())
            } else {
                Err(format!("{n} of {all} pods Ready on {image}"))
            }
        },
    )
    .await;
    cluster_ready(client, ns, name, Duration::from_secs(300)).await;
}

/// A steady `e2e-bench produce` in `netns` until `stop` exists; (child, acked file).
fn steady_load(
    netns: &str,
    svc: &str,
    topic: &str,
    run: &str,
    dir: &Path,
) -> (std::process::Child, PathBuf, PathBuf) {
    let acked = dir.join(format!("{run}.acked"));
    let stop = dir.join(format!("{run}.stop"));
    let child = Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(binaries().join("e2e-bench"))
        .args([
            "-n",
            svc,
            "-t",
            topic,
            "produce",
            "--run",
            run,
            "--count",
            "1000000000",
        ])
        .args(["--producers", "4", "--pace-ms", "25"])
        .arg("--acked-file")
        .arg(&acked)
        .arg("--stop-file")
        .arg(&stop)
        // Every failed send with its error, for the summary `stop_load` prints.
        .env("RUST_LOG", "e2e::load=debug,warn")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.join(format!("{run}.err"))).unwrap())
        .spawn()
        .unwrap();
    (child, acked, stop)
}

/// The final errors of a [`steady_load`]'s failed sends (after the client's retries), counted
/// by message with numbers masked, and every IPv4 address they name.
fn send_errors(
    dir: &Path,
    run: &str,
) -> (std::collections::BTreeMap<String, usize>, Vec<Ipv4Addr>) {
    let text = std::fs::read_to_string(dir.join(format!("{run}.err"))).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    let mut addrs = Vec::new();
    for l in text
        .lines()
        .filter(|l| l.contains("e2e::load") && l.contains("send failed"))
    {
        let e = l.split("error=").nth(1).unwrap_or(l);
        addrs.extend(
            e.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter_map(|t| t.parse::<Ipv4Addr>().ok()),
        );
        let e: String = e
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        *out.entry(e).or_insert(0) += 1;
    }
    (out, addrs)
}

/// Stops a [`steady_load`] and returns its summary line.
async fn stop_load(child: std::process::Child, stop: &Path) -> String {
    std::fs::write(stop, "").unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "{line}");
    line
}

/// Image roll under continuous load: a new image tag for the cluster while 4 producers send
/// steadily through the name-server Service. Every pod (name servers and brokers) is replaced
/// exactly once, no send fails beyond the client's retries, and nothing acknowledged is lost.
#[allow(clippy::too_many_arguments)]
async fn roll_under_load(
    client: &kube::Client,
    k: &Kubelet,
    cli: &str,
    ns: &str,
    name: &str,
    label: &str,
    topic: &str,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let svc = format!("{}.{ns}.svc:9876", operator::names::namesrv_service(name));
    let listed = pods.list(&ListParams::default()).await.unwrap().items;
    let before: Vec<String> = listed.iter().map(|p| p.name_any()).collect();
    let ip_of = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
    };
    let old_ips: Vec<Ipv4Addr> = listed.iter().filter_map(ip_of).collect();
    let dels_before = k.deletions();
    let dir = tempfile::tempdir().unwrap();
    let (child, acked, stop) = steady_load(cli, &svc, topic, "roll", dir.path());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rt = Instant::now();
    let image = "rocketmq-rs:e2e-roll";
    patch_spec(client, ns, name, serde_json::json!({ "image": image })).await;
    settled(client, ns, name, before.len(), image).await;
    let rolled_in = rt.elapsed();
    // A little load on the new pods too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let produced = stop_load(child, &stop).await;
    let a = acked.display().to_string();
    let drained = wait_for(
        "every acknowledged message read back",
        Duration::from_secs(60),
        || async {
            bench(
                cli,
                &svc,
                topic,
                &["drain", "--run", "roll", "--acked-file", &a],
            )
        },
    )
    .await;
    let (errors, failed_at) = send_errors(dir.path(), "roll");
    let dels = k.deletions();
    let replaced: Vec<(String, u32)> = before
        .iter()
        .map(|p| {
            let key = format!("{ns}/{p}");
            let n =
                dels.get(&key).copied().unwrap_or(0) - dels_before.get(&key).copied().unwrap_or(0);
            (p.clone(), n)
        })
        .collect();
    eprintln!(
        "{label}: image roll of {} pods under load in {rolled_in:?}: {produced}; {drained}; deletions per pod {replaced:?}; failed sends by error {errors:?}",
        before.len()
    );
    // No send fails after the client's retries. A replaced pod's old IP does not answer at all;
    // the client's 1 s connect timeout leaves the 3 s send budget room to retry on another
    // broker, and the failed connect refreshes the routes at once. (With Java's 3 s connect
    // timeout, 20-28 sends of each roll failed at the old addresses.) Should one fail anyway,
    // the message says where.
    let listed = pods.list(&ListParams::default()).await.unwrap().items;
    let new_ips: Vec<Ipv4Addr> = listed.iter().filter_map(ip_of).collect();
    for ip in &failed_at {
        assert!(
            old_ips.contains(ip) && !new_ips.contains(ip),
            "a send failed at {ip}, not a replaced pod's address: {errors:?}"
        );
    }
    let failed: usize = errors.values().sum();
    assert!(
        produced.contains(&format!(" failed={failed} ")),
        "{produced} vs {errors:?}"
    );
    assert_eq!(
        failed, 0,
        "sends failed after the client's retries: {errors:?}"
    );
    assert!(drained.contains(" lost=0 "), "{drained}");
    for (p, n) in &replaced {
        assert_eq!(*n, 1, "{p} replaced {n} times: {replaced:?}");
    }
    // New name-server pods (new names) were not replaced again.
    let now: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    for p in now.iter().filter(|p| !before.contains(p)) {
        assert_eq!(dels.get(&format!("{ns}/{p}")), None, "{p} deleted");
    }
}

/// Scale out (a third group gets the topic copied and takes sends), then scale in: refused
/// while the group may still hold unconsumed messages, done once its write permission is wiped.
#[allow(clippy::too_many_arguments)]
async fn scale_out_and_in(
    client: &kube::Client,
    k: &Kubelet,
    cli: &str,
    ns: &str,
    name: &str,
    label: &str,
    topic: &str,
) {
    let svc = format!("{}.{ns}.svc:9876", operator::names::namesrv_service(name));
    let image = "rocketmq-rs:e2e-roll";
    let new_group = operator::names::broker_group(name, 2);
    let st = Instant::now();
    patch_spec(
        client,
        ns,
        name,
        serde_json::json!({ "broker": { "groups": 3 } }),
    )
    .await;
    settled(client, ns, name, 8, image).await;
    let up = st.elapsed();
    let route = wait_for(
        "the topic routed to the new group",
        Duration::from_secs(120),
        || async {
            let r = mqadmin(cli, &svc, &["topicRoute", "-t", topic])?;
            if r.contains(&new_group) {
                Ok(r)
            } else {
                Err(r)
            }
        },
    )
    .await;
    let copied = st.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("so.acked").display().to_string();
    let produced = bench(
        cli,
        &svc,
        topic,
        &[
            "produce",
            "--run",
            "so",
            "--count",
            "1500",
            "--producers",
            "6",
            "--acked-file",
            &a,
        ],
    )
    .unwrap();
    let drained = bench(
        cli,
        &svc,
        topic,
        &["drain", "--run", "so", "--acked-file", &a],
    )
    .unwrap();
    eprintln!(
        "{label}: scale-out to 3 groups: 8 pods Ready after {up:?}, topic copied to {new_group} after {copied:?} ({} queue lines in its route); {produced}; {drained}",
        route.lines().filter(|l| l.contains(&new_group)).count()
    );
    assert!(
        produced.contains(" failed=0 ") && produced.contains(&format!("\"{new_group}\"")),
        "{produced}"
    );
    assert!(drained.contains(" lost=0 "), "{drained}");

    // Scale in while the third group holds messages and can still be written: refused.
    let rt = Instant::now();
    patch_spec(
        client,
        ns,
        name,
        serde_json::json!({ "broker": { "groups": 2 } }),
    )
    .await;
    wait_for(
        "Degraded/ScaleInRefused",
        Duration::from_secs(120),
        || async {
            match condition(client, ns, name, "Degraded").await {
                Some((s, r)) if s == "True" && r == "ScaleInRefused" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let refused_after = rt.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let (r, n) = pods_ready(&pods).await;
    assert_eq!((r, n), (8, 8), "the undrained group keeps its pods");
    let kept = bench(
        cli,
        &svc,
        topic,
        &["drain", "--run", "so", "--acked-file", &a],
    )
    .unwrap();
    assert!(kept.contains(" lost=0 "), "{kept}");

    // Drained: write permission wiped on the group's master (mqadmin updateBrokerConfig);
    // nothing committed lags. The operator then removes the group.
    let master = operator::names::broker_pod(name, 2, 0);
    let ip = k.pod_ip(ns, &master).unwrap();
    let dt = Instant::now();
    let out = mqadmin(
        cli,
        &svc,
        &[
            "updateBrokerConfig",
            "-b",
            &format!("{ip}:10911"),
            "-k",
            "brokerPermission",
            "-v",
            "4",
        ],
    )
    .unwrap();
    settled(client, ns, name, 6, image).await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    assert!(
        sts.get_opt(&new_group).await.unwrap().is_none(),
        "{new_group} StatefulSet removed"
    );
    let after = bench(cli, &svc, topic, &["drain", "--run", "roll"]).unwrap_or_else(|e| e);
    eprintln!(
        "{label}: scale-in to 2 groups refused after {refused_after:?} (Degraded/ScaleInRefused, 8/8 pods kept, {kept}); after wiping {new_group}'s write permission ({}) removed in {:?}; remaining groups: {after}",
        out.trim(),
        dt.elapsed()
    );
}

/// The names of every object `api` lists.
async fn names_of<K>(api: &Api<K>) -> Result<Vec<String>, String>
where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?
        .items
        .iter()
        .map(|o| o.name_any())
        .collect())
}

/// Deletes the cluster: the operator's finalizer, garbage collection and the kubelet's graceful
/// stops leave no pod, StatefulSet, Service or ConfigMap, and no network namespace.
async fn delete_cluster(
    client: &kube::Client,
    ns: &str,
    name: &str,
    label: &str,
    k: Kubelet,
    operator: Process,
    t0: Instant,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let dt = Instant::now();
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    api.delete(name, &DeleteParams::default()).await.unwrap();
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let svcs: Api<Service> = Api::namespaced(client.clone(), ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    wait_for("everything deleted", Duration::from_secs(120), || async {
        let c = names_of(&api).await?.len();
        let p = names_of(&pods).await?.len();
        let s = names_of(&sts).await?.len();
        let v = names_of(&svcs).await?.len();
        let m: Vec<String> = names_of(&cms)
            .await?
            .into_iter()
            // CA bundles the controller-manager publishes into every namespace.
            .filter(|c| c != "kube-root-ca.crt" && c != "openshift-service-ca.crt")
            .collect();
        let r = k.running_pods();
        if c + p + s + v + m.len() + r == 0 {
            Ok(())
        } else {
            Err(format!(
                "cluster {c} pods {p} sts {s} svc {v} cm {m:?} running {r}"
            ))
        }
    })
    .await;
    let deletions: u32 = k.deletions().values().sum();
    eprintln!(
        "{label}: deleted in {:?}: 0 pods, StatefulSets, Services, ConfigMaps left; {deletions} pod deletions finished by the kubelet; total {:?}",
        dt.elapsed(),
        t0.elapsed()
    );
    drop(operator);
    let stem = k.node_netns().trim_end_matches("node").to_string();
    drop(k);
    let left = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        !left.lines().any(|l| l.starts_with(&stem)),
        "left behind: {left}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs root and kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn async_2m_2s_ready_produce_consume_master_kill_delete() {
    scenario("cluster-2m-2s-async.yaml").await;
}

/// `e2e-bench <args>` as a process in `netns` (it resolves names through that namespace's
/// hosts file, so podDNS brokers work); its stdout, or a panic with its output.
fn bench(netns: &str, namesrv: &str, topic: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(binaries().join("e2e-bench"))
        .args(["-n", namesrv, "-t", topic])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ))
    }
}

/// The same steps for a cluster whose brokers advertise podDNS names (2m-2s-sync): the load runs
/// as `e2e-bench` processes in the client namespace, through the name-server Service's name.
async fn scenario_processes(file: &str) {
    let Some(cp) = setup() else { return };
    let t0 = Instant::now();
    let label = file
        .trim_start_matches("cluster-")
        .trim_end_matches(".yaml")
        .to_string();
    let ns = namespace(cp, &label);
    let client = cp.admin_client().await;
    let k = kubelet(cp, &ns).await;
    let (operator, _fwd) = start_operator(cp, &k, &ns).await;
    let cr = example(file);
    let name = cr.name_any();
    apply_cluster(&client, &ns, &cr).await;
    cluster_ready(&client, &ns, &name, Duration::from_secs(240)).await;
    let up = t0.elapsed();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let ((r, n), settled) = cluster_settled(&client, &ns, &name, Duration::from_secs(180)).await;
    eprintln!("{label}: Ready after {up:?}, every pod after {settled:?} more: {r}/{n} pods ready");
    assert_eq!((r, n), (6, 6), "2 name servers + 2 groups x 2 brokers");
    let cli = k.client_netns("cli").unwrap();
    let svc = format!("{}.{ns}.svc", operator::names::namesrv_service(&name));
    let nsaddr = format!("{svc}:9876");
    wait_for(
        "name-server Service in DNS",
        Duration::from_secs(20),
        || async {
            let a = getent(&cli.ns, &svc);
            if a.len() == 2 {
                Ok(a)
            } else {
                Err(format!("{a:?}"))
            }
        },
    )
    .await;
    let topic = "E2EKube";
    let total = env_or("E2E_MESSAGES", 3_000).to_string();
    let producers = env_or("E2E_PRODUCERS", 8).to_string();
    let dir = tempfile::tempdir().unwrap();
    let acked = |run: &str| {
        dir.path()
            .join(format!("{run}.acked"))
            .display()
            .to_string()
    };

    let st = Instant::now();
    for t in [topic, "E2EKubeCpp"] {
        wait_for("topic on both masters", Duration::from_secs(90), || async {
            let out = bench(&cli.ns, &nsaddr, t, &["topic", "-c", "DefaultCluster"])?;
            if out.contains("on 2 master(s)") {
                Ok(())
            } else {
                Err(out)
            }
        })
        .await;
    }
    // A warm-up run, then wait until each slave serves it (metadata sync every 10 s).
    // Until the slaves' HA connections are up a SYNC_MASTER answers SLAVE_NOT_AVAILABLE, and
    // e2e-bench fails a run with nothing acknowledged: repeat until one is.
    wait_for(
        "a warm-up send acknowledged",
        Duration::from_secs(60),
        || async {
            bench(
                &cli.ns,
                &nsaddr,
                topic,
                &[
                    "produce",
                    "--run",
                    "warm",
                    "--count",
                    "200",
                    "--producers",
                    "4",
                ],
            )
        },
    )
    .await;
    for g in 0..2 {
        let group = operator::names::broker_group(&name, g);
        wait_for(
            "slave serves the topic",
            Duration::from_secs(60),
            || async {
                bench(
                    &cli.ns,
                    &nsaddr,
                    topic,
                    &["drain", "--run", "warm", "--slaves-only", &group],
                )
            },
        )
        .await;
    }
    eprintln!("{label}: topic on all 4 brokers after {:?}", st.elapsed());

    let pc = Instant::now();
    let a = acked("pc");
    let produced = bench(
        &cli.ns,
        &nsaddr,
        topic,
        &[
            "produce",
            "--run",
            "pc",
            "--count",
            &total,
            "--producers",
            &producers,
            "--acked-file",
            &a,
        ],
    )
    .unwrap();
    // Read until every acknowledged message is there: the last ones' consume-queue entries
    // follow the acknowledgement by the store's dispatch lag.
    let drained = wait_for(
        "every acknowledged message readable",
        Duration::from_secs(30),
        || async {
            let out = bench(
                &cli.ns,
                &nsaddr,
                topic,
                &["drain", "--run", "pc", "--acked-file", &a],
            )?;
            if out.contains(" lost=0 ") {
                Ok(out)
            } else {
                Err(out)
            }
        },
    )
    .await;
    eprintln!(
        "{label}: produce/consume: {produced}; {drained}; {:?}",
        pc.elapsed()
    );
    assert!(produced.contains(" failed=0 ") && drained.contains(" lost=0 "));

    cpp_client(&label, &cli.ns, &svc);

    // SIGKILL group 0's master while e2e-bench produces.
    let master = operator::names::broker_pod(&name, 0, 0);
    let pid = k.pid(&ns, &master, "broker").unwrap();
    let a = acked("kill");
    let kt = Instant::now();
    let child = Command::new("ip")
        .args(["netns", "exec", &cli.ns])
        .arg(binaries().join("e2e-bench"))
        .args([
            "-n",
            &nsaddr,
            "-t",
            topic,
            "produce",
            "--run",
            "kill",
            "--count",
            &total,
            "--producers",
            &producers,
            "--acked-file",
            &a,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(e2e::kubelet::kill_group(pid, Signal::KILL));
    let killed_after = kt.elapsed();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let produced = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "{produced}");
    let group0 = operator::names::broker_group(&name, 0);
    let from_slave = bench(
        &cli.ns,
        &nsaddr,
        topic,
        &[
            "drain",
            "--run",
            "kill",
            "--acked-file",
            &a,
            "--slaves-only",
            &group0,
        ],
    );
    eprintln!(
        "{label}: master {master} SIGKILLed {killed_after:?} into the load: {produced}; group 0 from its slave alone: {from_slave:?}"
    );
    assert!(produced.contains(" failed=0 "), "{produced}");
    let back = wait_for(
        "master restarted and Ready",
        Duration::from_secs(120),
        || async {
            let p = pods.get(&master).await.map_err(|e| e.to_string())?;
            if ready(&p) && restarts(&p) >= 1 {
                Ok(p)
            } else {
                Err(format!("restarts {}", restarts(&p)))
            }
        },
    )
    .await;
    let after = wait_for(
        "every acknowledged message readable after the return",
        Duration::from_secs(60),
        || async {
            bench(
                &cli.ns,
                &nsaddr,
                topic,
                &["drain", "--run", "kill", "--acked-file", &a],
            )
        },
    )
    .await;
    eprintln!(
        "{label}: after the master returned ({:?}, restartCount {}): {after}",
        kt.elapsed(),
        restarts(&back)
    );
    assert!(after.contains(" lost=0 "));
    delete_cluster(&client, &ns, &name, &label, k, operator, t0).await;
}

/// The C++ client (PyPI `rocketmq` 0.4.4) through the Service name: every send kind acknowledged
/// and every message read back by both its pull and its push consumer (`cpp_client.py` keys the
/// wrapper's pull offsets by broker, which the wrapper itself does not: with two groups it read
/// 110 of 170).
fn cpp_client(label: &str, netns: &str, svc: &str) {
    match e2e::tools::python() {
        Some(py) if py.exists() => {
            let out = Command::new("ip")
                .args(["netns", "exec", netns])
                .arg(&py)
                .arg(e2e::tools::compat_dir().join("cpp_client.py"))
                .args([&format!("{svc}:9876"), "E2EKubeCpp", "40"])
                .current_dir(std::env::temp_dir())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().last().unwrap_or_default();
            eprintln!("{label}: C++ client: {last} (exit {:?})", out.status.code());
            let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| {
                panic!(
                    "C++ client said {stdout}: {e}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
            let sent = &v["sent"];
            assert_eq!(v["failed"], serde_json::json!([]), "{last}");
            for (kind, n) in [("sync", 40), ("async", 40), ("batch", 10), ("orderly", 40)] {
                assert_eq!(sent[kind], serde_json::json!(n), "{kind}: {last}");
            }
            assert_eq!(
                v["pushed"], v["total"],
                "push consumer got everything: {last}"
            );
            assert_eq!(
                v["pulled"], v["total"],
                "pull consumer read everything: {last}"
            );
            assert!(out.status.success(), "{last}");
        }
        _ => e2e::tools::missing("the C++ client (COMPAT_PYTHON)"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs root and kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn sync_2m_2s_ready_produce_consume_master_kill_delete() {
    scenario_processes("cluster-2m-2s-sync.yaml").await;
}
