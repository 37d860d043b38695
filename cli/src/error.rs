//! The crate's error type: every failure is one line for stderr.

use remoting::{RemotingError, ResponseCode};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// A server could not be reached.
    #[error("connect to {addr} failed: {reason}")]
    Connect {
        /// Address dialled.
        addr: String,
        /// Why, without the OS error number.
        reason: String,
    },
    /// A server answered with an error code.
    #[error("{addr} answered {code}: {remark}")]
    Response {
        /// Server address.
        addr: String,
        /// Response code.
        code: ResponseCode,
        /// Its remark.
        remark: String,
    },
    /// Any other protocol failure (timeout, closed connection, bad body).
    #[error("{addr}: {source}")]
    Remoting {
        /// Server address.
        addr: String,
        /// What went wrong.
        source: RemotingError,
    },
    /// A body could not be decoded.
    #[error("{0}")]
    Decode(String),
    /// Writing the output failed.
    #[error("write output: {0}")]
    Output(#[from] std::io::Error),
    /// A call through the client library failed.
    #[error("{0}")]
    Client(#[from] client::ClientError),
    /// A thread of the command's own could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// No name server address given.
    #[error("no name server address: use -n 'host:port;host:port' or set NAMESRV_ADDR")]
    NoNameServer,
}

impl CliError {
    /// Wraps a client error for `addr`, giving connect failures the one-line form
    /// `connect to <addr> failed: Connection refused`.
    pub fn from_remoting(addr: &str, e: RemotingError) -> Self {
        match e {
            RemotingError::Connect { addr, source } => {
                let text = source.to_string();
                // "Connection refused (os error 111)" → "Connection refused".
                let reason = match text.find(" (os error") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                CliError::Connect { addr, reason }
            }
            RemotingError::Response { code, remark } => CliError::Response {
                addr: addr.to_string(),
                code,
                remark,
            },
            source => CliError::Remoting {
                addr: addr.to_string(),
                source,
            },
        }
    }

    /// True when the server could not be reached at all (another server may be tried).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            CliError::Connect { .. }
                | CliError::Remoting {
                    source: RemotingError::Timeout { .. }
                        | RemotingError::ConnectionClosed(_)
                        | RemotingError::Io(_),
                    ..
                }
        )
    }
}

/// Shorthand.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
