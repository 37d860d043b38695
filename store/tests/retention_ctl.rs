//! Retention (fileReservedTime, deleteWhen, disk ratios) and the `store-ctl` tool.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use store::fs::FaultyFs;
use store::{FlushDiskType, GetStatus, PutStatus};

fn fill(s: &store::MessageStore, rt: &tokio::runtime::Runtime, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let r = rt.block_on(s.put_message(msg("R", 0, &[b'r'; 1000], &format!("k{i}"))));
            r.append.unwrap().wrote_offset
        })
        .collect()
}

#[test]
fn expired_files_go_and_readers_get_offset_moved() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let mut cfg = config(dir.path(), FlushDiskType::AsyncFlush);
    cfg.file_reserved_time = 0;
    cfg.delete_when = "99".into(); // never the hour: only the manual trigger deletes
    let fs = FaultyFs::new();
    fs.faults.usage_permille.store(100, Ordering::SeqCst); // whatever this machine's disk says
    let s = open_faulty(cfg, &fs, Arc::new(|_: &str| {}));
    let offs = fill(&s, &rt, 300); // ~5 files of 64 KiB
    wait_visible(&s, "R", 0, 300);
    assert_eq!(
        s.run_retention().unwrap(),
        0,
        "not the deleteWhen hour, disk not full"
    );
    let deleted = s.delete_expired_files_now().unwrap();
    assert!(deleted >= 3, "{deleted}");
    let min = s.commit_log_min_offset();
    assert!(min > 0 && min < s.commit_log_max_offset());
    assert!(s.look_message_by_offset(offs[0]).unwrap().is_none());
    let qmin = s.min_offset_in_queue("R", 0);
    assert!(qmin > 0);
    let r = s.get_message("g", "R", 0, 0, 32, 1 << 20, None).unwrap();
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetStatus::OffsetTooSmall, qmin)
    );
    let r = s.get_message("g", "R", 0, qmin, 32, 1 << 20, None).unwrap();
    assert_eq!(r.status, GetStatus::Found);
    assert!(
        s.query_message("R", "k0", 10, 0, i64::MAX)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.query_message("R", "k299", 10, 0, i64::MAX).unwrap().len(),
        1
    );
    s.shutdown().unwrap();
    drop(s);
    // The moved minimum survives a restart.
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    assert_eq!(s.commit_log_min_offset(), min);
    assert_eq!(s.min_offset_in_queue("R", 0), qmin);
    assert_eq!(pull_all(&s, "R", 0).len() as i64, 300 - qmin);
    s.shutdown().unwrap();
}

#[test]
fn delete_when_hour_and_disk_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let fs = FaultyFs::new();
    fs.faults.usage_permille.store(100, Ordering::SeqCst);
    let hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600)
        % 24;
    let mut cfg = config(dir.path(), FlushDiskType::AsyncFlush);
    cfg.file_reserved_time = 0;
    cfg.delete_when = format!("{};{}", (hour + 5) % 24, hour);
    let s = open_faulty(cfg.clone(), &fs, Arc::new(|_: &str| {}));
    fill(&s, &rt, 200);
    wait_visible(&s, "R", 0, 200);
    assert!(
        s.run_retention().unwrap() >= 1,
        "current hour is in deleteWhen"
    );
    s.shutdown().unwrap();
    drop(s);

    // Young files (fileReservedTime 72 h) at another hour: kept unless the disk is past the
    // forced-clean ratio; past the warning ratio puts are refused until usage drops.
    cfg.file_reserved_time = 72;
    cfg.delete_when = format!("{}", (hour + 5) % 24);
    let s = open_faulty(cfg, &fs, Arc::new(|_: &str| {}));
    fill(&s, &rt, 200);
    wait_visible(&s, "R", 0, 400);
    fs.faults.usage_permille.store(800, Ordering::SeqCst); // over 75 %: only expired files
    assert_eq!(s.run_retention().unwrap(), 0);
    fs.faults.usage_permille.store(950, Ordering::SeqCst); // over 85 % and 90 %
    let min_before = s.commit_log_min_offset();
    assert!(s.run_retention().unwrap() >= 1);
    assert!(s.commit_log_min_offset() > min_before);
    assert!(s.is_disk_full());
    let r = rt.block_on(s.put_message(msg("R", 0, b"x", "full")));
    assert_eq!(r.status, PutStatus::ServiceNotAvailable);
    fs.faults.usage_permille.store(500, Ordering::SeqCst);
    s.run_retention().unwrap();
    assert!(!s.is_disk_full());
    assert_eq!(
        rt.block_on(s.put_message(msg("R", 0, b"x", "ok"))).status,
        PutStatus::PutOk
    );
    s.shutdown().unwrap();
}

#[test]
fn store_ctl_dump_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let s = open(config(dir.path(), FlushDiskType::AsyncFlush));
    let offs = fill(&s, &rt, 120);
    s.shutdown().unwrap();
    drop(s);
    let ctl = env!("CARGO_BIN_EXE_store-ctl");
    let out = Command::new(ctl)
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("120 records"), "{text}");
    let out = Command::new(ctl)
        .args(["dump"])
        .arg(dir.path())
        .args(["--records", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("record offset=0 "), "{text}");
    assert!(text.contains("queue R/0: offsets 0..120"), "{text}");
    assert!(text.contains("index "), "{text}");
    // Damage record 50: check names its offset.
    let seg = 64 * 1024;
    let at = offs[50] as u64;
    let path = dir
        .path()
        .join("commitlog")
        .join(format!("{:020}", at - at % seg));
    FaultyFs::flip_byte(&path, at % seg + 120).unwrap();
    let out = Command::new(ctl)
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains(&format!("first bad offset {}", offs[50])),
        "{text}"
    );
}
