//! The crate's error type.

use remoting::{RemotingError, ResponseCode};

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport or codec failure (connect, timeout, closed connection, malformed frame).
    #[error("remoting: {0}")]
    Remoting(#[from] RemotingError),
    /// A broker or name server answered with an error code.
    #[error("{addr} answered {code}: {remark}")]
    Response {
        /// Who answered.
        addr: String,
        /// Response code.
        code: ResponseCode,
        /// Remark text.
        remark: String,
    },
    /// The name servers know no route for the topic (Java's "No route info of this topic").
    #[error("No route info of this topic: {0}")]
    NoRoute(String),
    /// No name server address configured.
    #[error("no name server address configured (namesrv_addr is empty)")]
    NoNameServer,
    /// The route names a broker group without a usable address.
    #[error("no address for broker {0}")]
    NoBrokerAddr(String),
    /// A message that cannot be sent as it is.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// No reply arrived for a request in time (Java `RequestTimeoutException`).
    #[error("wait reply message timeout, correlation id {correlation_id}, {millis} ms")]
    RequestTimeout {
        /// The request's `CORRELATION_ID`.
        correlation_id: String,
        /// The timeout.
        millis: u64,
    },
    /// A call that makes no sense in the current state (not started, shut down).
    #[error("invalid state: {0}")]
    State(String),
    /// An argument out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A response without the fields or body it must carry.
    #[error("malformed response from {addr}: {reason}")]
    Malformed {
        /// Who answered.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// Every attempt of a send failed; the last error is kept.
    #[error("send to topic {topic} failed after {attempts} attempt(s): {last}")]
    SendFailed {
        /// Topic.
        topic: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Box<ClientError>,
    },
    /// The auto-batch carrying this message failed as a whole
    /// ([`ProducerConfig::auto_batch`](crate::producer::ProducerConfig::auto_batch)); every
    /// message of it gets the same failure.
    #[error("the auto-batch carrying this message failed: {0}")]
    BatchFailed(std::sync::Arc<ClientError>),
    /// A compressed body that does not inflate.
    #[error("cannot decompress message body: {0}")]
    Decompress(String),
}

impl ClientError {
    /// The response code, when a peer answered with one.
    pub fn response_code(&self) -> Option<ResponseCode> {
        match self {
            ClientError::Response { code, .. } => Some(*code),
            ClientError::SendFailed { last, .. } => last.response_code(),
            ClientError::BatchFailed(e) => e.response_code(),
            ClientError::Remoting(RemotingError::Response { code, .. }) => Some(*code),
            _ => None,
        }
    }
}

/// Shorthand.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
