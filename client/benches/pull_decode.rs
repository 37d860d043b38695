//! What a consuming client spends per pulled message: a PULL_MESSAGE answer of 32 records of
//! 1 KiB (the properties a Java producer writes: TAGS, KEYS, UNIQ_KEY, WAIT) decoded into
//! `MessageExt`s and stamped with the queue's offset bounds, as the pull consumer does.
//!
//! `cargo bench -p client --bench pull_decode -- --warm-up-time 1 --measurement-time 3`
//! reports messages per second (issue 23: the backlog consume is bounded by this client work).

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use client::{MessageExt, PullResult, PullStatus};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use remoting::message::{MessageRecord, Properties, encode};

const RECORDS: usize = 32;

/// A pull body: `RECORDS` stored records back to back, as the broker sends them.
fn pull_body() -> Bytes {
    let mut out = BytesMut::new();
    for i in 0..RECORDS {
        let properties: Properties = [
            ("TAGS", "TagA".to_string()),
            ("KEYS", format!("OrderID{i}")),
            ("UNIQ_KEY", format!("7F0000010B4818B4AAC26D2E2D80{i:04X}")),
            ("WAIT", "true".to_string()),
        ]
        .into_iter()
        .collect();
        let rec = MessageRecord {
            queue_id: 3,
            queue_offset: 1_000 + i as i64,
            physical_offset: 1_048_576 + (i as i64) * 1_200,
            born_timestamp: 1_700_000_000_000,
            born_host: "127.0.0.1:50000".parse().unwrap(),
            store_timestamp: 1_700_000_000_001,
            store_host: "127.0.0.1:10911".parse().unwrap(),
            body: Bytes::from(vec![0x5Au8; 1024]),
            topic: "BenchmarkTest".into(),
            properties,
            ..Default::default()
        };
        out.extend_from_slice(&encode(&rec).unwrap());
    }
    out.freeze()
}

fn bench(c: &mut Criterion) {
    let body = pull_body();
    let mut group = c.benchmark_group("pull_decode_32x1KiB");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("decode+stamp", |b| {
        b.iter(|| {
            let msgs = MessageExt::decode_all_shared(black_box(&body), "broker-a").unwrap();
            let mut r = PullResult {
                status: PullStatus::Found,
                next_begin_offset: 1_032,
                min_offset: 0,
                max_offset: 2_000_000,
                suggest_which_broker_id: 0,
                msgs,
            };
            r.stamp_queue_offsets();
            black_box(r)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
