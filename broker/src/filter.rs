//! Tag subscriptions (spec §10.7): an expression `TagA || TagB` becomes a set of Java tag hash
//! codes that consume-queue entries are matched against. Hash collisions pass; the client drops
//! them by exact tag string.
//!
//! SQL92 subscriptions ([`sql92`]) are matched against each record's properties after the read.

pub mod sql92;

use std::collections::BTreeSet;
use std::sync::Arc;

use remoting::body::client::{EXPRESSION_TYPE_TAG, SUB_ALL, SubscriptionData};
use remoting::message::java_string_hash;

use crate::store_api::{GetOutcome, GetStatus, MessageStoreApi, TagFilter};

/// The expression type of SQL92 subscriptions.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";

/// Builds a subscription of any expression type as a pull with the SUBSCRIPTION flag carries it
/// (Java `FilterAPI.build`): TAG expressions get their codes, SQL92 ones are checked to compile.
pub fn build_typed_subscription(
    topic: &str,
    expression: &str,
    expression_type: Option<&str>,
    sub_version: i64,
) -> Result<SubscriptionData, sql92::SqlParseError> {
    match expression_type {
        None | Some("") | Some(EXPRESSION_TYPE_TAG) => {
            Ok(build_subscription(topic, expression, sub_version))
        }
        Some(t) => {
            sql_selector_of(t, expression)?;
            Ok(SubscriptionData {
                topic: topic.to_string(),
                sub_string: expression.to_string(),
                sub_version,
                expression_type: t.to_string(),
                ..Default::default()
            })
        }
    }
}

/// Compiles a non-TAG expression; only SQL92 is known (Java's `FilterFactory` has no other).
pub fn sql_selector_of(
    expression_type: &str,
    expression: &str,
) -> Result<Arc<sql92::Selector>, sql92::SqlParseError> {
    if expression_type != EXPRESSION_TYPE_SQL92 {
        return Err(sql92::SqlParseError(format!(
            "unknown expression type {expression_type}"
        )));
    }
    sql92::compile_cached(expression)
}

/// True when a stored record passes a SQL92 selector. An undecodable record is evaluated with
/// no properties (Java's `decodeProperties` gives up the same way).
pub fn record_matches(selector: &sql92::Selector, record: &[u8]) -> bool {
    match remoting::message::record::decode_view(record) {
        Ok(view) => selector.matches(&|k| view.property(k)),
        Err(_) => selector.matches(&|_| None),
    }
}

/// Builds a TAG subscription from an expression as a pull with the SUBSCRIPTION flag carries it.
pub fn build_subscription(topic: &str, expression: &str, sub_version: i64) -> SubscriptionData {
    let expr = expression.trim();
    let mut tags = BTreeSet::new();
    let mut codes = BTreeSet::new();
    if !(expr.is_empty() || expr == SUB_ALL) {
        for t in expr.split("||").map(str::trim).filter(|t| !t.is_empty()) {
            tags.insert(t.to_string());
            codes.insert(java_string_hash(t));
        }
    }
    SubscriptionData {
        topic: topic.to_string(),
        sub_string: if expr.is_empty() {
            SUB_ALL.to_string()
        } else {
            expr.to_string()
        },
        tags_set: tags,
        code_set: codes,
        sub_version,
        expression_type: EXPRESSION_TYPE_TAG.to_string(),
        ..Default::default()
    }
}

/// Most reads of a queue one pull makes while every message read is filtered out by SQL92
/// (each read covers up to the pull's batch size; Java scans up to 16000 entries per pull).
const MAX_FILTERED_READS: usize = 16;

/// Reads for a pull and, for a SQL92 subscription, keeps only matching records. When a whole
/// read is filtered out the next one continues after it; if nothing matches the status is
/// NO_MATCHED_MESSAGE with `next_begin_offset` past the skipped entries.
#[allow(clippy::too_many_arguments)]
pub fn get_filtered(
    store: &dyn MessageStoreApi,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max_msgs: i32,
    tag_filter: TagFilter<'_>,
    selector: Option<&sql92::Selector>,
) -> GetOutcome {
    let mut out = store.get(topic, queue_id, offset, max_msgs, tag_filter);
    let Some(sel) = selector else {
        return out;
    };
    let mut reads = 1;
    loop {
        if out.status != GetStatus::Found {
            return out;
        }
        out.records.retain(|r| record_matches(sel, r));
        out.joined = None;
        if !out.records.is_empty() {
            return out;
        }
        out.status = GetStatus::NoMatchedMessage;
        if reads >= MAX_FILTERED_READS || out.next_begin_offset >= out.max_offset {
            return out;
        }
        reads += 1;
        let next = store.get(topic, queue_id, out.next_begin_offset, max_msgs, tag_filter);
        if next.status != GetStatus::Found {
            // Keep the skip: the consumer continues after the filtered entries.
            return out;
        }
        out = next;
    }
}

/// The tag codes an entry must have, or `None` when every entry matches.
pub fn code_filter(sub: &SubscriptionData) -> Option<BTreeSet<i64>> {
    if sub.is_all() {
        return None;
    }
    let mut codes: BTreeSet<i64> = sub.code_set.iter().map(|c| i64::from(*c)).collect();
    // Some clients send tags without codes; derive them.
    for t in &sub.tags_set {
        codes.insert(i64::from(java_string_hash(t)));
    }
    if codes.is_empty() {
        return None;
    }
    Some(codes)
}

/// True when an entry's tag code passes: no tag (code 0) always passes, as in Java... only when
/// the subscription is `*`; otherwise the `(int)` of the code must be in the set.
pub fn matches(codes: &BTreeSet<i64>, tags_code: i64) -> bool {
    codes.contains(&i64::from(tags_code as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expression() {
        let s = build_subscription("T", "TagA || TagB ||", 1);
        assert_eq!(s.tags_set.len(), 2);
        let codes = code_filter(&s).unwrap();
        assert!(matches(&codes, i64::from(java_string_hash("TagA"))));
        assert!(!matches(&codes, i64::from(java_string_hash("TagC"))));
        assert!(code_filter(&build_subscription("T", "*", 1)).is_none());
        assert!(code_filter(&build_subscription("T", "", 1)).is_none());
    }
}
