//! Memory and work are bounded per connection and per server (issue 14): a closed connection
//! ends its handlers at once, a server over its connection limit closes new connections at once,
//! incomplete frames share a byte budget, header fields per frame are limited, and a peer that
//! does not read stops being read. Each test shows a second, live client is still served.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::future::BoxFuture;
use remoting::codes::ResponseCode;
use remoting::{Connection, ExtFields, RemotingCommand, RequestHandler, ServerConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Counts handlers running now and requests handled so far. [`ECHO_CODE`] sleeps a minute;
/// [`OK_CODE`] answers SUCCESS with a body of `big` bytes.
struct Counting {
    running: Arc<AtomicUsize>,
    handled: Arc<AtomicUsize>,
    big: usize,
    cancellable: bool,
}

struct Running(Arc<AtomicUsize>);
impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RequestHandler for Counting {
    fn handle<'a>(
        &'a self,
        _conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        self.running.fetch_add(1, Ordering::SeqCst);
        self.handled.fetch_add(1, Ordering::SeqCst);
        let guard = Running(self.running.clone());
        let big = self.big;
        Box::pin(async move {
            let _guard = guard;
            if request.request_code() == ECHO_CODE {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            let mut ext = ExtFields::new();
            ext.insert("offset", "42");
            Some(
                request
                    .success()
                    .with_ext(ext)
                    .with_body(Bytes::from(vec![7u8; big])),
            )
        })
    }

    fn cancel_on_close(&self, _request: &RemotingCommand) -> bool {
        self.cancellable
    }
}

fn counting(big: usize, cancellable: bool) -> (Arc<Counting>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let running = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::new(Counting {
        running: running.clone(),
        handled: handled.clone(),
        big,
        cancellable,
    });
    (h, running, handled)
}

/// Polls `f` every 20 ms until it holds, for at most `secs` seconds.
async fn eventually(secs: u64, f: impl Fn() -> bool) -> bool {
    for _ in 0..secs * 50 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

fn requests(code: remoting::RequestCode, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut cmd = RemotingCommand::request(code, ExtFields::new());
        cmd.opaque = i as i32 + 1;
        out.extend_from_slice(&encode(&cmd));
    }
    out
}

#[tokio::test]
async fn a_closed_connection_ends_its_handlers_at_once() {
    let (handler, running, _) = counting(0, true);
    let server = start_on("127.0.0.1:0", handler, ServerConfig::default()).await;
    let mut socks = Vec::new();
    for _ in 0..20 {
        socks.push(raw_send(server.addr, &requests(ECHO_CODE, 10)).await);
    }
    assert!(eventually(10, || running.load(Ordering::SeqCst) == 200).await);
    drop(socks);
    // The handlers would sleep a minute; they end with their connections.
    assert!(
        eventually(10, || running.load(Ordering::SeqCst) == 0).await,
        "{} handlers still running after their connections closed",
        running.load(Ordering::SeqCst)
    );
    assert_alive(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn a_handler_may_opt_out_of_cancellation() {
    let (handler, running, _) = counting(0, false);
    let server = start_on("127.0.0.1:0", handler, ServerConfig::default()).await;
    let s = raw_send(server.addr, &requests(ECHO_CODE, 5)).await;
    assert!(eventually(10, || running.load(Ordering::SeqCst) == 5).await);
    drop(s);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(running.load(Ordering::SeqCst), 5);
    server.stop().await;
}

#[tokio::test]
async fn over_the_connection_limit_a_new_connection_is_closed_at_once() {
    let config = ServerConfig {
        max_connections: 3,
        ..Default::default()
    };
    let server = start_on("127.0.0.1:0", Arc::new(TestHandler), config).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        // Served: each answers a request.
        s.write_all(&requests(OK_CODE, 1)).await.unwrap();
        assert_eq!(
            read_frame(&mut s).await.unwrap().response_code(),
            ResponseCode::SUCCESS
        );
        idle.push(s);
    }
    // The fourth is not left waiting in the backlog: it sees the connection end.
    let mut extra = raw_send(server.addr, &requests(OK_CODE, 1)).await;
    assert!(closed_by_peer(&mut extra).await);
    // A slot freed is a slot served.
    drop(idle.pop());
    let mut ok = false;
    for _ in 0..50 {
        let mut s = raw_send(server.addr, &requests(OK_CODE, 1)).await;
        if read_frame(&mut s).await.is_some() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a freed slot must serve a new client");
    server.stop().await;
}

#[tokio::test]
async fn incomplete_frames_of_all_connections_share_one_budget() {
    let mut config = ServerConfig {
        frame_budget: 2 * 1024 * 1024,
        ..Default::default()
    };
    config.connection.max_frame = 1024 * 1024;
    let server = start_on("127.0.0.1:0", Arc::new(TestHandler), config).await;
    // Each announces a 1 MiB frame and sends 900 KiB of it: three of them exceed the budget.
    let mut prefix = raw_frame(0, b"{}", &vec![0u8; 1024 * 1024 - 16]);
    prefix.truncate(900 * 1024);
    let mut attackers = Vec::new();
    for _ in 0..6 {
        attackers.push(raw_send(server.addr, &prefix).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let closed = futures::future::join_all(attackers.iter_mut().map(closed_by_peer)).await;
    let n_closed = closed.iter().filter(|c| **c).count();
    assert!(
        (3..6).contains(&n_closed),
        "{n_closed} of 6 connections with incomplete 900 KiB frames closed under a 2 MiB budget"
    );
    // Small requests fit each connection's allowance and are served meanwhile.
    assert_alive(server.addr).await;
    drop(attackers);
    server.stop().await;
}

#[tokio::test]
async fn header_fields_per_frame_are_limited() {
    let mut config = ServerConfig::default();
    config.connection.max_header_fields = 100;
    let server = start_on("127.0.0.1:0", Arc::new(TestHandler), config).await;
    for (fields, served) in [(90usize, true), (5000, false)] {
        for serialize_type in [
            remoting::SerializeType::Json,
            remoting::SerializeType::RocketMq,
        ] {
            let mut ext = ExtFields::new();
            for i in 0..fields {
                ext.insert(format!("k{i}"), "v");
            }
            let mut cmd = RemotingCommand::request(OK_CODE, ext);
            cmd.serialize_type = serialize_type;
            let mut s = raw_send(server.addr, &encode(&cmd)).await;
            if served {
                assert_eq!(
                    read_frame(&mut s).await.unwrap().response_code(),
                    ResponseCode::SUCCESS
                );
            } else {
                assert!(
                    closed_by_peer(&mut s).await,
                    "{fields} fields {serialize_type:?}"
                );
            }
        }
    }
    // Nested values inside a JSON field count too.
    let nested = format!(
        "{{\"code\":{},\"extFields\":{{\"k\":[{}1]}}}}",
        OK_CODE.0,
        "1,".repeat(5000)
    );
    let mut s = raw_send(server.addr, &raw_frame(0, nested.as_bytes(), b"")).await;
    assert!(closed_by_peer(&mut s).await);
    assert_alive(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn a_peer_that_does_not_read_stops_being_read() {
    // Each tiny request is answered with 512 KiB; the peer sends 1000 and reads nothing.
    let (handler, _, handled) = counting(512 * 1024, true);
    let server = start_on("127.0.0.1:0", handler, ServerConfig::default()).await;
    let greedy = raw_send(server.addr, &requests(OK_CODE, 1000)).await;
    // Let the server do whatever it is going to do.
    let mut last = usize::MAX;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = handled.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    let n = handled.load(Ordering::SeqCst);
    assert!(
        n < 400,
        "{n} of 1000 requests of a peer that reads nothing were handled (500 MB of answers)"
    );
    // Others are served meanwhile.
    let c = client();
    let r = c
        .invoke(
            &server.addr.to_string(),
            RemotingCommand::request(OK_CODE, ExtFields::new()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    c.shutdown();
    drop(greedy);
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_time() {
    // Java's serverChannelMaxIdleTimeSeconds is 120 s, the default here too.
    assert_eq!(
        remoting::ConnectionConfig::default().idle_timeout,
        Duration::from_secs(120)
    );
    let mut config = ServerConfig::default();
    config.connection.idle_timeout = Duration::from_millis(300);
    let server = start_on("127.0.0.1:0", Arc::new(TestHandler), config).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    // The busy one keeps talking for longer than the idle time and stays served.
    for _ in 0..8 {
        busy.write_all(&requests(OK_CODE, 1)).await.unwrap();
        assert!(read_frame(&mut busy).await.is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed_by_peer(&mut idle).await);
    server.stop().await;
}

#[tokio::test]
async fn requests_already_waiting_go_on_while_reading_is_paused() {
    let (gate, handler) = Gated::new(512 * 1024);
    let released = handler.released.clone();
    let server = start_on("127.0.0.1:0", handler, ServerConfig::default()).await;
    // Ten requests that wait, then answers worth 50 MB that the peer never reads: the server
    // stops reading from this peer once its write queue is full.
    let mut bytes = requests(ECHO_CODE, 10);
    bytes.extend_from_slice(&requests(OK_CODE, 100));
    let stalled = raw_send(server.addr, &bytes).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.send(true).unwrap();
    // The waiting ones finish though the connection's reading stays paused.
    assert!(
        eventually(10, || released.load(Ordering::SeqCst) == 10).await,
        "{} of 10 waiting requests went on while reading was paused",
        released.load(Ordering::SeqCst)
    );
    drop(stalled);
    server.stop().await;
}

#[tokio::test]
async fn answers_wait_for_room_in_a_full_write_queue() {
    // A write queue of one answer: a burst of requests answered at once finds it full, and
    // each answer waits for room instead of being dropped or failing the connection.
    let (handler, _, handled) = counting(64 * 1024, true);
    let mut config = ServerConfig::default();
    config.connection.write_queue = 1;
    let server = start_on("127.0.0.1:0", handler, config).await;
    let n = 200;
    let mut peer = raw_send(server.addr, &requests(OK_CODE, n)).await;
    // Read nothing for a while: the answers pile up behind the full queue.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut seen = vec![false; n];
    for _ in 0..n {
        let answer = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut peer))
            .await
            .expect("an answer within 10 s")
            .expect("the connection stays open");
        assert_eq!(answer.response_code(), ResponseCode::SUCCESS);
        assert_eq!(answer.body.len(), 64 * 1024);
        let i = usize::try_from(answer.opaque - 1).expect("an opaque we sent");
        assert!(!seen[i], "request {} answered twice", answer.opaque);
        seen[i] = true;
    }
    assert_eq!(handled.load(Ordering::SeqCst), n);
    server.stop().await;
}
