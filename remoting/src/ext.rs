//! Header fields (`extFields`, spec §1.5) and the typed header structs built on them.
//!
//! Decoding follows the Java servers' leniency (spec §14): values arrive as strings, numbers or
//! booleans (all kept as their text), booleans may be `"true"`/`"false"` or `"1"`/`"0"`, unknown
//! keys are ignored. A required (`@CFNotNull`) field that is absent or unparsable is an error; an
//! optional one that cannot be parsed is treated as absent, as Java leaves it at its default.

use std::borrow::Cow;
use std::collections::BTreeMap;

use compact_str::{CompactString, ToCompactString};

use crate::error::{RemotingError, Result};

/// Up to this many fields a lookup scans instead of searching.
const LINEAR_SCAN: usize = 32;

/// A header field name: a `&'static str` for the names our typed headers and the common
/// requests use (no allocation), owned text for anything else a peer sends.
pub type FieldKey = Cow<'static, str>;

/// A header field value: up to 24 bytes are kept inline, so numbers, flags, topic and group
/// names cost no allocation; only longer values (a send's properties, a message id) do.
pub type FieldValue = CompactString;

/// The header field map. Ordered by key, so encoded frames are deterministic.
///
/// Kept as a sorted vector rather than a tree: a header has a few dozen fields at most (a
/// decoded frame is limited to [`DEFAULT_MAX_HEADER_FIELDS`](crate::frame::DEFAULT_MAX_HEADER_FIELDS)),
/// a lookup is a binary search over contiguous entries, and a whole header costs one
/// allocation for the entries plus one per value longer than [`FieldValue`] holds inline
/// (keys the request path uses are static).
///
/// Fields read from a JSON frame are kept as the frame listed them ([`Members`]) until a
/// change: a typed header reads them in one walk (see [`header!`](macro@crate::header)), a
/// lookup by name scans them, so a send or a pull builds no map.
#[derive(Clone, Default)]
pub struct ExtFields {
    /// Sorted by key, keys unique. Empty while `members` holds the fields.
    fields: Vec<(FieldKey, FieldValue)>,
    /// The fields as a frame listed them, until a change turns them into `fields` (boxed: a
    /// command is moved about often, and most are built, not read).
    members: Option<Box<Members>>,
}

/// Header fields in the order a frame listed them (null ones left out; a repeated name's last
/// value is its value), keys and values back to back in one string: two allocations however
/// many fields there are.
#[derive(Clone)]
struct Members {
    text: String,
    /// Per member, where its key ends (its value starts) and where its value ends.
    ends: Vec<(u32, u32)>,
}

impl Members {
    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut at = 0usize;
        self.ends.iter().map(move |&(key_end, end)| {
            let (key_end, end) = (key_end as usize, end as usize);
            let key = self.text.get(at..key_end).unwrap_or_default();
            let value = self.text.get(key_end..end).unwrap_or_default();
            at = end;
            (key, value)
        })
    }

    /// The value of `key`: its last member's.
    fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// Each name once with its value, in key order (what the map would hold).
    fn sorted(&self) -> Vec<(&str, &str)> {
        sorted_last_wins(self.iter().collect())
    }
}

/// The fields in key order, from either form.
pub struct Iter<'a>(IterInner<'a>);

enum IterInner<'a> {
    Map(std::slice::Iter<'a, (FieldKey, FieldValue)>),
    Listed(std::vec::IntoIter<(&'a str, &'a str)>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterInner::Map(it) => it.next().map(|(k, v)| (k.as_ref(), v.as_str())),
            IterInner::Listed(it) => it.next(),
        }
    }
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl std::fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl ExtFields {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        ExtFields {
            fields: Vec::with_capacity(n),
            members: None,
        }
    }

    /// Fields as a frame listed them: `text` holds each member's key then its value, `ends`
    /// where each key and value ends.
    pub(crate) fn from_members(text: String, ends: Vec<(u32, u32)>) -> Self {
        if ends.is_empty() {
            return Self::new();
        }
        ExtFields {
            fields: Vec::new(),
            members: Some(Box::new(Members { text, ends })),
        }
    }

    /// The fields in the order the frame listed them, while they are kept that way (for
    /// [`header!`](macro@crate::header)); `None` for fields built or changed as a map.
    #[doc(hidden)]
    pub fn listed(&self) -> Option<impl Iterator<Item = (&str, &str)>> {
        self.members.as_deref().map(Members::iter)
    }

    /// The map for a change: listed members become entries first.
    #[inline]
    fn entries_mut(&mut self) -> &mut Vec<(FieldKey, FieldValue)> {
        if self.members.is_some() {
            self.members_to_map();
        }
        &mut self.fields
    }

    #[cold]
    #[inline(never)]
    fn members_to_map(&mut self) {
        if let Some(members) = self.members.take() {
            self.fields = members
                .sorted()
                .into_iter()
                .map(|(k, v)| {
                    let k = match intern(k) {
                        Some(k) => Cow::Borrowed(k),
                        None => Cow::Owned(k.to_string()),
                    };
                    (k, FieldValue::from(v))
                })
                .collect();
        }
    }

    fn position(&self, key: &str) -> std::result::Result<usize, usize> {
        self.fields.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        if let Some(members) = &self.members {
            return members.get(key);
        }
        self.index_of(key).map(|i| self.fields[i].1.as_str())
    }

    /// Where `key` sits in the map.
    fn index_of(&self, key: &str) -> Option<usize> {
        if self.fields.len() <= LINEAR_SCAN {
            // Short names compared by length and first byte before the bytes: cheaper than the
            // ordered comparisons of a binary search for the few dozen fields a header has,
            // and the whole-name comparison (a `memcmp` call) is made about once per lookup
            // instead of once per field of the same length (all of SEND_MESSAGE_V2's names
            // are one letter long: a profile had 2 % of the broker's CPU in those calls).
            let first = key.as_bytes().first();
            return self.fields.iter().position(|(k, _)| {
                k.len() == key.len()
                    && k.as_bytes().first() == first
                    && k.as_bytes() == key.as_bytes()
            });
        }
        self.position(key).ok()
    }

    /// [`get`](Self::get) for a reader that asks for keys in ascending order, as a typed
    /// header does when its fields are declared sorted (every one-letter V2 send header): the
    /// entry at `*next` is tried first, and `*next` is left after the entry found. Any other
    /// order still finds every key, by the full lookup.
    pub fn get_after(&self, key: &str, next: &mut usize) -> Option<&str> {
        if self.members.is_some() {
            return self.get(key);
        }
        if let Some((k, v)) = self.fields.get(*next)
            && k.as_bytes().first() == key.as_bytes().first()
            && k.as_ref() == key
        {
            *next += 1;
            return Some(v.as_str());
        }
        let i = self.index_of(key)?;
        *next = i + 1;
        Some(self.fields[i].1.as_str())
    }

    /// Sets a key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key: String = key.into();
        let key = match intern(&key) {
            Some(k) => Cow::Borrowed(k),
            None => Cow::Owned(key),
        };
        self.insert_key(key, FieldValue::from(value.into()));
    }

    /// Sets a key whose name is static (what typed headers do): the name is not copied.
    pub fn insert_static(&mut self, key: &'static str, value: impl Into<FieldValue>) {
        self.insert_key(Cow::Borrowed(key), value.into());
    }

    fn insert_key(&mut self, key: FieldKey, value: FieldValue) {
        let fields = self.entries_mut();
        // Typed headers insert in declaration order, often sorted already: check the end first.
        match fields.last() {
            Some((last, _)) if last.as_ref() < key.as_ref() => fields.push((key, value)),
            None => fields.push((key, value)),
            _ => match fields.binary_search_by(|(k, _)| k.as_ref().cmp(&key)) {
                Ok(i) => fields[i].1 = value,
                Err(i) => fields.insert(i, (key, value)),
            },
        }
    }

    /// Removes a key, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let fields = self.entries_mut();
        fields
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| fields.remove(i).1.into_string())
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.members {
            Some(members) => members.sorted().len(),
            None => self.fields.len(),
        }
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        // Listed members are never empty (see `from_members`).
        self.members.is_none() && self.fields.is_empty()
    }

    /// Iterates over (key, value) in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.members {
            Some(members) => IterInner::Listed(members.sorted().into_iter()),
            None => IterInner::Map(self.fields.iter()),
        })
    }

    /// Decodes a typed header from these fields.
    pub fn decode<H: CommandHeader>(&self) -> Result<H> {
        H::from_ext(self)
    }

    /// Builds the map from fields in any order; for a key given twice the last value wins (as
    /// a JSON object's or a map's later insert would).
    pub(crate) fn from_unsorted(fields: Vec<(FieldKey, FieldValue)>) -> Self {
        ExtFields {
            fields: sorted_last_wins(fields),
            members: None,
        }
    }
}

/// `fields` sorted by key, each key once with its last value (as a JSON object's or a map's
/// later insert would leave it).
fn sorted_last_wins<K: AsRef<str>, V>(mut fields: Vec<(K, V)>) -> Vec<(K, V)> {
    if fields
        .windows(2)
        .all(|w| key_before(w[0].0.as_ref(), w[1].0.as_ref()))
    {
        return fields;
    }
    // Stable, so equal keys keep their arrival order; then keep the last of each run.
    fields.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut out: Vec<(K, V)> = Vec::with_capacity(fields.len());
    for f in fields {
        match out.last_mut() {
            Some(last) if last.0.as_ref() == f.0.as_ref() => *last = f,
            _ => out.push(f),
        }
    }
    out
}

/// `a < b`, deciding on the first bytes without a `memcmp` call when they differ (header
/// names are short and mostly differ there).
fn key_before(a: &str, b: &str) -> bool {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a < b,
    }
}

/// The static name equal to `key`, for the field names of the request path and our typed
/// headers' common ones; `None` for anything else.
pub(crate) fn intern(key: &str) -> Option<&'static str> {
    // The V2 send header's one-letter names, on every send: no search.
    const LETTERS: [&str; 14] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
    ];
    if let &[c @ b'a'..=b'n'] = key.as_bytes() {
        return Some(LETTERS[usize::from(c - b'a')]);
    }
    const KEYS: &[&str] = &[
        "AccessKey",
        "MSG_REGION",
        "Signature",
        "TRACE_ON",
        "a",
        "b",
        "batch",
        "batchUniqId",
        "bname",
        "brokerName",
        "c",
        "clientId",
        "commitOffset",
        "consumerGroup",
        "d",
        "defaultTopic",
        "defaultTopicQueueNums",
        "e",
        "expressionType",
        "f",
        "flag",
        "g",
        "h",
        "i",
        "j",
        "k",
        "l",
        "m",
        "maxMsgNums",
        "maxOffset",
        "maxReconsumeTimes",
        "minOffset",
        "msgId",
        "n",
        "nextBeginOffset",
        "offset",
        "producerGroup",
        "properties",
        "queueId",
        "queueOffset",
        "reconsumeTimes",
        "subVersion",
        "subscription",
        "suggestWhichBrokerId",
        "suspendTimeoutMillis",
        "sysFlag",
        "topic",
        "transactionId",
        "unitMode",
    ];
    KEYS.binary_search(&key).ok().map(|i| KEYS[i])
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let fields = iter
            .into_iter()
            .map(|(k, v)| {
                let k: String = k.into();
                let k = match intern(&k) {
                    Some(s) => Cow::Borrowed(s),
                    None => Cow::Owned(k),
                };
                (k, FieldValue::from(v.into()))
            })
            .collect();
        ExtFields::from_unsorted(fields)
    }
}

impl From<BTreeMap<String, String>> for ExtFields {
    fn from(map: BTreeMap<String, String>) -> Self {
        map.into_iter().collect()
    }
}

/// A typed request or response header: a struct whose fields map to `extFields` keys.
/// Implemented by [`header!`](macro@crate::header) so that server and client share one definition.
pub trait CommandHeader: Sized {
    /// Renders every present field as a string.
    fn to_ext(&self) -> ExtFields;
    /// Parses the fields, failing on a missing or malformed required field.
    fn from_ext(ext: &ExtFields) -> Result<Self>;
    /// [`to_ext`](Self::to_ext) consuming the header: string values move into the map
    /// instead of being copied (an answer built only to be encoded, such as a send's with its
    /// message id).
    fn into_ext(self) -> ExtFields {
        self.to_ext()
    }
}

/// A scalar that can sit in a header field.
pub trait HeaderScalar: Sized {
    /// Parses the field text leniently.
    fn parse_field(raw: &str) -> Option<Self>;
    /// Renders the value as Java's `toString()` would.
    fn render_field(&self) -> FieldValue;
    /// [`render_field`](Self::render_field) consuming the value, so text can move.
    fn into_field(self) -> FieldValue {
        self.render_field()
    }
}

impl HeaderScalar for String {
    fn parse_field(raw: &str) -> Option<Self> {
        Some(raw.to_string())
    }
    fn render_field(&self) -> FieldValue {
        FieldValue::from(self.as_str())
    }
    fn into_field(self) -> FieldValue {
        // A long value keeps its buffer; a short one is inlined.
        FieldValue::from(self)
    }
}

/// A field held as it sits in the map: names and numbers up to 24 bytes are copied without an
/// allocation, so the headers of the message path use it for their names.
impl HeaderScalar for FieldValue {
    fn parse_field(raw: &str) -> Option<Self> {
        Some(FieldValue::from(raw))
    }
    fn render_field(&self) -> FieldValue {
        self.clone()
    }
    fn into_field(self) -> FieldValue {
        self
    }
}

macro_rules! int_scalar {
    ($($t:ty),*) => {$(
        impl HeaderScalar for $t {
            fn parse_field(raw: &str) -> Option<Self> {
                // Nearly every value is plain digits, which trimming (a walk over the
                // characters from both ends) cannot change: a tenth of a send header's decode.
                let b = raw.as_bytes();
                let plain = b.last().is_some_and(u8::is_ascii_digit)
                    && b.first().is_some_and(|&c| c.is_ascii_digit() || c == b'-');
                let raw = if plain { raw } else { raw.trim() };
                raw.parse::<$t>().ok().or_else(|| {
                    // Some clients serialise integral JSON numbers as floats ("3.0").
                    raw.parse::<f64>().ok().filter(|f| f.fract() == 0.0).and_then(|f| {
                        let i = f as i64;
                        <$t>::try_from(i).ok()
                    })
                })
            }
            fn render_field(&self) -> FieldValue {
                self.to_compact_string()
            }
        }
    )*};
}
int_scalar!(i8, i16, i32, i64, u8, u16, u32, u64);

impl HeaderScalar for bool {
    fn parse_field(raw: &str) -> Option<Self> {
        // What every client sends, without the walk of a trim.
        match raw {
            "false" => return Some(false),
            "true" => return Some(true),
            _ => {}
        }
        let raw = raw.trim();
        // Java's Boolean.parseBoolean: anything but "true" (any case) is false; "1" is what
        // the C++ client means by true.
        Some(raw.eq_ignore_ascii_case("true") || raw == "1")
    }
    fn render_field(&self) -> FieldValue {
        FieldValue::const_new(if *self { "true" } else { "false" })
    }
}

/// A header field type: a required scalar or an optional one.
pub trait HeaderField: Sized {
    /// Reads the field `key` from `ext`; `next` is the lookup hint of
    /// [`ExtFields::get_after`], carried from one field of a header to the next.
    fn take(ext: &ExtFields, key: &'static str, next: &mut usize) -> Result<Self> {
        Self::from_text(ext.get_after(key, next), key)
    }
    /// The field `key` from its text (`None`: absent): a required one must be present and
    /// parse, an optional one that does not parse is absent.
    fn from_text(text: Option<&str>, key: &'static str) -> Result<Self>;
    /// Writes the field `key` into `ext` (nothing for `None`).
    fn put(&self, ext: &mut ExtFields, key: &'static str);
    /// [`put`](Self::put) consuming the value.
    fn put_owned(self, ext: &mut ExtFields, key: &'static str);
}

impl<T: HeaderScalar> HeaderField for T {
    fn from_text(text: Option<&str>, key: &'static str) -> Result<Self> {
        // Not `ok_or(..)`: that builds the error for every present field and drops it again.
        let Some(raw) = text else {
            return Err(RemotingError::MissingField(key));
        };
        T::parse_field(raw).ok_or_else(|| RemotingError::InvalidField {
            key,
            value: raw.to_string(),
        })
    }
    fn put(&self, ext: &mut ExtFields, key: &'static str) {
        ext.insert_static(key, self.render_field());
    }
    fn put_owned(self, ext: &mut ExtFields, key: &'static str) {
        ext.insert_static(key, self.into_field());
    }
}

impl<T: HeaderScalar> HeaderField for Option<T> {
    fn from_text(text: Option<&str>, _key: &'static str) -> Result<Self> {
        Ok(text.and_then(T::parse_field))
    }
    fn put(&self, ext: &mut ExtFields, key: &'static str) {
        if let Some(v) = self {
            ext.insert_static(key, v.render_field());
        }
    }
    fn put_owned(self, ext: &mut ExtFields, key: &'static str) {
        if let Some(v) = self {
            ext.insert_static(key, v.into_field());
        }
    }
}

/// Declares a typed header struct and its [`CommandHeader`] implementation.
///
/// A plain field type is required (`@CFNotNull` in Java); an `Option<_>` field is optional.
///
/// ```
/// remoting::header! {
///     /// Example.
///     pub struct GetKvConfigHeader {
///         /// KV namespace.
///         pub namespace: String = "namespace",
///         /// Key.
///         pub key: String = "key",
///     }
/// }
/// ```
#[macro_export]
macro_rules! header {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$fmeta:meta])* pub $field:ident : $ty:ty = $key:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// The `extFields` keys of this header, in declaration order.
            pub const FIELD_KEYS: &'static [&'static str] = &[$($key),*];
        }

        impl $crate::ext::CommandHeader for $name {
            fn to_ext(&self) -> $crate::ext::ExtFields {
                #[allow(unused_mut)]
                let mut ext = $crate::ext::ExtFields::with_capacity(Self::FIELD_KEYS.len());
                $($crate::ext::HeaderField::put(&self.$field, &mut ext, $key);)*
                ext
            }

            fn into_ext(self) -> $crate::ext::ExtFields {
                #[allow(unused_mut)]
                let mut ext = $crate::ext::ExtFields::with_capacity(Self::FIELD_KEYS.len());
                $($crate::ext::HeaderField::put_owned(self.$field, &mut ext, $key);)*
                ext
            }

            #[allow(unused_variables, unused_mut, clippy::match_single_binding)]
            fn from_ext(ext: &$crate::ext::ExtFields) -> $crate::error::Result<Self> {
                // Fields as the frame listed them: one walk, each name matched once, the last
                // of a repeated name kept (as in the map).
                if let Some(listed) = ext.listed() {
                    $(let mut $field: Option<&str> = None;)*
                    for (name, value) in listed {
                        match name {
                            $($key => $field = Some(value),)*
                            _ => {}
                        }
                    }
                    return Ok(Self {
                        $($field: $crate::ext::HeaderField::from_text($field, $key)?,)*
                    });
                }
                let mut next = 0usize;
                Ok(Self {
                    $($field: $crate::ext::HeaderField::take(ext, $key, &mut next)?,)*
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_after_finds_keys_in_any_order() {
        let e: ExtFields = [("a", "1"), ("b", "2"), ("d", "4"), ("topic", "T")]
            .into_iter()
            .collect();
        let mut next = 0;
        let sorted: Vec<_> = ["a", "b", "c", "d", "topic", "zz"]
            .iter()
            .map(|k| e.get_after(k, &mut next))
            .collect();
        assert_eq!(
            sorted,
            [Some("1"), Some("2"), None, Some("4"), Some("T"), None]
        );
        let mut next = 0;
        for k in ["topic", "d", "zz", "a", "b", "a"] {
            assert_eq!(e.get_after(k, &mut next), e.get(k), "{k}");
        }
    }

    #[test]
    fn sorted_unique_last_wins() {
        let mut e: ExtFields = [("topic", "T"), ("b", "1"), ("zz", "x"), ("b", "2")]
            .into_iter()
            .collect();
        assert_eq!(
            e.iter().collect::<Vec<_>>(),
            [("b", "2"), ("topic", "T"), ("zz", "x")]
        );
        e.insert("a", "0");
        e.insert_static("topic", "U");
        e.insert("zzz", "end");
        assert_eq!(e.get("topic"), Some("U"));
        assert_eq!(e.get("a"), Some("0"));
        assert_eq!(e.get("nope"), None);
        assert_eq!(e.remove("zz").as_deref(), Some("x"));
        assert_eq!(
            e.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b", "topic", "zzz"]
        );
        assert_eq!(
            format!("{e:?}"),
            r#"{"a": "0", "b": "2", "topic": "U", "zzz": "end"}"#
        );
    }

    #[test]
    fn integers_parse_plain_padded_and_as_floats() {
        for (raw, want) in [
            ("7", Some(7)),
            ("-3", Some(-3)),
            (" 7 ", Some(7)),
            ("\u{a0}5", Some(5)),
            ("12\n", Some(12)),
            ("3.0", Some(3)),
            ("-", None),
            ("1-", None),
            ("2147483648", None),
            ("", None),
        ] {
            assert_eq!(i32::parse_field(raw), want, "{raw:?}");
        }
        assert_eq!(i64::parse_field("1700000000000"), Some(1_700_000_000_000));
    }

    #[test]
    fn common_names_are_interned() {
        for k in [
            "a",
            "n",
            "topic",
            "queueId",
            "MSG_REGION",
            "unitMode",
            "AccessKey",
        ] {
            assert_eq!(intern(k), Some(k), "{k}");
        }
        assert_eq!(intern("notAField"), None);
    }
}
