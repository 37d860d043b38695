//! Network namespaces for the test kubelet: one "node" namespace holding a bridge, and one
//! namespace per pod (or per test client) joined to that bridge by a veth pair, with a single
//! address from 198.18.0.0/15, loopback up, and no default route (nothing can leave the bridge).
//!
//! Everything is named after this process (`e2ek<pid>-…`), so a later run can tell leftovers of a
//! dead run from namespaces of a live one and remove them ([`sweep_stale`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::KubeletError;

/// Prefix of every namespace this module creates.
pub const PREFIX: &str = "e2ek";

fn ip(args: &[&str]) -> Result<(), KubeletError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| KubeletError::Command(format!("ip {args:?}: {e}")))?;
    if !out.status.success() {
        return Err(KubeletError::Command(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Whether this process may create network namespaces (root and `ip` present).
pub fn usable() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root: network namespaces need root".into());
    }
    let v = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map_err(|e| format!("no `ip` (iproute2): {e}"))?;
    if !v.status.success() {
        return Err("`ip netns list` failed".into());
    }
    Ok(())
}

/// Removes namespaces (and their `/etc/netns` directories) left by runs whose process is gone,
/// and those runs' state directories (`$TMPDIR/e2ek<pid>-<n>`).
pub fn sweep_stale() {
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if e.path().is_dir() && !PathBuf::from(format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !PathBuf::from(format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{name}"));
        }
    }
}

/// The bridge network: the node namespace and the address pool.
#[derive(Debug)]
pub struct Bridge {
    /// Name of the node namespace that holds the bridge `br0`.
    pub node_ns: String,
    /// Prefix of the namespaces attached to this bridge (`e2ek<pid>-<bridge number>`); also
    /// names the kubelet's state directory.
    pub stem: String,
    tag: String,
}

/// One namespace attached to the bridge.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Namespace name (`ip netns exec <name>`).
    pub ns: String,
    /// Its address on the bridge.
    pub ip: Ipv4Addr,
}

/// The `n`-th address of the pool: 198.18.0.0/15 minus network and broadcast.
pub fn pool_address(n: u32) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    Ipv4Addr::from(base + 2 + (n % 130_000))
}

impl Bridge {
    /// Creates the node namespace with bridge `br0` (no address, no route).
    pub fn create() -> Result<Bridge, KubeletError> {
        // Several kubelets may run in one test process: each bridge has its own number.
        static BRIDGES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let pid = std::process::id();
        let k = BRIDGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stem = format!("{PREFIX}{pid}-{k}");
        let node_ns = format!("{stem}node");
        ip(&["netns", "add", &node_ns])?;
        let b = Bridge {
            node_ns,
            stem,
            tag: format!("{:x}", pid & 0xff_ffff),
        };
        ip(&["-n", &b.node_ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &b.node_ns, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &b.node_ns, "link", "set", "br0", "up"])?;
        Ok(b)
    }

    /// Creates namespace `e2ek<pid>-<bridge><name>` with address `pool_address(n)` on the
    /// bridge.
    pub fn attach(&self, name: &str, n: u32) -> Result<Attached, KubeletError> {
        let ns = format!("{}{name}", self.stem);
        let addr = pool_address(n);
        // veth names are at most 15 bytes: k<pid hex><a|b><n>.
        let host = format!("k{}a{}", self.tag, n);
        let peer = format!("k{}b{}", self.tag, n);
        let _ = ip(&["netns", "del", &ns]);
        ip(&["netns", "add", &ns])?;
        let r = (|| {
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &self.node_ns,
                "link",
                "add",
                &host,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "netns",
                &ns,
            ])?;
            ip(&["-n", &self.node_ns, "link", "set", &host, "master", "br0"])?;
            ip(&["-n", &self.node_ns, "link", "set", &host, "up"])?;
            ip(&["-n", &ns, "link", "set", &peer, "name", "eth0"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/15"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])
        })();
        if let Err(e) = r {
            let _ = ip(&["netns", "del", &ns]);
            return Err(e);
        }
        Ok(Attached { ns, ip: addr })
    }

    /// Removes the node namespace (and with it the bridge and the host ends of every veth).
    pub fn remove(&self) {
        let _ = ip(&["netns", "del", &self.node_ns]);
    }
}

/// Deletes namespace `ns` (its veth pair goes with it) and its `/etc/netns/<ns>` directory.
pub fn remove_ns(ns: &str) {
    let _ = ip(&["netns", "del", ns]);
    let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
}

/// Runs `f` on a fresh thread that has joined network namespace `ns`: sockets it creates live
/// in that namespace (and keep living there when handed back). The thread ends with `f`, so no
/// pooled thread is ever left in a foreign namespace.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<std::thread::JoinHandle<io::Result<T>>> {
    let path = format!("/run/netns/{ns}");
    let file = std::fs::File::open(&path)?;
    std::thread::Builder::new()
        .name(format!("netns-{ns}"))
        .spawn(move || {
            use std::os::fd::AsFd;
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            Ok(f())
        })
}

/// Runs `f` in namespace `ns` and waits for it (async: the waiting happens off the runtime).
pub async fn run_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let h = in_netns(ns, f)?;
    tokio::task::spawn_blocking(move || h.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("netns thread panicked"))?
}

/// A TCP connect to `addr` from inside `ns`, as a tcpSocket probe does.
pub async fn tcp_probe(ns: &str, addr: SocketAddr, timeout: Duration) -> bool {
    run_in_netns(ns, move || {
        TcpStream::connect_timeout(&addr, timeout).is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A listener bound inside `ns` (e.g. `127.0.0.1:6443` of that namespace's own loopback).
pub async fn listen_in(ns: &str, addr: SocketAddr) -> io::Result<TcpListener> {
    run_in_netns(ns, move || TcpListener::bind(addr)).await?
}
