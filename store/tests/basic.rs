//! Put, get, statuses, lookups, restart: the store's API end to end on real files.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use store::{FlushDiskType, GetStatus, PutStatus};

#[test]
fn put_get_statuses_and_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    assert_eq!(
        s.get_message("g", "T", 0, 0, 32, 1 << 20, None)
            .unwrap()
            .status,
        GetStatus::NoMatchedLogicQueue
    );
    let mut offsets = Vec::new();
    for i in 0..300 {
        let body = vec![b'a' + (i % 26) as u8; 100 + i % 300];
        let r = rt.block_on(s.put_message(msg("T", (i % 2) as i32, &body, &format!("k{i}"))));
        assert_eq!(r.status, PutStatus::PutOk, "{r:?}");
        let a = r.append.unwrap();
        assert_eq!(a.logics_offset, (i / 2) as i64);
        offsets.push(a.wrote_offset);
    }
    // Several 64 KiB files were used, with a blank marker in between.
    assert!(s.commit_log_max_offset() > 64 * 1024);
    wait_visible(&s, "T", 0, 150);
    wait_visible(&s, "T", 1, 150);
    let q0 = pull_all(&s, "T", 0);
    assert_eq!(q0.len(), 150);
    for (n, m) in q0.iter().enumerate() {
        assert_eq!(m.queue_offset, n as i64);
        assert_eq!(m.body.len(), 100 + (2 * n) % 300);
        assert_eq!(m.physical_offset, offsets[2 * n]);
    }
    let r = s.get_message("g", "T", 0, 150, 32, 1 << 20, None).unwrap();
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetStatus::OffsetOverflowOne, 150)
    );
    let r = s.get_message("g", "T", 0, 999, 32, 1 << 20, None).unwrap();
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetStatus::OffsetOverflowBadly, 150)
    );
    // Tag filter: nothing matches another tag's hash.
    let other = remoting::message::tags_code(Some("TagB"));
    let f = move |c: i64| c == other;
    let r = s
        .get_message("g", "T", 0, 0, 32, 1 << 20, Some(&f))
        .unwrap();
    assert_eq!(r.status, GetStatus::NoMatchedMessage);
    assert!(r.next_begin_offset > 0);
    // Byte cap.
    let r = s.get_message("g", "T", 0, 0, 32, 500, None).unwrap();
    assert!(r.messages.len() < 32 && !r.messages.is_empty());
    // Lookups.
    let rec = s.look_message_by_offset(offsets[7]).unwrap().unwrap();
    assert_eq!(
        remoting::message::decode(&rec).unwrap().keys().next(),
        Some("k7")
    );
    let hits = s.query_message("T", "k7", 10, 0, i64::MAX).unwrap();
    assert_eq!(hits.len(), 1);
    let hits = s.query_message("T", "Uk8", 10, 0, i64::MAX).unwrap();
    assert_eq!(
        remoting::message::decode(&hits[0]).unwrap().physical_offset,
        offsets[8]
    );
    assert!(
        s.query_message("T", "nope", 10, 0, i64::MAX)
            .unwrap()
            .is_empty()
    );
    let t0 = s.message_store_timestamp("T", 0, 0).unwrap().unwrap();
    assert_eq!(s.offset_in_queue_by_time("T", 0, t0).unwrap(), 0);
    assert_eq!(s.offset_in_queue_by_time("T", 0, i64::MAX).unwrap(), 150);
    assert_eq!(s.earliest_message_time("T", 0).unwrap(), Some(t0));
    // Absurd client input is answered, never a panic.
    assert_eq!(s.message_store_timestamp("T", 0, i64::MAX).unwrap(), None);
    assert_eq!(s.message_store_timestamp("T", 0, -5).unwrap(), None);
    let r = s
        .get_message("g", "T", 0, i64::MAX, usize::MAX, usize::MAX, None)
        .unwrap();
    assert_eq!(r.status, GetStatus::OffsetOverflowBadly);
    let r = s
        .get_message("g", "T", 0, 3, usize::MAX, usize::MAX, None)
        .unwrap();
    assert_eq!(r.status, GetStatus::Found);
    assert!(s.look_message_by_offset(i64::MAX).unwrap().is_none());
    assert!(
        s.read_commit_log(i64::MAX - 3, usize::MAX)
            .unwrap()
            .unwrap()
            .is_empty()
    );
    assert!(s.append_raw(i64::MAX, b"x").is_err());
    assert!(s.truncate_commit_log(-1).is_err());
    let end = s.commit_log_max_offset();
    s.shutdown().unwrap();
    drop(s);
    assert!(!dir.path().join("abort").exists());

    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    assert_eq!(s.commit_log_max_offset(), end);
    assert_eq!(s.max_offset_in_queue("T", 1), 150);
    assert_eq!(pull_all(&s, "T", 1).len(), 150);
    let r = rt.block_on(s.put_message(msg("T", 1, b"after", "x")));
    assert_eq!(r.append.unwrap().logics_offset, 150);
    s.shutdown().unwrap();
}

/// A pull reads consume-queue entries as it needs them, so it goes on into the next queue
/// file rather than stopping at a file's end (files hold 100 entries here), with or without a
/// tag filter, and reports the offsets it served and where to continue.
#[test]
fn pulls_go_on_across_consume_queue_files() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    for i in 0..150 {
        let mut m = msg("T", 0, &[b'x'; 64], &format!("k{i}"));
        m.properties
            .insert("TAGS", if i % 2 == 0 { "Even" } else { "Odd" });
        let r = rt.block_on(s.put_message(m));
        assert_eq!(r.status, PutStatus::PutOk, "{r:?}");
    }
    wait_visible(&s, "T", 0, 150);

    let r = s.get_message("g", "T", 0, 90, 32, 1 << 20, None).unwrap();
    assert_eq!(r.status, GetStatus::Found);
    assert_eq!(r.queue_offsets, (90..122).collect::<Vec<i64>>());
    assert_eq!(r.next_begin_offset, 122);

    let even = remoting::message::tags_code(Some("Even"));
    let f = move |c: i64| c == even;
    let r = s
        .get_message("g", "T", 0, 80, 32, 1 << 20, Some(&f))
        .unwrap();
    assert_eq!(r.status, GetStatus::Found);
    assert_eq!(r.queue_offsets, (80..144).step_by(2).collect::<Vec<i64>>());
    assert_eq!(r.next_begin_offset, 143);
    for (m, q) in r.messages.iter().zip(&r.queue_offsets) {
        let rec = remoting::message::decode(m).unwrap();
        assert_eq!((rec.queue_offset, rec.tags()), (*q, Some("Even")));
    }
    // The end of the queue ends the pull with what there was.
    let r = s.get_message("g", "T", 0, 140, 32, 1 << 20, None).unwrap();
    assert_eq!(r.queue_offsets, (140..150).collect::<Vec<i64>>());
    assert_eq!(r.next_begin_offset, 150);
    s.shutdown().unwrap();
}

#[test]
fn sync_flush_acks_only_durable_and_batches_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let fs = store::fs::FaultyFs::new();
    *fs.faults.path_filter.lock() = "commitlog".into();
    let s = std::sync::Arc::new(open_faulty(
        config(dir.path(), FlushDiskType::SyncFlush),
        &fs,
        panic_on_fatal(),
    ));
    let (adv_tx, adv_rx) = std::sync::mpsc::channel();
    s.on_advance(move |topic, queue_id, max| {
        let _ = adv_tx.send((topic.to_string(), queue_id, max));
    });
    let before = fs.faults.fsyncs.load(std::sync::atomic::Ordering::SeqCst);
    let results = rt.block_on(async {
        let mut hs = Vec::new();
        for i in 0..64 {
            let s = s.clone();
            hs.push(tokio::spawn(async move {
                s.put_message(msg("S", 0, b"payload", &format!("k{i}")))
                    .await
            }));
        }
        let mut out = Vec::new();
        for h in hs {
            out.push(h.await.unwrap());
        }
        out
    });
    for r in &results {
        assert_eq!(r.status, PutStatus::PutOk);
        assert!(r.append.as_ref().unwrap().end_offset <= s.commit_log_flushed_offset());
    }
    let fsyncs = fs.faults.fsyncs.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(fsyncs < 64, "group commit: {fsyncs} fsyncs for 64 puts");
    wait_visible(&s, "S", 0, 64);
    // Announced once durable and dispatched, up to the queue's new max offset.
    let mut announced = 0;
    while announced < 64 {
        let (topic, queue_id, max) = adv_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("queue advance announced");
        assert_eq!((topic.as_str(), queue_id), ("S", 0));
        announced = max;
    }
    assert_eq!(announced, 64);
    // WAIT=false returns without waiting (still stored).
    let mut m = msg("S", 0, b"nowait", "nw");
    m.properties.insert("WAIT", "false");
    let r = rt.block_on(s.put_message(m));
    assert_eq!(r.status, PutStatus::PutOk);
    s.shutdown().unwrap();
}

#[test]
fn illegal_messages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    let big = vec![0u8; 17 * 1024];
    assert_eq!(
        rt.block_on(s.put_message(msg("T", 0, &big, "k"))).status,
        PutStatus::MessageIllegal
    );
    assert_eq!(
        rt.block_on(s.put_message(msg("../x", 0, b"b", "k"))).status,
        PutStatus::MessageIllegal
    );
    let mut m = msg("T", 0, b"b", "k");
    m.properties.insert("BAD", "a\u{1}b");
    assert_eq!(
        rt.block_on(s.put_message(m)).status,
        PutStatus::MessageIllegal
    );
    let mut m = msg("T", 0, b"b", "k");
    m.properties.insert("BIG", "x".repeat(33_000));
    assert_eq!(
        rt.block_on(s.put_message(m)).status,
        PutStatus::PropertiesSizeExceeded
    );
    assert_eq!(s.commit_log_max_offset(), 0);
    s.shutdown().unwrap();
}

#[test]
fn batch_and_delay_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    let batch: Vec<_> = (0..5)
        .map(|i| msg("B", 2, b"item", &format!("b{i}")))
        .collect();
    let r = rt.block_on(s.put_messages(batch));
    let a = r.append.unwrap();
    assert_eq!((a.msg_num, a.logics_offset), (5, 0));
    assert_eq!(a.msg_id.split(',').count(), 5);
    let mut d = msg("D", 1, b"later", "d");
    d.properties.insert("DELAY", "3");
    let r = rt.block_on(s.put_message(d)).append.unwrap();
    assert_eq!((r.topic.as_str(), r.queue_id), ("SCHEDULE_TOPIC_XXXX", 2));
    wait_visible(&s, "SCHEDULE_TOPIC_XXXX", 2, 1);
    let got = s
        .get_message("g", "SCHEDULE_TOPIC_XXXX", 2, 0, 1, 1 << 20, None)
        .unwrap();
    let m = remoting::message::decode(&got.messages[0]).unwrap();
    assert_eq!(m.properties.get("REAL_TOPIC"), Some("D"));
    assert_eq!(m.properties.get("REAL_QID"), Some("1"));
    wait_visible(&s, "B", 2, 5);
    s.delete_topic("B").unwrap();
    assert_eq!(s.max_offset_in_queue("B", 2), 0);
    assert!(!dir.path().join("consumequeue/B").exists());
    s.shutdown().unwrap();
}

#[test]
fn async_flush_waits_for_pages_or_the_thorough_interval() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let fs = store::fs::FaultyFs::new();
    *fs.faults.path_filter.lock() = "commitlog".into();
    let mut cfg = config(dir.path(), FlushDiskType::AsyncFlush);
    cfg.flush_commit_log_least_pages = 4;
    cfg.flush_commit_log_thorough_interval = 600_000;
    let s = open_faulty(cfg, &fs, panic_on_fatal());
    let base = fs.faults.fsyncs.load(Ordering::SeqCst);
    rt.block_on(s.put_message(msg("A", 0, b"small", "k")));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        fs.faults.fsyncs.load(Ordering::SeqCst),
        base,
        "under 4 dirty pages: no flush"
    );
    assert!(s.commit_log_flushed_offset() < s.commit_log_max_offset());
    for i in 0..20 {
        rt.block_on(s.put_message(msg("A", 0, &[b'p'; 1000], &format!("p{i}"))));
    }
    // A flush takes what is dirty when it runs; one that ran while the puts went on leaves a
    // rest under the 4 pages, which waits (the thorough interval is far off).
    let settled = || s.commit_log_max_offset() - s.commit_log_flushed_offset() < 4 * 4096;
    for _ in 0..500 {
        if settled() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        settled(),
        "flushed {} of {}",
        s.commit_log_flushed_offset(),
        s.commit_log_max_offset()
    );
    assert!(fs.faults.fsyncs.load(Ordering::SeqCst) > base);
    s.shutdown().unwrap();
    drop(s);

    // A thorough flush happens after the interval even below the page threshold.
    let mut cfg = config(dir.path(), FlushDiskType::AsyncFlush);
    cfg.flush_commit_log_least_pages = 1000;
    cfg.flush_commit_log_thorough_interval = 50;
    let s = open(cfg);
    rt.block_on(s.put_message(msg("A", 0, b"tiny", "t")));
    for _ in 0..500 {
        if s.commit_log_flushed_offset() == s.commit_log_max_offset() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(s.commit_log_flushed_offset(), s.commit_log_max_offset());
    s.shutdown().unwrap();
}

/// The index is flushed every `flushIntervalIndex`, not with every checkpoint. In between, the
/// checkpoint claims records as dispatched only as far as the last index flush covered them
/// (a crash re-indexes the rest, `tests/crash.rs`), and the index file on disk is untouched;
/// an explicit flush brings both to the end.
#[test]
fn checkpoints_claim_dispatch_only_as_far_as_the_durable_index() {
    use store::checkpoint::read_checkpoint;
    let newest_index_count = |root: &std::path::Path| {
        let mut files: Vec<_> = std::fs::read_dir(root.join("index"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        store::index::read_header(files.last().unwrap())
            .unwrap()
            .index_count
    };
    let rt = rt();
    for (every, lags) in [(3_600_000u64, true), (20, false)] {
        let dir = tempfile::tempdir().unwrap();
        let s = open(store::StoreConfig {
            flush_interval_consume_queue: 20,
            flush_interval_index: every,
            ..config(dir.path(), FlushDiskType::AsyncFlush)
        });
        for i in 0..20 {
            let r = rt.block_on(s.put_message(msg("T", 0, b"body", &format!("k{i}"))));
            assert_eq!(r.status, PutStatus::PutOk);
        }
        let end = s.commit_log_max_offset() as u64;
        // Wait for a checkpoint that recorded the dispatch of every record.
        let cp_path = dir.path().join("checkpoint");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let cp = loop {
            let cp = read_checkpoint(&cp_path);
            if let Some(cp) =
                cp.filter(|c| c.logics_msg_timestamp > 0 && (lags || c.dispatch_safe_offset >= end))
            {
                break cp;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint: {cp:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        if lags {
            // The index was last flushed at open, on an empty log.
            assert_eq!(cp.dispatch_safe_offset, 0, "{cp:?}");
            assert_eq!(cp.index_end_offset, 0, "{cp:?}");
            // Created by the first put and never flushed: its header is still zeros.
            assert!(newest_index_count(dir.path()) <= 1, "no entry on disk yet");
        } else {
            assert_eq!(cp.dispatch_safe_offset, end, "{cp:?}");
            assert_eq!(
                newest_index_count(dir.path()),
                41,
                "KEYS and UNIQ_KEY of 20"
            );
        }
        s.flush().unwrap();
        let cp = read_checkpoint(&cp_path).unwrap();
        assert_eq!(cp.dispatch_safe_offset, end);
        assert!(cp.index_end_offset > 0);
        assert_eq!(newest_index_count(dir.path()), 41);
        assert_eq!(s.query_message("T", "k7", 4, 0, i64::MAX).unwrap().len(), 1);
        s.shutdown().unwrap();
    }
}
