//! The operator's error type.

/// Everything that can go wrong in the operator library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes API call failed ({context}): {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The object lacks something the API server always sets (name, namespace, uid).
    #[error("object is missing {0}")]
    MissingField(&'static str),
    /// Rendering a broker.conf from the plan failed (a bug or an unchecked spec value).
    #[error("broker config for {broker}: {source}")]
    BrokerConfig {
        /// Pod or process the config was for.
        broker: String,
        /// The broker's own complaint.
        #[source]
        source: broker::ConfigError,
    },
    /// Serializing an object failed.
    #[error("serialization failed: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Reading a cluster file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A cluster file is not a valid RocketMQCluster.
    #[error("{path} is not a RocketMQCluster: {message}")]
    BadClusterFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A cluster file that parses but asks for something the operator refuses (a semantic
    /// error, not a malformed file).
    #[error("{path}: refused: {message}")]
    Refused {
        /// The file.
        path: String,
        /// Why it is refused.
        message: String,
    },
    /// `operator local status` found no supervisor in the directory.
    #[error("not running in {0}")]
    NotRunning(String),
    /// A broker admin call failed.
    #[error("broker admin call to {addr} failed: {message}")]
    Admin {
        /// Broker address.
        addr: String,
        /// What failed.
        message: String,
    },
    /// This replica stopped holding the leader Lease; it must stop reconciling.
    #[error("lost the leader lease {0}: another replica may lead now")]
    LostLeadership(String),
    /// A local process could not be started or supervised.
    #[error("local process {name}: {message}")]
    Process {
        /// Process name.
        name: String,
        /// What failed.
        message: String,
    },
}

/// Result with the operator's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a kube error with what was being done.
    pub fn kube(context: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            context: context.into(),
            source,
        }
    }
}
