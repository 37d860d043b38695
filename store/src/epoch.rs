//! The epoch file beside the commit log (`<storePathRootDir>/epochFileCheckpoint`, the name
//! RocketMQ 5's controller mode uses): which master epoch wrote which part of the commit log,
//! as a list of `(epoch, start offset)` entries, plus the highest epoch this broker has been
//! told about (`known`), which may be ahead of the last entry (a slave frozen by a failover
//! controller before any byte of the new epoch exists).
//!
//! Why it exists (docs/failover.md): after a failover the old master may hold a tail that the
//! new master never had. Comparing epoch lists finds the last offset both logs share
//! ([`EpochFile::consistent_point`]), so the old master truncates exactly its divergent tail
//! and nothing else; and a broker that knows a newer epoch refuses to follow (or to be) a
//! master of an older one.
//!
//! Durability: every change is written to `epochFileCheckpoint.tmp`, fsynced, renamed over the
//! file, and the directory fsynced, so a crash or power cut leaves either the old or the new
//! list, never a torn one. The text carries a CRC32; a file that fails it is an error naming
//! the file (never silently an empty list: that would let a fenced broker forget its fence).

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::error::{Result, StoreError};

/// File name inside the store root.
pub const FILE_NAME: &str = "epochFileCheckpoint";

const HEADER: &str = "rocketmq-rs epoch file v1";

/// The epoch of data written before any entry exists.
pub const FIRST_EPOCH: u32 = 1;

/// One epoch: the master of `epoch` wrote the commit log from `start_offset` on (up to the next
/// entry's start, or the log end for the last one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The epoch number (1, 2, …; strictly increasing along the list).
    pub epoch: u32,
    /// First commit-log offset of the epoch.
    pub start_offset: i64,
}

/// The state kept in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochState {
    /// Highest epoch this broker was told about (≥ the last entry's epoch).
    pub known: u32,
    /// Entries, epochs strictly increasing, start offsets non-decreasing.
    pub entries: Vec<EpochEntry>,
}

impl EpochState {
    /// The epoch of the last entry. A log without entries was written before any failover
    /// (or by a broker that never had the file): epoch [`FIRST_EPOCH`] from offset 0.
    pub fn current(&self) -> u32 {
        self.entries.last().map_or(FIRST_EPOCH, |e| e.epoch)
    }

    /// The entries, with the implicit `(FIRST_EPOCH, 0)` of an empty list.
    pub fn effective(&self) -> EpochState {
        if self.entries.is_empty() {
            EpochState {
                known: self.known.max(FIRST_EPOCH),
                entries: vec![EpochEntry {
                    epoch: FIRST_EPOCH,
                    start_offset: 0,
                }],
            }
        } else {
            self.clone()
        }
    }

    /// Where `epoch` ends in a log whose end is `log_end`: the next entry's start, or the log
    /// end for the last entry. `None` when the epoch is not in the list.
    pub fn end_of(&self, epoch: u32, log_end: i64) -> Option<i64> {
        let i = self.entries.iter().position(|e| e.epoch == epoch)?;
        Some(match self.entries.get(i + 1) {
            Some(next) => next.start_offset,
            None => log_end.max(self.entries[i].start_offset),
        })
    }

    fn check(&self) -> std::result::Result<(), String> {
        for w in self.entries.windows(2) {
            if w[1].epoch <= w[0].epoch || w[1].start_offset < w[0].start_offset {
                return Err(format!(
                    "entries out of order: ({}, {}) then ({}, {})",
                    w[0].epoch, w[0].start_offset, w[1].epoch, w[1].start_offset
                ));
            }
        }
        if let Some(e) = self.entries.iter().find(|e| e.start_offset < 0) {
            return Err(format!("negative start offset in epoch {}", e.epoch));
        }
        if !self.entries.is_empty() && self.known < self.current() {
            return Err(format!(
                "known epoch {} below the last entry's {}",
                self.known,
                self.current()
            ));
        }
        Ok(())
    }

    fn encode(&self) -> String {
        let mut body = format!("{HEADER}\nknown {}\n", self.known);
        for e in &self.entries {
            let _ = writeln!(body, "{} {}", e.epoch, e.start_offset);
        }
        let crc = crc32fast::hash(body.as_bytes());
        let _ = writeln!(body, "crc {crc:08x}");
        body
    }

    fn decode(text: &str) -> std::result::Result<EpochState, String> {
        let Some(cut) = text.trim_end_matches('\n').rfind('\n') else {
            return Err("no checksum line".into());
        };
        let (body, crc_line) = text.split_at(cut + 1);
        let crc = crc_line
            .trim()
            .strip_prefix("crc ")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or("no checksum line")?;
        if crc32fast::hash(body.as_bytes()) != crc {
            return Err("checksum mismatch".into());
        }
        let mut lines = body.lines();
        if lines.next() != Some(HEADER) {
            return Err("unknown header".into());
        }
        let known = lines
            .next()
            .and_then(|l| l.strip_prefix("known "))
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or("no known-epoch line")?;
        let mut entries = Vec::new();
        for line in lines {
            let mut it = line.split(' ');
            let (Some(e), Some(o), None) = (it.next(), it.next(), it.next()) else {
                return Err(format!("bad entry line {line:?}"));
            };
            entries.push(EpochEntry {
                epoch: e.parse().map_err(|_| format!("bad epoch in {line:?}"))?,
                start_offset: o.parse().map_err(|_| format!("bad offset in {line:?}"))?,
            });
        }
        let s = EpochState { known, entries };
        s.check()?;
        Ok(s)
    }
}

/// The point up to which a log described by `mine` (ending at `my_end`) agrees with a log
/// described by `theirs` (ending at `their_end`): the end of the highest epoch both lists hold,
/// as the shorter of the two sides has it (RocketMQ 5's `findConsistentPoint`). Bytes of
/// `mine` beyond it are a divergent tail. `None` when the lists share no epoch (the two logs
/// have nothing provably in common). An empty list is epoch 1 from offset 0.
pub fn consistent_point(
    mine: &EpochState,
    my_end: i64,
    theirs: &EpochState,
    their_end: i64,
) -> Option<i64> {
    let (mine, theirs) = (mine.effective(), theirs.effective());
    let common = mine
        .entries
        .iter()
        .rev()
        .find(|e| theirs.entries.iter().any(|t| t.epoch == e.epoch))?;
    let a = mine.end_of(common.epoch, my_end)?;
    let b = theirs.end_of(common.epoch, their_end)?;
    Some(a.min(b).min(my_end))
}

/// The epoch file of one store, cached in memory.
#[derive(Debug)]
pub struct EpochFile {
    path: PathBuf,
    state: Mutex<EpochState>,
}

impl EpochFile {
    /// Opens (or, when absent, starts empty) the epoch file in `dir`. A leftover `.tmp` from a
    /// crash before the rename is ignored; a damaged file is an error.
    pub fn open(dir: &Path) -> Result<EpochFile> {
        let path = dir.join(FILE_NAME);
        let state = match fs::read(&path) {
            Ok(raw) => {
                let text = String::from_utf8(raw)
                    .map_err(|_| StoreError::Config(format!("{}: not UTF-8", path.display())))?;
                EpochState::decode(&text)
                    .map_err(|why| StoreError::Config(format!("{}: {why}", path.display())))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => EpochState::default(),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        Ok(EpochFile {
            path,
            state: Mutex::new(state),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A copy of the state.
    pub fn state(&self) -> EpochState {
        self.state.lock().clone()
    }

    /// The epoch of the last entry ([`FIRST_EPOCH`] when there is none).
    pub fn current(&self) -> u32 {
        self.state.lock().current()
    }

    /// The highest epoch this broker knows of (at least its current one).
    pub fn known(&self) -> u32 {
        let s = self.state.lock();
        s.known.max(s.current())
    }

    /// Raises the known epoch to `epoch` (durably) and returns the previous one; lower values
    /// change nothing.
    pub fn raise_known(&self, epoch: u32) -> Result<u32> {
        let mut s = self.state.lock();
        let before = s.known.max(s.current());
        if epoch <= before {
            return Ok(before);
        }
        let mut next = s.clone();
        next.known = epoch;
        self.persist(&next)?;
        *s = next;
        Ok(before)
    }

    /// Starts `epoch` at commit-log offset `start`: entries starting beyond `start` (an epoch
    /// list adopted from a master whose bytes never arrived) are dropped first. `epoch` must be
    /// above every remaining entry.
    pub fn append(&self, epoch: u32, start: i64) -> Result<()> {
        let mut s = self.state.lock();
        let mut next = s.effective();
        next.entries.retain(|e| e.start_offset <= start);
        if next.current() >= epoch {
            return Err(StoreError::Config(format!(
                "epoch {epoch} is not above the current epoch {}",
                next.current()
            )));
        }
        next.entries.push(EpochEntry {
            epoch,
            start_offset: start,
        });
        next.known = next.known.max(epoch);
        self.persist(&next)?;
        *s = next;
        Ok(())
    }

    /// A follower's list after its handshake with a master: the master's entries, keeping
    /// the higher known epoch of both.
    pub fn adopt(&self, master: &EpochState) -> Result<()> {
        let mut s = self.state.lock();
        let next = EpochState {
            known: s.known.max(master.known).max(master.current()),
            entries: master.entries.clone(),
        };
        next.check().map_err(StoreError::Config)?;
        if next == *s {
            return Ok(());
        }
        self.persist(&next)?;
        *s = next;
        Ok(())
    }

    fn persist(&self, state: &EpochState) -> Result<()> {
        state.check().map_err(StoreError::Config)?;
        let tmp = self.path.with_extension("tmp");
        let io = |p: &Path, e| StoreError::io(p, e);
        {
            let mut f = fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(state.encode().as_bytes())
                .map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io(dir, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn st(known: u32, e: &[(u32, i64)]) -> EpochState {
        EpochState {
            known,
            entries: e
                .iter()
                .map(|&(epoch, start_offset)| EpochEntry {
                    epoch,
                    start_offset,
                })
                .collect(),
        }
    }

    #[test]
    fn survives_reopen_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let f = EpochFile::open(dir.path()).unwrap();
        assert_eq!(f.current(), FIRST_EPOCH);
        f.append(2, 500).unwrap();
        assert!(f.append(2, 600).is_err(), "same epoch twice");
        assert_eq!(f.raise_known(5).unwrap(), 2);
        let again = EpochFile::open(dir.path()).unwrap();
        assert_eq!(again.state(), st(5, &[(1, 0), (2, 500)]));
        // A torn temporary file from a crash before the rename changes nothing.
        fs::write(dir.path().join("epochFileCheckpoint.tmp"), "rocketmq-rs ep").unwrap();
        assert_eq!(EpochFile::open(dir.path()).unwrap().known(), 5);
        // One flipped digit in the file itself is refused, not read as an empty list.
        let p = dir.path().join(FILE_NAME);
        let text = fs::read_to_string(&p).unwrap().replace("2 500", "2 501");
        fs::write(&p, text).unwrap();
        let err = EpochFile::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
    }

    #[test]
    fn append_drops_adopted_entries_beyond_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let f = EpochFile::open(dir.path()).unwrap();
        f.adopt(&st(3, &[(1, 0), (3, 5000)])).unwrap();
        // Promoted with only 4000 bytes: epoch 3's entry never had data here.
        f.append(4, 4000).unwrap();
        assert_eq!(f.state(), st(4, &[(1, 0), (4, 4000)]));
    }

    #[test]
    fn consistent_point_cuts_exactly_the_divergent_tail() {
        // Old master wrote epoch 1 up to 10000; the new master took over at 8000 (epoch 2).
        let old = st(1, &[(1, 0)]);
        let new = st(2, &[(1, 0), (2, 8000)]);
        assert_eq!(consistent_point(&old, 10_000, &new, 12_000), Some(8000));
        // A slave that is behind keeps everything it has.
        assert_eq!(consistent_point(&old, 6000, &new, 12_000), Some(6000));
        // Same epochs on both sides: nothing diverged.
        assert_eq!(consistent_point(&new, 9000, &new, 12_000), Some(9000));
        // Two failovers: old master of epoch 2 against epochs 1, 2 (ended 9000), 3.
        let e2 = st(2, &[(1, 0), (2, 8000)]);
        let e3 = st(3, &[(1, 0), (2, 8000), (3, 9000)]);
        assert_eq!(consistent_point(&e2, 9500, &e3, 20_000), Some(9000));
        // Nothing in common.
        assert_eq!(
            consistent_point(&st(2, &[(2, 0)]), 10, &st(3, &[(3, 0)]), 10),
            None
        );
        // An empty list is epoch 1 from offset 0 (a log from before the epoch file).
        assert_eq!(
            consistent_point(&st(0, &[]), 9700, &new, 12_000),
            Some(8000)
        );
        assert_eq!(consistent_point(&new, 9000, &st(0, &[]), 8500), Some(8000));
    }
}
