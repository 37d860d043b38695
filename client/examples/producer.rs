//! Sends ten messages to `TopicTest` and prints each result, as Java's quickstart `Producer`.
//!
//! ```sh
//! target/release/operator local -f deploy/cluster-single-master.yaml   # in another shell
//! NAMESRV_ADDR=127.0.0.1:9876 cargo run -p client --example producer
//! ```

use client::{Message, Producer, ProducerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let producer = Producer::new(ProducerConfig::new("example_producer_group", namesrv))?;
    producer.start().await?;
    for i in 0..10 {
        let msg = Message::new("TopicTest", format!("Hello RocketMQ {i}"))
            .with_tags("TagA")
            .with_keys([format!("key-{i}")]);
        let r = producer.send(msg).await?;
        println!(
            "{:?} msgId={} queue={:?}",
            r.status, r.msg_id, r.message_queue
        );
    }
    producer.shutdown().await;
    Ok(())
}
