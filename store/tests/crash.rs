//! Crash tests with real processes: a child appends from several writers and prints every
//! acknowledged record; we SIGKILL it at random moments, reopen the store and check it.
//! Seeded: set `STORE_CRASH_SEED` to replay a run (the seed is printed).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use store::{FlushDiskType, MessageStore};

/// The two tests run one at a time. Between rounds the test process opens the store itself;
/// a child that the other test forks at that moment inherits the store's lock descriptor until
/// it execs, and the next crash child of this test then finds the directory "locked by another
/// process" (seen about once in 20 runs on a loaded machine).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn seed() -> u64 {
    let s = std::env::var("STORE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("crash test seed: STORE_CRASH_SEED={s}");
    s
}

/// Same generator as the child.
fn body(round: u64, writer: u64, seq: u64) -> Vec<u8> {
    let mut b = format!("{round}:{writer}:{seq}:").into_bytes();
    let mut x = round
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(writer << 32)
        .wrapping_add(seq)
        | 1;
    let len = 16 + (x % 700) as usize;
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.push(b'a' + (x % 26) as u8);
    }
    b
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    offset: i64,
    round: u64,
    writer: u64,
    seq: u64,
}

/// Runs the child for a random time, kills it, returns the acks it printed.
fn run_child(dir: &std::path::Path, mode: &str, round: u64, rng: &mut Rng) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-child"))
        .arg(dir)
        .arg(mode)
        .arg("6")
        .arg(round.to_string())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("child-stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.first() {
                Some(&"READY") => {
                    ready = true;
                    let _ = ready_tx.send(());
                }
                // A line cut by the kill is simply not an ack.
                Some(&"ACK") if f.len() == 5 => acks.push(Ack {
                    offset: f[1].parse().unwrap(),
                    round,
                    writer: f[2].parse().unwrap(),
                    seq: f[3].parse().unwrap(),
                }),
                _ => {}
            }
        }
        (ready, acks)
    });
    // Wait until the child has opened the store (its recovery can be slow on a busy machine),
    // then kill it at a random moment of its writing.
    let _ = ready_rx.recv_timeout(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(20 + rng.next() % 200));
    child.kill().unwrap();
    child.wait().unwrap();
    let (ready, acks) = reader.join().unwrap();
    assert!(
        ready,
        "child never opened the store (round {round}): {}",
        std::fs::read_to_string(dir.join("child-stderr.log")).unwrap_or_default()
    );
    acks
}

/// Every acknowledged record is found by its key (`r<round>w<writer>s<seq>`, the child's
/// `KEYS`): the index entries a kill lost are rebuilt from the log at reopen. The child
/// flushes its index with every checkpoint in even rounds and seldom in odd ones.
fn check_acks_found_by_key(s: &MessageStore, acks: &[Ack], after_round: u64) {
    for a in acks {
        let key = format!("r{}w{}s{}", a.round, a.writer, a.seq);
        let found = s.query_message("Crash", &key, 4, 0, i64::MAX).unwrap();
        assert_eq!(
            found.len(),
            1,
            "key {key} of {a:?} found {} times after round {after_round}",
            found.len()
        );
        let m = remoting::message::decode(&found[0]).unwrap();
        assert_eq!(m.body.as_ref(), body(a.round, a.writer, a.seq).as_slice());
    }
}

fn check_served_records_valid(s: &MessageStore) -> usize {
    let mut n = 0;
    for (topic, qid) in s.queues() {
        let all = pull_all(s, &topic, qid);
        for (i, m) in all.iter().enumerate() {
            assert_eq!(
                m.queue_offset,
                s.min_offset_in_queue(&topic, qid) + i as i64,
                "queue offsets contiguous"
            );
            assert!(m.physical_offset < s.commit_log_max_offset());
        }
        assert_eq!(
            all.len() as i64,
            s.max_offset_in_queue(&topic, qid) - s.min_offset_in_queue(&topic, qid)
        );
        n += all.len();
    }
    n
}

#[test]
fn sync_flush_survives_sigkill() {
    let _serial = one_at_a_time();
    let mut rng = Rng(seed());
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<Ack> = Vec::new();
    for round in 0..20u64 {
        acked.extend(run_child(dir.path(), "sync", round, &mut rng));
        let s = open(config_for_child(dir.path(), FlushDiskType::SyncFlush));
        for a in &acked {
            let rec = s
                .look_message_by_offset(a.offset)
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged record {a:?} lost after round {round}"));
            let m = remoting::message::decode(&rec).unwrap();
            assert_eq!(
                m.body.as_ref(),
                body(a.round, a.writer, a.seq).as_slice(),
                "{a:?}"
            );
        }
        check_acks_found_by_key(&s, &acked, round);
        // Nothing past the last valid record: the log parses record by record to its end.
        let served = check_served_records_valid(&s);
        assert!(served >= acked.len());
        if round % 2 == 0 {
            s.shutdown().unwrap();
        }
        drop(s);
    }
    assert!(!acked.is_empty());
    eprintln!(
        "{} acknowledged records verified over 20 SIGKILL rounds",
        acked.len()
    );
}

#[test]
fn async_flush_survives_sigkill_as_a_consistent_prefix_holding_every_ack() {
    async_flush_survives_sigkill("async", 0xABCD);
}

/// The same with `transientStorePoolEnable`: appends go through the buffer, which each put
/// writes to the file before it is acknowledged.
#[test]
fn async_flush_through_the_buffer_survives_sigkill_holding_every_ack() {
    async_flush_survives_sigkill("async-pool", 0xBCDE);
}

fn async_flush_survives_sigkill(mode: &str, salt: u64) {
    let _serial = one_at_a_time();
    let mut rng = Rng(seed() ^ salt);
    let dir = tempfile::tempdir().unwrap();
    for round in 0..8u64 {
        let acks = run_child(dir.path(), mode, round, &mut rng);
        let s = Arc::new(open(config_for_child(
            dir.path(),
            FlushDiskType::AsyncFlush,
        )));
        check_served_records_valid(&s);
        // Per writer, the records of this round that survived are a prefix of what it wrote,
        // i.e. the log is a prefix of the write order.
        let mut seqs: HashMap<u64, Vec<u64>> = HashMap::new();
        for qid in 0..4 {
            for m in pull_all(&s, "Crash", qid) {
                let text = String::from_utf8_lossy(&m.body).to_string();
                let f: Vec<&str> = text.splitn(4, ':').collect();
                let (r, w, q): (u64, u64, u64) = (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                );
                assert_eq!(m.body.as_ref(), body(r, w, q).as_slice());
                if r == round {
                    seqs.entry(w).or_default().push(q);
                }
            }
        }
        for (w, v) in &seqs {
            let expect: Vec<u64> = (0..v.len() as u64).collect();
            assert_eq!(v, &expect, "writer {w} round {round}: not a prefix");
        }
        // A killed process is not a crashed machine: everything acknowledged under ASYNC_FLUSH
        // was already in the page cache and must be back.
        for a in &acks {
            let rec = s
                .look_message_by_offset(a.offset)
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged record {a:?} lost after round {round}"));
            let m = remoting::message::decode(&rec).unwrap();
            assert_eq!(m.body.as_ref(), body(a.round, a.writer, a.seq).as_slice());
        }
        check_acks_found_by_key(&s, &acks, round);
        s.shutdown().unwrap();
    }
}

fn config_for_child(root: &std::path::Path, flush: FlushDiskType) -> store::StoreConfig {
    store::StoreConfig {
        mapped_file_size_commit_log: 256 * 1024,
        mapped_file_size_consume_queue: 20 * 500,
        max_message_size: 64 * 1024,
        flush_disk_type: flush,
        flush_interval_consume_queue: 20,
        max_hash_slot_num: 1009,
        max_index_num: 4000,
        ..store::StoreConfig::with_root(root)
    }
}
