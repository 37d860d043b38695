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
        // Tests run in parallel in one process: the pid alone does not make names unique.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
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
        // Per-namespace /etc files (`ip netns exec` bind-mounts them).
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.a));
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

/// A stand-in name server: listens on each address (port 9876) in the namespace and records,
/// per accepted connection, the local address and whether a REGISTER_BROKER (code 103) arrived.
const FAKE_NAMESRV: &str = r#"
import socket, sys, threading
out = open(sys.argv[1], "a")
lock = threading.Lock()
def serve(addr):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 9876))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.settimeout(5)
        data = b""
        try:
            while len(data) < 4096:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
                if b'"code":103' in data:
                    break
        except Exception:
            pass
        with lock:
            out.write("%s %s\n" % (addr, b'"code":103' in data))
            out.flush()
        c.close()
for a in sys.argv[2:]:
    threading.Thread(target=serve, args=(a,), daemon=True).start()
threading.Event().wait()
"#;

#[test]
fn a_name_resolving_to_several_name_servers_registers_with_each() {
    if !rustix_is_root() {
        eprintln!("SKIPPED: needs root to create network namespaces");
        return;
    }
    if !Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
    {
        eprintln!("SKIPPED: python3 (the stand-in name server) is not installed");
        return;
    }
    let Some(ns) = Namespaces::create() else {
        eprintln!("SKIPPED: cannot create network namespaces here (ip netns add failed)");
        return;
    };
    assert!(ip(&[
        "-n",
        &ns.b,
        "addr",
        "add",
        "198.18.0.3/24",
        "dev",
        "veth-peer"
    ]));
    // In the broker's namespace the name resolves to both addresses, as a headless Service does.
    let etc = format!("/etc/netns/{}", ns.a);
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        format!("{etc}/hosts"),
        "127.0.0.1 localhost\n198.18.0.1 namesrv-headless\n198.18.0.3 namesrv-headless\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("namesrv.log");
    std::fs::write(&log, "").unwrap();
    let mut fake = Command::new("ip")
        .args(["netns", "exec", &ns.b, "python3", "-c", FAKE_NAMESRV])
        .arg(&log)
        .args(["198.18.0.1", "198.18.0.3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut broker = Command::new("ip")
        .args(["netns", "exec", &ns.a, BIN, "-n", "namesrv-headless:9876"])
        .arg(format!(
            "storePathRootDir={}",
            dir.path().join("store").display()
        ))
        .args([
            "listenPort=0",
            "registerBrokerTimeoutMills=500",
            "registerNameServerPeriod=1000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = (false, false);
    for _ in 0..300 {
        let text = std::fs::read_to_string(&log).unwrap();
        seen = (
            text.lines().any(|l| l == "198.18.0.1 True"),
            text.lines().any(|l| l == "198.18.0.3 True"),
        );
        if seen == (true, true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = broker.kill();
    let _ = broker.wait();
    let _ = fake.kill();
    let _ = fake.wait();
    assert_eq!(
        seen,
        (true, true),
        "REGISTER_BROKER reached both addresses of the name"
    );
}
