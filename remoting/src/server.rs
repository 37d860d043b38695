//! The accept loop shared by the name server and the broker.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::connection::{Connection, ConnectionConfig, RequestHandler};

/// Limits of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Per-connection limits.
    pub connection: ConnectionConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            connection: ConnectionConfig::default(),
        }
    }
}

/// Accepts connections on `listener` until `shutdown` is cancelled, then closes every connection.
/// Accept errors (e.g. out of file descriptors) back off and retry instead of ending the server.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn RequestHandler>,
    config: ServerConfig,
    shutdown: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let local = listener.local_addr().ok();
    info!(addr = ?local, "remoting server listening");
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(10);
                stream
            }
            Err(e) => {
                warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        match Connection::spawn(stream, handler.clone(), &config.connection, &shutdown) {
            Ok(conn) => {
                debug!(peer = %conn.peer(), id = conn.id(), "connection accepted");
                tokio::spawn(async move {
                    conn.closed().await;
                    drop(permit);
                });
            }
            Err(e) => debug!(error = %e, "connection dropped before it started"),
        }
    }
    info!(addr = ?local, "remoting server stopped accepting");
}
