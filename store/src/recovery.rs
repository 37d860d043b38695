//! Crash recovery of the commit log: finding the end of valid data, telling a torn tail from
//! damage in the middle, and stepping over damage.
//!
//! # Invariants
//! - **Verified, not assumed.** Recovery trusts a commit-log segment below the checkpoint's
//!   durable offset only when its file still has the preallocated length. A short or resized
//!   segment, a missing segment between others, or a checkpoint offset that is not a record
//!   boundary (checked by reading the record there, else by walking the record headers of its
//!   segment from the segment start) moves the start of the verifying scan back to the start of
//!   that segment. From there every record is checked (size, magic, layout, position, body CRC
//!   when `checkCRCOnRecover`).
//! - **Torn tail.** An invalid record (or zeros) that no valid record follows — in the rest of
//!   its segment or in any later segment — is a torn tail: the log ends there. The search
//!   for valid records after zeros (a hole a power loss can leave) is skipped only where no
//!   hole can exist: zeros at or past the checkpoint's durable offset after a clean stop or
//!   after a process crash in the same boot (the `abort` marker holds the boot id; the page
//!   cache kept every byte in order). Unwritten space is skipped with `SEEK_DATA`. It is the only
//!   thing recovery removes (bytes past the end are zeroed, later segments without a valid
//!   record are deleted). The log end, and so the dispatch start and every later append, is
//!   never inside a hole.
//! - **Damage in the middle.** An invalid range that valid records follow is never truncated.
//!   It is skipped (logged with its offsets, counted, kept in the damage map that dispatch
//!   consults) unless `skipCorruptRecordOnRecover=false` and the range lies in data the
//!   checkpoint recorded as durable: then the store refuses to open, naming the offset and the
//!   `store-ctl repair DIR --skip-corrupt` command. Ranges an operator accepted with that
//!   command are listed in `<root>/skipped-ranges` and always skipped.
//! - **Rebuilt, not padded.** Consume queues and the index are re-dispatched from the commit log
//!   from the smallest of: the checkpoint's dispatch offset, the last physical end of every
//!   consume queue whose files show damage (short, resized, missing or trailing bytes after
//!   the last valid entry), and the newest index file's last offset. Entries already present
//!   are recognised and skipped; a gap is only padded with blank entries when the commit-log
//!   record of that queue offset itself is gone (damage), never for a damaged queue file.
//! - **Dispatch never stops for good.** A dispatch that meets an invalid record steps over a
//!   known damaged range, or resyncs to the next valid record (magic, position and CRC
//!   verified) and counts it; with nothing valid after it, it waits for more data.

use std::collections::BTreeMap;
use std::path::Path;

use remoting::message::record::{
    BLANK_MAGIC_CODE, MAGIC_CODE_V1, MAGIC_CODE_V2, MIN_RECORD_LEN, decode_view, peek_header,
};

use crate::checkpoint::Checkpoint;
use crate::error::{Result, StoreError};
use crate::seglog::SegLog;

/// Bytes read at a time while scanning.
pub(crate) const CHUNK: usize = 4 * 1024 * 1024;

/// File (under the store root) listing damaged ranges an operator accepted with
/// `store-ctl repair --skip-corrupt`: one `FROM TO` pair of commit-log offsets per line.
pub const SKIPPED_RANGES_FILE: &str = "skipped-ranges";

/// What a scan of the commit log found at one position.
pub(crate) enum Scan<'a> {
    Record(remoting::message::RecordView<'a>),
    Blank,
    Incomplete,
    Invalid(String),
}

/// Classifies the bytes at `buf` (commit-log offset `at`; `room` = bytes left in its file).
pub(crate) fn scan_one(buf: &[u8], at: u64, room: u64, check_crc: bool) -> Scan<'_> {
    let Some((size, magic)) = peek_header(buf) else {
        return if buf.iter().all(|b| *b == 0) {
            Scan::Invalid("end of data".into())
        } else {
            Scan::Incomplete
        };
    };
    if size == 0 && magic == 0 {
        return Scan::Invalid("end of data".into());
    }
    if magic == BLANK_MAGIC_CODE {
        return if size as u64 == room {
            Scan::Blank
        } else {
            Scan::Invalid(format!(
                "blank marker of size {size} with {room} bytes left"
            ))
        };
    }
    if magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2 {
        return Scan::Invalid(format!("bad magic {magic:#x}"));
    }
    if size < MIN_RECORD_LEN as i32 || size as u64 > room {
        return Scan::Invalid(format!("bad size {size}"));
    }
    if size as usize > buf.len() {
        return Scan::Incomplete;
    }
    match decode_view(buf) {
        Ok(v) if v.physical_offset as u64 != at => Scan::Invalid(format!(
            "PHYSICALOFFSET {} differs from position {at}",
            v.physical_offset
        )),
        Ok(v) if check_crc && !v.crc_ok() => Scan::Invalid("body CRC mismatch".into()),
        Ok(v) => Scan::Record(v),
        Err(e) => Scan::Invalid(e.to_string()),
    }
}

/// A damaged commit-log range `[from, to)` that recovery or dispatch stepped over (or, for a
/// torn tail, removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// First damaged offset.
    pub from: u64,
    /// Offset of the next valid record (for a torn tail: the old end of the files).
    pub to: u64,
    /// Why the record at `from` failed verification.
    pub reason: String,
}

/// What the last open found and did; see the module docs of `recovery` for the rules.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// The `abort` marker was present: the previous run did not stop cleanly.
    pub crashed: bool,
    /// The checkpoint was readable.
    pub checkpoint_ok: bool,
    /// Commit-log min offset after recovery.
    pub log_min: u64,
    /// Commit-log end after recovery (end of valid data).
    pub log_end: u64,
    /// Where the verifying scan began.
    pub scanned_from: u64,
    /// Bytes the verifying scan read.
    pub scanned_bytes: u64,
    /// Time the commit-log verification took (before queues and index), ms.
    pub scan_ms: u64,
    /// Segments (start, length found) whose file did not have the preallocated length.
    pub untrusted_segments: Vec<(u64, u64)>,
    /// The torn tail removed, if any.
    pub torn_tail: Option<Damage>,
    /// Damaged ranges in the middle of the log that were skipped (data after them kept).
    pub skipped: Vec<Damage>,
    /// Consume queues whose files showed damage (topic, queue id, length of the last file).
    pub damaged_queues: Vec<(String, i32)>,
    /// Commit-log offset re-dispatch started from.
    pub dispatch_from: u64,
    /// Set when recovery could not write (e.g. a full disk): the store serves reads and
    /// refuses writes until the pending recovery writes succeed.
    pub read_only: Option<String>,
}

/// Reads up to `len` bytes at a commit-log offset, never past the end of its segment;
/// `Ok(None)` when no segment holds the offset; `Ok(Some(empty))` at the readable limit.
pub(crate) type ReadFn<'a> = dyn Fn(u64, usize) -> Result<Option<Vec<u8>>> + 'a;

/// A reader of the segment files themselves (recovery runs before the log's end is set).
pub(crate) fn file_reader(log: &SegLog) -> impl Fn(u64, usize) -> Result<Option<Vec<u8>>> + '_ {
    let fsz = log.seg_size;
    move |off, len| {
        let start = off - off % fsz;
        let Some(seg) = log.segment(start) else {
            return Ok(None);
        };
        let n = (len as u64).min(start + fsz - off) as usize;
        let mut b = vec![0u8; n];
        seg.file
            .read_exact_at(&mut b, off - start)
            .map_err(|e| StoreError::io(&seg.path, e))?;
        Ok(Some(b))
    }
}

fn is_magic(b: &[u8]) -> bool {
    let m = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    m == MAGIC_CODE_V1 || m == MAGIC_CODE_V2
}

/// True when a whole, valid record (CRC checked) starts at `at`.
fn valid_record_at(read: &ReadFn<'_>, fsz: u64, at: u64) -> Result<bool> {
    let room = fsz - at % fsz;
    let Some(head) = read(at, 8)? else {
        return Ok(false);
    };
    let Some((size, magic)) = peek_header(&head) else {
        return Ok(false);
    };
    if (magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2)
        || size < MIN_RECORD_LEN as i32
        || size as u64 > room
    {
        return Ok(false);
    }
    let Some(buf) = read(at, size as usize)? else {
        return Ok(false);
    };
    Ok(matches!(scan_one(&buf, at, room, true), Scan::Record(_)))
}

/// The first commit-log offset at or after `off` that may hold data, within `off`'s segment
/// (`None`: nothing more in that segment). See [`crate::fs::FsFile::next_data`].
pub(crate) type NextDataFn<'a> = dyn Fn(u64) -> Result<Option<u64>> + 'a;

/// [`NextDataFn`] over the segment files.
pub(crate) fn file_next_data(log: &SegLog) -> impl Fn(u64) -> Result<Option<u64>> + '_ {
    let fsz = log.seg_size;
    move |off| {
        let start = off - off % fsz;
        let Some(seg) = log.segment(start) else {
            return Ok(Some(off));
        };
        let n = seg
            .file
            .next_data(off - start)
            .map_err(|e| StoreError::io(&seg.path, e))?;
        Ok(n.map(|n| start + n).filter(|n| *n < start + fsz))
    }
}

/// Resync: the offset of the first valid record after `from` and below `limit`, searching the
/// rest of `from`'s segment and then every later segment (`next_segment(s)`: the first
/// segment start after `s`), skipping space that holds no data (`next_data`). `None`: only
/// zeros, garbage or nothing follow — a torn tail.
pub(crate) fn find_next_valid(
    read: &ReadFn<'_>,
    next_data: &NextDataFn<'_>,
    next_segment: &dyn Fn(u64) -> Option<u64>,
    fsz: u64,
    from: u64,
    limit: u64,
) -> Result<Option<u64>> {
    let mut pos = from + 1;
    while pos < limit {
        let seg_start = pos - pos % fsz;
        match next_data(pos)? {
            Some(p) if p > pos => {
                pos = p;
                continue;
            }
            Some(_) => {}
            None => {
                pos = seg_start + fsz;
                continue;
            }
        }
        let want = (CHUNK as u64).min(limit - pos) as usize;
        let Some(buf) = read(pos, want)? else {
            match next_segment(seg_start) {
                Some(s) if s < limit => {
                    if valid_record_at(read, fsz, s)? {
                        return Ok(Some(s));
                    }
                    pos = s + 1;
                    continue;
                }
                _ => return Ok(None),
            }
        };
        if buf.is_empty() {
            return Ok(None);
        }
        if buf.iter().all(|b| *b == 0) {
            pos += buf.len() as u64;
            continue;
        }
        let mut i = 0usize;
        while i + 8 <= buf.len() {
            if is_magic(&buf[i + 4..i + 8]) && valid_record_at(read, fsz, pos + i as u64)? {
                return Ok(Some(pos + i as u64));
            }
            i += 1;
        }
        // Overlap by 7 bytes so a header cut by the chunk end is tried again.
        pos += if buf.len() > 8 {
            buf.len() as u64 - 7
        } else {
            buf.len() as u64
        };
    }
    Ok(None)
}

/// True when walking record headers (size, magic, position; no CRC) from `seg_start` lands
/// exactly on `target`: `target` is a record boundary.
fn hop_to(read: &ReadFn<'_>, seg_start: u64, target: u64) -> Result<bool> {
    let mut pos = seg_start;
    while pos < target {
        let want = (CHUNK as u64).min(target - pos + 36) as usize;
        let Some(buf) = read(pos, want)? else {
            return Ok(false);
        };
        let mut off = 0usize;
        while off + 36 <= buf.len() && pos + (off as u64) < target {
            let Some((size, magic)) = peek_header(&buf[off..]) else {
                return Ok(false);
            };
            let mut p = [0u8; 8];
            p.copy_from_slice(&buf[off + 28..off + 36]);
            let at = pos + off as u64;
            if (magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2)
                || size < MIN_RECORD_LEN as i32
                || i64::from_be_bytes(p) as u64 != at
                || at + size as u64 > target
            {
                return Ok(false);
            }
            off += size as usize;
        }
        if off == 0 {
            return Ok(false);
        }
        pos += off as u64;
    }
    Ok(pos == target)
}

/// Reads `<root>/skipped-ranges`.
pub(crate) fn read_skipped_ranges(root: &Path) -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string(root.join(SKIPPED_RANGES_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let a = it.next()?.parse().ok()?;
            let b = it.next()?.parse().ok()?;
            Some((a, b))
        })
        .collect()
}

/// The result of [`recover_log`].
#[derive(Debug, Default)]
pub(crate) struct LogRecovery {
    pub end: u64,
    pub scanned_from: u64,
    pub scanned_bytes: u64,
    pub untrusted: Vec<(u64, u64)>,
    pub torn: Option<Damage>,
    pub skipped: Vec<Damage>,
}

/// This boot's id (Linux), recorded in the `abort` marker.
pub(crate) fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Finds the end of valid data (module docs). `root` names the store in error messages;
/// `accepted` are ranges listed in `skipped-ranges`. `power_loss`: the previous run ended in
/// a crash in an earlier boot (or of unknown boot): holes are possible, so zeros at the end
/// of the data are searched past for valid records. Otherwise (a clean stop, or a process
/// crash in this boot, whose page cache kept every byte in order) zeros at a record boundary
/// are the end: searching past them would read up to a whole preallocated segment.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recover_log(
    log: &SegLog,
    root: &Path,
    power_loss: bool,
    cp: Option<&Checkpoint>,
    check_crc: bool,
    skip_corrupt: bool,
    accepted: &[(u64, u64)],
) -> Result<LogRecovery> {
    let starts = log.segment_starts();
    let mut out = LogRecovery::default();
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Ok(out);
    };
    let fsz = log.seg_size;
    let limit = last + fsz;
    let read = file_reader(log);
    let next_data = file_next_data(log);
    let next_segment = |s: u64| log.segment_starts().into_iter().find(|x| *x > s);
    let cp_durable = cp.map(|c| c.log_safe_offset);
    let mut pos = match cp_durable {
        Some(d) if d >= first && d < limit => d,
        // At or past the end of the files (newer segments gone): verify the last one.
        Some(d) if d >= first => last,
        _ => first,
    };
    // Segments the scan must not trust: wrong length, or a missing neighbour.
    for (i, &s) in starts.iter().enumerate() {
        let open_len = log.segment(s).map(|g| g.open_len).unwrap_or(0);
        if open_len != fsz {
            out.untrusted.push((s, open_len));
            tracing::warn!(
                segment = s,
                len = open_len,
                expected = fsz,
                "commit-log segment has an unexpected length; scanning it from its start"
            );
            pos = pos.min(s);
        }
        if let Some(&n) = starts.get(i + 1)
            && n != s + fsz
        {
            tracing::warn!(
                segment = s + fsz,
                "commit-log segment missing between others"
            );
            pos = pos.min(s);
        }
    }
    // The checkpoint's offset must be a record boundary.
    let seg_start = pos - pos % fsz;
    if pos != seg_start {
        let room = seg_start + fsz - pos;
        let direct = match read(pos, 8)? {
            Some(h) => match peek_header(&h) {
                Some((s, m)) if m == BLANK_MAGIC_CODE => s as u64 == room,
                Some(_) => valid_record_at(&read, fsz, pos)?,
                None => false,
            },
            None => false,
        };
        if !direct && !hop_to(&read, seg_start, pos)? {
            tracing::warn!(
                offset = pos,
                "checkpoint offset is not a record boundary; scanning its segment from the start"
            );
            pos = seg_start;
        }
    }
    out.scanned_from = pos;
    let t0 = std::time::Instant::now();
    tracing::debug!(from = pos, "commit-log scan starts");
    'outer: while pos < limit {
        let seg_start = pos - pos % fsz;
        let seg_end = seg_start + fsz;
        let mut at = pos;
        let why: String;
        let _invalid: bool = match read(pos, CHUNK)? {
            None => {
                why = "missing segment file".into();
                true
            }
            Some(mut buf) => {
                if let Some((s, m)) = peek_header(&buf)
                    && (m == MAGIC_CODE_V1 || m == MAGIC_CODE_V2)
                    && s as u64 <= seg_end - pos
                    && s as usize > buf.len()
                    && let Some(b) = read(pos, s as usize)?
                {
                    buf = b;
                }
                out.scanned_bytes += buf.len() as u64;
                let mut off = 0usize;
                loop {
                    at = pos + off as u64;
                    if at >= seg_end {
                        pos = seg_end;
                        continue 'outer;
                    }
                    match scan_one(&buf[off..], at, seg_end - at, check_crc) {
                        Scan::Record(v) => off += v.total_size as usize,
                        Scan::Blank => {
                            pos = seg_end;
                            continue 'outer;
                        }
                        Scan::Incomplete if off > 0 => {
                            pos = at;
                            continue 'outer;
                        }
                        Scan::Incomplete => {
                            why = "record cut at the end of its segment".into();
                            break true;
                        }
                        Scan::Invalid(r) => {
                            why = r;
                            break true;
                        }
                    }
                    if off >= buf.len() {
                        pos += off as u64;
                        continue 'outer;
                    }
                }
            }
        };

        tracing::debug!(
            at,
            reason = why,
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "scan met an invalid record; looking for valid data after it"
        );
        // Without a power loss, zeros at a record boundary past every byte the checkpoint
        // recorded as durable are the end. Zeros below it mean damage: search.
        let clean_end = !power_loss && why == "end of data" && cp_durable.is_some_and(|d| at >= d);
        let found = if clean_end {
            None
        } else {
            find_next_valid(&read, &next_data, &next_segment, fsz, at, limit)?
        };
        tracing::debug!(
            ?found,
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "resync search done"
        );
        match found {
            None => {
                if why != "end of data" || at < cp_durable.unwrap_or(0) {
                    tracing::warn!(
                        offset = at,
                        reason = why,
                        "commit log ends at a torn tail; nothing valid follows, truncated"
                    );
                }
                out.torn = Some(Damage {
                    from: at,
                    to: limit,
                    reason: why,
                });
                out.end = at;
                return Ok(out);
            }
            Some(next) => {
                let known = accepted.iter().any(|(a, b)| *a <= at && next <= *b);
                let durable = cp_durable.is_none_or(|d| at < d);
                if !skip_corrupt && !known && durable {
                    return Err(StoreError::Corrupt {
                        offset: at,
                        reason: format!(
                            "{why}; valid records follow at {next}, so this is damage in the \
                             middle of the log, not a torn tail. Nothing was changed. To skip \
                             the damaged range [{at}, {next}) and keep everything else, stop \
                             the broker and run `store-ctl repair {} --skip-corrupt` (or set \
                             skipCorruptRecordOnRecover=true)",
                            root.display()
                        ),
                    });
                }
                tracing::error!(
                    offset = at,
                    next_valid = next,
                    lost_bytes = next - at,
                    reason = why,
                    "damaged commit-log range skipped; the records after it are kept"
                );
                out.skipped.push(Damage {
                    from: at,
                    to: next,
                    reason: why,
                });
                pos = next;
            }
        }
    }
    out.end = pos.min(limit);
    Ok(out)
}

/// Damaged ranges known to dispatch: start → end.
pub(crate) type DamageMap = BTreeMap<u64, u64>;

/// The end of the damaged range holding `at`, if any.
pub(crate) fn damage_covering(map: &DamageMap, at: u64) -> Option<u64> {
    map.range(..=at)
        .next_back()
        .filter(|(_, to)| at < **to)
        .map(|(_, to)| *to)
}
