//! Golden frames built byte by byte from the spec layouts (§1.1, §1.3, §1.4): each decodes to the
//! expected values and re-encodes to exactly the same bytes.

#![allow(clippy::unwrap_used)] // tests may unwrap

use remoting::command::{FLAG_ONEWAY, FLAG_RESPONSE, LanguageCode};
use remoting::ext::CommandHeader;
use remoting::frame;
use remoting::header::{pull, send};
use remoting::{RemotingCommand, RequestCode, ResponseCode, SerializeType};

/// Decodes a whole frame (length prefix included), checks it against `check`, and re-encodes.
fn golden(bytes: &[u8], check: impl FnOnce(&RemotingCommand)) {
    let total = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(total + 4, bytes.len(), "hand-built total length");
    assert_eq!(
        frame::check(bytes, frame::DEFAULT_MAX_FRAME).unwrap(),
        Some(bytes.len())
    );
    // One byte short is "incomplete", not an error.
    assert_eq!(
        frame::check(&bytes[..bytes.len() - 1], frame::DEFAULT_MAX_FRAME).unwrap(),
        None
    );
    let cmd = frame::decode_frame(bytes::Bytes::copy_from_slice(&bytes[4..])).unwrap();
    check(&cmd);
    assert_eq!(
        frame::encode_to_bytes(&cmd).unwrap().as_ref(),
        bytes,
        "re-encoding differs"
    );
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn json_send_message_v2_request_with_body() {
    let header = br#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0","g":"1700000000000","h":"0","i":"TAGS\u0001TagA\u0002WAIT\u0001true","k":"false","m":"false"},"flag":0,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":409}"#;
    assert_eq!(header.len(), 267);
    let bytes = cat(&[
        &[0x00, 0x00, 0x01, 0x14], // total = 4 + 267 + 5 = 276
        &[0x00, 0x00, 0x01, 0x0B], // JSON (0) << 24 | 267
        header,
        b"hello",
    ]);
    golden(&bytes, |cmd| {
        assert_eq!(cmd.request_code(), RequestCode::SEND_MESSAGE_V2);
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!((cmd.version, cmd.opaque, cmd.flag), (409, 42, 0));
        assert_eq!(cmd.remark, None);
        assert_eq!(cmd.serialize_type, SerializeType::Json);
        assert_eq!(&cmd.body[..], b"hello");
        let h = send::decode_send_request(cmd).unwrap();
        assert_eq!(h.producer_group, "PG");
        assert_eq!(h.topic, "TopicTest");
        assert_eq!(h.default_topic_queue_nums, 4);
        assert_eq!(h.queue_id, 1);
        assert_eq!(h.born_timestamp, 1_700_000_000_000);
        assert_eq!(
            h.properties.as_deref(),
            Some("TAGS\u{1}TagA\u{2}WAIT\u{1}true")
        );
        assert_eq!(h.unit_mode, Some(false));
        assert!(!h.is_batch());
        assert_eq!(h.reconsume_times, None);
    });
}

#[test]
fn json_error_response_with_remark() {
    let header = br#"{"code":3,"extFields":{},"flag":1,"language":"JAVA","opaque":7,"remark":" request type 9999 not supported","serializeTypeCurrentRPC":"JSON","version":409}"#;
    assert_eq!(header.len(), 154);
    let bytes = cat(&[&[0, 0, 0, 158], &[0, 0, 0, 154], header]);
    golden(&bytes, |cmd| {
        assert!(cmd.is_response());
        assert_eq!(cmd.flag, FLAG_RESPONSE);
        assert_eq!(
            cmd.response_code(),
            ResponseCode::REQUEST_CODE_NOT_SUPPORTED
        );
        assert_eq!(cmd.remark_str(), " request type 9999 not supported");
        assert!(cmd.ext_fields.is_empty() && cmd.body.is_empty());
    });
}

#[test]
fn json_pull_not_found_response() {
    let header = br#"{"code":19,"extFields":{"maxOffset":"100","minOffset":"0","nextBeginOffset":"100","suggestWhichBrokerId":"0"},"flag":1,"language":"JAVA","opaque":-5,"remark":"OFFSET_OVERFLOW_ONE","serializeTypeCurrentRPC":"JSON","version":409}"#;
    let n = header.len() as u32;
    assert_eq!(n, 227);
    let bytes = cat(&[&(n + 4).to_be_bytes(), &n.to_be_bytes(), header]);
    golden(&bytes, |cmd| {
        assert_eq!(cmd.response_code(), ResponseCode::PULL_NOT_FOUND);
        assert_eq!(cmd.opaque, -5);
        let h: pull::PullMessageResponseHeader = cmd.ext_fields.decode().unwrap();
        assert_eq!(h.next_begin_offset, 100);
        assert_eq!(h.max_offset, 100);
        assert_eq!(h.suggest_which_broker_id, 0);
    });
}

#[test]
fn json_oneway_request_go_client() {
    let header = br#"{"code":15,"extFields":{"commitOffset":"12","consumerGroup":"CG","queueId":"3","topic":"T"},"flag":2,"language":"GO","opaque":1,"serializeTypeCurrentRPC":"JSON","version":317}"#;
    let n = header.len() as u32;
    let bytes = cat(&[&(n + 4).to_be_bytes(), &n.to_be_bytes(), header]);
    golden(&bytes, |cmd| {
        assert!(cmd.is_oneway() && !cmd.is_response());
        assert_eq!(cmd.flag, FLAG_ONEWAY);
        assert_eq!(cmd.language, LanguageCode::Go);
        let h: remoting::header::offset::UpdateConsumerOffsetRequestHeader =
            cmd.ext_fields.decode().unwrap();
        assert_eq!((h.queue_id, h.commit_offset), (3, 12));
    });
}

#[test]
fn binary_send_request_with_ext_fields_and_body() {
    let ext: &[u8] = &cat(&[
        &[0x00, 0x07],
        b"queueId",
        &[0x00, 0x00, 0x00, 0x01],
        b"1", // 14 bytes
        &[0x00, 0x05],
        b"topic",
        &[0x00, 0x00, 0x00, 0x01],
        b"T", // 12 bytes
    ]);
    assert_eq!(ext.len(), 26);
    let bytes = cat(&[
        &[0x00, 0x00, 0x00, 0x36], // total = 4 + 47 + 3 = 54
        &[0x01, 0x00, 0x00, 0x2F], // ROCKETMQ (1) << 24 | 47
        &[0x00, 0x0A],             // code 10
        &[0x00],                   // JAVA
        &[0x01, 0x99],             // version 409
        &[0x00, 0x00, 0x00, 0x2A], // opaque 42
        &[0x00, 0x00, 0x00, 0x00], // flag
        &[0x00, 0x00, 0x00, 0x00], // remark length 0 = none
        &[0x00, 0x00, 0x00, 0x1A], // ext length 26
        ext,
        b"abc",
    ]);
    golden(&bytes, |cmd| {
        assert_eq!(cmd.serialize_type, SerializeType::RocketMq);
        assert_eq!(cmd.request_code(), RequestCode::SEND_MESSAGE);
        assert_eq!((cmd.version, cmd.opaque, cmd.flag), (409, 42, 0));
        assert_eq!(cmd.remark, None);
        assert_eq!(cmd.ext_fields.get("queueId"), Some("1"));
        assert_eq!(cmd.ext_fields.get("topic"), Some("T"));
        assert_eq!(&cmd.body[..], b"abc");
    });
}

#[test]
fn binary_response_with_remark_no_ext() {
    let bytes = cat(&[
        &[0x00, 0x00, 0x00, 0x1D], // total = 4 + 25 = 29
        &[0x01, 0x00, 0x00, 0x19], // ROCKETMQ, header 25 = 21 + 4
        &[0x00, 0x01],             // SYSTEM_ERROR
        &[0x0C],                   // RUST
        &[0x01, 0xDF],             // version 479
        &[0xFF, 0xFF, 0xFF, 0xFE], // opaque -2
        &[0x00, 0x00, 0x00, 0x01], // response
        &[0x00, 0x00, 0x00, 0x04],
        b"boom",
        &[0x00, 0x00, 0x00, 0x00], // no ext fields
    ]);
    golden(&bytes, |cmd| {
        assert_eq!(cmd.response_code(), ResponseCode::SYSTEM_ERROR);
        assert_eq!(cmd.language, LanguageCode::Rust);
        assert_eq!((cmd.version, cmd.opaque), (479, -2));
        assert!(cmd.is_response());
        assert_eq!(cmd.remark.as_deref(), Some("boom"));
        assert!(cmd.ext_fields.is_empty());
    });
}

#[test]
fn binary_send_response_header() {
    let header = send::SendMessageResponseHeader {
        msg_id: "7F00000100002A9F0000000000000000".into(),
        queue_id: 0,
        queue_offset: 5,
        ..Default::default()
    };
    let ext = header.to_ext();
    let mut area = Vec::new();
    for (k, v) in ext.iter() {
        area.extend_from_slice(&(k.len() as u16).to_be_bytes());
        area.extend_from_slice(k.as_bytes());
        area.extend_from_slice(&(v.len() as u32).to_be_bytes());
        area.extend_from_slice(v.as_bytes());
    }
    // msgId(5) + 32, queueId(7) + 1, queueOffset(11) + 1, each with 6 length bytes.
    assert_eq!(area.len(), 6 * 3 + 5 + 32 + 7 + 1 + 11 + 1);
    let header_len = 21 + area.len() as u32;
    let bytes = cat(&[
        &(4 + header_len).to_be_bytes(),
        &((1u32 << 24) | header_len).to_be_bytes(),
        &[0, 0, 0, 1, 0x99, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0],
        &(area.len() as u32).to_be_bytes(),
        &area,
    ]);
    golden(&bytes, |cmd| {
        assert_eq!(cmd.response_code(), ResponseCode::SUCCESS);
        assert_eq!(cmd.opaque, 9);
        let back: send::SendMessageResponseHeader = cmd.ext_fields.decode().unwrap();
        assert_eq!(back, header);
    });
}
