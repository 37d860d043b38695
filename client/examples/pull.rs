//! A pull consumer reads every queue of `TopicTest` from its first offset to its end and
//! commits how far it got, as Java's `PullConsumer` example.
//!
//! ```sh
//! NAMESRV_ADDR=127.0.0.1:9876 cargo run -p client --example pull
//! ```

use client::{ClientConfig, PullConsumer, PullStatus};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let consumer = PullConsumer::new("example_pull_group", ClientConfig::new(namesrv))?;
    consumer.start().await?;
    for mq in consumer.fetch_subscribe_queues("TopicTest").await? {
        let mut offset = consumer.min_offset(&mq).await?;
        loop {
            let r = consumer.pull(&mq, "*", offset, 32).await?;
            if r.status != PullStatus::Found {
                break;
            }
            for m in &r.msgs {
                println!(
                    "queue {} offset {}: {}",
                    mq.queue_id,
                    m.queue_offset,
                    m.body_str()
                );
            }
            offset = r.next_begin_offset;
        }
        consumer
            .instance()
            .update_consumer_offset("example_pull_group", &mq, offset)
            .await?;
        println!("queue {} read up to {offset}", mq.queue_id);
    }
    consumer.shutdown().await;
    Ok(())
}
