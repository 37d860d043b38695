//! The HA wire format of spec §7.3 (4.x/5.x `DefaultHAService`, no remoting framing), so a slave
//! of ours can follow a Java master and a Java slave can follow ours.
//!
//! - slave → master: an 8-byte big-endian `i64`, the slave's commit-log max offset;
//! - master → slave: a 12-byte header (`i64` offset where the body starts, `i32` body size),
//!   then that many raw commit-log bytes (0: a heartbeat frame).

/// Size of a slave report.
pub const REPORT_LEN: usize = 8;
/// Size of a master frame header.
pub const HEADER_LEN: usize = 12;
/// Largest body a slave accepts in one frame: Java sends at most `haTransferBatchSize` (32 KiB
/// by default); anything far larger is a corrupt or hostile stream, not a frame to buffer.
pub const MAX_BODY: usize = 64 << 20;

/// Encodes a slave report.
pub fn encode_report(offset: i64) -> [u8; REPORT_LEN] {
    offset.to_be_bytes()
}

/// The last complete report in `buf` (Java: only the last whole 8-byte value counts; the
/// position is rounded down to a multiple of 8). Returns the value and how many bytes it
/// consumed, or `None` when fewer than 8 bytes are buffered.
pub fn last_report(buf: &[u8]) -> Option<(i64, usize)> {
    let whole = buf.len() - buf.len() % REPORT_LEN;
    if whole == 0 {
        return None;
    }
    let mut b = [0u8; REPORT_LEN];
    b.copy_from_slice(&buf[whole - REPORT_LEN..whole]);
    Some((i64::from_be_bytes(b), whole))
}

/// Encodes a master frame header.
pub fn encode_header(offset: i64, body_size: i32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&offset.to_be_bytes());
    h[8..].copy_from_slice(&body_size.to_be_bytes());
    h
}

/// Decodes a master frame header into (offset, body size). A negative offset or a size
/// outside `0..=MAX_BODY` is an error: the connection is then closed.
pub fn decode_header(h: &[u8; HEADER_LEN]) -> Result<(i64, usize), String> {
    let mut o = [0u8; 8];
    o.copy_from_slice(&h[..8]);
    let mut s = [0u8; 4];
    s.copy_from_slice(&h[8..]);
    let offset = i64::from_be_bytes(o);
    let size = i32::from_be_bytes(s);
    if offset < 0 {
        return Err(format!("negative frame offset {offset}"));
    }
    match usize::try_from(size) {
        Ok(n) if n <= MAX_BODY => Ok((offset, n)),
        _ => Err(format!("frame body size {size} out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_java_layout() {
        let h = encode_header(0x0102_0304_0506_0708, 32768);
        assert_eq!(h, [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x80, 0]);
        assert_eq!(decode_header(&h).unwrap(), (0x0102_0304_0506_0708, 32768));
        assert!(decode_header(&encode_header(-1, 0)).is_err());
        assert!(decode_header(&encode_header(0, -5)).is_err());
        assert!(decode_header(&encode_header(0, i32::MAX)).is_err());
    }

    #[test]
    fn only_the_last_whole_report_counts() {
        assert_eq!(last_report(&[0; 7]), None);
        let mut buf = Vec::new();
        buf.extend_from_slice(&encode_report(100));
        buf.extend_from_slice(&encode_report(250));
        buf.extend_from_slice(&[0, 0, 0]);
        assert_eq!(last_report(&buf), Some((250, 16)));
    }
}
