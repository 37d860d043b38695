//! The roles a failover gave local brokers, kept across restarts (docs/local-mode.md
//! "Failover").
//!
//! The cluster file fixes each group's master at ordinal 0; after the failover controller has
//! promoted a slave, restarting that broker (the supervisor's restart, or `operator local` run
//! again on the same `--dir`) with its rendered broker.conf would bring it back with its old
//! role. So every promotion and re-point is recorded in `<dir>/failover-roles` (one line per
//! broker: `<process name> <brokerId>`, id 0 = master) and applied to the rendered broker.conf
//! (`brokerId`, `brokerRole`) before any broker starts; the broker.conf of the affected brokers
//! is rewritten at once, so a crash of the supervisor right after a failover loses nothing.
//!
//! Only the role comes from here: every other key is rendered from the cluster file as always,
//! and a master takes the group's master role as the file says it (SYNC_MASTER or
//! ASYNC_MASTER). The epoch files in the stores carry the rest of the failover's state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::failover::Event;
use super::{LocalPlan, LocalProcess, Role};

/// The file in `--dir`.
pub const ROLES_FILE: &str = "failover-roles";

/// Current broker ids by process name (0 = master); only brokers a failover moved are listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentRoles(pub BTreeMap<String, i64>);

/// A damaged roles file: refused, since guessing could start two masters.
#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    /// Unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line that is not `<name> <id>`.
    #[error(
        "{path}:{line}: expected `<broker process> <brokerId>`, found {text:?} (delete the file to fall back to the cluster file's roles)"
    )]
    Bad {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
}

impl CurrentRoles {
    /// Reads `<dir>/failover-roles`; a missing file is an empty table.
    pub fn load(dir: &Path) -> Result<CurrentRoles, RolesError> {
        let path = dir.join(ROLES_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(RolesError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        Self::parse(&text).map_err(|(line, text)| RolesError::Bad {
            path: path.display().to_string(),
            line,
            text,
        })
    }

    fn parse(text: &str) -> Result<CurrentRoles, (usize, String)> {
        let mut out = BTreeMap::new();
        for (i, l) in text.lines().enumerate() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut f = l.split_whitespace();
            match (f.next(), f.next().map(str::parse::<i64>), f.next()) {
                (Some(name), Some(Ok(id)), None) if id >= 0 => {
                    out.insert(name.to_string(), id);
                }
                _ => return Err((i + 1, l.to_string())),
            }
        }
        Ok(CurrentRoles(out))
    }

    /// Writes the table (temporary file, fsync, rename).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut text = String::from(
            "# Written by operator local after failovers: broker process, brokerId (0 = master).\n",
        );
        for (name, id) in &self.0 {
            text.push_str(&format!("{name} {id}\n"));
        }
        let path = dir.join(ROLES_FILE);
        let tmp = dir.join(format!("{ROLES_FILE}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

/// `key=value` set in properties text (replacing the key's line, else appended).
fn set_key(text: &str, key: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + key.len() + value.len() + 2);
    let mut found = false;
    for l in text.lines() {
        if l.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            if !found {
                out.push_str(&format!("{key}={value}\n"));
            }
            found = true;
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !found {
        out.push_str(&format!("{key}={value}\n"));
    }
    out
}

/// The value of `key` in properties text.
pub(super) fn key<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

/// The master role of `p`'s group as the cluster file renders it (the role of its master).
fn group_master_role(local: &LocalPlan, group: &str) -> String {
    local
        .processes
        .iter()
        .filter(|p| p.binary == "broker" && key(&p.config.1, "brokerName") == Some(group))
        .filter_map(|p| key(&p.config.1, "brokerRole"))
        .find(|r| *r != "SLAVE")
        .unwrap_or("ASYNC_MASTER")
        .to_string()
}

/// Gives `p` broker id `id` (0: master with `master_role`) in its config and role.
fn assign(p: &mut LocalProcess, id: i64, master_role: &str) {
    let role = if id == 0 { master_role } else { "SLAVE" };
    p.config.1 = set_key(&p.config.1, "brokerId", &id.to_string());
    p.config.1 = set_key(&p.config.1, "brokerRole", role);
    p.role = if id == 0 { Role::Master } else { Role::Slave };
}

/// Applies `roles` to the rendered plan before anything starts (masters then start first, as
/// always). Unknown names (a broker the file no longer has) are ignored. Refused when the result
/// gives a group two brokers the same id (two masters included): a hand-edited file, or one
/// from another cluster file.
pub fn apply(local: &mut LocalPlan, roles: &CurrentRoles) -> Result<(), String> {
    let master_roles: BTreeMap<String, String> = local
        .processes
        .iter()
        .filter_map(|p| key(&p.config.1, "brokerName"))
        .map(|g| (g.to_string(), group_master_role(local, g)))
        .collect();
    for p in local.processes.iter_mut().filter(|p| p.binary == "broker") {
        if let Some(id) = roles.0.get(&p.name) {
            let mr = key(&p.config.1, "brokerName")
                .and_then(|g| master_roles.get(g))
                .cloned()
                .unwrap_or_else(|| "ASYNC_MASTER".to_string());
            assign(p, *id, &mr);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in local.processes.iter().filter(|p| p.binary == "broker") {
        let (group, id) = (key(&p.config.1, "brokerName"), key(&p.config.1, "brokerId"));
        if !seen.insert((group, id)) {
            return Err(format!(
                "{ROLES_FILE} gives two brokers of {} brokerId {} (delete the file to fall back to the cluster file's roles)",
                group.unwrap_or("?"),
                id.unwrap_or("?")
            ));
        }
    }
    // Name servers first, then masters, then slaves (a stable sort keeps the rest in order).
    local.processes.sort_by_key(|p| match p.role {
        Role::NameServer => 0,
        Role::Master => 1,
        Role::Slave => 2,
        Role::Console => 3,
    });
    Ok(())
}

/// The process at `127.0.0.1:<port>`.
fn by_addr(processes: &[&mut LocalProcess], addr: &str) -> Option<usize> {
    let port = addr.rsplit_once(':')?.1.parse::<u16>().ok()?;
    processes
        .iter()
        .position(|p| p.binary == "broker" && p.port == port)
}

/// Records what `event` changed in `processes` (the supervisor's copies, which restarts use)
/// and `roles`; returns the processes whose broker.conf must be rewritten (indexes).
///
/// A promotion makes the new master id 0 and the group's other master (the lost one, named by
/// the event or else the one recorded as master) a slave with the promoted slave's former id,
/// at once: restarted before the controller re-points it, the old master then comes back as a
/// slave instead of competing for the route. A re-point records the id it gave.
pub fn on_event(
    processes: &mut [&mut LocalProcess],
    roles: &mut CurrentRoles,
    master_role_of: impl Fn(&str) -> String,
    event: &Event,
) -> Vec<usize> {
    let mut changed = Vec::new();
    let mut set = |processes: &mut [&mut LocalProcess], i: usize, id: i64, mr: &str| {
        let p = &mut *processes[i];
        if key(&p.config.1, "brokerId") != Some(id.to_string().as_str()) {
            assign(p, id, mr);
            changed.push(i);
        }
        roles.0.insert(p.name.clone(), id);
    };
    match event {
        Event::Failover {
            group,
            old_master,
            new_master,
            ..
        } => {
            let Some(new) = by_addr(processes, new_master) else {
                return changed;
            };
            let mr = master_role_of(group);
            let former_id = key(&processes[new].config.1, "brokerId")
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|id| *id > 0)
                .unwrap_or(1);
            let old = old_master
                .as_deref()
                .and_then(|a| by_addr(processes, a))
                .filter(|o| *o != new)
                .or_else(|| {
                    processes.iter().position(|p| {
                        p.port != processes[new].port
                            && key(&p.config.1, "brokerName") == Some(group.as_str())
                            && p.role == Role::Master
                    })
                });
            if let Some(old) = old {
                set(processes, old, former_id, &mr);
            }
            set(processes, new, 0, &mr);
        }
        Event::Rejoined {
            broker, broker_id, ..
        } => {
            if let Some(i) = by_addr(processes, broker) {
                set(processes, i, *broker_id, "SLAVE");
            }
        }
        Event::Blocked { .. } => {}
    }
    changed
}

/// Rewrites `p`'s broker.conf now (the next start writes the same text).
pub fn rewrite(p: &LocalProcess) -> std::io::Result<PathBuf> {
    std::fs::write(&p.config.0, &p.config.1)?;
    Ok(p.config.0.clone())
}

/// The master role of every group as the (unmodified) plan renders it.
pub fn master_roles(local: &LocalPlan) -> BTreeMap<String, String> {
    local
        .processes
        .iter()
        .filter(|p| p.binary == "broker")
        .filter_map(|p| key(&p.config.1, "brokerName"))
        .map(|g| (g.to_string(), group_master_role(local, g)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(name: &str, port: u16, group: &str, id: i64, role: &str) -> LocalProcess {
        LocalProcess {
            name: name.into(),
            role: if id == 0 { Role::Master } else { Role::Slave },
            port,
            dir: PathBuf::from("/nonexistent"),
            config: (
                PathBuf::from("/nonexistent/broker.conf"),
                format!(
                    "brokerName={group}\nbrokerId={id}\nbrokerRole={role}\nlistenPort={port}\n"
                ),
            ),
            binary: "broker",
            args: Vec::new(),
        }
    }

    #[test]
    fn the_file_round_trips_and_nonsense_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            CurrentRoles::load(dir.path()).unwrap(),
            CurrentRoles::default()
        );
        let mut r = CurrentRoles::default();
        r.0.insert("c-broker-0-0".into(), 1);
        r.0.insert("c-broker-0-1".into(), 0);
        r.save(dir.path()).unwrap();
        assert_eq!(CurrentRoles::load(dir.path()).unwrap(), r);
        for bad in ["c-broker-0-0\n", "c-broker-0-0 x\n", "a 1 2\n", "a -1\n"] {
            std::fs::write(dir.path().join(ROLES_FILE), bad).unwrap();
            let e = CurrentRoles::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains(":1: expected"), "{e}");
        }
    }

    /// A 1m-2s SYNC group as the cluster file renders it.
    fn as_rendered() -> Vec<LocalProcess> {
        vec![
            broker("c-broker-0-0", 10911, "a", 0, "SYNC_MASTER"),
            broker("c-broker-0-1", 10921, "a", 1, "SLAVE"),
            broker("c-broker-0-2", 10931, "a", 2, "SLAVE"),
        ]
    }

    #[test]
    fn a_failover_swaps_ids_and_roles_and_a_restart_plan_keeps_them() {
        let mut local = LocalPlan {
            processes: as_rendered(),
            namesrv_addr: String::new(),
        };
        let roles_of = master_roles(&local);
        let mut roles = CurrentRoles::default();
        let event = Event::Failover {
            group: "a".into(),
            old_master: None,
            new_master: "127.0.0.1:10931".into(),
            epoch: 2,
            start: 0,
            last_seen_end: None,
            detect_ms: 0,
        };
        let mut ps: Vec<&mut LocalProcess> = local.processes.iter_mut().collect();
        let changed = on_event(&mut ps, &mut roles, |g| roles_of[g].clone(), &event);
        assert_eq!(changed, vec![0, 2]);
        assert_eq!(
            key(&local.processes[2].config.1, "brokerRole"),
            Some("SYNC_MASTER")
        );
        assert_eq!(key(&local.processes[2].config.1, "brokerId"), Some("0"));
        assert_eq!(local.processes[2].role, Role::Master);
        assert_eq!(
            key(&local.processes[0].config.1, "brokerRole"),
            Some("SLAVE")
        );
        assert_eq!(key(&local.processes[0].config.1, "brokerId"), Some("2"));
        // A re-point to the id it already has changes no file.
        let rejoin = Event::Rejoined {
            group: "a".into(),
            broker: "127.0.0.1:10911".into(),
            broker_id: 2,
            master: "127.0.0.1:10931".into(),
        };
        let mut ps: Vec<&mut LocalProcess> = local.processes.iter_mut().collect();
        assert!(on_event(&mut ps, &mut roles, |g| roles_of[g].clone(), &rejoin).is_empty());

        // A fresh plan (rendered from the file again) with the recorded roles applied.
        let mut fresh = LocalPlan {
            processes: as_rendered(),
            namesrv_addr: String::new(),
        };
        apply(&mut fresh, &roles).unwrap();
        let order: Vec<(&str, Option<&str>, Option<&str>)> = fresh
            .processes
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    key(&p.config.1, "brokerId"),
                    key(&p.config.1, "brokerRole"),
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                ("c-broker-0-2", Some("0"), Some("SYNC_MASTER")),
                ("c-broker-0-0", Some("2"), Some("SLAVE")),
                ("c-broker-0-1", Some("1"), Some("SLAVE")),
            ]
        );
    }

    #[test]
    fn a_file_giving_a_group_two_masters_is_refused() {
        let mut local = LocalPlan {
            processes: as_rendered(),
            namesrv_addr: String::new(),
        };
        let mut roles = CurrentRoles::default();
        roles.0.insert("c-broker-0-1".into(), 0);
        let e = apply(&mut local, &roles).unwrap_err();
        assert!(e.contains("two brokers of a brokerId 0"), "{e}");
    }

    #[test]
    fn set_key_replaces_or_appends() {
        assert_eq!(set_key("a=1\nb=2\n", "b", "3"), "a=1\nb=3\n");
        assert_eq!(set_key("a=1", "b", "3"), "a=1\nb=3\n");
    }
}
