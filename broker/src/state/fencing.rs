//! Epoch fencing (`epochFencingEnable`, docs/failover.md): the broker's current role, id and
//! epoch, and the one check every write path asks before it stores anything:
//! [`RoleState::check_write`].
//!
//! A master may write only while all of these hold:
//! - it is a master (the role can change at run time: [`crate::handlers::role_switch`]);
//! - no newer epoch is known to it (`known == current` in the epoch file): a failover
//!   controller or a slave's HA handshake that names a newer epoch fences it for good;
//! - its lease holds: a name server accepted one of its registrations less than
//!   `fencingLeaseMillis` ago (measured from when that registration was *sent*), so a master
//!   cut off from every name server stops accepting writes before the name servers forget it
//!   and a controller can promote a slave;
//! - before its first registration, no other address is the master of its group at any name
//!   server it reaches (an old master restarted after a failover must not take the route back).
//!
//! Without `epochFencingEnable` only the role matters, as in classic 4.x.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use store::epoch::{EpochFile, EpochState};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{BrokerConfig, BrokerRole};

/// A master/slave address pair a slave follows (set by a re-point; else the name servers').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterAddrs {
    /// The master's remoting address.
    pub addr: String,
    /// The master's HA address.
    pub ha_addr: String,
}

#[derive(Debug, Clone)]
struct Current {
    role: BrokerRole,
    broker_id: i64,
    master: Option<MasterAddrs>,
    /// Set when a newer master was seen at a name server before our first registration.
    other_master: Option<String>,
}

/// Why a write is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The broker is a slave.
    Slave,
    /// A newer epoch exists: another broker is (or is being made) master.
    Fenced {
        /// The epoch this broker wrote in.
        mine: u32,
        /// The newest epoch it was told about.
        known: u32,
    },
    /// Another address is the master of this group at a name server.
    OtherMaster(String),
    /// No name server accepted a registration within the lease.
    LeaseExpired {
        /// Time since the last accepted registration was sent (`None`: never registered).
        since: Option<Duration>,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Slave => write!(f, "broker is a slave and refuses writes"),
            Refusal::Fenced { mine, known } => write!(
                f,
                "broker is fenced: it was master of epoch {mine}, epoch {known} exists"
            ),
            Refusal::OtherMaster(a) => {
                write!(
                    f,
                    "broker is fenced: {a} is the master of this group at a name server"
                )
            }
            Refusal::LeaseExpired { since: Some(d) } => write!(
                f,
                "broker is fenced: no name server accepted its registration for {} ms",
                d.as_millis()
            ),
            Refusal::LeaseExpired { since: None } => {
                write!(f, "broker is fenced: not registered with a name server yet")
            }
        }
    }
}

/// The broker's role, id and epoch, shared by the write paths, HA and registration.
pub struct RoleState {
    enabled: bool,
    lease: Duration,
    /// The master role a promotion gives when the request names none: the configured one for
    /// a master, ASYNC_MASTER for a configured slave.
    current: Mutex<Current>,
    epochs: Option<Arc<EpochFile>>,
    /// When the last registration that some name server accepted was sent.
    last_registered: Mutex<Option<Instant>>,
    lease_logged: AtomicBool,
    changes: watch::Sender<u64>,
}

impl RoleState {
    /// The state of a broker started with `config`; `epochs` is the store's epoch file (None:
    /// a store the broker did not open, or fencing off).
    pub fn new(config: &BrokerConfig, epochs: Option<Arc<EpochFile>>) -> Self {
        RoleState {
            enabled: config.epoch_fencing_enable,
            lease: Duration::from_millis(config.fencing_lease_millis),
            current: Mutex::new(Current {
                role: config.broker_role,
                broker_id: config.broker_id,
                master: None,
                other_master: None,
            }),
            epochs,
            last_registered: Mutex::new(None),
            lease_logged: AtomicBool::new(false),
            changes: watch::Sender::new(0),
        }
    }

    /// True with `epochFencingEnable`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The lease (`fencingLeaseMillis`).
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The role now.
    pub fn role(&self) -> BrokerRole {
        self.current.lock().role
    }

    /// The broker id now (0 for a master).
    pub fn broker_id(&self) -> i64 {
        self.current.lock().broker_id
    }

    /// True for a slave.
    pub fn is_slave(&self) -> bool {
        !self.role().is_master()
    }

    /// The master a re-point named, if any (it overrides the name servers' answer).
    pub fn master_override(&self) -> Option<MasterAddrs> {
        self.current.lock().master.clone()
    }

    /// The epoch file, when fencing is on and the broker opened its store.
    pub fn epochs(&self) -> Option<&Arc<EpochFile>> {
        self.epochs.as_ref()
    }

    /// The epoch state (empty when there is no epoch file).
    pub fn epoch_state(&self) -> EpochState {
        self.epochs.as_ref().map(|e| e.state()).unwrap_or_default()
    }

    /// The epoch this broker writes in (or followed last).
    pub fn epoch(&self) -> u32 {
        self.epochs
            .as_ref()
            .map_or(store::epoch::FIRST_EPOCH, |e| e.current())
    }

    /// The newest epoch this broker knows of.
    pub fn known_epoch(&self) -> u32 {
        self.epochs
            .as_ref()
            .map_or(store::epoch::FIRST_EPOCH, |e| e.known())
    }

    /// A receiver that changes whenever the role or the master to follow changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|g| *g += 1);
    }

    /// [`Self::check_write`] as a request's answer: `None` when a write may be stored now, else
    /// the remark to refuse it with.
    pub fn write_refused(&self) -> Option<String> {
        self.check_write().err().map(|r| r.to_string())
    }

    /// Whether this broker may store a write now (docs/failover.md "Fencing").
    pub fn check_write(&self) -> Result<(), Refusal> {
        // Every write asks this (a send up to three times): read under the lock, copy nothing.
        let other_master = {
            let cur = self.current.lock();
            if !cur.role.is_master() {
                return Err(Refusal::Slave);
            }
            if !self.enabled {
                return Ok(());
            }
            cur.other_master.clone()
        };
        let (mine, known) = (self.epoch(), self.known_epoch());
        if known > mine {
            return Err(Refusal::Fenced { mine, known });
        }
        if let Some(other) = other_master {
            return Err(Refusal::OtherMaster(other));
        }
        let since = self.last_registered.lock().map(|t| t.elapsed());
        match since {
            Some(d) if d < self.lease => {
                self.lease_logged.store(false, Ordering::Relaxed);
                Ok(())
            }
            since => {
                if since.is_some() && !self.lease_logged.swap(true, Ordering::Relaxed) {
                    warn!(
                        lease_ms = self.lease.as_millis() as u64,
                        "master lease expired: no name server accepted a registration; refusing writes until one does"
                    );
                }
                Err(Refusal::LeaseExpired { since })
            }
        }
    }

    /// After a put stored records: a broker fenced meanwhile (a promotion elsewhere, its lease
    /// lost) must not answer OK. Returns the refusal to answer instead (`None`: answer as the
    /// put says). The bytes stay in its log beyond the new epoch's start: they are truncated
    /// when it rejoins as a slave, and were never acknowledged.
    pub fn refuse_after_put(&self) -> Option<String> {
        if !self.enabled {
            return None;
        }
        self.write_refused()
    }

    /// True when this broker may serve its log to slaves as a master (unfenced by epoch).
    pub fn may_lead(&self) -> bool {
        self.role().is_master() && (!self.enabled || self.known_epoch() <= self.epoch())
    }

    /// Registration hook: `accepted` name servers accepted a registration sent at `sent_at`.
    pub fn note_registration(&self, sent_at: Instant, accepted: usize) {
        if accepted == 0 {
            return;
        }
        let mut l = self.last_registered.lock();
        if l.is_none_or(|t| t < sent_at) {
            *l = Some(sent_at);
        }
    }

    /// Registration hook, asked only while this master may not write (not registered yet, or
    /// its lease ran out): a name server lists `addr` (not ours) as master of our group, so a
    /// failover replaced this broker meanwhile. It fences itself and does not register (the
    /// name server would flip the route back to whichever registered last); a controller
    /// re-points it.
    pub fn note_other_master(&self, addr: &str) -> bool {
        if !self.enabled || !self.role().is_master() {
            return false;
        }
        let mut c = self.current.lock();
        if c.other_master.is_none() {
            warn!(other = %addr, "another broker is the master of this group: not registering as master, refusing writes (an old master after a failover waits to be re-pointed)");
            c.other_master = Some(addr.to_string());
        }
        true
    }

    /// True when registration must be skipped: a master that knows it is fenced does not
    /// announce itself as the group's master.
    pub fn withhold_registration(&self) -> bool {
        if !self.enabled || !self.role().is_master() {
            return false;
        }
        self.current.lock().other_master.is_some() || self.known_epoch() > self.epoch()
    }

    /// Learns of epoch `epoch` (a controller's fence, or a slave's HA handshake): durably
    /// raised, and a master of an older epoch is fenced from now on. Returns the known epoch.
    pub fn learn_epoch(&self, epoch: u32, from: &str) -> Result<u32, String> {
        let Some(f) = &self.epochs else {
            return Err("no epoch file (epochFencingEnable=false?)".into());
        };
        let before = f.raise_known(epoch).map_err(|e| e.to_string())?;
        if epoch > before {
            info!(epoch, before, from, role = %self.role(), "newer epoch learnt");
            if self.role().is_master() {
                warn!(
                    epoch,
                    mine = f.current(),
                    from,
                    "master fenced by a newer epoch: refusing writes"
                );
            }
            self.changed();
        }
        Ok(f.known())
    }

    /// Switches to master of `epoch` (> every epoch known here) at commit-log offset `start`
    /// with `role` (SYNC_MASTER or ASYNC_MASTER), brokerId 0.
    pub fn become_master(&self, epoch: u32, start: i64, role: BrokerRole) -> Result<(), String> {
        let Some(f) = &self.epochs else {
            return Err("no epoch file (epochFencingEnable=false?)".into());
        };
        if !role.is_master() {
            return Err(format!("{role} is not a master role"));
        }
        let known = f.known();
        if epoch < known || epoch <= f.current() {
            return Err(format!(
                "epoch {epoch} is not newer than this broker's (current {}, known {known})",
                f.current()
            ));
        }
        f.append(epoch, start).map_err(|e| e.to_string())?;
        {
            let mut c = self.current.lock();
            c.role = role;
            c.broker_id = 0;
            c.master = None;
            c.other_master = None;
        }
        // Not registered yet in this role: the lease starts with the first registration.
        *self.last_registered.lock() = None;
        info!(epoch, start, role = %role, "promoted to master");
        self.changed();
        Ok(())
    }

    /// Switches to slave `broker_id` (> 0) following `master` (None: whatever the name servers
    /// say), knowing epoch `epoch`.
    pub fn become_slave(
        &self,
        epoch: u32,
        broker_id: i64,
        master: Option<MasterAddrs>,
    ) -> Result<(), String> {
        if broker_id <= 0 {
            return Err(format!("a slave needs brokerId > 0, got {broker_id}"));
        }
        if let Some(f) = &self.epochs {
            f.raise_known(epoch).map_err(|e| e.to_string())?;
        }
        {
            let mut c = self.current.lock();
            c.role = BrokerRole::Slave;
            c.broker_id = broker_id;
            c.master = master.clone();
            c.other_master = None;
        }
        info!(epoch, broker_id, master = ?master, "now a slave");
        self.changed();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn state(dir: &std::path::Path, role: BrokerRole) -> RoleState {
        let config = BrokerConfig {
            epoch_fencing_enable: true,
            fencing_lease_millis: 1000,
            broker_role: role,
            broker_id: if role.is_master() { 0 } else { 1 },
            ..Default::default()
        };
        RoleState::new(&config, Some(Arc::new(EpochFile::open(dir).unwrap())))
    }

    #[test]
    fn a_master_writes_only_with_a_lease_and_no_newer_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), BrokerRole::AsyncMaster);
        assert_eq!(
            s.check_write(),
            Err(Refusal::LeaseExpired { since: None }),
            "not registered yet"
        );
        s.note_registration(Instant::now(), 1);
        assert_eq!(s.check_write(), Ok(()));
        s.note_registration(Instant::now() - Duration::from_secs(5), 1);
        assert_eq!(
            s.check_write(),
            Ok(()),
            "an older send time never shortens the lease"
        );
        *s.last_registered.lock() = Some(Instant::now() - Duration::from_millis(1500));
        assert!(matches!(
            s.check_write(),
            Err(Refusal::LeaseExpired { since: Some(_) })
        ));
        s.note_registration(Instant::now(), 1);
        assert_eq!(s.check_write(), Ok(()));
        // A newer epoch fences for good, across a restart (the file keeps it).
        s.learn_epoch(2, "test").unwrap();
        assert_eq!(s.check_write(), Err(Refusal::Fenced { mine: 1, known: 2 }));
        assert!(s.withhold_registration());
        let again = state(dir.path(), BrokerRole::AsyncMaster);
        again.note_registration(Instant::now(), 1);
        assert_eq!(
            again.check_write(),
            Err(Refusal::Fenced { mine: 1, known: 2 })
        );
    }

    #[test]
    fn promotion_needs_a_newer_epoch_and_demotion_re_points() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), BrokerRole::Slave);
        assert_eq!(s.check_write(), Err(Refusal::Slave));
        s.learn_epoch(3, "controller").unwrap();
        assert!(s.become_master(2, 100, BrokerRole::SyncMaster).is_err());
        s.become_master(3, 100, BrokerRole::SyncMaster).unwrap();
        assert_eq!(
            (s.role(), s.broker_id(), s.epoch()),
            (BrokerRole::SyncMaster, 0, 3)
        );
        s.note_registration(Instant::now(), 2);
        assert_eq!(s.check_write(), Ok(()));
        let m = MasterAddrs {
            addr: "198.18.0.9:10911".into(),
            ha_addr: "198.18.0.9:10912".into(),
        };
        s.become_slave(4, 2, Some(m.clone())).unwrap();
        assert_eq!(s.check_write(), Err(Refusal::Slave));
        assert_eq!(s.master_override(), Some(m));
        assert_eq!(s.known_epoch(), 4);
    }

    #[test]
    fn without_fencing_only_the_role_counts() {
        let s = RoleState::new(&BrokerConfig::default(), None);
        assert_eq!(s.check_write(), Ok(()));
        assert!(!s.withhold_registration());
    }
}
