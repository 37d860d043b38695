//! Store integrity on damaged files (issue 13): a store written by the real store, then
//! damaged by the test the way disks and crashes do, then reopened.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use store::fs::FaultyFs;
use store::{FlushDiskType, MessageStore, PutStatus, StoreConfig};

/// One acknowledged message: where it went, its key and body.
#[derive(Debug, Clone)]
struct Sent {
    offset: u64,
    size: u64,
    queue_id: i32,
    key: String,
    body: Vec<u8>,
}

/// Puts `n` messages to `topic` (queues 0 and 1 alternately), all acknowledged.
fn put_n(
    s: &MessageStore,
    rt: &tokio::runtime::Runtime,
    topic: &str,
    from: usize,
    n: usize,
) -> Vec<Sent> {
    let mut out = Vec::new();
    for i in from..from + n {
        let key = format!("k{i}");
        let body = body_of(i);
        let qid = (i % 2) as i32;
        let r = rt.block_on(s.put_message(msg(topic, qid, &body, &key)));
        assert_eq!(r.status, PutStatus::PutOk, "{:?}", r.error);
        let a = r.append.unwrap();
        out.push(Sent {
            offset: a.wrote_offset as u64,
            size: a.wrote_bytes as u64,
            queue_id: qid,
            key,
            body,
        });
    }
    out
}

/// Waits until dispatch reached the end of the commit log.
fn wait_dispatched(s: &MessageStore) {
    for _ in 0..1000 {
        if s.dispatched_offset() >= s.commit_log_max_offset() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("dispatch stuck at {}", s.dispatched_offset());
}

fn seg_path(root: &Path, cfg: &StoreConfig, offset: u64) -> (std::path::PathBuf, u64) {
    let fsz = cfg.mapped_file_size_commit_log;
    let start = offset - offset % fsz;
    (
        root.join("commitlog").join(format!("{start:020}")),
        offset - start,
    )
}

/// Flips the first byte of the message's body in its segment file.
fn flip_body(root: &Path, cfg: &StoreConfig, m: &Sent) {
    let (path, within) = seg_path(root, cfg, m.offset);
    let data = std::fs::read(&path).unwrap();
    let rec = &data[within as usize..(within + m.size) as usize];
    let at = rec.windows(m.body.len()).position(|w| w == m.body).unwrap();
    FaultyFs::flip_byte(&path, within + at as u64).unwrap();
}

fn empty_checkpoint(root: &Path) {
    std::fs::write(root.join("checkpoint"), b"").unwrap();
}

/// Every message is served by pull (in its queue, at its queue position) and by key.
fn assert_all_served(s: &MessageStore, topic: &str, sent: &[&Sent]) {
    for qid in [0, 1] {
        let want: Vec<&[u8]> = sent
            .iter()
            .filter(|m| m.queue_id == qid)
            .map(|m| m.body.as_slice())
            .collect();
        let got = pull_all(s, topic, qid);
        let got: Vec<&[u8]> = got.iter().map(|m| m.body.as_ref()).collect();
        assert_eq!(got.len(), want.len(), "queue {qid}: pulled count");
        assert!(got == want, "queue {qid}: bodies differ");
    }
    let mut missing = 0;
    for m in sent {
        let r = s.query_message(topic, &m.key, 4, 0, i64::MAX).unwrap();
        if r.is_empty() {
            missing += 1;
        }
    }
    assert_eq!(missing, 0, "keys not found by QUERY_MESSAGE");
}

fn cfg(root: &Path) -> StoreConfig {
    config(root, FlushDiskType::AsyncFlush)
}

/// The first failure: one flipped body byte in an old segment plus an empty
/// checkpoint lost every later segment. Now only the damaged record is missing.
#[test]
fn flipped_byte_in_an_old_segment_with_an_empty_checkpoint_loses_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rt = rt();
    let cfg = cfg(root);
    let s = open(cfg.clone());
    let sent = put_n(&s, &rt, "T", 0, 1500);
    s.shutdown().unwrap();
    drop(s);
    let segs_before = files(&root.join("commitlog"));
    assert!(segs_before.len() >= 4, "{segs_before:?}");
    let victim = &sent[40];
    assert!(
        victim.offset < cfg.mapped_file_size_commit_log,
        "in the oldest segment"
    );
    flip_body(root, &cfg, victim);
    empty_checkpoint(root);

    // Refusing instead of skipping: the store does not open, names the offset and the repair
    // command, and changes nothing.
    let strict = StoreConfig {
        skip_corrupt_record_on_recover: false,
        ..cfg.clone()
    };
    let err = MessageStore::open_with(strict, Arc::new(store::fs::StdFs), panic_on_fatal())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&victim.offset.to_string()), "{err}");
    assert!(err.contains("store-ctl repair"), "{err}");
    assert_eq!(files(&root.join("commitlog")), segs_before);

    let s = open(cfg.clone());
    assert_eq!(s.corrupt_records_skipped(), 1);
    let rep = s.recovery_report();
    assert_eq!(rep.skipped.len(), 1, "{rep:?}");
    assert_eq!(rep.skipped[0].from, victim.offset);
    assert_eq!(rep.skipped[0].to, victim.offset + victim.size);
    assert!(
        rep.torn_tail
            .as_ref()
            .is_none_or(|t| t.reason == "end of data")
    );
    assert_eq!(
        files(&root.join("commitlog")),
        segs_before,
        "no segment deleted"
    );
    let kept: Vec<&Sent> = sent.iter().filter(|m| m.offset != victim.offset).collect();
    assert_eq!(
        s.commit_log_max_offset() as u64,
        sent.last().map(|m| m.offset + m.size).unwrap()
    );
    // Every other message is served by pull and by key; the damaged one is not served.
    for qid in [0, 1] {
        let got: Vec<Vec<u8>> = pull_all(&s, "T", qid)
            .into_iter()
            .map(|m| m.body.to_vec())
            .collect();
        let want: Vec<Vec<u8>> = kept
            .iter()
            .filter(|m| m.queue_id == qid)
            .map(|m| m.body.clone())
            .collect();
        assert_eq!(got, want, "queue {qid}");
    }
    assert!(
        s.look_message_by_offset(victim.offset as i64)
            .unwrap()
            .is_none()
    );
    // Appends continue and are served.
    let more = put_n(&s, &rt, "T", 1500, 20);
    s.flush().unwrap();
    wait_dispatched(&s);
    assert!(
        s.look_message_by_offset(more[19].offset as i64)
            .unwrap()
            .is_some()
    );
    s.shutdown().unwrap();
}

/// Structural damage (a flipped magic byte) that only dispatch meets: the checkpoint trusts
/// the log, but the queues are rebuilt from offset 0. Dispatch steps over the record.
#[test]
fn dispatch_steps_over_a_damaged_record_and_never_stops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rt = rt();
    let cfg = cfg(root);
    let s = open(cfg.clone());
    let sent = put_n(&s, &rt, "T", 0, 600);
    s.shutdown().unwrap();
    drop(s);
    let victim = sent[100].clone();
    let (path, within) = seg_path(root, &cfg, victim.offset);
    FaultyFs::flip_byte(&path, within + 5).unwrap(); // magic
    let mut cp = store::checkpoint::read_checkpoint(&root.join("checkpoint")).unwrap();
    cp.dispatch_safe_offset = 0;
    store::checkpoint::write_checkpoint_file(&root.join("checkpoint"), &cp).unwrap();
    std::fs::remove_dir_all(root.join("consumequeue")).unwrap();
    let s = open(cfg.clone());
    assert_eq!(s.recovery_report().skipped.len(), 0, "recovery trusted it");
    assert_eq!(s.corrupt_records_skipped(), 1, "dispatch counted it");
    let kept: Vec<&Sent> = sent.iter().filter(|m| m.offset != victim.offset).collect();
    assert_all_served(&s, "T", &kept);
    s.shutdown().unwrap();
}

/// The second failure: the newest segment cut (to 0 bytes, or to an odd length)
/// below the checkpoint's offsets. The log end is the real end of valid data; new puts are
/// served and survive a later full-scan restart.
#[test]
fn torn_newest_segment_below_the_checkpoint() {
    for cut in [0u64, 1001] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let rt = rt();
        let cfg = config(root, FlushDiskType::SyncFlush);
        let s = open(cfg.clone());
        let sent = put_n(&s, &rt, "T", 0, 900);
        s.shutdown().unwrap();
        drop(s);
        let last = sent.last().unwrap();
        let (path, _) = seg_path(root, &cfg, last.offset);
        let newest_start = last.offset - last.offset % cfg.mapped_file_size_commit_log;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        // Survivors: records wholly below the cut.
        let survivors: Vec<&Sent> = sent
            .iter()
            .filter(|m| m.offset + m.size <= newest_start + cut)
            .collect();
        let s = open(cfg.clone());
        let rep = s.recovery_report();
        assert_eq!(rep.untrusted_segments.len(), 1, "{rep:?}");
        let end = survivors.last().map(|m| m.offset + m.size).unwrap();
        let end = if cut == 0 { newest_start } else { end };
        assert_eq!(s.commit_log_max_offset() as u64, end, "cut {cut}");
        assert_all_served(&s, "T", &survivors);
        // New puts are acknowledged and served (dispatch is not stuck behind a hole).
        let more = put_n(&s, &rt, "T", 900, 50);
        assert_eq!(more[0].offset, end);
        wait_dispatched(&s);
        for m in &more {
            assert!(s.look_message_by_offset(m.offset as i64).unwrap().is_some());
        }
        let mut all = survivors.clone();
        all.extend(more.iter());
        assert_all_served(&s, "T", &all);
        drop(s); // crash
        // A later full-scan restart keeps everything written after the damage.
        empty_checkpoint(root);
        let s = open(cfg.clone());
        assert_eq!(s.corrupt_records_skipped(), 0);
        assert_all_served(&s, "T", &all);
        s.shutdown().unwrap();
    }
}

/// A torn tail after valid data in the middle of the newest segment (garbage then zeros) is
/// cut; no later data exists, so nothing is counted as skipped.
#[test]
fn garbage_followed_only_by_zeros_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rt = rt();
    let cfg = cfg(root);
    let s = open(cfg.clone());
    let sent = put_n(&s, &rt, "T", 0, 100);
    s.flush().unwrap();
    drop(s); // crash
    let last = sent.last().unwrap();
    let (path, within) = seg_path(root, &cfg, last.offset + last.size);
    // Half a record of garbage after the end, as a torn write leaves it.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0x5A; 100], within).unwrap();
    let s = open(cfg.clone());
    let rep = s.recovery_report();
    assert_eq!(rep.skipped.len(), 0);
    assert_eq!(
        rep.torn_tail.as_ref().map(|t| t.from),
        Some(last.offset + last.size)
    );
    assert_eq!(s.commit_log_max_offset() as u64, last.offset + last.size);
    let all: Vec<&Sent> = sent.iter().collect();
    assert_all_served(&s, "T", &all);
    s.shutdown().unwrap();
}

/// The third failure: the last consume-queue file truncated (to 0 or 7 bytes) lost
/// its entries for pull for good. Now they are re-dispatched from the commit log.
#[test]
fn truncated_last_consume_queue_file_is_rebuilt() {
    for cut in [0u64, 7] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let rt = rt();
        let cfg = cfg(root);
        let s = open(cfg.clone());
        let sent = put_n(&s, &rt, "T", 0, 700);
        s.shutdown().unwrap();
        drop(s);
        let qdir = root.join("consumequeue/T/0");
        let last = files(&qdir).into_iter().next_back().unwrap();
        assert_ne!(last, format!("{:020}", 0), "several files");
        std::fs::OpenOptions::new()
            .write(true)
            .open(qdir.join(&last))
            .unwrap()
            .set_len(cut)
            .unwrap();
        let s = open(cfg.clone());
        assert_eq!(
            s.recovery_report().damaged_queues,
            vec![("T".to_string(), 0)]
        );
        let all: Vec<&Sent> = sent.iter().collect();
        assert_all_served(&s, "T", &all);
        // No blank entries: every queue offset holds its record.
        assert_eq!(s.max_offset_in_queue("T", 0), 350);
        s.shutdown().unwrap();
    }
}

/// The fourth failure: the newest index file deleted. Its keys are indexed again.
#[test]
fn deleted_newest_index_file_is_rebuilt() {
    for max_index_num in [200u32, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let rt = rt();
        let cfg = StoreConfig {
            max_index_num,
            max_hash_slot_num: 1001,
            ..cfg(root)
        };
        let s = open(cfg.clone());
        let sent = put_n(&s, &rt, "T", 0, 500);
        s.shutdown().unwrap();
        drop(s);
        let idx = root.join("index");
        let names = files(&idx);
        let newest = names.iter().next_back().unwrap().clone();
        std::fs::remove_file(idx.join(&newest)).unwrap();
        let s = open(cfg.clone());
        let all: Vec<&Sent> = sent.iter().collect();
        assert_all_served(&s, "T", &all);
        // Nothing is indexed twice: each key finds exactly its one record.
        for m in sent.iter().step_by(37) {
            assert_eq!(
                s.query_message("T", &m.key, 8, 0, i64::MAX).unwrap().len(),
                1
            );
        }
        s.shutdown().unwrap();
    }
}

/// The fifth failure: a topic deleted while dispatch re-creates its queues. No file of
/// a live queue is unlinked: after a restart every entry of the re-created queues points at
/// its record.
#[test]
fn topic_deletion_racing_recreation_never_unlinks_a_live_queue() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cfg = cfg(root);
    let s = Arc::new(open(cfg.clone()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deleter = {
        let s = s.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut res = Ok(());
            for _ in 0..200 {
                res = s.delete_topic("R");
                if res.is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
            stop.store(true, Ordering::Release);
            res
        })
    };
    let rt = rt();
    let mut i = 0;
    while !stop.load(Ordering::Acquire) {
        rt.block_on(s.put_message(msg("R", 0, b"x", &format!("r{i}"))));
        i += 1;
    }
    deleter.join().unwrap().unwrap();
    assert!(i > 50, "{i} puts raced the deletes");
    // The last round: the topic is live again with these entries.
    let last = put_n(&s, &rt, "R", 10_000, 40);
    s.flush().unwrap();
    let before: Vec<Vec<u8>> = pull_all(&s, "R", 0)
        .into_iter()
        .map(|m| m.body.to_vec())
        .collect();
    assert!(before.len() >= 20);
    // Every queue file the store has open must still be linked.
    let q = root.join("consumequeue/R/0");
    assert!(!files(&q).is_empty(), "live queue files present");
    Arc::try_unwrap(s).unwrap().shutdown().unwrap();
    let s = open(cfg);
    let after: Vec<Vec<u8>> = pull_all(&s, "R", 0)
        .into_iter()
        .map(|m| m.body.to_vec())
        .collect();
    assert_eq!(after, before, "entries survive the restart");
    for m in last.iter().filter(|m| m.queue_id == 0) {
        assert!(after.contains(&m.body));
    }
    s.shutdown().unwrap();
}

/// The sixth failure: a crash, then a start on a full disk. The store opens, serves
/// reads, refuses writes with a clear error, and accepts writes once space returns.
#[test]
fn opens_read_only_on_a_full_disk_and_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rt = rt();
    let cfg = StoreConfig {
        // One queue file holds every entry: read-only mode fills queues in memory up to the
        // end of their current file (a new queue file needs space).
        mapped_file_size_consume_queue: 20 * 1000,
        ..config(root, FlushDiskType::SyncFlush)
    };
    let s = open(cfg.clone());
    let sent = put_n(&s, &rt, "T", 0, 300);
    drop(s); // crash: recovery must re-dispatch and write a checkpoint
    let fs = FaultyFs::new();
    fs.faults.enospc.store(true, Ordering::SeqCst);
    let s = open_faulty(cfg.clone(), &fs, panic_on_fatal());
    assert!(s.is_read_only());
    assert!(s.recovery_report().read_only.is_some());
    let all: Vec<&Sent> = sent.iter().collect();
    for qid in [0, 1] {
        assert_eq!(
            pull_all(&s, "T", qid).len(),
            all.iter().filter(|m| m.queue_id == qid).count()
        );
    }
    let r = rt.block_on(s.put_message(msg("T", 0, b"refused", "x")));
    assert_eq!(r.status, PutStatus::DiskError);
    assert!(r.error.unwrap().contains("read-only"));
    // Space returns.
    fs.faults.enospc.store(false, Ordering::SeqCst);
    let more = put_n(&s, &rt, "T", 300, 10);
    assert!(!s.is_read_only());
    wait_dispatched(&s);
    let mut all = all;
    all.extend(more.iter());
    assert_all_served(&s, "T", &all);
    s.shutdown().unwrap();
    drop(s);
    let s = open(cfg);
    assert_all_served(&s, "T", &all);
    s.shutdown().unwrap();
}

/// `store-ctl check` names every problem; `repair --dry-run` changes nothing; `repair`
/// refuses middle damage without `--skip-corrupt`, and with it rebuilds queues and index so
/// that even a strict store (skipCorruptRecordOnRecover=false) opens with everything else.
#[test]
fn store_ctl_check_and_repair() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_store-ctl"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("repair DIR"));

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rt = rt();
    let cfg = cfg(root);
    let s = open(cfg.clone());
    let sent = put_n(&s, &rt, "T", 0, 900);
    s.shutdown().unwrap();
    drop(s);
    let (ok, text) = ctl(&["check"], root);
    assert!(ok, "{text}");
    // Three kinds of damage: a flipped body byte, a cut consume-queue file, a lost index file.
    let victim = sent[77].clone();
    flip_body(root, &cfg, &victim);
    let qdir = root.join("consumequeue/T/1");
    let last_cq = files(&qdir).into_iter().next_back().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(qdir.join(&last_cq))
        .unwrap()
        .set_len(7)
        .unwrap();
    let idx = files(&root.join("index"));
    std::fs::remove_file(root.join("index").join(idx.iter().next_back().unwrap())).unwrap();
    let (ok, text) = ctl(&["check"], root);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "damaged range [{}, {})",
            victim.offset,
            victim.offset + victim.size
        )),
        "{text}"
    );
    assert!(
        text.contains(&last_cq) && text.contains("has 7 bytes"),
        "{text}"
    );
    assert!(
        text.contains("index: the newest index file ends at"),
        "{text}"
    );

    let before = tree_digest(root);
    let (ok, text) = ctl(&["repair", "--dry-run", "--skip-corrupt"], root);
    assert!(ok, "{text}");
    assert!(text.contains("dry run"), "{text}");
    assert!(tree_digest(root) == before, "dry run changed nothing");
    let (ok, text) = ctl(
        &[
            "repair",
            "--max-hash-slot-num",
            "101",
            "--max-index-num",
            "200",
        ],
        root,
    );
    assert!(!ok, "{text}");
    assert!(text.contains("--skip-corrupt"), "{text}");
    assert!(
        tree_digest(root) == before,
        "refused repair changed nothing"
    );
    let (ok, text) = ctl(
        &[
            "repair",
            "--skip-corrupt",
            "--max-hash-slot-num",
            "101",
            "--max-index-num",
            "200",
        ],
        root,
    );
    assert!(ok, "{text}");
    let strict = StoreConfig {
        skip_corrupt_record_on_recover: false,
        ..cfg.clone()
    };
    empty_checkpoint(root); // even a full scan accepts the recorded skip
    let s = MessageStore::open_with(strict, Arc::new(store::fs::StdFs), panic_on_fatal()).unwrap();
    let kept: Vec<&Sent> = sent.iter().filter(|m| m.offset != victim.offset).collect();
    assert_all_served(&s, "T", &kept);
    s.shutdown().unwrap();
    drop(s);
    let (_, text) = ctl(&["check"], root);
    assert!(!text.contains("has 7 bytes"), "{text}");
    assert!(!text.contains("index: the newest"), "{text}");
}

/// A real full disk: a small tmpfs (mounted under /tmp by this test when it runs as root,
/// unmounted after). A crashed store on it, the disk then filled to the last byte: the store
/// opens and serves every message; puts are refused with a clear status; once space returns,
/// puts succeed again.
#[test]
fn full_tmpfs_at_open_serves_reads_then_resumes() {
    let mnt = tempfile::Builder::new()
        .prefix("store-enospc")
        .tempdir_in("/tmp")
        .unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED (cannot mount a tmpfs here: not root or no mount)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.path().to_path_buf());
    let root = mnt.path().join("store");
    let rt = rt();
    let cfg = StoreConfig {
        clean_resource_interval: 50,
        // One queue file holds every entry: read-only mode fills queues in memory up to the
        // end of their current file (a new queue file needs space).
        mapped_file_size_consume_queue: 20 * 1000,
        ..config(&root, FlushDiskType::SyncFlush)
    };
    let s = open(cfg.clone());
    let sent = put_n(&s, &rt, "T", 0, 300);
    drop(s); // crash
    // A cut queue file: recovery must rebuild it.
    let qdir = root.join("consumequeue/T/0");
    let last_cq = files(&qdir).into_iter().next_back().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(qdir.join(&last_cq))
        .unwrap()
        .set_len(7)
        .unwrap();
    // And the index lost: rebuilding it writes new files, which needs new pages.
    for f in files(&root.join("index")) {
        std::fs::remove_file(root.join("index").join(f)).unwrap();
    }
    // Fill the disk to the last byte.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(mnt.path().join("filler")).unwrap();
        let chunk = vec![7u8; 64 * 1024];
        loop {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        let one = [7u8; 1];
        while f.write_all(&one).is_ok() {}
    }
    let s = open(cfg.clone());
    assert!(s.is_read_only(), "{:?}", s.recovery_report());
    let all: Vec<&Sent> = sent.iter().collect();
    for qid in [0, 1] {
        assert_eq!(
            pull_all(&s, "T", qid).len(),
            all.iter().filter(|m| m.queue_id == qid).count(),
            "served on a full disk"
        );
    }
    let r = rt.block_on(s.put_message(msg("T", 0, &[1; 2000], "full")));
    assert!(
        matches!(
            r.status,
            PutStatus::DiskError | PutStatus::ServiceNotAvailable
        ),
        "{:?} {:?}",
        r.status,
        r.error
    );
    eprintln!(
        "full disk: read-only={} put status {:?}: {:?}",
        s.is_read_only(),
        r.status,
        r.error
    );
    std::fs::remove_file(mnt.path().join("filler")).unwrap();
    let mut resumed = false;
    for _ in 0..200 {
        let r = rt.block_on(s.put_message(msg("T", 0, b"back", "back")));
        if r.status == PutStatus::PutOk {
            resumed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(resumed, "puts resume once space returns");
    assert!(!s.is_read_only());
    s.shutdown().unwrap();
}

/// A pull's served records come back to back in one buffer (the broker's response body, not
/// gathered into a new buffer): whether they were adjacent in the commit log or read apart,
/// and with a damaged record left out between them, they are exactly the verified records.
#[test]
fn a_pull_comes_as_one_buffer_of_exactly_the_verified_records() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), FlushDiskType::AsyncFlush);
    let s = open(cfg.clone());
    let rt = rt();
    // Queue 0 only: every record follows the previous one in the log.
    let mut sent = Vec::new();
    for i in 0..12 {
        let body = body_of(i);
        let r = rt.block_on(s.put_message(msg("J", 0, &body, &format!("k{i}"))));
        let a = r.append.unwrap();
        sent.push(Sent {
            offset: a.wrote_offset as u64,
            size: a.wrote_bytes as u64,
            queue_id: 0,
            key: format!("k{i}"),
            body,
        });
    }
    wait_dispatched(&s);
    let r = s.get_message("g", "J", 0, 0, 12, 1 << 20, None).unwrap();
    assert_eq!(r.messages.len(), 12);
    let joined = r.joined.clone().expect("one buffer");
    assert_eq!(joined, r.messages.concat());
    // Queues 0 and 1 interleaved: no two records of a queue are adjacent, each is its own
    // read, and still they come as one buffer.
    let _ = put_n(&s, &rt, "K", 0, 6);
    wait_dispatched(&s);
    let r = s.get_message("g", "K", 0, 0, 3, 1 << 20, None).unwrap();
    assert_eq!(r.messages.len(), 3);
    assert_eq!(r.joined.clone().expect("one buffer"), r.messages.concat());
    for m in &r.messages {
        let v = remoting::message::record::decode_view(m).unwrap();
        assert_eq!(v.queue_id, 0);
        assert!(v.crc_ok());
    }
    // A damaged record in the middle is left out, and the buffer holds the other 11 only.
    flip_body(dir.path(), &cfg, &sent[5]);
    let r = s.get_message("g", "J", 0, 0, 12, 1 << 20, None).unwrap();
    assert_eq!(r.messages.len(), 11);
    assert_eq!(r.queue_offsets, [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
    let joined = r.joined.clone().expect("one buffer");
    assert_eq!(joined, r.messages.concat());
    let bodies: Vec<Vec<u8>> = r
        .messages
        .iter()
        .map(|m| {
            remoting::message::record::decode_view(m)
                .unwrap()
                .body
                .to_vec()
        })
        .collect();
    let want: Vec<Vec<u8>> = (0..12)
        .filter(|i| *i != 5)
        .map(|i| sent[i].body.clone())
        .collect();
    assert_eq!(
        bodies, want,
        "the records after the damaged one moved down intact"
    );
    let r = s.get_message("g", "J", 0, 6, 6, 1 << 20, None).unwrap();
    assert_eq!(r.messages.len(), 6);
    assert_eq!(r.joined.unwrap(), r.messages.concat());
    s.shutdown().unwrap();
}

/// A large log's next segment is made ahead of the writer. Made and never reached when the
/// store stops, it is removed by the next open with everything past the end; nothing
/// acknowledged is lost, and appends go on where the log ended.
#[test]
fn a_segment_made_ahead_and_never_reached_is_removed_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = cfg(dir.path());
    cfg.mapped_file_size_commit_log = 64 << 20;
    cfg.max_message_size = 1 << 20;
    cfg.max_index_num = 1000;
    let seg_dir = dir.path().join("commitlog");
    let second = format!("{:020}", 64u64 << 20);
    let s = open(cfg.clone());
    let rt = rt();
    let body = |i: usize| vec![(i % 251) as u8; 256 << 10];
    // 200 × 256 KiB: past the last 16 MiB of the first segment, not into the second.
    for i in 0..200 {
        let r = rt.block_on(s.put_message(msg("A", (i % 2) as i32, &body(i), &format!("k{i}"))));
        assert_eq!(r.status, PutStatus::PutOk, "{:?}", r.error);
    }
    for _ in 0..3000 {
        if files(&seg_dir).contains(&second) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        files(&seg_dir).contains(&second),
        "the next segment was made ahead"
    );
    let end = s.commit_log_max_offset();
    assert!(end < 64 << 20);
    wait_dispatched(&s);
    s.shutdown().unwrap();
    drop(s);

    let s = open(cfg);
    assert_eq!(s.commit_log_max_offset(), end);
    assert!(
        !files(&seg_dir).contains(&second),
        "removed with the rest past the end"
    );
    let got: Vec<remoting::message::MessageRecord> =
        [0, 1].iter().flat_map(|q| pull_all(&s, "A", *q)).collect();
    assert_eq!(got.len(), 200);
    for m in &got {
        let i: usize = m.properties.get("KEYS").unwrap()[1..].parse().unwrap();
        assert!(m.body == body(i), "message {i} intact");
    }
    let r = rt.block_on(s.put_message(msg("A", 0, b"after", "after")));
    assert_eq!(r.append.unwrap().wrote_offset, end as i64);
    s.shutdown().unwrap();
}
