//! Tag expressions (spec §10.7): `"*"` or `"TagA || TagB"` → [`SubscriptionData`], and the
//! client-side double check by exact tag string (the broker filters by tag hash, so collisions
//! pass its filter).

use std::time::{SystemTime, UNIX_EPOCH};

use remoting::body::client::{EXPRESSION_TYPE_TAG, SUB_ALL, SubscriptionData};
use remoting::message::java_string_hash;

use crate::error::{ClientError, Result};

/// Milliseconds since the epoch (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses a TAG expression for `topic` (Java `FilterAPI.buildSubscriptionData`): empty or `*`
/// matches everything; otherwise the expression is split on `||`, parts trimmed, empty parts
/// ignored. The version is the current time, as in Java.
pub fn build_subscription(topic: &str, expression: &str) -> Result<SubscriptionData> {
    if topic.is_empty() {
        return Err(ClientError::InvalidArgument("empty topic".into()));
    }
    let expr = expression.trim();
    let mut sub = SubscriptionData {
        topic: topic.to_string(),
        sub_string: expr.to_string(),
        sub_version: now_ms(),
        expression_type: EXPRESSION_TYPE_TAG.to_string(),
        ..Default::default()
    };
    if expr.is_empty() || expr == SUB_ALL {
        sub.sub_string = SUB_ALL.to_string();
        return Ok(sub);
    }
    for tag in expr.split("||").map(str::trim).filter(|t| !t.is_empty()) {
        sub.code_set.insert(java_string_hash(tag));
        sub.tags_set.insert(tag.to_string());
    }
    if sub.tags_set.is_empty() {
        // "||" alone: Java leaves both sets empty, which the broker treats as "all".
        sub.sub_string = SUB_ALL.to_string();
    }
    Ok(sub)
}

/// A SQL92 subscription (Java `MessageSelector.bySql` through `FilterAPI.build`): the broker
/// evaluates the expression against each message's properties (it must run with
/// `enablePropertyFilter=true`); the client keeps every message the broker returns.
pub fn build_sql_subscription(topic: &str, sql: &str) -> Result<SubscriptionData> {
    if topic.is_empty() {
        return Err(ClientError::InvalidArgument("empty topic".into()));
    }
    if sql.is_empty() {
        return Err(ClientError::InvalidArgument(
            "Expression can't be null! SQL92".into(),
        ));
    }
    Ok(SubscriptionData {
        topic: topic.to_string(),
        sub_string: sql.to_string(),
        sub_version: now_ms(),
        expression_type: "SQL92".to_string(),
        ..Default::default()
    })
}

/// The client-side filter: true when `tag` is wanted by `sub`. A subscription without tags
/// takes everything; with tags, a message without a tag is dropped.
pub fn tag_matches(sub: &SubscriptionData, tag: Option<&str>) -> bool {
    if sub.tags_set.is_empty() || sub.class_filter_mode {
        return true;
    }
    tag.is_some_and(|t| sub.tags_set.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_empty_match_all() {
        for e in ["*", "", "  ", " * "] {
            let s = build_subscription("T", e).unwrap();
            assert_eq!(s.sub_string, "*");
            assert!(s.tags_set.is_empty() && s.code_set.is_empty());
            assert!(tag_matches(&s, None));
            assert!(tag_matches(&s, Some("x")));
        }
        assert!(build_subscription("", "*").is_err());
    }

    #[test]
    fn or_expression() {
        let s = build_subscription("T", "TagA || TagB||  ||TagC ").unwrap();
        assert_eq!(s.sub_string, "TagA || TagB||  ||TagC");
        assert_eq!(
            s.tags_set.iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["TagA", "TagB", "TagC"]
        );
        // Java "TagA".hashCode() == 2598919 (spec §3.7 example).
        assert!(s.code_set.contains(&2_598_919));
        assert!(s.code_set.contains(&2_598_920));
        assert!(tag_matches(&s, Some("TagB")));
        assert!(!tag_matches(&s, Some("TagD")));
        assert!(!tag_matches(&s, Some("taga")));
        assert!(!tag_matches(&s, None));
        assert!(s.sub_version > 0);
        assert_eq!(s.expression_type, "TAG");
    }

    #[test]
    fn single_tag() {
        let s = build_subscription("T", "A").unwrap();
        assert_eq!(s.tags_set.len(), 1);
        assert!(tag_matches(&s, Some("A")));
        assert!(!tag_matches(&s, Some("B")));
    }
}
