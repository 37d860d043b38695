//! Which broker addresses are down, as this client saw it: the last connection to them was
//! refused or dropped, and nothing has answered on them since.
//!
//! Reads (pulls, offset queries and commits, min/max offsets) of a broker group skip a down
//! member while another member is up, so a running consumer moves to the slave on its next pull
//! after its master dies instead of at the next route poll (30 s by default), and back once the
//! master answers a heartbeat again. Writes are not affected: only a master takes them.
//!
//! Only connection failures count. A timeout says the broker is slow, not gone, and moving reads
//! away from a live master would only add load to its slave.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;
use remoting::RemotingError;

/// Down addresses and since when.
#[derive(Debug, Default)]
pub(crate) struct BrokerHealth {
    down: Mutex<HashMap<String, Instant>>,
}

impl BrokerHealth {
    /// Marks `addr` down; true when it was up before (a state change worth one log line).
    pub(crate) fn mark_down(&self, addr: &str) -> bool {
        let mut d = self.down.lock();
        if d.contains_key(addr) {
            return false;
        }
        d.insert(addr.to_string(), Instant::now());
        true
    }

    /// Marks `addr` up; true when it was down before.
    pub(crate) fn mark_up(&self, addr: &str) -> bool {
        let mut d = self.down.lock();
        if d.is_empty() {
            return false;
        }
        d.remove(addr).is_some()
    }

    /// True while `addr` is down.
    pub(crate) fn is_down(&self, addr: &str) -> bool {
        let d = self.down.lock();
        !d.is_empty() && d.contains_key(addr)
    }

    /// Forgets every address `keep` refuses (those no route lists any more).
    pub(crate) fn retain(&self, keep: impl Fn(&String) -> bool) {
        self.down.lock().retain(|a, _| keep(a));
    }
}

/// True for failures that say nothing listens at the address any more (refused or reset
/// connection, closed before the answer), as opposed to a slow answer or an error code.
pub(crate) fn is_connection_failure(e: &RemotingError) -> bool {
    matches!(
        e,
        RemotingError::Connect { .. } | RemotingError::ConnectionClosed(_) | RemotingError::Io(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_are_reported_once() {
        let h = BrokerHealth::default();
        assert!(!h.is_down("a:1"));
        assert!(!h.mark_up("a:1"));
        assert!(h.mark_down("a:1"));
        assert!(!h.mark_down("a:1"));
        assert!(h.is_down("a:1"));
        assert!(h.mark_up("a:1"));
        assert!(!h.is_down("a:1"));
        h.mark_down("b:1");
        h.retain(|a| a != "b:1");
        assert!(!h.is_down("b:1"));
    }

    #[test]
    fn only_connection_failures_count() {
        let refused = RemotingError::Connect {
            addr: "a:1".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert!(is_connection_failure(&refused));
        assert!(is_connection_failure(&RemotingError::ConnectionClosed(
            "a:1".into()
        )));
        assert!(!is_connection_failure(&RemotingError::Timeout {
            addr: "a:1".into(),
            millis: 10
        }));
    }
}
