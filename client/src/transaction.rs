//! The transactional producer (Java `TransactionMQProducer`): a half message is sent with
//! `TRAN_MSG=true` and `PGROUP=<group>`, the local transaction runs, and END_TRANSACTION tells
//! the broker to commit or roll back. When the broker finds a half message left undecided (the
//! producer died, or answered "unknown"), it asks any live producer of the group with
//! CHECK_TRANSACTION_STATE; [`TransactionListener::check_local_transaction`] answers.

use std::collections::HashSet;
use std::sync::Arc;

use remoting::header::transaction::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader, TRANSACTION_COMMIT_TYPE,
    TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use remoting::message::{decode_offset_msg_id, keys};
use remoting::{CommandHeader, RemotingCommand, RequestCode};
use tracing::{debug, warn};

use crate::error::{ClientError, Result};
use crate::instance::{ClientInstance, TransactionCheckListener};
use crate::message::{Message, MessageExt, SendResult, SendStatus};
use crate::producer::{Producer, ProducerConfig};

/// The outcome of a local transaction (Java `LocalTransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTransactionState {
    /// Make the message visible.
    CommitMessage,
    /// Drop the message.
    RollbackMessage,
    /// Not decided yet: the broker will check back later.
    Unknown,
}

impl LocalTransactionState {
    fn code(self) -> i32 {
        match self {
            LocalTransactionState::CommitMessage => TRANSACTION_COMMIT_TYPE,
            LocalTransactionState::RollbackMessage => TRANSACTION_ROLLBACK_TYPE,
            LocalTransactionState::Unknown => TRANSACTION_NOT_TYPE,
        }
    }
}

/// The application's side of a transaction (Java `TransactionListener`).
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local transaction after the half message is stored.
    fn execute_local_transaction(&self, msg: &Message, send: &SendResult) -> LocalTransactionState;
    /// Answers the broker's check-back for a half message left undecided.
    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState;
}

/// The result of [`TransactionProducer::send_message_in_transaction`].
#[derive(Debug, Clone)]
pub struct TransactionSendResult {
    /// The half message's send result.
    pub send: SendResult,
    /// What the local transaction decided (and what END_TRANSACTION carried).
    pub state: LocalTransactionState,
}

/// A producer of transactional messages.
pub struct TransactionProducer {
    group: String,
    instance: ClientInstance,
    producer: Producer,
    listener: Arc<dyn TransactionListener>,
    create_topic_key: String,
    announced: parking_lot::Mutex<HashSet<String>>,
}

/// Answers the broker's CHECK_TRANSACTION_STATE with END_TRANSACTION.
struct CheckAnswer {
    group: String,
    instance: ClientInstance,
    listener: Arc<dyn TransactionListener>,
}

impl TransactionCheckListener for CheckAnswer {
    fn check_transaction_state(
        &self,
        broker_addr: String,
        header: CheckTransactionStateRequestHeader,
        msg: MessageExt,
    ) {
        let listener = self.listener.clone();
        let instance = self.instance.clone();
        let group = self.group.clone();
        // The listener may block (a database lookup): off the connection's task.
        tokio::spawn(async move {
            let l = listener.clone();
            let m = msg.clone();
            let state =
                match tokio::task::spawn_blocking(move || l.check_local_transaction(&m)).await {
                    Ok(s) => s,
                    Err(e) => {
                        warn!(error = %e, "transaction check listener panicked");
                        return;
                    }
                };
            let end = EndTransactionRequestHeader {
                producer_group: group,
                tran_state_table_offset: header.tran_state_table_offset,
                commit_log_offset: header.commit_log_offset,
                commit_or_rollback: state.code(),
                from_transaction_check: Some(true),
                msg_id: header.msg_id.clone().unwrap_or_else(|| msg.msg_id.clone()),
                transaction_id: header.transaction_id.clone(),
                bname: None,
            };
            let req = RemotingCommand::request(RequestCode::END_TRANSACTION, end.to_ext());
            match instance.remoting().invoke_oneway(&broker_addr, req).await {
                Ok(()) => {
                    debug!(broker = %broker_addr, ?state, offset = header.tran_state_table_offset, "answered a transaction check")
                }
                Err(e) => {
                    warn!(broker = %broker_addr, error = %e, "answering a transaction check failed")
                }
            }
        });
    }
}

impl TransactionProducer {
    /// A transactional producer of `config.group` with its own client instance.
    pub fn new(config: ProducerConfig, listener: impl TransactionListener) -> Result<Self> {
        if config.group.is_empty() {
            return Err(ClientError::InvalidArgument(
                "producer group is empty".into(),
            ));
        }
        let instance = ClientInstance::new(config.client.clone())?;
        let producer = Producer::inner_producer(instance.clone());
        Ok(TransactionProducer {
            group: config.group,
            instance,
            producer,
            listener: Arc::new(listener),
            create_topic_key: config.create_topic_key,
            announced: parking_lot::Mutex::new(HashSet::new()),
        })
    }

    /// The client instance.
    pub fn instance(&self) -> &ClientInstance {
        &self.instance
    }

    /// Registers the group with its check listener, starts the instance and announces the
    /// producer to every broker it knows (the template topic's brokers), so check-backs can
    /// reach it before it sends anything.
    pub async fn start(&self) -> Result<()> {
        let answer = Arc::new(CheckAnswer {
            group: self.group.clone(),
            instance: self.instance.clone(),
            listener: self.listener.clone(),
        });
        self.instance.register_producer(&self.group, Some(answer))?;
        self.instance.start()?;
        if let Err(e) = self
            .instance
            .update_topic_route(&self.create_topic_key)
            .await
        {
            debug!(topic = %self.create_topic_key, error = %e, "no route for the template topic");
        }
        self.instance.send_heartbeat_to_all().await;
        Ok(())
    }

    /// Learns `topic`'s brokers and heartbeats to them (done by the first send to a topic).
    pub async fn announce(&self, topic: &str) -> Result<()> {
        if self.announced.lock().contains(topic) {
            return Ok(());
        }
        self.instance.update_topic_route(topic).await?;
        self.instance.send_heartbeat_to_all().await;
        self.announced.lock().insert(topic.to_string());
        Ok(())
    }

    /// Sends `msg` as a half message, runs the local transaction and ends it. A half message
    /// that was not stored durably is rolled back (Java).
    pub async fn send_message_in_transaction(
        &self,
        mut msg: Message,
    ) -> Result<TransactionSendResult> {
        if msg.delay_level() > 0 {
            // Java clears it too: a transactional message cannot be delayed.
            msg.properties.remove(keys::DELAY);
        }
        msg.properties.insert(keys::TRAN_MSG, "true");
        msg.properties.insert(keys::PGROUP, self.group.clone());
        self.announce(&msg.topic).await?;
        let send = self.producer.send(msg.clone()).await?;
        let state = if send.status == SendStatus::SendOk {
            let l = self.listener.clone();
            let (m, s) = (msg.clone(), send.clone());
            tokio::task::spawn_blocking(move || l.execute_local_transaction(&m, &s))
                .await
                .map_err(|e| ClientError::State(format!("local transaction panicked: {e}")))?
        } else {
            LocalTransactionState::RollbackMessage
        };
        self.end_transaction(&send, state).await?;
        Ok(TransactionSendResult { send, state })
    }

    /// Sends END_TRANSACTION (oneway) for a half message.
    pub async fn end_transaction(
        &self,
        send: &SendResult,
        state: LocalTransactionState,
    ) -> Result<()> {
        let broker = &send.message_queue.broker_name;
        let addr = self.instance.master_addr(broker).ok_or_else(|| {
            ClientError::NoRoute(format!("no master address for broker {broker}"))
        })?;
        let id = decode_offset_msg_id(&send.offset_msg_id)?;
        let header = EndTransactionRequestHeader {
            producer_group: self.group.clone(),
            tran_state_table_offset: send.queue_offset,
            commit_log_offset: id.commit_log_offset,
            commit_or_rollback: state.code(),
            from_transaction_check: Some(false),
            msg_id: send.msg_id.clone(),
            transaction_id: send
                .transaction_id
                .clone()
                .or_else(|| Some(send.msg_id.clone())),
            bname: Some(broker.clone()),
        };
        let req = RemotingCommand::request(RequestCode::END_TRANSACTION, header.to_ext());
        self.instance.remoting().invoke_oneway(&addr, req).await?;
        Ok(())
    }

    /// Unregisters the group and stops the instance.
    pub async fn shutdown(&self) {
        self.instance.unregister_producer(&self.group).await;
        self.instance.shutdown().await;
    }
}
