//! A cluster file run as real processes, laid out by the operator's local mode
//! ([`operator::local::plan_local`], the same validated plan the Kubernetes builder uses) and
//! started with its [`operator::local::start`], but kept here process by process so a scenario
//! can SIGKILL one master, stop one broker gracefully, and start it again on the same store.
//!
//! `operator local -f` itself supervises the whole set and has no per-process control, which is
//! why the scenarios drive the library functions rather than the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use client::{Admin, ClientConfig};
use operator::local::{LocalPlan, LocalProcess, Role, Running};
use operator::plan::ClusterPlan;
use remoting::body::topic::TopicConfig;

use crate::load::Group;

/// Builds `namesrv` and `broker` (a no-op when fresh) and returns the directory holding them:
/// the profile directory of the running test binary (`target/<profile>/`).
pub fn server_binaries() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("own path")?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| anyhow!("test binary has no parent"))?
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build", "--quiet", "-p", "namesrv", "-p", "broker", "--bins",
    ]);
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("building namesrv and broker failed: {status}");
    }
    for b in ["namesrv", "broker"] {
        if !dir.join(b).exists() {
            bail!("{} missing after the build", dir.join(b).display());
        }
    }
    Ok(dir)
}

/// A port base the kernel just handed out, moved into a range where the next ~80 ports are very
/// likely free too.
pub fn free_port_base() -> Result<u16> {
    // Below Linux's ephemeral range (32768-60999): no outgoing connection is handed one of
    // these ports, so a process restarted on its port (as a pod would be) finds it free.
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(20000 + l.local_addr()?.port() % 12000)
}

/// The running processes of one cluster file.
pub struct ProcCluster {
    /// The validated plan.
    pub plan: ClusterPlan,
    /// The local layout (ports, dirs, configs).
    pub local: LocalPlan,
    running: BTreeMap<String, Running>,
    bin_dir: PathBuf,
    restarts: u32,
    _dir: tempfile::TempDir,
}

impl ProcCluster {
    /// Validates `file` (a RocketMQCluster), lays it out on 127.0.0.1 from `base` and starts
    /// name servers, masters, then slaves; returns once every group is registered everywhere.
    pub async fn start(file: &Path, base: u16) -> Result<ProcCluster> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let bin_dir = server_binaries()?;
        let cr = operator::local::load_cluster_file(file)?;
        let name = cr.metadata.name.clone().unwrap_or_default();
        let plan = operator::validate::validate(&name, "default", &cr.spec)
            .map_err(|r| anyhow!("{}: {r}", file.display()))?;
        let dir = tempfile::tempdir()?;
        let local = operator::local::plan_local(&plan, dir.path(), base, base + 10)?;
        let mut c = ProcCluster {
            plan,
            local,
            running: BTreeMap::new(),
            bin_dir,
            restarts: 0,
            _dir: dir,
        };
        for p in c.local.processes.clone() {
            c.spawn(&p).await?;
        }
        operator::local::wait_registered(&c.plan, &c.local, Duration::from_secs(60)).await?;
        Ok(c)
    }

    /// [`start`](Self::start) on a fresh port base, up to three tries: another process on the
    /// machine may take one of the ~60 ports between the choice and the bind.
    pub async fn start_anywhere(file: &Path) -> Result<ProcCluster> {
        let mut last = None;
        for _ in 0..3 {
            match Self::start(file, free_port_base()?).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    eprintln!("cluster start failed, retrying on other ports: {e:#}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("no start attempted")))
    }

    async fn spawn(&mut self, p: &LocalProcess) -> Result<()> {
        let r = operator::local::start(p, &self.bin_dir, Duration::from_secs(60)).await?;
        self.running.insert(p.name.clone(), r);
        Ok(())
    }

    /// The `namesrvAddr` clients use.
    pub fn namesrv(&self) -> &str {
        &self.local.namesrv_addr
    }

    /// The process named after its pod (`<cluster>-broker-<g>-<ordinal>`).
    pub fn process(&self, name: &str) -> Result<&LocalProcess> {
        self.local
            .processes
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| anyhow!("no process {name}"))
    }

    /// Process name of member `ordinal` of group `group`.
    pub fn broker_name_of(&self, group: usize, ordinal: u32) -> String {
        operator::names::broker_pod(&self.plan.name, group, ordinal)
    }

    /// The broker groups with their members' addresses, master first.
    pub fn groups(&self) -> Vec<Group> {
        self.plan
            .groups
            .iter()
            .map(|g| Group {
                broker_name: g.broker_name.clone(),
                addrs: g
                    .members
                    .iter()
                    .filter_map(|m| {
                        let n = operator::names::broker_pod(&self.plan.name, g.index, m.ordinal);
                        self.process(&n)
                            .ok()
                            .map(|p| format!("127.0.0.1:{}", p.port))
                    })
                    .collect(),
            })
            .collect()
    }

    /// Sends `signal` (`KILL`, `TERM`) to process `name` and waits for it to exit.
    pub async fn signal(&mut self, name: &str, signal: &str) -> Result<()> {
        let mut r = self
            .running
            .remove(name)
            .ok_or_else(|| anyhow!("{name} is not running"))?;
        if let Some(pid) = r.child.id() {
            // kill(1): the workspace denies unsafe, so no libc::kill.
            tokio::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()
                .await?;
        }
        match tokio::time::timeout(Duration::from_secs(30), r.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                r.child.kill().await?;
            }
        }
        Ok(())
    }

    /// Starts process `name` again on its own config and store (its old log is kept aside).
    pub async fn restart(&mut self, name: &str) -> Result<()> {
        let p = self.process(name)?.clone();
        self.restarts += 1;
        let log = p.dir.join("out.log");
        if log.exists() {
            std::fs::rename(&log, p.dir.join(format!("out.log.{}", self.restarts)))?;
        }
        self.spawn(&p).await
    }

    /// Waits until every name server lists every member of every group again.
    pub async fn wait_registered(&self) -> Result<()> {
        operator::local::wait_registered(&self.plan, &self.local, Duration::from_secs(60)).await?;
        Ok(())
    }

    /// Creates `topic` with `queues` read/write queues on every master and waits for its route.
    pub async fn create_topic(&self, topic: &str, queues: i32) -> Result<()> {
        let admin = Admin::new(ClientConfig::new(self.namesrv().to_string()))?;
        let masters = admin
            .create_topic(
                &self.plan.cluster_name,
                &TopicConfig::with_queues(topic, queues, queues, 6),
            )
            .await?;
        if masters.len() != self.plan.groups.len() {
            bail!("topic created on {masters:?} only");
        }
        for _ in 0..200 {
            if let Ok(r) = admin.topic_route(topic).await
                && r.queue_datas.len() == self.plan.groups.len()
            {
                admin.shutdown().await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin.shutdown().await;
        bail!("no complete route for {topic}")
    }

    /// Waits until every slave serves `topic`: a slave learns topic configs from its master's
    /// metadata sync (every 10 s), and until then answers pulls with TOPIC_NOT_EXIST, so a master
    /// lost right after a topic's creation would leave its messages unreadable on the slave.
    pub async fn wait_topic_on_slaves(&self, topic: &str, run: &str) -> Result<()> {
        let slaves: Vec<Group> = self
            .groups()
            .into_iter()
            .flat_map(|g| {
                g.addrs
                    .iter()
                    .skip(1)
                    .map(|a| Group {
                        broker_name: g.broker_name.clone(),
                        addrs: vec![a.clone()],
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for s in &slaves {
            loop {
                match crate::load::drain(self.namesrv(), topic, run, std::slice::from_ref(s), 1)
                    .await
                {
                    Ok(_) => break,
                    Err(e) if tokio::time::Instant::now() > deadline => {
                        return Err(e.context(format!("slave {:?} never served {topic}", s.addrs)));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
        Ok(())
    }

    /// Brokers in start order (masters, then slaves).
    pub fn brokers(&self) -> Vec<LocalProcess> {
        self.local
            .processes
            .iter()
            .filter(|p| p.role != Role::NameServer)
            .cloned()
            .collect()
    }

    /// Stops everything: slaves, masters, name servers; SIGTERM then SIGKILL.
    pub async fn stop(mut self) {
        let mut order: Vec<Running> = Vec::new();
        for p in &self.local.processes {
            if let Some(r) = self.running.remove(&p.name) {
                order.push(r);
            }
        }
        operator::local::stop_all(&mut order, Duration::from_secs(15)).await;
    }
}
