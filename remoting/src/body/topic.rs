//! Topic configuration bodies (spec §3.11, §3.12, §5.7): [`TopicConfig`], [`DataVersion`],
//! [`TopicConfigSerializeWrapper`] (also the text of the broker's `topics.json`),
//! [`RegisterBrokerBody`] in its JSON and compressed forms, [`TopicList`], and the permission and
//! topic-sys-flag bits.
//!
//! Bodies are read with [`crate::fastjson`] (Java dialect accepted) and written as standard JSON.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use serde::{Deserialize, Serialize};

use crate::error::{RemotingError, Result};
use crate::fastjson;

/// Permission bits of topics and brokers (`PermName`, spec §3.12).
pub mod perm {
    /// Priority bit (unused by 4.x routing).
    pub const PRIORITY: i32 = 0x8;
    /// Consumers may read.
    pub const READ: i32 = 0x4;
    /// Producers may write.
    pub const WRITE: i32 = 0x2;
    /// Auto-created topics inherit this topic's config (set on TBW102).
    pub const INHERIT: i32 = 0x1;
    /// Read and write: the default of every topic.
    pub const READ_WRITE: i32 = READ | WRITE;

    /// True when the read bit is set.
    pub fn is_readable(perm: i32) -> bool {
        perm & READ == READ
    }

    /// True when the write bit is set.
    pub fn is_writeable(perm: i32) -> bool {
        perm & WRITE == WRITE
    }

    /// True when the inherit bit is set.
    pub fn is_inherited(perm: i32) -> bool {
        perm & INHERIT == INHERIT
    }

    /// Java's `perm2String`: `R`, `W`, `X` (inherit) or `-` in three columns, e.g. `RW-`.
    pub fn to_display(perm: i32) -> String {
        let mut s = String::with_capacity(3);
        s.push(if is_readable(perm) { 'R' } else { '-' });
        s.push(if is_writeable(perm) { 'W' } else { '-' });
        s.push(if is_inherited(perm) { 'X' } else { '-' });
        s
    }

    /// True for a value made only of known bits (what `updateTopic -p` accepts).
    pub fn is_valid(perm: i32) -> bool {
        perm & !(PRIORITY | READ | WRITE | INHERIT) == 0
    }
}

/// Topic system flag bits (`TopicSysFlag`, spec §3.12).
pub mod sys_flag {
    /// The topic is a unit topic.
    pub const UNIT: i32 = 0x1;
    /// The topic has unit subscriptions.
    pub const UNIT_SUB: i32 = 0x2;

    /// True when the unit bit is set.
    pub fn has_unit(flag: i32) -> bool {
        flag & UNIT == UNIT
    }

    /// True when the unit-sub bit is set.
    pub fn has_unit_sub(flag: i32) -> bool {
        flag & UNIT_SUB == UNIT_SUB
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Version stamp of a broker's topic (or subscription) table. Two versions are equal when both
/// `timestamp` and `counter` are equal; the name server re-reads a master's topics only when its
/// version changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataVersion {
    /// Milliseconds since the epoch of the last change.
    #[serde(default)]
    pub timestamp: i64,
    /// Number of changes since the table was created (Java `AtomicLong`, written as a number).
    #[serde(default)]
    pub counter: i64,
    /// 5.x only: controller-mode state version; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_version: Option<i64>,
}

impl Default for DataVersion {
    /// A fresh version: now, counter 0 (Java's `new DataVersion()`).
    fn default() -> Self {
        DataVersion {
            timestamp: now_millis(),
            counter: 0,
            state_version: None,
        }
    }
}

impl DataVersion {
    /// Equality as Java defines it: timestamp and counter (the 5.x state version is ignored).
    pub fn same_as(&self, other: &DataVersion) -> bool {
        self.timestamp == other.timestamp && self.counter == other.counter
    }

    /// Marks a change: timestamp = now, counter + 1 (Java `nextVersion()`).
    pub fn next_version(&mut self) {
        self.timestamp = now_millis();
        self.counter = self.counter.wrapping_add(1);
    }

    /// Decodes the JSON body of QUERY_DATA_VERSION.
    pub fn decode(body: &[u8]) -> Result<Self> {
        fastjson::from_slice(body)
    }

    /// Encodes as standard JSON.
    pub fn encode(&self) -> Result<Vec<u8>> {
        fastjson::to_vec(self)
    }
}

/// How tags are filtered (`TopicFilterType`); only informational in 4.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TopicFilterType {
    /// One tag per message (the default).
    #[default]
    #[serde(rename = "SINGLE_TAG")]
    SingleTag,
    /// Several tags per message.
    #[serde(rename = "MULTI_TAG")]
    MultiTag,
}

impl TopicFilterType {
    /// The Java enum name.
    pub fn name(self) -> &'static str {
        match self {
            TopicFilterType::SingleTag => "SINGLE_TAG",
            TopicFilterType::MultiTag => "MULTI_TAG",
        }
    }

    /// Parses the Java enum name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SINGLE_TAG" => Some(TopicFilterType::SingleTag),
            "MULTI_TAG" => Some(TopicFilterType::MultiTag),
            _ => None,
        }
    }
}

/// One topic's configuration on a broker (`TopicConfig`, spec §3.12). Unknown JSON keys are
/// ignored and missing ones take Java's defaults, so 4.x and 5.x files both read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// Topic name.
    pub topic_name: String,
    /// Queues consumers read (default 16).
    pub read_queue_nums: i32,
    /// Queues producers write (default 16).
    pub write_queue_nums: i32,
    /// [`perm`] bits (default 6 = RW).
    pub perm: i32,
    /// Tag filter type (default SINGLE_TAG).
    pub topic_filter_type: TopicFilterType,
    /// [`sys_flag`] bits (default 0).
    pub topic_sys_flag: i32,
    /// Ordered topic (default false).
    pub order: bool,
    /// 5.x attributes (`+key=value` settings); omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            topic_name: String::new(),
            read_queue_nums: 16,
            write_queue_nums: 16,
            perm: perm::READ_WRITE,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }
}

impl TopicConfig {
    /// A topic with Java's defaults (16/16 queues, RW).
    pub fn new(topic_name: impl Into<String>) -> Self {
        TopicConfig {
            topic_name: topic_name.into(),
            ..Default::default()
        }
    }

    /// A topic with the given queue counts and permission.
    pub fn with_queues(topic_name: impl Into<String>, read: i32, write: i32, perm: i32) -> Self {
        TopicConfig {
            topic_name: topic_name.into(),
            read_queue_nums: read,
            write_queue_nums: write,
            perm,
            ..Default::default()
        }
    }

    /// The space-separated text of Java's `TopicConfig.encode()`, used inside the compressed
    /// REGISTER_BROKER body: `name read write perm FILTERTYPE` (plus the attributes JSON as a
    /// sixth field when there are attributes, as 5.x does).
    pub fn encode_text(&self) -> Result<String> {
        let mut s = format!(
            "{} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm,
            self.topic_filter_type.name()
        );
        if !self.attributes.is_empty() {
            s.push(' ');
            let attrs = fastjson::to_vec(&self.attributes)?;
            s.push_str(&String::from_utf8_lossy(&attrs));
        }
        Ok(s)
    }

    /// Parses [`encode_text`](Self::encode_text) output. At least five fields are required; a sixth
    /// (5.x attributes JSON) is read when present, anything after it ignored.
    pub fn decode_text(text: &str) -> Result<Self> {
        let bad = |why: &str| RemotingError::MalformedBody(format!("topic config {text:?}: {why}"));
        // The attributes JSON may itself contain spaces, so split off the first five fields only.
        let mut parts = text.splitn(6, ' ');
        let mut next = |what: &str| parts.next().ok_or_else(|| bad(&format!("no {what}")));
        let topic_name = next("name")?.to_string();
        let read_queue_nums = next("readQueueNums")?
            .parse()
            .map_err(|_| bad("readQueueNums"))?;
        let write_queue_nums = next("writeQueueNums")?
            .parse()
            .map_err(|_| bad("writeQueueNums"))?;
        let perm = next("perm")?.parse().map_err(|_| bad("perm"))?;
        let topic_filter_type = TopicFilterType::from_name(next("topicFilterType")?)
            .ok_or_else(|| bad("filter type"))?;
        let attributes = match parts.next().map(str::trim).filter(|s| !s.is_empty()) {
            Some(json) => fastjson::from_str(json).unwrap_or_default(),
            None => BTreeMap::new(),
        };
        if topic_name.is_empty() {
            return Err(bad("empty name"));
        }
        Ok(TopicConfig {
            topic_name,
            read_queue_nums,
            write_queue_nums,
            perm,
            topic_filter_type,
            attributes,
            ..Default::default()
        })
    }
}

/// A broker's whole topic table with its version: the body of GET_ALL_TOPIC_CONFIG, the text of
/// `topics.json`, and the core of [`RegisterBrokerBody`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    /// Topic name → config.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// Version of the table.
    pub data_version: DataVersion,
}

impl TopicConfigSerializeWrapper {
    /// Decodes the JSON (Java dialect accepted).
    pub fn decode(body: &[u8]) -> Result<Self> {
        fastjson::from_slice(body)
    }

    /// Encodes as standard JSON.
    pub fn encode(&self) -> Result<Vec<u8>> {
        fastjson::to_vec(self)
    }
}

/// The body of REGISTER_BROKER (spec §3.11): the broker's topics plus its filter servers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// The broker's topic table and version.
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    /// Filter server addresses (a removed 4.x feature; normally empty).
    pub filter_server_list: Vec<String>,
}

/// Largest inflated compressed-registration body accepted: a zlib bomb must not exhaust memory.
pub const MAX_INFLATED_REGISTER_BODY: u64 = 64 * 1024 * 1024;

impl RegisterBrokerBody {
    /// Encodes the body: JSON, or the compressed binary form when `compressed` (broker config
    /// `compressedRegister`). Send the result's [`crc32`] as the header's `bodyCrc32`.
    pub fn encode(&self, compressed: bool) -> Result<Vec<u8>> {
        if !compressed {
            return fastjson::to_vec(self);
        }
        let mut raw = Vec::new();
        let wrapper = &self.topic_config_serialize_wrapper;
        put_chunk(&mut raw, &fastjson::to_vec(&wrapper.data_version)?)?;
        put_len(&mut raw, wrapper.topic_config_table.len())?;
        for config in wrapper.topic_config_table.values() {
            put_chunk(&mut raw, config.encode_text()?.as_bytes())?;
        }
        put_chunk(&mut raw, &fastjson::to_vec(&self.filter_server_list)?)?;
        // Java uses Deflater.BEST_COMPRESSION wrapped in a zlib stream.
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder
            .write_all(&raw)
            .and_then(|_| encoder.finish())
            .map_err(|e| RemotingError::Encode(format!("deflate: {e}")))
    }

    /// Decodes a body sent with the given `compressed` header flag.
    pub fn decode(body: &[u8], compressed: bool) -> Result<Self> {
        if !compressed {
            return fastjson::from_slice(body);
        }
        let mut raw = Vec::new();
        ZlibDecoder::new(body)
            .take(MAX_INFLATED_REGISTER_BODY + 1)
            .read_to_end(&mut raw)
            .map_err(|e| RemotingError::MalformedBody(format!("inflate register body: {e}")))?;
        if raw.len() as u64 > MAX_INFLATED_REGISTER_BODY {
            return Err(RemotingError::MalformedBody(
                "inflated register body exceeds 64 MiB".into(),
            ));
        }
        let mut cur = raw.as_slice();
        let data_version: DataVersion = fastjson::from_slice(take_chunk(&mut cur)?)?;
        let count = take_len(&mut cur)?;
        let mut topic_config_table = BTreeMap::new();
        for _ in 0..count {
            let text = std::str::from_utf8(take_chunk(&mut cur)?)
                .map_err(|_| RemotingError::MalformedBody("topic config is not UTF-8".into()))?;
            let config = TopicConfig::decode_text(text)?;
            topic_config_table.insert(config.topic_name.clone(), config);
        }
        // 5.x appends topic queue mapping entries after the filter list; they are ignored.
        let filter_server_list = if cur.is_empty() {
            Vec::new()
        } else {
            fastjson::from_slice(take_chunk(&mut cur)?)?
        };
        Ok(RegisterBrokerBody {
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                topic_config_table,
                data_version,
            },
            filter_server_list,
        })
    }

    /// The `bodyCrc32` of an encoded body: CRC32 masked to 31 bits (spec §4.7).
    pub fn crc32(encoded: &[u8]) -> i32 {
        (crc32fast::hash(encoded) & 0x7FFF_FFFF) as i32
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len = i32::try_from(len).map_err(|_| RemotingError::Encode("length over i32".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    put_len(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

fn take_len(cur: &mut &[u8]) -> Result<usize> {
    let Some((head, rest)) = cur.split_first_chunk::<4>() else {
        return Err(RemotingError::MalformedBody(
            "compressed register body truncated".into(),
        ));
    };
    let len = i32::from_be_bytes(*head);
    *cur = rest;
    usize::try_from(len).map_err(|_| {
        RemotingError::MalformedBody(format!("negative length {len} in register body"))
    })
}

fn take_chunk<'a>(cur: &mut &'a [u8]) -> Result<&'a [u8]> {
    let len = take_len(cur)?;
    if cur.len() < len {
        return Err(RemotingError::MalformedBody(format!(
            "register body chunk of {len} bytes, {} left",
            cur.len()
        )));
    }
    let (chunk, rest) = cur.split_at(len);
    *cur = rest;
    Ok(chunk)
}

/// A list of topic names (`TopicList`): the body of the name server's topic-list requests.
/// Java holds a `Set`, written as an array; this keeps it sorted and unique.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    /// Topic names.
    pub topic_list: std::collections::BTreeSet<String>,
    /// A broker address, set only by GET_SYSTEM_TOPIC_LIST_FROM_NS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
}

impl TopicList {
    /// Decodes the JSON (Java dialect accepted).
    pub fn decode(body: &[u8]) -> Result<Self> {
        fastjson::from_slice(body)
    }

    /// Encodes as standard JSON.
    pub fn encode(&self) -> Result<Vec<u8>> {
        fastjson::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RegisterBrokerBody {
        let mut table = BTreeMap::new();
        table.insert("TopicA".into(), TopicConfig::with_queues("TopicA", 4, 4, 6));
        let mut b = TopicConfig::with_queues("TBW102", 8, 8, 7);
        b.topic_filter_type = TopicFilterType::MultiTag;
        table.insert("TBW102".into(), b);
        RegisterBrokerBody {
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                topic_config_table: table,
                data_version: DataVersion {
                    timestamp: 1_700_000_000_000,
                    counter: 17,
                    state_version: None,
                },
            },
            filter_server_list: vec![],
        }
    }

    #[test]
    fn register_body_round_trips_both_forms() {
        let body = sample();
        for compressed in [false, true] {
            let bytes = body.encode(compressed).unwrap();
            assert_eq!(
                RegisterBrokerBody::decode(&bytes, compressed).unwrap(),
                body
            );
        }
    }

    #[test]
    fn reads_the_spec_example() {
        let json = br#"{"topicConfigSerializeWrapper":{
           "topicConfigTable":{"TopicA":{"topicName":"TopicA","readQueueNums":4,"writeQueueNums":4,
               "perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false}},
           "dataVersion":{"timestamp":1700000000000,"counter":17}},
         "filterServerList":[]}"#;
        let body = RegisterBrokerBody::decode(json, false).unwrap();
        let t = &body.topic_config_serialize_wrapper.topic_config_table["TopicA"];
        assert_eq!((t.read_queue_nums, t.perm), (4, 6));
        assert_eq!(body.topic_config_serialize_wrapper.data_version.counter, 17);
    }

    #[test]
    fn topic_text_accepts_a_sixth_field_and_rejects_short_ones() {
        let t = TopicConfig::decode_text(r#"T 2 3 6 SINGLE_TAG {"+a":"b"}"#).unwrap();
        assert_eq!((t.read_queue_nums, t.write_queue_nums), (2, 3));
        assert_eq!(t.attributes["+a"], "b");
        assert!(TopicConfig::decode_text("T 2 3 6").is_err());
        assert!(TopicConfig::decode_text("T x 3 6 SINGLE_TAG").is_err());
    }

    #[test]
    fn compressed_garbage_is_an_error() {
        assert!(RegisterBrokerBody::decode(b"not zlib", true).is_err());
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&[0, 0, 0, 50, 1]).unwrap();
        let truncated = enc.finish().unwrap();
        assert!(RegisterBrokerBody::decode(&truncated, true).is_err());
    }

    #[test]
    fn perm_helpers() {
        assert_eq!(perm::to_display(6), "RW-");
        assert_eq!(perm::to_display(7), "RWX");
        assert_eq!(perm::to_display(4), "R--");
        assert!(perm::is_valid(7) && !perm::is_valid(0x10));
    }

    #[test]
    fn data_version_equality_ignores_state_version() {
        let a = DataVersion {
            timestamp: 1,
            counter: 2,
            state_version: Some(3),
        };
        let mut b = a.clone();
        b.state_version = None;
        assert!(a.same_as(&b));
        b.next_version();
        assert!(!a.same_as(&b));
    }
}
