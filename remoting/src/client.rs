//! An async client: one connection per address, reused by every request to that address.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use crate::codes::ResponseCode;
use crate::command::RemotingCommand;
use crate::connection::{Connection, ConnectionConfig, RejectRequests, RequestHandler};
use crate::error::{RemotingError, Result};

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// How long a connect may take.
    pub connect_timeout: Duration,
    /// Per-connection limits.
    pub connection: ConnectionConfig,
    /// Plain-ACL credentials: when set, every request sent through [`RemotingClient::invoke`]
    /// and [`RemotingClient::invoke_oneway`] is signed with them (see [`crate::acl`]).
    pub credentials: Option<crate::acl::SessionCredentials>,
    /// TLS (`tls.enable`): every connection handshakes with it; `None` is plain.
    pub tls: Option<crate::tls::TlsClient>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(3),
            connection: ConnectionConfig::default(),
            credentials: None,
            tls: None,
        }
    }
}

/// Sends commands to any number of peers. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct RemotingClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    handler: Arc<dyn RequestHandler>,
    // One async lock per address, so concurrent first requests open one connection, not many.
    conns: parking_lot::Mutex<HashMap<String, Arc<AsyncMutex<Option<Connection>>>>>,
    shutdown: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl RemotingClient {
    /// A client that rejects requests from its peers.
    pub fn new(config: ClientConfig) -> Self {
        Self::with_handler(config, Arc::new(RejectRequests))
    }

    /// A client whose peers' requests (broker callbacks) go to `handler`.
    pub fn with_handler(config: ClientConfig, handler: Arc<dyn RequestHandler>) -> Self {
        RemotingClient {
            inner: Arc::new(Inner {
                config,
                handler,
                conns: parking_lot::Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// The live connection to `addr`, opening one if there is none (or the last one closed).
    pub async fn connection(&self, addr: &str) -> Result<Connection> {
        // Every request comes here: find a live connection without copying the address or
        // queueing on the slot's async lock (64 sending tasks would all park on it).
        if let Some(conn) = self.inner.conns.lock().get(addr).and_then(|slot| {
            let guard = slot.try_lock().ok()?;
            guard.as_ref().filter(|c| !c.is_closed()).cloned()
        }) {
            return Ok(conn);
        }
        let slot = self
            .inner
            .conns
            .lock()
            .entry(addr.to_string())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        let connect =
            tokio::time::timeout(self.inner.config.connect_timeout, TcpStream::connect(addr));
        let stream = match connect.await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(RemotingError::Connect {
                    addr: addr.to_string(),
                    source,
                });
            }
            Err(_) => {
                return Err(RemotingError::Connect {
                    addr: addr.to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
                });
            }
        };
        let conn = match &self.inner.config.tls {
            None => Connection::spawn(
                stream,
                self.inner.handler.clone(),
                &self.inner.config.connection,
                &self.inner.shutdown,
            )?,
            Some(tls) => {
                let (peer, local) = crate::tls::addrs(&stream)?;
                let _ = stream.set_nodelay(true);
                let session =
                    tls.connect(addr, stream)
                        .await
                        .map_err(|source| RemotingError::Connect {
                            addr: addr.to_string(),
                            source,
                        })?;
                Connection::spawn_io(
                    session,
                    peer,
                    local,
                    self.inner.handler.clone(),
                    &self.inner.config.connection,
                    &self.inner.shutdown,
                )
            }
        };
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Sends `request` to `addr` and waits for the response.
    pub async fn invoke(
        &self,
        addr: &str,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        self.sign(&mut request);
        let deadline = tokio::time::Instant::now() + timeout;
        let conn = tokio::time::timeout_at(deadline, self.connection(addr))
            .await
            .map_err(|_| RemotingError::Timeout {
                addr: addr.to_string(),
                millis: timeout.as_millis() as u64,
            })??;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let result = conn.request(request, left).await;
        if matches!(result, Err(RemotingError::ConnectionClosed(_))) {
            self.close(addr);
        }
        result
    }

    /// Like [`invoke`](Self::invoke), but any response code other than SUCCESS is an error.
    pub async fn invoke_ok(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let response = self.invoke(addr, request, timeout).await?;
        if response.code != ResponseCode::SUCCESS.0 {
            return Err(RemotingError::Response {
                code: response.response_code(),
                remark: response.remark.unwrap_or_default(),
            });
        }
        Ok(response)
    }

    /// Sends a oneway request to `addr`.
    pub async fn invoke_oneway(&self, addr: &str, mut request: RemotingCommand) -> Result<()> {
        self.sign(&mut request);
        let conn = self.connection(addr).await?;
        conn.oneway(request).await
    }

    /// Signs `request` with the configured credentials, if any.
    fn sign(&self, request: &mut RemotingCommand) {
        if let Some(creds) = &self.inner.config.credentials {
            creds.sign(request);
        }
    }

    /// Closes the connection to `addr`, if any.
    pub fn close(&self, addr: &str) {
        if let Some(slot) = self.inner.conns.lock().remove(addr)
            && let Ok(guard) = slot.try_lock()
            && let Some(conn) = guard.as_ref()
        {
            conn.close();
        }
    }

    /// Closes every connection.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.conns.lock().clear();
    }
}
