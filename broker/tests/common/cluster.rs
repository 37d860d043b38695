//! Multi-host test clusters in network namespaces: a hub namespace holds a bridge; every node
//! (name server, broker) gets its own namespace and its own 198.18.S.N/24 address on a veth
//! into the bridge; no default route anywhere. The test process reaches the nodes through one
//! more veth, whose root-namespace end holds 198.18.S.254/24 (a connected route only).
//! Everything (processes, namespaces, that veth) is removed on drop, also after a failed
//! assertion. Processes run with `ip netns exec NS <binary>`.
//!
//! The name server binary is found next to the broker binary (`CARGO_BIN_EXE_broker`) and
//! built there with `cargo build -p namesrv` when missing.

#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `ip` quietly; true on success.
pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True when running as root with `ip` available; prints why not otherwise.
pub fn can_run(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        eprintln!("SKIPPED {test}: needs root to create network namespaces");
        return false;
    }
    if !ip(&["-V"]) {
        eprintln!("SKIPPED {test}: the `ip` command (iproute2) is missing");
        return false;
    }
    true
}

/// The broker binary.
pub fn broker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_broker"))
}

/// The name server binary next to the broker's, built if missing.
pub fn namesrv_bin() -> PathBuf {
    let broker = broker_bin();
    let dir = broker.parent().unwrap().to_path_buf();
    let bin = dir.join("namesrv");
    if !bin.exists() {
        let target = dir.parent().unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "namesrv", "--bin", "namesrv", "--target-dir"])
            .arg(target);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        assert!(ok && bin.exists(), "cannot build the namesrv binary");
    }
    bin
}

/// A running process in a namespace.
pub struct Proc {
    /// Its namespace.
    pub ns: String,
    child: Child,
}

/// One test cluster: namespaces, processes, addresses.
pub struct Cluster {
    /// Third octet of 198.18.S.0/24.
    pub subnet: u8,
    tag: String,
    hub: String,
    host_if: String,
    nodes: BTreeMap<u8, String>,
    procs: BTreeMap<String, Proc>,
    /// Store and log files.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Creates the hub and the test process's veth, or `None` (after cleaning up) on failure.
    pub fn create(subnet: u8) -> Option<Cluster> {
        let pid = std::process::id();
        let tag = format!("rq{}s{subnet}", pid % 100_000);
        let c = Cluster {
            subnet,
            hub: format!("{tag}-hub"),
            host_if: format!("{tag}h"),
            tag,
            nodes: BTreeMap::new(),
            procs: BTreeMap::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        let host_addr = format!("198.18.{subnet}.254/24");
        let ok = ip(&["netns", "add", &c.hub])
            && ip(&["-n", &c.hub, "link", "set", "lo", "up"])
            && ip(&["-n", &c.hub, "link", "add", "br0", "type", "bridge"])
            && ip(&["-n", &c.hub, "link", "set", "br0", "up"])
            && ip(&[
                "link", "add", &c.host_if, "type", "veth", "peer", "name", "vhost", "netns", &c.hub,
            ])
            && ip(&["-n", &c.hub, "link", "set", "vhost", "master", "br0"])
            && ip(&["-n", &c.hub, "link", "set", "vhost", "up"])
            && ip(&["addr", "add", &host_addr, "dev", &c.host_if])
            && ip(&["link", "set", &c.host_if, "up"]);
        if ok { Some(c) } else { None }
    }

    /// The address of node `n`.
    pub fn addr(&self, n: u8) -> String {
        format!("198.18.{}.{n}", self.subnet)
    }

    /// Adds node `n` (namespace + veth + address); returns its namespace.
    pub fn node(&mut self, n: u8) -> String {
        if let Some(ns) = self.nodes.get(&n) {
            return ns.clone();
        }
        let ns = format!("{}-n{n}", self.tag);
        let port = format!("v{n}");
        let addr = format!("{}/24", self.addr(n));
        let ok = ip(&["netns", "add", &ns])
            && ip(&["-n", &ns, "link", "set", "lo", "up"])
            && ip(&[
                "-n", &self.hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])
            && ip(&["-n", &self.hub, "link", "set", &port, "master", "br0"])
            && ip(&["-n", &self.hub, "link", "set", &port, "up"])
            && ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])
            && ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        self.nodes.insert(n, ns.clone());
        assert!(ok, "cannot create node {n}");
        ns
    }

    /// Cuts (false) or restores (true) node `n`'s only link.
    pub fn link(&self, n: u8, up: bool) {
        let state = if up { "up" } else { "down" };
        assert!(ip(&[
            "-n",
            &self.hub,
            "link",
            "set",
            &format!("v{n}"),
            state
        ]));
    }

    /// Starts `bin args` in node `n`'s namespace as `name`; waits for its boot line.
    pub fn spawn(&mut self, name: &str, n: u8, bin: &Path, args: &[String], env: &[(&str, &str)]) {
        let ns = self.node(n);
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns])
            .arg(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && line.contains("boot success") {
                    let _ = tx.send(line);
                    sent = true;
                }
            }
        });
        self.procs.insert(name.to_string(), Proc { ns, child });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            panic!("{name} did not boot; log:\n{}", self.log(name));
        }
    }

    /// Starts a name server on node `n`, port 9876.
    pub fn namesrv(&mut self, name: &str, n: u8) {
        let conf = self.dir.path().join(format!("{name}.properties"));
        std::fs::write(
            &conf,
            format!(
                "listenPort=9876\nbindAddress={}\nkvConfigPath={}\nconfigStorePath={}\n",
                self.addr(n),
                self.dir.path().join(format!("{name}-kv.json")).display(),
                self.dir
                    .path()
                    .join(format!("{name}-ns.properties"))
                    .display(),
            ),
        )
        .unwrap();
        let bin = namesrv_bin();
        self.spawn(
            name,
            n,
            &bin,
            &["-c".into(), conf.display().to_string()],
            &[],
        );
    }

    /// The store directory of broker `name`.
    pub fn store_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}-store"))
    }

    /// Starts a broker on node `n` with `extra` config lines; listens on 10911 (HA 10912).
    pub fn broker(&mut self, name: &str, n: u8, namesrv: u8, extra: &str) {
        let conf = self.dir.path().join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "brokerClusterName=ReplCluster\nlistenPort=10911\nbrokerIP1={}\nnamesrvAddr={}:9876\n\
                 storePathRootDir={}\nmappedFileSizeCommitLog=4194304\nmappedFileSizeConsumeQueue=240000\n\
                 registerNameServerPeriod=1000\nhaHousekeepingInterval=4000\nhaSendHeartbeatInterval=1000\n\
                 flushConsumerOffsetInterval=500\nmaxMessageSize=65536\n{extra}\n",
                self.addr(n),
                self.addr(namesrv),
                self.store_dir(name).display(),
            ),
        )
        .unwrap();
        let bin = broker_bin();
        self.spawn(
            name,
            n,
            &bin,
            &["-c".into(), conf.display().to_string()],
            &[("RMQ_SLAVE_SYNC_INTERVAL_MS", "500")],
        );
    }

    /// SIGKILLs process `name` (`ip netns exec` execs the binary: the child is the process).
    pub fn kill(&mut self, name: &str) {
        if let Some(mut p) = self.procs.remove(name) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// Stops process `name` cleanly (SIGTERM: the broker flushes its store) and waits for it.
    pub fn stop(&mut self, name: &str) {
        if let Some(mut p) = self.procs.remove(name) {
            let _ = Command::new("kill")
                .args(["-TERM", &p.child.id().to_string()])
                .status();
            for _ in 0..300 {
                if let Ok(Some(_)) = p.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// The log (stderr) of process `name`.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The commit log bytes of broker `name` from offset 0 to `end`, read from its files: stop
    /// the broker first, the store buffers the tail in memory until it flushes.
    pub fn commit_log(&self, name: &str, end: i64) -> Vec<u8> {
        let dir = self.store_dir(name).join("commitlog");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().len() == 20)
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let start: i64 = f.file_name().unwrap().to_string_lossy().parse().unwrap();
            if start >= end {
                break;
            }
            assert_eq!(start as usize, out.len(), "gap before {}", f.display());
            out.extend_from_slice(&std::fs::read(&f).unwrap());
        }
        out.truncate(end as usize);
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let names: Vec<String> = self.procs.keys().cloned().collect();
        for n in names {
            self.kill(&n);
        }
        for ns in self.nodes.values() {
            ip(&["netns", "del", ns]);
        }
        ip(&["link", "del", &self.host_if]);
        ip(&["netns", "del", &self.hub]);
        if std::thread::panicking() {
            // Keep the logs of a failed run readable.
            let keep = self.dir.path().to_path_buf();
            eprintln!("cluster files (logs) in {}", keep.display());
            let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
        }
    }
}
