//! Message listeners of the push consumer: concurrent (any order, failed messages retried later
//! through `%RETRY%<group>`) and orderly (one batch at a time per queue, in queue order).

use std::time::Duration;

use remoting::body::client::MessageQueue;

use crate::message::MessageExt;

/// What a concurrent listener says about a batch (Java `ConsumeConcurrentlyStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeConcurrentlyStatus {
    /// Consumed; the offset may move past the batch.
    ConsumeSuccess,
    /// Failed; redeliver later (CONSUMER_SEND_MSG_BACK).
    ReconsumeLater,
}

/// What an orderly listener says about a batch (Java `ConsumeOrderlyStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeOrderlyStatus {
    /// Consumed; the offset moves past the batch.
    Success,
    /// Failed; retry the same batch after a pause, keeping the queue's order.
    SuspendCurrentQueueAMoment,
}

/// Context of a concurrent batch (Java `ConsumeConcurrentlyContext`).
#[derive(Debug, Clone)]
pub struct ConsumeConcurrentlyContext {
    /// The queue the batch came from.
    pub message_queue: MessageQueue,
    /// Delay level for redelivery on RECONSUME_LATER: 0 lets the broker pick `3 + reconsumeTimes`,
    /// negative sends the messages straight to the DLQ.
    pub delay_level_when_next_consume: i32,
}

/// Context of an orderly batch (Java `ConsumeOrderlyContext`).
#[derive(Debug, Clone)]
pub struct ConsumeOrderlyContext {
    /// The queue the batch came from.
    pub message_queue: MessageQueue,
    /// Pause before retrying after SUSPEND_CURRENT_QUEUE_A_MOMENT.
    pub suspend_current_queue_time: Duration,
}

/// A concurrent listener. Called on a blocking thread pool, so it may block.
pub trait MessageListenerConcurrently: Send + Sync + 'static {
    /// Consumes a batch (of `consume_message_batch_max_size` messages at most).
    fn consume_message(
        &self,
        msgs: &[MessageExt],
        ctx: &mut ConsumeConcurrentlyContext,
    ) -> ConsumeConcurrentlyStatus;
}

impl<F> MessageListenerConcurrently for F
where
    F: Fn(&[MessageExt], &mut ConsumeConcurrentlyContext) -> ConsumeConcurrentlyStatus
        + Send
        + Sync
        + 'static,
{
    fn consume_message(
        &self,
        msgs: &[MessageExt],
        ctx: &mut ConsumeConcurrentlyContext,
    ) -> ConsumeConcurrentlyStatus {
        self(msgs, ctx)
    }
}

/// An orderly listener. Called on a blocking thread pool, never twice at once for one queue.
pub trait MessageListenerOrderly: Send + Sync + 'static {
    /// Consumes a batch, in queue order.
    fn consume_message(
        &self,
        msgs: &[MessageExt],
        ctx: &mut ConsumeOrderlyContext,
    ) -> ConsumeOrderlyStatus;
}

impl<F> MessageListenerOrderly for F
where
    F: Fn(&[MessageExt], &mut ConsumeOrderlyContext) -> ConsumeOrderlyStatus
        + Send
        + Sync
        + 'static,
{
    fn consume_message(
        &self,
        msgs: &[MessageExt],
        ctx: &mut ConsumeOrderlyContext,
    ) -> ConsumeOrderlyStatus {
        self(msgs, ctx)
    }
}
