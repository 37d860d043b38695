//! The crate's error type.

use std::io;

use crate::codes::ResponseCode;

/// Everything that can go wrong while encoding, decoding or exchanging commands.
#[derive(Debug, thiserror::Error)]
pub enum RemotingError {
    /// A socket error.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// Connecting to a peer failed.
    #[error("connect to {addr} failed: {source}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// Why.
        source: io::Error,
    },
    /// A frame announced a length over the limit (16 MiB by default).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Announced length.
        len: i64,
        /// Limit.
        max: usize,
    },
    /// A frame whose lengths do not add up or whose header cannot be decoded.
    #[error("malformed frame: {0}")]
    MalformedFrame(String),
    /// A header field marked not-null in Java is absent.
    #[error("the custom field <{0}> is null")]
    MissingField(&'static str),
    /// A header field could not be parsed.
    #[error("the custom field <{key}> has an invalid value {value:?}")]
    InvalidField {
        /// Field name.
        key: &'static str,
        /// Raw value.
        value: String,
    },
    /// A body could not be decoded.
    #[error("malformed body: {0}")]
    MalformedBody(String),
    /// A message record could not be decoded.
    #[error("malformed message record: {0}")]
    MalformedRecord(String),
    /// No response within the deadline.
    #[error("request to {addr} timed out after {millis} ms")]
    Timeout {
        /// Peer.
        addr: String,
        /// Deadline.
        millis: u64,
    },
    /// The connection closed before a response arrived.
    #[error("connection to {0} closed")]
    ConnectionClosed(String),
    /// The peer answered with an error code.
    #[error("{code}: {remark}")]
    Response {
        /// Response code.
        code: ResponseCode,
        /// Remark text.
        remark: String,
    },
    /// A shared memory budget is used up (the connection asking for more is closed).
    #[error("memory budget exhausted: {0}")]
    BudgetExhausted(String),
    /// A value cannot be encoded in the requested form.
    #[error("cannot encode: {0}")]
    Encode(String),
}

/// Shorthand.
pub type Result<T, E = RemotingError> = std::result::Result<T, E>;
