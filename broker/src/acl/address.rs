//! White-list address patterns of `plain_acl.yml` (Java `RemoteAddressStrategyFactory`), for
//! `globalWhiteRemoteAddresses` and each account's `whiteRemoteAddress`:
//!
//! | pattern | matches |
//! |---|---|
//! | blank | nothing |
//! | `*`, `*.*.*.*` | every address |
//! | `192.168.1.{1,2,3}` | those addresses |
//! | `192.168.1.1,192.168.1.2` | those addresses |
//! | `192.168.*.*`, `192.168.1.*` | the addresses under that prefix |
//! | `192.168.1.10-20`, `192.168.1-3.*` | a range in one octet, any value after it |
//! | `192.168.1.1`, `::1` | that address |
//!
//! IPv6 patterns are matched exactly, in lists or alone (Java's IPv6 ranges are not supported:
//! such a pattern is refused when the file loads, never silently widened).

use std::net::IpAddr;

/// A parsed white-list pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPattern {
    /// Blank: nothing matches.
    Nothing,
    /// `*`: everything matches.
    Any,
    /// Exact addresses.
    Set(Vec<IpAddr>),
    /// `head.<start-end>.*...`: the first `prefix.len()` octets equal `prefix`, the next one is
    /// within `start..=end`, the rest are free.
    Range {
        /// Fixed leading octets.
        prefix: Vec<u8>,
        /// Lowest value of the ranged octet.
        start: u8,
        /// Highest value of the ranged octet.
        end: u8,
    },
}

impl AddressPattern {
    /// Parses one pattern; the error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Ok(AddressPattern::Nothing);
        }
        if s == "*" || s == "*.*.*.*" || s == "*:*:*:*:*:*:*:*" {
            return Ok(AddressPattern::Any);
        }
        let bad = |why: &str| format!("white-list address {s:?}: {why}");
        if let Some(open) = s.find('{') {
            // 192.168.1.{1,2,3}
            let Some(inner) = s[open + 1..].strip_suffix('}') else {
                return Err(bad("a {..} list must end the address"));
            };
            let head = &s[..open];
            if !head.ends_with('.') || head.matches('.').count() != 3 {
                return Err(bad("a {..} list must be the last octet of an IPv4 address"));
            }
            let mut set = Vec::new();
            for last in inner.split(',') {
                let addr = format!("{head}{}", last.trim());
                set.push(parse_ip(&addr).ok_or_else(|| bad("not an address in the list"))?);
            }
            return Ok(AddressPattern::Set(set));
        }
        if s.contains(',') {
            let mut set = Vec::new();
            for a in s.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                set.push(parse_ip(a).ok_or_else(|| bad(&format!("{a:?} is not an address")))?);
            }
            return Ok(AddressPattern::Set(set));
        }
        if s.contains('*') || s.contains('-') {
            if s.contains(':') {
                return Err(bad("IPv6 ranges are not supported; list the addresses"));
            }
            return parse_range(s).map_err(|why| bad(&why));
        }
        parse_ip(s)
            .map(|ip| AddressPattern::Set(vec![ip]))
            .ok_or_else(|| bad("not an IP address"))
    }

    /// Whether the client address `ip` matches.
    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match self {
            AddressPattern::Nothing => false,
            AddressPattern::Any => true,
            AddressPattern::Set(set) => set.iter().any(|a| canonical(*a) == ip),
            AddressPattern::Range { prefix, start, end } => {
                let IpAddr::V4(v4) = ip else {
                    return false;
                };
                let o = v4.octets();
                o[..prefix.len()] == prefix[..] && (*start..=*end).contains(&o[prefix.len()])
            }
        }
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack listener's view of an IPv4 client) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok()
}

/// `a.b.c.d` where one octet (not the first) is `*` or `x-y` and every later one is `*`.
fn parse_range(s: &str) -> Result<AddressPattern, String> {
    let parts: Vec<&str> = s.split('.').map(str::trim).collect();
    if parts.len() != 4 {
        return Err("an IPv4 pattern has four octets".into());
    }
    let Some(at) = parts.iter().position(|p| *p == "*" || p.contains('-')) else {
        return Err("no * or range".into());
    };
    if at == 0 {
        return Err("the first octet must be a number".into());
    }
    if parts[at + 1..].iter().any(|p| *p != "*") {
        return Err("every octet after a * or a range must be *".into());
    }
    let mut prefix = Vec::with_capacity(at);
    for p in &parts[..at] {
        prefix.push(
            p.parse::<u8>()
                .map_err(|_| format!("{p:?} is not an octet"))?,
        );
    }
    let (start, end) = if parts[at] == "*" {
        (0, 255)
    } else {
        let (a, b) = parts[at]
            .split_once('-')
            .ok_or_else(|| "bad range".to_string())?;
        let a = a
            .trim()
            .parse::<u8>()
            .map_err(|_| format!("{a:?} is not an octet"))?;
        let b = b
            .trim()
            .parse::<u8>()
            .map_err(|_| format!("{b:?} is not an octet"))?;
        if a > b {
            return Err(format!("range {a}-{b} is empty"));
        }
        (a, b)
    };
    Ok(AddressPattern::Range { prefix, start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn m(p: &str, ip: IpAddr) -> bool {
        AddressPattern::parse(p)
            .expect("pattern parses")
            .matches(ip)
    }

    #[test]
    fn java_pattern_forms() {
        assert!(!m("", v4(127, 0, 0, 1)));
        assert!(m("*", v4(10, 1, 2, 3)));
        assert!(m("*.*.*.*", v4(10, 1, 2, 3)));
        assert!(m("192.168.1.{1,2,3}", v4(192, 168, 1, 2)));
        assert!(!m("192.168.1.{1,2,3}", v4(192, 168, 1, 4)));
        assert!(m("192.168.1.1,10.0.0.1", v4(10, 0, 0, 1)));
        assert!(!m("192.168.1.1,10.0.0.1", v4(10, 0, 0, 2)));
        assert!(m("192.168.*.*", v4(192, 168, 200, 1)));
        assert!(!m("192.168.*.*", v4(192, 169, 0, 1)));
        assert!(m("192.168.1.*", v4(192, 168, 1, 77)));
        assert!(m("192.168.1.10-20", v4(192, 168, 1, 15)));
        assert!(!m("192.168.1.10-20", v4(192, 168, 1, 21)));
        assert!(m("192.168.1-3.*", v4(192, 168, 3, 9)));
        assert!(!m("192.168.1-3.*", v4(192, 168, 4, 9)));
        assert!(m("127.0.0.1", v4(127, 0, 0, 1)));
        assert!(m("::1", "::1".parse().expect("ip")));
        // A dual-stack listener sees IPv4 clients as mapped IPv6 addresses.
        assert!(m("127.0.0.1", "::ffff:127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "192.168.1",
            "300.1.1.1",
            "*.168.1.1",
            "192.168.*.1",
            "192.168.1.20-10",
            "192.168.1.{1,x}",
            "host.example",
            "fe80::*",
        ] {
            assert!(AddressPattern::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
