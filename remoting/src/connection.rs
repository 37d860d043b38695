//! One TCP connection carrying commands both ways, shared by the client and the server.
//!
//! Each connection has a reader task (frames in: responses complete pending requests, requests go
//! to the [`RequestHandler`], run on the reader task as far as they go without waiting and, when
//! they must wait, driven on by the same task beside the reads, so that a held long-poll never
//! blocks the next request) and a writer task (frames out, many per write system call, flushed when its
//! queue drains). Either side may send
//! requests: the broker calls back into clients (NOTIFY_CONSUMER_IDS_CHANGED,
//! CHECK_TRANSACTION_STATE) over the client's own connection.

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::codes::ResponseCode;
use crate::command::{FLAG_RESPONSE, RemotingCommand, SerializeType};
use crate::error::{RemotingError, Result};
use crate::frame::{FrameBudget, RemotingCodec};
use crate::sink::FrameSink;

/// The read side of a connection's byte stream (a TCP half or a TLS session's).
type ReadIo = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
/// The write side of a connection's byte stream.
type WriteIo = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// Serves the requests that arrive on a connection.
pub trait RequestHandler: Send + Sync + 'static {
    /// Answers one request. The returned command's `opaque`, response flag and serialize type are
    /// set by the connection, so a handler only chooses code, remark, header fields and body.
    /// The response of a oneway request is dropped. `None` sends nothing.
    fn handle<'a>(
        &'a self,
        conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>>;

    /// Answers `request` right away when the handler can without waiting for anything, or
    /// gives it back untouched to go through [`handle`](Self::handle). Whatever is answered
    /// here needs no future: most of a busy broker's requests are sends that wait for
    /// nothing, and each one's boxed futures were a large share of its allocator work. The
    /// answer is stamped like `handle`'s. The default answers nothing here.
    fn answer_now(
        &self,
        _conn: &Connection,
        request: RemotingCommand,
    ) -> std::result::Result<Option<RemotingCommand>, RemotingCommand> {
        Err(request)
    }

    /// Called once when the connection has closed, for whatever reason.
    fn on_close(&self, _conn: &Connection) {}

    /// Whether the handling of `request` is dropped at once when its connection closes (the
    /// default): nobody is left to read the answer, and a parked long poll must not hold memory
    /// or a slot of a cap for a peer that is gone. A handler whose work must not stop halfway
    /// (several dependent writes) answers false for that request.
    fn cancel_on_close(&self, _request: &RemotingCommand) -> bool {
        true
    }
}

/// A handler that answers every request with REQUEST_CODE_NOT_SUPPORTED: the default for clients
/// that expect no calls from their peer.
#[derive(Debug, Default, Clone, Copy)]
pub struct RejectRequests;

impl RequestHandler for RejectRequests {
    fn handle<'a>(
        &'a self,
        _conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move { Some(not_supported(&request)) })
    }
}

/// The standard answer to a request code nobody serves (spec §1.6).
pub fn not_supported(request: &RemotingCommand) -> RemotingCommand {
    request.response_to(
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
        Some(format!(" request type {} not supported", request.code)),
    )
}

/// Limits and timeouts of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Largest frame accepted, length prefix included.
    pub max_frame: usize,
    /// Requests from the peer being handled at once; beyond it the peer gets SYSTEM_BUSY.
    pub max_in_flight: usize,
    /// Frames queued for writing before senders wait.
    pub write_queue: usize,
    /// A connection with nothing read for this long is closed (Java's
    /// `serverChannelMaxIdleTimeSeconds`: 120 s).
    pub idle_timeout: Duration,
    /// Most header fields one frame may carry (default
    /// [`DEFAULT_MAX_HEADER_FIELDS`](crate::frame::DEFAULT_MAX_HEADER_FIELDS)).
    pub max_header_fields: usize,
    /// Bytes of commands queued for writing above which the connection stops reading from its
    /// peer, and requests already read wait before they are handled, until the queue drains to
    /// half (Netty's writability with autoRead off): a peer that sends requests but never reads
    /// the answers cannot make us hold much more than this. Servers only
    /// ([`ServerConfig`](crate::ServerConfig) defaults it to [`DEFAULT_WRITE_HIGH_WATER`]): a
    /// client that stopped reading its answers while the server stopped reading its requests
    /// would deadlock, so the default here, used by clients, is `usize::MAX` (never pause).
    pub write_high_water: usize,
    /// Shared budget for the read buffers of incomplete frames (a server's, across its
    /// connections); `None` for no limit.
    pub frame_budget: Option<Arc<FrameBudget>>,
    /// A lone queued frame whose body has at least this many bytes waits, before the writer
    /// writes it, for the runtime's other ready tasks to run once, so that frames they queue
    /// meanwhile leave in the same write. Where many tasks share the connection and each
    /// queues its own requests (a client's senders) that pays for every frame: 64 sending
    /// tasks cost the client 0.69 of the CPU per send they cost without it, so clients gather
    /// from 0 bytes. A server's answers come from the connection's own reader task, which
    /// queues all it can answer from one read before the writer gets a turn. For its small
    /// answers (a send's) the wait gathered little: written at once they took 0.83 of the
    /// broker's CPU per send and a third of its workers' context switches. Its answers with
    /// a body (a pull's) still gain from it, so [`ConnectionConfig::server`] gathers from
    /// 1 byte (BENCHMARKS.md, session 22). `usize::MAX` never waits.
    pub gather_writes_from: usize,
}

/// Bytes of encoded frames the writer gathers before it must write them out (it writes sooner
/// when its queue is empty).
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Default [`ConnectionConfig::write_high_water`] of a server's connections.
pub const DEFAULT_WRITE_HIGH_WATER: usize = 4 * 1024 * 1024;

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_frame: crate::frame::DEFAULT_MAX_FRAME,
            max_in_flight: 2048,
            write_queue: 4096,
            idle_timeout: Duration::from_secs(120),
            max_header_fields: crate::frame::DEFAULT_MAX_HEADER_FIELDS,
            write_high_water: usize::MAX,
            frame_budget: None,
            gather_writes_from: 0,
        }
    }
}

impl ConnectionConfig {
    /// The defaults of a server's connections: reading pauses at
    /// [`DEFAULT_WRITE_HIGH_WATER`] queued bytes, and only answers with a body wait to be
    /// gathered ([`ConnectionConfig::gather_writes_from`]).
    pub fn server() -> Self {
        ConnectionConfig {
            write_high_water: DEFAULT_WRITE_HIGH_WATER,
            gather_writes_from: 1,
            ..ConnectionConfig::default()
        }
    }
}

/// What a queued command is counted as against [`ConnectionConfig::write_high_water`]: its body
/// and header text, plus a fixed overhead.
fn queued_cost(cmd: &RemotingCommand) -> usize {
    let ext: usize = cmd
        .ext_fields
        .iter()
        .map(|(k, v)| k.len() + v.len() + 8)
        .sum();
    64 + cmd.body.len() + ext + cmd.remark.as_ref().map_or(0, String::len)
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// A cheap, cloneable handle on a live (or closed) connection.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    tx: mpsc::Sender<RemotingCommand>,
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    next_opaque: AtomicI32,
    closed: CancellationToken,
    /// Bytes queued for writing and not yet flushed (see [`queued_cost`]).
    queued: AtomicUsize,
    /// Woken whenever the writer has flushed.
    drained: Notify,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .finish()
    }
}

impl Connection {
    /// Starts the reader and writer tasks of `stream`; requests from the peer go to `handler`.
    /// `parent` closes the connection when cancelled (server shutdown).
    pub fn spawn(
        stream: TcpStream,
        handler: Arc<dyn RequestHandler>,
        config: &ConnectionConfig,
        parent: &CancellationToken,
    ) -> Result<Connection> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        Ok(Self::spawn_halves(
            Box::new(read_half),
            Box::new(write_half),
            peer,
            local,
            handler,
            config,
            parent,
        ))
    }

    /// Like [`spawn`](Self::spawn) over any byte stream (a TLS session, see [`crate::tls`]),
    /// whose socket addresses the caller knows.
    pub fn spawn_io<S>(
        stream: S,
        peer: SocketAddr,
        local: SocketAddr,
        handler: Arc<dyn RequestHandler>,
        config: &ConnectionConfig,
        parent: &CancellationToken,
    ) -> Connection
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(stream);
        Self::spawn_halves(
            Box::new(read_half),
            Box::new(write_half),
            peer,
            local,
            handler,
            config,
            parent,
        )
    }

    fn spawn_halves(
        read_half: ReadIo,
        write_half: WriteIo,
        peer: SocketAddr,
        local: SocketAddr,
        handler: Arc<dyn RequestHandler>,
        config: &ConnectionConfig,
        parent: &CancellationToken,
    ) -> Connection {
        let (tx, rx) = mpsc::channel(config.write_queue.max(1));
        let conn = Connection {
            inner: Arc::new(Inner {
                id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                local,
                tx,
                pending: Mutex::new(HashMap::new()),
                next_opaque: AtomicI32::new(1),
                closed: parent.child_token(),
                queued: AtomicUsize::new(0),
                drained: Notify::new(),
            }),
        };
        let codec = RemotingCodec::new(config.max_frame)
            .with_max_header_fields(config.max_header_fields)
            .with_budget(config.frame_budget.clone());
        // Encoded frames collect in the sink's buffer up to this before a write is forced, so
        // under load one write system call carries many answers (a pull's bodies beside them,
        // not copied); the buffer is reused from frame to frame.
        let sink = FrameSink::new(write_half, config.max_frame, WRITE_BATCH_BYTES);
        tokio::spawn(write_loop(
            conn.clone(),
            sink,
            rx,
            config.gather_writes_from,
        ));
        tokio::spawn(read_loop(
            conn.clone(),
            FramedRead::new(read_half, codec),
            handler,
            config.clone(),
        ));
        conn
    }

    /// A process-unique id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The peer's socket address.
    pub fn peer(&self) -> SocketAddr {
        self.inner.peer
    }

    /// Our socket address on this connection.
    pub fn local(&self) -> SocketAddr {
        self.inner.local
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    /// Resolves when the connection has closed.
    pub async fn closed(&self) {
        self.inner.closed.cancelled().await
    }

    /// Bytes of commands queued for writing and not yet flushed to the socket.
    pub fn queued_bytes(&self) -> usize {
        self.inner.queued.load(Ordering::Acquire)
    }

    /// Closes the connection; pending requests fail with `ConnectionClosed`.
    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    /// Sends a request and waits for its response, at most `timeout`.
    pub async fn request(
        &self,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
        request.opaque = opaque;
        request.flag &= !FLAG_RESPONSE;
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().insert(opaque, tx);
        let result = tokio::time::timeout(timeout, async {
            self.send(request).await?;
            rx.await
                .map_err(|_| RemotingError::ConnectionClosed(self.inner.peer.to_string()))
        })
        .await;
        self.inner.pending.lock().remove(&opaque);
        match result {
            Ok(r) => r,
            Err(_) => Err(RemotingError::Timeout {
                addr: self.inner.peer.to_string(),
                millis: timeout.as_millis() as u64,
            }),
        }
    }

    /// Sends a oneway request: no response is expected.
    pub async fn oneway(&self, mut request: RemotingCommand) -> Result<()> {
        request.opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
        request.flag &= !FLAG_RESPONSE;
        request.mark_oneway();
        self.send(request).await
    }

    /// Queues any command for writing.
    pub async fn send(&self, cmd: RemotingCommand) -> Result<()> {
        match self.send_now(cmd) {
            Ok(queued) => queued,
            // The wait for room has a future of its own, allocated only when it happens:
            // inline, its state would make this future, and the read loop's boxed future of
            // every request that awaits it, bigger. With the drain wait there boxed too, a
            // request's box fell from 1,160 to 824 bytes, within the 1,032 that glibc's
            // per-thread cache serves without taking the arena's slower path (BENCHMARKS.md,
            // session 24).
            Err(cmd) => Box::pin(self.send_when_room(cmd)).await,
        }
    }

    /// [`send`](Self::send) when the write queue has room now, the usual case; gives `cmd`
    /// back when it is full.
    fn send_now(&self, cmd: RemotingCommand) -> std::result::Result<Result<()>, RemotingCommand> {
        if self.is_closed() {
            return Ok(Err(RemotingError::ConnectionClosed(
                self.inner.peer.to_string(),
            )));
        }
        let cost = queued_cost(&cmd);
        self.inner.queued.fetch_add(cost, Ordering::AcqRel);
        // `try_send` never overtakes a waiting send: the channel hands room that frees up to
        // its waiters first.
        match self.inner.tx.try_send(cmd) {
            Ok(()) => Ok(Ok(())),
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                self.inner.queued.fetch_sub(cost, Ordering::AcqRel);
                Err(cmd)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.inner.queued.fetch_sub(cost, Ordering::AcqRel);
                Ok(Err(RemotingError::ConnectionClosed(
                    self.inner.peer.to_string(),
                )))
            }
        }
    }

    /// Queues `cmd` once the write queue has room.
    async fn send_when_room(&self, cmd: RemotingCommand) -> Result<()> {
        let cost = queued_cost(&cmd);
        self.inner.queued.fetch_add(cost, Ordering::AcqRel);
        let sent = tokio::select! {
            r = self.inner.tx.send(cmd) => r.is_ok(),
            _ = self.inner.closed.cancelled() => false,
        };
        if !sent {
            self.inner.queued.fetch_sub(cost, Ordering::AcqRel);
            return Err(RemotingError::ConnectionClosed(self.inner.peer.to_string()));
        }
        Ok(())
    }

    /// Waits until the write queue is at most `low` bytes; false when the connection closed or
    /// nothing was flushed for `patience` (a peer that does not read).
    async fn wait_drained(&self, low: usize, patience: Duration) -> bool {
        loop {
            let notified = self.inner.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.queued_bytes() <= low {
                return true;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = self.inner.closed.cancelled() => return false,
                _ = tokio::time::sleep(patience) => return false,
            }
        }
    }

    fn complete(&self, response: RemotingCommand) {
        let waiter = self.inner.pending.lock().remove(&response.opaque);
        match waiter {
            Some(tx) => {
                let _ = tx.send(response);
            }
            None => debug!(
                peer = %self.inner.peer,
                opaque = response.opaque,
                "response for no pending request (timed out?)"
            ),
        }
    }
}

async fn write_loop(
    conn: Connection,
    mut sink: FrameSink<WriteIo>,
    mut rx: mpsc::Receiver<RemotingCommand>,
    gather_from: usize,
) {
    'outer: loop {
        let cmd = tokio::select! {
            _ = conn.inner.closed.cancelled() => break,
            cmd = rx.recv() => match cmd { Some(c) => c, None => break },
        };
        let mut batch = queued_cost(&cmd);
        let gather = cmd.body.len() >= gather_from;
        if !feed(&conn, &mut sink, cmd).await {
            break;
        }
        // Batch whatever else is queued into the same flush. When nothing else was queued and
        // the first frame is one to gather, let the tasks that are ready run first (once):
        // under load they queue their frames meanwhile and one write carries them all; on an
        // idle runtime this returns at once.
        let mut yielded = !gather;
        loop {
            while let Ok(cmd) = rx.try_recv() {
                batch += queued_cost(&cmd);
                if !feed(&conn, &mut sink, cmd).await {
                    break 'outer;
                }
            }
            if yielded {
                break;
            }
            yielded = true;
            tokio::task::yield_now().await;
        }
        let flushed = tokio::select! {
            r = sink.flush() => r,
            _ = conn.inner.closed.cancelled() => break,
        };
        if let Err(e) = flushed {
            debug!(peer = %conn.peer(), error = %e, "flush failed; closing connection");
            break;
        }
        conn.inner.queued.fetch_sub(batch, Ordering::AcqRel);
        conn.inner.drained.notify_waiters();
    }
    conn.close();
    // Whatever is still queued is dropped with the channel: free it now.
    rx.close();
    while rx.try_recv().is_ok() {}
    let _ = sink.close().await;
}

/// Queues one command on the sink. A command that cannot be encoded (a code the binary header
/// cannot hold, a frame over the limit, ...) costs only itself: a response is replaced by a
/// SYSTEM_ERROR response so the peer is not left waiting, and our own request fails at once.
/// Returns false when the connection must close (an I/O error).
async fn feed(conn: &Connection, sink: &mut FrameSink<WriteIo>, cmd: RemotingCommand) -> bool {
    let (code, opaque, is_response, serialize_type) =
        (cmd.code, cmd.opaque, cmd.is_response(), cmd.serialize_type);
    match sink.feed(cmd).await {
        Ok(()) => true,
        Err(RemotingError::Encode(reason)) => {
            warn!(peer = %conn.peer(), code, opaque, %reason, "command cannot be encoded");
            let mut fallback = RemotingCommand::default().response_to(
                ResponseCode::SYSTEM_ERROR,
                Some(format!("command {code} cannot be encoded: {reason}")),
            );
            fallback.opaque = opaque;
            fallback.serialize_type = serialize_type;
            if is_response {
                match sink.feed(fallback).await {
                    Ok(()) => true,
                    Err(e) => {
                        warn!(peer = %conn.peer(), error = %e, "write failed; closing connection");
                        false
                    }
                }
            } else {
                conn.complete(fallback);
                true
            }
        }
        Err(e) => {
            warn!(peer = %conn.peer(), error = %e, "write failed; closing connection");
            false
        }
    }
}

async fn read_loop(
    conn: Connection,
    mut stream: FramedRead<ReadIo, RemotingCodec>,
    handler: Arc<dyn RequestHandler>,
    config: ConnectionConfig,
) {
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let high_water = config.write_high_water.max(1);
    // Requests that had to wait (a SYNC_MASTER send for its slave's ack, a SYNC_FLUSH send, a
    // parked long poll), driven here rather than each on a task of its own: one wake-up of this
    // task completes every waiter an ack or a flush released, and their answers reach the
    // writer together, with no task spawned per request. Dropped with the loop, which is
    // what closing means for them (see [`RequestHandler::cancel_on_close`]).
    let mut waiting: FuturesUnordered<BoxFuture<'static, ()>> = FuturesUnordered::new();
    // One idle timer for the connection, moved on when it fires early, rather than one per read.
    let mut last_read = Instant::now();
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);
    loop {
        // The peer is not reading what we write: stop reading what it sends until the queue
        // has drained to half (Netty: channel not writable, autoRead off).
        if conn.queued_bytes() > high_water {
            debug!(peer = %conn.peer(), queued = conn.queued_bytes(), "write queue full; reading paused");
            // Requests already waiting go on meanwhile (their own answers wait for the drain).
            let drained = conn.wait_drained(high_water / 2, config.idle_timeout);
            tokio::pin!(drained);
            let drained = loop {
                tokio::select! {
                    biased;
                    ok = &mut drained => break ok,
                    Some(()) = waiting.next(), if !waiting.is_empty() => {}
                }
            };
            if !drained {
                debug!(peer = %conn.peer(), "peer reads nothing; closing connection");
                break;
            }
        }
        let next = tokio::select! {
            biased;
            _ = conn.inner.closed.cancelled() => break,
            Some(()) = waiting.next(), if !waiting.is_empty() => continue,
            _ = &mut idle => {
                let quiet_until = last_read + config.idle_timeout;
                if Instant::now() >= quiet_until {
                    debug!(peer = %conn.peer(), "idle timeout; closing connection");
                    break;
                }
                idle.as_mut().reset(quiet_until);
                continue;
            }
            next = stream.next() => next,
        };
        last_read = Instant::now();
        let cmd = match next {
            None => break,
            Some(Err(RemotingError::BudgetExhausted(why))) => {
                warn!(peer = %conn.peer(), %why, "read buffer over budget; closing connection");
                break;
            }
            Some(Err(RemotingError::Io(e))) => {
                // A reset or broken pipe is how many clients say goodbye.
                debug!(peer = %conn.peer(), error = %e, "read failed; closing connection");
                break;
            }
            Some(Err(e)) => {
                warn!(peer = %conn.peer(), error = %e, "undecodable input; closing connection");
                break;
            }
            Some(Ok(cmd)) => cmd,
        };
        if cmd.is_response() {
            conn.complete(cmd);
            continue;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            if !cmd.is_oneway() {
                let busy = cmd.response_to(
                    ResponseCode::SYSTEM_BUSY,
                    Some("[OVERLOAD]too many requests in flight on this connection".into()),
                );
                let _ = conn.send(busy).await;
            }
            continue;
        };
        // Answered right away where the handler can (`RequestHandler::answer_now`): no future
        // and no box. Not while the write queue is full (see `serve`).
        let cmd = if conn.queued_bytes() > high_water {
            cmd
        } else {
            let (opaque, oneway, serialize_type, code) =
                (cmd.opaque, cmd.is_oneway(), cmd.serialize_type, cmd.code);
            let answered = match catch_unwind(AssertUnwindSafe(|| handler.answer_now(&conn, cmd))) {
                Ok(answered) => answered,
                Err(panic) => Ok(Some(panic_answer(&conn, code, panic))),
            };
            match answered {
                Err(cmd) => cmd,
                Ok(response) => {
                    drop(permit);
                    if let (Some(response), false) = (response, oneway)
                        && let Err(response) =
                            conn.send_now(stamp(response, opaque, serialize_type))
                    {
                        // The write queue is full: the answer waits for room (rare).
                        let conn = conn.clone();
                        waiting.push(Box::pin(async move {
                            let _ = conn.send(response).await;
                        }));
                    }
                    continue;
                }
            }
        };
        let cancellable = handler.cancel_on_close(&cmd);
        let conn = conn.clone();
        let handler = handler.clone();
        let patience = config.idle_timeout;
        let serve = async move {
            let _permit = permit;
            // Requests read before the write queue filled up do not start while it is full:
            // their answers would pile up behind the ones the peer is not reading.
            // Boxed: rare, and inline it would grow every request's box (see `send`).
            if conn.queued_bytes() > high_water
                && !Box::pin(conn.wait_drained(high_water / 2, patience)).await
            {
                return;
            }
            let opaque = cmd.opaque;
            let oneway = cmd.is_oneway();
            let serialize_type = cmd.serialize_type;
            let code = cmd.code;
            let handling = AssertUnwindSafe(handler.handle(&conn, cmd)).catch_unwind();
            // A cancellable one ends with its connection by being dropped with `waiting`.
            let response = match handling.await {
                Ok(response) => response,
                Err(panic) => Some(panic_answer(&conn, code, panic)),
            };
            if let (Some(response), false) = (response, oneway) {
                let _ = conn.send(stamp(response, opaque, serialize_type)).await;
            }
        };
        // Run the request on this task as far as it goes without waiting: most requests
        // (a send under ASYNC_FLUSH, a pull that finds messages, heartbeats, admin reads)
        // finish here, with no task spawned, no hop to another worker, and their answers
        // queued in the order the requests were read. One that must wait (a parked long
        // poll, a flush or slave wait, a full write queue) joins `waiting`, so it never holds
        // up the requests behind it; one that must not stop halfway when the connection
        // closes continues on a task of its own. Polled once here, it has registered this
        // task's waker; its next poll registers the waker of wherever it continues.
        let mut serve: BoxFuture<'static, ()> = Box::pin(serve);
        if futures::poll!(serve.as_mut()).is_pending() {
            if cancellable {
                waiting.push(serve);
            } else {
                tokio::spawn(serve);
            }
        }
    }
    drop(waiting);
    conn.close();
    // Fail every request still waiting for an answer on this connection.
    conn.inner.pending.lock().clear();
    handler.on_close(&conn);
}

/// A handler's answer made the response to its request (opaque, flag, serialize type).
fn stamp(
    mut response: RemotingCommand,
    opaque: i32,
    serialize_type: SerializeType,
) -> RemotingCommand {
    response.opaque = opaque;
    response.flag |= FLAG_RESPONSE;
    response.serialize_type = serialize_type;
    response
}

/// The answer when a handler panicked: a panicking handler must not leave the peer waiting
/// for a timeout, so, like a Java processor that throws, SYSTEM_ERROR with the panic text.
fn panic_answer(conn: &Connection, code: i32, panic: Box<dyn Any + Send>) -> RemotingCommand {
    let text = panic_text(panic.as_ref());
    error!(peer = %conn.peer(), code, panic = %text, "request handler panicked");
    RemotingCommand::default().response_to(ResponseCode::SYSTEM_ERROR, Some(text))
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("request handler failed: {msg}")
}
