//! Local mode: runs a cluster file as processes on 127.0.0.1, from the same validated
//! [`ClusterPlan`] the Kubernetes builder uses.
//!
//! Every name server and every broker (each group's master and slaves) gets its own port and
//! data directory under `--dir`; broker.conf is rendered by [`ClusterPlan::broker_conf`], with
//! `brokerIP1=127.0.0.1` and `namesrvAddr` listing every local name server. Start order: name
//! servers, then masters, then slaves, each awaited until its port accepts connections. Ctrl-C or
//! SIGTERM stops brokers (slaves first) then name servers with SIGTERM, SIGKILL after a grace time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::crd::RocketMQCluster;
use crate::error::{Error, Result};
use crate::names;
use crate::plan::{ClusterPlan, Endpoints};
use crate::validate;

/// Prints a status line; a closed stdout (the reader went away) must not bring the cluster down.
fn say(line: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reads a RocketMQCluster YAML file (the same file `kubectl apply -f` takes).
pub fn load_cluster_file(path: &Path) -> Result<RocketMQCluster> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_cluster(&text).map_err(|message| Error::BadClusterFile {
        path: path.display().to_string(),
        message,
    })
}

/// Parses a RocketMQCluster from YAML text, checking apiVersion and kind.
pub fn parse_cluster(text: &str) -> std::result::Result<RocketMQCluster, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    if field("kind") != "RocketMQCluster"
        || field("apiVersion") != format!("{}/v1alpha1", crate::crd::GROUP)
    {
        return Err(format!(
            "apiVersion/kind must be {}/v1alpha1 RocketMQCluster",
            crate::crd::GROUP
        ));
    }
    let c: RocketMQCluster = serde_yaml::from_value(v).map_err(|e| e.to_string())?;
    if c.metadata.name.as_deref().unwrap_or("").is_empty() {
        return Err("metadata.name is missing".to_string());
    }
    Ok(c)
}

/// Flags of `operator local`.
#[derive(clap::Args, Debug, Clone)]
pub struct LocalArgs {
    /// The cluster file (a RocketMQCluster, as for kubectl apply).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Directory for data, configs and logs (one subdirectory per process).
    #[arg(long, default_value = "rocketmq-local")]
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
    for i in 0..plan.namesrv.replicas.max(0) as u16 {
        let port = namesrv_port
            .checked_add(i)
            .ok_or_else(|| port_error(namesrv_port))?;
        let name = format!("{}-{i}", names::namesrv(&plan.name));
        let pdir = dir.join(&name);
        let conf = format!(
            "listenPort={port}\nkvConfigPath={}\n",
            pdir.join("kvConfig.json").display()
        );
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
            let conf = plan.broker_conf(g, m, &ep)?;
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
    std::fs::write(&p.config.0, &p.config.1).map_err(|e| io(&p.config.0, e))?;
    let log_path = p.dir.join("out.log");
    // Appended to, so that a restart keeps the log of the run that crashed.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| io(&log_path, e))?;
    let log2 = log.try_clone().map_err(|e| io(&log_path, e))?;
    let bin = bin_dir.join(p.binary);
    let mut child = Command::new(&bin)
        .args(&p.args)
        .current_dir(&p.dir)
        .env("HOME", &p.dir)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err(format!("cannot run {}: {e}", bin.display())))?;
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

/// Waits until every name server lists every broker of the plan (brokerName → ids → address),
/// printing each group as it becomes complete.
pub async fn wait_registered(
    plan: &ClusterPlan,
    local: &LocalPlan,
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
                expected
                    .entry(g.broker_name.clone())
                    .or_default()
                    .insert(m.broker_id, format!("127.0.0.1:{}", p.port));
            }
        }
    }
    let namesrvs: Vec<String> = local.namesrv_addr.split(';').map(str::to_string).collect();
    let mut announced = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
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
            return Ok(());
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

/// Stops processes in reverse start order (slaves, masters, name servers): SIGTERM, then SIGKILL
/// after `grace`.
pub async fn stop_all(running: &mut Vec<Running>, grace: Duration) {
    while let Some(mut r) = running.pop() {
        if let Some(pid) = r.child.id() {
            // SIGTERM through kill(1): the workspace denies unsafe, so no libc::kill.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
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

/// Validates the file, lays out the processes, starts them in order and supervises them until
/// Ctrl-C / SIGTERM.
pub async fn run(args: LocalArgs) -> Result<()> {
    let cr = load_cluster_file(&args.file)?;
    let name = cr.metadata.name.clone().unwrap_or_default();
    let ns = cr
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let plan = validate::validate(&name, &ns, &cr.spec).map_err(|r| Error::BadClusterFile {
        path: args.file.display().to_string(),
        message: r.to_string(),
    })?;
    let dir = std::path::absolute(&args.dir).map_err(|source| Error::Io {
        path: args.dir.display().to_string(),
        source,
    })?;
    let local = plan_local(&plan, &dir, args.namesrv_port, args.broker_port)?;
    say(format!(
        "cluster {name}: {} ({} processes), data under {}",
        plan.mode(),
        local.processes.len(),
        dir.display()
    ));
    if args.dry_run {
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
        return Ok(());
    }
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .ok_or_else(|| Error::Process {
                name: "operator".into(),
                message: "cannot find own directory; pass --bin-dir".into(),
            })?,
    };
    let mut running = Vec::new();
    for p in &local.processes {
        match start(p, &bin_dir, Duration::from_secs(60)).await {
            Ok(r) => {
                say(format!(
                    "up   {:<28} {:?} 127.0.0.1:{} (pid {})",
                    p.name,
                    p.role,
                    p.port,
                    r.child.id().unwrap_or(0)
                ));
                running.push(r);
            }
            Err(e) => {
                eprintln!("failed {}: {e}", p.name);
                stop_all(&mut running, Duration::from_secs(10)).await;
                return Err(e);
            }
        }
    }
    match wait_registered(&plan, &local, Duration::from_secs(60)).await {
        Ok(()) => {}
        Err(e) => eprintln!("warning: {e}"),
    }
    say(format!("ready: namesrvAddr={}", local.namesrv_addr));
    if !args.exit_when_up {
        supervise(&mut running, &bin_dir, !args.no_restart).await;
    }
    stop_all(&mut running, Duration::from_secs(15)).await;
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

/// Waits for Ctrl-C / SIGTERM. Meanwhile a process that exits on its own is reported and, with
/// `restart`, started again after [`restart_delay`] (a broker recovers its store and
/// re-registers; its slaves reconnect), so one crash does not end the local cluster.
async fn supervise(running: &mut [Running], bin_dir: &Path, restart: bool) {
    use tokio::signal::unix::{SignalKind, signal};
    // Streams, not one-shot futures: a signal that arrives while a restart is starting up is
    // kept and seen on the next turn.
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
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
        tokio::select! {
            _ = recv(&mut int) => break,
            _ = recv(&mut term) => break,
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
