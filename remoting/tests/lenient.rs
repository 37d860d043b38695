//! What real clients send (spec §14): the C++ client and ali-ons put JSON numbers and booleans in
//! `extFields`, omit `serializeTypeCurrentRPC`, send `"0"`/`"1"` booleans and extra keys. All of
//! it decodes, and a live server answers it with a strict (strings only) header.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use remoting::command::LanguageCode;
use remoting::ext::CommandHeader;
use remoting::frame;
use remoting::header::send::{self, SendMessageResponseHeader};
use remoting::{
    Connection, RemotingCommand, RequestCode, RequestHandler, ResponseCode, SerializeType,
    ServerConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::*;

fn decode_json(header: &str) -> remoting::Result<RemotingCommand> {
    let bytes = raw_frame(0, header.as_bytes(), b"body");
    frame::decode_frame(Bytes::from(bytes).slice(4..))
}

const CPP_SEND: &str = r#"{"code":10,"language":"CPP","version":63,"opaque":1,"flag":0,"remark":"",
  "extFields":{"producerGroup":"PG","topic":"TopicTest","defaultTopic":"TBW102","defaultTopicQueueNums":4,
  "queueId":0,"sysFlag":0,"bornTimestamp":1700000000000,"flag":0,"properties":"TAGS\u0001A",
  "reconsumeTimes":0,"unitMode":false,"batch":"0","maxReconsumeTimes":16,
  "AccessKey":"","Signature":"c2ln","OnsChannel":"ALIYUN"}}"#;

const ALI_ONS_SEND: &str = r#"{"code":310,"language":"JAVA","version":317,"opaque":77,"flag":0,
  "extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":4,"e":3,"f":0,"g":1700000000001,"h":0,
  "i":"KEYS\u0001k1","j":0,"k":false}}"#;

#[test]
fn cpp_client_send() {
    let cmd = decode_json(CPP_SEND).unwrap();
    assert_eq!(cmd.language, LanguageCode::Cpp);
    assert_eq!(cmd.version, 63);
    assert_eq!(cmd.remark.as_deref(), Some(""));
    assert_eq!(cmd.serialize_type, SerializeType::Json);
    assert_eq!(cmd.ext_fields.get("queueId"), Some("0"));
    assert_eq!(cmd.ext_fields.get("unitMode"), Some("false"));
    let h = send::decode_send_request(&cmd).unwrap();
    assert_eq!(h.default_topic_queue_nums, 4);
    assert_eq!(h.born_timestamp, 1_700_000_000_000);
    assert_eq!(h.batch, Some(false));
    assert_eq!(h.max_reconsume_times, Some(16));
    assert_eq!(h.properties.as_deref(), Some("TAGS\u{1}A"));
}

#[test]
fn ali_ons_send_v2() {
    let cmd = decode_json(ALI_ONS_SEND).unwrap();
    assert_eq!(cmd.request_code(), RequestCode::SEND_MESSAGE_V2);
    let h = send::decode_send_request(&cmd).unwrap();
    assert_eq!((h.queue_id, h.born_timestamp), (3, 1_700_000_000_001));
    assert_eq!(h.unit_mode, Some(false));
    assert_eq!(h.batch, None);
}

#[test]
fn boolean_spellings() {
    for (text, expected) in [
        ("\"1\"", true),
        ("\"0\"", false),
        ("true", true),
        ("false", false),
        ("\"TRUE\"", true),
        ("\"yes\"", false), // Java Boolean.parseBoolean: anything else is false
        ("1", true),
    ] {
        let header = format!(
            r#"{{"code":310,"extFields":{{"a":"P","b":"T","c":"TBW102","d":"4","e":"0","f":"0","g":"0","h":"0","m":{text}}}}}"#
        );
        let cmd = decode_json(&header).unwrap();
        let h = send::decode_send_request(&cmd).unwrap();
        assert_eq!(h.batch, Some(expected), "{text}");
    }
}

#[test]
fn languages_versions_and_unknown_keys() {
    let cases = [
        (r#"{"code":34,"language":"KOTLIN"}"#, LanguageCode::Other),
        (r#"{"code":34,"language":"go"}"#, LanguageCode::Go),
        (r#"{"code":34,"language":9}"#, LanguageCode::Go),
        (r#"{"code":34,"language":200}"#, LanguageCode::Other),
        (r#"{"code":34,"language":null}"#, LanguageCode::Other),
        (r#"{"code":34,"language":"NODE_JS"}"#, LanguageCode::NodeJs),
        (r#"{"code":34}"#, LanguageCode::Java),
    ];
    for (header, lang) in cases {
        let cmd = decode_json(header).unwrap();
        assert_eq!(cmd.language, lang, "{header}");
        assert_eq!(cmd.code, 34);
    }
    let cmd = decode_json(
        r#"
        {
          "code" : "34", "opaque": 5.0, "flag": null, "remark": null, "extFields": null,
          "serializeTypeCurrentRPC": "ROCKETMQ", "unknownKey": {"nested": [1, 2, {"x": true}]},
          "version": "409"
        }"#,
    )
    .unwrap();
    assert_eq!(
        (cmd.code, cmd.opaque, cmd.flag, cmd.version),
        (34, 5, 0, 409)
    );
    assert!(cmd.ext_fields.is_empty());
    assert_eq!(cmd.remark, None);
    // The header's serializeTypeCurrentRPC is informational; the frame's type byte rules.
    assert_eq!(cmd.serialize_type, SerializeType::Json);
    // Nested values in extFields are kept as their JSON text; null values are dropped.
    let cmd = decode_json(r#"{"code":1,"extFields":{"o":{"k":1},"l":[1,"a"],"n":null,"f":1.5}}"#)
        .unwrap();
    assert_eq!(cmd.ext_fields.get("o"), Some(r#"{"k":1}"#));
    assert_eq!(cmd.ext_fields.get("l"), Some(r#"[1,"a"]"#));
    assert_eq!(cmd.ext_fields.get("n"), None);
    assert_eq!(cmd.ext_fields.get("f"), Some("1.5"));
}

/// Decodes the send header of every request and answers like a broker would.
struct SendHandler;

impl RequestHandler for SendHandler {
    fn handle<'a>(
        &'a self,
        _conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            Some(match send::decode_send_request(&request) {
                Ok(h) => {
                    let resp = SendMessageResponseHeader {
                        msg_id: "7F00000100002A9F0000000000000000".into(),
                        queue_id: h.queue_id.max(0),
                        queue_offset: h.born_timestamp % 1000,
                        msg_region: Some("DefaultRegion".into()),
                        trace_on: Some(true),
                        ..Default::default()
                    };
                    request.success().with_ext(resp.to_ext())
                }
                Err(e) => request.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
            })
        })
    }
}

#[tokio::test]
async fn live_server_answers_cpp_and_ali_ons_frames_with_string_fields() {
    let server = start_on(
        "127.0.0.1:0",
        Arc::new(SendHandler),
        ServerConfig::default(),
    )
    .await;
    let mut s = raw_send(server.addr, &[]).await;
    for (header, opaque, queue_id, queue_offset) in
        [(CPP_SEND, 1, "0", "0"), (ALI_ONS_SEND, 77, "3", "1")]
    {
        s.write_all(&raw_frame(0, header.as_bytes(), b"hello"))
            .await
            .unwrap();
        // Read the raw response to check the wire form, not only the decoded one.
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.unwrap();
        let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut rest).await.unwrap();
        let header_len = (u32::from_be_bytes(rest[..4].try_into().unwrap()) & 0xFF_FFFF) as usize;
        assert_eq!(rest[0], 0, "answered in the request's (JSON) encoding");
        let json: serde_json::Value = serde_json::from_slice(&rest[4..4 + header_len]).unwrap();
        assert_eq!(json["code"], 0);
        assert_eq!(json["opaque"], opaque);
        assert_eq!(json["flag"], 1);
        assert_eq!(json["language"], "JAVA");
        let ext = json["extFields"].as_object().unwrap();
        assert!(
            ext.values().all(|v| v.is_string()),
            "ext values must be strings: {ext:?}"
        );
        assert_eq!(ext["queueId"], queue_id);
        assert_eq!(ext["queueOffset"], queue_offset);
        assert_eq!(ext["MSG_REGION"], "DefaultRegion");
        assert_eq!(ext["TRACE_ON"], "true");
    }
    // A send missing a required field gets an error with a remark, not a close.
    s.write_all(&raw_frame(
        0,
        br#"{"code":310,"opaque":9,"extFields":{"a":"PG"}}"#,
        b"",
    ))
    .await
    .unwrap();
    let r = read_frame(&mut s).await.unwrap();
    assert_eq!(
        (r.response_code(), r.opaque),
        (ResponseCode::SYSTEM_ERROR, 9)
    );
    assert!(r.remark_str().contains("is null"), "{:?}", r.remark);
    server.stop().await;
}
