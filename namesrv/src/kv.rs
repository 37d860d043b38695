//! The KV config store (`KVConfigManager`): namespace → key → value, persisted to
//! `kvConfig.json` after every change.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};
use remoting::body::kv::{KVConfigSerializeWrapper, KVTable};

use crate::error::{NamesrvError, Result};

/// Namespace → key → value.
type Table = BTreeMap<String, BTreeMap<String, String>>;

/// The KV store. Reads take a shared lock; writes are serialised and reach the disk before they
/// become visible, so a successful answer means the change survives a restart.
#[derive(Debug)]
pub struct KvConfigManager {
    path: PathBuf,
    table: RwLock<Table>,
    // Serialises writers so the file and the in-memory table change in the same order.
    write: Mutex<()>,
}

impl KvConfigManager {
    /// Loads `path`; a missing file is an empty store. An unreadable or corrupt file is an error
    /// rather than silently starting empty (which would lose every entry at the next write).
    pub fn load(path: &Path) -> Result<Self> {
        let table = match fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Table::new(),
            Ok(bytes) => {
                KVConfigSerializeWrapper::decode(&bytes)
                    .map_err(|e| NamesrvError::CorruptFile {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })?
                    .config_table
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Table::new(),
            Err(source) => {
                return Err(NamesrvError::Io {
                    op: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        tracing::info!(path = %path.display(), namespaces = table.len(), "kv config loaded");
        Ok(KvConfigManager {
            path: path.to_path_buf(),
            table: RwLock::new(table),
            write: Mutex::new(()),
        })
    }

    /// The file this store persists to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets `namespace/key = value` and persists.
    pub fn put(&self, namespace: &str, key: &str, value: &str) -> Result<()> {
        self.update(|t| {
            t.entry(namespace.to_string())
                .or_default()
                .insert(key.to_string(), value.to_string());
            true
        })?;
        tracing::info!(namespace, key, value, "kv config put");
        Ok(())
    }

    /// Removes `namespace/key` and persists. Returns whether it existed.
    pub fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        let existed = self.update(|t| {
            let Some(ns) = t.get_mut(namespace) else {
                return false;
            };
            let existed = ns.remove(key).is_some();
            if ns.is_empty() {
                t.remove(namespace);
            }
            existed
        })?;
        tracing::info!(namespace, key, existed, "kv config delete");
        Ok(existed)
    }

    /// The value of `namespace/key`.
    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.table.read().get(namespace)?.get(key).cloned()
    }

    /// Every entry of a namespace, or `None` when it has none.
    pub fn list(&self, namespace: &str) -> Option<KVTable> {
        let t = self.table.read();
        let ns = t.get(namespace).filter(|ns| !ns.is_empty())?;
        Some(KVTable { table: ns.clone() })
    }

    /// Applies `change` to a copy, persists the copy when `change` reports a change, then
    /// publishes it. A failed write leaves memory and disk as they were.
    fn update(&self, change: impl FnOnce(&mut Table) -> bool) -> Result<bool> {
        let _writer = self.write.lock();
        let mut next = self.table.read().clone();
        if !change(&mut next) {
            return Ok(false);
        }
        let text = KVConfigSerializeWrapper {
            config_table: next.clone(),
        }
        .encode()?;
        write_atomically(&self.path, &text)?;
        *self.table.write() = next;
        Ok(true)
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new file, never a torn
/// one: write a temp file beside it, fsync it, rename over the target, fsync the directory (the
/// rename itself is only durable once the directory is synced).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| NamesrvError::Io {
            op,
            path: p,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(io("rename", path))?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", &dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_across_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("kvConfig.json");
        let kv = KvConfigManager::load(&path).unwrap();
        assert!(kv.list("ns").is_none());
        kv.put("ns", "a", "1").unwrap();
        kv.put("ns", "b", "2").unwrap();
        kv.put("other", "c", "3").unwrap();
        assert!(kv.delete("ns", "a").unwrap());
        assert!(!kv.delete("ns", "zzz").unwrap());
        let again = KvConfigManager::load(&path).unwrap();
        assert_eq!(again.get("ns", "b").as_deref(), Some("2"));
        assert_eq!(again.get("ns", "a"), None);
        assert_eq!(again.list("other").unwrap().table["c"], "3");
        assert!(!dir.path().join("sub").join("kvConfig.json.tmp").exists());
    }

    #[test]
    fn reads_the_java_file_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kvConfig.json");
        fs::write(
            &path,
            r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"broker-a:4"}}}"#,
        )
        .unwrap();
        let kv = KvConfigManager::load(&path).unwrap();
        assert_eq!(
            kv.get("ORDER_TOPIC_CONFIG", "T").as_deref(),
            Some("broker-a:4")
        );
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            KvConfigManager::load(&path),
            Err(NamesrvError::CorruptFile { .. })
        ));
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        let kv = KvConfigManager::load(&sub.join("kvConfig.json")).unwrap();
        // The store's directory becomes a regular file, so every write fails.
        fs::write(&sub, "x").unwrap();
        assert!(kv.put("ns", "k", "v").is_err());
        assert_eq!(kv.get("ns", "k"), None);
    }
}
