//! Queue selectors for ordered sends (Java `MessageQueueSelector`).

use remoting::body::client::MessageQueue;
use remoting::message::java_string_hash;

use crate::message::Message;

/// Chooses the queue of a message among the topic's writable queues.
pub trait MessageQueueSelector: Send + Sync {
    /// The chosen queue, or `None` to fail the send.
    fn select(&self, queues: &[MessageQueue], msg: &Message, arg: &str) -> Option<MessageQueue>;
}

/// Java `SelectMessageQueueByHash`: `abs(arg.hashCode()) % n`, so every message with the same
/// sharding key goes to the same queue (and stays in order there).
#[derive(Debug, Default, Clone, Copy)]
pub struct SelectByHash;

impl MessageQueueSelector for SelectByHash {
    fn select(&self, queues: &[MessageQueue], _msg: &Message, arg: &str) -> Option<MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        let h = java_string_hash(arg).unsigned_abs() as usize;
        queues.get(h % queues.len()).cloned()
    }
}

impl<F> MessageQueueSelector for F
where
    F: Fn(&[MessageQueue], &Message, &str) -> Option<MessageQueue> + Send + Sync,
{
    fn select(&self, queues: &[MessageQueue], msg: &Message, arg: &str) -> Option<MessageQueue> {
        self(queues, msg, arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_queue() {
        let qs: Vec<MessageQueue> = (0..4).map(|i| MessageQueue::new("T", "b", i)).collect();
        let m = Message::new("T", "x");
        let a = SelectByHash.select(&qs, &m, "order-17").unwrap();
        for _ in 0..10 {
            assert_eq!(SelectByHash.select(&qs, &m, "order-17").unwrap(), a);
        }
        // "a".hashCode() == 97 → 97 % 4 == 1.
        assert_eq!(SelectByHash.select(&qs, &m, "a").unwrap().queue_id, 1);
        // A negative hash still lands in range: Integer.MIN_VALUE-like keys included.
        for k in ["polygenelubricants", "GydZG_", "DESIGNING WORKHOUSES"] {
            assert!(SelectByHash.select(&qs, &m, k).unwrap().queue_id < 4);
        }
        assert!(SelectByHash.select(&[], &m, "a").is_none());
        let by_closure = |q: &[MessageQueue], _: &Message, _: &str| q.last().cloned();
        assert_eq!(by_closure.select(&qs, &m, "").unwrap().queue_id, 3);
    }
}
