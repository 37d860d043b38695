//! Tag subscriptions (spec §10.7): an expression `TagA || TagB` becomes a set of Java tag hash
//! codes that consume-queue entries are matched against. Hash collisions pass; the client drops
//! them by exact tag string.

use std::collections::BTreeSet;

use remoting::body::client::{EXPRESSION_TYPE_TAG, SUB_ALL, SubscriptionData};
use remoting::message::java_string_hash;

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
