//! Validation of topic and group names (reliability.md "Hostile input", CVE-2019-17572): a name
//! is checked before any file, map key or queue directory is named after it.

/// Longest topic or group name accepted (Java `TOPIC_MAX_LENGTH`).
pub const MAX_NAME_LEN: usize = 127;

/// Topic templates and internal topics producers may not send to (spec §3.1 step 4).
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

/// The auto-create template topic.
pub const TBW102: &str = "TBW102";
/// Prefix of per-group retry topics.
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of per-group dead-letter topics.
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";

/// Checks a topic name: not blank, only `[%|a-zA-Z0-9_-]`, at most 127 bytes. The error text is
/// the remark sent to the client.
pub fn check_topic(topic: &str) -> Result<(), String> {
    check_name("topic", topic)
}

/// Checks a consumer or producer group name with the same rules as topics.
pub fn check_group(group: &str) -> Result<(), String> {
    check_name("group", group)
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    // The common case in one pass over the bytes; the slow path below says what is wrong.
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'-' | b'_');
    if !name.is_empty() && name.len() <= MAX_NAME_LEN && name.bytes().all(allowed) {
        return Ok(());
    }
    if name.trim().is_empty() {
        return Err(format!("the specified {what} is blank"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "the specified {what} is longer than {MAX_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '-' | '_')))
    {
        return Err(format!(
            "the specified {what}[{}] contains illegal characters ({:?}), allowing only ^[%|a-zA-Z0-9_-]+$",
            name.escape_debug(),
            bad
        ));
    }
    Ok(())
}

/// Header fields that name a topic, in every request header that has one.
const TOPIC_FIELDS: &[&str] = &["topic"];
/// Header fields that name a group.
const GROUP_FIELDS: &[&str] = &["consumerGroup", "producerGroup", "groupName", "group"];

/// Checks every topic and group name a request header carries, whatever its code, with the
/// rules of topic creation: `Err` holds the remark of the SYSTEM_ERROR answer. Absent and
/// empty fields are left to the handlers (some are optional).
///
/// The send codes (and their reply forms) are left to their handler, which checks the topic and
/// producer group of the header it decodes ([`check_send_names`]): looking fields up by name
/// would build the map that a send's typed header is read without.
pub fn check_header(code: remoting::RequestCode, ext: &remoting::ExtFields) -> Result<(), String> {
    use remoting::RequestCode as C;
    if matches!(
        code,
        C::SEND_MESSAGE
            | C::SEND_MESSAGE_V2
            | C::SEND_BATCH_MESSAGE
            | C::SEND_REPLY_MESSAGE
            | C::SEND_REPLY_MESSAGE_V2
    ) {
        return Ok(());
    }
    let present = |k: &str| ext.get(k).filter(|v| !v.is_empty());
    for k in TOPIC_FIELDS {
        if let Some(t) = present(k) {
            check_topic(t)?;
        }
    }
    for k in GROUP_FIELDS {
        if let Some(g) = present(k) {
            check_group(g)?;
        }
    }
    Ok(())
}

/// The names of a decoded send header, checked as [`check_header`] checks other requests':
/// the topic always (a blank one is refused), the producer group when given.
pub fn check_send_names(topic: &str, producer_group: &str) -> Result<(), String> {
    check_topic(topic)?;
    if producer_group.is_empty() {
        return Ok(());
    }
    check_group(producer_group)
}

/// The retry topic of a group.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// The dead-letter topic of a group.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_covers_topic_and_group_fields() {
        use remoting::{ExtFields, RequestCode};
        let ext = |k: &str, v: &str| {
            let mut e = ExtFields::new();
            e.insert(k, v);
            e
        };
        for k in [
            "topic",
            "consumerGroup",
            "producerGroup",
            "groupName",
            "group",
        ] {
            assert!(check_header(RequestCode::QUERY_CONSUMER_OFFSET, &ext(k, "../../x")).is_err());
            assert!(check_header(RequestCode::QUERY_CONSUMER_OFFSET, &ext(k, "ok_name")).is_ok());
        }
        // `b` means something else in other headers.
        assert!(check_header(RequestCode::PULL_MESSAGE, &ext("b", "a/b")).is_ok());
        // Sends are checked by their handler, on the header it decodes.
        assert!(check_header(RequestCode::SEND_MESSAGE_V2, &ext("b", "a/b")).is_ok());
        assert!(check_send_names("a/b", "g").is_err());
        assert!(check_send_names("T", "a b").is_err());
        assert!(check_send_names("", "g").is_err());
        assert!(check_send_names("T", "").is_ok());
    }

    /// The one-pass check and the explaining one agree on every byte in every position.
    #[test]
    fn the_fast_check_agrees_with_the_explaining_one() {
        let slow = |name: &str| {
            !name.trim().is_empty()
                && name.len() <= MAX_NAME_LEN
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '-' | '_'))
        };
        for c in (0u32..0x300).filter_map(char::from_u32) {
            for name in [
                c.to_string(),
                format!("a{c}"),
                format!("{c}b"),
                format!("a{c}b"),
            ] {
                assert_eq!(check_topic(&name).is_ok(), slow(&name), "{name:?}");
            }
        }
    }

    #[test]
    fn refuses_paths_and_control_characters() {
        for bad in [
            "",
            " ",
            "../x",
            "a/b",
            "a\\b",
            "a\u{1}b",
            "a b",
            "a.b",
            &"x".repeat(128),
        ] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
        for good in ["TopicTest", "%RETRY%cg-1", "a|b", "x_y-z", &"x".repeat(127)] {
            assert!(check_topic(good).is_ok(), "{good:?}");
        }
    }
}
