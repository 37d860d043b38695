//! Consumed offsets of a consumer group, kept in memory and committed every
//! `persist_consumer_offset_interval`, when a queue is taken away by a rebalance, and on
//! shutdown: to the brokers for clustering groups (Java `RemoteBrokerOffsetStore`), to a local
//! file for broadcasting ones (Java `LocalFileOffsetStore`: each member keeps its own progress in
//! `<dir>/<clientId>/<group>/offsets.json`, Java's `OffsetSerializeWrapper` layout).

use std::collections::HashMap;

use parking_lot::Mutex;
use remoting::body::client::MessageQueue;
use tracing::{debug, warn};

use crate::error::Result;
use crate::instance::ClientInstance;

#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: i64,
    /// The value the broker last acknowledged, to skip redundant commits.
    persisted: Option<i64>,
}

/// One group's offsets.
pub struct OffsetStore {
    group: String,
    instance: ClientInstance,
    table: Mutex<HashMap<MessageQueue, Entry>>,
    /// Broadcasting: the local offsets file instead of the brokers.
    local_file: Option<std::path::PathBuf>,
}

/// Java `OffsetSerializeWrapper`: the local offsets file.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OffsetFile {
    offset_table: remoting::fastjson::ObjectKeyMap<MessageQueue, i64>,
}

impl std::fmt::Debug for OffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetStore")
            .field("group", &self.group)
            .finish()
    }
}

impl OffsetStore {
    /// An empty store for `group`.
    pub fn new(group: impl Into<String>, instance: ClientInstance) -> Self {
        OffsetStore {
            group: group.into(),
            instance,
            table: Mutex::new(HashMap::new()),
            local_file: None,
        }
    }

    /// A store for a broadcasting member, kept in `<dir>/<clientId>/<group>/offsets.json`.
    pub fn new_local(
        group: impl Into<String>,
        instance: ClientInstance,
        dir: &std::path::Path,
    ) -> Self {
        let group = group.into();
        let file = dir
            .join(instance.client_id().replace(['/', '\\'], "_"))
            .join(group.replace(['/', '\\'], "_"))
            .join("offsets.json");
        OffsetStore {
            group,
            instance,
            table: Mutex::new(HashMap::new()),
            local_file: Some(file),
        }
    }

    /// The local offsets file of a broadcasting store.
    pub fn local_file(&self) -> Option<&std::path::Path> {
        self.local_file.as_deref()
    }

    fn load_local(&self, path: &std::path::Path) -> Result<HashMap<MessageQueue, i64>> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => {
                return Err(crate::error::ClientError::State(format!(
                    "{}: {e}",
                    path.display()
                )));
            }
        };
        let f: OffsetFile = remoting::fastjson::from_slice(&text)?;
        Ok(f.offset_table
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect())
    }

    fn save_local(&self, path: &std::path::Path) -> Result<()> {
        let mut file = OffsetFile::default();
        for (mq, e) in self.table.lock().iter() {
            file.offset_table.insert(mq.clone(), e.offset);
        }
        let bytes = remoting::fastjson::to_vec_object_keys(&file)?;
        let io = |e: std::io::Error| {
            crate::error::ClientError::State(format!("{}: {e}", path.display()))
        };
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        // Written aside and renamed: a crash never leaves a torn file.
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        for e in self.table.lock().values_mut() {
            e.persisted = Some(e.offset);
        }
        Ok(())
    }

    /// Records `offset` for `mq`; with `increase_only` a smaller value is ignored (late
    /// completions must not move the commit point back).
    pub fn update(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        if offset < 0 {
            return;
        }
        let mut t = self.table.lock();
        match t.get_mut(mq) {
            Some(e) => {
                if !increase_only || offset > e.offset {
                    e.offset = offset;
                }
            }
            None => {
                t.insert(
                    mq.clone(),
                    Entry {
                        offset,
                        persisted: None,
                    },
                );
            }
        }
    }

    /// The offset held in memory for `mq`.
    pub fn read_local(&self, mq: &MessageQueue) -> Option<i64> {
        self.table.lock().get(mq).map(|e| e.offset)
    }

    /// The group's offset of `mq` as committed on the broker (`None`: never committed); a hit
    /// is also remembered locally.
    pub async fn read_from_broker(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        let o = match &self.local_file {
            Some(path) => self.load_local(path)?.get(mq).copied(),
            None => self.instance.query_consumer_offset(&self.group, mq).await?,
        };
        if let Some(o) = o {
            let mut t = self.table.lock();
            let e = t.entry(mq.clone()).or_insert(Entry {
                offset: o,
                persisted: Some(o),
            });
            e.offset = o;
            e.persisted = Some(o);
        }
        Ok(o)
    }

    /// Commits `mq`'s offset to its broker if it changed since the last commit.
    pub async fn persist(&self, mq: &MessageQueue) -> Result<()> {
        let Some(e) = self.table.lock().get(mq).copied() else {
            return Ok(());
        };
        if e.persisted == Some(e.offset) {
            return Ok(());
        }
        if let Some(path) = &self.local_file {
            return self.save_local(path);
        }
        self.instance
            .update_consumer_offset(&self.group, mq, e.offset)
            .await?;
        if let Some(cur) = self.table.lock().get_mut(mq) {
            cur.persisted = Some(e.offset);
        }
        debug!(group = %self.group, topic = %mq.topic, broker = %mq.broker_name, queue_id = mq.queue_id, offset = e.offset, "offset committed");
        Ok(())
    }

    /// Commits every queue of `mqs` that changed; failures are logged and retried next time.
    pub async fn persist_all(&self, mqs: &[MessageQueue]) {
        if let Some(path) = &self.local_file {
            if let Err(e) = self.save_local(path) {
                warn!(group = %self.group, error = %e, "local offset file not written");
            }
            return;
        }
        for mq in mqs {
            if let Err(e) = self.persist(mq).await {
                warn!(group = %self.group, topic = %mq.topic, queue_id = mq.queue_id, error = %e, "offset commit failed");
            }
        }
    }

    /// Forgets `mq` (after its final commit on removal).
    pub fn remove(&self, mq: &MessageQueue) {
        self.table.lock().remove(mq);
    }

    /// Every queue held.
    pub fn queues(&self) -> Vec<MessageQueue> {
        self.table.lock().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientConfig;

    #[test]
    fn increase_only_never_moves_back() {
        let s = OffsetStore::new(
            "G",
            ClientInstance::new(ClientConfig::new("127.0.0.1:1")).unwrap(),
        );
        let mq = MessageQueue::new("T", "b", 0);
        assert_eq!(s.read_local(&mq), None);
        s.update(&mq, 5, true);
        s.update(&mq, 3, true);
        assert_eq!(s.read_local(&mq), Some(5));
        s.update(&mq, 3, false);
        assert_eq!(s.read_local(&mq), Some(3));
        s.update(&mq, -1, false);
        assert_eq!(s.read_local(&mq), Some(3));
        s.remove(&mq);
        assert!(s.queues().is_empty());
    }
}
