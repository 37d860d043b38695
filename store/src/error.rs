//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a named file.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process holds the store's `lock` file.
    #[error("store directory {0} is locked by another process")]
    Locked(PathBuf),
    /// A configuration value is unusable.
    #[error("invalid store config: {0}")]
    Config(String),
    /// A record failed verification.
    #[error("corrupt record at commit-log offset {offset}: {reason}")]
    Corrupt {
        /// Commit-log offset.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A message could not be encoded (bad topic, properties or size).
    #[error("illegal message: {0}")]
    Message(#[from] remoting::RemotingError),
    /// The store hit a fatal error (failed fsync) and refuses further writes.
    #[error("store stopped after a fatal error: {0}")]
    Fatal(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
