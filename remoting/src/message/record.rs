//! One commit-log record in the V1 layout of spec §4.1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use super::hash::crc32_masked;
use super::keys;
use super::properties::{MAX_PROPERTIES_LEN, Properties};
use super::sysflag::{BORNHOST_V6_FLAG, STOREHOSTADDRESS_V6_FLAG};
use crate::error::{RemotingError, Result};

/// MAGICCODE of a V1 record (`0xDAA320A7`).
pub const MAGIC_CODE_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// MAGICCODE of a 5.x V2 record (`0xDAA320AB`, i16 topic length); decoded, never written.
pub const MAGIC_CODE_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic of the end-of-file blank marker (spec §4.4).
pub const BLANK_MAGIC_CODE: i32 = 0xCBD4_3194_u32 as i32;
/// Largest topic a V1 record can carry, in bytes.
pub const MAX_TOPIC_LEN: usize = 127;

/// Byte position of TOTALSIZE.
pub const POS_TOTAL_SIZE: usize = 0;
/// Byte position of MAGICCODE.
pub const POS_MAGIC: usize = 4;
/// Byte position of BODYCRC.
pub const POS_BODY_CRC: usize = 8;
/// Byte position of QUEUEID.
pub const POS_QUEUE_ID: usize = 12;
/// Byte position of FLAG.
pub const POS_FLAG: usize = 16;
/// Byte position of QUEUEOFFSET.
pub const POS_QUEUE_OFFSET: usize = 20;
/// Byte position of PHYSICALOFFSET.
pub const POS_PHYSICAL_OFFSET: usize = 28;
/// Byte position of SYSFLAG.
pub const POS_SYS_FLAG: usize = 36;
/// Byte position of BORNTIMESTAMP.
pub const POS_BORN_TIMESTAMP: usize = 40;
/// Byte position of BORNHOST.
pub const POS_BORN_HOST: usize = 48;
/// Smallest possible record (IPv4 hosts, empty body, topic and properties).
pub const MIN_RECORD_LEN: usize = 91;

/// Byte position of STORETIMESTAMP for a record with this SYSFLAG (shifts for an IPv6 born host).
pub fn pos_store_timestamp(sys_flag: i32) -> usize {
    POS_BORN_HOST + host_len(sys_flag & BORNHOST_V6_FLAG != 0)
}

fn host_len(v6: bool) -> usize {
    if v6 { 20 } else { 8 }
}

/// Length of the V1 record for these field sizes (spec §4.1 formula).
pub fn record_len(
    born_v6: bool,
    store_v6: bool,
    body_len: usize,
    topic_len: usize,
    props_len: usize,
) -> usize {
    4 + 4
        + 4
        + 4
        + 4
        + 8
        + 8
        + 4
        + 8
        + host_len(born_v6)
        + 8
        + host_len(store_v6)
        + 4
        + 8
        + 4
        + body_len
        + 1
        + topic_len
        + 2
        + props_len
}

/// A message record, owned. `encode` computes BODYCRC and the IPv6 SYSFLAG bits itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// BODYCRC as stored (filled by decode; ignored by encode, which recomputes it).
    pub body_crc: i32,
    /// QUEUEID.
    pub queue_id: i32,
    /// FLAG (user flag).
    pub flag: i32,
    /// QUEUEOFFSET: logical offset in the consume queue.
    pub queue_offset: i64,
    /// PHYSICALOFFSET: commit-log offset of this record.
    pub physical_offset: i64,
    /// SYSFLAG (spec §4.2).
    pub sys_flag: i32,
    /// BORNTIMESTAMP (producer ms).
    pub born_timestamp: i64,
    /// BORNHOST.
    pub born_host: SocketAddr,
    /// STORETIMESTAMP (broker ms).
    pub store_timestamp: i64,
    /// STOREHOST.
    pub store_host: SocketAddr,
    /// RECONSUMETIMES.
    pub reconsume_times: i32,
    /// PREPARED_TRANSACTION_OFFSET.
    pub prepared_transaction_offset: i64,
    /// BODY (possibly compressed, see SYSFLAG).
    pub body: Bytes,
    /// TOPIC.
    pub topic: String,
    /// PROPERTIES.
    pub properties: Properties,
}

impl Default for MessageRecord {
    fn default() -> Self {
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        MessageRecord {
            body_crc: 0,
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: unspecified,
            store_timestamp: 0,
            store_host: unspecified,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::new(),
            topic: String::new(),
            properties: Properties::new(),
        }
    }
}

impl MessageRecord {
    /// The `TAGS` property.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(keys::TAGS)
    }

    /// The `KEYS` property split on spaces.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.properties
            .get(keys::KEYS)
            .unwrap_or("")
            .split(keys::KEY_SEPARATOR)
            .filter(|k| !k.is_empty())
    }

    /// The `UNIQ_KEY` property (client message id).
    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.get(keys::UNIQ_KEY)
    }

    /// The broker-side offset message id (spec §4.5) of this record.
    pub fn offset_msg_id(&self) -> String {
        super::ids::encode_offset_msg_id(self.store_host, self.physical_offset)
    }

    /// SYSFLAG as it will be written: the IPv6 bits follow the host addresses.
    pub fn effective_sys_flag(&self) -> i32 {
        let mut f = self.sys_flag & !(BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG);
        if self.born_host.is_ipv6() {
            f |= BORNHOST_V6_FLAG;
        }
        if self.store_host.is_ipv6() {
            f |= STOREHOSTADDRESS_V6_FLAG;
        }
        f
    }

    /// The encoded length of this record, or an error if a field does not fit.
    pub fn encoded_len(&self) -> Result<usize> {
        let props = self.properties.encode()?;
        check_lengths(&self.topic, props.len(), self.body.len())?;
        Ok(record_len(
            self.born_host.is_ipv6(),
            self.store_host.is_ipv6(),
            self.body.len(),
            self.topic.len(),
            props.len(),
        ))
    }
}

fn check_lengths(topic: &str, props_len: usize, body_len: usize) -> Result<()> {
    if topic.len() > MAX_TOPIC_LEN {
        return Err(RemotingError::MalformedRecord(format!(
            "topic of {} bytes exceeds {MAX_TOPIC_LEN}",
            topic.len()
        )));
    }
    if props_len > MAX_PROPERTIES_LEN {
        return Err(RemotingError::MalformedRecord(format!(
            "properties of {props_len} bytes exceed {MAX_PROPERTIES_LEN}"
        )));
    }
    if body_len > i32::MAX as usize / 2 {
        return Err(RemotingError::MalformedRecord(format!(
            "body of {body_len} bytes is too large"
        )));
    }
    Ok(())
}

/// Encodes `rec` as one V1 record.
pub fn encode(rec: &MessageRecord) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_into(rec, &mut out)?;
    Ok(out)
}

/// Appends the V1 encoding of `rec` to `out`; on error `out` is left unchanged.
pub fn encode_into(rec: &MessageRecord, out: &mut Vec<u8>) -> Result<()> {
    let props_len = rec.properties.checked_encoded_len()?;
    encode_head(rec, props_len, out)?;
    rec.properties.write_unchecked(out);
    Ok(())
}

/// Appends a V1 record whose properties are given as an already-encoded string (as received
/// from a producer). The string must contain no malformed segment: it is checked to re-parse to
/// itself, so that what is stored decodes exactly as sent.
pub fn encode_with_raw_properties(
    rec: &MessageRecord,
    props: &str,
    out: &mut Vec<u8>,
) -> Result<()> {
    super::properties::validate_raw(props)?;
    encode_head(rec, props.len(), out)?;
    out.extend_from_slice(props.as_bytes());
    Ok(())
}

/// Everything of a record up to and including the properties length; the caller appends the
/// `props_len` bytes of properties.
fn encode_head(rec: &MessageRecord, props_len: usize, out: &mut Vec<u8>) -> Result<()> {
    check_lengths(&rec.topic, props_len, rec.body.len())?;
    let sys_flag = rec.effective_sys_flag();
    let len = record_len(
        rec.born_host.is_ipv6(),
        rec.store_host.is_ipv6(),
        rec.body.len(),
        rec.topic.len(),
        props_len,
    );
    out.reserve(len);
    out.extend_from_slice(&(len as i32).to_be_bytes());
    out.extend_from_slice(&MAGIC_CODE_V1.to_be_bytes());
    out.extend_from_slice(&crc32_masked(&rec.body).to_be_bytes());
    out.extend_from_slice(&rec.queue_id.to_be_bytes());
    out.extend_from_slice(&rec.flag.to_be_bytes());
    out.extend_from_slice(&rec.queue_offset.to_be_bytes());
    out.extend_from_slice(&rec.physical_offset.to_be_bytes());
    out.extend_from_slice(&sys_flag.to_be_bytes());
    out.extend_from_slice(&rec.born_timestamp.to_be_bytes());
    put_host(out, rec.born_host);
    out.extend_from_slice(&rec.store_timestamp.to_be_bytes());
    put_host(out, rec.store_host);
    out.extend_from_slice(&rec.reconsume_times.to_be_bytes());
    out.extend_from_slice(&rec.prepared_transaction_offset.to_be_bytes());
    out.extend_from_slice(&(rec.body.len() as i32).to_be_bytes());
    out.extend_from_slice(&rec.body);
    out.push(rec.topic.len() as u8);
    out.extend_from_slice(rec.topic.as_bytes());
    out.extend_from_slice(&(props_len as i16).to_be_bytes());
    Ok(())
}

fn put_host(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&i32::from(addr.port()).to_be_bytes());
}

/// A record decoded in place: fixed fields by value, variable fields borrowed from the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// TOTALSIZE.
    pub total_size: i32,
    /// MAGICCODE (V1 or V2).
    pub magic: i32,
    /// BODYCRC.
    pub body_crc: i32,
    /// QUEUEID.
    pub queue_id: i32,
    /// FLAG.
    pub flag: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
    /// PHYSICALOFFSET.
    pub physical_offset: i64,
    /// SYSFLAG.
    pub sys_flag: i32,
    /// BORNTIMESTAMP.
    pub born_timestamp: i64,
    /// BORNHOST.
    pub born_host: SocketAddr,
    /// STORETIMESTAMP.
    pub store_timestamp: i64,
    /// STOREHOST.
    pub store_host: SocketAddr,
    /// RECONSUMETIMES.
    pub reconsume_times: i32,
    /// PREPARED_TRANSACTION_OFFSET.
    pub prepared_transaction_offset: i64,
    /// BODY.
    pub body: &'a [u8],
    /// TOPIC.
    pub topic: &'a str,
    /// PROPERTIES, raw.
    pub properties: &'a str,
    /// The whole record's bytes.
    pub raw: &'a [u8],
}

impl RecordView<'_> {
    /// True when BODYCRC matches the body.
    pub fn crc_ok(&self) -> bool {
        crc32_masked(self.body) == self.body_crc
    }

    /// The value of one property, without parsing them all.
    pub fn property(&self, key: &str) -> Option<&str> {
        let [v] = properties_in(self.properties, [key]);
        v
    }

    /// [`property`](Self::property) of several names in one pass over the properties: the
    /// dispatch thread reads TAGS, UNIQ_KEY and KEYS of every record.
    pub fn properties_of<const N: usize>(&self, keys: [&str; N]) -> [Option<&str>; N] {
        properties_in(self.properties, keys)
    }

    /// Converts to an owned record.
    pub fn to_record(&self) -> MessageRecord {
        let mut rec = self.record_without_body();
        rec.body = Bytes::copy_from_slice(self.body);
        rec
    }

    /// `self.body` as a slice of `buf`, the buffer this view was decoded from (a copy when it
    /// was decoded from another).
    fn body_slice_of(&self, buf: &Bytes) -> Bytes {
        let (start, end) = (buf.as_ptr() as usize, buf.as_ptr() as usize + buf.len());
        let at = self.body.as_ptr() as usize;
        if at >= start && at + self.body.len() <= end {
            buf.slice_ref(self.body)
        } else {
            Bytes::copy_from_slice(self.body)
        }
    }

    fn record_without_body(&self) -> MessageRecord {
        MessageRecord {
            body_crc: self.body_crc,
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: Bytes::new(),
            topic: self.topic.to_string(),
            properties: Properties::parse(self.properties),
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(RemotingError::MalformedRecord(format!(
                "truncated at {what} (need {n} bytes at {}, have {})",
                self.pos,
                self.buf.len()
            ))),
        }
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i16(&mut self, what: &str) -> Result<i16> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i64(&mut self, what: &str) -> Result<i64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn host(&mut self, v6: bool, what: &str) -> Result<SocketAddr> {
        let ip = if v6 {
            let b = self.take(16, what)?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            let b = self.take(4, what)?;
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        };
        let port = self.i32(what)?;
        // Java writes the port as an int; anything outside u16 is not a port we can represent.
        let port = u16::try_from(port).map_err(|_| {
            RemotingError::MalformedRecord(format!("{what} port {port} out of range"))
        })?;
        Ok(SocketAddr::new(ip, port))
    }
}

/// Reads TOTALSIZE and MAGICCODE at the start of `buf`, if 8 bytes are there.
pub fn peek_header(buf: &[u8]) -> Option<(i32, i32)> {
    if buf.len() < 8 {
        return None;
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let magic = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Some((size, magic))
}

/// Decodes the record at the start of `buf` in place. Checks TOTALSIZE against the buffer and
/// against the length formula; does not check BODYCRC (see [`RecordView::crc_ok`]).
pub fn decode_view(buf: &[u8]) -> Result<RecordView<'_>> {
    let mut r = Reader { buf, pos: 0 };
    let total_size = r.i32("TOTALSIZE")?;
    if total_size < MIN_RECORD_LEN as i32 || total_size as usize > buf.len() {
        return Err(RemotingError::MalformedRecord(format!(
            "TOTALSIZE {total_size} invalid (buffer holds {} bytes)",
            buf.len()
        )));
    }
    let raw = &buf[..total_size as usize];
    let mut r = Reader { buf: raw, pos: 4 };
    let magic = r.i32("MAGICCODE")?;
    if magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2 {
        return Err(RemotingError::MalformedRecord(format!(
            "bad magic code {magic:#x}"
        )));
    }
    let body_crc = r.i32("BODYCRC")?;
    let queue_id = r.i32("QUEUEID")?;
    let flag = r.i32("FLAG")?;
    let queue_offset = r.i64("QUEUEOFFSET")?;
    let physical_offset = r.i64("PHYSICALOFFSET")?;
    let sys_flag = r.i32("SYSFLAG")?;
    let born_timestamp = r.i64("BORNTIMESTAMP")?;
    let born_host = r.host(sys_flag & BORNHOST_V6_FLAG != 0, "BORNHOST")?;
    let store_timestamp = r.i64("STORETIMESTAMP")?;
    let store_host = r.host(sys_flag & STOREHOSTADDRESS_V6_FLAG != 0, "STOREHOST")?;
    let reconsume_times = r.i32("RECONSUMETIMES")?;
    let prepared_transaction_offset = r.i64("PREPARED_TRANSACTION_OFFSET")?;
    let body_len = r.i32("BODY length")?;
    let body_len = usize::try_from(body_len)
        .map_err(|_| RemotingError::MalformedRecord(format!("negative body length {body_len}")))?;
    let body = r.take(body_len, "BODY")?;
    let topic_len = if magic == MAGIC_CODE_V1 {
        usize::from(r.take(1, "TOPIC length")?[0])
    } else {
        let l = r.i16("TOPIC length")?;
        usize::try_from(l)
            .map_err(|_| RemotingError::MalformedRecord(format!("negative topic length {l}")))?
    };
    let topic = r.take(topic_len, "TOPIC")?;
    let topic = std::str::from_utf8(topic)
        .map_err(|_| RemotingError::MalformedRecord("topic is not UTF-8".into()))?;
    let props_len = r.i16("PROPERTIES length")?;
    let props_len = usize::try_from(props_len).map_err(|_| {
        RemotingError::MalformedRecord(format!("negative properties length {props_len}"))
    })?;
    let properties = r.take(props_len, "PROPERTIES")?;
    let properties = std::str::from_utf8(properties)
        .map_err(|_| RemotingError::MalformedRecord("properties are not UTF-8".into()))?;
    if r.pos != raw.len() {
        return Err(RemotingError::MalformedRecord(format!(
            "TOTALSIZE {total_size} does not match the field lengths ({})",
            r.pos
        )));
    }
    Ok(RecordView {
        total_size,
        magic,
        body_crc,
        queue_id,
        flag,
        queue_offset,
        physical_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic,
        properties,
        raw,
    })
}

/// Decodes the record at the start of `buf` into an owned value.
pub fn decode(buf: &[u8]) -> Result<MessageRecord> {
    decode_view(buf).map(|v| v.to_record())
}

/// Decodes a concatenation of records (a pull, query or view response body).
pub fn decode_all(mut buf: &[u8]) -> Result<Vec<MessageRecord>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let v = decode_view(buf)?;
        out.push(v.to_record());
        buf = &buf[v.raw.len()..];
    }
    Ok(out)
}

/// How many records `buf` holds by their TOTALSIZE fields, counting up to the first that does
/// not fit (the decode reports that one): sizes the decoded list once instead of growing it.
fn count_records(mut buf: &[u8]) -> usize {
    let mut n = 0;
    while let Some((size, _)) = peek_header(buf) {
        match usize::try_from(size) {
            Ok(size) if size >= MIN_RECORD_LEN && size <= buf.len() => {
                n += 1;
                buf = &buf[size..];
            }
            _ => break,
        }
    }
    n
}

/// [`decode_all`] of a shared buffer: each record's body is a slice of `buf` instead of a copy
/// (a consumer's pull body holds many records; copying every body cost a tenth of a consuming
/// client's CPU).
pub fn decode_all_shared(buf: &Bytes) -> Result<Vec<MessageRecord>> {
    let mut out = Vec::with_capacity(count_records(buf));
    let mut rest: &[u8] = buf;
    while !rest.is_empty() {
        let v = decode_view(rest)?;
        let mut rec = v.record_without_body();
        rec.body = v.body_slice_of(buf);
        out.push(rec);
        rest = &rest[v.raw.len()..];
    }
    Ok(out)
}

/// The first value of each of `keys` in an encoded properties string, in one pass (Java skips
/// segments of fewer than 3 characters and empty values).
fn properties_in<'a, const N: usize>(properties: &'a str, keys: [&str; N]) -> [Option<&'a str>; N] {
    let mut out = [None; N];
    // The one-pass segment scan of the properties parser: `split` and `split_once` on a
    // separator `char` compared each candidate through a call to `memcmp`, for every record
    // the dispatch thread reads (BENCHMARKS.md, session 24).
    for (seg, sep) in super::properties::segments(properties) {
        let Some((k, v)) = sep.and_then(|at| Some((seg.get(..at)?, seg.get(at + 1..)?))) else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        for (slot, key) in out.iter_mut().zip(keys) {
            // The first value wins; short segments count up to their third character only.
            if slot.is_none() && k == key && seg.chars().nth(2).is_some() {
                *slot = Some(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counting_records_stops_at_the_first_that_does_not_fit() {
        let one = encode(&sample()).unwrap();
        let mut buf = [one.clone(), one.clone(), one.clone()].concat();
        assert_eq!(count_records(&buf), 3);
        buf.truncate(buf.len() - 1);
        assert_eq!(count_records(&buf), 2);
        assert!(decode_all_shared(&Bytes::from(buf)).is_err());
        assert_eq!(count_records(&[0, 0, 0, 5, 1, 2, 3, 4]), 0);
    }

    fn sample() -> MessageRecord {
        MessageRecord {
            queue_id: 3,
            flag: 7,
            queue_offset: 42,
            physical_offset: 1_000,
            born_timestamp: 1_700_000_000_000,
            born_host: "10.0.0.1:5555".parse().unwrap(),
            store_timestamp: 1_700_000_000_100,
            store_host: "10.0.0.2:10911".parse().unwrap(),
            body: Bytes::from_static(b"hello"),
            topic: "TopicTest".into(),
            properties: [("TAGS", "TagA"), ("KEYS", "k1 k2")].into_iter().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn layout_is_v1() {
        let rec = sample();
        let bytes = encode(&rec).unwrap();
        let props = rec.properties.encode().unwrap();
        assert_eq!(bytes.len(), 91 + 5 + 9 + props.len());
        assert_eq!(&bytes[4..8], &[0xDA, 0xA3, 0x20, 0xA7]);
        assert_eq!(
            i32::from_be_bytes(bytes[8..12].try_into().unwrap()),
            crc32_masked(b"hello")
        );
        assert_eq!(&bytes[48..52], &[10, 0, 0, 1]);
        assert_eq!(
            i64::from_be_bytes(bytes[56..64].try_into().unwrap()),
            1_700_000_000_100
        );
        assert_eq!(pos_store_timestamp(0), 56);
        assert_eq!(i32::from_be_bytes(bytes[84..88].try_into().unwrap()), 5);
        assert_eq!(bytes[93], 9);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.body_crc, crc32_masked(b"hello"));
        assert_eq!(
            back,
            MessageRecord {
                body_crc: back.body_crc,
                ..rec
            }
        );
        assert_eq!(back.tags(), Some("TagA"));
        assert_eq!(back.keys().collect::<Vec<_>>(), vec!["k1", "k2"]);
        let v = decode_view(&bytes).unwrap();
        assert!(v.crc_ok());
        assert_eq!(v.property("KEYS"), Some("k1 k2"));
        assert_eq!(v.property("NOPE"), None);
    }

    #[test]
    fn ipv6_hosts_shift_fields() {
        let mut rec = sample();
        rec.born_host = "[::1]:1".parse().unwrap();
        rec.store_host = "[fe80::2]:10911".parse().unwrap();
        let bytes = encode(&rec).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(back.sys_flag, BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG);
        assert_eq!(back.store_host, rec.store_host);
        assert_eq!(pos_store_timestamp(back.sys_flag), 68);
    }

    #[test]
    fn rejects_bad_input() {
        let bytes = encode(&sample()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        bad[5] ^= 1;
        assert!(decode(&bad).is_err());
        let mut bad = bytes.clone();
        // Body length one larger than the record allows.
        bad[87] += 1;
        assert!(decode(&bad).is_err());
        let mut long = sample();
        long.topic = "t".repeat(128);
        assert!(encode(&long).is_err());
        let mut flipped = bytes.clone();
        flipped[88] ^= 0x55;
        assert!(!decode_view(&flipped).unwrap().crc_ok());
    }

    #[test]
    fn decode_all_reads_concatenation() {
        let mut buf = Vec::new();
        encode_into(&sample(), &mut buf).unwrap();
        let mut r2 = sample();
        r2.queue_offset = 43;
        encode_into(&r2, &mut buf).unwrap();
        let all = decode_all(&buf).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].queue_offset, 43);
        // The shared decode gives the same records, their bodies pointing into the buffer.
        let shared = Bytes::from(buf);
        let same = decode_all_shared(&shared).unwrap();
        assert_eq!(same, all);
        let range = shared.as_ptr() as usize..shared.as_ptr() as usize + shared.len();
        assert!(
            same.iter()
                .all(|r| range.contains(&(r.body.as_ptr() as usize)))
        );
        assert!(decode_all_shared(&shared.slice(..shared.len() - 1)).is_err());
    }

    fn arb_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(a, p)| SocketAddr::new(IpAddr::V4(a.into()), p)),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(a, p)| SocketAddr::new(IpAddr::V6(a.into()), p)),
        ]
    }

    prop_compose! {
        fn arb_record()(
            queue_id in any::<i32>(), flag in any::<i32>(), queue_offset in any::<i64>(),
            physical_offset in any::<i64>(), sys_flag in any::<i32>(), born_timestamp in any::<i64>(),
            born_host in arb_addr(), store_timestamp in any::<i64>(), store_host in arb_addr(),
            reconsume_times in any::<i32>(), prepared in any::<i64>(),
            body in proptest::collection::vec(any::<u8>(), 0..300),
            topic in "[a-zA-Z0-9_%-]{0,127}",
            props in proptest::collection::btree_map("[^\u{1}\u{2}]{1,6}", "[^\u{1}\u{2}]{1,10}", 0..5),
        ) -> MessageRecord {
            let mut r = MessageRecord {
                body_crc: crc32_masked(&body), queue_id, flag, queue_offset, physical_offset,
                sys_flag, born_timestamp, born_host, store_timestamp, store_host, reconsume_times,
                prepared_transaction_offset: prepared, body: body.into(), topic,
                properties: props.into_iter().collect(),
            };
            r.sys_flag = r.effective_sys_flag();
            r
        }
    }

    proptest! {
        #[test]
        fn round_trip(rec in arb_record()) {
            let bytes = encode(&rec).unwrap();
            prop_assert_eq!(bytes.len(), rec.encoded_len().unwrap());
            let back = decode(&bytes).unwrap();
            prop_assert_eq!(&back, &rec);
            prop_assert_eq!(&encode(&back).unwrap(), &bytes);
            let view = decode_view(&bytes).unwrap();
            for (k, v) in rec.properties.iter() {
                prop_assert_eq!(view.property(k), Some(v));
                prop_assert_eq!(view.properties_of([k, "absent", k]), [Some(v), None, Some(v)]);
            }
        }

        /// The one-pass reading finds what splitting each segment at its separator finds.
        #[test]
        fn properties_in_is_the_split_reading(
            segs in proptest::collection::vec(("[ab\u{e9}]{0,3}", "[\u{1}x]{0,2}"), 0..8),
        ) {
            let s = segs.iter().map(|(k, v)| format!("{k}{v}")).collect::<Vec<_>>().join("\u{2}");
            for key in ["a", "ab", "b\u{e9}", "", "x"] {
                let split = s
                    .split('\u{2}')
                    .filter(|seg| seg.chars().nth(2).is_some())
                    .find_map(|seg| {
                        let (k, v) = seg.split_once('\u{1}')?;
                        (k == key && !v.is_empty()).then_some(v)
                    });
                prop_assert_eq!(properties_in(&s, [key])[0], split, "{:?} in {:?}", key, s);
                prop_assert_eq!(properties_in(&s, [key, "ab"]), [split, properties_in(&s, ["ab"])[0]]);
            }
        }

        #[test]
        fn decode_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&buf);
            let _ = decode_all(&buf);
        }

        #[test]
        fn decode_mutated_never_panics(rec in arb_record(), pos in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = encode(&rec).unwrap();
            let i = pos % bytes.len();
            bytes[i] = byte;
            let _ = decode(&bytes);
        }
    }
}
