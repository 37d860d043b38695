//! RocketMQ client library: producer, push consumer, pull consumer and admin calls, on the
//! [`remoting`] crate and tokio.
//!
//! ```no_run
//! # async fn demo() -> Result<(), client::ClientError> {
//! use client::{Message, Producer, ProducerConfig};
//! let producer = Producer::new(ProducerConfig::new("PG", "127.0.0.1:9876"))?;
//! producer.start().await?;
//! let r = producer.send(Message::new("TopicTest", "hello").with_tags("TagA")).await?;
//! println!("{} stored at {:?} offset {}", r.msg_id, r.message_queue, r.queue_offset);
//! producer.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`instance`]: [`ClientInstance`], shared by producers and consumers: name servers, route
//!   cache, broker table, heartbeats, broker → client requests.
//!   `broker_health` (private): which broker addresses are down as this client saw them, so
//!   reads (pulls, offsets) go to a live member of the group until they answer again.
//! - [`api`]: typed broker calls (pull, offsets, consumer list, locks, send-back).
//! - [`producer`]: [`Producer`]; [`selector`]: queue selectors for ordered sends.
//! - [`push_consumer`]: [`PushConsumer`] with [`listener`] traits, [`allocate`] (rebalance),
//!   [`process_queue`] (safe commit point), [`offset_store`] (commits), [`running_info`]
//!   (GET_CONSUMER_RUNNING_INFO answers).
//! - [`pull_consumer`]: the [`PullConsumer`].
//! - [`transaction`]: the [`TransactionProducer`] (half messages, local transaction, check-back).
//! - [`admin`]: [`Admin`], the calls `mqadmin` is built on.
//! - [`message`]: [`Message`], [`MessageExt`], [`SendResult`]; [`filter`]: tag expressions;
//!   [`request_reply`]: replies to `Producer::request`; [`route`]: routes to queue lists; [`config`]: [`ClientConfig`]; [`error`]: [`ClientError`].

pub mod admin;
pub mod allocate;
pub mod api;
mod auto_batch;
mod broker_health;
pub mod config;
pub mod error;
pub mod filter;
pub mod instance;
pub mod listener;
pub mod message;
pub mod offset_store;
pub mod process_queue;
pub mod producer;
pub mod pull_consumer;
pub mod push_consumer;
pub mod request_reply;
pub mod route;
pub mod running_info;
pub mod selector;
pub mod transaction;

pub use admin::Admin;
pub use api::{PullResult, PullStatus};
pub use config::ClientConfig;
pub use error::{ClientError, Result};
pub use instance::{ClientInstance, TransactionCheckListener};
pub use listener::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, ConsumeOrderlyContext,
    ConsumeOrderlyStatus, MessageListenerConcurrently, MessageListenerOrderly,
};
pub use message::{Message, MessageExt, SendResult, SendStatus};
pub use producer::{Producer, ProducerConfig};
pub use pull_consumer::PullConsumer;
pub use push_consumer::{PushConsumer, PushConsumerConfig};
pub use remoting::body::client::{ConsumeFromWhere, MessageModel, MessageQueue};
pub use request_reply::create_reply_message;
pub use selector::{MessageQueueSelector, SelectByHash};
pub use transaction::{
    LocalTransactionState, TransactionListener, TransactionProducer, TransactionSendResult,
};
