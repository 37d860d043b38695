//! Bytes ⇄ [`RemotingCommand`] (spec §1.1, §1.3, §1.4).
//!
//! Decoding is two-phase, as in mini-redis: [`check`] says whether a whole frame is buffered
//! (an incomplete frame is a normal state, not an error), then [`decode_frame`] parses exactly that
//! frame. Any error here is fatal for the connection that produced the bytes and nothing else.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_util::codec::{Decoder, Encoder};

use crate::command::{LanguageCode, RemotingCommand, SerializeType};
use crate::error::{RemotingError, Result};
use crate::ext::{ExtFields, FieldKey, FieldValue, intern};

/// Java's default maximum frame (`com.rocketmq.remoting.frameMaxLength`), counting the 4-byte
/// length prefix.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Largest header the 24-bit length can describe.
const MAX_HEADER_LEN: usize = 0x00FF_FFFF;

/// Most bytes reserved ahead of an incomplete frame (see [`RemotingCodec`]'s decoder).
const MAX_PREALLOC: usize = 64 * 1024;

/// Size of the fixed part of a binary header.
const BINARY_FIXED_LEN: usize = 21;

/// Default most header fields (plus nested JSON values inside them) one frame may carry. Real
/// headers carry a few dozen; each decoded field costs about 150 bytes, so a 15 MiB header of
/// tiny fields would otherwise cost over 200 MiB of memory.
pub const DEFAULT_MAX_HEADER_FIELDS: usize = 1024;

/// Bytes of read buffer a connection holds without drawing on the shared [`FrameBudget`]: every
/// ordinary request fits, so only large or incomplete frames are charged.
pub const FRAME_BUDGET_ALLOWANCE: usize = 64 * 1024;

/// A byte budget shared by every connection of a server: the read-buffer bytes of frames not
/// yet complete (above [`FRAME_BUDGET_ALLOWANCE`] per connection). Without it, peers that send
/// the first bytes of many large frames and stop make the server hold up to `max_frame` per
/// connection; with it, a connection that needs more than is left is closed instead.
#[derive(Debug)]
pub struct FrameBudget {
    limit: usize,
    used: AtomicUsize,
}

impl FrameBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<FrameBudget> {
        Arc::new(FrameBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn try_charge(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

thread_local! {
    /// Header fields (and nested values) the JSON header being decoded on this thread may still
    /// hold. serde's `deserialize_with` functions take no context, and a header is decoded
    /// synchronously on one thread, so the limit travels here.
    static FIELDS_LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Takes one field from the JSON header's allowance; false when it is used up.
fn take_field() -> bool {
    FIELDS_LEFT.with(|c| match c.get() {
        0 => false,
        n => {
            c.set(n - 1);
            true
        }
    })
}

/// Phase one: is a whole frame at the start of `buf`? Returns its length including the 4-byte
/// prefix, `None` when more bytes are needed, or an error for a length no valid frame can have.
pub fn check(buf: &[u8], max_frame: usize) -> Result<Option<usize>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let total = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    // A frame holds at least the 4-byte header-length word.
    if total < 4 {
        return Err(RemotingError::MalformedFrame(format!(
            "frame length {total} is smaller than the header-length word"
        )));
    }
    let frame_len = total as usize + 4;
    if frame_len > max_frame {
        return Err(RemotingError::FrameTooLarge {
            len: frame_len as i64,
            max: max_frame,
        });
    }
    Ok((buf.len() >= frame_len).then_some(frame_len))
}

/// Phase two: parses one frame. `frame` is everything after the 4-byte total-length prefix.
/// At most [`DEFAULT_MAX_HEADER_FIELDS`] header fields.
pub fn decode_frame(frame: Bytes) -> Result<RemotingCommand> {
    decode_frame_limited(frame, DEFAULT_MAX_HEADER_FIELDS)
}

/// [`decode_frame`] with a limit on header fields (nested JSON values count too): a frame with
/// more is malformed, refused before the fields cost memory.
pub fn decode_frame_limited(mut frame: Bytes, max_fields: usize) -> Result<RemotingCommand> {
    if frame.len() < 4 {
        return Err(RemotingError::MalformedFrame(
            "frame shorter than 4 bytes".into(),
        ));
    }
    let meta = frame.get_u32();
    let serialize_code = (meta >> 24) as u8;
    let header_len = (meta & 0x00FF_FFFF) as usize;
    if header_len > frame.len() {
        return Err(RemotingError::MalformedFrame(format!(
            "header length {header_len} exceeds the {} bytes left in the frame",
            frame.len()
        )));
    }
    let serialize_type = SerializeType::from_code(serialize_code).ok_or_else(|| {
        RemotingError::MalformedFrame(format!("unknown serialize type {serialize_code}"))
    })?;
    let header = frame.split_to(header_len);
    let mut cmd = match serialize_type {
        SerializeType::Json => decode_json_header(&header, max_fields)?,
        SerializeType::RocketMq => decode_binary_header(&header, max_fields)?,
    };
    cmd.serialize_type = serialize_type;
    cmd.body = frame;
    Ok(cmd)
}

/// Encodes `cmd` as a whole frame (length prefix included), in `cmd.serialize_type`.
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    let start = dst.len();
    dst.reserve(8 + 128 + cmd.body.len());
    dst.put_u32(0); // total length, patched below
    dst.put_u32(0); // header meta, patched below
    let header_start = dst.len();
    match cmd.serialize_type {
        SerializeType::Json => encode_json_header(cmd, dst),
        SerializeType::RocketMq => {
            if let Err(e) = encode_binary_header(cmd, dst) {
                // Leave `dst` as it was: a half-written frame would corrupt the stream.
                dst.truncate(start);
                return Err(e);
            }
        }
    }
    let header_len = dst.len() - header_start;
    if header_len > MAX_HEADER_LEN {
        dst.truncate(start);
        return Err(RemotingError::Encode(format!(
            "header of {header_len} bytes exceeds the 24-bit limit"
        )));
    }
    dst.put_slice(&cmd.body);
    let total = dst.len() - start - 4;
    let Ok(total) = u32::try_from(total) else {
        dst.truncate(start);
        return Err(RemotingError::Encode(format!("frame of {total} bytes")));
    };
    dst[start..start + 4].copy_from_slice(&total.to_be_bytes());
    let meta = (u32::from(cmd.serialize_type.code()) << 24) | header_len as u32;
    dst[start + 4..start + 8].copy_from_slice(&meta.to_be_bytes());
    Ok(())
}

/// Encodes into a fresh buffer.
pub fn encode_to_bytes(cmd: &RemotingCommand) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    encode(cmd, &mut buf)?;
    Ok(buf.freeze())
}

// ---- JSON header -------------------------------------------------------------------------------

/// The JSON header as sent by Java (fastjson), Go, C++ and JavaScript clients. Every field is
/// optional and every scalar lenient: see the module docs of [`crate::ext`].
#[derive(Deserialize)]
struct JsonHeader {
    #[serde(default, deserialize_with = "lenient_i32")]
    code: i32,
    #[serde(default, deserialize_with = "lenient_language")]
    language: LanguageCode,
    #[serde(default, deserialize_with = "lenient_i32")]
    version: i32,
    #[serde(default, deserialize_with = "lenient_i32")]
    opaque: i32,
    #[serde(default, deserialize_with = "lenient_i32")]
    flag: i32,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    remark: Option<String>,
    #[serde(default, rename = "extFields", deserialize_with = "lenient_ext")]
    ext_fields: ExtFields,
}

fn decode_json_header(bytes: &[u8], max_fields: usize) -> Result<RemotingCommand> {
    // serde would also read a struct from an array (`[10,"JAVA",...]`); a header is an object.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(RemotingError::MalformedFrame(
            "JSON header is not an object".into(),
        ));
    }
    // The flat headers real clients send, in one pass; anything else goes through serde.
    if let Some(cmd) = crate::json_scan::decode(bytes, max_fields) {
        return Ok(cmd);
    }
    decode_json_header_serde(bytes, max_fields)
}

/// The JSON header through serde: every form JSON allows (escapes, nested values, floats).
pub(crate) fn decode_json_header_serde(bytes: &[u8], max_fields: usize) -> Result<RemotingCommand> {
    let previous = FIELDS_LEFT.with(|c| c.replace(max_fields));
    let parsed = serde_json::from_slice::<JsonHeader>(bytes);
    FIELDS_LEFT.with(|c| c.set(previous));
    let h =
        parsed.map_err(|e| RemotingError::MalformedFrame(format!("invalid JSON header: {e}")))?;
    Ok(RemotingCommand {
        code: h.code,
        language: h.language,
        version: h.version,
        opaque: h.opaque,
        flag: h.flag,
        remark: h.remark,
        ext_fields: h.ext_fields,
        ..Default::default()
    })
}

fn encode_json_header(cmd: &RemotingCommand, dst: &mut BytesMut) {
    // Written straight into the frame buffer: no intermediate string, no allocation per field.
    dst.reserve(96 + cmd.ext_fields.len() * 24 + cmd.remark.as_ref().map_or(0, String::len));
    dst.put_slice(b"{\"code\":");
    put_int(dst, i64::from(cmd.code));
    dst.put_slice(b",\"extFields\":{");
    for (i, (k, v)) in cmd.ext_fields.iter().enumerate() {
        if i > 0 {
            dst.put_u8(b',');
        }
        put_json_string(dst, k);
        dst.put_u8(b':');
        put_json_string(dst, v);
    }
    dst.put_slice(b"},\"flag\":");
    put_int(dst, i64::from(cmd.flag));
    dst.put_slice(b",\"language\":\"");
    dst.put_slice(cmd.language.name().as_bytes());
    dst.put_slice(b"\",\"opaque\":");
    put_int(dst, i64::from(cmd.opaque));
    if let Some(remark) = &cmd.remark {
        dst.put_slice(b",\"remark\":");
        put_json_string(dst, remark);
    }
    dst.put_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    put_int(dst, i64::from(cmd.version));
    dst.put_u8(b'}');
}

/// Writes an integer in decimal without going through `fmt`.
fn put_int(dst: &mut BytesMut, v: i64) {
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        dst.put_u8(b'-');
    }
    dst.put_slice(&digits[at..]);
}

/// Writes `s` as a JSON string, escaped as serde_json escapes (quote, backslash and control
/// characters; everything else, non-ASCII included, as it is).
fn put_json_string(dst: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    dst.reserve(s.len() + 2);
    dst.put_u8(b'"');
    let mut rest = s.as_bytes();
    // Runs without a byte to escape are copied whole, found eight bytes at a time: header
    // values and names rarely hold one (a properties string holds its separators).
    while let Some(i) = crate::json_scan::special(rest) {
        dst.put_slice(&rest[..i]);
        let b = rest[i];
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            _ => b"",
        };
        if escape.is_empty() {
            dst.put_slice(b"\\u00");
            dst.put_u8(HEX[usize::from(b >> 4)]);
            dst.put_u8(HEX[usize::from(b & 0xf)]);
        } else {
            dst.put_slice(escape);
        }
        rest = &rest[i + 1..];
    }
    dst.put_slice(rest);
    dst.put_u8(b'"');
}

/// A JSON scalar turned into text: strings as they are, numbers and booleans as written.
struct Lenient(Option<String>);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Lenient;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Lenient, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Lenient, E> {
                Ok(Lenient(Some(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Lenient, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Lenient, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Lenient, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Lenient, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_none<E: de::Error>(self) -> std::result::Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Lenient, A::Error> {
                // A nested object where a scalar belongs: keep its JSON text.
                let v = CountedValue::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Lenient(Some(v.0.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<Lenient, A::Error> {
                let v = CountedValue::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Lenient(Some(v.0.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON value whose every element is taken from the header's field allowance: a nested
/// array of millions of tiny elements costs as much memory as as many fields.
struct CountedValue(serde_json::Value);

impl<'de> Deserialize<'de> for CountedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        fn too_many<E: de::Error>() -> E {
            E::custom("too many header fields")
        }
        impl<'de> de::Visitor<'de> for V {
            type Value = CountedValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<CountedValue, E> {
                Ok(CountedValue(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<CountedValue, E> {
                Ok(CountedValue(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<CountedValue, E> {
                Ok(CountedValue(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<CountedValue, E> {
                Ok(CountedValue(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<CountedValue, E> {
                Ok(CountedValue(v.into()))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<CountedValue, E> {
                Ok(CountedValue(serde_json::Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> std::result::Result<CountedValue, E> {
                Ok(CountedValue(serde_json::Value::Null))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<CountedValue, A::Error> {
                let mut out = Vec::new();
                while let Some(CountedValue(v)) = seq.next_element()? {
                    if !take_field() {
                        return Err(too_many());
                    }
                    out.push(v);
                }
                Ok(CountedValue(serde_json::Value::Array(out)))
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<CountedValue, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some((k, CountedValue(v))) = map.next_entry::<String, CountedValue>()? {
                    if !take_field() {
                        return Err(too_many());
                    }
                    out.insert(k, v);
                }
                Ok(CountedValue(serde_json::Value::Object(out)))
            }
        }
        d.deserialize_any(V)
    }
}

fn lenient_i32<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i32, D::Error> {
    let Lenient(v) = Lenient::deserialize(d)?;
    match v {
        None => Ok(0),
        Some(s) => <i32 as crate::ext::HeaderScalar>::parse_field(&s)
            .ok_or_else(|| de::Error::custom(format!("not an integer: {s:?}"))),
    }
}

fn lenient_language<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<LanguageCode, D::Error> {
    let Lenient(v) = Lenient::deserialize(d)?;
    Ok(match v {
        None => LanguageCode::Other,
        Some(s) => match s.parse::<u8>() {
            Ok(n) => LanguageCode::from_code(n),
            Err(_) => LanguageCode::from_name(&s),
        },
    })
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(Lenient::deserialize(d)?.0)
}

/// A header field name from JSON: one of the common names as a static string (no allocation),
/// anything else copied.
struct FieldName(FieldKey);

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<FieldName, E> {
                Ok(FieldName(match intern(v) {
                    Some(k) => Cow::Borrowed(k),
                    None => Cow::Owned(v.to_owned()),
                }))
            }
        }
        d.deserialize_str(V)
    }
}

fn lenient_ext<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<ExtFields, D::Error> {
    // Straight into the final map (one pass, no intermediate map); null values are dropped and
    // a null or absent `extFields` is an empty map.
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = ExtFields;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of header fields")
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<ExtFields, E> {
            Ok(ExtFields::new())
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<ExtFields, E> {
            Ok(ExtFields::new())
        }
        fn visit_some<D2: Deserializer<'de>>(
            self,
            d: D2,
        ) -> std::result::Result<ExtFields, D2::Error> {
            d.deserialize_map(V)
        }
        fn visit_map<A: de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<ExtFields, A::Error> {
            let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16).min(64));
            while let Some(FieldName(k)) = map.next_key::<FieldName>()? {
                let v = map.next_value::<Lenient>()?;
                if !take_field() {
                    return Err(de::Error::custom("too many header fields"));
                }
                if let Some(v) = v.0 {
                    fields.push((k, FieldValue::from(v)));
                }
            }
            Ok(ExtFields::from_unsorted(fields))
        }
    }
    d.deserialize_option(V)
}

// ---- binary header -----------------------------------------------------------------------------

// Works on a plain slice (a cursor that `Buf` advances): no reference-count traffic per field.
fn decode_binary_header(mut h: &[u8], max_fields: usize) -> Result<RemotingCommand> {
    let total = h.len();
    if total < BINARY_FIXED_LEN {
        return Err(RemotingError::MalformedFrame(format!(
            "binary header of {total} bytes is shorter than its fixed part"
        )));
    }
    let code = i32::from(h.get_i16());
    let language = LanguageCode::from_code(h.get_u8());
    let version = i32::from(h.get_i16());
    let opaque = h.get_i32();
    let flag = h.get_i32();
    let remark = read_i32_string(&mut h, total, "remark")?;
    if h.remaining() < 4 {
        return Err(RemotingError::MalformedFrame(
            "binary header lacks ext length".into(),
        ));
    }
    let ext_len = h.get_i32();
    if ext_len < 0 || ext_len as usize > h.remaining() {
        return Err(RemotingError::MalformedFrame(format!(
            "ext length {ext_len} exceeds the {} header bytes left",
            h.remaining()
        )));
    }
    let mut ext = take(&mut h, ext_len as usize);
    let mut fields: Vec<(FieldKey, FieldValue)> = Vec::with_capacity(16);
    while ext.has_remaining() {
        if ext.remaining() < 2 {
            return Err(RemotingError::MalformedFrame(
                "truncated ext key length".into(),
            ));
        }
        let klen = ext.get_i16();
        if klen < 0 || klen as usize > ext.remaining() {
            return Err(RemotingError::MalformedFrame(format!(
                "bad ext key length {klen}"
            )));
        }
        let key = take(&mut ext, klen as usize);
        let key = match std::str::from_utf8(key).ok().and_then(intern) {
            Some(k) => Cow::Borrowed(k),
            None => Cow::Owned(utf8(key, "ext key")?),
        };
        let value = read_i32_string(&mut ext, total, "ext value")?.unwrap_or_default();
        fields.push((key, FieldValue::from(value)));
        if fields.len() > max_fields {
            return Err(RemotingError::MalformedFrame(format!(
                "more than {max_fields} header fields"
            )));
        }
    }
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields: ExtFields::from_unsorted(fields),
        ..Default::default()
    })
}

/// The next `n` bytes of `buf` (the caller has checked that there are that many).
fn take<'a>(buf: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = buf.split_at(n.min(buf.len()));
    *buf = tail;
    head
}

fn read_i32_string(buf: &mut &[u8], header_len: usize, what: &str) -> Result<Option<String>> {
    if buf.remaining() < 4 {
        return Err(RemotingError::MalformedFrame(format!(
            "truncated {what} length"
        )));
    }
    let len = buf.get_i32();
    if len < 0 || len as usize > header_len || len as usize > buf.remaining() {
        return Err(RemotingError::MalformedFrame(format!(
            "bad {what} length {len}"
        )));
    }
    if len == 0 {
        return Ok(None);
    }
    utf8(take(buf, len as usize), what).map(Some)
}

fn utf8(b: &[u8], what: &str) -> Result<String> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| RemotingError::MalformedFrame(format!("{what} is not UTF-8")))
}

fn encode_binary_header(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    let code = i16::try_from(cmd.code).map_err(|_| {
        RemotingError::Encode(format!("code {} does not fit a binary header", cmd.code))
    })?;
    let version = i16::try_from(cmd.version).unwrap_or(i16::MAX);
    dst.put_i16(code);
    dst.put_u8(cmd.language.code());
    dst.put_i16(version);
    dst.put_i32(cmd.opaque);
    dst.put_i32(cmd.flag);
    match &cmd.remark {
        Some(r) if !r.is_empty() => {
            dst.put_i32(r.len() as i32);
            dst.put_slice(r.as_bytes());
        }
        _ => dst.put_i32(0),
    }
    let ext_len: usize = cmd
        .ext_fields
        .iter()
        .map(|(k, v)| 2 + k.len() + 4 + v.len())
        .sum();
    dst.put_i32(ext_len as i32);
    for (k, v) in cmd.ext_fields.iter() {
        let klen = i16::try_from(k.len())
            .map_err(|_| RemotingError::Encode(format!("ext key of {} bytes", k.len())))?;
        dst.put_i16(klen);
        dst.put_slice(k.as_bytes());
        dst.put_i32(v.len() as i32);
        dst.put_slice(v.as_bytes());
    }
    Ok(())
}

// ---- tokio codec -------------------------------------------------------------------------------

/// A `tokio_util` codec over [`check`], [`decode_frame_limited`] and [`encode`].
///
/// A decoding codec may draw on a shared [`FrameBudget`] for its read buffer; what it holds is
/// given back when it is dropped (the connection closed).
#[derive(Debug)]
pub struct RemotingCodec {
    max_frame: usize,
    max_header_fields: usize,
    budget: Option<Arc<FrameBudget>>,
    charged: usize,
}

impl Clone for RemotingCodec {
    /// A clone with the same limits and budget that holds nothing of it yet.
    fn clone(&self) -> Self {
        RemotingCodec {
            max_frame: self.max_frame,
            max_header_fields: self.max_header_fields,
            budget: self.budget.clone(),
            charged: 0,
        }
    }
}

impl RemotingCodec {
    /// A codec with the given maximum frame size (length prefix included).
    pub fn new(max_frame: usize) -> Self {
        RemotingCodec {
            max_frame,
            max_header_fields: DEFAULT_MAX_HEADER_FIELDS,
            budget: None,
            charged: 0,
        }
    }

    /// Sets the most header fields a decoded frame may carry.
    pub fn with_max_header_fields(mut self, max: usize) -> Self {
        self.max_header_fields = max.max(1);
        self
    }

    /// Charges the read buffer beyond [`FRAME_BUDGET_ALLOWANCE`] to `budget`.
    pub fn with_budget(mut self, budget: Option<Arc<FrameBudget>>) -> Self {
        self.budget = budget;
        self
    }

    /// Brings the charge to what `src` holds now; an error when the budget cannot cover it.
    fn charge(&mut self, src: &BytesMut) -> Result<()> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        let want = src.capacity().saturating_sub(FRAME_BUDGET_ALLOWANCE);
        if want > self.charged {
            if !budget.try_charge(want - self.charged) {
                return Err(RemotingError::BudgetExhausted(format!(
                    "incomplete frames of all connections would exceed {} bytes",
                    budget.limit()
                )));
            }
        } else {
            budget.release(self.charged - want);
        }
        self.charged = want;
        Ok(())
    }
}

impl Drop for RemotingCodec {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.release(self.charged);
        }
    }
}

impl Default for RemotingCodec {
    fn default() -> Self {
        RemotingCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = RemotingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>> {
        match check(src, self.max_frame)? {
            None => {
                // Reserve for the announced frame so bodies arrive with little re-growth, but
                // never more than MAX_PREALLOC ahead of the bytes actually received: four bytes
                // announcing 16 MiB must not buy a peer 16 MiB of our memory.
                if src.len() >= 4 {
                    let want =
                        i32::from_be_bytes([src[0], src[1], src[2], src[3]]).max(0) as usize + 4;
                    src.reserve(want.saturating_sub(src.len()).min(MAX_PREALLOC));
                }
                self.charge(src)?;
                Ok(None)
            }
            Some(len) => {
                let mut frame = src.split_to(len).freeze();
                frame.advance(4);
                let decoded = decode_frame_limited(frame, self.max_header_fields).map(Some);
                self.charge(src)?;
                decoded
            }
        }
    }
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = RemotingError;

    /// Encodes `item`, refusing (with `dst` unchanged) a frame larger than the limit: the peer
    /// would close the connection on it.
    fn encode(&mut self, item: RemotingCommand, dst: &mut BytesMut) -> Result<()> {
        let start = dst.len();
        encode(&item, dst)?;
        let len = dst.len() - start;
        if len > self.max_frame {
            dst.truncate(start);
            return Err(RemotingError::Encode(format!(
                "frame of {len} bytes exceeds the limit of {} bytes",
                self.max_frame
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written JSON writers produce what serde_json would, escapes included.
    #[test]
    fn json_writers_match_serde_json() {
        for s in [
            "",
            "plain",
            "quote\" back\\slash",
            "ctl\u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}end",
            "ünïcödé / 中文 \u{7f}",
        ] {
            let mut b = BytesMut::new();
            put_json_string(&mut b, s);
            assert_eq!(
                &b[..],
                serde_json::to_string(s).unwrap().as_bytes(),
                "{s:?}"
            );
        }
        for v in [
            0i64,
            7,
            -1,
            42,
            i64::from(i32::MIN),
            i64::from(i32::MAX),
            i64::MIN,
        ] {
            let mut b = BytesMut::new();
            put_int(&mut b, v);
            assert_eq!(&b[..], v.to_string().as_bytes());
        }
    }
}
