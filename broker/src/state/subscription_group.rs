//! Subscription groups (`SubscriptionGroupManager`): per-group consume settings, auto-created on
//! first use when `autoCreateSubscriptionGroup`, persisted to `subscriptionGroup.json`.

use std::path::PathBuf;

use parking_lot::RwLock;
pub use remoting::body::admin::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
use tracing::{info, warn};

use crate::error::Result;
use crate::names;
use crate::state::persist;

/// Groups every Java broker knows.
const SYSTEM_GROUPS: &[&str] = &[
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRANS",
];

/// The broker's subscription groups.
pub struct SubscriptionGroupManager {
    path: PathBuf,
    auto_create: bool,
    table: RwLock<SubscriptionGroupWrapper>,
}

impl SubscriptionGroupManager {
    /// Loads `subscriptionGroup.json` (or its backup) and adds the system groups.
    pub fn load(path: PathBuf, auto_create: bool) -> Result<Self> {
        let loaded = persist::read_with_backup(&path, |b| {
            remoting::fastjson::from_slice::<SubscriptionGroupWrapper>(b).ok()
        })?;
        let mut table = loaded.unwrap_or_default();
        table.subscription_group_table.retain(|g, _| {
            let ok = names::check_group(g).is_ok();
            if !ok {
                warn!(group = %g, "dropping invalid group name from subscriptionGroup.json");
            }
            ok
        });
        for g in SYSTEM_GROUPS {
            table
                .subscription_group_table
                .entry(g.to_string())
                .or_insert_with(|| SubscriptionGroupConfig::new(*g));
        }
        let m = SubscriptionGroupManager {
            path,
            auto_create,
            table: RwLock::new(table),
        };
        m.persist()?;
        Ok(m)
    }

    /// A group's config, if it exists.
    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.table
            .read()
            .subscription_group_table
            .get(group)
            .cloned()
    }

    /// A group's config, creating it with defaults when auto-creation is on.
    pub fn find_or_create(&self, group: &str) -> Result<Option<SubscriptionGroupConfig>> {
        if let Some(g) = self.get(group) {
            return Ok(Some(g));
        }
        if !self.auto_create || names::check_group(group).is_err() {
            return Ok(None);
        }
        let g = SubscriptionGroupConfig::new(group);
        self.upsert(g.clone())?;
        Ok(Some(g))
    }

    /// Creates or replaces a group.
    pub fn upsert(&self, g: SubscriptionGroupConfig) -> Result<()> {
        {
            let mut t = self.table.write();
            t.subscription_group_table
                .insert(g.group_name.clone(), g.clone());
            t.data_version.next_version();
        }
        info!(group = %g.group_name, "subscription group updated");
        self.persist()
    }

    /// Removes a group; whether it existed.
    pub fn delete(&self, group: &str) -> Result<bool> {
        let existed = {
            let mut t = self.table.write();
            let e = t.subscription_group_table.remove(group).is_some();
            if e {
                t.data_version.next_version();
            }
            e
        };
        if existed {
            info!(group, "subscription group deleted");
            self.persist()?;
        }
        Ok(existed)
    }

    /// A copy of the table.
    pub fn snapshot(&self) -> SubscriptionGroupWrapper {
        self.table.read().clone()
    }

    fn persist(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&*self.table.read()).unwrap_or_default();
        persist::write_atomic(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_persist_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("subscriptionGroup.json");
        let m = SubscriptionGroupManager::load(p.clone(), true).unwrap();
        assert!(m.find_or_create("CG1").unwrap().is_some());
        assert!(m.find_or_create("../bad").unwrap().is_none());
        let mut g = m.get("CG1").unwrap();
        g.retry_max_times = 3;
        m.upsert(g).unwrap();
        let m = SubscriptionGroupManager::load(p, false).unwrap();
        assert_eq!(m.get("CG1").unwrap().retry_max_times, 3);
        assert!(m.find_or_create("CG2").unwrap().is_none());
        assert!(m.get("TOOLS_CONSUMER").is_some());
    }
}
