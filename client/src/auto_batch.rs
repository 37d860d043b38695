//! Auto-batching of concurrent sends (opt-in: [`ProducerConfig::auto_batch`]): sync sends of
//! one topic that wait at the same time travel in one SEND_BATCH_MESSAGE request, and each
//! caller still gets its own [`SendResult`].
//!
//! Why: a broker's cost is mostly per request, not per byte. On the 2-core machine of issue 23
//! a message sent in a batch of 32 cost the broker about a third of the CPU of a lone send, and
//! batches reached four times the messages per second (BENCHMARKS.md). Java 5 has the same
//! switch (`autoBatch`), which holds a batch open for up to `batchMaxDelayMs` to let it fill.
//! Here no send waits on a timer: a send leaves at once while fewer than
//! [`ProducerConfig::auto_batch_in_flight`] requests of its lane are in flight; otherwise it
//! joins the lane's queue, and the queue leaves as one batch as soon as one of those requests
//! is answered. A lone send costs what it costs without the switch, and under load the batches
//! grow with the number of senders waiting.
//!
//! A lane is a topic and a `WAIT` property (a batch shares both, as Java's `MessageBatch`
//! requires). What never joins one, and is sent as without the switch: delayed messages,
//! retry topics, transactional half messages, request/reply messages, bodies the producer
//! would compress (a batch is stored uncompressed), and messages larger than
//! [`ProducerConfig::auto_batch_max_bytes`].
//!
//! A queued send keeps its own deadline: a batch carries the earliest deadline of its
//! messages, and a message whose deadline passes while it is queued is answered with a timeout
//! and never sent.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use remoting::RemotingError;
use remoting::message::keys;
use tokio::sync::oneshot;

use crate::error::{ClientError, Result};
use crate::message::{Message, SendResult};
use crate::producer::ProducerConfig;

/// Bytes a message adds to a batch besides its body and properties (the batch item's
/// length, magic, CRC, flag and size fields).
const ITEM_OVERHEAD: usize = 22;

/// Sends of one lane share a batch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LaneKey {
    topic: String,
    wait: Option<String>,
}

impl LaneKey {
    fn of(msg: &Message) -> Self {
        LaneKey {
            topic: msg.topic.clone(),
            wait: msg.property(keys::WAIT).map(str::to_string),
        }
    }
}

/// A send waiting in a lane.
pub(crate) struct Queued {
    /// Validated, with its `UNIQ_KEY` set.
    msg: Message,
    /// When its caller stops waiting.
    pub deadline: Instant,
    /// The caller's timeout, for the error when the deadline passes in the queue.
    timeout: Duration,
    size: usize,
    waiter: Waiter,
}

/// The caller of a queued send.
pub(crate) struct Waiter {
    /// The message's `UNIQ_KEY`: the `msg_id` of its result.
    msg_id: String,
    tx: oneshot::Sender<Result<SendResult>>,
}

impl Queued {
    /// Answers the caller, whose deadline passed while the send was queued: it was never
    /// sent. A caller that stopped waiting is not an error.
    pub fn expire(self, key: &LaneKey) {
        let e = ClientError::SendFailed {
            topic: key.topic.clone(),
            attempts: 0,
            last: Box::new(ClientError::Remoting(RemotingError::Timeout {
                addr: "auto-batch queue".into(),
                millis: self.timeout.as_millis() as u64,
            })),
        };
        let _ = self.waiter.tx.send(Err(e));
    }

    /// The message to send and who waits for its result.
    pub fn split(self) -> (Message, Waiter) {
        (self.msg, self.waiter)
    }
}

/// Answers the callers of one request: one message's result as it is, a batch's split per
/// message (the offset message ids the broker joined with `,` taken apart, the queue offsets
/// following the first), a failure as the same error for each.
pub(crate) fn answer(waiters: Vec<Waiter>, result: Result<SendResult>) {
    if waiters.len() == 1 {
        if let Some(w) = waiters.into_iter().next() {
            let _ = w.tx.send(result);
        }
        return;
    }
    match result {
        Ok(whole) => {
            let (ids, txs): (Vec<_>, Vec<_>) =
                waiters.into_iter().map(|w| (w.msg_id, w.tx)).unzip();
            for (tx, one) in txs.into_iter().zip(split(&whole, ids)) {
                let _ = tx.send(Ok(one));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for w in waiters {
                let _ = w.tx.send(Err(ClientError::BatchFailed(e.clone())));
            }
        }
    }
}

#[derive(Default)]
struct Lane {
    queued: VecDeque<Queued>,
    /// Tasks sending this lane's batches.
    running: usize,
}

/// The lanes of one producer.
#[derive(Default)]
pub(crate) struct Lanes {
    lanes: Mutex<HashMap<LaneKey, Lane>>,
}

/// What [`Lanes::join`] asks of its caller.
pub(crate) enum Joined {
    /// Wait for the answer.
    Wait(oneshot::Receiver<Result<SendResult>>),
    /// Wait for the answer, and start a task that sends this lane's batches
    /// ([`Lanes::take`] until it returns `None`).
    Run(LaneKey, oneshot::Receiver<Result<SendResult>>),
}

impl Lanes {
    /// Queues `msg` (validated, `UNIQ_KEY` set) in its lane.
    pub fn join(
        &self,
        msg: Message,
        msg_id: String,
        timeout: Duration,
        in_flight: usize,
    ) -> Joined {
        let (tx, rx) = oneshot::channel();
        let key = LaneKey::of(&msg);
        let queued = Queued {
            size: item_size(&msg),
            msg,
            deadline: Instant::now() + timeout,
            timeout,
            waiter: Waiter { msg_id, tx },
        };
        let mut lanes = self.lanes.lock();
        let lane = lanes.entry(key.clone()).or_default();
        lane.queued.push_back(queued);
        if lane.running < in_flight.max(1) {
            lane.running += 1;
            Joined::Run(key, rx)
        } else {
            Joined::Wait(rx)
        }
    }

    /// The next batch of `key`'s lane, oldest first, at most `max_bytes` (at least one send);
    /// `None` when the lane is empty, and the calling task is done with it.
    pub fn take(&self, key: &LaneKey, max_bytes: usize) -> Option<Vec<Queued>> {
        let mut lanes = self.lanes.lock();
        let lane = lanes.get_mut(key)?;
        if lane.queued.is_empty() {
            lane.running = lane.running.saturating_sub(1);
            if lane.running == 0 {
                lanes.remove(key);
            }
            return None;
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(next) = lane.queued.front() {
            if !batch.is_empty() && bytes + next.size > max_bytes {
                break;
            }
            bytes += next.size;
            batch.extend(lane.queued.pop_front());
        }
        Some(batch)
    }
}

/// True when `msg` may join a lane under `config` (see the module docs).
pub(crate) fn eligible(msg: &Message, config: &ProducerConfig) -> bool {
    msg.delay_level() <= 0
        && !msg.topic.starts_with("%RETRY%")
        && msg.property(keys::TRAN_MSG).is_none()
        && msg.property(keys::MSG_TYPE).is_none()
        && msg.property(keys::CORRELATION_ID).is_none()
        && msg.body.len() < config.compress_msg_body_over
        && item_size(msg) <= config.auto_batch_max_bytes
}

/// What `msg` adds to a batch's body (`usize::MAX` for properties that cannot be encoded:
/// such a message is sent alone, and fails there with the reason).
fn item_size(msg: &Message) -> usize {
    msg.properties
        .checked_encoded_len()
        .map_or(usize::MAX, |p| ITEM_OVERHEAD + msg.body.len() + p)
}

/// Splits the result of a batch of `ids` into one result per message.
fn split(result: &SendResult, ids: Vec<String>) -> Vec<SendResult> {
    let offsets: Vec<&str> = result.offset_msg_id.split(',').collect();
    let whole = offsets.len() != ids.len();
    ids.into_iter()
        .enumerate()
        .map(|(i, msg_id)| SendResult {
            status: result.status,
            msg_id,
            offset_msg_id: if whole {
                result.offset_msg_id.clone()
            } else {
                offsets[i].to_string()
            },
            message_queue: result.message_queue.clone(),
            queue_offset: result.queue_offset + i as i64,
            transaction_id: result.transaction_id.clone(),
            region_id: result.region_id.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SendStatus;
    use remoting::body::client::MessageQueue;

    fn config() -> ProducerConfig {
        ProducerConfig::new("g", "127.0.0.1:9876")
    }

    fn msg(topic: &str, body: usize) -> Message {
        Message::new(topic, vec![b'x'; body])
    }

    fn join(lanes: &Lanes, m: Message, in_flight: usize) -> Joined {
        lanes.join(m, "id".into(), Duration::from_secs(3), in_flight)
    }

    #[test]
    fn sends_start_runners_up_to_the_in_flight_limit_then_queue() {
        let lanes = Lanes::default();
        assert!(matches!(join(&lanes, msg("T", 10), 2), Joined::Run(..)));
        assert!(matches!(join(&lanes, msg("T", 10), 2), Joined::Run(..)));
        assert!(matches!(join(&lanes, msg("T", 10), 2), Joined::Wait(_)));
        // Another topic is another lane.
        assert!(matches!(join(&lanes, msg("U", 10), 2), Joined::Run(..)));
        // Another WAIT property too.
        let no_wait = msg("T", 10).with_property(keys::WAIT, "false");
        assert!(matches!(join(&lanes, no_wait, 2), Joined::Run(..)));
    }

    #[test]
    fn take_drains_oldest_first_within_the_byte_limit_then_releases_the_lane() {
        let lanes = Lanes::default();
        let key = LaneKey::of(&msg("T", 1));
        for n in 0..5 {
            let m = msg("T", 100).with_property("n", n.to_string());
            lanes.join(m, format!("id{n}"), Duration::from_secs(3), 1);
        }
        let one = item_size(&msg("T", 100).with_property("n", "0"));
        let first = lanes.take(&key, one * 3).expect("a batch");
        let ids: Vec<&str> = first.iter().map(|q| q.waiter.msg_id.as_str()).collect();
        assert_eq!(ids, ["id0", "id1", "id2"]);
        let second = lanes.take(&key, one * 3).expect("the rest");
        assert_eq!(second.len(), 2);
        assert!(lanes.take(&key, one * 3).is_none());
        // Released: the next send starts a runner again.
        assert!(matches!(join(&lanes, msg("T", 10), 1), Joined::Run(..)));
    }

    #[test]
    fn a_send_larger_than_the_limit_still_leaves_alone() {
        let lanes = Lanes::default();
        let key = LaneKey::of(&msg("T", 1));
        lanes.join(msg("T", 500), "a".into(), Duration::from_secs(3), 1);
        lanes.join(msg("T", 10), "b".into(), Duration::from_secs(3), 1);
        assert_eq!(lanes.take(&key, 100).map(|b| b.len()), Some(1));
        assert_eq!(lanes.take(&key, 100).map(|b| b.len()), Some(1));
    }

    #[test]
    fn only_plain_messages_are_eligible() {
        let c = config();
        assert!(eligible(&msg("T", 1024), &c));
        assert!(!eligible(&msg("T", 1024).with_delay_level(3), &c));
        assert!(!eligible(&msg("%RETRY%g", 10), &c));
        assert!(!eligible(
            &msg("T", 10).with_property(keys::TRAN_MSG, "true"),
            &c
        ));
        assert!(!eligible(
            &msg("T", 10).with_property(keys::MSG_TYPE, "reply"),
            &c
        ));
        assert!(!eligible(
            &msg("T", 10).with_property(keys::CORRELATION_ID, "c"),
            &c
        ));
        // Would be compressed alone.
        assert!(!eligible(&msg("T", c.compress_msg_body_over), &c));
        let mut small = config();
        small.auto_batch_max_bytes = 512;
        assert!(!eligible(&msg("T", 1024), &small));
    }

    #[test]
    fn a_batch_result_splits_per_message() {
        let r = SendResult {
            status: SendStatus::SendOk,
            msg_id: "a,b,c".into(),
            offset_msg_id: "o1,o2,o3".into(),
            message_queue: MessageQueue::new("T", "b", 3),
            queue_offset: 40,
            transaction_id: None,
            region_id: Some("r".into()),
        };
        let parts = split(&r, vec!["a".into(), "b".into(), "c".into()]);
        let got: Vec<(&str, &str, i64)> = parts
            .iter()
            .map(|p| (p.msg_id.as_str(), p.offset_msg_id.as_str(), p.queue_offset))
            .collect();
        assert_eq!(got, [("a", "o1", 40), ("b", "o2", 41), ("c", "o3", 42)]);
        assert!(parts.iter().all(|p| p.message_queue.queue_id == 3));
        // A broker that answered otherwise: every message keeps the whole answer.
        let odd = SendResult {
            offset_msg_id: "o1".into(),
            ..r
        };
        let parts = split(&odd, vec!["a".into(), "b".into()]);
        assert!(parts.iter().all(|p| p.offset_msg_id == "o1"));
    }
}
