//! The console's error type: every failure becomes an HTTP status and a one-line message that
//! the page shows as it is (never a stack trace or a blank page).

use hyper::StatusCode;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The cluster answered with an error, or could not be reached (name server down, broker
    /// gone).
    #[error("{0}")]
    Cluster(#[from] client::ClientError),
    /// An `mqadmin`-layer call failed.
    #[error("{0}")]
    Admin(#[from] cli::error::CliError),
    /// The request itself is wrong (missing field, bad number, bad JSON).
    #[error("{0}")]
    BadRequest(String),
    /// No such page, topic, group or message.
    #[error("{0}")]
    NotFound(String),
    /// A state change without a valid token.
    #[error("login required: {0}")]
    Unauthorized(String),
    /// A state change on a read-only console.
    #[error("{0}")]
    ReadOnly(String),
}

impl ConsoleError {
    /// The HTTP status that carries this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::Cluster(e) if unreachable(e) => StatusCode::BAD_GATEWAY,
            ConsoleError::Cluster(client::ClientError::NoRoute(_)) => StatusCode::NOT_FOUND,
            ConsoleError::Cluster(_) | ConsoleError::Admin(_) => StatusCode::BAD_GATEWAY,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ConsoleError::ReadOnly(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The message the page shows: transport failures get a hint of what is probably down.
    pub fn message(&self) -> String {
        match self {
            ConsoleError::Cluster(e) if unreachable(e) => {
                format!("cannot reach the cluster ({e}); is the name server or broker running?")
            }
            ConsoleError::Admin(e) if e.is_unreachable() => {
                format!("cannot reach the cluster ({e}); is the name server or broker running?")
            }
            other => other.to_string(),
        }
    }
}

/// Whether a client error means "nobody answered" rather than "somebody said no".
fn unreachable(e: &client::ClientError) -> bool {
    matches!(
        e,
        client::ClientError::Remoting(_) | client::ClientError::NoNameServer
    )
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, ConsoleError>;
