//! The Java fastjson dialect of JSON bodies (spec §1.7).
//!
//! Java brokers and name servers write bodies with fastjson 1.x, which produces two forms that are
//! not JSON:
//!
//! 1. non-string map keys unquoted: `{0:"10.0.0.1:10911"}`, `{"offsetTable":{1:0,2:14}}`;
//! 2. object map keys written inline: `{{"brokerName":"b","queueId":0,"topic":"t"}:{...}}`.
//!
//! [`from_slice`] reads standard JSON and both forms. An unquoted key becomes the string of its
//! text (so `BTreeMap<i64, _>` and `BTreeMap<String, _>` both read it); an object key becomes the
//! string of its compact JSON text with fields sorted ([`canonical_string`]), which
//! [`ObjectKeyMap`] (or any typed wrapper) parses again.
//!
//! On output standard JSON is what every client accepts, except where Java admin tools must read a
//! map with object keys: [`to_vec_object_keys`] writes those keys inline (form 2).
//!
//! The reader never panics and bounds nesting at [`MAX_DEPTH`], so hostile bodies cannot exhaust
//! the stack.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::error::{RemotingError, Result};

/// Deepest nesting of objects and arrays accepted (serde_json's own limit is 128 as well).
pub const MAX_DEPTH: usize = 128;

/// Parses a body written by fastjson (or any standard JSON) into `T`.
///
/// Standard JSON takes the fast path straight through serde_json; anything else goes through the
/// lenient reader. Every failure is [`RemotingError::MalformedBody`].
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    // Fast path: most bodies from our own servers and from the Go client are standard JSON.
    if let Ok(v) = serde_json::from_slice::<T>(bytes) {
        return Ok(v);
    }
    let value = parse_value(bytes)?;
    serde_json::from_value(value).map_err(|e| RemotingError::MalformedBody(e.to_string()))
}

/// Parses `text` as [`from_slice`] does.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T> {
    from_slice(text.as_bytes())
}

/// Parses a fastjson body into a [`serde_json::Value`], normalising unquoted keys to strings and
/// object keys to their compact JSON text.
pub fn parse_value(bytes: &[u8]) -> Result<Value> {
    let mut p = Parser {
        src: bytes,
        pos: 0,
        depth: 0,
    };
    // A UTF-8 byte-order mark is tolerated, as fastjson does.
    if p.src.starts_with(&[0xEF, 0xBB, 0xBF]) {
        p.pos = 3;
    }
    let v = p.value()?;
    p.skip_ws();
    if p.pos != p.src.len() {
        return Err(p.error("trailing characters after the JSON value"));
    }
    Ok(v)
}

/// Standard JSON of `value` (what every client accepts; fastjson reads it too).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| RemotingError::Encode(e.to_string()))
}

/// JSON of `value` in which every map key that is itself the text of a JSON object (as
/// [`ObjectKeyMap`] produces) is written inline as that object: fastjson form 2, the only form
/// Java admin tools parse back into `Map<MessageQueue, _>` (spec §1.7).
///
/// Any other key is written as a normal JSON string, so a body without object keys comes out as
/// standard JSON. Object keys are written compactly with their fields sorted, as fastjson does.
pub fn to_vec_object_keys<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let v = serde_json::to_value(value).map_err(|e| RemotingError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(256);
    write_form2(&v, &mut out);
    Ok(out)
}

fn write_form2(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, val)) in sorted(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match object_key(k) {
                    Some(obj) => write_form2(&obj, out),
                    None => write_json(&Value::String(k.clone()), out),
                }
                out.push(b':');
                write_form2(val, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_form2(item, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

fn write_json(v: &Value, out: &mut Vec<u8>) {
    // Writing a Value into a Vec cannot fail (no I/O, keys are strings).
    let _ = serde_json::to_writer(&mut *out, v);
}

/// The entries of `map` in key order, whatever order `serde_json::Map` keeps (it keeps insertion
/// order when any crate of the build enables serde_json's `preserve_order`).
fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Compact JSON of `v` with object fields sorted at every level: the canonical text of an object
/// key, identical however the key was written or which serde_json features are on.
pub fn canonical_string(v: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    write_canonical(v, &mut out);
    // Only valid UTF-8 was written.
    String::from_utf8(out).unwrap_or_default()
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, val)) in sorted(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(&Value::String(k.clone()), out);
                out.push(b':');
                write_canonical(val, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

/// The object a map key stands for, when the key is the text of a JSON object.
fn object_key(key: &str) -> Option<Value> {
    if !key.starts_with('{') {
        return None;
    }
    // The lenient reader, not serde_json: it reads floats exactly, so writing is stable.
    match parse_value(key.as_bytes()) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

// ---- the lenient reader ------------------------------------------------------------------------

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> RemotingError {
        RemotingError::MalformedBody(format!("{what} at byte {}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn value(&mut self) -> Result<Value> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Value>) -> Result<Value> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value> {
        if self.src[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn object(&mut self) -> Result<Value> {
        self.pos += 1; // '{'
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_ws();
            let key = self.key()?;
            self.expect(b':')?;
            let v = self.value()?;
            map.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected ',' or '}' in object")),
            }
        }
    }

    /// A map key: a JSON string, an unquoted token (form 1), or an inline object (form 2).
    fn key(&mut self) -> Result<String> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'{') => Ok(canonical_string(&self.nested(Self::object)?)),
            Some(b'[') => Ok(canonical_string(&self.nested(Self::array)?)),
            Some(c) if is_bare(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_bare) {
                    self.pos += 1;
                }
                // Bare tokens are ASCII by construction.
                Ok(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
            }
            _ => Err(self.error("expected an object key")),
        }
    }

    fn array(&mut self) -> Result<Value> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']' in array")),
            }
        }
    }

    fn string(&mut self) -> Result<String> {
        let start = self.pos;
        self.pos += 1; // opening quote
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        let end = self.pos.min(self.src.len());
        // serde_json does the escape handling and UTF-8 validation of the delimited slice.
        serde_json::from_slice::<String>(&self.src[start..end])
            .map_err(|e| RemotingError::MalformedBody(format!("bad string at byte {start}: {e}")))
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.pos;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let text = &self.src[start..self.pos];
        // serde_json validates the JSON number syntax and keeps integers exact.
        let n = serde_json::from_slice::<Number>(text).map_err(|_| self.error("invalid number"))?;
        if n.is_f64() {
            // Rust's own parser rounds correctly; serde_json's default one may be 1 ULP off, and
            // a value written by `to_vec_object_keys` should read back exactly.
            let exact = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .and_then(Number::from_f64);
            return Ok(Value::Number(exact.unwrap_or(n)));
        }
        Ok(Value::Number(n))
    }
}

/// Characters of an unquoted key: digits and signs (form 1) and identifier characters, which
/// fastjson also accepts unquoted.
fn is_bare(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'$' | b'.' | b'@' | b'%' | b'+')
}

// ---- maps keyed by objects ---------------------------------------------------------------------

/// A map whose keys are objects (Java `Map<MessageQueue, V>`), kept sorted by key.
///
/// Serialises each key as the string of its compact JSON text, which is standard JSON;
/// [`to_vec_object_keys`] turns those keys into fastjson form 2. Deserialises keys given either as
/// such strings or (through [`from_slice`]) as inline objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKeyMap<K: Ord, V>(pub BTreeMap<K, V>);

impl<K: Ord, V> Default for ObjectKeyMap<K, V> {
    fn default() -> Self {
        ObjectKeyMap(BTreeMap::new())
    }
}

impl<K: Ord, V> ObjectKeyMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<K: Ord, V> std::ops::Deref for ObjectKeyMap<K, V> {
    type Target = BTreeMap<K, V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<K: Ord, V> std::ops::DerefMut for ObjectKeyMap<K, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for ObjectKeyMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        ObjectKeyMap(iter.into_iter().collect())
    }
}

impl<K: Ord + Serialize, V: Serialize> Serialize for ObjectKeyMap<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            // Canonical text, so the key's fields come out sorted as fastjson writes them.
            let key = serde_json::to_value(k)
                .map(|v| canonical_string(&v))
                .map_err(serde::ser::Error::custom)?;
            map.serialize_entry(&key, v)?;
        }
        map.end()
    }
}

impl<'de, K, V> Deserialize<'de> for ObjectKeyMap<K, V>
where
    K: Ord + DeserializeOwned,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct MapVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Ord + DeserializeOwned,
            V: Deserialize<'de>,
        {
            type Value = ObjectKeyMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map whose keys are JSON objects")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = access.next_key::<String>()? {
                    let k: K = serde_json::from_str(&key)
                        .map_err(|e| de::Error::custom(format!("bad object key {key:?}: {e}")))?;
                    let v: V = access.next_value()?;
                    out.insert(k, v);
                }
                Ok(ObjectKeyMap(out))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(ObjectKeyMap::default())
            }
        }
        d.deserialize_map(MapVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Clone)]
    #[serde(rename_all = "camelCase")]
    struct Mq {
        topic: String,
        broker_name: String,
        queue_id: i32,
    }

    #[test]
    fn standard_json() {
        let v: BTreeMap<String, i64> = from_slice(br#"{"a":1,"b":-2}"#).unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(v["b"], -2);
    }

    #[test]
    fn unquoted_integer_keys() {
        let v: BTreeMap<i64, String> = from_slice(br#"{0:"10.0.0.1:10911", 1 : "x"}"#).unwrap();
        assert_eq!(v[&0], "10.0.0.1:10911");
        assert_eq!(v[&1], "x");
        let v: BTreeMap<String, BTreeMap<i32, i64>> =
            from_slice(br#"{"topic@group":{0:5,1:7}}"#).unwrap();
        assert_eq!(v["topic@group"][&1], 7);
        let v: BTreeMap<i64, i64> = from_slice(b"{-1:3}").unwrap();
        assert_eq!(v[&-1], 3);
    }

    #[test]
    fn object_keys_form2() {
        let text = br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"x":1},{"brokerName":"b","queueId":1,"topic":"t"}:{"x":2}}}"#;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct W {
            offset_table: ObjectKeyMap<Mq, BTreeMap<String, i64>>,
        }
        let w: W = from_slice(text).unwrap();
        assert_eq!(w.offset_table.len(), 2);
        let k = Mq {
            topic: "t".into(),
            broker_name: "b".into(),
            queue_id: 1,
        };
        assert_eq!(w.offset_table[&k]["x"], 2);
        // Raw value: the key is its compact JSON text.
        let v = parse_value(text).unwrap();
        let keys: Vec<_> = v["offsetTable"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys[0], r#"{"brokerName":"b","queueId":0,"topic":"t"}"#);
    }

    #[test]
    fn object_keys_written_inline_and_read_back() {
        #[derive(Debug, Serialize, Deserialize, PartialEq)]
        #[serde(rename_all = "camelCase")]
        struct W {
            offset_table: ObjectKeyMap<Mq, i64>,
            name: String,
        }
        let mut w = W {
            offset_table: ObjectKeyMap::new(),
            name: "{not an object".into(),
        };
        w.offset_table.insert(
            Mq {
                topic: "t".into(),
                broker_name: "b".into(),
                queue_id: 3,
            },
            42,
        );
        let form2 = to_vec_object_keys(&w).unwrap();
        assert_eq!(
            String::from_utf8(form2.clone()).unwrap(),
            r#"{"name":"{not an object","offsetTable":{{"brokerName":"b","queueId":3,"topic":"t"}:42}}"#
        );
        assert!(
            serde_json::from_slice::<Value>(&form2).is_err(),
            "form 2 is not JSON"
        );
        assert_eq!(from_slice::<W>(&form2).unwrap(), w);
        // The standard form reads back too.
        let std = to_vec(&w).unwrap();
        assert_eq!(from_slice::<W>(&std).unwrap(), w);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\":}",
            b"{\"a\" 1}",
            b"[1,]",
            b"\"abc",
            b"\"\\",
            b"{1:2",
            b"nul",
            b"{} x",
            b"{:1}",
            b"1e",
        ] {
            assert!(
                matches!(parse_value(bad), Err(RemotingError::MalformedBody(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse_value(deep.as_bytes()).is_err());
        let deep_keys = "{".repeat(100_000);
        assert!(parse_value(deep_keys.as_bytes()).is_err());
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_value(ok.as_bytes()).is_ok());
    }

    #[test]
    fn floats_read_back_exactly() {
        let x = -371_404.050_571_455_97_f64;
        let v = parse_value(format!("{{1:{x}}}").as_bytes()).unwrap();
        assert_eq!(v["1"].as_f64(), Some(x));
        let v = parse_value(b"{1:12345678901234567890,2:-9223372036854775808}").unwrap();
        assert_eq!(v["1"].as_u64(), Some(12_345_678_901_234_567_890));
        assert_eq!(v["2"].as_i64(), Some(i64::MIN));
    }

    #[test]
    fn type_mismatch_is_malformed_body() {
        let r = from_slice::<BTreeMap<String, i64>>(b"{a:\"x\"}");
        assert!(matches!(r, Err(RemotingError::MalformedBody(_))));
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_value(&bytes);
            let _ = from_slice::<Value>(&bytes);
        }

        #[test]
        fn never_panics_on_jsonish(s in "[{}\\[\\]:,\"0-9a-z\\\\ -]{0,64}") {
            let _ = parse_value(s.as_bytes());
        }

        #[test]
        fn agrees_with_serde_json_on_standard_json(
            m in proptest::collection::btree_map("[a-z\\\\\"\u{e9}]{0,8}", any::<i64>(), 0..8)
        ) {
            let text = serde_json::to_vec(&m).unwrap();
            prop_assert_eq!(parse_value(&text).unwrap(), serde_json::to_value(&m).unwrap());
        }

        #[test]
        fn unquoted_keys_round_trip(m in proptest::collection::btree_map(any::<i32>(), any::<i64>(), 0..8)) {
            let mut text = String::from("{");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 { text.push(','); }
                text.push_str(&format!("{k}:{v}"));
            }
            text.push('}');
            let back: BTreeMap<i32, i64> = from_str(&text).unwrap();
            prop_assert_eq!(back, m);
        }
    }
}
