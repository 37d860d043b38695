//! `store-ctl`: inspect a store directory without opening (or modifying) it.
//!
//! - `store-ctl dump DIR [--records N]`: checkpoint, commit-log records, consume queues and
//!   index-file headers.
//! - `store-ctl check DIR`: verifies every commit-log record (size, magic, layout, position, body
//!   CRC) and every consume-queue entry; prints the first bad offset. Exit status 0 = clean,
//!   1 = problems found (a torn tail after a crash shows up here; opening the store repairs it).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use remoting::message::record::{BLANK_MAGIC_CODE, decode_view, peek_header};
use store::consume_queue::CqEntry;

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

/// What scanning the commit log found.
struct LogScan {
    min: u64,
    end: u64,
    first_bad: Option<(u64, String)>,
    garbage_after_end: bool,
}

fn scan_log(
    dir: &Path,
    mut on_record: impl FnMut(u64, &remoting::message::RecordView<'_>),
) -> anyhow::Result<LogScan> {
    let segs = segments(dir, 20)?;
    let mut scan = LogScan {
        min: segs.first().map(|s| s.0).unwrap_or(0),
        end: segs.first().map(|s| s.0).unwrap_or(0),
        first_bad: None,
        garbage_after_end: false,
    };
    let mut expected = scan.min;
    for (i, (start, path)) in segs.iter().enumerate() {
        let data = std::fs::read(path).with_context(|| path.display().to_string())?;
        if *start != expected {
            scan.first_bad = Some((expected, format!("missing file for offset {expected}")));
            break;
        }
        let mut pos = 0usize;
        let mut finished_file = false;
        while pos + 8 <= data.len() {
            let at = start + pos as u64;
            let Some((size, magic)) = peek_header(&data[pos..]) else {
                break;
            };
            if size == 0 && magic == 0 {
                break;
            }
            if magic == BLANK_MAGIC_CODE && size as usize == data.len() - pos {
                finished_file = true;
                break;
            }
            match decode_view(&data[pos..]) {
                Ok(v) if v.physical_offset as u64 != at => {
                    scan.first_bad = Some((
                        at,
                        format!("PHYSICALOFFSET {} at position {at}", v.physical_offset),
                    ));
                    break;
                }
                Ok(v) if !v.crc_ok() => {
                    scan.first_bad = Some((at, "body CRC mismatch".into()));
                    break;
                }
                Ok(v) => {
                    on_record(at, &v);
                    pos += v.total_size as usize;
                }
                Err(e) => {
                    scan.first_bad = Some((at, e.to_string()));
                    break;
                }
            }
        }
        scan.end = start + pos as u64;
        if scan.first_bad.is_some() || !finished_file {
            scan.garbage_after_end =
                data[pos.min(data.len())..].iter().any(|b| *b != 0) || i + 1 < segs.len();
            if scan.first_bad.is_none() && scan.garbage_after_end {
                scan.first_bad = Some((
                    scan.end,
                    "bytes or files after the end of valid data".into(),
                ));
            }
            break;
        }
        expected = start + data.len() as u64;
        scan.end = expected;
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

fn check(root: &Path) -> anyhow::Result<bool> {
    let mut records = std::collections::HashMap::new();
    let scan = scan_log(&root.join("commitlog"), |at, v| {
        records.insert(at as i64, v.total_size);
    })?;
    let mut ok = true;
    match &scan.first_bad {
        Some((off, why)) => {
            ok = false;
            println!("commit log: first bad offset {off}: {why}");
        }
        None => println!(
            "commit log: ok, {} records, offsets {}..{}",
            records.len(),
            scan.min,
            scan.end
        ),
    }
    for (topic, id, dir) in queues(root) {
        let mut bad = None;
        for (off, e) in queue_entries(&dir)? {
            if e.size == i32::MAX || (e.phys_offset as u64) < scan.min {
                continue;
            }
            if records.get(&e.phys_offset) != Some(&e.size) {
                bad = Some((off, e));
                break;
            }
        }
        if let Some((off, e)) = bad {
            ok = false;
            println!(
                "queue {topic}/{id}: entry {off} points at no record (phys={} size={})",
                e.phys_offset, e.size
            );
        }
    }
    Ok(ok)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: store-ctl dump DIR [--records N] | store-ctl check DIR";
    let (Some(cmd), Some(dir)) = (args.get(1), args.get(2)) else {
        bail!(usage);
    };
    let root = PathBuf::from(dir);
    match cmd.as_str() {
        "dump" => {
            let n = match (args.get(3).map(String::as_str), args.get(4)) {
                (Some("--records"), Some(n)) => n.parse().context("--records")?,
                _ => 50,
            };
            dump(&root, n)
        }
        "check" => {
            if !check(&root)? {
                std::process::exit(1);
            }
            Ok(())
        }
        _ => bail!(usage),
    }
}
