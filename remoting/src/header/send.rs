//! Send headers (spec §3.1, §3.3): SEND_MESSAGE (10) with long field names, SEND_MESSAGE_V2 (310),
//! SEND_BATCH_MESSAGE (320) and SEND_REPLY_MESSAGE(_V2) (324/325) with one-letter names, the send
//! response, and CONSUMER_SEND_MSG_BACK (36).
//!
//! Servers should call [`decode_send_request`], which reads whichever form a request carries and
//! always yields the long-named [`SendMessageRequestHeader`].

use crate::codes::RequestCode;
use crate::command::RemotingCommand;
use crate::error::{RemotingError, Result};
use crate::ext::{CommandHeader, ExtFields, FieldValue};

crate::header! {
    /// `SendMessageRequestHeader`: the long-named send header (code 10, 324), and the logical form
    /// of [`SendMessageRequestHeaderV2`].
    pub struct SendMessageRequestHeader {
        /// Producer group (required).
        pub producer_group: FieldValue = "producerGroup",
        /// Target topic (required).
        pub topic: FieldValue = "topic",
        /// Template topic for auto-creation (required; normally `TBW102`).
        pub default_topic: FieldValue = "defaultTopic",
        /// Queue count of an auto-created topic (required; client default 4).
        pub default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        /// Target queue (required); negative lets the broker pick a random writable queue.
        pub queue_id: i32 = "queueId",
        /// Message sysFlag bits set by the producer (required; spec §4.2).
        pub sys_flag: i32 = "sysFlag",
        /// Milliseconds since the epoch at the producer (required).
        pub born_timestamp: i64 = "bornTimestamp",
        /// The user flag stored with the message (required).
        pub flag: i32 = "flag",
        /// The properties string (`k\x01v\x02k\x01v`, spec §4.3); absent means none.
        pub properties: Option<String> = "properties",
        /// Times this message was re-consumed, for retry-topic sends; absent means 0.
        pub reconsume_times: Option<i32> = "reconsumeTimes",
        /// Unit mode; absent means false.
        pub unit_mode: Option<bool> = "unitMode",
        /// True for SEND_BATCH_MESSAGE bodies; absent means false.
        pub batch: Option<bool> = "batch",
        /// Overrides the group's `retryMaxTimes` (honoured for client version >= 121); absent means
        /// the group's value.
        pub max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        /// Broker name the client meant (clients 4.9.5+); informational.
        pub bname: Option<FieldValue> = "bname",
    }
}

crate::header! {
    /// `SendMessageRequestHeaderV2`: the same fields as [`SendMessageRequestHeader`] under
    /// one-letter keys (codes 310, 320, 325), chosen by Java to shrink the header.
    pub struct SendMessageRequestHeaderV2 {
        /// `a`: producer group (required).
        pub a: FieldValue = "a",
        /// `b`: topic (required).
        pub b: FieldValue = "b",
        /// `c`: default (template) topic (required).
        pub c: FieldValue = "c",
        /// `d`: default topic queue count (required).
        pub d: i32 = "d",
        /// `e`: queue id (required; negative = broker picks).
        pub e: i32 = "e",
        /// `f`: sysFlag (required).
        pub f: i32 = "f",
        /// `g`: born timestamp, ms (required).
        pub g: i64 = "g",
        /// `h`: user flag (required).
        pub h: i32 = "h",
        /// `i`: properties string; absent means none.
        pub i: Option<String> = "i",
        /// `j`: reconsume times; absent means 0.
        pub j: Option<i32> = "j",
        /// `k`: unit mode; absent means false.
        pub k: Option<bool> = "k",
        /// `l`: max reconsume times ("consumeRetryTimes"); absent means the group's value.
        pub l: Option<i32> = "l",
        /// `m`: batch; absent means false.
        pub m: Option<bool> = "m",
        /// `n`: broker name; informational.
        pub n: Option<FieldValue> = "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
            bname: v2.n,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
            n: v1.bname,
        }
    }
}

impl SendMessageRequestHeader {
    /// True when the body is a batch (`batch`, default false). The broker dispatches on this flag,
    /// not only on the request code.
    pub fn is_batch(&self) -> bool {
        self.batch.unwrap_or(false)
    }

    /// Reconsume times, 0 when absent.
    pub fn reconsume_times(&self) -> i32 {
        self.reconsume_times.unwrap_or(0)
    }

    /// Unit mode, false when absent.
    pub fn is_unit_mode(&self) -> bool {
        self.unit_mode.unwrap_or(false)
    }
}

/// True for the codes whose header uses the one-letter V2 keys.
pub fn uses_v2_header(code: RequestCode) -> bool {
    matches!(
        code,
        RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE
            | RequestCode::SEND_REPLY_MESSAGE_V2
    )
}

/// Decodes the send header of `request`, V2 (one-letter keys) or V1 (long names) according to its
/// code. A request whose code says one form but whose fields are the other is accepted as well:
/// clients disagree on which code goes with which form (spec §14), and the fields cannot be
/// confused.
pub fn decode_send_request(request: &RemotingCommand) -> Result<SendMessageRequestHeader> {
    decode_send_ext(request.request_code(), &request.ext_fields)
}

/// [`decode_send_request`] on bare fields.
pub fn decode_send_ext(code: RequestCode, ext: &ExtFields) -> Result<SendMessageRequestHeader> {
    let v2_first = uses_v2_header(code);
    let first = if v2_first {
        SendMessageRequestHeaderV2::from_ext(ext).map(Into::into)
    } else {
        SendMessageRequestHeader::from_ext(ext)
    };
    match first {
        Ok(h) => Ok(h),
        Err(e @ (RemotingError::MissingField(_) | RemotingError::InvalidField { .. })) => {
            let other = if v2_first {
                SendMessageRequestHeader::from_ext(ext)
            } else {
                SendMessageRequestHeaderV2::from_ext(ext).map(Into::into)
            };
            // Report the error of the form the code asked for.
            other.map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// Encodes a send header in the form `code` calls for (V2 keys for 310/320/325, long names
/// otherwise).
pub fn encode_send_ext(code: RequestCode, header: &SendMessageRequestHeader) -> ExtFields {
    if uses_v2_header(code) {
        SendMessageRequestHeaderV2::from(header.clone()).to_ext()
    } else {
        header.to_ext()
    }
}

/// [`encode_send_ext`] taking the header by value: the V2 form reuses its strings instead of
/// copying them (a producer builds a header per message only to encode it).
pub fn into_send_ext(code: RequestCode, header: SendMessageRequestHeader) -> ExtFields {
    if uses_v2_header(code) {
        SendMessageRequestHeaderV2::from(header).into_ext()
    } else {
        header.into_ext()
    }
}

crate::header! {
    /// `SendMessageResponseHeader`: required on SUCCESS, FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and
    /// SLAVE_NOT_AVAILABLE send responses.
    pub struct SendMessageResponseHeader {
        /// Offset message id of the stored message (spec §4.5); for a batch the ids joined by `,`
        /// (required).
        pub msg_id: String = "msgId",
        /// Queue actually written (required).
        pub queue_id: i32 = "queueId",
        /// Consume-queue offset of the (first) message (required).
        pub queue_offset: i64 = "queueOffset",
        /// Transaction id (the UNIQ_KEY of a half message); optional.
        pub transaction_id: Option<String> = "transactionId",
        /// 5.x: unique id of a batch; optional.
        pub batch_uniq_id: Option<String> = "batchUniqId",
        /// Broker region (`regionId`, default `DefaultRegion`); 4.9.8 adds it to every send
        /// response as ext field `MSG_REGION`. Held inline (no allocation for a name this
        /// short): the broker sets it on every answer.
        pub msg_region: Option<FieldValue> = "MSG_REGION",
        /// Whether message tracing is on (`traceOn`, default true); ext field `TRACE_ON`.
        pub trace_on: Option<bool> = "TRACE_ON",
    }
}

crate::header! {
    /// `ConsumerSendMsgBackRequestHeader` (CONSUMER_SEND_MSG_BACK, 36): a consumer hands a message
    /// it failed to consume back to the broker for retry or the DLQ. The response has no header.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the failed message (required).
        pub offset: i64 = "offset",
        /// Consumer group (required).
        pub group: String = "group",
        /// Delay level for the retry (required): 0 = broker decides from reconsume times,
        /// negative = straight to the DLQ.
        pub delay_level: i32 = "delayLevel",
        /// Unique id of the original message; optional.
        pub origin_msg_id: Option<String> = "originMsgId",
        /// Topic of the original message; optional.
        pub origin_topic: Option<String> = "originTopic",
        /// Unit mode; absent means false.
        pub unit_mode: Option<bool> = "unitMode",
        /// Overrides the group's `retryMaxTimes`; absent means the group's value.
        pub max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext::ExtFields;

    fn v1() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "PG".into(),
            topic: "TopicTest".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 2,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: Some("TAGS\u{1}A\u{2}KEYS\u{1}k".into()),
            batch: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn v1_v2_keys() {
        let ext = SendMessageRequestHeaderV2::from(v1()).to_ext();
        assert_eq!(ext.get("a"), Some("PG"));
        assert_eq!(ext.get("b"), Some("TopicTest"));
        assert_eq!(ext.get("e"), Some("2"));
        assert_eq!(ext.get("m"), Some("false"));
        assert_eq!(ext.get("j"), None);
        assert_eq!(
            decode_send_ext(RequestCode::SEND_MESSAGE_V2, &ext).unwrap(),
            v1()
        );
        // V2 keys under code 10 are still understood.
        assert_eq!(
            decode_send_ext(RequestCode::SEND_MESSAGE, &ext).unwrap(),
            v1()
        );
        let ext1 = encode_send_ext(RequestCode::SEND_MESSAGE, &v1());
        assert_eq!(ext1.get("producerGroup"), Some("PG"));
        assert_eq!(
            decode_send_ext(RequestCode::SEND_BATCH_MESSAGE, &ext1).unwrap(),
            v1()
        );
    }

    #[test]
    fn missing_required_field_names_the_requested_form() {
        let mut ext = SendMessageRequestHeaderV2::from(v1()).to_ext();
        ext.remove("b");
        match decode_send_ext(RequestCode::SEND_MESSAGE_V2, &ext) {
            Err(RemotingError::MissingField("b")) => {}
            other => panic!("{other:?}"),
        }
        assert!(decode_send_ext(RequestCode::SEND_MESSAGE, &ExtFields::new()).is_err());
    }

    #[test]
    fn ali_ons_numbers_and_c_plus_plus_booleans() {
        // What ali-ons and the C++ client send, after the frame decoder turned JSON numbers and
        // booleans into text.
        let ext: ExtFields = [
            ("a", "PG"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "0"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("k", "false"),
            ("m", "1"),
            ("AccessKey", ""),
        ]
        .into_iter()
        .collect();
        let h = decode_send_ext(RequestCode::SEND_MESSAGE_V2, &ext).unwrap();
        assert!(h.is_batch());
        assert!(!h.is_unit_mode());
        assert_eq!(h.born_timestamp, 1_700_000_000_000);
    }
}

crate::header! {
    /// `ReplyMessageRequestHeader`: PUSH_REPLY_MESSAGE_TO_CLIENT (326), broker → requesting
    /// client, carrying a reply message (its body is the command body).
    pub struct ReplyMessageRequestHeader {
        /// Producer group of the replier.
        pub producer_group: FieldValue = "producerGroup",
        /// The reply topic (`<cluster>_REPLY_TOPIC`).
        pub topic: FieldValue = "topic",
        /// Template topic from the replier's send.
        pub default_topic: FieldValue = "defaultTopic",
        /// Queue count from the replier's send.
        pub default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        /// Queue id from the replier's send.
        pub queue_id: i32 = "queueId",
        /// Message sysFlag (compression bit).
        pub sys_flag: i32 = "sysFlag",
        /// Born time of the reply, ms.
        pub born_timestamp: i64 = "bornTimestamp",
        /// User flag.
        pub flag: i32 = "flag",
        /// Properties string, with `PUSH_REPLY_TIME` added.
        pub properties: Option<String> = "properties",
        /// Reconsume times.
        pub reconsume_times: Option<i32> = "reconsumeTimes",
        /// Unit mode.
        pub unit_mode: Option<bool> = "unitMode",
        /// The replier's address, `ip:port`.
        pub born_host: String = "bornHost",
        /// The broker's address, `ip:port`.
        pub store_host: String = "storeHost",
        /// When the broker pushed, ms.
        pub store_timestamp: i64 = "storeTimestamp",
    }
}
