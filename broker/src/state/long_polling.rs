//! Long polling (`PullRequestHoldService`, spec §10.1): a pull that finds nothing waits, parked
//! under its queue, until a message arrives for that queue, its hold time ends, or a periodic
//! re-check fires.
//!
//! A parked pull is just an awaiting future (its connection's reader task drives the requests
//! that wait beside its reads), so idle consumers cost one small future each. It is dropped the
//! moment its connection closes (the connection drops its waiting handlers), which frees its
//! slot. The number
//! parked at once is capped in total and per connection; beyond either cap a pull is answered
//! SYSTEM_BUSY at once instead of held.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Wake-ups per queue.
pub struct LongPolling {
    /// Topic → queue id → wake-up. Nested so that a lookup by `&str` copies nothing: every
    /// send wakes its queue.
    queues: Mutex<HashMap<String, HashMap<i32, Arc<Notify>>>>,
    held: AtomicUsize,
    max_held: usize,
    /// Connection id → pulls parked on it.
    per_connection: Mutex<HashMap<u64, usize>>,
    max_per_connection: usize,
}

/// A slot counted against the caps while a pull is parked.
pub struct HeldGuard<'a> {
    polling: &'a LongPolling,
    conn_id: u64,
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        self.polling.held.fetch_sub(1, Ordering::AcqRel);
        let mut per = self.polling.per_connection.lock();
        if let Some(n) = per.get_mut(&self.conn_id) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.conn_id);
            }
        }
    }
}

/// Why a pull could not be parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldRefused {
    /// The broker-wide cap is reached.
    Total(usize),
    /// The connection's own cap is reached.
    Connection(usize),
}

impl LongPolling {
    /// At most `max_held` pulls parked at once, `max_per_connection` of them on one connection.
    pub fn new(max_held: usize, max_per_connection: usize) -> Self {
        LongPolling {
            queues: Mutex::new(HashMap::new()),
            held: AtomicUsize::new(0),
            max_held: max_held.max(1),
            per_connection: Mutex::new(HashMap::new()),
            max_per_connection: max_per_connection.max(1),
        }
    }

    /// The wake-up of a queue, created on first use.
    pub fn notifier(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        let mut queues = self.queues.lock();
        if !queues.contains_key(topic) {
            queues.insert(topic.to_string(), HashMap::new());
        }
        queues
            .get_mut(topic)
            .map(|m| m.entry(queue_id).or_default().clone())
            .unwrap_or_default()
    }

    /// Wakes every pull parked on a queue (new messages arrived).
    pub fn wake(&self, topic: &str, queue_id: i32) {
        let n = self
            .queues
            .lock()
            .get(topic)
            .and_then(|m| m.get(&queue_id))
            .cloned();
        if let Some(n) = n {
            n.notify_waiters();
        }
    }

    /// Takes a parking slot for a pull of connection `conn_id`, or says which cap is reached.
    pub fn try_hold(&self, conn_id: u64) -> Result<HeldGuard<'_>, HoldRefused> {
        let mut per = self.per_connection.lock();
        let mine = per.entry(conn_id).or_insert(0);
        if *mine >= self.max_per_connection {
            return Err(HoldRefused::Connection(*mine));
        }
        let prev = self.held.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max_held {
            self.held.fetch_sub(1, Ordering::AcqRel);
            if *mine == 0 {
                per.remove(&conn_id);
            }
            return Err(HoldRefused::Total(prev));
        }
        *mine += 1;
        Ok(HeldGuard {
            polling: self,
            conn_id,
        })
    }

    /// Pulls parked now on connection `conn_id`.
    pub fn held_by(&self, conn_id: u64) -> usize {
        self.per_connection
            .lock()
            .get(&conn_id)
            .copied()
            .unwrap_or(0)
    }

    /// Pulls parked now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Forgets queues nobody waits on (called periodically so deleted topics do not linger).
    pub fn sweep(&self) {
        self.queues.lock().retain(|_, m| {
            m.retain(|_, n| Arc::strong_count(n) > 1);
            !m.is_empty()
        });
    }
}
