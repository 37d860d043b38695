//! Disk faults injected through the file-system seam: torn and short writes, flipped bytes,
//! ENOSPC and failing fsync.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use parking_lot::Mutex;
use store::fs::FaultyFs;
use store::{FlushDiskType, PutStatus};

#[test]
fn torn_tail_is_truncated_to_the_last_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let fs = FaultyFs::new();
    *fs.faults.path_filter.lock() = "commitlog".into();
    let s = open_faulty(
        config(dir.path(), FlushDiskType::AsyncFlush),
        &fs,
        Arc::new(|_: &str| {}),
    );
    for i in 0..20 {
        assert_eq!(
            rt.block_on(s.put_message(msg("T", 0, &[b'x'; 200], &format!("a{i}"))))
                .status,
            PutStatus::PutOk
        );
    }
    s.flush().unwrap();
    let safe = s.commit_log_max_offset() as u64;
    // The next write reaches the disk only partly: 2.5 records' worth.
    let one = {
        let r = rt.block_on(s.put_message(msg("T", 0, &[b'y'; 200], "p0")));
        r.append.unwrap().wrote_bytes as u64
    };
    // The machine dies while writing the next records: only 1.5 records' worth reach the disk
    // and the fsync never completes (so no checkpoint can claim those bytes).
    fs.faults
        .torn_after_bytes
        .store(one * 3 / 2, Ordering::SeqCst);
    fs.faults.fail_fsync.store(true, Ordering::SeqCst);
    for i in 0..10 {
        rt.block_on(s.put_message(msg("T", 0, &[b'y'; 200], &format!("b{i}"))));
    }
    assert!(s.flush().is_err());
    drop(s); // crash: abort stays
    assert!(dir.path().join("abort").exists());
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    // 20 + probe + one more whole record survive; the half record is cut.
    assert_eq!(s.commit_log_max_offset() as u64, safe + 2 * one);
    assert_eq!(s.max_offset_in_queue("T", 0), 22);
    assert_eq!(pull_all(&s, "T", 0).len(), 22);
    // Appends continue right after the last valid record.
    let r = rt.block_on(s.put_message(msg("T", 0, b"next", "n")));
    assert_eq!(r.append.unwrap().logics_offset, 22);
    s.shutdown().unwrap();
}

#[test]
fn flipped_bytes_are_skipped_by_recovery_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    let mut offs = Vec::new();
    for i in 0..30 {
        let r = rt.block_on(s.put_message(msg("T", 0, &[b'z'; 300], &format!("k{i}"))));
        offs.push(r.append.unwrap().wrote_offset);
    }
    s.flush().unwrap();
    let end_before = s.commit_log_max_offset();
    let cl = dir.path().join("commitlog").join(format!("{:020}", 0));
    // Flip a body byte of record 25 (in the tail, after the last checkpoint would be ideal:
    // simulate by dropping the checkpoint so recovery verifies from the start).
    FaultyFs::flip_byte(&cl, offs[25] as u64 + 100).unwrap();
    // While running, a flipped record is not served by pull or lookup.
    let r = s.get_message("g", "T", 0, 25, 1, 1 << 20, None).unwrap();
    assert_eq!(r.queue_offsets, vec![26], "record 25 is skipped");
    assert!(s.look_message_by_offset(offs[25]).unwrap().is_none());
    drop(s);
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    // Damage in the middle (valid records follow) is skipped, never truncated: records 26..29
    // stay, record 25 is counted and not served (its queue offset stays empty).
    assert_eq!(s.commit_log_max_offset(), end_before);
    assert_eq!(s.corrupt_records_skipped(), 1);
    assert_eq!(s.max_offset_in_queue("T", 0), 30);
    let pulled = pull_all(&s, "T", 0);
    assert_eq!(pulled.len(), 29);
    for m in pulled {
        assert_eq!(m.body.as_ref(), &[b'z'; 300][..]);
    }
    s.shutdown().unwrap();
    drop(s);

    // A flip at the very end (garbage appended past the last record) is cut as well.
    let end = {
        let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
        let e = s.commit_log_max_offset();
        drop(s);
        e
    };
    FaultyFs::flip_byte(&cl, end as u64 + 3).unwrap();
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    assert_eq!(s.commit_log_max_offset(), end);
    s.shutdown().unwrap();
}

#[test]
fn short_write_is_retried_without_damage() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let fs = FaultyFs::new();
    *fs.faults.path_filter.lock() = "commitlog".into();
    let s = open_faulty(
        config(dir.path(), FlushDiskType::AsyncFlush),
        &fs,
        panic_on_fatal(),
    );
    for i in 0..10 {
        rt.block_on(s.put_message(msg("T", 1, b"before", &format!("k{i}"))));
    }
    // The put whose bytes are being written gets a clear error; its record stays buffered
    // (a retrying producer may store it twice: at least once, never lost or torn).
    fs.faults.short_write_once.store(true, Ordering::SeqCst);
    let r = rt.block_on(s.put_message(msg("T", 1, b"during", "d")));
    assert_eq!(r.status, PutStatus::DiskError);
    // Writes resume: the next flush rewrites the whole buffer.
    s.flush().unwrap();
    for i in 0..10 {
        rt.block_on(s.put_message(msg("T", 1, b"after", &format!("j{i}"))));
    }
    s.shutdown().unwrap();
    drop(s);
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    let all = pull_all(&s, "T", 1);
    assert_eq!(all.len(), 21);
    assert!(
        all.iter()
            .all(|m| [&b"before"[..], b"during", b"after"].contains(&m.body.as_ref()))
    );
    s.shutdown().unwrap();
}

#[test]
fn enospc_fails_puts_clearly_then_appends_resume() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let fs = FaultyFs::new();
    *fs.faults.path_filter.lock() = "commitlog".into();
    let mut cfg = config(dir.path(), FlushDiskType::SyncFlush);
    cfg.sync_flush_timeout = 300;
    let s = open_faulty(cfg, &fs, panic_on_fatal());
    for i in 0..5 {
        assert_eq!(
            rt.block_on(s.put_message(msg("T", 0, b"ok", &format!("k{i}"))))
                .status,
            PutStatus::PutOk
        );
    }
    wait_visible(&s, "T", 0, 5);
    fs.faults.enospc.store(true, Ordering::SeqCst);
    let r = rt.block_on(s.put_message(msg("T", 0, b"nospace", "n0")));
    assert_ne!(r.status, PutStatus::PutOk, "{r:?}");
    // Subsequent puts fail fast with a clear error.
    let r = rt.block_on(s.put_message(msg("T", 0, b"nospace", "n1")));
    assert_eq!(r.status, PutStatus::DiskError, "{r:?}");
    assert!(r.error.unwrap().contains("No space"));
    // Still readable; nothing unflushed became visible.
    assert_eq!(pull_all(&s, "T", 0).len(), 5);
    fs.faults.enospc.store(false, Ordering::SeqCst);
    let r = rt.block_on(s.put_message(msg("T", 0, b"space again", "n2")));
    assert_eq!(r.status, PutStatus::PutOk, "{r:?}");
    s.shutdown().unwrap();
    drop(s);
    let s = open(config(dir.path(), FlushDiskType::SyncFlush));
    let bodies: Vec<Vec<u8>> = pull_all(&s, "T", 0)
        .into_iter()
        .map(|m| m.body.to_vec())
        .collect();
    assert_eq!(bodies.last().unwrap(), b"space again");
    // The put that saw FLUSH_DISK_TIMEOUT may be stored (as in Java); the fast-failed one is not.
    assert!(
        !bodies.iter().any(|b| b == b"nospace")
            || bodies.iter().filter(|b| *b == b"nospace").count() == 1
    );
    s.shutdown().unwrap();
}

#[test]
fn failed_fsync_is_fatal_and_never_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let fs = FaultyFs::new();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook = {
        let seen = seen.clone();
        Arc::new(move |m: &str| seen.lock().push(m.to_string()))
    };
    let s = open_faulty(config(dir.path(), FlushDiskType::SyncFlush), &fs, hook);
    assert_eq!(
        rt.block_on(s.put_message(msg("T", 0, b"fine", "a"))).status,
        PutStatus::PutOk
    );
    wait_visible(&s, "T", 0, 1);
    fs.faults.fail_fsync.store(true, Ordering::SeqCst);
    let r = rt.block_on(s.put_message(msg("T", 0, b"doomed", "b")));
    assert_eq!(r.status, PutStatus::UnknownError, "{r:?}");
    let r = rt.block_on(s.put_message(msg("T", 0, b"later", "c")));
    assert_eq!(r.status, PutStatus::ServiceNotAvailable);
    assert_eq!(seen.lock().len(), 1, "fatal hook runs once");
    assert!(seen.lock()[0].contains("fsync"));
    // The record that was not durable was never made visible.
    assert_eq!(s.max_offset_in_queue("T", 0), 1);
    assert!(s.shutdown().is_err());
}

/// The mapped write path (what [`store::fs::StdFs`] uses): space is reserved for a whole
/// segment before it is mapped, so ENOSPC can only strike when a new segment is due. That put
/// fails clearly, the records before it stay readable, and appends resume with space.
#[test]
fn enospc_on_a_new_mapped_segment_fails_the_put_then_appends_resume() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let fs = FaultyFs::new();
    fs.faults.mmap.store(true, Ordering::SeqCst);
    *fs.faults.path_filter.lock() = "commitlog".into();
    let cfg = config(dir.path(), FlushDiskType::AsyncFlush);
    let seg = cfg.mapped_file_size_commit_log;
    let s = open_faulty(cfg, &fs, panic_on_fatal());
    let body = vec![b'm'; 1000];
    let mut stored = 0;
    // Fill most of the first segment (mapped: no ENOSPC possible inside it).
    while (s.commit_log_max_offset() as u64) < seg - 3000 {
        let r = rt.block_on(s.put_message(msg("T", 0, &body, &format!("k{stored}"))));
        assert_eq!(r.status, PutStatus::PutOk, "{r:?}");
        stored += 1;
    }
    fs.faults.enospc.store(true, Ordering::SeqCst);
    let before_full = stored;
    // Puts that still fit succeed (their space is reserved); the one that needs the next
    // segment fails with a disk error.
    let failed = loop {
        let r = rt.block_on(s.put_message(msg("T", 0, &body, &format!("k{stored}"))));
        match r.status {
            PutStatus::PutOk => stored += 1,
            other => break (other, r.error.unwrap_or_default()),
        }
        assert!(stored < 1000, "no put ever needed a new segment");
    };
    assert!(
        stored > before_full,
        "puts into reserved space succeed while the disk is full"
    );
    assert_eq!(failed.0, PutStatus::DiskError, "{failed:?}");
    assert!(failed.1.contains("No space"), "{failed:?}");
    let r = rt.block_on(s.put_message(msg("T", 0, &body, "again")));
    assert_eq!(r.status, PutStatus::DiskError, "{r:?}");
    wait_visible(&s, "T", 0, stored);
    assert_eq!(pull_all(&s, "T", 0).len() as i64, stored);
    fs.faults.enospc.store(false, Ordering::SeqCst);
    let r = rt.block_on(s.put_message(msg("T", 0, b"space again", "ok")));
    assert_eq!(r.status, PutStatus::PutOk, "{r:?}");
    assert!(
        r.append.unwrap().wrote_offset as u64 >= seg,
        "went to the second segment"
    );
    s.shutdown().unwrap();
    drop(s);
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    let got = pull_all(&s, "T", 0);
    assert_eq!(got.len() as i64, stored + 1);
    assert_eq!(&got.last().unwrap().body[..], b"space again");
    s.shutdown().unwrap();
}
