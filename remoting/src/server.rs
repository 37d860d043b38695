//! The accept loop shared by the name server and the broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::connection::{Connection, ConnectionConfig, RequestHandler};
use crate::frame::FrameBudget;

/// Default [`ServerConfig::frame_budget`]: four frames of the largest size.
pub const DEFAULT_FRAME_BUDGET: usize = 4 * crate::frame::DEFAULT_MAX_FRAME;

/// Limits of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections served at once. A client connecting beyond it is accepted and closed at once
    /// (never left waiting in the listen backlog), so it fails fast and tries elsewhere.
    pub max_connections: usize,
    /// Bytes of incomplete frames all connections together may buffer (each connection reads
    /// up to [`FRAME_BUDGET_ALLOWANCE`](crate::frame::FRAME_BUDGET_ALLOWANCE) freely). A
    /// connection that needs more than is left is closed. Default [`DEFAULT_FRAME_BUDGET`].
    pub frame_budget: usize,
    /// Per-connection limits (its `frame_budget` is replaced by the server's shared one); the
    /// default is [`ConnectionConfig::server`].
    pub connection: ConnectionConfig,
    /// TLS (`tls.server.mode`); `None` is plain only.
    pub tls: Option<crate::tls::TlsServer>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            frame_budget: DEFAULT_FRAME_BUDGET,
            connection: ConnectionConfig::server(),
            tls: None,
        }
    }
}

/// Decrements the live-connection count when the connection's watcher ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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
    let live = Arc::new(AtomicUsize::new(0));
    let max = config.max_connections.max(1);
    let mut conn_config = config.connection.clone();
    conn_config.frame_budget = Some(FrameBudget::new(
        config.frame_budget.max(conn_config.max_frame),
    ));
    let local = listener.local_addr().ok();
    info!(addr = ?local, max_connections = max, frame_budget = config.frame_budget, "remoting server listening");
    let mut backoff = Duration::from_millis(10);
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = Duration::from_millis(10);
                a
            }
            Err(e) => {
                warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if live.load(Ordering::Acquire) >= max {
            // Closed at once: the client sees the connection end instead of waiting for a
            // timeout, and the listen backlog never fills up behind it.
            refused += 1;
            if refused.is_power_of_two() {
                warn!(%peer, max_connections = max, refused, "connection limit reached; refusing connections");
            }
            drop(stream);
            continue;
        }
        live.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(live.clone());
        if let Some(tls) = config.tls.clone().filter(|t| t.is_enabled()) {
            // Classify and handshake off the accept loop: a slow or silent client must not
            // hold up the next accept.
            let (handler, conn_config, shutdown) =
                (handler.clone(), conn_config.clone(), shutdown.clone());
            tokio::spawn(async move {
                let Ok((peer, local)) = crate::tls::addrs(&stream) else {
                    return;
                };
                let _ = stream.set_nodelay(true);
                let conn = match tls.accept(stream).await {
                    Ok(Ok(session)) => Ok(Connection::spawn_io(
                        session,
                        peer,
                        local,
                        handler,
                        &conn_config,
                        &shutdown,
                    )),
                    Ok(Err(plain)) => Connection::spawn(plain, handler, &conn_config, &shutdown)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match conn {
                    Ok(conn) => {
                        debug!(%peer, id = conn.id(), "connection accepted");
                        conn.closed().await;
                    }
                    Err(e) => debug!(%peer, error = %e, "connection refused (TLS)"),
                }
                drop(slot);
            });
            continue;
        }
        match Connection::spawn(stream, handler.clone(), &conn_config, &shutdown) {
            Ok(conn) => {
                debug!(peer = %conn.peer(), id = conn.id(), "connection accepted");
                tokio::spawn(async move {
                    conn.closed().await;
                    drop(slot);
                });
            }
            Err(e) => debug!(error = %e, "connection dropped before it started"),
        }
    }
    info!(addr = ?local, "remoting server stopped accepting");
}
