//! Atomic JSON files (`topics.json`, `subscriptionGroup.json`, `consumerOffset.json`), written as
//! Java's `MixAll.string2File` does (spec §5.7): write `<file>.tmp`, keep the old file as
//! `<file>.bak`, rename tmp over the file. On load an empty or unparseable file falls back to the
//! `.bak`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{BrokerError, Result};

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes `text` to `path` atomically. The tmp file is fsynced before the rename and the
/// directory after it, so a crash leaves either the old or the new content, never a torn file.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    // Writers of the same file share its `.tmp`; one at a time (the files are small).
    static WRITE_LOCK: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _guard = WRITE_LOCK.lock();
    let io = |source| BrokerError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = with_suffix(path, ".tmp");
    {
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    if path.exists() {
        // The backup is best effort: the rename below is what makes the update atomic. It is
        // fsynced before that rename, so after a power cut the `.bak` a reader may fall back to
        // holds the whole previous content, never a torn or empty copy.
        let bak = with_suffix(path, ".bak");
        if fs::copy(path, &bak).is_ok()
            && let Ok(f) = fs::File::open(&bak)
        {
            let _ = f.sync_all();
        }
    }
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a JSON file with `parse`, falling back to `<file>.bak` when the file is missing, empty
/// or does not parse. `Ok(None)` when neither yields a value.
pub fn read_with_backup<T>(path: &Path, parse: impl Fn(&[u8]) -> Option<T>) -> Result<Option<T>> {
    for candidate in [path.to_path_buf(), with_suffix(path, ".bak")] {
        match fs::read(&candidate) {
            Ok(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
                if let Some(v) = parse(&bytes) {
                    return Ok(Some(v));
                }
                tracing::warn!(file = %candidate.display(), "unparseable config file; trying backup");
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(BrokerError::Io {
                    path: candidate.display().to_string(),
                    source,
                });
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_backup_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config/topics.json");
        write_atomic(&p, "{\"a\":1}").unwrap();
        write_atomic(&p, "{\"a\":2}").unwrap();
        let parse = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).ok();
        assert_eq!(read_with_backup(&p, parse).unwrap().unwrap()["a"], 2);
        fs::write(&p, "{garbage").unwrap();
        assert_eq!(read_with_backup(&p, parse).unwrap().unwrap()["a"], 1);
        assert!(
            read_with_backup(&dir.path().join("none.json"), parse)
                .unwrap()
                .is_none()
        );
    }
}
