//! The async client against real servers on 127.0.0.1: connection reuse, opaque matching under
//! concurrency, timeouts, oneway, reconnection, and requests from the server to the client.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use remoting::header::client::NotifyConsumerIdsChangedRequestHeader;
use remoting::{
    ClientConfig, Connection, ExtFields, RemotingClient, RemotingCommand, RemotingError,
    RequestCode, RequestHandler, ResponseCode, ServerConfig,
};
use tokio::sync::mpsc;

use common::*;

/// Records the connection id and code of every request, then behaves like [`TestHandler`];
/// for CHECK_CLIENT_CONFIG it calls back into the client and returns the client's answer.
struct Recorder {
    seen: Mutex<Vec<(u64, i32, bool)>>,
    oneway_tx: mpsc::UnboundedSender<RemotingCommand>,
}

impl RequestHandler for Recorder {
    fn handle<'a>(
        &'a self,
        conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            self.seen
                .lock()
                .push((conn.id(), request.code, request.is_oneway()));
            if request.is_oneway() {
                let _ = self.oneway_tx.send(request.clone());
            }
            if request.request_code() == RequestCode::CHECK_CLIENT_CONFIG {
                // Server → client request on the client's own connection.
                let header = NotifyConsumerIdsChangedRequestHeader {
                    consumer_group: "CG".into(),
                };
                let call = RemotingCommand::request(
                    RequestCode::NOTIFY_CONSUMER_IDS_CHANGED,
                    remoting::ext::CommandHeader::to_ext(&header),
                );
                return Some(match conn.request(call, Duration::from_secs(5)).await {
                    Ok(answer) => {
                        let mut ext = answer.ext_fields;
                        ext.insert("clientCode", answer.code.to_string());
                        request.success().with_ext(ext).with_body(answer.body)
                    }
                    Err(e) => request.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
                });
            }
            TestHandler.handle(conn, request).await
        })
    }
}

fn recorder() -> (Arc<Recorder>, mpsc::UnboundedReceiver<RemotingCommand>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Arc::new(Recorder {
            seen: Mutex::new(Vec::new()),
            oneway_tx: tx,
        }),
        rx,
    )
}

fn echo(n: usize, sleep_ms: u64) -> RemotingCommand {
    let mut ext = ExtFields::new();
    ext.insert("n", n.to_string());
    ext.insert("sleepMs", sleep_ms.to_string());
    RemotingCommand::request(ECHO_CODE, ext).with_body(format!("body-{n}").into_bytes())
}

#[tokio::test]
async fn one_connection_per_address_is_reused() {
    let (rec, _rx) = recorder();
    let server = start_on("127.0.0.1:0", rec.clone(), ServerConfig::default()).await;
    let addr = server.addr.to_string();
    let c = client();
    for _ in 0..10 {
        c.invoke_ok(
            &addr,
            RemotingCommand::request(OK_CODE, ExtFields::new()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }
    // Concurrent first use from clones shares the same connection too.
    let c2 = c.clone();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let c = c2.clone();
            let addr = addr.clone();
            tokio::spawn(async move { c.invoke(&addr, echo(i, 0), Duration::from_secs(5)).await })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let ids: HashSet<u64> = rec.seen.lock().iter().map(|s| s.0).collect();
    assert_eq!(ids.len(), 1, "all requests on one connection");
    assert_eq!(rec.seen.lock().len(), 30);
    // A fresh client opens its own, and concurrent first requests still open only one.
    let fresh = client();
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let c = fresh.clone();
            let addr = addr.clone();
            tokio::spawn(async move { c.invoke(&addr, echo(i, 0), Duration::from_secs(5)).await })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let ids: HashSet<u64> = rec.seen.lock().iter().map(|s| s.0).collect();
    assert_eq!(ids.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_requests_are_matched_by_opaque() {
    let server = start().await;
    let addr = server.addr.to_string();
    let c = client();
    // Earlier requests sleep longer, so responses come back in reverse order.
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let c = c.clone();
            let addr = addr.clone();
            tokio::spawn(async move {
                let r = c
                    .invoke(&addr, echo(i, (64 - i as u64) * 2), Duration::from_secs(10))
                    .await
                    .unwrap();
                (i, r)
            })
        })
        .collect();
    for h in handles {
        let (i, r) = h.await.unwrap();
        assert_eq!(r.ext_fields.get("n"), Some(i.to_string().as_str()));
        assert_eq!(&r.body[..], format!("body-{i}").as_bytes());
        assert!(r.is_response());
    }
    server.stop().await;
}

#[tokio::test]
async fn per_request_timeout_leaves_the_connection_usable() {
    let server = start().await;
    let addr = server.addr.to_string();
    let c = client();
    let err = c
        .invoke(&addr, echo(1, 30_000), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, RemotingError::Timeout { .. }), "{err}");
    // Other requests on the same connection still work, and a late answer for the timed-out one
    // is not mistaken for theirs.
    for i in 2..5 {
        let r = c
            .invoke(&addr, echo(i, 0), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.ext_fields.get("n"), Some(i.to_string().as_str()));
    }
    server.stop().await;
}

#[tokio::test]
async fn error_codes_and_connect_failures() {
    let server = start().await;
    let addr = server.addr.to_string();
    let c = client();
    let err = c
        .invoke_ok(
            &addr,
            RemotingCommand::request(RequestCode(4242), ExtFields::new()),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    match err {
        RemotingError::Response { code, remark } => {
            assert_eq!(code, ResponseCode::REQUEST_CODE_NOT_SUPPORTED);
            assert!(remark.contains("4242"));
        }
        other => panic!("{other}"),
    }
    server.stop().await;
    // Nothing listens there any more.
    let err = c
        .invoke(
            &addr,
            RemotingCommand::request(OK_CODE, ExtFields::new()),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RemotingError::Connect { .. } | RemotingError::ConnectionClosed(_)
        ),
        "{err}"
    );
}

#[tokio::test]
async fn oneway_requests_arrive_and_get_no_response() {
    let (rec, mut rx) = recorder();
    let server = start_on("127.0.0.1:0", rec.clone(), ServerConfig::default()).await;
    let addr = server.addr.to_string();
    let c = client();
    let mut ext = ExtFields::new();
    ext.insert("commitOffset", "12");
    c.invoke_oneway(
        &addr,
        RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, ext),
    )
    .await
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(got.is_oneway());
    assert_eq!(got.ext_fields.get("commitOffset"), Some("12"));
    // The connection keeps working after it (no stray response confuses the client).
    c.invoke_ok(
        &addr,
        RemotingCommand::request(OK_CODE, ExtFields::new()),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn reconnects_after_the_server_restarts() {
    let server = start().await;
    let addr = server.addr;
    let c = client();
    let ok = || RemotingCommand::request(OK_CODE, ExtFields::new());
    c.invoke_ok(&addr.to_string(), ok(), Duration::from_secs(5))
        .await
        .unwrap();
    let old = c.connection(&addr.to_string()).await.unwrap();
    server.stop().await;
    tokio::time::timeout(Duration::from_secs(5), old.closed())
        .await
        .expect("the client notices the server closed the connection");
    // While down: a clear error, not a hang.
    assert!(
        c.invoke(&addr.to_string(), ok(), Duration::from_secs(2))
            .await
            .is_err()
    );
    let server = start_on(
        &addr.to_string(),
        Arc::new(TestHandler),
        ServerConfig::default(),
    )
    .await;
    let r = c
        .invoke_ok(&addr.to_string(), ok(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(r.ext_fields.get("offset"), Some("42"));
    let new = c.connection(&addr.to_string()).await.unwrap();
    assert_ne!(new.id(), old.id());
    server.stop().await;
}

/// Client-side handler for broker callbacks.
struct ClientSide;

impl RequestHandler for ClientSide {
    fn handle<'a>(
        &'a self,
        _conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            let header: NotifyConsumerIdsChangedRequestHeader = match request.ext_fields.decode() {
                Ok(h) => h,
                Err(e) => {
                    return Some(
                        request.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
                    );
                }
            };
            let mut ext = ExtFields::new();
            ext.insert("rebalanced", header.consumer_group);
            Some(
                request
                    .success()
                    .with_ext(ext)
                    .with_body(&b"from-client"[..]),
            )
        })
    }
}

#[tokio::test]
async fn server_initiated_request_is_answered_by_the_client_handler() {
    let (rec, _rx) = recorder();
    let server = start_on("127.0.0.1:0", rec, ServerConfig::default()).await;
    let addr = server.addr.to_string();
    let c = RemotingClient::with_handler(ClientConfig::default(), Arc::new(ClientSide));
    let r = c
        .invoke_ok(
            &addr,
            RemotingCommand::request(RequestCode::CHECK_CLIENT_CONFIG, ExtFields::new()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(r.ext_fields.get("rebalanced"), Some("CG"));
    assert_eq!(r.ext_fields.get("clientCode"), Some("0"));
    assert_eq!(&r.body[..], b"from-client");
    // A client without a handler rejects callbacks with REQUEST_CODE_NOT_SUPPORTED, so the server
    // sees an error answer rather than a timeout.
    let plain = client();
    let r = plain
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::CHECK_CLIENT_CONFIG, ExtFields::new()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    assert_eq!(
        r.ext_fields.get("clientCode"),
        Some(
            ResponseCode::REQUEST_CODE_NOT_SUPPORTED
                .0
                .to_string()
                .as_str()
        )
    );
    server.stop().await;
}

/// Answers code 777 with a response code the binary header cannot hold and code 778 with a
/// body over the server's frame limit; anything else like [`TestHandler`].
struct Unencodable;

impl RequestHandler for Unencodable {
    fn handle<'a>(
        &'a self,
        conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            match request.code {
                777 => {
                    let mut r = request.success();
                    r.code = 70_000;
                    Some(r)
                }
                778 => Some(request.success().with_body(vec![0u8; 100 * 1024])),
                _ => TestHandler.handle(conn, request).await,
            }
        })
    }
}

#[tokio::test]
async fn a_command_that_cannot_be_encoded_fails_alone() {
    let mut config = ServerConfig::default();
    config.connection.max_frame = 64 * 1024;
    let server = start_on("127.0.0.1:0", Arc::new(Unencodable), config).await;
    let addr = server.addr.to_string();
    let c = client();
    let binary = |code: i32| {
        let mut r = RemotingCommand::request(RequestCode(code), ExtFields::new());
        r.serialize_type = remoting::SerializeType::RocketMq;
        r
    };
    // The server's response does not fit: the client gets SYSTEM_ERROR instead of a timeout.
    let r = c
        .invoke(&addr, binary(777), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(
        r.remark_str().contains("cannot be encoded"),
        "{:?}",
        r.remark
    );
    let r = c
        .invoke(&addr, binary(778), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(
        r.remark_str().contains("exceeds the limit"),
        "{:?}",
        r.remark
    );
    // Our own request does not fit a binary header (5.x POP code): it fails at once, locally.
    let r = c
        .invoke(&addr, binary(200_050), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(r.remark_str().contains("200050"), "{:?}", r.remark);
    // And the connection is still the same, working one.
    let before = c.connection(&addr).await.unwrap().id();
    c.invoke_ok(&addr, binary(OK_CODE.0), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(c.connection(&addr).await.unwrap().id(), before);
    server.stop().await;
}

#[tokio::test]
async fn many_waiting_requests_on_one_connection_hold_up_nothing_and_all_finish() {
    let (gate, handler) = Gated::new(0);
    let server = start_on("127.0.0.1:0", handler, ServerConfig::default()).await;
    let addr = server.addr.to_string();
    let c = client();
    let waiting: Vec<_> = (0..500)
        .map(|i| {
            let (c, addr) = (c.clone(), addr.clone());
            tokio::spawn(async move { c.invoke(&addr, echo(i, 0), Duration::from_secs(20)).await })
        })
        .collect();
    // While all 500 wait on the same connection, later requests on it are answered.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.invoke_ok(
            &addr,
            RemotingCommand::request(OK_CODE, ExtFields::new()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }
    assert!(waiting.iter().all(|h| !h.is_finished()));
    // One release completes them all, each with its own answer.
    gate.send(true).unwrap();
    for (i, h) in waiting.into_iter().enumerate() {
        let r = h.await.unwrap().unwrap();
        assert_eq!(r.ext_fields.get("n"), Some(i.to_string().as_str()));
    }
    server.stop().await;
}
