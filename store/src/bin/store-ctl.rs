//! `store-ctl`: inspect and repair a store directory offline (the broker stopped).
//!
//! - `store-ctl dump DIR [--records N]`: checkpoint, commit-log records, consume queues and
//!   index-file headers.
//! - `store-ctl check DIR`: names every problem: commit-log segments of the wrong length or
//!   missing, each damaged range (offsets, reason; whether valid records follow it or it is a
//!   torn tail), consume-queue files of the wrong length or missing, entries pointing at no
//!   record, index files that end before the checkpoint says. Changes nothing. Exit status
//!   0 = clean, 1 = problems found.
//! - `store-ctl repair DIR [--dry-run] [--skip-corrupt] [--max-hash-slot-num N]
//!   [--max-index-num N] [--cq-file-size N]`: rebuilds every consume queue and the index
//!   from the commit log (removes `consumequeue/` and `index/`, lowers the checkpoint's
//!   dispatch offset, opens and cleanly closes the store, whose recovery cuts a torn tail).
//!   Damage in the middle of the log is only skipped with `--skip-corrupt`: its ranges are
//!   then recorded in `skipped-ranges` (so a broker with `skipCorruptRecordOnRecover=false`
//!   starts). `--dry-run` prints the plan and changes nothing. The index sizes must match the
//!   broker's `maxHashSlotNum` / `maxIndexNum` (defaults: Java's); the consume-queue file size
//!   is taken from the existing files unless given.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use remoting::message::record::{
    BLANK_MAGIC_CODE, MAGIC_CODE_V1, MAGIC_CODE_V2, MIN_RECORD_LEN, decode_view, peek_header,
};
use store::consume_queue::{CqEntry, FIRST_FILE};

const USAGE: &str = "\
usage:
  store-ctl dump DIR [--records N]
  store-ctl check DIR
  store-ctl repair DIR [--dry-run] [--skip-corrupt] [--max-hash-slot-num N] [--max-index-num N] [--cq-file-size N]
  store-ctl --help

Run with the broker stopped. `check` changes nothing and exits 1 when it finds problems.
`repair` rebuilds consume queues and the index from the commit log; `--skip-corrupt` lets it
skip damaged records in the middle of the log (their messages are lost, everything after them
is kept); `--dry-run` only prints what it would do.";

fn segments(dir: &Path, name_len: usize) -> anyhow::Result<Vec<(u64, PathBuf)>> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(v);
    };
    for e in rd {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.len() == name_len
            && name.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = name.parse::<u64>()
        {
            v.push((n, e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// A damaged range of the commit log.
struct Bad {
    from: u64,
    /// Next valid record, or `None` for a torn tail.
    next: Option<u64>,
    why: String,
}

/// What scanning the commit log found.
struct LogScan {
    min: u64,
    end: u64,
    seg_size: u64,
    records: usize,
    bad: Vec<Bad>,
    notes: Vec<String>,
}

/// The most common length among files (the configured size; damaged files differ).
fn common_len(paths: &[(u64, PathBuf)]) -> Option<u64> {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for (_, p) in paths {
        if let Ok(m) = std::fs::metadata(p) {
            *counts.entry(m.len()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter(|(l, _)| *l > 0)
        .max_by_key(|(l, n)| (*n, *l))
        .map(|(l, _)| l)
}

enum At {
    Record(usize),
    Blank,
    Invalid(String),
}

fn classify(data: &[u8], pos: usize, at: u64) -> At {
    let room = data.len() - pos;
    let Some((size, magic)) = peek_header(&data[pos..]) else {
        return At::Invalid("end of data".into());
    };
    if size == 0 && magic == 0 {
        return At::Invalid("end of data".into());
    }
    if magic == BLANK_MAGIC_CODE && size as usize == room {
        return At::Blank;
    }
    match decode_view(&data[pos..]) {
        Ok(v) if v.physical_offset as u64 != at => At::Invalid(format!(
            "PHYSICALOFFSET {} at position {at}",
            v.physical_offset
        )),
        Ok(v) if !v.crc_ok() => At::Invalid("body CRC mismatch".into()),
        Ok(v) => At::Record(v.total_size as usize),
        Err(e) => At::Invalid(e.to_string()),
    }
}

/// The first valid record (magic, position, CRC) at or after `from` in `data` (a file
/// starting at commit-log offset `start`).
fn next_valid_in(data: &[u8], start: u64, from: usize) -> Option<usize> {
    let mut i = from;
    while i + MIN_RECORD_LEN <= data.len() {
        let m = i32::from_be_bytes([data[i + 4], data[i + 5], data[i + 6], data[i + 7]]);
        if (m == MAGIC_CODE_V1 || m == MAGIC_CODE_V2)
            && matches!(classify(data, i, start + i as u64), At::Record(_))
        {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn scan_log(
    dir: &Path,
    mut on_record: impl FnMut(u64, &remoting::message::RecordView<'_>),
) -> anyhow::Result<LogScan> {
    let segs = segments(dir, 20)?;
    let seg_size = common_len(&segs).unwrap_or(1 << 30);
    let min = segs.first().map(|s| s.0).unwrap_or(0);
    let mut scan = LogScan {
        min,
        end: min,
        seg_size,
        records: 0,
        bad: Vec::new(),
        notes: Vec::new(),
    };
    // Data of each segment, zero-extended to the segment size (as the store reads it).
    let mut files = Vec::new();
    for (start, path) in &segs {
        let mut data = std::fs::read(path).with_context(|| path.display().to_string())?;
        if data.len() as u64 != seg_size {
            scan.notes.push(format!(
                "commit log: segment {} has {} bytes, expected {seg_size} (torn or cut)",
                path.display(),
                data.len()
            ));
            data.resize(seg_size as usize, 0);
        }
        if start % seg_size != 0 {
            scan.notes.push(format!(
                "commit log: segment {} is not aligned to the segment size",
                path.display()
            ));
        }
        files.push((*start, data));
    }
    for w in files.windows(2) {
        if w[1].0 != w[0].0 + seg_size {
            scan.notes.push(format!(
                "commit log: segment file(s) missing between {} and {}",
                w[0].0, w[1].0
            ));
        }
    }
    let mut fi = 0usize;
    let mut pos = 0usize;
    let mut open_bad: Option<(u64, String)> = None;
    while fi < files.len() {
        let (start, data) = (&files[fi].0, &files[fi].1);
        if let Some((from, why)) = open_bad.take() {
            // Resync after damage: the next valid record in this file or a later one.
            match next_valid_in(data, *start, pos) {
                Some(i) => {
                    scan.bad.push(Bad {
                        from,
                        next: Some(start + i as u64),
                        why,
                    });
                    pos = i;
                }
                None => {
                    open_bad = Some((from, why));
                    fi += 1;
                    pos = 0;
                    continue;
                }
            }
        }
        if pos + 8 > data.len() {
            fi += 1;
            pos = 0;
            continue;
        }
        let at = start + pos as u64;
        match classify(data, pos, at) {
            At::Record(n) => {
                if let Ok(v) = decode_view(&data[pos..]) {
                    on_record(at, &v);
                }
                scan.records += 1;
                pos += n;
                scan.end = start + pos as u64;
            }
            At::Blank => {
                scan.end = start + data.len() as u64;
                fi += 1;
                pos = 0;
            }
            At::Invalid(why) => {
                open_bad = Some((at, why));
                pos += 1;
            }
        }
    }
    if let Some((from, why)) = open_bad {
        scan.bad.push(Bad {
            from,
            next: None,
            why,
        });
    }
    Ok(scan)
}

fn queues(root: &Path) -> Vec<(String, i32, PathBuf)> {
    let mut out = Vec::new();
    let Ok(topics) = std::fs::read_dir(root.join("consumequeue")) else {
        return out;
    };
    for t in topics.flatten() {
        let Ok(qs) = std::fs::read_dir(t.path()) else {
            continue;
        };
        for q in qs.flatten() {
            if let Ok(id) = q.file_name().to_string_lossy().parse::<i32>() {
                out.push((t.file_name().to_string_lossy().to_string(), id, q.path()));
            }
        }
    }
    out.sort();
    out
}

fn queue_entries(dir: &Path) -> anyhow::Result<Vec<(i64, CqEntry)>> {
    let mut out = Vec::new();
    for (start, path) in segments(dir, 20)? {
        let data = std::fs::read(&path)?;
        for (i, c) in data.chunks_exact(20).enumerate() {
            let e = CqEntry::decode(c);
            if e.size == 0 {
                break;
            }
            out.push(((start / 20) as i64 + i as i64, e));
        }
    }
    Ok(out)
}

fn dump(root: &Path, max_records: usize) -> anyhow::Result<()> {
    match store::checkpoint::read_checkpoint(&root.join("checkpoint")) {
        Some(cp) => println!("checkpoint: {cp:?}"),
        None => println!("checkpoint: absent or unreadable"),
    }
    println!("abort marker: {}", root.join("abort").exists());
    let mut n = 0usize;
    let scan = scan_log(&root.join("commitlog"), |at, v| {
        if n < max_records {
            println!(
                "record offset={at} size={} topic={} queue={} queue_offset={} sys_flag={:#x} store_ts={} body_len={} properties={:?}",
                v.total_size,
                v.topic,
                v.queue_id,
                v.queue_offset,
                v.sys_flag,
                v.store_timestamp,
                v.body.len(),
                v.properties.replace('\u{1}', "=").replace('\u{2}', ";")
            );
        }
        n += 1;
    })?;
    println!("commit log: min={} end={} records={n}", scan.min, scan.end);
    for (topic, id, dir) in queues(root) {
        let entries = queue_entries(&dir)?;
        let first = entries.first().map(|e| e.0).unwrap_or(0);
        let last = entries.last().map(|e| e.0 + 1).unwrap_or(0);
        println!("queue {topic}/{id}: offsets {first}..{last}");
        for (off, e) in entries.iter().take(max_records) {
            println!(
                "  entry {off}: phys={} size={} tags_code={}",
                e.phys_offset, e.size, e.tags_code
            );
        }
    }
    for (_, path) in segments(&root.join("index"), 17)? {
        if let Some(h) = store::index::read_header(&path) {
            println!("index {}: {h:?}", path.display());
        }
    }
    Ok(())
}

/// Prints every problem; returns (problems found, the scan).
fn check(root: &Path) -> anyhow::Result<(bool, LogScan)> {
    let mut records = HashMap::new();
    let scan = scan_log(&root.join("commitlog"), |at, v| {
        records.insert(at as i64, v.total_size);
    })?;
    let mut problems = 0usize;
    for n in &scan.notes {
        problems += 1;
        println!("{n}");
    }
    for (i, b) in scan.bad.iter().enumerate() {
        if b.next.is_none() && b.why == "end of data" {
            continue; // the normal end of the log
        }
        problems += 1;
        if i == 0 {
            println!("commit log: first bad offset {}: {}", b.from, b.why);
        }
        match b.next {
            Some(n) => println!(
                "commit log: damaged range [{}, {n}) ({} bytes): {}; valid records follow, \
                 so the store skips it (skipCorruptRecordOnRecover=true) or refuses to start; \
                 `store-ctl repair {} --skip-corrupt` records the skip",
                b.from,
                n - b.from,
                b.why,
                root.display()
            ),
            None => println!(
                "commit log: torn tail at {}: {}; nothing valid follows; opening the store \
                 (or `store-ctl repair`) truncates it",
                b.from, b.why
            ),
        }
    }
    if problems == 0 {
        println!(
            "commit log: ok, {} records, offsets {}..{}",
            scan.records, scan.min, scan.end
        );
    }
    let cp = store::checkpoint::read_checkpoint(&root.join("checkpoint"));
    match &cp {
        None if scan.records > 0 => {
            problems += 1;
            println!("checkpoint: absent or unreadable (the next start scans the whole log)");
        }
        Some(cp) if cp.log_safe_offset > scan.end => {
            problems += 1;
            println!(
                "checkpoint: durable offset {} is past the end of valid data {} (acknowledged \
                 data lost by damage to the files)",
                cp.log_safe_offset, scan.end
            );
        }
        _ => {}
    }
    for (topic, id, dir) in queues(root) {
        let segs = segments(&dir, 20)?;
        let cq_size = common_len(&segs);
        for (start, path) in &segs {
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if Some(len) != cq_size {
                problems += 1;
                println!(
                    "queue {topic}/{id}: file {} has {len} bytes, expected {} (the store \
                     rebuilds its entries from the commit log)",
                    path.display(),
                    cq_size.unwrap_or(0)
                );
            }
            if let Some(sz) = cq_size
                && start % sz != 0
            {
                problems += 1;
                println!("queue {topic}/{id}: file {} is misaligned", path.display());
            }
        }
        if let Some(sz) = cq_size {
            for w in segs.windows(2) {
                if w[1].0 != w[0].0 + sz {
                    problems += 1;
                    println!(
                        "queue {topic}/{id}: file(s) missing between {} and {} (the store \
                         rebuilds the queue from the hole on)",
                        w[0].0, w[1].0
                    );
                }
            }
            // Files below the recorded first file are retired; above it, lost.
            let first_expected = std::fs::read_to_string(dir.join(FIRST_FILE))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .map_or(0, |v| v - v % sz);
            if let Some((first, _)) = segs.first()
                && *first > first_expected
            {
                problems += 1;
                println!(
                    "queue {topic}/{id}: file(s) missing from {first_expected} to {first} (the \
                     store rebuilds the queue from the commit log's start)"
                );
            }
        }
        let mut bad = Vec::new();
        for (off, e) in queue_entries(&dir)? {
            if e.size == i32::MAX || (e.phys_offset as u64) < scan.min {
                continue;
            }
            if records.get(&e.phys_offset) != Some(&e.size) {
                bad.push((off, e));
            }
        }
        if let Some((off, e)) = bad.first() {
            problems += 1;
            println!(
                "queue {topic}/{id}: {} entries point at no record; first: entry {off} (phys={} size={})",
                bad.len(),
                e.phys_offset,
                e.size
            );
        }
    }
    let index_end = segments(&root.join("index"), 17)?
        .iter()
        .rev()
        .filter_map(|(_, p)| store::index::read_header(p))
        .find(|h| h.index_count > 1)
        .map(|h| h.end_phy_offset.max(0) as u64);
    if let Some(cp) = &cp
        && index_end.unwrap_or(0) < cp.index_end_offset
    {
        problems += 1;
        println!(
            "index: the newest index file ends at {} but the checkpoint recorded {} (an index \
             file is missing; the store re-indexes from the commit log)",
            index_end.unwrap_or(0),
            cp.index_end_offset
        );
    }
    if problems > 0 {
        println!("{problems} problem(s) found");
    }
    Ok((problems == 0, scan))
}

struct RepairOpts {
    dry_run: bool,
    skip_corrupt: bool,
    max_hash_slot_num: Option<u32>,
    max_index_num: Option<u32>,
    cq_file_size: Option<u64>,
}

fn repair(root: &Path, o: &RepairOpts) -> anyhow::Result<bool> {
    if !root.join("commitlog").is_dir() {
        bail!("{} has no commitlog directory", root.display());
    }
    println!("== check");
    let (_, scan) = check(root)?;
    let middle: Vec<&Bad> = scan.bad.iter().filter(|b| b.next.is_some()).collect();
    if !middle.is_empty() && !o.skip_corrupt {
        println!(
            "== not repairing: {} damaged range(s) in the middle of the commit log; rerun with \
             --skip-corrupt to skip them (the records in them are lost, everything after them \
             is kept)",
            middle.len()
        );
        return Ok(false);
    }
    let cq_size = match o.cq_file_size {
        Some(s) => s,
        None => {
            let mut all = Vec::new();
            for (_, _, dir) in queues(root) {
                all.extend(segments(&dir, 20)?);
            }
            common_len(&all).unwrap_or(300_000 * 20)
        }
    };
    let defaults = store::StoreConfig::default();
    let cfg = store::StoreConfig {
        mapped_file_size_commit_log: scan.seg_size,
        mapped_file_size_consume_queue: cq_size,
        max_hash_slot_num: o.max_hash_slot_num.unwrap_or(defaults.max_hash_slot_num),
        max_index_num: o.max_index_num.unwrap_or(defaults.max_index_num),
        // Only puts use it; it must merely fit the segment size found.
        max_message_size: scan.seg_size.saturating_sub(40_000).clamp(1, 4 << 20) as usize,
        skip_corrupt_record_on_recover: true,
        ..store::StoreConfig::with_root(root)
    };
    println!("== plan");
    for b in &middle {
        println!(
            "skip damaged range [{}, {}) and record it in {}",
            b.from,
            b.next.unwrap_or(0),
            root.join(store::recovery::SKIPPED_RANGES_FILE).display()
        );
    }
    println!(
        "remove {} and {}",
        root.join("consumequeue").display(),
        root.join("index").display()
    );
    println!("lower the checkpoint's dispatch offset to the log start, so both are rebuilt");
    println!(
        "open the store (segment {} bytes, queue files {} bytes, index {} slots x {} entries), \
         which verifies the log, cuts a torn tail and rebuilds queues and index, then close it",
        cfg.mapped_file_size_commit_log,
        cfg.consume_queue_file_size(),
        cfg.max_hash_slot_num,
        cfg.max_index_num
    );
    if o.dry_run {
        println!("== dry run: nothing changed");
        return Ok(true);
    }
    // The store's lock: refuse while a broker runs.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("lock"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|_| anyhow::anyhow!("{} is in use: stop the broker first", root.display()))?;
    if !middle.is_empty() {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join(store::recovery::SKIPPED_RANGES_FILE))?;
        for b in &middle {
            writeln!(f, "{} {}", b.from, b.next.unwrap_or(0))?;
        }
        f.sync_all()?;
    }
    for d in ["consumequeue", "index"] {
        let p = root.join(d);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| p.display().to_string())?;
        }
    }
    let cp_path = root.join("checkpoint");
    if let Some(mut cp) = store::checkpoint::read_checkpoint(&cp_path) {
        cp.dispatch_safe_offset = 0;
        cp.index_end_offset = 0;
        store::checkpoint::write_checkpoint_file(&cp_path, &cp)?;
    }
    drop(lock);
    let s = store::MessageStore::open_with(
        cfg,
        Arc::new(store::fs::StdFs),
        Arc::new(|m: &str| eprintln!("fatal store error: {m}")),
    )
    .context("opening the store")?;
    let rep = s.recovery_report();
    s.shutdown().context("closing the store")?;
    println!("== repaired");
    println!(
        "commit log {}..{}; skipped {} damaged range(s); torn tail cut: {}; queues rebuilt: {}",
        rep.log_min,
        rep.log_end,
        rep.skipped.len(),
        rep.torn_tail
            .as_ref()
            .filter(|t| t.reason != "end of data")
            .map_or("none".to_string(), |t| format!("at {}", t.from)),
        s.queues().len()
    );
    Ok(true)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args: Vec<String> = std::env::args().collect();
    if args
        .iter()
        .skip(1)
        .any(|a| a == "--help" || a == "-h" || a == "help")
    {
        println!("{USAGE}");
        return Ok(());
    }
    let (Some(cmd), Some(dir)) = (args.get(1), args.get(2)) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let root = PathBuf::from(dir);
    let rest = &args[3..];
    match cmd.as_str() {
        "dump" => {
            let n = match (rest.first().map(String::as_str), rest.get(1)) {
                (Some("--records"), Some(n)) => n.parse().context("--records")?,
                _ => 50,
            };
            dump(&root, n)
        }
        "check" => {
            if !check(&root)?.0 {
                std::process::exit(1);
            }
            Ok(())
        }
        "repair" => {
            let mut o = RepairOpts {
                dry_run: false,
                skip_corrupt: false,
                max_hash_slot_num: None,
                max_index_num: None,
                cq_file_size: None,
            };
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                let mut val = |name: &str| -> anyhow::Result<u64> {
                    it.next()
                        .with_context(|| format!("{name} needs a value"))?
                        .parse()
                        .with_context(|| name.to_string())
                };
                match a.as_str() {
                    "--dry-run" => o.dry_run = true,
                    "--skip-corrupt" => o.skip_corrupt = true,
                    "--max-hash-slot-num" => {
                        o.max_hash_slot_num = Some(u32::try_from(val(a)?)?);
                    }
                    "--max-index-num" => o.max_index_num = Some(u32::try_from(val(a)?)?),
                    "--cq-file-size" => o.cq_file_size = Some(val(a)?),
                    _ => bail!("unknown option {a}\n{USAGE}"),
                }
            }
            if !repair(&root, &o)? {
                std::process::exit(1);
            }
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
