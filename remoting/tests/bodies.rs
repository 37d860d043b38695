//! Property round-trips of the client and admin bodies through both JSON dialects: standard JSON
//! out and back, fastjson form 2 (object keys) out and back, and Java-style unquoted integer keys
//! in.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;

use proptest::prelude::*;
use remoting::body::admin::{
    ConsumeStats, ConsumerOffsetSerializeWrapper, OffsetWrapper, ResetOffsetBody,
    SubscriptionGroupConfig, TopicOffset, TopicStatsTable,
};
use remoting::body::client::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, LockBatchRequestBody, MessageModel,
    MessageQueue, ProducerData, SubscriptionData,
};
use remoting::fastjson;

fn arb_name() -> impl Strategy<Value = String> {
    // Topic and group characters, plus the ones JSON must escape.
    "[A-Za-z0-9_%|-]{1,12}|\\PC{0,6}\"\\\\"
}

fn arb_mq() -> impl Strategy<Value = MessageQueue> {
    (arb_name(), arb_name(), any::<i32>()).prop_map(|(t, b, q)| MessageQueue::new(t, b, q))
}

fn arb_subscription() -> impl Strategy<Value = SubscriptionData> {
    (
        arb_name(),
        proptest::collection::btree_set(arb_name(), 0..4),
        any::<i64>(),
        prop_oneof![Just("TAG".to_string()), Just("SQL92".to_string())],
    )
        .prop_map(
            |(topic, tags, sub_version, expression_type)| SubscriptionData {
                topic,
                sub_string: tags.iter().cloned().collect::<Vec<_>>().join(" || "),
                code_set: tags.iter().map(|t| t.len() as i32).collect(),
                tags_set: tags,
                sub_version,
                expression_type,
                ..Default::default()
            },
        )
}

fn arb_heartbeat() -> impl Strategy<Value = HeartbeatData> {
    let consumer = (
        arb_name(),
        prop_oneof![
            Just(ConsumeType::ConsumeActively),
            Just(ConsumeType::ConsumePassively),
            "[A-Z_]{3,10}".prop_map(|s| ConsumeType::from_name(&s)),
        ],
        prop_oneof![
            Just(MessageModel::Clustering),
            Just(MessageModel::Broadcasting)
        ],
        prop_oneof![
            Just(ConsumeFromWhere::ConsumeFromFirstOffset),
            Just(ConsumeFromWhere::ConsumeFromLastOffset),
            Just(ConsumeFromWhere::ConsumeFromTimestamp),
        ],
        proptest::collection::vec(arb_subscription(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(group_name, consume_type, message_model, consume_from_where, subs, unit_mode)| {
                ConsumerData {
                    group_name,
                    consume_type,
                    message_model,
                    consume_from_where,
                    subscription_data_set: subs,
                    unit_mode,
                }
            },
        );
    (
        arb_name(),
        proptest::collection::vec(
            arb_name().prop_map(|g| ProducerData { group_name: g }),
            0..3,
        ),
        proptest::collection::vec(consumer, 0..3),
    )
        .prop_map(|(client_id, producers, consumers)| HeartbeatData {
            client_id,
            producer_data_set: producers,
            consumer_data_set: consumers,
            ..Default::default()
        })
}

proptest! {
    #[test]
    fn heartbeat_round_trips(hb in arb_heartbeat()) {
        let bytes = hb.encode().unwrap();
        prop_assert_eq!(HeartbeatData::decode(&bytes).unwrap(), hb);
    }

    #[test]
    fn lock_body_round_trips(
        group in arb_name(),
        mqs in proptest::collection::btree_set(arb_mq(), 0..6),
    ) {
        let body = LockBatchRequestBody {
            consumer_group: group,
            client_id: "c".into(),
            only_this_broker: false,
            mq_set: mqs,
        };
        prop_assert_eq!(LockBatchRequestBody::decode(&body.encode().unwrap()).unwrap(), body);
    }

    #[test]
    fn object_key_bodies_round_trip_in_both_forms(
        entries in proptest::collection::btree_map(
            arb_mq(),
            (any::<i64>(), any::<i64>(), any::<i64>()),
            0..6,
        ),
        // Hundredths: serde_json's default float parser (the standard-JSON path) may be 1 ULP
        // off on arbitrary doubles.
        tps in (-100_000_000i64..100_000_000).prop_map(|v| v as f64 / 100.0),
    ) {
        let mut stats = ConsumeStats { consume_tps: tps, ..Default::default() };
        let mut topic = TopicStatsTable::default();
        let mut reset = ResetOffsetBody::default();
        for (mq, (a, b, c)) in &entries {
            stats.offset_table.insert(mq.clone(), OffsetWrapper {
                broker_offset: *a,
                consumer_offset: *b,
                pull_offset: None,
                last_timestamp: *c,
            });
            topic.offset_table.insert(mq.clone(), TopicOffset {
                min_offset: *a,
                max_offset: *b,
                last_update_timestamp: *c,
            });
            reset.offset_table.insert(mq.clone(), *a);
        }
        let form2 = stats.encode().unwrap();
        if !entries.is_empty() {
            // Form 2 is not JSON: the keys are objects.
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&form2).is_err());
        }
        prop_assert_eq!(&ConsumeStats::decode(&form2).unwrap(), &stats);
        prop_assert_eq!(&ConsumeStats::decode(&stats.encode_standard().unwrap()).unwrap(), &stats);
        prop_assert_eq!(&TopicStatsTable::decode(&topic.encode().unwrap()).unwrap(), &topic);
        prop_assert_eq!(
            &TopicStatsTable::decode(&topic.encode_standard().unwrap()).unwrap(),
            &topic
        );
        prop_assert_eq!(&ResetOffsetBody::decode(&reset.encode().unwrap()).unwrap(), &reset);
    }

    #[test]
    fn consumer_offsets_read_java_unquoted_keys(
        table in proptest::collection::btree_map(
            "[A-Za-z0-9_%-]{1,10}@[A-Za-z0-9_-]{1,10}",
            proptest::collection::btree_map(0i32..1024, any::<i64>(), 0..5),
            0..5,
        ),
    ) {
        // Written the way fastjson writes Map<Integer, Long>: keys unquoted.
        let mut java = String::from("{\"offsetTable\":{");
        for (i, (k, queues)) in table.iter().enumerate() {
            if i > 0 { java.push(','); }
            java.push_str(&serde_json::to_string(k).unwrap());
            java.push_str(":{");
            for (j, (q, o)) in queues.iter().enumerate() {
                if j > 0 { java.push(','); }
                java.push_str(&format!("{q}:{o}"));
            }
            java.push('}');
        }
        java.push_str("}}");
        let w = ConsumerOffsetSerializeWrapper::decode(java.as_bytes()).unwrap();
        prop_assert_eq!(&w.offset_table, &table);
        let back = ConsumerOffsetSerializeWrapper::decode(&w.encode().unwrap()).unwrap();
        prop_assert_eq!(back, w);
    }

    #[test]
    fn subscription_group_round_trips(
        name in arb_name(),
        retry_max_times in any::<i32>(),
        consume_enable in any::<bool>(),
        broker_id in any::<i64>(),
    ) {
        let g = SubscriptionGroupConfig {
            retry_max_times,
            consume_enable,
            broker_id,
            ..SubscriptionGroupConfig::new(name)
        };
        prop_assert_eq!(SubscriptionGroupConfig::decode(&g.encode().unwrap()).unwrap(), g);
    }

    #[test]
    fn fastjson_reads_what_it_writes(
        m in proptest::collection::btree_map(arb_mq(), proptest::collection::btree_map("[a-z]{1,4}", any::<i64>(), 0..3), 0..4),
    ) {
        let map: fastjson::ObjectKeyMap<MessageQueue, BTreeMap<String, i64>> = m.clone().into_iter().collect();
        let form2 = fastjson::to_vec_object_keys(&map).unwrap();
        let back: fastjson::ObjectKeyMap<MessageQueue, BTreeMap<String, i64>> = fastjson::from_slice(&form2).unwrap();
        prop_assert_eq!(back.0, m);
    }
}
