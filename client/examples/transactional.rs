//! Transactional messages: the message is stored as "half" (invisible), the local transaction
//! runs, and its outcome commits or rolls back the message; a producer that disappears is asked
//! later (`check_local_transaction`). As Java's `TransactionProducer` example.
//!
//! ```sh
//! NAMESRV_ADDR=127.0.0.1:9876 cargo run -p client --example transactional
//! ```

use client::{
    LocalTransactionState, Message, MessageExt, ProducerConfig, SendResult, TransactionListener,
    TransactionProducer,
};

/// Commits even-numbered orders, rolls back odd ones.
struct Orders;

impl TransactionListener for Orders {
    fn execute_local_transaction(
        &self,
        msg: &Message,
        _sent: &SendResult,
    ) -> LocalTransactionState {
        // A real application writes its database row here, in the same decision.
        let body = String::from_utf8_lossy(&msg.body);
        match body.rsplit('-').next().and_then(|n| n.parse::<u32>().ok()) {
            Some(n) if n % 2 == 0 => LocalTransactionState::CommitMessage,
            Some(_) => LocalTransactionState::RollbackMessage,
            None => LocalTransactionState::Unknown,
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        // The broker asks about a transaction whose outcome it never heard: look it up.
        println!("broker checks {}", msg.body_str());
        LocalTransactionState::RollbackMessage
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let producer =
        TransactionProducer::new(ProducerConfig::new("example_tx_producer", namesrv), Orders)?;
    producer.start().await?;
    for i in 0..4 {
        let r = producer
            .send_message_in_transaction(Message::new("TopicTest", format!("order-{i}")))
            .await?;
        println!("order-{i}: {:?}", r.state);
    }
    producer.shutdown().await;
    Ok(())
}
