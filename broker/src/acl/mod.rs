//! RocketMQ 4.x plain ACL (`aclEnable=true`): every request is checked against
//! `plain_acl.yml` before any handler sees it.
//!
//! The order of the checks is Java's (`PlainPermissionManager.validate`): a client address in
//! `globalWhiteRemoteAddresses` is let in; otherwise the request must name a known `AccessKey`;
//! a client address in that account's `whiteRemoteAddress` is let in; otherwise the signature
//! must match (see [`remoting::acl`]), an admin code needs an admin account, and each topic and
//! group the request touches needs the permission [`resource::needed`] lists. A refusal is
//! NO_PERMISSION with a remark saying which check failed; the handler never runs, so nothing
//! is stored.
//!
//! The file is read at start (a broken file stops the broker) and polled every 500 ms (Java's
//! `FileWatchService` period) by content: a changed file that parses replaces the rules at once,
//! a broken one is logged and the previous rules stay. Rotating a Kubernetes Secret (a symlink
//! swap) is seen the same way. The ACL admin codes rewrite the file atomically (temporary file
//! and rename), so a crash never leaves half a file, and a change that would not parse is never
//! written.
//!
//! - [`plain`]: the file format and the compiled rules; [`address`]: white-list patterns;
//!   [`resource`]: request code → needed permissions. The admin codes 50–54 that change the
//!   file are a request handler: [`crate::handlers::acl_admin`].

pub mod address;
pub mod plain;
pub mod resource;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use remoting::RemotingCommand;
use remoting::acl::{ACCESS_KEY, SessionCredentials};
use remoting::body::topic::DataVersion;
use serde_yaml::Value;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::BrokerConfig;
use plain::AclRules;

/// How often the file is looked at for changes (Java's FileWatchService: 500 ms).
pub const WATCH_PERIOD: Duration = Duration::from_millis(500);

/// The default location under the install directory (Java `DEFAULT_PLAIN_ACL_FILE`).
pub const DEFAULT_FILE: &str = "conf/plain_acl.yml";

/// Why the ACL could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// The file could not be read or written.
    #[error("ACL file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file's content is invalid.
    #[error("ACL file {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An ACL admin request asked for something impossible.
    #[error("{0}")]
    Refused(String),
}

/// The ACL file of a broker config: `aclPlainFile` if set (relative to `$ROCKETMQ_HOME` when
/// not absolute), else `$ROCKETMQ_HOME/conf/plain_acl.yml` (Java's location rule; without
/// `ROCKETMQ_HOME`, the working directory stands for it).
pub fn file_path(config: &BrokerConfig) -> PathBuf {
    let home = std::env::var_os("ROCKETMQ_HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    match config.acl_plain_file.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                home.join(p)
            }
        }
        _ => home.join(DEFAULT_FILE),
    }
}

/// The loaded rules and the file they came from.
pub struct AclService {
    path: PathBuf,
    rules: RwLock<Arc<AclRules>>,
    /// The file text the rules were built from (a change is a different text).
    loaded_text: Mutex<String>,
    /// Serialises the admin codes' read-modify-write of the file.
    write_lock: Mutex<()>,
    /// Version reported when the file has no `dataVersion` of its own (bumped on each reload).
    fallback_version: Mutex<DataVersion>,
}

impl std::fmt::Debug for AclService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclService")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AclService {
    /// Reads and checks the file; any problem is an error (the broker does not start).
    pub fn load(path: impl Into<PathBuf>) -> Result<Arc<Self>, AclError> {
        let path = path.into();
        let text = std::fs::read_to_string(&path).map_err(|source| AclError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let rules = plain::parse(&text).map_err(|reason| AclError::Invalid {
            path: path.display().to_string(),
            reason,
        })?;
        info!(path = %path.display(), accounts = rules.accounts.len(), "plain ACL loaded");
        Ok(Arc::new(AclService {
            path,
            rules: RwLock::new(Arc::new(rules)),
            loaded_text: Mutex::new(text),
            write_lock: Mutex::new(()),
            fallback_version: Mutex::new(DataVersion::default()),
        }))
    }

    /// The file in use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rules now in force.
    pub fn rules(&self) -> Arc<AclRules> {
        self.rules.read().clone()
    }

    /// The file's data version (its `dataVersion`, else one bumped on every reload).
    pub fn version(&self) -> DataVersion {
        self.rules()
            .data_version
            .clone()
            .unwrap_or_else(|| self.fallback_version.lock().clone())
    }

    /// Checks one request from `peer`. `Err` is the NO_PERMISSION remark.
    pub fn check(&self, peer: IpAddr, req: &RemotingCommand) -> Result<(), String> {
        let rules = self.rules();
        if rules.global_white.iter().any(|p| p.matches(peer)) {
            return Ok(());
        }
        let Some(ak) = req.ext_fields.get(ACCESS_KEY).filter(|a| !a.is_empty()) else {
            return Err(format!(
                "No accessKey is configured: request code {} from {peer} is not signed \
                 (plain ACL is enabled on this broker)",
                req.code
            ));
        };
        let Some(account) = rules.accounts.get(ak) else {
            return Err(format!("No acl config for {ak}"));
        };
        if account.white.matches(peer) {
            return Ok(());
        }
        if !remoting::acl::verify(req, &account.secret_key) {
            return Err(format!(
                "Check signature failed for accessKey={ak}: wrong secret key, or the request \
                 was changed after it was signed"
            ));
        }
        let code = req.request_code();
        if resource::needs_admin(code) && !account.admin {
            return Err(format!(
                "Need admin permission for request code={}, but accessKey={ak} is not",
                code.0
            ));
        }
        if account.admin && account.perms.is_none() {
            return Ok(());
        }
        for (res, needed) in resource::needed(req)? {
            let is_group = resource::is_group_resource(&res);
            let owned = account
                .perms
                .as_ref()
                .and_then(|p| p.get(&res).copied())
                .unwrap_or(if is_group {
                    account.default_group_perm
                } else {
                    account.default_topic_perm
                });
            if !plain::grants(needed, owned) {
                let what = match res.strip_prefix(crate::names::RETRY_GROUP_TOPIC_PREFIX) {
                    Some(g) => format!("group:{g}"),
                    None => format!("topic:{res}"),
                };
                return Err(format!(
                    "No permission for {what}: accessKey={ak} has {}, the request needs {}",
                    plain::perm_name(owned),
                    plain::perm_name(needed)
                ));
            }
        }
        Ok(())
    }

    /// Re-reads the file if its text changed. Returns true when new rules were installed; a
    /// file that does not parse (or cannot be read) is logged and the rules in force stay.
    pub fn reload_if_changed(&self) -> bool {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) => {
                // Missing for a moment during a rename or Secret update: keep the rules.
                warn!(path = %self.path.display(), error = %e, "ACL file unreadable; previous rules kept");
                return false;
            }
        };
        if *self.loaded_text.lock() == text {
            return false;
        }
        match plain::parse(&text) {
            Ok(rules) => {
                info!(path = %self.path.display(), accounts = rules.accounts.len(), "plain ACL reloaded");
                *self.rules.write() = Arc::new(rules);
                *self.loaded_text.lock() = text;
                let mut v = self.fallback_version.lock();
                v.counter += 1;
                v.timestamp = crate::state::stats::now_millis();
                true
            }
            Err(reason) => {
                error!(path = %self.path.display(), %reason, "ACL file changed but is invalid; previous rules kept");
                // Remember the broken text so the error is logged once per change.
                *self.loaded_text.lock() = text;
                false
            }
        }
    }

    /// Polls the file every [`WATCH_PERIOD`] until `shutdown`.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(WATCH_PERIOD) => {}
                }
                let me = me.clone();
                // File reads off the async workers.
                let _ = tokio::task::spawn_blocking(move || me.reload_if_changed()).await;
            }
        })
    }

    /// Credentials of the first admin account: what this broker signs its own requests to its
    /// master with (slave sync), so brokers sharing one ACL file need no other secret.
    pub fn admin_credentials(&self) -> Option<SessionCredentials> {
        let rules = self.rules();
        rules
            .configs
            .iter()
            .find(|c| c.admin)
            .map(|c| SessionCredentials::new(c.access_key.clone(), c.secret_key.clone()))
    }

    /// Applies `change` to the file's YAML document, checks the result parses, writes it
    /// atomically with a bumped `dataVersion`, and installs the new rules.
    pub fn rewrite(
        &self,
        change: impl FnOnce(&mut serde_yaml::Mapping) -> Result<(), String>,
    ) -> Result<(), AclError> {
        let _guard = self.write_lock.lock();
        let path = self.path.display().to_string();
        let text = std::fs::read_to_string(&self.path).map_err(|source| AclError::Io {
            path: path.clone(),
            source,
        })?;
        let mut doc = plain::document(&text).map_err(|reason| AclError::Invalid {
            path: path.clone(),
            reason,
        })?;
        change(&mut doc).map_err(AclError::Refused)?;
        let mut version = self.version();
        version.counter += 1;
        version.timestamp = crate::state::stats::now_millis();
        let mut v = serde_yaml::Mapping::new();
        v.insert("counter".into(), Value::from(version.counter));
        v.insert("timestamp".into(), Value::from(version.timestamp));
        doc.insert(
            "dataVersion".into(),
            Value::Sequence(vec![Value::Mapping(v)]),
        );
        let new_text = serde_yaml::to_string(&Value::Mapping(doc))
            .map_err(|e| AclError::Refused(format!("cannot render the ACL file: {e}")))?;
        let rules = plain::parse(&new_text).map_err(AclError::Refused)?;
        let tmp = self.path.with_extension("yml.tmp");
        std::fs::write(&tmp, &new_text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|source| AclError::Io {
                path: path.clone(),
                source,
            })?;
        info!(path = %path, counter = version.counter, "ACL file rewritten by an admin request");
        *self.rules.write() = Arc::new(rules);
        *self.loaded_text.lock() = new_text;
        Ok(())
    }
}
