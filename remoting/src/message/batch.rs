//! SEND_BATCH_MESSAGE bodies (spec §3.2, Java `MessageDecoder.encodeMessages`).

use bytes::Bytes;

use super::properties::Properties;
use crate::error::{RemotingError, Result};

/// One message of a batch body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// FLAG.
    pub flag: i32,
    /// Body.
    pub body: Bytes,
    /// Properties (each item carries its own UNIQ_KEY, KEYS, TAGS...).
    pub properties: Properties,
}

/// Decodes a batch body: `i32 total, i32 magic, i32 crc, i32 flag, i32 body_len, body,
/// i16 props_len, props` repeated. Magic and CRC are ignored, as in Java.
pub fn decode_batch(buf: &[u8]) -> Result<Vec<BatchItem>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let item = &buf[pos..];
        let total = read_i32(item, 0, "batch item size")?;
        let total = usize::try_from(total)
            .ok()
            .filter(|t| *t >= 4 + 4 + 4 + 4 + 4 + 2 && *t <= item.len())
            .ok_or_else(|| {
                RemotingError::MalformedRecord(format!(
                    "batch item at {pos} declares size {total}, {} bytes left",
                    item.len()
                ))
            })?;
        let item = &item[..total];
        let flag = read_i32(item, 12, "batch item flag")?;
        let body_len = read_i32(item, 16, "batch body length")?;
        let body_len = usize::try_from(body_len).map_err(|_| {
            RemotingError::MalformedRecord(format!("negative batch body length {body_len}"))
        })?;
        let body_end = 20usize
            .checked_add(body_len)
            .filter(|e| e + 2 <= item.len())
            .ok_or_else(|| RemotingError::MalformedRecord("batch body overruns its item".into()))?;
        let body = Bytes::copy_from_slice(&item[20..body_end]);
        let props_len = i16::from_be_bytes([item[body_end], item[body_end + 1]]);
        let props_len = usize::try_from(props_len).map_err(|_| {
            RemotingError::MalformedRecord(format!("negative batch properties length {props_len}"))
        })?;
        if body_end + 2 + props_len != item.len() {
            return Err(RemotingError::MalformedRecord(format!(
                "batch item size {total} does not match its fields"
            )));
        }
        let props = std::str::from_utf8(&item[body_end + 2..])
            .map_err(|_| RemotingError::MalformedRecord("batch properties are not UTF-8".into()))?;
        super::properties::validate_raw(props)?;
        out.push(BatchItem {
            flag,
            body,
            properties: Properties::parse(props),
        });
        pos += total;
    }
    Ok(out)
}

/// Encodes a batch body the way a Java client does (magic and CRC written as 0).
pub fn encode_batch(items: &[BatchItem]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for it in items {
        let props = it.properties.encode()?;
        let total = 20 + it.body.len() + 2 + props.len();
        let total32 = i32::try_from(total)
            .map_err(|_| RemotingError::Encode(format!("batch item of {total} bytes")))?;
        out.extend_from_slice(&total32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&it.flag.to_be_bytes());
        out.extend_from_slice(&(it.body.len() as i32).to_be_bytes());
        out.extend_from_slice(&it.body);
        out.extend_from_slice(&(props.len() as i16).to_be_bytes());
        out.extend_from_slice(props.as_bytes());
    }
    Ok(out)
}

fn read_i32(buf: &[u8], at: usize, what: &str) -> Result<i32> {
    buf.get(at..at + 4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| RemotingError::MalformedRecord(format!("truncated {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec(
            (any::<i32>(), proptest::collection::vec(any::<u8>(), 0..64),
             proptest::collection::btree_map("[a-zA-Z_]{1,6}", "[a-z0-9 ]{1,8}", 0..4)), 0..6)) {
            let items: Vec<BatchItem> = items.into_iter().map(|(flag, body, p)| BatchItem {
                flag, body: body.into(), properties: p.into_iter().collect() }).collect();
            let buf = encode_batch(&items).unwrap();
            prop_assert_eq!(decode_batch(&buf).unwrap(), items);
        }

        #[test]
        fn never_panics(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_batch(&buf);
        }
    }

    #[test]
    fn rejects_truncated() {
        let items = vec![BatchItem {
            flag: 1,
            body: Bytes::from_static(b"abc"),
            properties: [("UNIQ_KEY", "X")].into_iter().collect(),
        }];
        let buf = encode_batch(&items).unwrap();
        for cut in 1..buf.len() {
            assert!(decode_batch(&buf[..cut]).is_err());
        }
        assert!(decode_batch(&[]).unwrap().is_empty());
    }
}
