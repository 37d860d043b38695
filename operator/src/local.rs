//! Local mode: runs a cluster file as processes on 127.0.0.1, from the same validated
//! [`ClusterPlan`] the Kubernetes builder uses.
//!
//! Every name server and every broker (each group's master and slaves) gets its own port and
//! data directory under `--dir`; broker.conf is rendered by [`ClusterPlan::broker_conf`], with
//! `brokerIP1=127.0.0.1` and `namesrvAddr` listing every local name server. Start order: name
//! servers, then masters, then slaves, each awaited until its port accepts connections; `ready:`
//! is printed only once every process runs and every name server lists every broker. Ctrl-C or
//! SIGTERM (also during start-up) stops brokers (slaves first) then name servers with SIGTERM,
//! SIGKILL after a grace time.
//!
//! Safety for a newcomer's machine: before anything is written or started, the data directory
//! is locked (`operator.pid`, an exclusive `flock` holding the supervisor's pid) and every port
//! the processes will bind is checked, so a second instance or a busy port is refused with one
//! line. Each child runs in its own process group (a terminal's Ctrl-C reaches only the
//! supervisor, which stops them in order) and with a parent-death signal (a supervisor killed
//! with SIGKILL takes its children with it). Children's output goes to `out.log` in their
//! directory, rotated by size. `operator local status|stop --dir DIR` read the pid file.

mod declared;
pub mod failover;
mod files;
pub mod roles;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::crd::RocketMQCluster;
use crate::error::{Error, Result};
use crate::names;
use crate::plan::{ClusterPlan, Endpoints};
use crate::validate;

pub use declared::{ClusterFile, apply_declared, load_file, parse_file};
pub use files::{DirLock, LockError};
pub use logging::RotatingLog;

/// Size at which a process's `out.log` is rotated.
pub const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated logs kept per process (`out.log.1` … `out.log.5`).
pub const LOG_KEEP: u32 = 5;
/// Commit-log segment size local mode gives brokers unless the cluster file sets
/// `mappedFileSizeCommitLog`: 64 MiB instead of Java's 1 GiB, because every segment is
/// preallocated and a four-broker cluster would otherwise take 4 GiB after its first message.
pub const LOCAL_COMMIT_LOG_SEGMENT: u64 = 64 * 1024 * 1024;

/// Prints a status line; a closed stdout (the reader went away) must not bring the cluster down.
fn say(line: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reads a RocketMQCluster YAML file (the same file `kubectl apply -f` takes).
pub fn load_cluster_file(path: &Path) -> Result<RocketMQCluster> {
    Ok(load_file(path)?.cluster)
}

/// Parses the RocketMQCluster of a cluster file (its only RocketMQCluster document; a
/// multi-document file may also hold RocketMQTopic / RocketMQConsumerGroup documents, see
/// [`parse_file`]), checking apiVersion and kind.
pub fn parse_cluster(text: &str) -> std::result::Result<RocketMQCluster, String> {
    Ok(parse_file(text)?.cluster)
}

/// Parses one RocketMQCluster document.
fn parse_cluster_doc(v: serde_yaml::Value) -> std::result::Result<RocketMQCluster, String> {
    let json = serde_json::to_value(&v).map_err(|e| e.to_string())?;
    let unknown = unknown_fields(&json);
    if !unknown.is_empty() {
        return Err(format!(
            "unknown field{} {} (see `operator crd` for the schema)",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", ")
        ));
    }
    let c: RocketMQCluster = serde_yaml::from_value(v).map_err(|e| e.to_string())?;
    if c.metadata.name.as_deref().unwrap_or("").is_empty() {
        return Err("metadata.name is missing".to_string());
    }
    Ok(c)
}

/// Paths (`spec.nameServer.replica`) of fields in `doc` that the CRD's OpenAPI schema does not
/// declare, where the API server would prune them; serde ignores them silently, so a typo
/// would otherwise go unnoticed. `metadata` is left to the API server's own rules.
pub fn unknown_fields(doc: &serde_json::Value) -> Vec<String> {
    use kube::CustomResourceExt as _;
    unknown_fields_in(&RocketMQCluster::crd(), doc)
}

/// [`unknown_fields`] against any of the project's CRDs.
pub fn unknown_fields_in(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    doc: &serde_json::Value,
) -> Vec<String> {
    let schema = crd
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok());
    let mut out = Vec::new();
    if let (Some(schema), Some(obj)) = (schema, doc.as_object()) {
        for (k, v) in obj {
            match k.as_str() {
                "apiVersion" | "kind" | "metadata" => {}
                _ => match schema.get("properties").and_then(|p| p.get(k)) {
                    Some(sub) => walk_schema(sub, v, k, &mut out),
                    None => out.push(k.clone()),
                },
            }
        }
    }
    out
}

fn walk_schema(
    schema: &serde_json::Value,
    v: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    if schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(|b| b.as_bool())
        == Some(true)
    {
        return;
    }
    match v {
        serde_json::Value::Object(obj) => {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                for (k, sub) in obj {
                    let p = format!("{path}.{k}");
                    match props.get(k) {
                        Some(s) => walk_schema(s, sub, &p, out),
                        None => out.push(p),
                    }
                }
            } else if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, sub) in obj {
                    walk_schema(add, sub, &format!("{path}.{k}"), out);
                }
            }
        }
        serde_json::Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, sub) in items.iter().enumerate() {
                    walk_schema(item, sub, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Flags of `operator local`.
#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LocalArgs {
    /// `status` or `stop` a local cluster running in `--dir` (without one: run `-f FILE`).
    #[command(subcommand)]
    pub action: Option<LocalAction>,
    /// The cluster file (a RocketMQCluster, as for kubectl apply).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Directory for data, configs and logs (one subdirectory per process).
    #[arg(long, default_value = "rocketmq-local", global = true)]
    pub dir: PathBuf,
    /// Directory holding `namesrv` and `broker` (default: next to this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Port of the first name server; the others follow.
    #[arg(long, default_value_t = 9876)]
    pub namesrv_port: u16,
    /// listenPort of the first broker; each next broker adds 10 (it uses port-2..port+1).
    #[arg(long, default_value_t = 10911)]
    pub broker_port: u16,
    /// Print the processes and their configs, start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop after everything is up (for scripts and tests) instead of waiting for a signal.
    #[arg(long)]
    pub exit_when_up: bool,
    /// Leave a process that exits on its own stopped (by default it is started again, as a
    /// pod's `restartPolicy: Always` would).
    #[arg(long)]
    pub no_restart: bool,
    /// Do not start the web console.
    #[arg(long)]
    pub no_console: bool,
    /// Port of the web console (on 127.0.0.1), as RocketMQ's dashboard.
    #[arg(long, default_value_t = 8180)]
    pub console_port: u16,
    /// Serve Prometheus metrics: the supervisor on 127.0.0.1:PORT (process restarts), and every
    /// name server and broker on the next ports in start order (their `metricsExporterType=PROM`).
    /// Default: off.
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<u16>,
}

/// `operator local status|stop`: for scripts, through the pid file in `--dir`.
#[derive(clap::Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalAction {
    /// Print whether a local cluster runs in `--dir`, and its processes (exit 0 running, 3 not).
    Status,
    /// Stop the local cluster running in `--dir` (ordered stop, as Ctrl-C) and wait for it.
    Stop,
}

/// What a local process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A name server.
    NameServer,
    /// A broker master (ordinal 0).
    Master,
    /// A broker slave.
    Slave,
    /// The web console (started once the brokers are registered).
    Console,
}

/// One process of the local cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalProcess {
    /// Display name: the pod name it stands for (`<cluster>-namesrv-<n>`, `<cluster>-broker-<g>-<o>`).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its main port on 127.0.0.1.
    pub port: u16,
    /// Its directory (config, store, log).
    pub dir: PathBuf,
    /// Config file path and content.
    pub config: (PathBuf, String),
    /// Binary name (`namesrv` or `broker`).
    pub binary: &'static str,
    /// Arguments.
    pub args: Vec<String>,
}

/// The local cluster in start order: name servers, masters, slaves.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalPlan {
    /// Processes in start order.
    pub processes: Vec<LocalProcess>,
    /// The `namesrvAddr` clients use.
    pub namesrv_addr: String,
}

/// Lays out the processes of `plan` under `dir`.
pub fn plan_local(
    plan: &ClusterPlan,
    dir: &Path,
    namesrv_port: u16,
    broker_port: u16,
) -> Result<LocalPlan> {
    let mut processes = Vec::new();
    let mut ns_addrs = Vec::new();
    let scan = namesrv_scan_interval(plan);
    for i in 0..plan.namesrv.replicas.max(0) as u16 {
        let port = namesrv_port
            .checked_add(i)
            .ok_or_else(|| port_error(namesrv_port))?;
        let name = format!("{}-{i}", names::namesrv(&plan.name));
        let pdir = dir.join(&name);
        let mut conf = format!(
            "listenPort={port}\nkvConfigPath={}\n",
            pdir.join("kvConfig.json").display()
        );
        if let Some(ms) = scan {
            conf.push_str(&format!("scanNotActiveBrokerInterval={ms}\n"));
        }
        let path = pdir.join(names::NAMESRV_CONF_KEY);
        processes.push(LocalProcess {
            args: vec!["-c".to_string(), path.display().to_string()],
            config: (path, conf),
            name,
            role: Role::NameServer,
            port,
            dir: pdir,
            binary: "namesrv",
        });
        ns_addrs.push(format!("127.0.0.1:{port}"));
    }
    let namesrv_addr = ns_addrs.join(";");
    let mut brokers = Vec::new();
    let mut k: u16 = 0;
    for g in &plan.groups {
        for m in &g.members {
            let port = k
                .checked_mul(10)
                .and_then(|o| broker_port.checked_add(o))
                .filter(|p| p.checked_add(1).is_some())
                .ok_or_else(|| port_error(broker_port))?;
            k += 1;
            let name = names::broker_pod(&plan.name, g.index, m.ordinal);
            let pdir = dir.join(&name);
            let ep = Endpoints {
                namesrv_addr: namesrv_addr.clone(),
                broker_ip1: Some("127.0.0.1".to_string()),
                listen_port: port,
                store_root: pdir.join("store").display().to_string(),
            };
            let mut cfg = plan.broker_config(g, m, &ep)?;
            let sets_segment = plan.extra_config.keys().any(|k| {
                k.eq_ignore_ascii_case("mappedFileSizeCommitLog")
                    || k.eq_ignore_ascii_case("mapedFileSizeCommitLog")
            });
            if !sets_segment {
                cfg.set(
                    "mappedFileSizeCommitLog",
                    &LOCAL_COMMIT_LOG_SEGMENT.to_string(),
                )
                .map_err(|source| Error::BrokerConfig {
                    broker: name.clone(),
                    source,
                })?;
            }
            let conf = cfg.to_properties();
            let path = pdir.join("broker.conf");
            brokers.push(LocalProcess {
                args: vec!["-c".to_string(), path.display().to_string()],
                config: (path, conf),
                name,
                role: if m.ordinal == 0 {
                    Role::Master
                } else {
                    Role::Slave
                },
                port,
                dir: pdir,
                binary: "broker",
            });
        }
    }
    // Masters before slaves: a slave registers and learns its master's HA address from the name
    // server, which only knows it once the master registered.
    brokers.sort_by_key(|p| p.role == Role::Slave);
    processes.extend(brokers);
    Ok(LocalPlan {
        processes,
        namesrv_addr,
    })
}

/// How often the name servers look for silent brokers (`scanNotActiveBrokerInterval`, ms) when
/// the brokers have `epochFencingEnable=true`: every second instead of Java's 10 s. A broker
/// with fencing asks for its own expiry (`heartbeatTimeoutMillis` = 1.5 × its lease, which
/// replaces `brokerChannelExpiredTime` for it), so a hung or cut-off master leaves the routes
/// within that expiry plus one scan, and the failover controller can replace it (docs/failover.md
/// "Timing"). `None` (Java's default) without fencing.
pub fn namesrv_scan_interval(plan: &ClusterPlan) -> Option<u64> {
    plan.extra_config
        .iter()
        .any(|(k, v)| k == "epochFencingEnable" && v.trim().eq_ignore_ascii_case("true"))
        .then_some(FAILOVER_NAMESRV_SCAN_MS)
}

/// `scanNotActiveBrokerInterval` of local name servers in front of brokers with fencing.
pub const FAILOVER_NAMESRV_SCAN_MS: u64 = 1000;

/// The web console of a local cluster: `console` on 127.0.0.1:`port` against the local name
/// servers, with a fresh random token in `<dir>/<cluster>-console/token` (readable by the owner
/// only) for the changes it makes.
pub fn console_process(cluster: &str, dir: &Path, port: u16, namesrv_addr: &str) -> LocalProcess {
    let name = format!("{cluster}-console");
    let pdir = dir.join(&name);
    let token_path = pdir.join("token");
    LocalProcess {
        args: vec![
            "-n".to_string(),
            namesrv_addr.to_string(),
            "--bind".to_string(),
            "127.0.0.1".to_string(),
            "--port".to_string(),
            port.to_string(),
            "--token-file".to_string(),
            token_path.display().to_string(),
        ],
        config: (token_path, random_token()),
        name,
        role: Role::Console,
        port,
        dir: pdir,
        binary: "console",
    }
}

/// 128 random bits as hex, from the kernel.
fn random_token() -> String {
    use std::io::Read as _;
    let mut b = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if read.is_err() {
        // No /dev/urandom: fall back to what differs per run (time and pid); still unguessable
        // enough for a console bound to loopback.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn port_error(base: u16) -> Error {
    Error::Process {
        name: "plan".to_string(),
        message: format!("ports starting at {base} run past 65535"),
    }
}

/// A started process.
pub struct Running {
    /// What it is.
    pub process: LocalProcess,
    /// The child.
    pub child: Child,
}

/// Starts one process: writes its config, opens its log, waits until its port accepts
/// connections (or it exits).
pub async fn start(p: &LocalProcess, bin_dir: &Path, wait: Duration) -> Result<Running> {
    let err = |message: String| Error::Process {
        name: p.name.clone(),
        message,
    };
    let io = |path: &Path, source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&p.dir).map_err(|e| io(&p.dir, e))?;
    write_config(p).map_err(|e| io(&p.config.0, e))?;
    let log_path = p.dir.join("out.log");
    // Appended to, so that a restart keeps the log of the run that crashed; rotated by size.
    let log =
        RotatingLog::open(&log_path, LOG_MAX_BYTES, LOG_KEEP).map_err(|e| io(&log_path, e))?;
    let bin = bin_dir.join(p.binary);
    let mut cmd = Command::new(&bin);
    cmd.args(&p.args)
        .current_dir(&p.dir)
        .env("HOME", &p.dir)
        // Its own log file (namesrv.log / broker.log, rotated) next to out.log.
        .env("ROCKETMQ_LOG_DIR", &p.dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own process group: a terminal's Ctrl-C goes to the supervisor only, which then
        // stops the children in order.
        .process_group(0)
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| err(format!("cannot run {}: {e}", bin.display())))?;
    copy_output(&mut child, log);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(err(format!(
                "exited during start-up with {status}; see {}",
                log_path.display()
            )));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", p.port))
            .await
            .is_ok()
        {
            return Ok(Running {
                process: p.clone(),
                child,
            });
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.start_kill();
            return Err(err(format!(
                "port {} not open after {wait:?}; see {}",
                p.port,
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes a process's config; the console's token file is readable by its owner only.
fn write_config(p: &LocalProcess) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::os::unix::fs::PermissionsExt as _;
    if p.role != Role::Console {
        return std::fs::write(&p.config.0, &p.config.1);
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&p.config.0)?;
    // An older file keeps its mode through `open`: tighten it too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(p.config.1.as_bytes())
}

/// Copies the child's stdout and stderr, line by line, into its rotating log until both close.
fn copy_output(child: &mut Child, log: RotatingLog) {
    use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
    let log = std::sync::Arc::new(std::sync::Mutex::new(log));
    fn pump<R: AsyncRead + Unpin + Send + 'static>(
        r: R,
        log: std::sync::Arc<std::sync::Mutex<RotatingLog>>,
    ) {
        tokio::spawn(async move {
            let mut r = BufReader::new(r);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if let Ok(mut l) = log.lock() {
                            // A full disk must not stop the reader: the child would block on
                            // a full pipe.
                            let _ = l.write(&line);
                        }
                    }
                }
            }
        });
    }
    if let Some(out) = child.stdout.take() {
        pump(out, log.clone());
    }
    if let Some(errs) = child.stderr.take() {
        pump(errs, log);
    }
}

/// Makes the child receive SIGTERM when the supervisor dies, however it dies (SIGKILL
/// included), so no broker or name server outlives `operator local`.
fn die_with_parent(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    let hook = move || -> std::io::Result<()> {
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
        // The supervisor may have died between fork and prctl: then nobody would signal us.
        if rustix::process::getppid() != Some(parent) {
            return Err(rustix::io::Errno::SRCH.into());
        }
        Ok(())
    };
    pre_exec(cmd, hook);
}

/// Registers `hook` to run in the child between fork and exec.
#[allow(unsafe_code)]
fn pre_exec(cmd: &mut Command, hook: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static) {
    // SAFETY: `pre_exec` is unsafe because the hook runs in a forked child of a multi-threaded
    // process, where only async-signal-safe operations are allowed. The only hook passed here
    // (`die_with_parent`) makes two raw syscalls through rustix (prctl, getppid) and builds an
    // `io::Error` from an errno, which does not allocate; it takes no locks.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Waits until every name server lists every broker of the plan (brokerName → ids → address),
/// printing each group as it becomes complete.
pub async fn wait_registered(
    plan: &ClusterPlan,
    local: &LocalPlan,
    timeout: Duration,
) -> Result<()> {
    wait_registered_while_running(plan, local, &mut [], timeout).await
}

/// [`wait_registered`], failing as soon as one of `running` exits: a name server can still list
/// a broker that has just died (its entry expires later), so "registered" alone is not "up".
pub async fn wait_registered_while_running(
    plan: &ClusterPlan,
    local: &LocalPlan,
    running: &mut [Running],
    timeout: Duration,
) -> Result<()> {
    use remoting::body::cluster::ClusterInfo;
    let client = remoting::RemotingClient::new(remoting::ClientConfig::default());
    let mut expected: std::collections::BTreeMap<String, std::collections::BTreeMap<i64, String>> =
        Default::default();
    for g in &plan.groups {
        for m in &g.members {
            let name = names::broker_pod(&plan.name, g.index, m.ordinal);
            if let Some(p) = local.processes.iter().find(|p| p.name == name) {
                // The id it starts with: a failover may have moved it (roles.rs).
                let id = roles::key(&p.config.1, "brokerId")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(m.broker_id);
                expected
                    .entry(g.broker_name.clone())
                    .or_default()
                    .insert(id, format!("127.0.0.1:{}", p.port));
            }
        }
    }
    let namesrvs: Vec<String> = local.namesrv_addr.split(';').map(str::to_string).collect();
    let mut announced = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // A process that exited (its port taken meanwhile, its store locked, a bad config) can
        // still look registered from a stale route entry: it fails the start.
        exited_child(running)?;
        let mut complete = 0;
        for (group, ids) in &expected {
            let mut everywhere = true;
            for ns in &namesrvs {
                let req = remoting::RemotingCommand::request(
                    remoting::RequestCode::GET_BROKER_CLUSTER_INFO,
                    Default::default(),
                );
                let info = match client.invoke_ok(ns, req, Duration::from_secs(3)).await {
                    Ok(resp) => ClusterInfo::decode(&resp.body).ok(),
                    Err(_) => None,
                };
                let ok = info
                    .as_ref()
                    .and_then(|i| i.broker_addr_table.get(group))
                    .is_some_and(|b| b.broker_addrs == *ids && b.cluster == plan.cluster_name);
                everywhere &= ok;
            }
            if everywhere {
                complete += 1;
                if announced.insert(group.clone()) {
                    let list: Vec<String> = ids.iter().map(|(id, a)| format!("{id}={a}")).collect();
                    say(format!(
                        "registered {group} [{}] with {} name server(s)",
                        list.join(" "),
                        namesrvs.len()
                    ));
                }
            }
        }
        if complete == expected.len() {
            client.shutdown();
            return exited_child(running);
        }
        if tokio::time::Instant::now() > deadline {
            client.shutdown();
            return Err(Error::Process {
                name: "cluster".to_string(),
                message: format!(
                    "only {complete}/{} broker groups registered after {timeout:?}",
                    expected.len()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Fails when one of `running` has exited, naming it and its log.
fn exited_child(running: &mut [Running]) -> Result<()> {
    for r in running.iter_mut() {
        if let Ok(Some(status)) = r.child.try_wait() {
            return Err(Error::Process {
                name: r.process.name.clone(),
                message: format!(
                    "exited during start-up with {status}; see {}",
                    r.process.dir.join("out.log").display()
                ),
            });
        }
    }
    Ok(())
}

/// Sends `sig` to process `pid` (ignoring a process that is already gone).
fn signal_pid(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Whether process `pid` exists.
fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

/// Stops processes in reverse start order (slaves, masters, name servers): SIGTERM, then SIGKILL
/// after `grace`.
pub async fn stop_all(running: &mut Vec<Running>, grace: Duration) {
    while let Some(mut r) = running.pop() {
        if let Some(pid) = r.child.id() {
            signal_pid(pid, rustix::process::Signal::TERM);
        }
        match tokio::time::timeout(grace, r.child.wait()).await {
            Ok(Ok(status)) => say(format!("stopped {} ({status})", r.process.name)),
            _ => {
                let _ = r.child.kill().await;
                say(format!(
                    "killed {} (no exit within {grace:?})",
                    r.process.name
                ));
            }
        }
    }
}

/// Runs `operator local`: `status`/`stop` against `--dir`, or validates the file, takes the
/// directory, checks the ports, starts the processes in order and supervises them until
/// Ctrl-C / SIGTERM.
pub async fn run(args: LocalArgs) -> Result<()> {
    let dir = std::path::absolute(&args.dir).map_err(|source| Error::Io {
        path: args.dir.display().to_string(),
        source,
    })?;
    match args.action {
        Some(LocalAction::Status) => return status(&dir),
        Some(LocalAction::Stop) => return stop(&dir).await,
        None => {}
    }
    let (cluster_file, name, plan) = load_plan(args.file.as_deref())?;
    let mut local = plan_local(&plan, &dir, args.namesrv_port, args.broker_port)?;
    // Roles a failover gave brokers in an earlier run (roles.rs).
    let roles = roles::CurrentRoles::load(&dir).map_err(|e| Error::Process {
        name: "operator local".into(),
        message: e.to_string(),
    })?;
    roles::apply(&mut local, &roles).map_err(|message| Error::Process {
        name: "operator local".into(),
        message,
    })?;
    let metric_ports = match args.metrics_port {
        Some(base) => {
            crate::metrics::enable_local(&mut local, base).map_err(|message| Error::Process {
                name: "operator local".into(),
                message,
            })?
        }
        None => Vec::new(),
    };
    let console = (!args.no_console)
        .then(|| console_process(&name, &dir, args.console_port, &local.namesrv_addr));
    if args.dry_run {
        print_dry_run(&name, &plan, &local, console.as_ref(), &cluster_file, &dir);
        return Ok(());
    }
    let bin_dir = find_binaries(args.bin_dir.as_deref())?;
    warn_settings_without_effect(&local);
    // The console is optional: without its binary the cluster runs without it.
    let console = console.filter(|c| console_built(c, &bin_dir));
    // Nothing is written or started before the directory is ours and every port is free.
    let lock = take_dir(&dir)?;
    let mut checked = local.clone();
    checked.processes.extend(console.clone());
    check_ports(&checked)?;
    serve_local_metrics(&metric_ports).await?;
    say_cluster(&name, &plan, &local, &dir);
    use tokio::signal::unix::{SignalKind, signal};
    // Installed before the first child starts: a signal during start-up stops what was started.
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut running = Vec::new();
    let started = start_cluster(
        &plan,
        &local,
        console.as_ref(),
        &bin_dir,
        &lock,
        &mut running,
    );
    let outcome = tokio::select! {
        r = started => r,
        _ = recv(&mut int) => Err(interrupted()),
        _ = recv(&mut term) => Err(interrupted()),
    };
    if let Err(e) = outcome {
        say(format!("failed: {e}; stopping what was started"));
        stop_all(&mut running, Duration::from_secs(10)).await;
        write_state(&lock, &running);
        return Err(e);
    }
    say(format!("ready: namesrvAddr={}", local.namesrv_addr));
    // Topics and consumer groups declared in the same file, onto every group's master.
    for line in apply_declared(&cluster_file, &plan, &local).await {
        say(line);
    }
    // Groups with epochFencingEnable=true get the failover controller (docs/failover.md); what
    // it changes is kept in the brokers' broker.conf and the roles file (roles.rs).
    let failover_stop = tokio_util::sync::CancellationToken::new();
    let mut events = None;
    if let Some(config) = failover::local_config(&local)
        && !args.exit_when_up
    {
        say(format!(
            "failover controller: {} group(s), a master lost for {} ms is replaced",
            config.groups.len(),
            config.lost_after.as_millis()
        ));
        let stop = failover_stop.clone();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        events = Some(rx);
        tokio::spawn(failover::Controller::new(config).run(stop, move |e| {
            say(e.to_string());
            let _ = tx.send(e.clone());
        }));
    }
    let _stop_failover = failover_stop.drop_guard();
    if !args.exit_when_up {
        let mut keeper = RoleKeeper {
            dir: dir.clone(),
            master_roles: roles::master_roles(&local),
            roles,
            events,
        };
        supervise(
            &mut running,
            &bin_dir,
            !args.no_restart,
            &lock,
            &mut keeper,
            &mut int,
            &mut term,
        )
        .await;
    }
    stop_all(&mut running, Duration::from_secs(15)).await;
    write_state(&lock, &running);
    Ok(())
}

/// The cluster file, its name and its validated plan; `spec.security` is refused (its Secrets
/// only exist in Kubernetes).
fn load_plan(file: Option<&Path>) -> Result<(ClusterFile, String, ClusterPlan)> {
    let Some(file) = file else {
        return Err(Error::Process {
            name: "operator local".into(),
            message: "missing -f FILE (a RocketMQCluster file), or a subcommand: status, stop"
                .into(),
        });
    };
    let cluster_file = load_file(file)?;
    let cr = cluster_file.cluster.clone();
    let name = cr.metadata.name.clone().unwrap_or_default();
    let ns = cr
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let plan = validate::validate(&name, &ns, &cr.spec).map_err(|r| Error::Refused {
        path: file.display().to_string(),
        message: r.to_string(),
    })?;
    if !plan.security.is_default() {
        // The Secrets only exist in Kubernetes; a local broker.conf can set the keys itself.
        return Err(Error::Refused {
            path: file.display().to_string(),
            message: "spec.security mounts Kubernetes Secrets and is not supported by `operator local`; set aclEnable/aclPlainFile, haAuthSecretFile or tls.* in spec.broker.config instead".into(),
        });
    }
    Ok((cluster_file, name, plan))
}

/// The one-line summary printed before anything starts (and by `--dry-run`).
fn say_cluster(name: &str, plan: &ClusterPlan, local: &LocalPlan, dir: &Path) {
    say(format!(
        "cluster {name}: {} ({} processes), data under {}",
        plan.mode(),
        local.processes.len(),
        dir.display()
    ));
}

/// `--dry-run`: every process with its command line and config, and the declared resources.
fn print_dry_run(
    name: &str,
    plan: &ClusterPlan,
    local: &LocalPlan,
    console: Option<&LocalProcess>,
    cluster_file: &ClusterFile,
    dir: &Path,
) {
    say_cluster(name, plan, local, dir);
    for p in &local.processes {
        say(format!(
            "--- {} ({:?}) 127.0.0.1:{} {} {}\n{}",
            p.name,
            p.role,
            p.port,
            p.binary,
            p.args.join(" "),
            p.config.1
        ));
    }
    if let Some(c) = console {
        say(format!(
            "--- {} ({:?}) http://127.0.0.1:{}/ {} {}",
            c.name,
            c.role,
            c.port,
            c.binary,
            c.args.join(" ")
        ));
    }
    for line in declared::describe(cluster_file) {
        say(line);
    }
}

/// The directory of the `namesrv` and `broker` binaries: `--bin-dir`, else the operator's own.
fn find_binaries(bin_dir: Option<&Path>) -> Result<PathBuf> {
    let bin_dir = match bin_dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .ok_or_else(|| Error::Process {
                name: "operator".into(),
                message: "cannot find own directory; pass --bin-dir".into(),
            })?,
    };
    for b in ["namesrv", "broker"] {
        if !bin_dir.join(b).is_file() {
            return Err(Error::Process {
                name: "operator local".into(),
                message: format!(
                    "no {b} binary in {} (build it with `cargo build --release --bins`, or pass --bin-dir)",
                    bin_dir.display()
                ),
            });
        }
    }
    Ok(bin_dir)
}

/// The broker's own warnings about keys it does not act on, once per key, before starting.
fn warn_settings_without_effect(local: &LocalPlan) {
    let mut warned = std::collections::BTreeSet::new();
    for p in local.processes.iter().filter(|p| p.binary == "broker") {
        if let Ok((c, _)) = ::broker::BrokerConfig::from_properties_text(&p.config.1) {
            for w in c.settings_without_effect().unwrap_or_default() {
                if warned.insert(w.clone()) {
                    eprintln!("warning: spec.broker.config: {w}");
                }
            }
        }
    }
}

/// Whether the console binary is there (a warning when not).
fn console_built(console: &LocalProcess, bin_dir: &Path) -> bool {
    let found = bin_dir.join(console.binary).is_file();
    if !found {
        eprintln!(
            "warning: no console binary in {}; running without the web console (--no-console silences this)",
            bin_dir.display()
        );
    }
    found
}

/// Starts every process in order, each awaited until its port accepts connections, waits until
/// every name server lists every broker, then starts the console (one that fails to start is
/// reported and the cluster runs on without it). `running` holds what was started, also when
/// this fails or is dropped half-way (a signal).
async fn start_cluster(
    plan: &ClusterPlan,
    local: &LocalPlan,
    console: Option<&LocalProcess>,
    bin_dir: &Path,
    lock: &DirLock,
    running: &mut Vec<Running>,
) -> Result<()> {
    for p in &local.processes {
        let r = start(p, bin_dir, Duration::from_secs(60)).await?;
        say(format!(
            "up   {:<28} {:?} 127.0.0.1:{} (pid {})",
            p.name,
            p.role,
            p.port,
            r.child.id().unwrap_or(0)
        ));
        running.push(r);
        write_state(lock, running);
    }
    wait_registered_while_running(plan, local, running, Duration::from_secs(60)).await?;
    if let Some(c) = console {
        match start(c, bin_dir, Duration::from_secs(30)).await {
            Ok(r) => {
                say(format!(
                    "console: http://127.0.0.1:{}/ (pid {}; token for changes in {})",
                    c.port,
                    r.child.id().unwrap_or(0),
                    c.config.0.display()
                ));
                running.push(r);
                write_state(lock, running);
            }
            Err(e) => say(format!("console not started: {e}")),
        }
    }
    Ok(())
}

/// With `--metrics-port`: checks the metrics ports are free (the processes bind theirs) and
/// serves the supervisor's metrics on the first, until the process ends.
async fn serve_local_metrics(ports: &[(u16, String)]) -> Result<()> {
    let Some(((base, who), rest)) = ports.split_first() else {
        return Ok(());
    };
    let listener = telemetry::bind("127.0.0.1", *base).await;
    let mut busy = Vec::new();
    if listener.is_err() {
        busy.push(format!("{base} ({who})"));
    }
    busy.extend(
        rest.iter()
            .filter(|(port, _)| std::net::TcpListener::bind(("127.0.0.1", *port)).is_err())
            .map(|(port, who)| format!("{port} ({who})")),
    );
    let listener = match listener {
        Ok(l) if busy.is_empty() => l,
        _ => {
            return Err(Error::Process {
                name: "operator local".into(),
                message: format!(
                    "metrics port(s) already in use: {}; pick others with --metrics-port",
                    busy.join(", ")
                ),
            });
        }
    };
    let addr = listener.local_addr().ok();
    let ep = telemetry::Endpoint::new(crate::metrics::registry(crate::metrics::local().clone()));
    tokio::spawn(telemetry::serve(
        listener,
        std::sync::Arc::new(ep),
        tokio_util::sync::CancellationToken::new(),
    ));
    if let Some(a) = addr {
        say(format!(
            "metrics: http://{a}/metrics (the processes on the next {} ports)",
            rest.len()
        ));
    }
    Ok(())
}

fn interrupted() -> Error {
    Error::Process {
        name: "operator local".into(),
        message: "interrupted during start-up".into(),
    }
}

/// Takes the data directory, or says in one line who has it.
fn take_dir(dir: &Path) -> Result<DirLock> {
    DirLock::acquire(dir).map_err(|e| match e {
        LockError::Busy(pid) => Error::Process {
            name: "operator local".into(),
            message: format!(
                "{} is in use by another operator local{}; stop it with `operator local stop --dir {}` or pick another --dir",
                dir.display(),
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                dir.display()
            ),
        },
        LockError::Io(source) => Error::Io {
            path: dir.join(files::PID_FILE).display().to_string(),
            source,
        },
    })
}

/// Every port the processes bind (name servers: listenPort; brokers: listenPort and the HA
/// port listenPort+1), with the process that binds it.
pub fn ports_used(local: &LocalPlan) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for p in &local.processes {
        out.push((p.port, p.name.clone()));
        if p.binary == "broker" {
            out.push((p.port.saturating_add(1), format!("{} (HA)", p.name)));
        }
    }
    out
}

/// Refuses to start when a port the cluster needs is taken, binding each as the servers will
/// (all addresses).
fn check_ports(local: &LocalPlan) -> Result<()> {
    let busy: Vec<String> = ports_used(local)
        .into_iter()
        .filter(|(port, _)| std::net::TcpListener::bind(("0.0.0.0", *port)).is_err())
        .map(|(port, who)| format!("{port} ({who})"))
        .collect();
    if busy.is_empty() {
        return Ok(());
    }
    Err(Error::Process {
        name: "operator local".into(),
        message: format!(
            "port(s) already in use: {}; is another cluster running? pick others with --namesrv-port/--broker-port",
            busy.join(", ")
        ),
    })
}

/// Records the running processes for `operator local status`; a failure is reported, not fatal.
fn write_state(lock: &DirLock, running: &[Running]) {
    let lines: Vec<String> = running
        .iter()
        .map(|r| {
            format!(
                "{} {:?} {} {}",
                r.process.name,
                r.process.role,
                r.process.port,
                r.child.id().unwrap_or(0)
            )
        })
        .collect();
    if let Err(e) = lock.write_state(&lines) {
        eprintln!("warning: cannot write {}: {e}", files::STATE_FILE);
    }
}

/// `operator local status`: prints the supervisor and its processes; exit code 3 (through
/// [`Error::NotRunning`]) when nothing runs in `dir`.
fn status(dir: &Path) -> Result<()> {
    let holder = files::holder(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let Some(pid) = holder else {
        return Err(Error::NotRunning(dir.display().to_string()));
    };
    say(format!(
        "running: operator local (pid {pid}) in {}",
        dir.display()
    ));
    for line in files::read_state(dir) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [name, role, port, pid] = f[..] {
            let up = pid.parse().is_ok_and(alive);
            say(format!(
                "{:<5}{name:<28} {role} 127.0.0.1:{port} (pid {pid})",
                if up { "up" } else { "down" }
            ));
        }
    }
    Ok(())
}

/// `operator local stop`: SIGTERM to the supervisor (the ordered stop Ctrl-C runs), then waits
/// until it has let go of the directory.
async fn stop(dir: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.display().to_string(),
        source,
    };
    let Some(pid) = files::holder(dir).map_err(io)? else {
        say(format!("not running in {}", dir.display()));
        return Ok(());
    };
    if pid == 0 {
        return Err(Error::Process {
            name: "operator local".into(),
            message: format!("{} names no pid", dir.join(files::PID_FILE).display()),
        });
    }
    signal_pid(pid, rustix::process::Signal::TERM);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while files::holder(dir).map_err(io)?.is_some() {
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Process {
                name: "operator local".into(),
                message: format!("pid {pid} still running 120 s after SIGTERM"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    say(format!("stopped operator local (pid {pid})"));
    Ok(())
}

/// Back-off before restarting a process that exited: doubles from 1 s to 60 s with each
/// exit in a row, like a pod's CrashLoopBackOff; a run of `RESET_AFTER` or more starts over.
fn restart_delay(exits_in_a_row: u32) -> Duration {
    Duration::from_secs(1u64 << exits_in_a_row.saturating_sub(1).min(6)).min(MAX_BACKOFF)
}

const MAX_BACKOFF: Duration = Duration::from_secs(60);
const RESET_AFTER: Duration = Duration::from_secs(60);

/// What the supervisor remembers of one process between restarts.
struct Restarts {
    /// Exits since the last run that lasted `RESET_AFTER`.
    in_a_row: u32,
    /// Total restarts.
    total: u32,
    /// When the current run started.
    since: tokio::time::Instant,
    /// When the pending restart is due.
    due: Option<tokio::time::Instant>,
}

/// What the supervisor keeps of the failover controller's changes (roles.rs).
struct RoleKeeper {
    dir: PathBuf,
    roles: roles::CurrentRoles,
    /// Each group's master role as the cluster file says.
    master_roles: std::collections::BTreeMap<String, String>,
    /// The controller's events (`None`: no controller).
    events: Option<tokio::sync::mpsc::UnboundedReceiver<failover::Event>>,
}

impl RoleKeeper {
    /// The next event; never resolves without a controller.
    async fn next(&mut self) -> Option<failover::Event> {
        match self.events.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Records `event` in the processes restarts use, their broker.conf and the roles file.
    fn record(&mut self, running: &mut [Running], event: &failover::Event) {
        let mut ps: Vec<&mut LocalProcess> = running.iter_mut().map(|r| &mut r.process).collect();
        let master_roles = &self.master_roles;
        let changed = roles::on_event(
            &mut ps,
            &mut self.roles,
            |g| {
                master_roles
                    .get(g)
                    .cloned()
                    .unwrap_or_else(|| "ASYNC_MASTER".to_string())
            },
            event,
        );
        if changed.is_empty() {
            return;
        }
        if let Err(e) = self.roles.save(&self.dir) {
            eprintln!(
                "warning: cannot write {}: {e}",
                self.dir.join(roles::ROLES_FILE).display()
            );
        }
        for i in changed {
            let p = &ps[i];
            match roles::rewrite(p) {
                Ok(path) => say(format!(
                    "roles {} now {} (brokerId={}): {} rewritten",
                    p.name,
                    roles::key(&p.config.1, "brokerRole").unwrap_or("?"),
                    roles::key(&p.config.1, "brokerId").unwrap_or("?"),
                    path.display()
                )),
                Err(e) => eprintln!("warning: cannot rewrite {}: {e}", p.config.0.display()),
            }
        }
    }
}

/// Waits for Ctrl-C / SIGTERM. Meanwhile a process that exits on its own is reported and, with
/// `restart`, started again after [`restart_delay`] (a broker recovers its store and
/// re-registers; its slaves reconnect), so one crash does not end the local cluster; the
/// failover controller's promotions and re-points are recorded so that a restart keeps them.
async fn supervise(
    running: &mut [Running],
    bin_dir: &Path,
    restart: bool,
    lock: &DirLock,
    keeper: &mut RoleKeeper,
    int: &mut Option<tokio::signal::unix::Signal>,
    term: &mut Option<tokio::signal::unix::Signal>,
) {
    // Streams, not one-shot futures: a signal that arrives while a restart is starting up is
    // kept and seen on the next turn.
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let now = tokio::time::Instant::now();
    let mut state: Vec<Restarts> = running
        .iter()
        .map(|_| Restarts {
            in_a_row: 0,
            total: 0,
            since: now,
            due: None,
        })
        .collect();
    let mut reported = std::collections::BTreeSet::new();
    loop {
        let mut changed = false;
        tokio::select! {
            _ = recv(int) => break,
            _ = recv(term) => break,
            Some(e) = keeper.next() => {
                keeper.record(running, &e);
                changed = true;
            }
            _ = tick.tick() => {}
        }
        let now = tokio::time::Instant::now();
        for (r, st) in running.iter_mut().zip(state.iter_mut()) {
            let log = r.process.dir.join("out.log");
            if st.due.is_none()
                && let Ok(Some(status)) = r.child.try_wait()
            {
                if !restart {
                    if reported.insert(r.process.name.clone()) {
                        say(format!(
                            "exit {} ({status}); see {}",
                            r.process.name,
                            log.display()
                        ));
                    }
                    continue;
                }
                let ran = now - st.since;
                st.in_a_row = if ran >= RESET_AFTER {
                    1
                } else {
                    st.in_a_row + 1
                };
                let delay = restart_delay(st.in_a_row);
                st.due = Some(now + delay);
                say(format!(
                    "exit {} ({status}) after {:.1}s; restarting in {}s; see {}",
                    r.process.name,
                    ran.as_secs_f64(),
                    delay.as_secs(),
                    log.display()
                ));
            }
            if st.due.is_some_and(|d| d <= now) {
                match start(&r.process, bin_dir, Duration::from_secs(60)).await {
                    Ok(next) => {
                        st.total += 1;
                        crate::metrics::local().on_restart(&r.process.name);
                        say(format!(
                            "up   {:<28} {:?} 127.0.0.1:{} (pid {}, restart {})",
                            r.process.name,
                            r.process.role,
                            r.process.port,
                            next.child.id().unwrap_or(0),
                            st.total
                        ));
                        *r = next;
                        st.due = None;
                        changed = true;
                        st.since = tokio::time::Instant::now();
                    }
                    Err(e) => {
                        st.in_a_row += 1;
                        let delay = restart_delay(st.in_a_row);
                        say(format!(
                            "failed {}: {e}; retrying in {}s",
                            r.process.name,
                            delay.as_secs()
                        ));
                        st.due = Some(tokio::time::Instant::now() + delay);
                    }
                }
            }
        }
        if changed {
            write_state(lock, running);
        }
    }
    say("stopping".to_string());
}

/// The next signal of `s`; never resolves when the handler could not be installed.
async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
