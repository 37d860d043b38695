//! The hooks the HA layer uses: raw reads on a master, raw appends and truncation on a slave.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use store::{FlushDiskType, GetStatus};

fn copy_all(master: &store::MessageStore, slave: &store::MessageStore, from: i64) {
    let mut off = from;
    while off < master.commit_log_max_offset() {
        // Frames of at most 32 KiB that cut records anywhere, as on the HA wire.
        let chunk = master.read_commit_log(off, 32 * 1024 - 7).unwrap().unwrap();
        assert!(!chunk.is_empty());
        slave.append_raw(off, &chunk).unwrap();
        off += chunk.len() as i64;
    }
}

#[test]
fn slave_rebuilds_queues_from_raw_bytes() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let rt = rt();
    let master = open(config(md.path(), FlushDiskType::AsyncFlush));
    for i in 0..400 {
        rt.block_on(master.put_message(msg(
            "H",
            (i % 3) as i32,
            &vec![b'h'; 100 + i % 200],
            &format!("k{i}"),
        )));
    }
    master.flush().unwrap();
    let slave = open(config(sd.path(), FlushDiskType::SyncFlush));
    copy_all(&master, &slave, 0);
    slave.flush().unwrap();
    assert_eq!(
        slave.commit_log_max_offset(),
        master.commit_log_max_offset()
    );
    for q in 0..3 {
        wait_visible(&slave, "H", q, master.max_offset_in_queue("H", q));
        let a = master
            .get_message("g", "H", q, 0, 32, 1 << 20, None)
            .unwrap();
        let b = slave
            .get_message("g", "H", q, 0, 32, 1 << 20, None)
            .unwrap();
        assert_eq!(a.messages, b.messages, "byte-identical records");
    }
    assert_eq!(
        slave
            .query_message("H", "k5", 4, 0, i64::MAX)
            .unwrap()
            .len(),
        1
    );
    // A raw append at the wrong offset is refused.
    assert!(slave.append_raw(3, b"xx").is_err());

    // Diverged tail: cut the slave back to record 300's offset.
    let cut = remoting::message::decode(
        &master
            .get_message("g", "H", 0, 100, 1, 1 << 20, None)
            .unwrap()
            .messages[0],
    )
    .unwrap()
    .physical_offset;
    slave.truncate_commit_log(cut).unwrap();
    assert_eq!(slave.commit_log_max_offset(), cut);
    assert_eq!(slave.max_offset_in_queue("H", 0), 100);
    let r = slave
        .get_message("g", "H", 0, 100, 32, 1 << 20, None)
        .unwrap();
    assert_eq!(r.status, GetStatus::OffsetOverflowOne);
    // Catch up again from the cut.
    copy_all(&master, &slave, cut);
    wait_visible(&slave, "H", 0, master.max_offset_in_queue("H", 0));
    slave.shutdown().unwrap();
    drop(slave);
    let slave = open(config(sd.path(), FlushDiskType::SyncFlush));
    assert_eq!(
        slave.commit_log_max_offset(),
        master.commit_log_max_offset()
    );
    slave.shutdown().unwrap();
    master.shutdown().unwrap();
}

#[test]
fn fresh_slave_starts_at_the_masters_last_file() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let rt = rt();
    let master = open(config(md.path(), FlushDiskType::AsyncFlush));
    for i in 0..300 {
        rt.block_on(master.put_message(msg("F", 0, &[b'f'; 500], &format!("k{i}"))));
    }
    master.flush().unwrap();
    let max = master.commit_log_max_offset();
    let start = max - max % master.commit_log_file_size() as i64;
    assert!(start > 0);
    let slave = open(config(sd.path(), FlushDiskType::AsyncFlush));
    copy_all(&master, &slave, start);
    assert_eq!(slave.commit_log_max_offset(), max);
    assert_eq!(slave.commit_log_min_offset(), start);
    // Its queue starts where the copied records start.
    let n = master.max_offset_in_queue("F", 0);
    wait_visible(&slave, "F", 0, n);
    let min = slave.min_offset_in_queue("F", 0);
    assert!(min > 0 && min < n);
    let got = pull_all(&slave, "F", 0);
    assert_eq!(got.len() as i64, n - min);
    assert_eq!(got[0].queue_offset, min);
    slave.shutdown().unwrap();
    master.shutdown().unwrap();
}

#[test]
fn reset_drops_everything_and_restarts_at_the_masters_min() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let rt = rt();
    let master = open(config(md.path(), FlushDiskType::AsyncFlush));
    for i in 0..300 {
        rt.block_on(master.put_message(msg("R", 0, &[b'r'; 500], &format!("k{i}"))));
    }
    master.flush().unwrap();
    // The slave holds an old prefix of the log, with its own queue and index.
    let slave = open(config(sd.path(), FlushDiskType::AsyncFlush));
    let first = master.read_commit_log(0, 4000).unwrap().unwrap();
    slave.append_raw(0, &first).unwrap();
    slave.flush().unwrap();
    let old_queue_len = slave.max_offset_in_queue("R", 0);
    assert!(old_queue_len > 0);
    assert!(
        !slave
            .query_message("R", "k1", 4, 0, i64::MAX)
            .unwrap()
            .is_empty()
    );

    let fsz = master.commit_log_file_size() as i64;
    let max = master.commit_log_max_offset();
    let start = max - max % fsz;
    assert!(start > 0);
    // Only a file-aligned offset is accepted.
    assert!(slave.reset_to(start + 1).is_err());
    assert!(slave.reset_to(-fsz).is_err());
    assert_eq!(slave.commit_log_max_offset(), first.len() as i64);

    slave.reset_to(start).unwrap();
    assert_eq!(slave.commit_log_min_offset(), start);
    assert_eq!(slave.commit_log_max_offset(), start);
    assert_eq!(slave.dispatched_offset(), start);
    assert!(slave.queues().is_empty());
    assert_eq!(slave.max_offset_in_queue("R", 0), 0);
    assert!(
        slave
            .query_message("R", "k1", 4, 0, i64::MAX)
            .unwrap()
            .is_empty()
    );
    assert!(!sd.path().join("consumequeue").join("R").exists());
    // The old offsets are gone.
    assert!(slave.read_commit_log(0, 10).unwrap().is_none());
    assert!(slave.append_raw(3, &first).is_err());

    // Reopened before anything arrived (crash right after the reset): an empty log, not the
    // old one.
    drop(slave);
    let slave = open(config(sd.path(), FlushDiskType::AsyncFlush));
    assert!(slave.commit_log_max_offset() == 0 || slave.commit_log_max_offset() == start);
    assert!(slave.queues().is_empty());
    slave.reset_to(start).unwrap();

    copy_all(&master, &slave, start);
    assert_eq!(slave.commit_log_max_offset(), max);
    let n = master.max_offset_in_queue("R", 0);
    wait_visible(&slave, "R", 0, n);
    let min = slave.min_offset_in_queue("R", 0);
    assert!(
        min > old_queue_len && min < n,
        "queue restarts at the copied records: {min}"
    );
    let got = pull_all(&slave, "R", 0);
    assert_eq!(got.len() as i64, n - min);
    assert_eq!(got[0].queue_offset, min);
    assert_eq!(
        slave
            .query_message("R", "k299", 4, 0, i64::MAX)
            .unwrap()
            .len(),
        1
    );
    // A clean restart keeps the new log.
    slave.shutdown().unwrap();
    drop(slave);
    let slave = open(config(sd.path(), FlushDiskType::AsyncFlush));
    assert_eq!(slave.commit_log_min_offset(), start);
    assert_eq!(slave.commit_log_max_offset(), max);
    assert_eq!(slave.min_offset_in_queue("R", 0), min);
    slave.shutdown().unwrap();
    master.shutdown().unwrap();
}
