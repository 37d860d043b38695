//! Runs every seed of the fuzz corpus (`fuzz/corpus/<target>/`) through the decoders on stable,
//! so the corpus stays meaningful in CI. `cargo test -p remoting --test corpus -- --ignored
//! regenerate` rewrites the seeds from the commands below.
//!
//! File name prefixes say what each seed must do: `frame-*` decode to whole frames and re-encode
//! to the same bytes; `lenient-*` decode (they are what other clients send, not our encoding);
//! `record-*` decode as commit-log records and re-encode identically; `batch-*` decode as a
//! SEND_BATCH_MESSAGE body; `json-*` and `fastjson-*` (body_decode, hand-written, not regenerated)
//! parse as standard JSON and as the Java dialect only.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use remoting::ext::CommandHeader;
use remoting::frame::{self, RemotingCodec};
use remoting::header::{pull, send};
use remoting::message::{self, BatchItem, MessageRecord, Properties};
use remoting::{ExtFields, RemotingCommand, RequestCode, ResponseCode, SerializeType};
use tokio_util::codec::Decoder;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn decode_stream(bytes: &[u8]) -> Vec<RemotingCommand> {
    let mut codec = RemotingCodec::default();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(cmd) = codec.decode(&mut buf).unwrap() {
        out.push(cmd);
    }
    assert!(buf.is_empty(), "trailing bytes");
    out
}

#[test]
fn frame_seeds_decode() {
    let seeds = seeds("frame_decode");
    assert!(seeds.len() >= 8, "corpus missing");
    for (name, bytes) in seeds {
        let cmds = decode_stream(&bytes);
        assert!(!cmds.is_empty(), "{name}");
        if name.starts_with("frame-") {
            let mut again = BytesMut::new();
            for c in &cmds {
                frame::encode(c, &mut again).unwrap();
            }
            assert_eq!(&again[..], &bytes[..], "{name} re-encodes differently");
        } else {
            assert!(name.starts_with("lenient-"), "unknown seed kind {name}");
        }
        for c in &cmds {
            if matches!(
                c.request_code(),
                RequestCode::SEND_MESSAGE | RequestCode::SEND_MESSAGE_V2
            ) && !c.is_response()
            {
                send::decode_send_request(c).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
}

#[test]
fn record_seeds_decode() {
    let seeds = seeds("record_decode");
    assert!(seeds.len() >= 3, "corpus missing");
    for (name, bytes) in seeds {
        if name.starts_with("batch-") {
            assert!(!message::decode_batch(&bytes).unwrap().is_empty(), "{name}");
            continue;
        }
        assert!(name.starts_with("record-"), "unknown seed kind {name}");
        let records = message::decode_all(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!records.is_empty());
        let mut again = Vec::new();
        for r in &records {
            message::encode_into(r, &mut again).unwrap();
        }
        assert_eq!(again, bytes, "{name} re-encodes differently");
    }
}

#[test]
fn body_seeds_parse() {
    let seeds = seeds("body_decode");
    assert!(seeds.len() >= 4, "corpus missing");
    for (name, bytes) in seeds {
        let v = remoting::fastjson::parse_value(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(v.is_object(), "{name}");
        // `json-*` seeds are standard JSON; `fastjson-*` ones use the Java dialect.
        let standard = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok();
        match name.split('-').next() {
            Some("json") => assert!(standard, "{name}"),
            Some("fastjson") => assert!(!standard, "{name}"),
            _ => panic!("unknown seed kind {name}"),
        }
    }
}

fn frame_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let send_v1 = send::SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: "TopicTest".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 1,
        born_timestamp: 1_700_000_000_000,
        properties: Some("TAGS\u{1}TagA\u{2}KEYS\u{1}k1\u{2}UNIQ_KEY\u{1}7F0000010001".into()),
        batch: Some(false),
        ..Default::default()
    };
    let enc = |c: &RemotingCommand| frame::encode_to_bytes(c).unwrap().to_vec();
    let v2 = RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        send::encode_send_ext(RequestCode::SEND_MESSAGE_V2, &send_v1),
    )
    .with_body(vec![b'x'; 1024]);
    let mut v2_bin = v2.clone();
    v2_bin.serialize_type = SerializeType::RocketMq;
    let v1 = RemotingCommand::request(
        RequestCode::SEND_MESSAGE,
        send::encode_send_ext(RequestCode::SEND_MESSAGE, &send_v1),
    )
    .with_body(&b"hello"[..]);
    let pull_resp = RemotingCommand::request(RequestCode::PULL_MESSAGE, ExtFields::new())
        .response_to(
            ResponseCode::PULL_NOT_FOUND,
            Some("OFFSET_OVERFLOW_ONE".into()),
        )
        .with_ext(
            pull::PullMessageResponseHeader {
                next_begin_offset: 10,
                max_offset: 10,
                ..Default::default()
            }
            .to_ext(),
        );
    let heartbeat = RemotingCommand::request(RequestCode::HEART_BEAT, ExtFields::new()).with_body(
        br#"{"clientID":"10.0.0.5@1","consumerDataSet":[{"groupName":"CG","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"T","subString":"*","subVersion":1}]}],"producerDataSet":[]}"#.to_vec(),
    );
    let mut oneway = RemotingCommand::request(
        RequestCode::UPDATE_CONSUMER_OFFSET,
        [
            ("consumerGroup", "CG"),
            ("topic", "T"),
            ("queueId", "0"),
            ("commitOffset", "5"),
        ]
        .into_iter()
        .collect(),
    );
    oneway.mark_oneway();
    let mut err_bin = RemotingCommand::request(RequestCode(9999), ExtFields::new()).response_to(
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
        Some(" request type 9999 not supported".into()),
    );
    err_bin.serialize_type = SerializeType::RocketMq;
    let stats = RemotingCommand::request(RequestCode::GET_CONSUME_STATS, ExtFields::new())
        .success()
        .with_body(&br#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":3,"consumerOffset":1,"lastTimestamp":0}}}"#[..]);
    let mut two = enc(&v1);
    two.extend_from_slice(&enc(&oneway));
    let cpp = br#"{"code":10,"language":"CPP","version":63,"opaque":1,"flag":0,"remark":"","extFields":{"producerGroup":"PG","topic":"T","defaultTopic":"TBW102","defaultTopicQueueNums":4,"queueId":0,"sysFlag":0,"bornTimestamp":1700000000000,"flag":0,"batch":"0","AccessKey":""}}"#;
    let ali = br#"{"code":310,"language":"JAVA","version":317,"opaque":77,"flag":0,"extFields":{"a":"PG","b":"T","c":"TBW102","d":4,"e":3,"f":0,"g":1700000000001,"h":0,"k":false}}"#;
    let raw = |h: &[u8], body: &[u8]| {
        let mut out = ((4 + h.len() + body.len()) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&(h.len() as u32).to_be_bytes());
        out.extend_from_slice(h);
        out.extend_from_slice(body);
        out
    };
    vec![
        ("frame-send-v2-json", enc(&v2)),
        ("frame-send-v2-binary", enc(&v2_bin)),
        ("frame-send-v1-json", enc(&v1)),
        ("frame-pull-not-found", enc(&pull_resp)),
        ("frame-heartbeat", enc(&heartbeat)),
        ("frame-oneway-update-offset", enc(&oneway)),
        ("frame-error-binary", enc(&err_bin)),
        ("frame-consume-stats-form2", enc(&stats)),
        ("frame-two-frames", two),
        ("lenient-cpp-send", raw(cpp, b"hello")),
        ("lenient-ali-ons-send-v2", raw(ali, b"hello")),
    ]
}

fn record_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let v4: SocketAddr = "10.0.0.5:51234".parse().unwrap();
    let store: SocketAddr = "10.0.0.1:10911".parse().unwrap();
    let mut props = Properties::new();
    props.insert("TAGS", "TagA");
    props.insert("KEYS", "k1 k2");
    props.insert("UNIQ_KEY", "0A0000050001");
    let rec = MessageRecord {
        queue_id: 1,
        queue_offset: 7,
        physical_offset: 4096,
        born_timestamp: 1_700_000_000_000,
        born_host: v4,
        store_timestamp: 1_700_000_000_005,
        store_host: store,
        body: Bytes::from_static(b"hello world"),
        topic: "TopicTest".into(),
        properties: props.clone(),
        ..Default::default()
    };
    let v6 = MessageRecord {
        born_host: "[::1]:40000".parse().unwrap(),
        store_host: "[fe80::1]:10911".parse().unwrap(),
        topic: "T6".into(),
        ..rec.clone()
    };
    let mut two = message::encode(&rec).unwrap();
    two.extend_from_slice(
        &message::encode(&MessageRecord {
            queue_offset: 8,
            physical_offset: 4096 + two.len() as i64,
            body: Bytes::new(),
            ..rec.clone()
        })
        .unwrap(),
    );
    let batch = message::encode_batch(&[
        BatchItem {
            flag: 0,
            body: Bytes::from_static(b"one"),
            properties: props.clone(),
        },
        BatchItem {
            flag: 3,
            body: Bytes::from_static(b"two"),
            properties: Properties::new(),
        },
    ])
    .unwrap();
    vec![
        ("record-single", message::encode(&rec).unwrap()),
        ("record-ipv6", message::encode(&v6).unwrap()),
        ("record-two", two),
        ("batch-two-items", batch),
    ]
}

#[test]
#[ignore = "rewrites the fuzz seed corpus"]
fn regenerate() {
    for (target, seeds) in [
        ("frame_decode", frame_seeds()),
        ("record_decode", record_seeds()),
    ] {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
