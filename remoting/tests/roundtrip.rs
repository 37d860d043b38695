//! Property round-trips: frames in both header encodings (whole and fed in pieces), and every
//! typed header of this crate.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use remoting::command::LanguageCode;
use remoting::ext::{CommandHeader, ExtFields};
use remoting::frame::{self, RemotingCodec};
use remoting::header::{admin, client, offset, pull, query, send, transaction};
use remoting::{RemotingCommand, SerializeType};
use tokio_util::codec::Decoder;

const LANGS: [LanguageCode; 14] = [
    LanguageCode::Java,
    LanguageCode::Cpp,
    LanguageCode::Dotnet,
    LanguageCode::Python,
    LanguageCode::Delphi,
    LanguageCode::Erlang,
    LanguageCode::Ruby,
    LanguageCode::Other,
    LanguageCode::Http,
    LanguageCode::Go,
    LanguageCode::Php,
    LanguageCode::Oms,
    LanguageCode::Rust,
    LanguageCode::NodeJs,
];

fn arb_command(st: SerializeType) -> impl Strategy<Value = RemotingCommand> {
    let binary = st == SerializeType::RocketMq;
    let code = if binary {
        (i16::MIN as i32..=i16::MAX as i32).boxed()
    } else {
        any::<i32>().boxed()
    };
    let version = if binary {
        (i16::MIN as i32..=i16::MAX as i32).boxed()
    } else {
        any::<i32>().boxed()
    };
    // The binary form cannot tell an empty remark from none (Java reads length 0 as null).
    let remark = if binary {
        proptest::option::of("\\PC{1,24}").boxed()
    } else {
        proptest::option::of("\\PC{0,24}").boxed()
    };
    (
        code,
        0..LANGS.len(),
        version,
        any::<i32>(),
        any::<i32>(),
        remark,
        proptest::collection::btree_map("\\PC{0,8}", "\\PC{0,16}", 0..6),
        proptest::collection::vec(any::<u8>(), 0..128),
    )
        .prop_map(
            move |(code, lang, version, opaque, flag, remark, ext, body)| RemotingCommand {
                code,
                language: LANGS[lang],
                version,
                opaque,
                flag,
                remark,
                ext_fields: ExtFields::from(ext),
                body: Bytes::from(body),
                serialize_type: st,
            },
        )
}

fn arb_any_command() -> impl Strategy<Value = RemotingCommand> {
    prop_oneof![
        arb_command(SerializeType::Json),
        arb_command(SerializeType::RocketMq)
    ]
}

proptest! {
    #[test]
    fn frame_round_trip(cmd in arb_any_command()) {
        let bytes = frame::encode_to_bytes(&cmd).unwrap();
        let len = frame::check(&bytes, frame::DEFAULT_MAX_FRAME).unwrap();
        prop_assert_eq!(len, Some(bytes.len()));
        let back = frame::decode_frame(bytes.slice(4..)).unwrap();
        prop_assert_eq!(&back, &cmd);
        // Re-encoding is byte-identical.
        prop_assert_eq!(frame::encode_to_bytes(&back).unwrap(), bytes);
    }

    #[test]
    fn codec_reassembles_frames_fed_in_pieces(
        cmds in proptest::collection::vec(arb_any_command(), 1..5),
        cuts in proptest::collection::vec(1usize..64, 1..40),
    ) {
        let mut all = Vec::new();
        for c in &cmds {
            all.extend_from_slice(&frame::encode_to_bytes(c).unwrap());
        }
        let mut codec = RemotingCodec::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut cut = cuts.iter().cycle();
        while pos < all.len() {
            let n = (*cut.next().unwrap()).min(all.len() - pos);
            buf.extend_from_slice(&all[pos..pos + n]);
            pos += n;
            while let Some(c) = codec.decode(&mut buf).unwrap() {
                out.push(c);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(out, cmds);
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut codec = RemotingCodec::default();
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        let _ = frame::decode_frame(Bytes::from(bytes));
    }

    #[test]
    fn decoder_never_panics_on_mutated_frames(
        cmd in arb_any_command(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = frame::encode_to_bytes(&cmd).unwrap().to_vec();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let mut codec = RemotingCodec::default();
        let mut buf = BytesMut::from(&bytes[..]);
        // Whatever still decodes re-encodes to a frame that decodes to the same command.
        while let Ok(Some(cmd)) = codec.decode(&mut buf) {
            if let Ok(again) = frame::encode_to_bytes(&cmd) {
                prop_assert_eq!(frame::decode_frame(again.slice(4..)).unwrap(), cmd);
            }
        }
    }
}

#[test]
fn incomplete_frame_reserves_a_bounded_buffer() {
    let mut codec = RemotingCodec::default();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&(16u32 * 1024 * 1024 - 8).to_be_bytes());
    buf.extend_from_slice(&[0u8; 4]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert!(
        buf.capacity() < 1024 * 1024,
        "reserved {} bytes",
        buf.capacity()
    );
}

// ---- headers -----------------------------------------------------------------------------------

/// Runs `$m!(Type)` for every header type this crate declares outside the name-server module.
macro_rules! every_header {
    ($m:ident) => {
        $m!(send::SendMessageRequestHeader);
        $m!(send::SendMessageRequestHeaderV2);
        $m!(send::SendMessageResponseHeader);
        $m!(send::ConsumerSendMsgBackRequestHeader);
        $m!(pull::PullMessageRequestHeader);
        $m!(pull::PullMessageResponseHeader);
        $m!(offset::QueryConsumerOffsetRequestHeader);
        $m!(offset::QueryConsumerOffsetResponseHeader);
        $m!(offset::UpdateConsumerOffsetRequestHeader);
        $m!(offset::GetMaxOffsetRequestHeader);
        $m!(offset::GetMaxOffsetResponseHeader);
        $m!(offset::GetMinOffsetRequestHeader);
        $m!(offset::GetMinOffsetResponseHeader);
        $m!(offset::SearchOffsetRequestHeader);
        $m!(offset::SearchOffsetResponseHeader);
        $m!(offset::GetEarliestMsgStoretimeRequestHeader);
        $m!(offset::GetEarliestMsgStoretimeResponseHeader);
        $m!(query::QueryMessageRequestHeader);
        $m!(query::QueryMessageResponseHeader);
        $m!(query::ViewMessageRequestHeader);
        $m!(client::UnregisterClientRequestHeader);
        $m!(client::GetConsumerListByGroupRequestHeader);
        $m!(client::NotifyConsumerIdsChangedRequestHeader);
        $m!(transaction::EndTransactionRequestHeader);
        $m!(transaction::CheckTransactionStateRequestHeader);
        $m!(admin::CreateTopicRequestHeader);
        $m!(admin::DeleteTopicRequestHeader);
        $m!(admin::GetTopicStatsInfoRequestHeader);
        $m!(admin::GetTopicConfigRequestHeader);
        $m!(admin::GetConsumeStatsRequestHeader);
        $m!(admin::GetConsumerConnectionListRequestHeader);
        $m!(admin::GetProducerConnectionListRequestHeader);
        $m!(admin::DeleteSubscriptionGroupRequestHeader);
        $m!(admin::GetSubscriptionGroupConfigRequestHeader);
        $m!(admin::ResetOffsetRequestHeader);
        $m!(admin::GetConsumerStatusRequestHeader);
        $m!(admin::GetConsumerRunningInfoRequestHeader);
        $m!(admin::ConsumeMessageDirectlyResultRequestHeader);
        $m!(admin::QueryTopicConsumeByWhoRequestHeader);
        $m!(admin::QueryConsumeTimeSpanRequestHeader);
        $m!(admin::QueryCorrectionOffsetHeader);
        $m!(admin::CloneGroupOffsetRequestHeader);
        $m!(admin::ViewBrokerStatsDataRequestHeader);
        $m!(admin::GetConsumeStatsInBrokerHeader);
        $m!(admin::QueryConsumeQueueRequestHeader);
        $m!(admin::ResumeCheckHalfMessageRequestHeader);
    };
}

/// A header value: mostly an integer in i32 range, which every field type accepts (strings take
/// it as text, integers parse it, booleans read it as true/false), sometimes a boolean word.
fn arb_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<i32>().prop_map(|v| v.to_string()),
        1 => prop_oneof![Just("true"), Just("false"), Just("1"), Just("0"), Just("TRUE")]
            .prop_map(String::from),
    ]
}

/// `ext` holds an integer for every key of `H` (plus unknown keys). Decoding must succeed, every
/// key must come back, and decode(encode(h)) must be h.
fn check_full<H: CommandHeader + PartialEq + Debug>(
    keys: &[&str],
    values: &[String],
    junk: &ExtFields,
) {
    let mut ext = junk.clone();
    for (k, v) in keys.iter().zip(values.iter().cycle()) {
        ext.insert(*k, v.clone());
    }
    let h = H::from_ext(&ext).unwrap_or_else(|e| panic!("{}: {e}", std::any::type_name::<H>()));
    let out = h.to_ext();
    for k in keys {
        let v = out
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing after round trip"));
        let sent = ext.get(k).unwrap();
        assert!(
            v == sent || v == "true" || v == "false",
            "{k}: sent {sent:?}, got {v:?}"
        );
    }
    assert_eq!(out.len(), keys.len(), "unknown keys must not be echoed");
    assert_eq!(H::from_ext(&out).unwrap(), h);
    assert_eq!(H::from_ext(&out).unwrap().to_ext(), out);
}

/// `ext` holds a random subset. Decoding either succeeds and round-trips, or fails naming a key
/// of `H`.
fn check_partial<H: CommandHeader + PartialEq + Debug>(
    keys: &[&str],
    present: &[bool],
    values: &[String],
) {
    let mut ext = ExtFields::new();
    for ((k, p), v) in keys
        .iter()
        .zip(present.iter().cycle())
        .zip(values.iter().cycle())
    {
        if *p {
            ext.insert(*k, v.clone());
        }
    }
    match H::from_ext(&ext) {
        Ok(h) => assert_eq!(H::from_ext(&h.to_ext()).unwrap(), h),
        Err(remoting::RemotingError::MissingField(k)) => {
            assert!(keys.contains(&k) && ext.get(k).is_none())
        }
        Err(remoting::RemotingError::InvalidField { key, .. }) => assert!(keys.contains(&key)),
        Err(e) => panic!("unexpected error {e}"),
    }
}

proptest! {
    #[test]
    fn every_header_round_trips(
        ints in proptest::collection::vec(any::<i32>().prop_map(|v| v.to_string()), 1..16),
        values in proptest::collection::vec(arb_value(), 1..16),
        present in proptest::collection::vec(any::<bool>(), 1..16),
        junk in proptest::collection::btree_map("[A-Z_]{1,6}", "\\PC{0,8}", 0..3),
    ) {
        let junk = ExtFields::from(junk);
        macro_rules! check {
            ($t:ty) => {
                check_full::<$t>(<$t>::FIELD_KEYS, &ints, &junk);
                check_partial::<$t>(<$t>::FIELD_KEYS, &present, &values);
            };
        }
        every_header!(check);
    }

    #[test]
    fn send_header_v1_v2_conversions(
        group in "[A-Za-z0-9_%-]{1,20}",
        topic in "[A-Za-z0-9_%-]{1,20}",
        queue_id in any::<i32>(),
        sys_flag in any::<i32>(),
        born in any::<i64>(),
        flag in any::<i32>(),
        properties in proptest::option::of("\\PC{0,40}"),
        reconsume in proptest::option::of(any::<i32>()),
        unit in proptest::option::of(any::<bool>()),
        batch in proptest::option::of(any::<bool>()),
        max_reconsume in proptest::option::of(any::<i32>()),
        bname in proptest::option::of("[a-z-]{1,10}"),
    ) {
        let v1 = send::SendMessageRequestHeader {
            producer_group: group.into(),
            topic: topic.into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id,
            sys_flag,
            born_timestamp: born,
            flag,
            properties,
            reconsume_times: reconsume,
            unit_mode: unit,
            batch,
            max_reconsume_times: max_reconsume,
            bname: bname.map(Into::into),
        };
        let v2 = send::SendMessageRequestHeaderV2::from(v1.clone());
        prop_assert_eq!(send::SendMessageRequestHeader::from(v2.clone()), v1.clone());
        for code in [
            remoting::RequestCode::SEND_MESSAGE,
            remoting::RequestCode::SEND_MESSAGE_V2,
            remoting::RequestCode::SEND_BATCH_MESSAGE,
            remoting::RequestCode::SEND_REPLY_MESSAGE,
            remoting::RequestCode::SEND_REPLY_MESSAGE_V2,
        ] {
            let ext = send::encode_send_ext(code, &v1);
            prop_assert_eq!(ext.get("a").is_some(), send::uses_v2_header(code));
            let req = RemotingCommand::request(code, ext);
            // Through a real frame in both encodings.
            for st in [SerializeType::Json, SerializeType::RocketMq] {
                let mut req = req.clone();
                req.serialize_type = st;
                let bytes = frame::encode_to_bytes(&req).unwrap();
                let back = frame::decode_frame(bytes.slice(4..)).unwrap();
                prop_assert_eq!(send::decode_send_request(&back).unwrap(), v1.clone());
            }
        }
    }
}

#[test]
fn a_failed_encode_leaves_the_buffer_unchanged() {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(b"earlier frames");
    let mut too_big_code = RemotingCommand {
        code: 200_050,
        serialize_type: SerializeType::RocketMq,
        ..Default::default()
    };
    assert!(frame::encode(&too_big_code, &mut buf).is_err());
    assert_eq!(&buf[..], b"earlier frames");
    too_big_code.code = 1;
    too_big_code.ext_fields.insert("k".repeat(40_000), "v");
    assert!(frame::encode(&too_big_code, &mut buf).is_err());
    assert_eq!(&buf[..], b"earlier frames");
    // The codec also refuses frames over its limit.
    let mut codec = RemotingCodec::new(1024);
    let big = RemotingCommand::default().with_body(vec![0u8; 2048]);
    assert!(tokio_util::codec::Encoder::encode(&mut codec, big, &mut buf).is_err());
    assert_eq!(&buf[..], b"earlier frames");
}
