//! 1,000 connections opened and dropped against a real server: no panic, the server keeps
//! serving, memory stays flat. Alone in its own test binary so that other tests do not disturb
//! the RSS reading.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::Duration;

use common::*;
use remoting::{ExtFields, RemotingCommand};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_thousand_connections_opened_and_dropped() {
    let server = start().await;
    // Warm up allocator pools before measuring.
    for _ in 0..50 {
        drop(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    assert_alive(server.addr).await;
    let before = vm_rss_kib();
    for round in 0..10 {
        let mut conns = Vec::new();
        for i in 0..100 {
            let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
            if i % 2 == 0 {
                // Half of them send a request and leave without reading the answer.
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
            assert_alive(server.addr).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_alive(server.addr).await;
    let after = vm_rss_kib();
    let grown_mib = after.saturating_sub(before) / 1024;
    // Loose: the tests of this file share the process; a leak of a few KiB per connection would
    // still pass, but anything proportional to frame sizes or unbounded buffers would not.
    assert!(grown_mib < 64, "RSS grew from {before} KiB to {after} KiB");
    server.stop().await;
}
