//! Appenders waiting for the commit log to be durable up to their record's end (SYNC_FLUSH
//! group commit, and the HA layer's waits).
//!
//! Why a list of waiters rather than a `watch` channel of the durable offset: a watch wakes
//! every waiter on every fsync, though an fsync covers only the records appended before it
//! started. With 64 senders under SYNC_FLUSH about 35 puts wait at any time and an fsync covers
//! about 15 of them, so most wake-ups were a task poll (and often a worker unpark) for nothing.
//! Here the flush thread completes exactly the waiters its fsync covered.

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durable {
    /// The record is durable.
    Yes,
    /// An fsync failed (or the store went away): nothing more will become durable.
    Never,
}

#[derive(Debug)]
struct Waiter {
    end: u64,
    tx: oneshot::Sender<Durable>,
}

#[derive(Debug)]
struct State {
    /// The commit log is durable below this offset.
    flushed: u64,
    /// An fsync failed.
    fatal: bool,
    waiting: Vec<Waiter>,
}

/// The durable offset and who waits for it to pass theirs.
#[derive(Debug)]
pub(crate) struct FlushWaiters {
    state: Mutex<State>,
}

/// A wait that was not over at once.
pub(crate) type Pending = oneshot::Receiver<Durable>;

impl FlushWaiters {
    pub(crate) fn new(flushed: u64) -> Self {
        FlushWaiters {
            state: Mutex::new(State {
                flushed,
                fatal: false,
                waiting: Vec::new(),
            }),
        }
    }

    /// The answer at once when the log is durable past `end` (or never will be), else a
    /// receiver completed when it is.
    pub(crate) fn wait(&self, end: u64) -> Result<Durable, Pending> {
        let mut s = self.state.lock();
        if s.fatal {
            return Ok(Durable::Never);
        }
        if s.flushed >= end {
            return Ok(Durable::Yes);
        }
        let (tx, rx) = oneshot::channel();
        s.waiting.push(Waiter { end, tx });
        Err(rx)
    }

    /// The log is durable below `flushed` (never moves the mark back): completes the waiters
    /// this covers.
    pub(crate) fn advance(&self, flushed: u64) {
        self.set_mark(flushed, false);
    }

    /// Sets the durable mark to `to` in either direction (truncation, reset to an empty log).
    /// Waiters beyond it keep waiting: their records may be written again, else they time out.
    pub(crate) fn reset(&self, to: u64) {
        self.set_mark(to, true);
    }

    fn set_mark(&self, to: u64, back_too: bool) {
        let done: Vec<Waiter> = {
            let mut s = self.state.lock();
            if to == s.flushed || (to < s.flushed && !back_too) {
                return;
            }
            s.flushed = to;
            s.waiting.extract_if(.., |w| w.end <= to).collect()
        };
        // Woken outside the lock; a receiver that gave up (timed out) is simply gone.
        for w in done {
            let _ = w.tx.send(Durable::Yes);
        }
    }

    /// An fsync failed: every waiter, now and later, hears `Never`.
    pub(crate) fn fail(&self) {
        let all = {
            let mut s = self.state.lock();
            s.fatal = true;
            std::mem::take(&mut s.waiting)
        };
        for w in all {
            let _ = w.tx.send(Durable::Never);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_only_the_covered_waiters() {
        let w = FlushWaiters::new(100);
        assert!(matches!(w.wait(100), Ok(Durable::Yes)));
        let mut a = w.wait(150).unwrap_err();
        let mut b = w.wait(300).unwrap_err();
        w.advance(200);
        assert_eq!(a.try_recv(), Ok(Durable::Yes));
        assert!(b.try_recv().is_err(), "300 is not durable at 200");
        w.advance(150); // never back
        assert!(matches!(w.wait(200), Ok(Durable::Yes)));
        w.advance(300);
        assert_eq!(b.try_recv(), Ok(Durable::Yes));
    }

    #[test]
    fn reset_moves_back_and_fail_ends_every_wait() {
        let w = FlushWaiters::new(500);
        w.reset(100);
        let mut a = w.wait(200).unwrap_err();
        w.reset(250);
        assert_eq!(a.try_recv(), Ok(Durable::Yes));
        let mut b = w.wait(400).unwrap_err();
        let gone = w.wait(300).unwrap_err();
        drop(gone); // a waiter that timed out does not stop the others
        w.fail();
        assert_eq!(b.try_recv(), Ok(Durable::Never));
        assert!(matches!(w.wait(0), Ok(Durable::Never)));
    }
}
