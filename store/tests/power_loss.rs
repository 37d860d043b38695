//! Power loss, not just process death (issue 13), in the manner of ALICE / CrashMonkey: a real
//! SYNC_FLUSH run is recorded through the file-system seam ([`RecordingFs`]: every write,
//! length change, fsync, file creation, directory fsync, removal, in order); then crash states
//! are rebuilt from the record — at a crash point `k`, each file keeps what it had at its last
//! fsync before `k`, a created file or directory exists only if its parent directory was
//! fsynced after the creation, and (in the "reordered" variant) any subset of the operations
//! not yet made durable also reached the disk, writes possibly torn. Every such state must
//! open and serve every message acknowledged before `k`, by pull and by key.
//!
//! Seeded: `STORE_POWER_SEED` replays a run (the seed is printed). The number of states is
//! bounded (`STATES` crash points, two states each) so the test stays well under a minute.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use store::fs::{Op, RecordingFs};
use store::{FlushDiskType, GetStatus, MessageStore, PutStatus, StoreConfig};

const STATES: usize = 40;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    let s = std::env::var("STORE_POWER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("power-loss test seed: STORE_POWER_SEED={s}");
    s
}

#[derive(Debug, Clone)]
struct Ack {
    topic: &'static str,
    queue_id: i32,
    queue_offset: i64,
    key: String,
    body: Vec<u8>,
    /// Number of recorded operations when the put was acknowledged.
    at: usize,
}

fn cfg(root: &Path) -> StoreConfig {
    StoreConfig {
        // Frequent checkpoints, so crash points fall between every kind of write.
        flush_interval_consume_queue: 15,
        // Index flushes with some checkpoints and not others, so crash points fall both
        // where the index is as durable as the queues and where it lags them.
        flush_interval_index: 45,
        ..config(root, FlushDiskType::SyncFlush)
    }
}

/// The recorded run: three topics, two queues each, enough data for several commit-log
/// segments, consume-queue files and index files; ends with a crash (no clean shutdown).
fn record_run(root: &Path) -> (Vec<Op>, Vec<Ack>) {
    let fs = RecordingFs::default();
    let s = MessageStore::open_with(cfg(root), Arc::new(fs.clone()), panic_on_fatal()).unwrap();
    let rt = rt();
    let topics = ["P", "Q", "R"];
    let mut acks = Vec::new();
    for i in 0..330usize {
        let topic = topics[i % 3];
        let queue_id = (i / 3 % 2) as i32;
        let key = format!("k{i}");
        let body: Vec<u8> = format!("{i:05}-")
            .into_bytes()
            .into_iter()
            .cycle()
            .take(200 + i % 200)
            .collect();
        let r = rt.block_on(s.put_message(msg(topic, queue_id, &body, &key)));
        assert_eq!(r.status, PutStatus::PutOk, "{:?}", r.error);
        let at = fs.ops.lock().len();
        acks.push(Ack {
            topic,
            queue_id,
            queue_offset: r.append.unwrap().logics_offset,
            key,
            body,
            at,
        });
        if i % 40 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    drop(s); // power cut: nothing after this point
    let ops = fs.ops.lock().clone();
    (ops, acks)
}

#[derive(Default)]
struct FileState {
    created: usize,
    removed: Option<usize>,
    /// Indices of this incarnation's Write / SetLen / Sync operations.
    ops: Vec<usize>,
}

fn op_path(op: &Op) -> &Path {
    match op {
        Op::Create(p) | Op::Mkdir(p) | Op::Sync(p) | Op::SyncDir(p) | Op::Remove(p) => p,
        Op::Write { path, .. } | Op::SetLen { path, .. } => path,
    }
}

/// Writes into `out` the state a power cut after `ops[..k]` may leave (module docs).
/// `reorder`: also apply a random subset of the operations not yet durable.
fn crash_state(ops: &[Op], k: usize, run_root: &Path, out: &Path, reorder: bool, rng: &mut Rng) {
    let mut dirs: Vec<(PathBuf, usize)> = Vec::new();
    let mut files: HashMap<PathBuf, FileState> = HashMap::new();
    let mut dir_syncs: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (i, op) in ops[..k].iter().enumerate() {
        match op {
            Op::Mkdir(p) => dirs.push((p.clone(), i)),
            Op::Create(p) => {
                files.insert(
                    p.clone(),
                    FileState {
                        created: i,
                        ..Default::default()
                    },
                );
            }
            Op::Remove(p) => {
                if let Some(f) = files.get_mut(p) {
                    f.removed = Some(i);
                }
            }
            Op::SyncDir(p) => dir_syncs.entry(p.clone()).or_default().push(i),
            Op::Write { .. } | Op::SetLen { .. } | Op::Sync(_) => {
                if let Some(f) = files.get_mut(op_path(op)) {
                    f.ops.push(i);
                }
            }
        }
    }
    let synced_after =
        |dir: &Path, i: usize| dir_syncs.get(dir).is_some_and(|v| v.iter().any(|j| *j > i));
    let mut present_dirs: HashMap<PathBuf, bool> = HashMap::new();
    present_dirs.insert(run_root.to_path_buf(), true);
    for (d, i) in &dirs {
        let parent = d.parent().unwrap();
        let parent_ok = present_dirs.get(parent).copied().unwrap_or(true);
        let ok = parent_ok && (synced_after(parent, *i) || (reorder && rng.coin()));
        present_dirs.insert(d.clone(), ok);
    }
    std::fs::create_dir_all(out).unwrap();
    for (d, ok) in &present_dirs {
        if *ok && d != run_root {
            std::fs::create_dir_all(out.join(d.strip_prefix(run_root).unwrap())).unwrap();
        }
    }
    let mut paths: Vec<&PathBuf> = files.keys().collect();
    paths.sort();
    for p in paths {
        let f = &files[p];
        let parent = p.parent().unwrap();
        if !present_dirs.get(parent).copied().unwrap_or(true) {
            continue;
        }
        let mut exists = synced_after(parent, f.created) || (reorder && rng.coin());
        if let Some(r) = f.removed
            && (synced_after(parent, r) || (reorder && rng.coin()))
        {
            exists = false;
        }
        if !exists {
            continue;
        }
        let last_sync = f
            .ops
            .iter()
            .rposition(|i| matches!(ops[*i], Op::Sync(_)))
            .map_or(0, |x| x + 1);
        let mut data: Vec<u8> = Vec::new();
        for (n, i) in f.ops.iter().enumerate() {
            let durable = n < last_sync;
            let applied = durable || (reorder && rng.coin());
            if !applied {
                continue;
            }
            match &ops[*i] {
                Op::Write { off, data: d, .. } => {
                    let mut d: &[u8] = d;
                    if !durable && rng.below(4) == 0 {
                        d = &d[..rng.below(d.len() as u64 + 1) as usize]; // torn
                    }
                    let end = *off as usize + d.len();
                    if data.len() < end {
                        data.resize(end, 0);
                    }
                    data[*off as usize..end].copy_from_slice(d);
                }
                Op::SetLen { len, .. } => data.resize(*len as usize, 0),
                _ => {}
            }
        }
        if p.file_name().is_some_and(|n| n == "abort") {
            // A power loss is a reboot: the marker's boot id is no longer this boot's.
            data = b"an earlier boot".to_vec();
        }
        std::fs::write(out.join(p.strip_prefix(run_root).unwrap()), &data).unwrap();
    }
}

#[test]
fn every_crash_state_opens_and_keeps_every_sync_flush_ack() {
    let mut rng = Rng(seed());
    let run = tempfile::tempdir().unwrap();
    let (ops, acks) = record_run(run.path());
    let syncs = ops.iter().filter(|o| matches!(o, Op::Sync(_))).count();
    let dir_syncs = ops.iter().filter(|o| matches!(o, Op::SyncDir(_))).count();
    eprintln!(
        "recorded {} operations ({syncs} fsyncs, {dir_syncs} directory fsyncs), {} acks",
        ops.len(),
        acks.len()
    );
    assert!(syncs > 100 && dir_syncs > 5);
    // Crash points: spread over the run, plus right after the last op.
    let mut points: Vec<usize> = (0..STATES - 1)
        .map(|_| 1 + rng.below(ops.len() as u64) as usize)
        .collect();
    points.push(ops.len());
    points.sort_unstable();
    let mut checked = 0usize;
    for &k in &points {
        for reorder in [false, true] {
            let out = tempfile::tempdir().unwrap();
            crash_state(&ops, k, run.path(), out.path(), reorder, &mut rng);
            let must: Vec<&Ack> = acks.iter().filter(|a| a.at <= k).collect();
            let s = MessageStore::open_with(
                cfg(out.path()),
                Arc::new(store::fs::StdFs),
                panic_on_fatal(),
            )
            .unwrap_or_else(|e| panic!("state k={k} reorder={reorder} does not open: {e}"));
            for a in &must {
                let r = s
                    .get_message("g", a.topic, a.queue_id, a.queue_offset, 1, 1 << 20, None)
                    .unwrap();
                assert_eq!(
                    r.status,
                    GetStatus::Found,
                    "k={k} reorder={reorder}: {} {}/{} offset {} lost",
                    a.key,
                    a.topic,
                    a.queue_id,
                    a.queue_offset
                );
                let m = remoting::message::decode(&r.messages[0]).unwrap();
                assert_eq!(m.body.as_ref(), a.body.as_slice(), "k={k}: {}", a.key);
                let by_key = s.query_message(a.topic, &a.key, 4, 0, i64::MAX).unwrap();
                assert_eq!(by_key.len(), 1, "k={k} reorder={reorder}: key {}", a.key);
                checked += 1;
            }
            drop(s);
        }
    }
    eprintln!(
        "{} crash states opened; {checked} acknowledged messages checked",
        points.len() * 2
    );
}
