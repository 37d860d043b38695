//! The crate's error type.

use crate::config::ConfigError;

/// Everything that can stop the broker or one of its operations.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be read or written.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// No name server address was given.
    #[error(
        "no name server address: set namesrvAddr in the config file, pass -n host:port, or set NAMESRV_ADDR"
    )]
    NoNamesrv,
    /// The advertised address could not be determined.
    #[error("cannot determine the address to advertise (set brokerIP1): {0}")]
    NoAdvertisedAddress(String),
    /// The store failed to open or answer.
    #[error("store error: {0}")]
    Store(String),
    /// A persisted file is malformed.
    #[error("malformed {path}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The plain ACL file is missing or invalid (`aclEnable=true`).
    #[error(transparent)]
    Acl(#[from] crate::acl::AclError),
    /// A protocol error.
    #[error(transparent)]
    Remoting(#[from] remoting::RemotingError),
}

/// Shorthand.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
