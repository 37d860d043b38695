//! Helpers shared by the integration tests: an in-process server on 127.0.0.1:0 with a small
//! handler, raw frames, and a raw-socket reader.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use remoting::codes::{RequestCode, ResponseCode};
use remoting::connection::not_supported;
use remoting::frame;
use remoting::{
    ClientConfig, Connection, ExtFields, RemotingClient, RemotingCommand, RequestHandler,
    ServerConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The code the test handler answers with SUCCESS (GET_MAX_OFFSET, arbitrary).
pub const OK_CODE: RequestCode = RequestCode::GET_MAX_OFFSET;
/// A code the handler answers after sleeping `sleepMs` (ext field) and echoing field `n`.
pub const ECHO_CODE: RequestCode = RequestCode::QUERY_CONSUMER_OFFSET;

/// Answers [`OK_CODE`] with SUCCESS, [`ECHO_CODE`] with an echo after an optional delay, and
/// everything else with REQUEST_CODE_NOT_SUPPORTED.
pub struct TestHandler;

impl RequestHandler for TestHandler {
    fn handle<'a>(
        &'a self,
        _conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            let code = request.request_code();
            if code == OK_CODE {
                let mut ext = ExtFields::new();
                ext.insert("offset", "42");
                Some(request.success().with_ext(ext))
            } else if code == ECHO_CODE {
                if let Some(ms) = request
                    .ext_fields
                    .get("sleepMs")
                    .and_then(|v| v.parse().ok())
                {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                let mut ext = ExtFields::new();
                if let Some(n) = request.ext_fields.get("n") {
                    ext.insert("n", n);
                }
                Some(
                    request
                        .success()
                        .with_ext(ext)
                        .with_body(request.body.clone()),
                )
            } else {
                Some(not_supported(&request))
            }
        })
    }
}

/// Holds every [`ECHO_CODE`] request until the gate opens (as a SYNC_MASTER send waits for
/// its slave's ack), counts it in `released`, then answers like [`TestHandler`]; answers every
/// other request at once, with a body of `big` bytes when `big` is not zero.
pub struct Gated {
    pub open: tokio::sync::watch::Receiver<bool>,
    pub released: Arc<std::sync::atomic::AtomicUsize>,
    pub big: usize,
}

impl Gated {
    /// A closed gate (open it with `send(true)`) and a handler behind it.
    pub fn new(big: usize) -> (tokio::sync::watch::Sender<bool>, Arc<Gated>) {
        let (gate, open) = tokio::sync::watch::channel(false);
        let released = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (
            gate,
            Arc::new(Gated {
                open,
                released,
                big,
            }),
        )
    }
}

impl RequestHandler for Gated {
    fn handle<'a>(
        &'a self,
        conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            if request.request_code() == ECHO_CODE {
                let mut open = self.open.clone();
                let _ = open.wait_for(|o| *o).await;
                self.released
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            } else if self.big > 0 {
                return Some(
                    request
                        .success()
                        .with_body(Bytes::from(vec![7u8; self.big])),
                );
            }
            TestHandler.handle(conn, request).await
        })
    }
}

/// A running server; dropping it does not stop it, call [`TestServer::stop`].
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Stops accepting and closes every connection.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Starts `handler` on 127.0.0.1:0 (or `addr`).
pub async fn start_on(
    addr: &str,
    handler: Arc<dyn RequestHandler>,
    config: ServerConfig,
) -> TestServer {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(remoting::serve(listener, handler, config, shutdown.clone()));
    TestServer {
        addr,
        shutdown,
        task,
    }
}

/// Starts the [`TestHandler`] server.
pub async fn start() -> TestServer {
    start_on(
        "127.0.0.1:0",
        Arc::new(TestHandler),
        ServerConfig::default(),
    )
    .await
}

/// A client with short timeouts.
pub fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig {
        connect_timeout: Duration::from_secs(3),
        ..Default::default()
    })
}

/// Asserts that a fresh client still gets SUCCESS from the server.
pub async fn assert_alive(addr: SocketAddr) {
    let c = client();
    let r = c
        .invoke(
            &addr.to_string(),
            RemotingCommand::request(OK_CODE, ExtFields::new()),
            Duration::from_secs(5),
        )
        .await
        .expect("server must keep serving other clients");
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    assert_eq!(r.ext_fields.get("offset"), Some("42"));
    c.shutdown();
}

/// Encodes a command as a whole frame.
pub fn encode(cmd: &RemotingCommand) -> Bytes {
    frame::encode_to_bytes(cmd).unwrap()
}

/// Reads one frame from a raw socket (None on EOF or after 5 s).
pub async fn read_frame(stream: &mut TcpStream) -> Option<RemotingCommand> {
    let fut = async {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.ok()?;
        let n = u32::from_be_bytes(len) as usize;
        let mut buf = BytesMut::zeroed(n);
        stream.read_exact(&mut buf).await.ok()?;
        frame::decode_frame(buf.freeze()).ok()
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .ok()
        .flatten()
}

/// True when the peer closes the socket (reads EOF or a reset) within 5 s; bytes that arrive
/// first are skipped.
pub async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let fut = async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .unwrap_or(false)
}

/// Connects and writes `bytes`.
pub async fn raw_send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may close early; a failed write is part of what is tested.
    let _ = s.write_all(bytes).await;
    s
}

/// A frame from a header encoding type byte, header bytes and body, built from the spec layout.
pub fn raw_frame(serialize_type: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let total = 4 + header.len() + body.len();
    let mut out = Vec::with_capacity(4 + total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(((serialize_type as u32) << 24) | header.len() as u32).to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

/// Current resident set size of this process in KiB, from /proc/self/status.
pub fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
