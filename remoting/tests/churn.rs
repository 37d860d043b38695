//! 1,000 connections opened and dropped against a real server: no panic, the server keeps
//! serving, memory stays flat. Alone in its own test binary so that other tests do not disturb
//! the RSS reading.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::Duration;

use common::*;
use remoting::{ExtFields, RemotingCommand};
use tokio::io::AsyncWriteExt;

/// Opens 1,000 connections in rounds of 100 and drops them; half send a request first and leave
/// without reading the answer.
async fn churn(addr: std::net::SocketAddr) {
    for round in 0..10 {
        let mut conns = Vec::new();
        for i in 0..100 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            if i % 2 == 0 {
                let _ = s
                    .write_all(&encode(&RemotingCommand::request(
                        OK_CODE,
                        ExtFields::new(),
                    )))
                    .await;
            }
            conns.push(s);
        }
        drop(conns);
        if round % 3 == 0 {
            assert_alive(addr).await;
        }
    }
    // Let the server notice the last closes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_alive(addr).await;
}

#[tokio::test]
async fn a_thousand_connections_opened_and_dropped() {
    let server = start().await;
    // Warm up allocator pools before measuring.
    for _ in 0..50 {
        drop(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    assert_alive(server.addr).await;
    let before = vm_rss_kib();
    churn(server.addr).await;
    let middle = vm_rss_kib();
    churn(server.addr).await;
    let after = vm_rss_kib();
    eprintln!("RSS {before} KiB -> {middle} KiB (1,000 connections) -> {after} KiB (2,000)");
    // Loose bounds, no timing: allocator pools may keep some memory after the first thousand,
    // but a second thousand must not keep adding (a per-connection leak would).
    assert!(
        middle.saturating_sub(before) < 64 * 1024,
        "RSS grew from {before} KiB to {middle} KiB"
    );
    assert!(
        after.saturating_sub(middle) < 16 * 1024,
        "RSS kept growing: {middle} KiB to {after} KiB"
    );
    server.stop().await;
}
