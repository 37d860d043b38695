//! Messages as users see them: [`Message`] to send, [`MessageExt`] received, [`SendResult`].
//!
//! Bodies over the producer's threshold are zlib-compressed before sending (sysFlag bit 0, as
//! Java does for bodies over 4 KiB) and inflated transparently when received.

use std::io::{Read, Write};
use std::net::SocketAddr;

use bytes::Bytes;
use remoting::body::client::MessageQueue;
use remoting::message::{MessageRecord, Properties, keys, sysflag};

use crate::error::{ClientError, Result};

/// The largest body we inflate: a compressed body can never legitimately expand past this
/// (brokers cap stored bodies at 4 MiB compressed; this leaves room for highly compressible data).
pub const MAX_INFLATED_BODY: u64 = 64 * 1024 * 1024;

/// The zlib level Java uses (`rocketmq.message.compressLevel`, default 5).
pub const COMPRESS_LEVEL: u32 = 5;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Destination topic.
    pub topic: String,
    /// Payload.
    pub body: Bytes,
    /// User flag, stored as is.
    pub flag: i32,
    /// Properties: tags, keys, delay level, user properties.
    pub properties: Properties,
}

impl Message {
    /// A message with a body and no properties.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            flag: 0,
            properties: Properties::new(),
        }
    }

    /// Sets the tag (builder style).
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.properties.insert(keys::TAGS, tags.into());
        self
    }

    /// Sets the business keys (builder style); each is indexed for queries by key.
    pub fn with_keys<I, S>(mut self, keys_iter: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = keys_iter
            .into_iter()
            .map(|k| k.as_ref().to_string())
            .filter(|k| !k.is_empty())
            .collect::<Vec<_>>()
            .join(keys::KEY_SEPARATOR);
        if !joined.is_empty() {
            self.properties.insert(keys::KEYS, joined);
        }
        self
    }

    /// Sets one business key (builder style).
    pub fn with_key(self, key: impl AsRef<str>) -> Self {
        self.with_keys([key])
    }

    /// Sets the delay level (1..=18 with the default `messageDelayLevel`), builder style.
    pub fn with_delay_level(mut self, level: i32) -> Self {
        if level > 0 {
            self.properties.insert(keys::DELAY, level.to_string());
        }
        self
    }

    /// Sets a user property (builder style).
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets the user flag (builder style).
    pub fn with_flag(mut self, flag: i32) -> Self {
        self.flag = flag;
        self
    }

    /// Whether the broker should answer only after its flush/replication policy is met
    /// (`WAIT`, default true), builder style.
    pub fn with_wait_store_msg_ok(mut self, wait: bool) -> Self {
        self.properties.insert(keys::WAIT, wait.to_string());
        self
    }

    /// The tag.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(keys::TAGS)
    }

    /// The business keys.
    pub fn keys(&self) -> Vec<&str> {
        split_keys(self.properties.get(keys::KEYS))
    }

    /// The delay level, 0 when none.
    pub fn delay_level(&self) -> i32 {
        self.properties
            .get(keys::DELAY)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0)
    }

    /// A property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key)
    }

    /// The client message id (`UNIQ_KEY`), once the producer has assigned one.
    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.get(keys::UNIQ_KEY)
    }
}

fn split_keys(v: Option<&str>) -> Vec<&str> {
    v.unwrap_or("")
        .split(keys::KEY_SEPARATOR)
        .filter(|k| !k.is_empty())
        .collect()
}

/// A received message with its broker-side metadata (Java `MessageExt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// Topic (for a retried message: its original topic, restored from `RETRY_TOPIC`).
    pub topic: String,
    /// Payload, decompressed.
    pub body: Bytes,
    /// User flag.
    pub flag: i32,
    /// Properties.
    pub properties: Properties,
    /// Broker group the message was read from.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Offset in the consume queue.
    pub queue_offset: i64,
    /// Offset in the commit log.
    pub commit_log_offset: i64,
    /// SYSFLAG as stored.
    pub sys_flag: i32,
    /// Producer timestamp, ms.
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Broker timestamp, ms.
    pub store_timestamp: i64,
    /// Broker address.
    pub store_host: SocketAddr,
    /// Times this message was redelivered.
    pub reconsume_times: i32,
    /// Half-message offset of a committed transactional message.
    pub prepared_transaction_offset: i64,
    /// The id users see: `UNIQ_KEY` when present, else the offset id.
    pub msg_id: String,
    /// The broker's offset message id (store host + commit-log offset).
    pub offset_msg_id: String,
}

impl MessageExt {
    /// Builds a received message from a decoded record, inflating a compressed body.
    pub fn from_record(rec: MessageRecord, broker_name: &str) -> Result<Self> {
        let offset_msg_id = rec.offset_msg_id();
        let msg_id = rec
            .uniq_key()
            .map(str::to_string)
            .unwrap_or_else(|| offset_msg_id.clone());
        let body = if rec.sys_flag & sysflag::COMPRESSED_FLAG != 0 {
            let ty = (rec.sys_flag & sysflag::COMPRESSION_TYPE_MASK) >> 8;
            // 0 is what 4.x writes (zlib implied); 3 is 5.x's explicit ZLIB.
            if ty == 0 || ty == 3 {
                inflate(&rec.body)?
            } else {
                return Err(ClientError::Decompress(format!(
                    "unsupported compression type {ty} (only zlib)"
                )));
            }
        } else {
            rec.body
        };
        Ok(MessageExt {
            topic: rec.topic,
            body,
            flag: rec.flag,
            properties: rec.properties,
            broker_name: broker_name.to_string(),
            queue_id: rec.queue_id,
            queue_offset: rec.queue_offset,
            commit_log_offset: rec.physical_offset,
            sys_flag: rec.sys_flag,
            born_timestamp: rec.born_timestamp,
            born_host: rec.born_host,
            store_timestamp: rec.store_timestamp,
            store_host: rec.store_host,
            reconsume_times: rec.reconsume_times,
            prepared_transaction_offset: rec.prepared_transaction_offset,
            msg_id,
            offset_msg_id,
        })
    }

    /// [`decode_all`](Self::decode_all) of a response body the messages may share: their
    /// bodies are slices of it, not copies.
    pub fn decode_all_shared(body: &Bytes, broker_name: &str) -> Result<Vec<MessageExt>> {
        Self::from_records(remoting::message::decode_all_shared(body)?, broker_name)
    }

    /// Decodes a pull/query/view body (concatenated records).
    pub fn decode_all(body: &[u8], broker_name: &str) -> Result<Vec<MessageExt>> {
        Self::from_records(remoting::message::decode_all(body)?, broker_name)
    }

    /// Sized once: collecting `Result`s grows the list step by step, moving every message.
    fn from_records(records: Vec<MessageRecord>, broker_name: &str) -> Result<Vec<MessageExt>> {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            out.push(MessageExt::from_record(r, broker_name)?);
        }
        Ok(out)
    }

    /// The tag.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(keys::TAGS)
    }

    /// The business keys.
    pub fn keys(&self) -> Vec<&str> {
        split_keys(self.properties.get(keys::KEYS))
    }

    /// A property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key)
    }

    /// The queue this message was read from. For a retried message this is the retry topic's
    /// queue only if the topic has not been restored; use the consumer's context for offsets.
    pub fn message_queue(&self) -> MessageQueue {
        MessageQueue::new(self.topic.clone(), self.broker_name.clone(), self.queue_id)
    }

    /// The body as UTF-8 text, lossily.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// zlib-compresses `body` at [`COMPRESS_LEVEL`].
pub fn deflate(body: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(body.len() / 2),
        flate2::Compression::new(COMPRESS_LEVEL),
    );
    enc.write_all(body)
        .and_then(|_| enc.finish())
        .map_err(|e| ClientError::InvalidMessage(format!("compression failed: {e}")))
}

/// Inflates a zlib body, refusing to expand past [`MAX_INFLATED_BODY`].
pub fn inflate(body: &[u8]) -> Result<Bytes> {
    let mut out = Vec::with_capacity(body.len() * 4);
    flate2::read::ZlibDecoder::new(body)
        .take(MAX_INFLATED_BODY + 1)
        .read_to_end(&mut out)
        .map_err(|e| ClientError::Decompress(e.to_string()))?;
    if out.len() as u64 > MAX_INFLATED_BODY {
        return Err(ClientError::Decompress(format!(
            "inflated body exceeds {MAX_INFLATED_BODY} bytes"
        )));
    }
    Ok(Bytes::from(out))
}

/// Whether a send was stored and how durable it is (Java `SendStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Stored as the broker's policy requires.
    SendOk,
    /// Stored, but the SYNC_FLUSH wait timed out.
    FlushDiskTimeout,
    /// Stored, but the SYNC_MASTER wait for the slave timed out.
    FlushSlaveTimeout,
    /// Stored, but no slave was in sync.
    SlaveNotAvailable,
}

/// The answer to a stored send (Java `SendResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// Durability of the store.
    pub status: SendStatus,
    /// Client message id (`UNIQ_KEY`); for a batch the ids joined by `,`.
    pub msg_id: String,
    /// Broker offset message id(s), as the broker answered.
    pub offset_msg_id: String,
    /// The queue written.
    pub message_queue: MessageQueue,
    /// Consume-queue offset of the (first) message.
    pub queue_offset: i64,
    /// Transaction id, when the broker returned one.
    pub transaction_id: Option<String>,
    /// Broker region (`MSG_REGION`).
    pub region_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_properties() {
        let m = Message::new("T", "body")
            .with_tags("TagA")
            .with_keys(["k1", "", "k2"])
            .with_delay_level(3)
            .with_property("color", "blue");
        assert_eq!(m.tags(), Some("TagA"));
        assert_eq!(m.keys(), vec!["k1", "k2"]);
        assert_eq!(m.delay_level(), 3);
        assert_eq!(m.property("color"), Some("blue"));
        assert_eq!(Message::new("T", "").with_delay_level(0).delay_level(), 0);
    }

    #[test]
    fn compression_round_trip_and_bomb_guard() {
        let body = vec![b'x'; 100_000];
        let z = deflate(&body).unwrap();
        assert!(z.len() < 1_000);
        assert_eq!(&inflate(&z).unwrap()[..], &body[..]);
        assert!(inflate(b"not zlib").is_err());
    }

    #[test]
    fn received_compressed_record_is_inflated() {
        let body = "hello ".repeat(2_000);
        let rec = MessageRecord {
            topic: "T".into(),
            sys_flag: sysflag::COMPRESSED_FLAG,
            body: deflate(body.as_bytes()).unwrap().into(),
            properties: [(keys::UNIQ_KEY, "ABC"), (keys::TAGS, "t")]
                .into_iter()
                .collect(),
            physical_offset: 77,
            ..Default::default()
        };
        let bytes = remoting::message::record::encode(&rec).unwrap();
        let msgs = MessageExt::decode_all(&bytes, "b").unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].body_str(), body);
        assert_eq!(msgs[0].msg_id, "ABC");
        assert_eq!(msgs[0].commit_log_offset, 77);
        assert_eq!(msgs[0].tags(), Some("t"));
        assert_eq!(msgs[0].offset_msg_id.len(), 32);
    }
}
