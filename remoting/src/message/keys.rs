//! Well-known property keys (spec §4.8, Java `MessageConst`).

/// Tag (single string).
pub const TAGS: &str = "TAGS";
/// Business keys separated by [`KEY_SEPARATOR`].
pub const KEYS: &str = "KEYS";
/// Separator of the entries of [`KEYS`].
pub const KEY_SEPARATOR: &str = " ";
/// "true"/"false": wait for flush/replication before replying (absent = true).
pub const WAIT: &str = "WAIT";
/// Delay level 1..18.
pub const DELAY: &str = "DELAY";
/// Client-generated message id.
pub const UNIQ_KEY: &str = "UNIQ_KEY";
/// "true" on transactional half messages.
pub const TRAN_MSG: &str = "TRAN_MSG";
/// Producer group (transactions).
pub const PGROUP: &str = "PGROUP";
/// Queue min offset, set by the client on pulled messages.
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Queue max offset, set by the client on pulled messages.
pub const MAX_OFFSET: &str = "MAX_OFFSET";
/// Original topic of a delayed or half message.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Original queue id of a delayed or half message.
pub const REAL_QID: &str = "REAL_QID";
/// Original topic of a message now in a retry topic.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Original message id of a retried message.
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Client → broker hint when re-sending to the retry topic.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Client → broker hint: maximum reconsume times.
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Client-side bookkeeping.
pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
/// Half message's queue offset.
pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// Check-back counter on half messages.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Per-message first-check delay.
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Cluster name, added by the broker on send.
pub const CLUSTER: &str = "CLUSTER";
/// Region id.
pub const MSG_REGION: &str = "MSG_REGION";
/// Trace switch.
pub const TRACE_ON: &str = "TRACE_ON";
/// Legacy.
pub const BUYER_ID: &str = "BUYER_ID";
/// Legacy.
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
/// Legacy.
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
/// Legacy.
pub const MQ2_FLAG: &str = "MQ2_FLAG";
/// Legacy.
pub const INSTANCE_ID: &str = "INSTANCE_ID";
/// Request/reply correlation id.
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// Request/reply: client to answer.
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request/reply: time to live.
pub const TTL: &str = "TTL";
/// Request/reply: arrival time.
pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
/// Request/reply: push time.
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// Request/reply: message type (`reply`).
pub const MSG_TYPE: &str = "MSG_TYPE";
/// LMQ multi-dispatch targets.
pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
/// LMQ multi-dispatch queue offsets.
pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
/// 5.x ordered-message sharding key.
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// 5.x transaction id.
pub const TRANSACTION_ID: &str = "__transactionId__";
/// 5.x timer: delivery time in ms.
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// 5.x timer: delay in seconds.
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// 5.x timer: delay in ms.
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// 5.x optional record CRC.
pub const CRC32: &str = "__CRC32#";
/// The topic scheduled (delay) messages are rewritten to.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// A property key as stored: borrowed when it is a well-known name (the constants above), so a
/// decoded message's keys cost no allocation; copied otherwise.
pub fn stored(key: &str) -> std::borrow::Cow<'static, str> {
    well_known(key).map_or_else(|| key.to_string().into(), Into::into)
}

/// The static name of a well-known property key (the constants above).
fn well_known(key: &str) -> Option<&'static str> {
    Some(match key {
        TAGS => TAGS,
        KEYS => KEYS,
        WAIT => WAIT,
        DELAY => DELAY,
        UNIQ_KEY => UNIQ_KEY,
        TRAN_MSG => TRAN_MSG,
        PGROUP => PGROUP,
        MIN_OFFSET => MIN_OFFSET,
        MAX_OFFSET => MAX_OFFSET,
        REAL_TOPIC => REAL_TOPIC,
        REAL_QID => REAL_QID,
        RETRY_TOPIC => RETRY_TOPIC,
        ORIGIN_MESSAGE_ID => ORIGIN_MESSAGE_ID,
        RECONSUME_TIME => RECONSUME_TIME,
        MAX_RECONSUME_TIMES => MAX_RECONSUME_TIMES,
        CONSUME_START_TIME => CONSUME_START_TIME,
        TRAN_PREPARED_QUEUE_OFFSET => TRAN_PREPARED_QUEUE_OFFSET,
        TRANSACTION_CHECK_TIMES => TRANSACTION_CHECK_TIMES,
        CHECK_IMMUNITY_TIME_IN_SECONDS => CHECK_IMMUNITY_TIME_IN_SECONDS,
        CLUSTER => CLUSTER,
        MSG_REGION => MSG_REGION,
        TRACE_ON => TRACE_ON,
        BUYER_ID => BUYER_ID,
        TRANSFER_FLAG => TRANSFER_FLAG,
        CORRECTION_FLAG => CORRECTION_FLAG,
        MQ2_FLAG => MQ2_FLAG,
        INSTANCE_ID => INSTANCE_ID,
        CORRELATION_ID => CORRELATION_ID,
        REPLY_TO_CLIENT => REPLY_TO_CLIENT,
        TTL => TTL,
        ARRIVE_TIME => ARRIVE_TIME,
        PUSH_REPLY_TIME => PUSH_REPLY_TIME,
        MSG_TYPE => MSG_TYPE,
        INNER_MULTI_DISPATCH => INNER_MULTI_DISPATCH,
        INNER_MULTI_QUEUE_OFFSET => INNER_MULTI_QUEUE_OFFSET,
        SHARDING_KEY => SHARDING_KEY,
        TRANSACTION_ID => TRANSACTION_ID,
        TIMER_DELIVER_MS => TIMER_DELIVER_MS,
        TIMER_DELAY_SEC => TIMER_DELAY_SEC,
        TIMER_DELAY_MS => TIMER_DELAY_MS,
        CRC32 => CRC32,
        _ => return None,
    })
}
