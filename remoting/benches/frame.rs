//! Frame encode + decode throughput: SEND_MESSAGE_V2 with a 1 KiB body, JSON and binary headers.
//!
//! `cargo bench -p remoting --bench frame -- --warm-up-time 1 --measurement-time 3`
//! Group `send_message_v2_1KiB_msgs` reports messages per second of the whole path (encode,
//! codec decode, typed send header); `send_message_v2_1KiB_bytes` reports MiB/s of whole frames for
//! that path and for encoding and decoding alone. Group `send_response` reports answers per
//! second of the way back: the broker's typed response header rendered and encoded, the
//! client's codec decode and typed header.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use remoting::frame::{self, RemotingCodec};
use remoting::header::send::{self, SendMessageRequestHeader, SendMessageResponseHeader};
use remoting::{CommandHeader, RemotingCommand, RequestCode, ResponseCode, SerializeType};
use tokio_util::codec::Decoder;

fn send_v2(serialize_type: SerializeType) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "please_rename_unique_group_name".into(),
        topic: "TopicTest".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(
            "TAGS\u{1}TagA\u{2}KEYS\u{1}OrderID188\u{2}UNIQ_KEY\u{1}7F0000010B4818B4AAC2\
             6D2E2D800000\u{2}WAIT\u{1}true"
                .into(),
        ),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
        bname: Some("broker-a".into()),
    };
    let mut cmd = RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        send::encode_send_ext(RequestCode::SEND_MESSAGE_V2, &header),
    )
    .with_body(vec![0x5Au8; 1024]);
    cmd.opaque = 123_456;
    cmd.serialize_type = serialize_type;
    cmd
}

/// Encodes `cmd`, decodes it with the codec, and decodes its send header: one message through a
/// broker's frame path.
fn round_trip(cmd: &RemotingCommand, codec: &mut RemotingCodec, buf: &mut BytesMut) {
    frame::encode(black_box(cmd), buf).unwrap();
    let decoded = codec.decode(buf).unwrap().unwrap();
    let header = send::decode_send_request(&decoded).unwrap();
    black_box((decoded, header));
}

fn bench(c: &mut Criterion) {
    let encodings = [
        ("json", SerializeType::Json),
        ("binary", SerializeType::RocketMq),
    ];
    // Messages per second.
    let mut group = c.benchmark_group("send_message_v2_1KiB_msgs");
    group.throughput(Throughput::Elements(1));
    for (name, st) in encodings {
        let cmd = send_v2(st);
        group.bench_function(format!("encode+decode/{name}"), |b| {
            let mut codec = RemotingCodec::default();
            let mut buf = BytesMut::with_capacity(4096);
            b.iter(|| round_trip(&cmd, &mut codec, &mut buf))
        });
    }
    group.finish();
    // Bytes per second (whole frames), and each direction alone.
    let mut group = c.benchmark_group("send_message_v2_1KiB_bytes");
    for (name, st) in encodings {
        let cmd = send_v2(st);
        let encoded = frame::encode_to_bytes(&cmd).unwrap();
        group.throughput(Throughput::Bytes(encoded.len() as u64));
        group.bench_function(format!("encode+decode/{name}"), |b| {
            let mut codec = RemotingCodec::default();
            let mut buf = BytesMut::with_capacity(4096);
            b.iter(|| round_trip(&cmd, &mut codec, &mut buf))
        });
        group.bench_function(format!("encode/{name}"), |b| {
            let mut buf = BytesMut::with_capacity(4096);
            b.iter(|| {
                buf.clear();
                frame::encode(black_box(&cmd), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| black_box(frame::decode_frame(black_box(encoded.slice(4..))).unwrap()))
        });
    }
    group.finish();
    // The way back: a send's answer.
    let mut group = c.benchmark_group("send_response");
    group.throughput(Throughput::Elements(1));
    let req = send_v2(SerializeType::Json);
    group.bench_function("render+encode+decode/json", |b| {
        let mut codec = RemotingCodec::default();
        let mut buf = BytesMut::with_capacity(4096);
        b.iter(|| {
            let header = SendMessageResponseHeader {
                msg_id: "7F00000100002A9F0000000000A3B2C4".into(),
                queue_id: 3,
                queue_offset: black_box(1_234_567),
                transaction_id: None,
                batch_uniq_id: None,
                msg_region: Some("DefaultRegion".into()),
                trace_on: Some(true),
            };
            let cmd = req
                .response_to(ResponseCode::SUCCESS, None)
                .with_ext(header.to_ext());
            frame::encode(&cmd, &mut buf).unwrap();
            let decoded = codec.decode(&mut buf).unwrap().unwrap();
            let back = SendMessageResponseHeader::from_ext(&decoded.ext_fields).unwrap();
            black_box(back)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
