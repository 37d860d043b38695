//! Header fields (`extFields`, spec §1.5) and the typed header structs built on them.
//!
//! Decoding follows the Java servers' leniency (spec §14): values arrive as strings, numbers or
//! booleans (all kept as their text), booleans may be `"true"`/`"false"` or `"1"`/`"0"`, unknown
//! keys are ignored. A required (`@CFNotNull`) field that is absent or unparsable is an error; an
//! optional one that cannot be parsed is treated as absent, as Java leaves it at its default.

use std::collections::BTreeMap;

use crate::error::{RemotingError, Result};

/// The header field map. Ordered, so encoded frames are deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtFields(pub BTreeMap<String, String>);

impl ExtFields {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Sets a key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over (key, value) in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Decodes a typed header from these fields.
    pub fn decode<H: CommandHeader>(&self) -> Result<H> {
        H::from_ext(self)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        ExtFields(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// A typed request or response header: a struct whose fields map to `extFields` keys.
/// Implemented by [`header!`](macro@crate::header) so that server and client share one definition.
pub trait CommandHeader: Sized {
    /// Renders every present field as a string.
    fn to_ext(&self) -> ExtFields;
    /// Parses the fields, failing on a missing or malformed required field.
    fn from_ext(ext: &ExtFields) -> Result<Self>;
}

/// A scalar that can sit in a header field.
pub trait HeaderScalar: Sized {
    /// Parses the field text leniently.
    fn parse_field(raw: &str) -> Option<Self>;
    /// Renders the value as Java's `toString()` would.
    fn render_field(&self) -> String;
}

impl HeaderScalar for String {
    fn parse_field(raw: &str) -> Option<Self> {
        Some(raw.to_string())
    }
    fn render_field(&self) -> String {
        self.clone()
    }
}

macro_rules! int_scalar {
    ($($t:ty),*) => {$(
        impl HeaderScalar for $t {
            fn parse_field(raw: &str) -> Option<Self> {
                let raw = raw.trim();
                raw.parse::<$t>().ok().or_else(|| {
                    // Some clients serialise integral JSON numbers as floats ("3.0").
                    raw.parse::<f64>().ok().filter(|f| f.fract() == 0.0).and_then(|f| {
                        let i = f as i64;
                        <$t>::try_from(i).ok()
                    })
                })
            }
            fn render_field(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
int_scalar!(i8, i16, i32, i64, u8, u16, u32, u64);

impl HeaderScalar for bool {
    fn parse_field(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        // Java's Boolean.parseBoolean: anything but "true" (any case) is false; "1" is what
        // the C++ client means by true.
        Some(raw.eq_ignore_ascii_case("true") || raw == "1")
    }
    fn render_field(&self) -> String {
        self.to_string()
    }
}

/// A header field type: a required scalar or an optional one.
pub trait HeaderField: Sized {
    /// Reads the field `key` from `ext`.
    fn take(ext: &ExtFields, key: &'static str) -> Result<Self>;
    /// Writes the field `key` into `ext` (nothing for `None`).
    fn put(&self, ext: &mut ExtFields, key: &'static str);
}

impl<T: HeaderScalar> HeaderField for T {
    fn take(ext: &ExtFields, key: &'static str) -> Result<Self> {
        let raw = ext.get(key).ok_or(RemotingError::MissingField(key))?;
        T::parse_field(raw).ok_or_else(|| RemotingError::InvalidField {
            key,
            value: raw.to_string(),
        })
    }
    fn put(&self, ext: &mut ExtFields, key: &'static str) {
        ext.insert(key, self.render_field());
    }
}

impl<T: HeaderScalar> HeaderField for Option<T> {
    fn take(ext: &ExtFields, key: &'static str) -> Result<Self> {
        Ok(ext.get(key).and_then(T::parse_field))
    }
    fn put(&self, ext: &mut ExtFields, key: &'static str) {
        if let Some(v) = self {
            ext.insert(key, v.render_field());
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
                let mut ext = $crate::ext::ExtFields::new();
                $($crate::ext::HeaderField::put(&self.$field, &mut ext, $key);)*
                ext
            }

            #[allow(unused_variables)]
            fn from_ext(ext: &$crate::ext::ExtFields) -> $crate::error::Result<Self> {
                Ok(Self {
                    $($field: $crate::ext::HeaderField::take(ext, $key)?,)*
                })
            }
        }
    };
}
