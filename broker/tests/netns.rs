//! brokerIP1 selection in network namespaces the test creates (seed FAQ 5.3): with a docker0-like
//! bridge and a veth "real" interface, the broker advertises the veth address — also when the
//! route to the name server runs over the bridge. Needs root; skipped with a message otherwise.
//! Addresses are from 198.18.0.0/15 and never leave the namespaces.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_broker");

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Two namespaces: `a` (broker side: docker0 bridge 198.19.0.1/24, veth 198.18.0.2/24) and `b`
/// (the other end of the veth, 198.18.0.1/24). Removed on drop.
struct Namespaces {
    a: String,
    b: String,
}

impl Namespaces {
    fn create() -> Option<Namespaces> {
        let id = std::process::id();
        let ns = Namespaces {
            a: format!("rmqbrk-a-{id}"),
            b: format!("rmqbrk-b-{id}"),
        };
        if !ip(&["netns", "add", &ns.a]) {
            return None;
        }
        let ok = ip(&["netns", "add", &ns.b])
            && ip(&["-n", &ns.a, "link", "set", "lo", "up"])
            && ip(&["-n", &ns.a, "link", "add", "docker0", "type", "bridge"])
            && ip(&[
                "-n",
                &ns.a,
                "addr",
                "add",
                "198.19.0.1/24",
                "dev",
                "docker0",
            ])
            && ip(&["-n", &ns.a, "link", "set", "docker0", "up"])
            && ip(&[
                "-n",
                &ns.a,
                "link",
                "add",
                "veth-rmq",
                "type",
                "veth",
                "peer",
                "name",
                "veth-peer",
                "netns",
                &ns.b,
            ])
            && ip(&[
                "-n",
                &ns.a,
                "addr",
                "add",
                "198.18.0.2/24",
                "dev",
                "veth-rmq",
            ])
            && ip(&["-n", &ns.a, "link", "set", "veth-rmq", "up"])
            && ip(&[
                "-n",
                &ns.b,
                "addr",
                "add",
                "198.18.0.1/24",
                "dev",
                "veth-peer",
            ])
            && ip(&["-n", &ns.b, "link", "set", "veth-peer", "up"]);
        if ok { Some(ns) } else { None }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.a]);
        ip(&["netns", "del", &self.b]);
    }
}

/// Starts the broker in namespace `ns` pointed at `namesrv` and returns the address it
/// advertises (from its boot line).
fn advertised(ns: &str, namesrv: &str, store: &std::path::Path) -> String {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, BIN, "-n", namesrv])
        .arg(format!("storePathRootDir={}", store.display()))
        .arg("listenPort=0")
        .arg("registerBrokerTimeoutMills=500")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("boot success") {
                let _ = tx.send(line);
                break;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("boot line");
    // "The broker[name, host:port] boot success. ..."
    let inner = line.split('[').nth(1).unwrap().split(']').next().unwrap();
    inner
        .split(", ")
        .nth(1)
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .0
        .to_string()
}

#[test]
fn advertises_the_veth_address_never_the_bridge() {
    if !rustix_is_root() {
        eprintln!("SKIPPED: needs root to create network namespaces");
        return;
    }
    let Some(ns) = Namespaces::create() else {
        eprintln!("SKIPPED: cannot create network namespaces here (ip netns add failed)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The name server is behind the veth: its source address is the veth's.
    assert_eq!(
        advertised(&ns.a, "198.18.0.1:9876", &dir.path().join("s1")),
        "198.18.0.2"
    );
    // The route to the name server runs over the bridge: the bridge address is refused and the
    // real interface's address is advertised instead.
    assert_eq!(
        advertised(&ns.a, "198.19.0.5:9876", &dir.path().join("s2")),
        "198.18.0.2"
    );
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
