//! TLS on the remoting port (rustls), with Java's modes and property names
//! (`TlsSystemConfig`):
//!
//! | property | meaning |
//! |---|---|
//! | `tls.server.mode` | `disabled`, `permissive` (plain and TLS on one port; Java's default), `enforcing` |
//! | `tls.server.certPath`, `tls.server.keyPath` | PEM certificate chain and private key |
//! | `tls.server.trustCertPath` | PEM CA certificates client certificates must chain to |
//! | `tls.server.need.client.auth` | `none` (default), `optional`, `require` |
//! | `tls.enable` | a client speaks TLS |
//! | `tls.client.trustCertPath` | PEM CA certificates the server's certificate must chain to |
//! | `tls.client.certPath`, `tls.client.keyPath` | the client's own certificate (mutual TLS) |
//!
//! In permissive mode the first byte a client sends tells the two apart: `0x16` (a TLS
//! handshake record) starts TLS, anything else is a plain RocketMQ frame (whose first byte is the
//! high byte of a length, never 0x16 for frames under 352 MiB). RocketMQ clients always speak
//! first, so waiting for that byte costs nothing.
//!
//! Unlike Java's client (`tls.client.authServer=false` by default), ours always verifies the
//! server's certificate: a client without `tls.client.trustCertPath` cannot speak TLS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use crate::error::{RemotingError, Result};

/// The first byte of a TLS handshake record.
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;
/// How long a TLS handshake (or the first byte, in permissive mode) may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `tls.server.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain only.
    Disabled,
    /// Plain and TLS on the same port.
    Permissive,
    /// TLS only.
    Enforcing,
}

impl TlsMode {
    /// Parses Java's spelling (any case).
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "disabled" => Ok(TlsMode::Disabled),
            "permissive" => Ok(TlsMode::Permissive),
            "enforcing" => Ok(TlsMode::Enforcing),
            other => Err(tls_error(format!(
                "tls.server.mode={other}: expected disabled, permissive or enforcing"
            ))),
        }
    }
}

fn tls_error(msg: String) -> RemotingError {
    RemotingError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| tls_error(format!("{what} {path}: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(format!(
            "{what} {path}: no certificate in the file"
        )));
    }
    Ok(certs)
}

fn key(path: &str, what: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| tls_error(format!("{what} {path}: {e}")))
}

fn roots(path: &str, what: &str) -> Result<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    for c in certs(path, what)? {
        store
            .add(c)
            .map_err(|e| tls_error(format!("{what} {path}: {e}")))?;
    }
    Ok(store)
}

/// The server's certificate and key, read again when either file changes (checked at most once
/// a second, on a handshake): certificates are renewed (cert-manager, a Kubernetes Secret
/// volume that swaps its files) without restarting the broker. A renewed pair that does not
/// load (half-written, key and certificate not matching) is logged and the previous pair kept.
#[derive(Debug)]
struct ReloadingCert {
    cert_path: String,
    key_path: String,
    state: parking_lot::Mutex<CertState>,
}

#[derive(Debug)]
struct CertState {
    /// (modified time, length) of both files when last read or checked.
    seen: Option<[(std::time::SystemTime, u64); 2]>,
    checked: std::time::Instant,
    current: Arc<rustls::sign::CertifiedKey>,
}

/// How often a handshake may look at the files.
const CERT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

impl ReloadingCert {
    fn load(cert_path: &str, key_path: &str) -> Result<Self> {
        let current = Arc::new(Self::read(cert_path, key_path)?);
        Ok(ReloadingCert {
            cert_path: cert_path.to_string(),
            key_path: key_path.to_string(),
            state: parking_lot::Mutex::new(CertState {
                seen: Self::stamp(cert_path, key_path),
                checked: std::time::Instant::now(),
                current,
            }),
        })
    }

    fn read(cert_path: &str, key_path: &str) -> Result<rustls::sign::CertifiedKey> {
        let chain = certs(cert_path, "tls.server.certPath")?;
        let key = provider()
            .key_provider
            .load_private_key(key(key_path, "tls.server.keyPath")?)
            .map_err(|e| tls_error(format!("tls.server.keyPath {key_path}: {e}")))?;
        let certified = rustls::sign::CertifiedKey::new(chain, key);
        certified
            .keys_match()
            .map_err(|e| tls_error(format!("tls.server.certPath/keyPath: {e}")))?;
        Ok(certified)
    }

    fn stamp(cert_path: &str, key_path: &str) -> Option<[(std::time::SystemTime, u64); 2]> {
        let one = |p: &str| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        };
        Some([one(cert_path)?, one(key_path)?])
    }
}

impl rustls::server::ResolvesServerCert for ReloadingCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let mut st = self.state.lock();
        if st.checked.elapsed() >= CERT_CHECK_INTERVAL {
            st.checked = std::time::Instant::now();
            let now = Self::stamp(&self.cert_path, &self.key_path);
            if now.is_some() && now != st.seen {
                match Self::read(&self.cert_path, &self.key_path) {
                    Ok(k) => {
                        st.current = Arc::new(k);
                        st.seen = now;
                        tracing::info!(cert = %self.cert_path, "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "renewed TLS certificate not loaded; keeping the previous one");
                    }
                }
            }
        }
        Some(st.current.clone())
    }
}

/// The server side: the mode and, unless disabled, the rustls acceptor.
#[derive(Clone)]
pub struct TlsServer {
    mode: TlsMode,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("mode", &self.mode)
            .finish()
    }
}

impl TlsServer {
    /// Reads the `tls.server.*` properties (absent mode: disabled, so a server without TLS
    /// settings is unchanged). Certificate problems are errors at start.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self> {
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mode = match get("tls.server.mode") {
            Some(m) => TlsMode::parse(m)?,
            None => TlsMode::Disabled,
        };
        if mode == TlsMode::Disabled {
            return Ok(TlsServer {
                mode,
                acceptor: None,
            });
        }
        let cert = get("tls.server.certPath")
            .ok_or_else(|| tls_error("tls.server.certPath is required with TLS on".into()))?;
        let key_path = get("tls.server.keyPath")
            .ok_or_else(|| tls_error("tls.server.keyPath is required with TLS on".into()))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(e.to_string()))?;
        let client_auth = get("tls.server.need.client.auth").unwrap_or("none");
        let builder = match client_auth {
            "none" => builder.with_no_client_auth(),
            "optional" | "require" => {
                let trust = get("tls.server.trustCertPath").ok_or_else(|| {
                    tls_error(
                        "tls.server.trustCertPath is required to check client certificates".into(),
                    )
                })?;
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(trust, "tls.server.trustCertPath")?),
                    provider(),
                );
                let verifier = if client_auth == "optional" {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(
                    verifier.build().map_err(|e| tls_error(e.to_string()))?,
                )
            }
            other => {
                return Err(tls_error(format!(
                    "tls.server.need.client.auth={other}: expected none, optional or require"
                )));
            }
        };
        let config = builder.with_cert_resolver(Arc::new(ReloadingCert::load(cert, key_path)?));
        Ok(TlsServer {
            mode,
            acceptor: Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        })
    }

    /// The mode.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// True when connections need the async [`accept`](Self::accept) step.
    pub fn is_enabled(&self) -> bool {
        self.acceptor.is_some()
    }

    /// Classifies and, for TLS, handshakes an accepted connection. `Ok(None)`: a plain
    /// connection, to be served as it is. `Err`: drop the connection (a plain client on an
    /// enforcing port, a failed handshake, a timeout).
    pub async fn accept(
        &self,
        stream: TcpStream,
    ) -> std::io::Result<std::result::Result<tokio_rustls::server::TlsStream<TcpStream>, TcpStream>>
    {
        let Some(acceptor) = &self.acceptor else {
            return Ok(Err(stream));
        };
        let work = async {
            let mut first = [0u8; 1];
            let n = stream.peek(&mut first).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before the first byte",
                ));
            }
            if first[0] != TLS_HANDSHAKE_BYTE {
                return match self.mode {
                    TlsMode::Enforcing => Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        "plain connection on a TLS-only port (tls.server.mode=enforcing)",
                    )),
                    _ => Ok(Err(stream)),
                };
            }
            acceptor.accept(stream).await.map(Ok)
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
    }
}

/// The client side (`tls.enable=true`).
#[derive(Clone)]
pub struct TlsClient {
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    /// A client trusting the CA certificates in `trust_cert_path`, optionally presenting its own
    /// certificate (`cert_and_key`: PEM chain and key paths) for `need.client.auth`.
    pub fn new(trust_cert_path: &str, cert_and_key: Option<(&str, &str)>) -> Result<Self> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(e.to_string()))?
            .with_root_certificates(roots(trust_cert_path, "tls.client.trustCertPath")?);
        let config = match cert_and_key {
            None => builder.with_no_client_auth(),
            Some((c, k)) => builder
                .with_client_auth_cert(
                    certs(c, "tls.client.certPath")?,
                    key(k, "tls.client.keyPath")?,
                )
                .map_err(|e| tls_error(format!("tls.client.certPath/keyPath: {e}")))?,
        };
        Ok(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Reads `tls.enable`, `tls.client.trustCertPath`, `tls.client.certPath`,
    /// `tls.client.keyPath`; `None` when `tls.enable` is not true.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Option<Self>> {
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if get("tls.enable") != Some("true") {
            return Ok(None);
        }
        let trust = get("tls.client.trustCertPath").ok_or_else(|| {
            tls_error("tls.client.trustCertPath is required with tls.enable=true".into())
        })?;
        let own = get("tls.client.certPath").zip(get("tls.client.keyPath"));
        Self::new(trust, own).map(Some)
    }

    /// Handshakes over `stream` to `addr` (`host:port`; the host is the name checked against
    /// the certificate: an IP address or a DNS name).
    pub async fn connect(
        &self,
        addr: &str,
        stream: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let host = match addr.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => addr,
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.connector.connect(name, stream))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
    }
}

/// Socket addresses of a TCP stream (for [`crate::Connection::spawn_io`]).
pub fn addrs(stream: &TcpStream) -> std::io::Result<(SocketAddr, SocketAddr)> {
    Ok((stream.peer_addr()?, stream.local_addr()?))
}
