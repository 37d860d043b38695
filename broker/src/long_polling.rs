//! Long polling (`PullRequestHoldService`, spec §10.1): a pull that finds nothing waits, parked
//! under its queue, until a message arrives for that queue, its hold time ends, or a periodic
//! re-check fires.
//!
//! A parked pull is just an awaiting task (the connection already runs each request on its own
//! task), so idle consumers cost one small future each. The number parked at once is capped;
//! beyond it a pull is answered at once instead of held (the consumer simply pulls again).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Wake-ups per queue.
pub struct LongPolling {
    queues: Mutex<HashMap<(String, i32), Arc<Notify>>>,
    held: AtomicUsize,
    max_held: usize,
}

/// A slot counted against the cap while a pull is parked.
pub struct HeldGuard<'a>(&'a LongPolling);

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LongPolling {
    /// At most `max_held` pulls parked at once.
    pub fn new(max_held: usize) -> Self {
        LongPolling {
            queues: Mutex::new(HashMap::new()),
            held: AtomicUsize::new(0),
            max_held: max_held.max(1),
        }
    }

    /// The wake-up of a queue, created on first use.
    pub fn notifier(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        self.queues
            .lock()
            .entry((topic.to_string(), queue_id))
            .or_default()
            .clone()
    }

    /// Wakes every pull parked on a queue (new messages arrived); a negative queue id wakes
    /// every parked pull (the store's event stream lagged).
    pub fn wake(&self, topic: &str, queue_id: i32) {
        if queue_id < 0 {
            for n in self.queues.lock().values() {
                n.notify_waiters();
            }
            return;
        }
        let n = self
            .queues
            .lock()
            .get(&(topic.to_string(), queue_id))
            .cloned();
        if let Some(n) = n {
            n.notify_waiters();
        }
    }

    /// Takes a parking slot, or `None` when the cap is reached.
    pub fn try_hold(&self) -> Option<HeldGuard<'_>> {
        let prev = self.held.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max_held {
            self.held.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(HeldGuard(self))
    }

    /// Pulls parked now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Forgets queues nobody waits on (called periodically so deleted topics do not linger).
    pub fn sweep(&self) {
        self.queues.lock().retain(|_, n| Arc::strong_count(n) > 1);
    }
}
