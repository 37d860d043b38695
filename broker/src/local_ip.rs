//! The address the broker advertises when `brokerIP1` is unset (seed FAQ 5.3): the source address
//! of the interface that routes to the name server — never loopback (unless the name server itself
//! is on loopback) and never a bridge such as docker0 or another virtual host-side interface.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;

use tracing::{debug, warn};

/// Interface name prefixes of host-side bridges and virtual switches whose addresses peers
/// elsewhere cannot reach.
const VIRTUAL_PREFIXES: &[&str] = &[
    "docker", "br-", "virbr", "lxcbr", "lxdbr", "cni", "flannel", "cali", "vboxnet", "vmnet",
    "kube-", "podman", "weave", "tunl", "dummy",
];

/// True for an interface whose address must not be advertised: loopback, a Linux bridge (it has
/// `/sys/class/net/<name>/bridge`) or a known virtual switch name.
pub fn is_unadvertisable(name: &str, ip: IpAddr) -> bool {
    if ip.is_loopback() || ip.is_unspecified() {
        return true;
    }
    if let IpAddr::V6(v6) = ip
        && (v6.segments()[0] & 0xffc0) == 0xfe80
    {
        // Link-local addresses need a scope id nobody else knows.
        return true;
    }
    VIRTUAL_PREFIXES.iter().any(|p| name.starts_with(p))
        || Path::new("/sys/class/net")
            .join(name)
            .join("bridge")
            .exists()
}

/// The interface name that holds `ip`, if any.
fn interface_of(ip: IpAddr) -> Option<String> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .find(|i| i.ip() == ip)
        .map(|i| i.name)
}

/// The local source address the kernel would use to reach `target` (no packet is sent: a UDP
/// `connect` only selects a route).
pub fn route_source(target: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.connect(target).ok()?;
    sock.local_addr().ok().map(|a| a.ip())
}

/// Picks the address to advertise given the resolved name server addresses.
pub fn pick_advertised_ip(namesrvs: &[SocketAddr]) -> Option<IpAddr> {
    for ns in namesrvs {
        let Some(ip) = route_source(*ns) else {
            continue;
        };
        if ns.ip().is_loopback() && ip.is_loopback() {
            return Some(ip);
        }
        let name = interface_of(ip).unwrap_or_default();
        if !is_unadvertisable(&name, ip) {
            debug!(namesrv = %ns, ip = %ip, interface = %name, "advertising the address routing to the name server");
            return Some(ip);
        }
        warn!(namesrv = %ns, ip = %ip, interface = %name, "route to the name server uses a loopback or bridge address; not advertising it");
    }
    // No usable route: the first IPv4 address of a real interface, then IPv6.
    let ifs = if_addrs::get_if_addrs().ok()?;
    let usable = |i: &&if_addrs::Interface| !is_unadvertisable(&i.name, i.ip());
    ifs.iter()
        .filter(usable)
        .find(|i| i.ip().is_ipv4())
        .or_else(|| ifs.iter().find(usable))
        .map(|i| i.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_namesrv_gives_loopback() {
        let ip = pick_advertised_ip(&["127.0.0.1:9876".parse().unwrap()]).unwrap();
        assert!(ip.is_loopback());
    }

    #[test]
    fn bridges_and_loopback_are_refused() {
        assert!(is_unadvertisable("docker0", "172.17.0.1".parse().unwrap()));
        assert!(is_unadvertisable("br-1234", "172.18.0.1".parse().unwrap()));
        assert!(is_unadvertisable("lo", "127.0.0.1".parse().unwrap()));
        assert!(!is_unadvertisable(
            "veth-test-x",
            "198.18.0.2".parse().unwrap()
        ));
        assert!(!is_unadvertisable("eth0", "10.0.0.5".parse().unwrap()));
    }
}
