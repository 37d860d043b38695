//! The consumer's in-memory view of one assigned queue (Java `ProcessQueue`): messages pulled
//! but not yet consumed, and the offset that is safe to commit.
//!
//! Only the lowest unconsumed offset is ever committed: with concurrent consumption message 7 may
//! finish before message 5, and committing 8 then would skip 5 after a crash or rebalance. So the
//! commit point is the smallest offset still held, or one past the largest offset seen when
//! nothing is held.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::message::MessageExt;

/// How long a broker lock is trusted without renewal (Java `rocketmq.client.rebalance.lockMaxLiveTime`).
pub const LOCK_MAX_LIVE: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct State {
    /// Offset → message, pulled and not yet consumed.
    msgs: BTreeMap<i64, MessageExt>,
    /// Orderly only: the batch handed to the listener now.
    consuming: BTreeMap<i64, MessageExt>,
    /// Largest queue offset ever put, -1 before the first.
    max_offset: i64,
    last_lock: Option<Instant>,
}

/// One assigned queue's pending messages and flags.
#[derive(Debug)]
pub struct ProcessQueue {
    state: Mutex<State>,
    dropped: AtomicBool,
    /// Set once the removal has committed the final offset: later updates must not be sent.
    frozen: AtomicBool,
    locked: AtomicBool,
    /// Listener calls running now.
    in_flight: AtomicUsize,
    /// Orderly: serialises consumption of this queue (one batch at a time).
    pub(crate) consume_lock: tokio::sync::Mutex<()>,
}

impl Default for ProcessQueue {
    fn default() -> Self {
        ProcessQueue {
            state: Mutex::new(State {
                max_offset: -1,
                ..Default::default()
            }),
            dropped: AtomicBool::new(false),
            frozen: AtomicBool::new(false),
            locked: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            consume_lock: tokio::sync::Mutex::new(()),
        }
    }
}

impl ProcessQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds pulled messages; offsets already held are ignored. Returns the messages that were
    /// new, the only ones to hand to the listener.
    pub fn put(&self, msgs: Vec<MessageExt>) -> Vec<MessageExt> {
        let mut st = self.state.lock();
        let mut added = Vec::with_capacity(msgs.len());
        for m in msgs {
            if st.msgs.contains_key(&m.queue_offset) || st.consuming.contains_key(&m.queue_offset) {
                continue;
            }
            st.msgs.insert(m.queue_offset, m.clone());
            st.max_offset = st.max_offset.max(m.queue_offset);
            added.push(m);
        }
        added
    }

    /// Removes consumed messages and returns the offset now safe to commit: the smallest offset
    /// still held, or one past the largest seen. `None` when nothing was held (nothing changes).
    pub fn remove(&self, offsets: &[i64]) -> Option<i64> {
        let mut st = self.state.lock();
        if st.msgs.is_empty() {
            return None;
        }
        for o in offsets {
            st.msgs.remove(o);
        }
        Some(Self::commit_point(&st))
    }

    fn commit_point(st: &State) -> i64 {
        match (st.msgs.keys().next(), st.consuming.keys().next()) {
            (Some(a), Some(b)) => *a.min(b),
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            (None, None) => st.max_offset + 1,
        }
    }

    /// Messages held (not yet consumed), including an orderly batch in progress.
    pub fn count(&self) -> usize {
        let st = self.state.lock();
        st.msgs.len() + st.consuming.len()
    }

    /// Smallest offset held, if any.
    pub fn min_held_offset(&self) -> Option<i64> {
        let st = self.state.lock();
        match (st.msgs.keys().next(), st.consuming.keys().next()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Time since the last successful lock, if any.
    pub fn last_lock_age(&self) -> Option<std::time::Duration> {
        self.state.lock().last_lock.map(|t| t.elapsed())
    }

    /// Largest offset ever put, -1 before the first.
    pub fn max_offset(&self) -> i64 {
        self.state.lock().max_offset
    }

    /// Orderly: takes up to `n` messages in offset order into the in-progress batch.
    pub fn take(&self, n: usize) -> Vec<MessageExt> {
        let mut st = self.state.lock();
        let mut out = Vec::new();
        while out.len() < n {
            let Some((o, m)) = st.msgs.pop_first() else {
                break;
            };
            st.consuming.insert(o, m.clone());
            out.push(m);
        }
        out
    }

    /// Orderly: the in-progress batch is consumed; returns the offset to commit (one past the
    /// batch's last offset, or the smallest still held), `None` when there was no batch.
    pub fn commit(&self) -> Option<i64> {
        let mut st = self.state.lock();
        let last = *st.consuming.keys().next_back()?;
        st.consuming.clear();
        Some(match st.msgs.keys().next() {
            Some(first) => (*first).min(last + 1),
            None => last + 1,
        })
    }

    /// Orderly: the in-progress batch failed; put it back to be taken again, in order.
    pub fn make_available_again(&self) {
        let mut st = self.state.lock();
        let consuming = std::mem::take(&mut st.consuming);
        st.msgs.extend(consuming);
    }

    /// True once the queue was taken away (rebalance, shutdown, offset reset).
    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    /// Marks the queue dropped: its pull loop stops and queued consumption is skipped.
    pub fn set_dropped(&self) {
        self.dropped.store(true, Ordering::Release);
    }

    /// True once the final offset was committed.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// Marks the final offset committed.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    /// Orderly: records a successful broker lock now.
    pub fn set_locked(&self, locked: bool) {
        self.locked.store(locked, Ordering::Release);
        if locked {
            self.state.lock().last_lock = Some(Instant::now());
        }
    }

    /// Orderly: locked on the broker and renewed within [`LOCK_MAX_LIVE`].
    pub fn is_lock_valid(&self) -> bool {
        self.locked.load(Ordering::Acquire)
            && self
                .state
                .lock()
                .last_lock
                .is_some_and(|t| t.elapsed() < LOCK_MAX_LIVE)
    }

    pub(crate) fn begin_consume(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn end_consume(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Listener calls running now on this queue's messages.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use remoting::message::MessageRecord;

    fn msg(offset: i64) -> MessageExt {
        let rec = MessageRecord {
            topic: "T".into(),
            queue_offset: offset,
            ..Default::default()
        };
        MessageExt::from_record(rec, "b").unwrap()
    }

    fn msgs(r: std::ops::Range<i64>) -> Vec<MessageExt> {
        r.map(msg).collect()
    }

    #[test]
    fn commits_only_the_lowest_unconsumed_offset() {
        let pq = ProcessQueue::new();
        assert_eq!(pq.put(msgs(5..10)).len(), 5);
        // 7 and 9 finish first: 5 is still pending, so 5 is the commit point.
        assert_eq!(pq.remove(&[7, 9]), Some(5));
        assert_eq!(pq.remove(&[5]), Some(6));
        assert_eq!(pq.remove(&[8]), Some(6));
        // Last one done: one past the largest seen.
        assert_eq!(pq.remove(&[6]), Some(10));
        // Nothing held: no change.
        assert_eq!(pq.remove(&[6]), None);
        assert_eq!(pq.count(), 0);
        assert_eq!(pq.max_offset(), 9);
    }

    #[test]
    fn duplicates_are_ignored() {
        let pq = ProcessQueue::new();
        assert_eq!(pq.put(msgs(0..3)).len(), 3);
        let fresh = pq.put(msgs(1..4));
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].queue_offset, 3);
        assert_eq!(pq.count(), 4);
    }

    #[test]
    fn orderly_take_commit_and_retry() {
        let pq = ProcessQueue::new();
        pq.put(msgs(0..5));
        let batch = pq.take(2);
        assert_eq!(
            batch.iter().map(|m| m.queue_offset).collect::<Vec<_>>(),
            vec![0, 1]
        );
        // A failed batch comes back first, in order.
        pq.make_available_again();
        let again = pq.take(3);
        assert_eq!(
            again.iter().map(|m| m.queue_offset).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(pq.commit(), Some(3));
        assert_eq!(pq.commit(), None);
        pq.take(10);
        assert_eq!(pq.commit(), Some(5));
        assert_eq!(pq.count(), 0);
    }

    #[test]
    fn concurrent_remove_sees_orderly_batch() {
        // Mixed use never happens, but the commit point must still not pass a held message.
        let pq = ProcessQueue::new();
        pq.put(msgs(0..4));
        pq.take(1);
        assert_eq!(pq.remove(&[2]), Some(0));
    }

    #[test]
    fn lock_validity() {
        let pq = ProcessQueue::new();
        assert!(!pq.is_lock_valid());
        pq.set_locked(true);
        assert!(pq.is_lock_valid());
        pq.set_locked(false);
        assert!(!pq.is_lock_valid());
        assert!(!pq.is_dropped());
        pq.set_dropped();
        assert!(pq.is_dropped());
    }
}
