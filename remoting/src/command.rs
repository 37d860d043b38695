//! The logical remoting command (spec §1.2): what every frame carries, whichever header encoding
//! was used on the wire.

use bytes::Bytes;

use crate::codes::{RequestCode, ResponseCode};
use crate::ext::{CommandHeader, ExtFields};

/// Flag bit 0: this command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Flag bit 1: this request is oneway; no response may be sent.
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// The `MQVersion` ordinal we put on every command we send: V4_9_8 (spec §2.3).
pub const CURRENT_VERSION: i32 = 409;

/// How the header bytes of a frame are encoded (the high byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    /// fastjson-produced JSON object (the default of every Java release).
    #[default]
    Json,
    /// The compact binary form (spec §1.4).
    RocketMq,
}

impl SerializeType {
    /// The byte stored in the high byte of the header-length word.
    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// The serialize type for a wire byte, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }
}

/// The sender's language (`LanguageCode`). Unknown names and bytes decode to [`LanguageCode::Other`]
/// because real clients send values older servers do not know (spec §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub enum LanguageCode {
    #[default]
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    NodeJs,
}

const LANGUAGES: [(LanguageCode, &str); 14] = [
    (LanguageCode::Java, "JAVA"),
    (LanguageCode::Cpp, "CPP"),
    (LanguageCode::Dotnet, "DOTNET"),
    (LanguageCode::Python, "PYTHON"),
    (LanguageCode::Delphi, "DELPHI"),
    (LanguageCode::Erlang, "ERLANG"),
    (LanguageCode::Ruby, "RUBY"),
    (LanguageCode::Other, "OTHER"),
    (LanguageCode::Http, "HTTP"),
    (LanguageCode::Go, "GO"),
    (LanguageCode::Php, "PHP"),
    (LanguageCode::Oms, "OMS"),
    (LanguageCode::Rust, "RUST"),
    (LanguageCode::NodeJs, "NODE_JS"),
];

impl LanguageCode {
    /// The wire byte (binary header) of this language.
    pub fn code(self) -> u8 {
        LANGUAGES.iter().position(|(l, _)| *l == self).unwrap_or(7) as u8
    }

    /// The enum name used in JSON headers.
    pub fn name(self) -> &'static str {
        LANGUAGES[self.code() as usize].1
    }

    /// Decodes a wire byte; unknown bytes are `Other`.
    pub fn from_code(code: u8) -> Self {
        LANGUAGES
            .get(code as usize)
            .map(|(l, _)| *l)
            .unwrap_or(LanguageCode::Other)
    }

    /// Decodes a JSON name; unknown names are `Other`.
    pub fn from_name(name: &str) -> Self {
        LANGUAGES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(l, _)| *l)
            .unwrap_or(LanguageCode::Other)
    }
}

/// Bodies (`Connection.language`) carry the enum name, like the JSON header.
impl serde::Serialize for LanguageCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Accepts a name (any case) or the wire byte as a number; anything unknown is `Other`.
impl<'de> serde::Deserialize<'de> for LanguageCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = LanguageCode;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a language name or code")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LanguageCode, E> {
                Ok(LanguageCode::from_name(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<LanguageCode, E> {
                Ok(u8::try_from(v).map_or(LanguageCode::Other, LanguageCode::from_code))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<LanguageCode, E> {
                Ok(u8::try_from(v).map_or(LanguageCode::Other, LanguageCode::from_code))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<LanguageCode, E> {
                Ok(LanguageCode::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// One request, response or oneway message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemotingCommand {
    /// Request code (requests) or response code (responses).
    pub code: i32,
    /// Sender's language.
    pub language: LanguageCode,
    /// Sender's `MQVersion` ordinal.
    pub version: i32,
    /// Request id; a response carries its request's.
    pub opaque: i32,
    /// Bit 0 response, bit 1 oneway.
    pub flag: i32,
    /// Human-readable text, usually on errors.
    pub remark: Option<String>,
    /// The "custom header": every header field, stringified.
    pub ext_fields: ExtFields,
    /// The body; empty when absent.
    pub body: Bytes,
    /// Encoding of the header on the wire. Responses use their request's.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A new request with this code and header fields.
    pub fn request(code: RequestCode, ext_fields: ExtFields) -> Self {
        RemotingCommand {
            code: code.0,
            language: LanguageCode::Java,
            version: CURRENT_VERSION,
            ext_fields,
            ..Default::default()
        }
    }

    /// The response to `self` (same opaque and serialize type) with `code` and an optional remark.
    pub fn response_to(&self, code: ResponseCode, remark: impl Into<Option<String>>) -> Self {
        RemotingCommand {
            code: code.0,
            language: LanguageCode::Java,
            version: CURRENT_VERSION,
            opaque: self.opaque,
            flag: FLAG_RESPONSE,
            remark: remark.into(),
            serialize_type: self.serialize_type,
            ..Default::default()
        }
    }

    /// A SUCCESS response to `self`.
    pub fn success(&self) -> Self {
        self.response_to(ResponseCode::SUCCESS, None)
    }

    /// Replaces the header fields (builder style).
    pub fn with_ext(mut self, ext_fields: ExtFields) -> Self {
        self.ext_fields = ext_fields;
        self
    }

    /// Replaces the body (builder style).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A new request with this code and typed header.
    pub fn request_with<H: CommandHeader>(code: RequestCode, header: &H) -> Self {
        Self::request(code, header.to_ext())
    }

    /// Replaces the header fields with a typed header's (builder style).
    pub fn with_header<H: CommandHeader>(self, header: &H) -> Self {
        self.with_ext(header.to_ext())
    }

    /// Decodes the typed header of this command. A missing required field is
    /// [`RemotingError::MissingField`](crate::RemotingError::MissingField), whose text is
    /// Java's (`"the custom field <x> is null"`), fit for a SYSTEM_ERROR remark.
    pub fn decode_header<H: CommandHeader>(&self) -> crate::error::Result<H> {
        H::from_ext(&self.ext_fields)
    }

    /// The request code of a request.
    pub fn request_code(&self) -> RequestCode {
        RequestCode(self.code)
    }

    /// The response code of a response.
    pub fn response_code(&self) -> ResponseCode {
        ResponseCode(self.code)
    }

    /// True when flag bit 0 is set.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// True when flag bit 1 is set: no response may be sent.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Marks this request oneway.
    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    /// The remark, or an empty string.
    pub fn remark_str(&self) -> &str {
        self.remark.as_deref().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::offset::{GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader};

    #[test]
    fn typed_header_helpers() {
        let h = GetMaxOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 3,
            ..Default::default()
        };
        let req = RemotingCommand::request_with(RequestCode::GET_MAX_OFFSET, &h);
        assert_eq!(req.decode_header::<GetMaxOffsetRequestHeader>().unwrap(), h);
        let resp = req
            .success()
            .with_header(&GetMaxOffsetResponseHeader { offset: 9 });
        assert_eq!(resp.ext_fields.get("offset"), Some("9"));
        let err = resp
            .decode_header::<GetMaxOffsetRequestHeader>()
            .unwrap_err();
        assert_eq!(err.to_string(), "the custom field <topic> is null");
    }

    #[test]
    fn language_serde() {
        let v: Vec<LanguageCode> = serde_json::from_str(r#"["JAVA","go",9,300,null,"X"]"#).unwrap();
        assert_eq!(
            v,
            [
                LanguageCode::Java,
                LanguageCode::Go,
                LanguageCode::Go,
                LanguageCode::Other,
                LanguageCode::Other,
                LanguageCode::Other
            ]
        );
        assert_eq!(
            serde_json::to_string(&LanguageCode::NodeJs).unwrap(),
            r#""NODE_JS""#
        );
    }
}
