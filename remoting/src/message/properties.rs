//! The properties string of a record (spec §4.3): `name \x01 value \x02 name \x01 value`.
//!
//! Kept as an ordered list so that decoding and re-encoding a stored record gives the same
//! bytes. Encoding refuses keys or values that contain a separator, are empty, or would otherwise
//! decode differently from what was given (reliability.md, "hostile input").

use std::borrow::Cow;

use crate::error::{RemotingError, Result};

/// NAME_VALUE_SEPARATOR (char 1).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// PROPERTY_SEPARATOR (char 2).
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// The largest properties string a V1 record can carry (i16 length).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// Message properties in insertion order; later inserts of a key replace its value in place.
///
/// The values live back to back in one string, so a pulled message's properties cost two
/// allocations (that string and the list) however many there are; a consuming client decodes
/// every property of every message, and one allocation per value was a tenth of its CPU.
#[derive(Clone, Default)]
pub struct Properties {
    /// Keys are borrowed when they are well-known names (`keys`): a pulled message's keys then
    /// cost no allocation. Each value is a byte range of `text`.
    entries: Vec<(Cow<'static, str>, Span)>,
    /// Every value's bytes. A replaced or removed value leaves its old bytes behind until
    /// [`Properties::compact`] drops them.
    text: String,
}

/// A value's place in [`Properties::text`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn len(self) -> usize {
        (self.end - self.start) as usize
    }
}

/// The value `span` marks in `text` (empty for a span the text does not hold).
fn span_str(text: &str, span: Span) -> &str {
    text.get(span.start as usize..span.end as usize)
        .unwrap_or_default()
}

/// Bytes kept ahead for the values a reader adds to a parsed message (a consumer stamps
/// MIN_OFFSET and MAX_OFFSET, the broker CLUSTER), so those do not move the text.
const ADDED_ROOM: usize = 48;

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a properties string the way Java's `string2messageProperties` does: segments
    /// shorter than 3 chars or without a name/value separator strictly inside are skipped.
    pub fn parse(s: &str) -> Self {
        // Room for the few properties a message has and the two a reader adds next.
        let mut out = Properties {
            entries: Vec::with_capacity(8),
            text: String::with_capacity(s.len() + ADDED_ROOM),
        };
        for (k, v) in pairs(s) {
            if !v.is_empty() {
                out.insert(super::keys::stored(k), v);
            }
        }
        out
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| self.value(*v))
    }

    /// Sets `key` to `value`, replacing an existing value in place.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: impl AsRef<str>) {
        let (key, value) = (key.into(), value.as_ref());
        let span = self.push_text(value);
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = span,
            None => self.entries.push((key, span)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        let (_, span) = self.entries.remove(i);
        Some(self.value(span).to_string())
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(k, v)| (k.as_ref(), self.value(*v)))
    }

    fn value(&self, span: Span) -> &str {
        span_str(&self.text, span)
    }

    /// Appends `value` to the text, first dropping the bytes no value uses when they are over
    /// half of it (so that replacing values never grows the text without bound).
    fn push_text(&mut self, value: &str) -> Span {
        // A short text is never compacted, so most inserts do not count the live bytes.
        if self.text.len() > 256 {
            let live: usize = self.entries.iter().map(|(_, v)| v.len()).sum();
            if live < self.text.len() / 2 {
                self.compact();
            }
        }
        let start = self.text.len();
        self.text.push_str(value);
        // Properties are at most 32 KiB on the wire (i16 length); a caller that builds more
        // gets an error from `encode`, and spans past u32 would only be the same refusal.
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(self.text.len()).unwrap_or(u32::MAX),
        }
    }

    /// Rewrites the text with only the live values.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.text);
        self.text.reserve(old.len() / 2 + ADDED_ROOM);
        for (_, span) in &mut self.entries {
            let start = self.text.len();
            self.text.push_str(span_str(&old, *span));
            *span = Span {
                start: start as u32,
                end: self.text.len() as u32,
            };
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encodes as `k\x01v\x02k\x01v` (no trailing separator), checking that the result decodes
    /// to the same entries and fits the i16 length field.
    pub fn encode(&self) -> Result<String> {
        let mut out = Vec::with_capacity(self.checked_encoded_len()?);
        self.write_unchecked(&mut out);
        String::from_utf8(out).map_err(|e| RemotingError::MalformedRecord(e.to_string()))
    }

    /// The length [`Properties::encode`] would produce, after the same checks (every key and
    /// value well-formed, the total within the i16 length field). With
    /// [`Properties::write_unchecked`] it lets a record be encoded without an intermediate
    /// string.
    pub fn checked_encoded_len(&self) -> Result<usize> {
        let mut len = self.entries.len().saturating_sub(1);
        for (k, v) in self.iter() {
            check_part("key", k)?;
            check_part("value", v)?;
            len += k.len() + 1 + v.len();
        }
        if len > MAX_PROPERTIES_LEN {
            return Err(RemotingError::MalformedRecord(format!(
                "properties of {len} bytes exceed {MAX_PROPERTIES_LEN}"
            )));
        }
        Ok(len)
    }

    /// Appends the encoding to `out`; call [`Properties::checked_encoded_len`] first.
    pub fn write_unchecked(&self, out: &mut Vec<u8>) {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                out.push(PROPERTY_SEPARATOR as u8);
            }
            out.extend_from_slice(k.as_bytes());
            out.push(NAME_VALUE_SEPARATOR as u8);
            out.extend_from_slice(v.as_bytes());
        }
    }
}

/// The value of `key` in an encoded properties string, read the way [`Properties::parse`]
/// reads it (short and malformed segments skipped, the last of a repeated key wins), without
/// building the map: for a sender that asks about one key of a string it only passes on.
pub fn find_raw<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    pairs(s)
        .filter(|(k, v)| *k == key && !v.is_empty())
        .map(|(_, v)| v)
        .last()
}

/// The `\x02`-separated segments of a properties string (as `split` gives them), each with
/// the place of its first `\x01`: one pass over the bytes. The `split` and `split_once`
/// searches were a third of a parse, which a consumer makes for every message and the broker
/// for every send.
pub(super) fn segments(s: &str) -> impl Iterator<Item = (&str, Option<usize>)> {
    let b = s.as_bytes();
    let mut next = Some(0usize);
    std::iter::from_fn(move || {
        let start = next?;
        let mut first = None;
        let mut from = start;
        let end = loop {
            match next_separator(b, from) {
                Some(at) if b[at] == PROPERTY_SEPARATOR as u8 => break at,
                Some(at) => {
                    first.get_or_insert(at - start);
                    from = at + 1;
                }
                None => break b.len(),
            }
        };
        next = (end < b.len()).then_some(end + 1);
        // Both ends are separators (ASCII) or the string's ends: character boundaries.
        Some((s.get(start..end).unwrap_or_default(), first))
    })
}

/// Index of the first `\x01` or `\x02` at or after `from`, eight bytes per step (SWAR).
fn next_separator(b: &[u8], from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    loop {
        let Some(Ok(chunk)) = b.get(i..i + 8).map(<[u8; 8]>::try_from) else {
            return b
                .get(i..)?
                .iter()
                .position(|&c| c == 1 || c == 2)
                .map(|p| i + p);
        };
        let w = u64::from_le_bytes(chunk);
        // Flags the first byte below 3 exactly (later flags may be spurious).
        let m = w.wrapping_sub(LO * 3) & !w & HI;
        if m == 0 {
            i += 8;
            continue;
        }
        let at = i + (m.trailing_zeros() / 8) as usize;
        if b[at] != 0 {
            return Some(at);
        }
        i = at + 1; // a NUL byte: not a separator
    }
}

/// The name/value pairs Java's `string2messageProperties` reads: segments shorter than 3
/// characters or without a name/value separator are skipped, as are empty names (a value may
/// be empty; the caller decides).
fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    segments(s).filter_map(|(seg, sep)| {
        // Java skips segments of fewer than 3 characters; 12 bytes are at least 3, and so are
        // 3 bytes of ASCII.
        if seg.len() < 3 || (seg.len() < 12 && !seg.is_ascii() && seg.chars().count() < 3) {
            return None;
        }
        let (k, rest) = seg.split_at_checked(sep?)?;
        let v = rest.get(1..)?;
        (!k.is_empty()).then_some((k, v))
    })
}

/// Checks that an encoded properties string holds only well-formed `k\x01v` segments (each key
/// non-empty, one name/value separator), so that parsing it loses nothing a client meant.
pub fn validate_raw(s: &str) -> Result<()> {
    if s.len() > MAX_PROPERTIES_LEN {
        return Err(RemotingError::MalformedRecord(format!(
            "properties of {} bytes exceed {MAX_PROPERTIES_LEN}",
            s.len()
        )));
    }
    if s.is_empty() {
        return Ok(());
    }
    for (seg, sep) in segments(s) {
        // Empty segments come from a trailing or doubled separator, which ali-ons and older Java
        // clients write after every pair; Java skips them and so do we. An empty value is
        // dropped by Java's parser as well, so it is accepted (and dropped) here too.
        if seg.is_empty() {
            continue;
        }
        match sep {
            Some(p)
                if p > 0 && !seg.as_bytes()[p + 1..].contains(&(NAME_VALUE_SEPARATOR as u8)) => {}
            _ => {
                return Err(RemotingError::MalformedRecord(format!(
                    "malformed property segment {seg:?}"
                )));
            }
        }
    }
    Ok(())
}

fn check_part(what: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(RemotingError::MalformedRecord(format!(
            "empty property {what}"
        )));
    }
    // Bytes, not `char`s: both separators are ASCII, and a `char` pattern decodes the text.
    if next_separator(s.as_bytes(), 0).is_some() {
        return Err(RemotingError::MalformedRecord(format!(
            "property {what} {s:?} contains a separator byte (0x01/0x02)"
        )));
    }
    Ok(())
}

impl<K: Into<Cow<'static, str>>, V: AsRef<str>> FromIterator<(K, V)> for Properties {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut p = Properties::new();
        for (k, v) in iter {
            p.insert(k, v);
        }
        p
    }
}

/// Equal when the same keys hold the same values in the same order, however the text lies.
impl PartialEq for Properties {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Properties {}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn well_known_keys_are_not_copied() {
        let p = Properties::parse("UNIQ_KEY\u{1}id\u{2}WAIT\u{1}true\u{2}mine\u{1}x");
        let borrowed: Vec<bool> = p
            .entries
            .iter()
            .map(|(k, _)| matches!(k, Cow::Borrowed(_)))
            .collect();
        assert_eq!(borrowed, vec![true, true, false]);
        // A borrowed key and an owned one of the same name are the same key.
        let mut q = p.clone();
        q.insert("UNIQ_KEY".to_string(), "other");
        assert_eq!((q.len(), q.get("UNIQ_KEY")), (3, Some("other")));
    }

    #[test]
    fn values_replaced_over_and_over_keep_the_text_bounded() {
        let mut p = Properties::parse("TAGS\u{1}a\u{2}KEYS\u{1}k");
        for i in 0..10_000 {
            p.insert("MAX_OFFSET", i.to_string());
            p.insert("TAGS", format!("tag{i}"));
        }
        assert_eq!(p.get("MAX_OFFSET"), Some("9999"));
        assert_eq!(p.get("TAGS"), Some("tag9999"));
        assert_eq!(p.get("KEYS"), Some("k"));
        assert!(p.text.len() < 1024, "text grew to {}", p.text.len());
        assert_eq!(p.remove("TAGS").as_deref(), Some("tag9999"));
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            vec![("KEYS", "k"), ("MAX_OFFSET", "9999")]
        );
        // Equal to the same entries laid out afresh; Debug shows entries, not the text.
        let q: Properties = [("KEYS", "k"), ("MAX_OFFSET", "9999")]
            .into_iter()
            .collect();
        assert_eq!(p, q);
        assert_eq!(format!("{q:?}"), r#"{"KEYS": "k", "MAX_OFFSET": "9999"}"#);
    }

    #[test]
    fn short_segments_are_skipped_by_characters_not_bytes() {
        // Two characters of four bytes each: eight bytes, still skipped as Java skips it.
        assert!(Properties::parse("\u{1F600}\u{1}").is_empty());
        assert_eq!(Properties::parse("é\u{1}é").get("é"), Some("é"));
    }

    #[test]
    fn find_raw_takes_the_last_of_a_repeated_key() {
        let s = "a\u{1}x\u{2}TAGS\u{1}t\u{2}a\u{1}yy\u{2}b\u{1}\u{2}c";
        assert_eq!(Properties::parse(s).get("a"), Some("yy"));
        assert_eq!(find_raw(s, "a"), Some("yy"));
        assert_eq!(find_raw(s, "TAGS"), Some("t"));
        assert_eq!(find_raw(s, "b"), None);
        assert_eq!(find_raw(s, "c"), None);
    }

    #[test]
    fn parses_java_forms() {
        let p =
            Properties::parse("TAGS\u{1}a\u{2}KEYS\u{1}k1 k2\u{2}\u{2}x\u{2}ab\u{2}k\u{1}\u{2}");
        assert_eq!(p.get("TAGS"), Some("a"));
        assert_eq!(p.get("KEYS"), Some("k1 k2"));
        assert_eq!(p.len(), 2);
        assert!(Properties::parse("").is_empty());
    }

    #[test]
    fn rejects_separators_and_empties() {
        let p: Properties = [("a\u{1}b", "v")].into_iter().collect();
        assert!(p.encode().is_err());
        let p: Properties = [("k", "v\u{2}x")].into_iter().collect();
        assert!(p.encode().is_err());
        // Past the first eight bytes, and behind NUL bytes (which are no separator).
        let p: Properties = [("k", "0123456789abcdef\u{1}x")].into_iter().collect();
        assert!(p.encode().is_err());
        let p: Properties = [("k", "\u{0}".repeat(9) + "\u{2}")].into_iter().collect();
        assert!(p.encode().is_err());
        let p: Properties = [("k", "\u{0}".repeat(9) + "\u{3}")].into_iter().collect();
        assert!(p.encode().is_ok());
        let p: Properties = [("k", "")].into_iter().collect();
        assert!(p.encode().is_err());
        let p: Properties = [("k", "x".repeat(40_000))].into_iter().collect();
        assert!(p.encode().is_err());
        assert!(validate_raw("a\u{1}b\u{2}c\u{1}d").is_ok());
        assert!(validate_raw("a\u{1}b\u{2}").is_ok());
        assert!(validate_raw("a\u{1}b\u{2}\u{2}c\u{1}\u{2}").is_ok());
        assert!(validate_raw("ab").is_err());
        assert!(validate_raw("a\u{1}b\u{1}c").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(entries in proptest::collection::btree_map("[^\u{1}\u{2}]{1,8}", "[^\u{1}\u{2}]{1,12}", 0..8)) {
            let p: Properties = entries.into_iter().collect();
            let s = p.encode().unwrap();
            prop_assert_eq!(Properties::parse(&s), p.clone());
            prop_assert!(validate_raw(&s).is_ok());
            prop_assert_eq!(Properties::parse(&s).encode().unwrap(), s);
        }

        #[test]
        fn parse_never_panics(s in ".{0,64}") {
            let _ = Properties::parse(&s);
        }

        /// The one-pass reading of segments is the `split`-based one it replaced, on strings
        /// of separators, short, long and multi-byte segments.
        #[test]
        fn one_pass_reading_is_the_split_reading(
            s in "[ab\u{e9}\u{0}\u{1}\u{2}]{0,40}",
        ) {
            let split_parse = |s: &str| {
                let mut out = Properties::new();
                for seg in s.split(PROPERTY_SEPARATOR) {
                    if seg.len() < 12 && seg.chars().count() < 3 {
                        continue;
                    }
                    if let Some((k, v)) = seg.split_once(NAME_VALUE_SEPARATOR)
                        && !k.is_empty()
                        && !v.is_empty()
                    {
                        out.insert(k.to_string(), v);
                    }
                }
                out
            };
            let split_valid = |s: &str| s.is_empty() || s.split(PROPERTY_SEPARATOR).all(|seg| {
                seg.is_empty()
                    || matches!(seg.split_once(NAME_VALUE_SEPARATOR),
                        Some((k, v)) if !k.is_empty() && !v.contains(NAME_VALUE_SEPARATOR))
            });
            let (parsed, reference) = (Properties::parse(&s), split_parse(&s));
            prop_assert_eq!(
                parsed.iter().collect::<Vec<_>>(),
                reference.iter().collect::<Vec<_>>(),
                "{:?}", s
            );
            prop_assert_eq!(validate_raw(&s).is_ok(), split_valid(&s), "{:?}", s);
        }

        /// One key read from the raw string is what the parsed map holds: repeats, short and
        /// malformed segments, empty values included.
        #[test]
        fn find_raw_reads_what_parse_keeps(
            segs in proptest::collection::vec(("[ab\u{e9}]{0,3}", "[\u{1}x]{0,2}"), 0..8),
        ) {
            let s = segs.iter().map(|(k, v)| format!("{k}{v}")).collect::<Vec<_>>().join("\u{2}");
            let parsed = Properties::parse(&s);
            for key in ["a", "ab", "b\u{e9}", "", "x"] {
                prop_assert_eq!(find_raw(&s, key), parsed.get(key), "{:?} in {:?}", key, s);
            }
        }
    }
}
