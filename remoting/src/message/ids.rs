//! Message ids (spec §4.5): broker offset ids and client `UNIQ_KEY` ids.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{RemotingError, Result};

/// A decoded offset message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetMsgId {
    /// The store host that wrote the record.
    pub store_host: SocketAddr,
    /// The record's commit-log offset.
    pub commit_log_offset: i64,
}

fn hex_upper(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex_upper(&mut s, bytes);
    s
}

fn push_hex_upper(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(bytes.len() * 2);
    // Digits into a buffer, then one append: a `push` per character (its capacity check and
    // UTF-8 path) was most of an id's cost, paid per send by the broker and per message by
    // a consumer.
    for chunk in bytes.chunks(32) {
        let mut buf = [0u8; 64];
        for (pair, b) in buf.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xF)];
        }
        // Hex digits are ASCII.
        out.push_str(std::str::from_utf8(&buf[..chunk.len() * 2]).unwrap_or_default());
    }
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    let bad = || RemotingError::MalformedRecord(format!("invalid hex id {s:?}"));
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| bad()))
        .collect()
}

/// Renders `store_ip + port (i32) + offset (i64)` as uppercase hex (32 chars for IPv4).
pub fn encode_offset_msg_id(store_host: SocketAddr, offset: i64) -> String {
    let mut s = String::with_capacity(56);
    push_offset_msg_id(&mut s, store_host, offset);
    s
}

/// Appends the offset message id of [`encode_offset_msg_id`] to `out` (no allocation besides
/// `out`'s growth: the store builds one per put).
pub fn push_offset_msg_id(out: &mut String, store_host: SocketAddr, offset: i64) {
    let mut raw = [0u8; 28];
    let ip_len = match store_host.ip() {
        IpAddr::V4(ip) => {
            raw[..4].copy_from_slice(&ip.octets());
            4
        }
        IpAddr::V6(ip) => {
            raw[..16].copy_from_slice(&ip.octets());
            16
        }
    };
    raw[ip_len..ip_len + 4].copy_from_slice(&i32::from(store_host.port()).to_be_bytes());
    raw[ip_len + 4..ip_len + 12].copy_from_slice(&offset.to_be_bytes());
    push_hex_upper(out, &raw[..ip_len + 12]);
}

/// Decodes an offset message id: 32 hex chars ⇒ IPv4, 56 ⇒ IPv6.
pub fn decode_offset_msg_id(id: &str) -> Result<OffsetMsgId> {
    let b = unhex(id)?;
    let (ip, rest) = match b.len() {
        16 => {
            let ip = IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
            (ip, &b[4..])
        }
        28 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[..16]);
            (IpAddr::V6(Ipv6Addr::from(a)), &b[16..])
        }
        n => {
            return Err(RemotingError::MalformedRecord(format!(
                "offset msg id of {n} bytes"
            )));
        }
    };
    let port = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let port = u16::try_from(port)
        .map_err(|_| RemotingError::MalformedRecord(format!("msg id port {port} out of range")))?;
    let mut o = [0u8; 8];
    o.copy_from_slice(&rest[4..12]);
    Ok(OffsetMsgId {
        store_host: SocketAddr::new(ip, port),
        commit_log_offset: i64::from_be_bytes(o),
    })
}

/// Generates client message ids (`UNIQ_KEY`): `ip + pid (i16) + classloader hash (i32)` fixed,
/// then `ms since the start of the current month (i32) + counter (i16)`, uppercase hex.
#[derive(Debug)]
pub struct UniqIdGenerator {
    prefix: String,
    counter: AtomicU16,
}

impl UniqIdGenerator {
    /// A generator for a client at `ip`; `pid` and `salt` stand in for Java's pid and class
    /// loader hash code.
    pub fn new(ip: IpAddr, pid: u32, salt: i32) -> Self {
        let mut b = Vec::with_capacity(22);
        match ip {
            IpAddr::V4(ip) => b.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => b.extend_from_slice(&ip.octets()),
        }
        b.extend_from_slice(&(pid as i16).to_be_bytes());
        b.extend_from_slice(&salt.to_be_bytes());
        UniqIdGenerator {
            prefix: hex_upper(&b),
            counter: AtomicU16::new(0),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let since_month = now - start_of_month_utc(now);
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 6];
        b[..4].copy_from_slice(&(since_month as i32).to_be_bytes());
        b[4..].copy_from_slice(&count.to_be_bytes());
        // One allocation per id, the size it ends at.
        let mut s = String::with_capacity(self.prefix.len() + 2 * b.len());
        s.push_str(&self.prefix);
        push_hex_upper(&mut s, &b);
        s
    }
}

/// Epoch ms of 00:00 UTC on the first day of the month containing `ms`.
fn start_of_month_utc(ms: i64) -> i64 {
    let days = ms.div_euclid(86_400_000);
    // Civil-from-days (Howard Hinnant's algorithm), then back to the 1st of that month.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    (days - (d - 1)) * 86_400_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offset_id_format() {
        let id = encode_offset_msg_id("10.0.0.2:10911".parse().unwrap(), 0x1234);
        assert_eq!(id, "0A00000200002A9F0000000000001234");
        let d = decode_offset_msg_id(&id).unwrap();
        assert_eq!(d.commit_log_offset, 0x1234);
        assert_eq!(d.store_host, "10.0.0.2:10911".parse().unwrap());
        assert!(decode_offset_msg_id("XYZ").is_err());
        assert!(decode_offset_msg_id("0A").is_err());
        let v6 = encode_offset_msg_id("[::1]:1".parse().unwrap(), 5);
        assert_eq!(v6.len(), 56);
        assert_eq!(decode_offset_msg_id(&v6).unwrap().commit_log_offset, 5);
    }

    #[test]
    fn hex_of_any_length() {
        let bytes: Vec<u8> = (0..=70u8).map(|i| i.wrapping_mul(37)).collect();
        let mut out = String::from("x");
        push_hex_upper(&mut out, &bytes);
        let plain: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(out, format!("x{plain}"));
    }

    #[test]
    fn uniq_ids_are_distinct_hex() {
        let g = UniqIdGenerator::new("192.168.1.2".parse().unwrap(), 1234, 77);
        let a = g.next_id();
        let b = g.next_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.starts_with("C0A8010204D20000004D"));
        // 2024-03-15T12:00:00Z → 2024-03-01T00:00:00Z
        assert_eq!(start_of_month_utc(1_710_504_000_000), 1_709_251_200_000);
    }

    proptest! {
        #[test]
        fn offset_id_round_trip(a in any::<[u8; 4]>(), port in any::<u16>(), off in any::<i64>()) {
            let host = SocketAddr::new(IpAddr::V4(a.into()), port);
            let d = decode_offset_msg_id(&encode_offset_msg_id(host, off)).unwrap();
            prop_assert_eq!(d, OffsetMsgId { store_host: host, commit_log_offset: off });
        }

        #[test]
        fn decode_never_panics(s in ".{0,64}") {
            let _ = decode_offset_msg_id(&s);
        }
    }
}
