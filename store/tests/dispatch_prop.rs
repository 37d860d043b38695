//! Property test of dispatch: whatever mix of topics, queues, sizes and transaction types is
//! appended (across many small files), every queue serves exactly its NOT/COMMIT records in
//! order with contiguous offsets, prepared/rollback records only live in the commit log, keys are
//! found through the index, and a restart (clean or crashed) changes none of it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::*;
use proptest::prelude::*;
use remoting::message::sysflag;
use store::FlushDiskType;

#[derive(Debug, Clone)]
struct Op {
    topic: usize,
    queue: i32,
    len: usize,
    tx: i32,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..3usize,
        0..3i32,
        0..3000usize,
        prop_oneof![
            6 => Just(sysflag::TRANSACTION_NOT_TYPE),
            1 => Just(sysflag::TRANSACTION_PREPARED_TYPE),
            1 => Just(sysflag::TRANSACTION_COMMIT_TYPE),
            1 => Just(sysflag::TRANSACTION_ROLLBACK_TYPE),
        ],
    )
        .prop_map(|(topic, queue, len, tx)| Op {
            topic,
            queue,
            len,
            tx,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn queues_mirror_the_log(ops in proptest::collection::vec(op(), 1..150), crash in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let mut cfg = config(dir.path(), FlushDiskType::AsyncFlush);
        cfg.mapped_file_size_commit_log = 52 * 1024;
        let s = open(cfg.clone());
        let topics = ["A", "B", "C"];
        let mut model: HashMap<(String, i32), Vec<Vec<u8>>> = HashMap::new();
        let mut prepared = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            let body: Vec<u8> = (0..o.len).map(|j| (i * 7 + j) as u8).collect();
            let mut m = msg(topics[o.topic], o.queue, &body, &format!("key{i}"));
            m.sys_flag = o.tx;
            let r = rt.block_on(s.put_message(m));
            let a = r.append.unwrap();
            if o.tx == sysflag::TRANSACTION_NOT_TYPE || o.tx == sysflag::TRANSACTION_COMMIT_TYPE {
                let q = model.entry((topics[o.topic].to_string(), o.queue)).or_default();
                prop_assert_eq!(a.logics_offset, q.len() as i64);
                q.push(body);
            } else {
                prop_assert_eq!(a.logics_offset, 0);
                prepared.push(a.wrote_offset);
            }
        }
        s.flush().unwrap();
        let reopened;
        let s = if crash {
            drop(s);
            reopened = open(cfg.clone());
            &reopened
        } else {
            &s
        };
        for ((t, q), bodies) in &model {
            wait_visible(s, t, *q, bodies.len() as i64);
            let got = pull_all(s, t, *q);
            prop_assert_eq!(got.len(), bodies.len());
            for (n, (m, b)) in got.iter().zip(bodies).enumerate() {
                prop_assert_eq!(m.queue_offset, n as i64);
                prop_assert_eq!(&m.body[..], &b[..]);
            }
        }
        let total: usize = s.queues().iter().map(|(t, q)| s.max_offset_in_queue(t, *q) as usize).sum();
        prop_assert_eq!(total, model.values().map(Vec::len).sum::<usize>());
        for off in prepared {
            prop_assert!(s.look_message_by_offset(off).unwrap().is_some());
        }
        // Every non-rollback key is indexed.
        for (i, o) in ops.iter().enumerate().step_by(7) {
            let hits = s.query_message(topics[o.topic], &format!("key{i}"), 4, 0, i64::MAX).unwrap();
            let expect = usize::from(o.tx != sysflag::TRANSACTION_ROLLBACK_TYPE);
            prop_assert_eq!(hits.len(), expect, "key{}", i);
        }
        s.shutdown().unwrap();
    }
}
