//! The checkpoint file (spec §5.5): Java's three timestamps at 0, 8, 16, plus what this store
//! needs to bound crash recovery by the unflushed tail: the commit-log offset known durable and
//! the offset up to which consume queues and index files are durable, guarded by a CRC so a torn
//! checkpoint is detected (and recovery then falls back to a full scan).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Result, StoreError};
use crate::fs::{FileSystem, FsFile};

const SIZE: usize = 4096;
const MAGIC: u64 = 0x5253_4348_4B50_5431; // "RSCHKPT1"

/// The checkpoint's values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Store time of the last durable commit-log record (Java `physicMsgTimestamp`).
    pub physic_msg_timestamp: i64,
    /// Store time of the last record in a durable consume queue (`logicsMsgTimestamp`).
    pub logics_msg_timestamp: i64,
    /// Store time covered by the last index flush (`indexMsgTimestamp`).
    pub index_msg_timestamp: i64,
    /// Commit-log offset below which every byte is durable (a record boundary).
    pub log_safe_offset: u64,
    /// Commit-log offset below which every record is in durable consume queues and index files.
    pub dispatch_safe_offset: u64,
    /// Offset of the last record in the newest durable index file (0: no index entry yet).
    /// An index whose newest file ends below this after a crash lost a file, and recovery
    /// re-indexes from where the surviving files end. Older checkpoints read as 0.
    pub index_end_offset: u64,
}

impl Checkpoint {
    fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; SIZE];
        b[0..8].copy_from_slice(&self.physic_msg_timestamp.to_be_bytes());
        b[8..16].copy_from_slice(&self.logics_msg_timestamp.to_be_bytes());
        b[16..24].copy_from_slice(&self.index_msg_timestamp.to_be_bytes());
        // 24..40 are 5.x's masterFlushedOffset / confirmPhyOffset: left zero.
        b[40..48].copy_from_slice(&self.log_safe_offset.to_be_bytes());
        b[48..56].copy_from_slice(&self.dispatch_safe_offset.to_be_bytes());
        b[56..64].copy_from_slice(&MAGIC.to_be_bytes());
        let crc = crc32fast::hash(&b[..64]);
        b[64..68].copy_from_slice(&crc.to_be_bytes());
        // An extension with its own CRC, so checkpoints written before it still decode.
        b[68..76].copy_from_slice(&self.index_end_offset.to_be_bytes());
        let crc2 = crc32fast::hash(&b[..76]);
        b[76..80].copy_from_slice(&crc2.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() < 68 {
            return None;
        }
        let l = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            a
        };
        let crc = u32::from_be_bytes([b[64], b[65], b[66], b[67]]);
        if u64::from_be_bytes(l(56)) != MAGIC || crc32fast::hash(&b[..64]) != crc {
            return None;
        }
        Some(Checkpoint {
            physic_msg_timestamp: i64::from_be_bytes(l(0)),
            logics_msg_timestamp: i64::from_be_bytes(l(8)),
            index_msg_timestamp: i64::from_be_bytes(l(16)),
            log_safe_offset: u64::from_be_bytes(l(40)),
            dispatch_safe_offset: u64::from_be_bytes(l(48)),
            index_end_offset: if b.len() >= 80
                && crc32fast::hash(&b[..76]) == u32::from_be_bytes([b[76], b[77], b[78], b[79]])
            {
                u64::from_be_bytes(l(68))
            } else {
                0
            },
        })
    }
}

/// The open checkpoint file.
#[derive(Debug)]
pub(crate) struct CheckpointFile {
    path: PathBuf,
    file: Arc<dyn FsFile>,
}

impl CheckpointFile {
    /// Opens (creating) the file and reads it; `None` if absent, torn or foreign.
    pub fn open(fs: &dyn FileSystem, path: &Path) -> Result<(CheckpointFile, Option<Checkpoint>)> {
        let file = fs.open(path, true).map_err(|e| StoreError::io(path, e))?;
        let len = file.len().map_err(|e| StoreError::io(path, e))?;
        let mut cp = None;
        if len >= SIZE as u64 {
            let mut b = vec![0u8; SIZE];
            file.read_exact_at(&mut b, 0)
                .map_err(|e| StoreError::io(path, e))?;
            cp = Checkpoint::decode(&b);
            if cp.is_none() {
                tracing::warn!(path = %path.display(), "checkpoint unreadable; recovery scans the whole log");
            }
        }
        // A short file is left as it is (it reads as no checkpoint): open changes nothing
        // before recovery decided to keep the store; the first write gives it its length.
        Ok((
            CheckpointFile {
                path: path.to_path_buf(),
                file,
            },
            cp,
        ))
    }

    /// Writes and fsyncs.
    pub fn write(&self, cp: &Checkpoint) -> Result<()> {
        self.file
            .write_all_at(&cp.encode(), 0)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| StoreError::io(&self.path, e))
    }
}

/// Reads a checkpoint file without opening a store (for `store-ctl`).
pub fn read_checkpoint(path: &Path) -> Option<Checkpoint> {
    let b = std::fs::read(path).ok()?;
    Checkpoint::decode(&b)
}

/// Writes (and fsyncs) a checkpoint file without opening a store (for `store-ctl repair`,
/// which lowers the dispatch offset to force a rebuild of queues and index).
pub fn write_checkpoint_file(path: &Path, cp: &Checkpoint) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.write_all(&cp.encode())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_checkpoint_round_trips(a in any::<i64>(), b in any::<i64>(), c in any::<i64>(), d in any::<u64>(), e in any::<u64>(), f in any::<u64>()) {
            let cp = Checkpoint { physic_msg_timestamp: a, logics_msg_timestamp: b, index_msg_timestamp: c, log_safe_offset: d, dispatch_safe_offset: e, index_end_offset: f };
            let bytes = cp.encode();
            prop_assert_eq!(bytes.len(), 4096);
            prop_assert_eq!(&bytes[..8], &a.to_be_bytes());
            prop_assert_eq!(Checkpoint::decode(&bytes), Some(cp));
        }

        #[test]
        fn garbage_is_rejected(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(Checkpoint::decode(&bytes), None);
        }
    }

    #[test]
    fn round_trip_and_torn() {
        let cp = Checkpoint {
            physic_msg_timestamp: 1,
            logics_msg_timestamp: 2,
            index_msg_timestamp: 3,
            log_safe_offset: 4,
            dispatch_safe_offset: 5,
            index_end_offset: 6,
        };
        let mut b = cp.encode();
        assert_eq!(Checkpoint::decode(&b), Some(cp));
        b[41] ^= 1;
        assert_eq!(Checkpoint::decode(&b), None);
    }
}
