//! Holes, not tails: a consume-queue file or a commit-log segment lost between others (or a
//! queue's first file lost while later ones remain). Recovery rebuilds a queue from the start
//! of its hole, so every acknowledged message stays readable by queue offset; a commit-log
//! hole is skipped and reported (or refused) without losing the segments after it; and a
//! refused open changes no file.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use store::fs::FaultyFs;
use store::{FlushDiskType, GetStatus, MessageStore, PutStatus, StoreConfig, StoreError};

/// Queue-file size in the test config: 100 entries of 20 bytes.
const CQ_FILE: u64 = 2000;

/// Puts `n` acknowledged messages to queue 0 of `topic`; returns their commit-log offsets
/// and bodies.
fn put_n(
    s: &MessageStore,
    rt: &tokio::runtime::Runtime,
    topic: &str,
    n: usize,
) -> Vec<(u64, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let body = body_of(i);
            let r = rt.block_on(s.put_message(msg(topic, 0, &body, &format!("k{i}"))));
            assert_eq!(r.status, PutStatus::PutOk, "{:?}", r.error);
            (r.append.unwrap().wrote_offset as u64, body)
        })
        .collect()
}

/// Pulls queue 0 from queue offset 0 the way a consumer does, stopping at the first answer
/// that is not `Found`: a hole that blocks pulls shows up as a short result.
fn pull_from_zero(s: &MessageStore, topic: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = 0;
    loop {
        let r = s
            .get_message("g", topic, 0, off, 32, 1 << 20, None)
            .unwrap();
        if r.status != GetStatus::Found {
            break;
        }
        for m in &r.messages {
            out.push(remoting::message::decode(m).unwrap().body.to_vec());
        }
        off = r.next_begin_offset;
    }
    out
}

fn cfg(root: &Path) -> StoreConfig {
    config(root, FlushDiskType::AsyncFlush)
}

/// Writes 700 messages to one queue (7 queue files), damages the queue files with `damage`,
/// reopens, and checks that every message is pulled from queue offset 0 in order.
fn queue_hole_is_rebuilt(damage: impl Fn(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rt = rt();
    let s = open(cfg(root));
    let sent = put_n(&s, &rt, "T", 700);
    s.shutdown().unwrap();
    drop(s);
    let qdir = root.join("consumequeue/T/0");
    assert_eq!(files(&qdir).len(), 7, "one queue file per 100 entries");
    damage(&qdir);
    let s = open(cfg(root));
    assert_eq!(
        s.recovery_report().damaged_queues,
        vec![("T".to_string(), 0)]
    );
    assert_eq!(s.min_offset_in_queue("T", 0), 0);
    assert_eq!(s.max_offset_in_queue("T", 0), 700);
    let got = pull_from_zero(&s, "T");
    assert_eq!(got.len(), 700, "every message pulled from offset 0");
    assert!(
        got.iter().zip(&sent).all(|(g, (_, b))| g == b),
        "bodies in queue order"
    );
    // New messages continue the queue.
    let more = rt.block_on(s.put_message(msg("T", 0, b"after", "after")));
    assert_eq!(more.status, PutStatus::PutOk);
    wait_visible(&s, "T", 0, 701);
    s.shutdown().unwrap();
    drop(s);
    // The rebuilt files are whole: a second open finds nothing to repair.
    let s = open(cfg(root));
    assert!(s.recovery_report().damaged_queues.is_empty());
    assert_eq!(pull_from_zero(&s, "T").len(), 701);
    s.shutdown().unwrap();
}

fn qfile(n: u64) -> String {
    format!("{:020}", n * CQ_FILE)
}

#[test]
fn middle_consume_queue_file_removed_is_rebuilt() {
    queue_hole_is_rebuilt(|q| std::fs::remove_file(q.join(qfile(3))).unwrap());
}

#[test]
fn middle_consume_queue_file_truncated_is_rebuilt() {
    for cut in [0u64, 7, 1000] {
        queue_hole_is_rebuilt(|q| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(q.join(qfile(3)))
                .unwrap()
                .set_len(cut)
                .unwrap()
        });
    }
}

#[test]
fn first_consume_queue_file_removed_is_rebuilt() {
    queue_hole_is_rebuilt(|q| std::fs::remove_file(q.join(qfile(0))).unwrap());
}

#[test]
fn two_consume_queue_files_removed_is_rebuilt() {
    queue_hole_is_rebuilt(|q| {
        std::fs::remove_file(q.join(qfile(1))).unwrap();
        std::fs::remove_file(q.join(qfile(4))).unwrap();
    });
}

/// Queue files retention retired are not taken for lost ones: the reopened store reports no
/// damage and keeps the queue's minimum.
#[test]
fn retired_consume_queue_files_are_not_a_hole() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let mut cfg = cfg(dir.path());
    cfg.file_reserved_time = 0;
    cfg.delete_when = "99".into();
    let fs = FaultyFs::new();
    fs.faults.usage_permille.store(100, Ordering::SeqCst);
    let s = open_faulty(cfg.clone(), &fs, Arc::new(|_: &str| {}));
    put_n(&s, &rt, "T", 700);
    wait_visible(&s, "T", 0, 700);
    assert!(s.delete_expired_files_now().unwrap() >= 1);
    let qmin = s.min_offset_in_queue("T", 0);
    assert!(
        qmin >= CQ_FILE as i64 / 20,
        "at least one queue file retired: {qmin}"
    );
    let qdir = dir.path().join("consumequeue/T/0");
    assert!(!files(&qdir).contains(&qfile(0)));
    s.shutdown().unwrap();
    drop(s);
    let s = open(cfg.clone());
    let rep = s.recovery_report();
    assert!(rep.damaged_queues.is_empty(), "{:?}", rep.damaged_queues);
    assert_eq!(s.min_offset_in_queue("T", 0), qmin);
    assert_eq!(s.max_offset_in_queue("T", 0), 700);
    s.shutdown().unwrap();
    drop(s);
    // A store written before the record existed: the queue is rebuilt once from the commit
    // log's start, to the same offsets, and records its first file for the next open.
    let (_, out) = ctl(&["check"], dir.path());
    assert!(!out.contains("missing"), "retired files reported: {out}");
    std::fs::remove_file(qdir.join(store::consume_queue::FIRST_FILE)).unwrap();
    let (ok, out) = ctl(&["check"], dir.path());
    assert!(!ok && out.contains("missing from 0"), "{out}");
    let s = open(cfg.clone());
    assert_eq!(
        s.recovery_report().damaged_queues,
        vec![("T".to_string(), 0)]
    );
    assert_eq!(s.min_offset_in_queue("T", 0), qmin);
    assert_eq!(s.max_offset_in_queue("T", 0), 700);
    assert_eq!(pull_all(&s, "T", 0).len() as i64, 700 - qmin);
    s.shutdown().unwrap();
    drop(s);
    let s = open(cfg);
    assert!(s.recovery_report().damaged_queues.is_empty());
    assert_eq!(s.min_offset_in_queue("T", 0), qmin);
    s.shutdown().unwrap();
}

/// Segment files of the commit log, in order.
fn segments(root: &Path) -> Vec<String> {
    files(&root.join("commitlog")).into_iter().collect()
}

/// A commit-log segment removed between others: with the default settings the hole is
/// skipped and reported, and every message in the segments after it stays readable; a
/// strict store refuses to open and changes no file.
#[test]
fn missing_middle_commit_log_segment_is_skipped_or_refused_never_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rt = rt();
    let cfg = cfg(root);
    let fsz = cfg.mapped_file_size_commit_log;
    let s = open(cfg.clone());
    let sent = put_n(&s, &rt, "T", 700);
    s.shutdown().unwrap();
    drop(s);
    let segs = segments(root);
    assert!(segs.len() >= 3, "{segs:?}");
    let gone: u64 = segs[1].parse().unwrap();
    std::fs::remove_file(root.join("commitlog").join(&segs[1])).unwrap();

    let mut strict = cfg.clone();
    strict.skip_corrupt_record_on_recover = false;
    let before = tree_digest(root);
    match MessageStore::open(strict) {
        Err(StoreError::Corrupt { offset, reason }) => {
            assert_eq!(offset, gone);
            assert!(reason.contains("--skip-corrupt"), "{reason}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a strict store opened over a missing segment"),
    }
    assert!(
        tree_digest(root) == before,
        "the refused open changed files"
    );

    let s = open(cfg.clone());
    let rep = s.recovery_report();
    assert_eq!(rep.skipped.len(), 1, "{:?}", rep.skipped);
    assert_eq!((rep.skipped[0].from, rep.skipped[0].to), (gone, gone + fsz));
    assert_eq!(rep.log_end, s.commit_log_max_offset() as u64);
    assert_eq!(segments(root).len(), segs.len() - 1, "later segments kept");
    let lost = sent
        .iter()
        .filter(|(o, _)| (gone..gone + fsz).contains(o))
        .count();
    assert!(lost > 0);
    let mut readable = 0;
    for (o, b) in &sent {
        match s.look_message_by_offset(*o as i64).unwrap() {
            Some(raw) => {
                let m = remoting::message::decode(&raw).unwrap();
                assert_eq!(&m.body[..], &b[..]);
                readable += 1;
            }
            None => assert!((gone..gone + fsz).contains(o), "lost outside the hole: {o}"),
        }
    }
    assert_eq!(readable, sent.len() - lost);
    s.shutdown().unwrap();
}

/// A commit-log segment cut short in the middle with valid segments after it: a strict store
/// refuses, and the cut file keeps its length (nothing was resized before the refusal).
#[test]
fn refused_open_leaves_a_short_segment_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rt = rt();
    let mut cfg = cfg(root);
    let s = open(cfg.clone());
    put_n(&s, &rt, "T", 700);
    s.shutdown().unwrap();
    drop(s);
    let segs = segments(root);
    let path = root.join("commitlog").join(&segs[1]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let before = tree_digest(root);
    cfg.skip_corrupt_record_on_recover = false;
    let Err(err) = MessageStore::open(cfg.clone()) else {
        panic!("a strict store opened over a cut segment");
    };
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("resized only after"),
        "the message says what was changed: {err}"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1000);
    assert!(
        tree_digest(root) == before,
        "the refused open changed files"
    );
    // Accepting the damage opens the store; only then is the file brought to length.
    cfg.skip_corrupt_record_on_recover = true;
    let s = open(cfg.clone());
    assert_eq!(s.recovery_report().skipped.len(), 1);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        cfg.mapped_file_size_commit_log
    );
    s.shutdown().unwrap();
}
