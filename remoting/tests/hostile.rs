//! Hostile input against a real server on 127.0.0.1: whatever one connection sends, the server
//! neither panics nor stops serving others, and answers what it can parse.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use remoting::codes::{RequestCode, ResponseCode};
use remoting::{ExtFields, RemotingCommand};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn random_bytes() {
    let server = start().await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::collection::vec(any::<u8>(), 1..512);
    let mut conns = Vec::new();
    for _ in 0..50 {
        let bytes = strategy.new_tree(&mut runner).unwrap().current();
        conns.push(raw_send(server.addr, &bytes).await);
    }
    assert_alive(server.addr).await;
    drop(conns);
    assert_alive(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn valid_frame_followed_by_garbage_closes_the_connection() {
    let server = start().await;
    let mut bytes = encode(&RemotingCommand::request(OK_CODE, ExtFields::new())).to_vec();
    // A second "frame" with a header length beyond its frame.
    bytes.extend_from_slice(&raw_frame(0, b"{}", b"")[..4]);
    bytes.extend_from_slice(&0x0000_1000u32.to_be_bytes());
    bytes.extend_from_slice(b"{}");
    let mut s = raw_send(server.addr, &bytes).await;
    // As in Java, the decode error closes the connection at once; the answer to the valid frame
    // may or may not have been written by then. Either way the connection ends.
    assert!(closed_by_peer(&mut s).await);
    assert_alive(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn truncated_frames() {
    let server = start().await;
    let full =
        encode(&RemotingCommand::request(OK_CODE, ExtFields::new()).with_body(vec![7u8; 100]));
    // Every prefix of a frame, each on its own connection that then closes.
    for cut in [1, 3, 4, 5, 8, 20, full.len() - 1] {
        let s = raw_send(server.addr, &full[..cut]).await;
        drop(s);
    }
    assert_alive(server.addr).await;
    // A frame delivered in pieces is still one frame.
    let mut s = raw_send(server.addr, &full[..10]).await;
    tokio::task::yield_now().await;
    s.write_all(&full[10..]).await.unwrap();
    let r = read_frame(&mut s).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    server.stop().await;
}

#[tokio::test]
async fn huge_and_negative_length_prefixes_close_only_that_connection() {
    let server = start().await;
    let before = vm_rss_kib();
    for len in [
        0x8000_0000u32,
        0x7FFF_FFFF,
        0xFFFF_FFFF,
        16 * 1024 * 1024 + 1,
        0,
        3,
    ] {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 16]);
        let mut s = raw_send(server.addr, &bytes).await;
        assert!(
            closed_by_peer(&mut s).await,
            "length {len:#x} must close the connection"
        );
        assert_alive(server.addr).await;
    }
    // Announcing a 16 MiB frame and sending 8 bytes must not make the server allocate 16 MiB for
    // each such connection.
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut bytes = (16u32 * 1024 * 1024 - 4).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 4]);
        held.push(raw_send(server.addr, &bytes).await);
    }
    assert_alive(server.addr).await;
    let grown_mib = vm_rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 512,
        "RSS grew by {grown_mib} MiB for 100 stalled frames"
    );
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn header_length_larger_than_frame() {
    let server = start().await;
    for serialize_type in [0u8, 1] {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&12u32.to_be_bytes()); // total: meta + 8 bytes
        bytes.extend_from_slice(&(((serialize_type as u32) << 24) | 5000).to_be_bytes());
        bytes.extend_from_slice(&[b'{'; 8]);
        let mut s = raw_send(server.addr, &bytes).await;
        assert!(closed_by_peer(&mut s).await);
        assert_alive(server.addr).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn invalid_headers() {
    let server = start().await;
    let cases: Vec<Vec<u8>> = vec![
        raw_frame(0, b"{\"code\":", b""),
        raw_frame(0, b"not json at all", b""),
        raw_frame(0, b"[1,2,3]", b""),
        raw_frame(0, b"{\"code\":\"abc\"}", b""),
        raw_frame(0, b"{\"code\":10,\"extFields\":\"x\"}", b""),
        raw_frame(0, &[0xff, 0xfe, 0x00], b""),
        raw_frame(0, &"[".repeat(100_000).into_bytes(), b""),
        raw_frame(1, &[0u8; 5], b""), // binary header shorter than 21 bytes
        raw_frame(1, &[0xffu8; 40], b""), // negative lengths
        raw_frame(7, b"{}", b""),     // unknown serialize type
        {
            // Binary header whose ext area claims more than there is.
            let mut h = vec![0, 30, 0, 1, 0x99, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
            h.extend_from_slice(&1000i32.to_be_bytes());
            h.extend_from_slice(&[0, 1, b'a']);
            raw_frame(1, &h, b"")
        },
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let mut s = raw_send(server.addr, bytes).await;
        assert!(
            closed_by_peer(&mut s).await,
            "case {i} must close its connection"
        );
        assert_alive(server.addr).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_codes_get_an_answer_and_the_connection_stays() {
    let server = start().await;
    let mut s = raw_send(server.addr, &[]).await;
    for (i, code) in [9999, -5, 0, 200050, RequestCode::PULL_MESSAGE.0]
        .into_iter()
        .enumerate()
    {
        let mut req = RemotingCommand::request(RequestCode(code), ExtFields::new());
        req.opaque = 100 + i as i32;
        s.write_all(&encode(&req)).await.unwrap();
        let r = read_frame(&mut s).await.expect("an answer, not a close");
        assert_eq!(r.response_code(), ResponseCode::REQUEST_CODE_NOT_SUPPORTED);
        assert_eq!(r.opaque, 100 + i as i32);
        assert!(r.is_response());
        assert!(r.remark_str().contains(&code.to_string()), "{:?}", r.remark);
    }
    // The same connection still serves known codes, in the binary encoding too.
    let mut req = RemotingCommand::request(OK_CODE, ExtFields::new());
    req.serialize_type = remoting::SerializeType::RocketMq;
    req.opaque = 7;
    s.write_all(&encode(&req)).await.unwrap();
    let r = read_frame(&mut s).await.unwrap();
    assert_eq!((r.response_code(), r.opaque), (ResponseCode::SUCCESS, 7));
    assert_eq!(r.serialize_type, remoting::SerializeType::RocketMq);
    server.stop().await;
}

#[tokio::test]
async fn oneway_requests_get_no_answer() {
    let server = start().await;
    let mut s = raw_send(server.addr, &[]).await;
    let mut oneway = RemotingCommand::request(RequestCode(9999), ExtFields::new());
    oneway.mark_oneway();
    oneway.opaque = 1;
    let mut ok = RemotingCommand::request(OK_CODE, ExtFields::new());
    ok.opaque = 2;
    s.write_all(&encode(&oneway)).await.unwrap();
    s.write_all(&encode(&ok)).await.unwrap();
    let r = read_frame(&mut s).await.unwrap();
    assert_eq!(r.opaque, 2, "the oneway request must not be answered");
    server.stop().await;
}

/// Panics on every request: a handler bug must cost one SYSTEM_ERROR answer, nothing more.
/// Code 1235 panics in `answer_now` instead, 1236 is answered there ("now"), and every other
/// code is given back to `handle`.
struct Panicky;

impl remoting::RequestHandler for Panicky {
    fn answer_now(
        &self,
        _conn: &remoting::Connection,
        request: RemotingCommand,
    ) -> Result<Option<RemotingCommand>, RemotingCommand> {
        match request.code {
            1235 => panic!("boom now on request {}", request.opaque),
            1236 => Ok(Some(
                RemotingCommand::default().response_to(ResponseCode::SUCCESS, Some("now".into())),
            )),
            _ => Err(request),
        }
    }

    fn handle<'a>(
        &'a self,
        _conn: &'a remoting::Connection,
        request: RemotingCommand,
    ) -> futures::future::BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            if request.code == 1234 {
                panic!("boom on request {}", request.opaque);
            }
            Some(request.success())
        })
    }
}

/// A server over [`Panicky`], and a connection to it.
async fn panicky_server() -> (TestServer, tokio::net::TcpStream) {
    let server = start_on(
        "127.0.0.1:0",
        std::sync::Arc::new(Panicky),
        remoting::ServerConfig::default(),
    )
    .await;
    let s = raw_send(server.addr, &[]).await;
    (server, s)
}

#[tokio::test]
async fn a_panicking_handler_answers_system_error() {
    let (server, mut s) = panicky_server().await;
    let mut req = RemotingCommand::request(RequestCode(1234), ExtFields::new());
    req.opaque = 5;
    s.write_all(&encode(&req)).await.unwrap();
    let r = read_frame(&mut s).await.unwrap();
    assert_eq!(
        (r.response_code(), r.opaque),
        (ResponseCode::SYSTEM_ERROR, 5)
    );
    assert!(
        r.remark_str().contains("boom on request 5"),
        "{:?}",
        r.remark
    );
    // Same connection, next request.
    req.code = OK_CODE.0;
    req.opaque = 6;
    s.write_all(&encode(&req)).await.unwrap();
    let r = read_frame(&mut s).await.unwrap();
    assert_eq!((r.response_code(), r.opaque), (ResponseCode::SUCCESS, 6));
    server.stop().await;
}

/// What a handler answers at once (`answer_now`) goes out like an answer from `handle`:
/// stamped with the request's opaque and the response flag, nothing for a oneway request, and
/// a panic there is one SYSTEM_ERROR answer, the connection serving on.
#[tokio::test]
async fn answers_given_at_once_are_stamped_and_a_panic_there_answered() {
    let (server, mut s) = panicky_server().await;
    let request = |code: i32, opaque: i32| {
        let mut r = RemotingCommand::request(RequestCode(code), ExtFields::new());
        r.opaque = opaque;
        r
    };
    let mut bytes = encode(&request(1236, 7)).to_vec();
    bytes.extend_from_slice(&encode(&request(1235, 8)));
    let mut oneway = request(1236, 9);
    oneway.mark_oneway();
    bytes.extend_from_slice(&encode(&oneway));
    // Given back by `answer_now`: answered by `handle`.
    bytes.extend_from_slice(&encode(&request(OK_CODE.0, 10)));
    s.write_all(&bytes).await.unwrap();
    let r = read_frame(&mut s).await.unwrap();
    assert!(r.is_response());
    assert_eq!(
        (r.response_code(), r.opaque, r.remark_str()),
        (ResponseCode::SUCCESS, 7, "now")
    );
    let r = read_frame(&mut s).await.unwrap();
    assert_eq!(
        (r.response_code(), r.opaque),
        (ResponseCode::SYSTEM_ERROR, 8)
    );
    assert!(
        r.remark_str().contains("boom now on request 8"),
        "{:?}",
        r.remark
    );
    let r = read_frame(&mut s).await.unwrap();
    assert_eq!(
        (r.response_code(), r.opaque),
        (ResponseCode::SUCCESS, 10),
        "the oneway request 9 must not be answered"
    );
    server.stop().await;
}

#[tokio::test]
async fn too_many_requests_in_flight_get_system_busy() {
    let mut config = remoting::ServerConfig::default();
    config.connection.max_in_flight = 2;
    let server = start_on("127.0.0.1:0", std::sync::Arc::new(TestHandler), config).await;
    let mut s = raw_send(server.addr, &[]).await;
    // Two slow requests hold both slots; the next ones are refused at once, not queued.
    let mut bytes = Vec::new();
    for opaque in 1..=5 {
        let mut ext = ExtFields::new();
        ext.insert("sleepMs", "2000");
        let mut req = RemotingCommand::request(ECHO_CODE, ext);
        req.opaque = opaque;
        bytes.extend_from_slice(&encode(&req));
    }
    s.write_all(&bytes).await.unwrap();
    let mut busy = Vec::new();
    let mut ok = Vec::new();
    for _ in 0..5 {
        let r = read_frame(&mut s).await.unwrap();
        if r.response_code() == ResponseCode::SYSTEM_BUSY {
            assert!(r.remark_str().starts_with("[OVERLOAD]"), "{:?}", r.remark);
            busy.push(r.opaque);
        } else {
            assert_eq!(r.response_code(), ResponseCode::SUCCESS);
            ok.push(r.opaque);
        }
    }
    busy.sort();
    ok.sort();
    assert_eq!((ok, busy), (vec![1, 2], vec![3, 4, 5]));
    server.stop().await;
}
