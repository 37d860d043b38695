//! Ordered messages: every order's steps go to one queue (chosen by the order id) and one
//! orderly consumer takes each queue's messages in order, as Java's `OrderedProducer` /
//! `OrderedConsumer` examples. Runs the producer, then consumes for ten seconds.
//!
//! ```sh
//! NAMESRV_ADDR=127.0.0.1:9876 cargo run -p client --example orderly
//! ```

use std::time::Duration;

use client::{
    ConsumeFromWhere, ConsumeOrderlyContext, ConsumeOrderlyStatus, Message, MessageExt, Producer,
    ProducerConfig, PushConsumer, PushConsumerConfig,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let producer = Producer::new(ProducerConfig::new(
        "example_orderly_producer",
        namesrv.clone(),
    ))?;
    producer.start().await?;
    for order in 0..5 {
        for step in ["created", "paid", "shipped"] {
            let id = format!("order-{order}");
            // The same sharding key always picks the same queue.
            producer
                .send_orderly(Message::new("TopicTest", format!("{id}:{step}")), &id)
                .await?;
        }
    }
    producer.shutdown().await;

    let mut config = PushConsumerConfig::new("example_orderly_consumer", namesrv);
    config.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
    let consumer = PushConsumer::new(config)?;
    consumer.subscribe("TopicTest", "*")?;
    consumer.register_listener_orderly(|msgs: &[MessageExt], ctx: &mut ConsumeOrderlyContext| {
        for m in msgs {
            println!("queue {}: {}", ctx.message_queue.queue_id, m.body_str());
        }
        ConsumeOrderlyStatus::Success
    });
    consumer.start().await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    consumer.shutdown().await;
    Ok(())
}
