//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can stop the name server or fail one of its operations.
#[derive(Debug, thiserror::Error)]
pub enum NamesrvError {
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "rename", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A persisted file holds something we cannot read.
    #[error("corrupt file {path}: {reason}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// A configuration value is unusable.
    #[error("invalid config value {key}={value:?}: {reason}")]
    Config {
        /// Key.
        key: String,
        /// Raw value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The listen socket could not be opened.
    #[error("listen on {addr} failed: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// Why.
        source: io::Error,
    },
    /// A protocol-level failure (malformed header or body, encode error).
    #[error(transparent)]
    Remoting(#[from] remoting::RemotingError),
}

/// Shorthand.
pub type Result<T, E = NamesrvError> = std::result::Result<T, E>;
