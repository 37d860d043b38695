//! Recovery without a checkpoint (the full scan) keeps the consume-queue entries it finds and
//! checks each against the record that claims its queue offset, instead of deleting every
//! queue file and writing it again: files that match the log are left as they are (same
//! inode, same bytes), and whatever differs — a wrong entry in the middle, entries no record
//! vouches for at the end — comes out exactly as a rebuild from the commit log writes it.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use common::*;
use store::{FlushDiskType, MessageStore, PutStatus, StoreConfig};

/// Entries per queue file in the test config (20 bytes each).
const CQ_ENTRIES: u64 = 100;

fn cfg(root: &Path) -> StoreConfig {
    config(root, FlushDiskType::AsyncFlush)
}

/// What was sent: `T`/0's bodies and how many went to `U`/1.
struct Sent {
    t: Vec<Vec<u8>>,
    u: usize,
}

/// `n` messages to `T`/0 (100 per queue file) and every 14th also one to `U`/1, then a clean
/// stop.
fn write_store(root: &Path, n: usize) -> Sent {
    let rt = rt();
    let s = open(cfg(root));
    let mut sent = Sent {
        t: Vec::new(),
        u: 0,
    };
    for i in 0..n {
        let body = body_of(i);
        let r = rt.block_on(s.put_message(msg("T", 0, &body, &format!("k{i}"))));
        assert_eq!(r.status, PutStatus::PutOk, "{:?}", r.error);
        sent.t.push(body);
        if i % 14 == 0 {
            let r = rt.block_on(s.put_message(msg("U", 1, b"other", "u")));
            assert_eq!(r.status, PutStatus::PutOk);
            sent.u += 1;
        }
    }
    wait_visible(&s, "T", 0, n as i64);
    s.shutdown().unwrap();
    sent
}

/// Every queue file under `root` with its inode and bytes.
fn queue_files(root: &Path) -> BTreeMap<String, (u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for (topic, qid) in [("T", 0), ("U", 1)] {
        let dir = root.join(format!("consumequeue/{topic}/{qid}"));
        for name in files(&dir) {
            let p = dir.join(&name);
            let ino = std::fs::metadata(&p).unwrap().ino();
            out.insert(
                format!("{topic}/{qid}/{name}"),
                (ino, std::fs::read(&p).unwrap()),
            );
        }
    }
    out
}

/// Opens with the checkpoint emptied (read as none), so recovery scans the whole log.
fn open_without_checkpoint(root: &Path) -> MessageStore {
    std::fs::write(root.join("checkpoint"), b"").unwrap();
    let s = open(cfg(root));
    let r = s.recovery_report();
    assert!(!r.checkpoint_ok, "the checkpoint was read as none");
    assert_eq!(r.dispatch_from, r.log_min, "everything re-dispatched");
    s
}

fn assert_pulls(s: &MessageStore, sent: &Sent) {
    assert_eq!(s.max_offset_in_queue("T", 0), sent.t.len() as i64);
    let got: Vec<Vec<u8>> = pull_all(s, "T", 0)
        .into_iter()
        .map(|m| m.body.to_vec())
        .collect();
    assert_eq!(got.len(), sent.t.len(), "every message pulled");
    assert!(
        got.iter().zip(&sent.t).all(|(g, b)| g == b),
        "bodies in order"
    );
    assert_eq!(pull_all(s, "U", 1).len(), sent.u);
}

/// Opens without a checkpoint, checks that every message is pulled, and stops cleanly.
fn full_scan_serves_everything(root: &Path, sent: &Sent) {
    let s = open_without_checkpoint(root);
    assert!(
        s.recovery_report().damaged_queues.is_empty(),
        "no queue file was short or torn: the check, not open, finds the differences"
    );
    assert_pulls(&s, sent);
    s.shutdown().unwrap();
}

#[test]
fn queue_files_that_match_the_log_are_kept_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sent = write_store(root, 700);
    let before = queue_files(root);
    assert_eq!(before.keys().filter(|k| k.starts_with("T/")).count(), 7);
    full_scan_serves_everything(root, &sent);
    assert_eq!(
        queue_files(root),
        before,
        "same files (inodes) with the same bytes"
    );
}

#[test]
fn an_entry_that_differs_from_its_record_is_rewritten_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sent = write_store(root, 700);
    let before = queue_files(root);
    // Entries 350 and 351 swapped: both look valid, both point at real records, and pulls
    // from 350 would serve the messages out of order.
    let file = root.join(format!("consumequeue/T/0/{:020}", 3 * CQ_ENTRIES * 20));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file)
        .unwrap();
    let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
    f.read_exact_at(&mut a, 50 * 20).unwrap();
    f.read_exact_at(&mut b, 51 * 20).unwrap();
    f.write_all_at(&b, 50 * 20).unwrap();
    f.write_all_at(&a, 51 * 20).unwrap();
    drop(f);
    full_scan_serves_everything(root, &sent);
    let after = queue_files(root);
    for (name, (ino, bytes)) in &before {
        let (ino2, bytes2) = &after[name];
        assert_eq!(bytes2, bytes, "{name}: the same bytes a rebuild writes");
        if name.starts_with("T/") && name.as_str() < "T/0/00000000000000006000" {
            assert_eq!(ino2, ino, "{name}: files before the difference kept");
        }
    }
}

#[test]
fn entries_no_record_vouches_for_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sent = write_store(root, 650);
    let before = queue_files(root);
    // Ten more valid-looking entries after the last one (queue offsets 650..660, in the
    // seventh file), copies of the queue's first ten: no record claims those offsets.
    let q = root.join("consumequeue/T/0");
    let first = std::fs::read(q.join(format!("{:020}", 0))).unwrap();
    let name = format!("{:020}", 6 * CQ_ENTRIES * 20);
    let last = std::fs::OpenOptions::new()
        .write(true)
        .open(q.join(&name))
        .unwrap();
    last.write_all_at(&first[..200], 50 * 20).unwrap();
    drop(last);
    full_scan_serves_everything(root, &sent);
    assert_eq!(
        queue_files(root),
        before,
        "the unvouched entries zeroed again, every file kept"
    );
}
