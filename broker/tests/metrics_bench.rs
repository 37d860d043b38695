//! What the metrics hooks cost per message (ignored by default; figures in BENCHMARKS.md):
//! `cargo test --release -p broker --test metrics_bench -- --ignored --nocapture`. Times the
//! hooks a send and a pull run (`on_put`, `on_response`, `on_pull`) enabled against disabled,
//! on one thread and on two threads hitting the same topic.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::metrics::{BrokerMetrics, RequestKind};
use remoting::RequestCode;

fn per_message(m: &BrokerMetrics, n: u64) -> f64 {
    let send = RequestKind::of(RequestCode::SEND_MESSAGE_V2);
    let pull = RequestKind::of(RequestCode::PULL_MESSAGE);
    let start = Instant::now();
    for i in 0..n {
        let topic = if i % 8 == 0 { "TopicB" } else { "TopicA" };
        m.on_put(topic, 1, 1024, Duration::from_micros(i % 700));
        m.on_response(send, 0);
        m.on_pull(topic, "GroupA", 1, 1100);
        m.on_response(pull, 0);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

#[test]
#[ignore]
fn hook_cost_per_message() {
    const N: u64 = 5_000_000;
    for threads in [1usize, 2] {
        for enabled in [false, true] {
            let m = Arc::new(BrokerMetrics::new(enabled));
            per_message(&m, 100_000); // warm: topics seen, caches hot
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || per_message(&m, N))
                })
                .collect();
            let ns: Vec<f64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            let avg = ns.iter().sum::<f64>() / ns.len() as f64;
            println!(
                "threads {threads} metrics {}: {avg:.1} ns per message (put + send response + pull + pull response)",
                if enabled { "on " } else { "off" }
            );
        }
    }
}
