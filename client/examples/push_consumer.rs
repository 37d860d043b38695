//! Consumes `TopicTest` (tag `TagA`) with a push consumer until Ctrl-C, as Java's quickstart
//! `Consumer`.
//!
//! ```sh
//! NAMESRV_ADDR=127.0.0.1:9876 cargo run -p client --example push_consumer
//! ```

use client::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, ConsumeFromWhere, MessageExt,
    PushConsumer, PushConsumerConfig,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let mut config = PushConsumerConfig::new("example_consumer_group", namesrv);
    // A group that has never consumed starts at the first message still stored.
    config.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
    let consumer = PushConsumer::new(config)?;
    consumer.subscribe("TopicTest", "TagA")?;
    consumer.register_listener_concurrently(
        |msgs: &[MessageExt], _ctx: &mut ConsumeConcurrentlyContext| {
            for m in msgs {
                println!("{} {}: {}", m.msg_id, m.queue_offset, m.body_str());
            }
            // RECONSUME_LATER would send them back through %RETRY%<group>.
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    consumer.start().await?;
    println!("consumer started; Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    consumer.shutdown().await;
    Ok(())
}
