//! The broker config as UPDATE_BROKER_CONFIG (25, `mqadmin updateBrokerConfig`) leaves it.
//!
//! The config a broker starts with is immutable (the context's `config`); this layer keeps a
//! second copy, the *live* config, that request handlers read for the keys listed in
//! [`RUN_TIME_KEYS`]. An update:
//! - refuses, with NO_PERMISSION and a remark, keys that must never change remotely
//!   ([`REFUSED_KEYS`]: paths, addresses, identity, security — CVE-2023-33246 wrote a path key
//!   and ran code) and keys this broker does not know;
//! - applies the [`RUN_TIME_KEYS`] at once (the next send, pull or check sees them);
//! - writes every accepted key to the config file (the `-c` file, else
//!   `<storePathRootDir>/config/broker.properties`, as Java persists to its config path), so the
//!   other keys take effect at the next start. Lines of other keys and comments are kept. A file
//!   that cannot be written (read-only mount) is reported in the answer; as in Java the update
//!   still holds until the broker restarts.
//!
//! All or nothing: one refused key or bad value refuses the whole update.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::config::BrokerConfig;

/// Keys whose new value takes effect at once, and where.
pub const RUN_TIME_KEYS: &[(&str, &str)] = &[
    (
        "brokerPermission",
        "sends and pulls; re-registered with the name servers",
    ),
    (
        "maxMessageSize",
        "sends (up to the size the store was opened with)",
    ),
    ("brokerFastFailureEnable", "the send queue"),
    ("waitTimeMillsInSendQueue", "the send queue"),
    ("startAcceptSendRequestTimeStamp", "sends"),
    ("rejectTransactionMessage", "sends"),
    ("slaveReadEnable", "pull answers' suggested broker"),
    ("longPollingEnable", "pulls"),
    ("shortPollingTimeMills", "pulls"),
    ("brokerSuspendMaxTimeMillis", "pulls"),
    ("enablePropertyFilter", "pulls and CHECK_CLIENT_CONFIG"),
    ("storeReplyMessageEnable", "reply messages"),
    (
        "notifyConsumerIdsChangedEnable",
        "consumer group membership notifications",
    ),
    ("transactionTimeOut", "transaction checks"),
    ("transactionCheckMax", "transaction checks"),
];

/// Keys an update may never change, with the reason given in the refusal.
pub const REFUSED_KEYS: &[(&str, &str)] = &[
    ("storePathRootDir", "a path"),
    ("storePathCommitLog", "a path"),
    ("brokerConfigPath", "a path"),
    ("rocketmqHome", "a path"),
    ("configBlackList", "the list of refused keys"),
    ("namesrvAddr", "an address"),
    ("brokerIP1", "an address"),
    ("brokerIP2", "an address"),
    ("bindAddress", "an address"),
    ("listenPort", "an address"),
    ("haListenPort", "an address"),
    ("fastListenPort", "an address"),
    ("haMasterAddress", "an address"),
    ("brokerClusterName", "the broker's identity"),
    ("brokerName", "the broker's identity"),
    ("brokerId", "the broker's identity"),
    ("brokerRole", "the broker's identity"),
    ("aclEnable", "a security setting"),
];

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateRefused {
    /// Keys that must not change remotely or are unknown (NO_PERMISSION).
    Keys(String),
    /// A value that does not parse or breaks a rule (SYSTEM_ERROR).
    Value(String),
}

/// What an accepted update did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// Keys applied at once.
    pub applied: Vec<String>,
    /// Keys written to the config file only (in effect after a restart).
    pub at_restart: Vec<String>,
    /// The file written.
    pub file: PathBuf,
    /// Why the file could not be written, if it could not (the update holds until a restart).
    pub persist_error: Option<String>,
}

/// The live config and where updates are persisted.
pub struct RuntimeConfig {
    live: RwLock<Arc<BrokerConfig>>,
    /// The config as persisted (start-up values plus every accepted update), checked as a whole.
    persisted: Mutex<BrokerConfig>,
    file: PathBuf,
    /// The largest message the store accepts (fixed when it was opened).
    store_max_message_size: u32,
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("file", &self.file)
            .finish()
    }
}

impl RuntimeConfig {
    /// The layer over `config`, persisting to `brokerConfigPath` or
    /// `<storePathRootDir>/config/broker.properties`.
    pub fn new(config: &BrokerConfig) -> Self {
        let file = match &config.broker_config_path {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(&config.store_path_root_dir)
                .join("config")
                .join("broker.properties"),
        };
        RuntimeConfig {
            live: RwLock::new(Arc::new(config.clone())),
            persisted: Mutex::new(config.clone()),
            file,
            store_max_message_size: config.max_message_size,
        }
    }

    /// The config request handlers act on now.
    pub fn get(&self) -> Arc<BrokerConfig> {
        self.live.read().clone()
    }

    /// The file updates are written to.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// Applies an update (see the module docs).
    pub fn update(&self, props: &BTreeMap<String, String>) -> Result<UpdateOutcome, UpdateRefused> {
        let mut refused = Vec::new();
        for k in props.keys() {
            if let Some((_, why)) = REFUSED_KEYS.iter().find(|(r, _)| r == k) {
                refused.push(format!("{k} ({why})"));
            } else if !BrokerConfig::KEYS.contains(&k.as_str())
                && BrokerConfig::default().get(k).is_none()
                && !is_alias(k)
            {
                refused.push(format!("{k} (unknown key)"));
            }
        }
        if !refused.is_empty() {
            return Err(UpdateRefused::Keys(format!(
                "Can not update config: {}",
                refused.join(", ")
            )));
        }
        // Serialised: two updates never interleave their file writes.
        let mut persisted = self.persisted.lock();
        let mut next = persisted.clone();
        for (k, v) in props {
            next.set(k, v)
                .map_err(|e| UpdateRefused::Value(e.to_string()))?;
        }
        next.validate()
            .map_err(|e| UpdateRefused::Value(e.to_string()))?;
        let changes: Vec<(String, String)> = props
            .keys()
            .map(|k| (k.clone(), next.get(k).unwrap_or_default()))
            .collect();
        // As Java's `Configuration.persist`, a file that cannot be written (a read-only
        // ConfigMap mount) does not undo the update: it is reported and holds until a restart.
        let persist_error = persist(&self.file, &changes)
            .err()
            .map(|e| format!("cannot write {}: {e}", self.file.display()));
        *persisted = next.clone();
        let mut outcome = UpdateOutcome {
            file: self.file.clone(),
            persist_error,
            ..Default::default()
        };
        let mut live = (*self.get()).clone();
        for k in props.keys() {
            if RUN_TIME_KEYS.iter().any(|(r, _)| r == k) {
                if let Some(v) = next.get(k) {
                    // Parsed and validated above.
                    let _ = live.set(k, &v);
                }
                outcome.applied.push(k.clone());
            } else {
                outcome.at_restart.push(k.clone());
            }
        }
        live.max_message_size = live.max_message_size.min(self.store_max_message_size);
        *self.live.write() = Arc::new(live);
        Ok(outcome)
    }
}

fn is_alias(k: &str) -> bool {
    matches!(k, "mapedFileSizeCommitLog" | "mapedFileSizeConsumeQueue")
}

/// Rewrites the values of `changes` in the properties file at `path` (other lines and comments
/// kept; keys not there yet appended), atomically.
fn persist(path: &std::path::Path, changes: &[(String, String)]) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut written = std::collections::BTreeSet::new();
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let t = line.trim_start();
        let key = t.split(['=', ':', ' ', '\t']).next().unwrap_or_default();
        if !t.starts_with('#')
            && !t.starts_with('!')
            && let Some((k, v)) = changes.iter().find(|(k, _)| k == key)
        {
            if written.insert(k.clone()) {
                out.push_str(&remoting::properties::render([(k.as_str(), v.as_str())]));
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for (k, v) in changes {
        if !written.contains(k) {
            out.push_str(&remoting::properties::render([(k.as_str(), v.as_str())]));
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    super::persist::write_atomic(path, &out).map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path) -> BrokerConfig {
        BrokerConfig {
            store_path_root_dir: dir.display().to_string(),
            broker_config_path: Some(dir.join("broker.conf").display().to_string()),
            ..Default::default()
        }
    }

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn run_time_keys_apply_and_every_key_persists() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broker.conf");
        std::fs::write(&file, "# mine\nbrokerName = b1\nfileReservedTime=72\n").unwrap();
        let rc = RuntimeConfig::new(&config(dir.path()));
        let out = rc
            .update(&props(&[
                ("slaveReadEnable", "true"),
                ("fileReservedTime", "48"),
                ("maxMessageSize", "1024"),
            ]))
            .unwrap();
        assert_eq!(out.applied, vec!["maxMessageSize", "slaveReadEnable"]);
        assert_eq!(out.at_restart, vec!["fileReservedTime"]);
        assert!(rc.get().slave_read_enable);
        assert_eq!(rc.get().max_message_size, 1024);
        assert_eq!(rc.get().file_reserved_time, 72, "applied at the next start");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# mine\nbrokerName = b1\nfileReservedTime=48\n"),
            "{text}"
        );
        assert!(text.contains("slaveReadEnable=true") && text.contains("maxMessageSize=1024"));
        // Raising the size above what the store was opened with is persisted, applied up to it.
        rc.update(&props(&[("maxMessageSize", "8388608")])).unwrap();
        assert_eq!(rc.get().max_message_size, 4_194_304);
    }

    #[test]
    fn an_unwritable_file_still_applies() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        // A directory where the file should be: the write fails.
        std::fs::create_dir_all(dir.path().join("broker.conf")).unwrap();
        c.broker_config_path = Some(dir.path().join("broker.conf").display().to_string());
        let rc = RuntimeConfig::new(&c);
        let out = rc.update(&props(&[("slaveReadEnable", "true")])).unwrap();
        assert!(out.persist_error.is_some());
        assert!(rc.get().slave_read_enable);
    }

    #[test]
    fn refusals_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let rc = RuntimeConfig::new(&config(dir.path()));
        for bad in [
            props(&[("storePathRootDir", "/tmp/x"), ("slaveReadEnable", "true")]),
            props(&[("brokerConfigPath", "/etc/cron.d/x")]),
            props(&[("namesrvAddr", "1.2.3.4:9876")]),
            props(&[("noSuchKey", "1")]),
        ] {
            assert!(
                matches!(rc.update(&bad), Err(UpdateRefused::Keys(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            rc.update(&props(&[("slaveReadEnable", "yes")])),
            Err(UpdateRefused::Value(_))
        ));
        assert!(matches!(
            rc.update(&props(&[("brokerPermission", "9")])),
            Err(UpdateRefused::Value(_))
        ));
        assert!(!rc.get().slave_read_enable);
        assert!(!dir.path().join("broker.conf").exists());
    }
}
