//! Queue locks for orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ, spec §3.8, §10.6): each
//! (group, queue) is held by at most one client id, until it unlocks or 60 s pass without renewal.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use remoting::body::client::MessageQueue;

/// A lock expires this long after its last renewal (`rocketmq.broker.rebalance.lockMaxLiveTime`).
pub const LOCK_MAX_LIVE: Duration = Duration::from_secs(60);

struct Entry {
    client_id: String,
    last_update: Instant,
}

/// All queue locks of the broker.
#[derive(Default)]
pub struct RebalanceLockManager {
    locks: Mutex<HashMap<String, HashMap<MessageQueue, Entry>>>,
}

impl RebalanceLockManager {
    /// Locks (or renews) what is free or already `client_id`'s; returns the queues now held by it.
    pub fn try_lock_batch(
        &self,
        group: &str,
        mqs: &BTreeSet<MessageQueue>,
        client_id: &str,
    ) -> BTreeSet<MessageQueue> {
        let now = Instant::now();
        let mut all = self.locks.lock();
        let g = all.entry(group.to_string()).or_default();
        let mut out = BTreeSet::new();
        for mq in mqs {
            match g.get_mut(mq) {
                Some(e) if e.client_id == client_id => {
                    e.last_update = now;
                    out.insert(mq.clone());
                }
                Some(e) if now.duration_since(e.last_update) <= LOCK_MAX_LIVE => {}
                _ => {
                    g.insert(
                        mq.clone(),
                        Entry {
                            client_id: client_id.to_string(),
                            last_update: now,
                        },
                    );
                    out.insert(mq.clone());
                }
            }
        }
        out
    }

    /// Unlocks the queues `client_id` holds.
    pub fn unlock_batch(&self, group: &str, mqs: &BTreeSet<MessageQueue>, client_id: &str) {
        let mut all = self.locks.lock();
        if let Some(g) = all.get_mut(group) {
            for mq in mqs {
                if g.get(mq).is_some_and(|e| e.client_id == client_id) {
                    g.remove(mq);
                }
            }
            if g.is_empty() {
                all.remove(group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_per_queue() {
        let m = RebalanceLockManager::default();
        let mqs: BTreeSet<_> = (0..2).map(|q| MessageQueue::new("T", "b", q)).collect();
        assert_eq!(m.try_lock_batch("G", &mqs, "c1").len(), 2);
        assert!(m.try_lock_batch("G", &mqs, "c2").is_empty());
        assert_eq!(m.try_lock_batch("G2", &mqs, "c2").len(), 2);
        m.unlock_batch("G", &mqs, "c1");
        assert_eq!(m.try_lock_batch("G", &mqs, "c2").len(), 2);
    }
}
