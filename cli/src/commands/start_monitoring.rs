//! `startMonitoring` (Java `StartMonitoringSubCommand` / `MonitorService` with
//! `DefaultMonitorListener`): every round (first after 20 s, then every 60 s, as Java), for
//! each consumer group (a `%RETRY%<group>` topic) that is online, the backlog per topic —
//! `UndoneMsgs [consumerGroup=.., topic=.., undoneMsgsTotal=.., undoneMsgsSingleMQ=..,
//! undoneMsgsDelayTimeMills=..]` — and what its members' running info reveals (different
//! subscriptions, queues that cannot lock or have not consumed for over a minute), printed
//! with Java's `[MONITOR] ` / `[NOTIFY] ` prefixes between `beginRound` and `endRound` lines.
//!
//! Java's tool logs these to the client log and runs until killed. This one prints them to
//! stdout and runs until killed too, unless `MQADMIN_MONITOR_ROUNDS=N` stops it after N rounds;
//! `MQADMIN_MONITOR_FIRST_DELAY_MS` and `MQADMIN_MONITOR_INTERVAL_MS` change the timings (for
//! tests). Like Java's, it also runs a push consumer (`__MONITOR_CONSUMER`) on
//! `OFFSET_MOVED_EVENT` and prints each event as `reportDeleteMsgsEvent: DeleteMsgsEvent [...]`
//! (Java brokers publish one when a pull asked for an offset that no longer exists); that group
//! shows in the rounds as Java's does.

use std::collections::BTreeMap;
use std::time::Duration;

use client::api::PullStatus;
use client::running_info::ConsumerRunningInfo;
use client::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, MessageExt, PullConsumer, PushConsumer,
    PushConsumerConfig,
};
use remoting::body::admin::{ConsumeStats, OffsetWrapper};
use remoting::body::client::MessageQueue;

use super::consumer_status::same_subscription;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin startMonitoring`.
pub struct StartMonitoringCommand;

const MONITOR: &str = "[MONITOR] ";
const NOTIFY: &str = "[NOTIFY] ";
/// Java's pull consumer group of the monitor (`MixAll.TOOLS_CONSUMER_GROUP`).
const TOOLS_CONSUMER_GROUP: &str = "TOOLS_CONSUMER";
/// Java's push consumer group of the monitor (`MixAll.MONITOR_CONSUMER_GROUP`).
const MONITOR_CONSUMER_GROUP: &str = "__MONITOR_CONSUMER";
/// Where Java brokers publish moved offsets (`TopicValidator.RMQ_SYS_OFFSET_MOVED_EVENT`).
const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";

/// Java's `DeleteMsgsEvent.toString()` for an `OFFSET_MOVED_EVENT` message (`None` when the body
/// is not an `OffsetMovedEvent`).
pub fn delete_msgs_event(body: &[u8], store_timestamp: i64) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mq = v.get("messageQueue")?;
    let text = |x: Option<&serde_json::Value>| -> String {
        match x {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => "null".to_string(),
            Some(other) => other.to_string(),
        }
    };
    Some(format!(
        "DeleteMsgsEvent [offsetMovedEvent=OffsetMovedEvent [consumerGroup={}, messageQueue=MessageQueue [topic={}, brokerName={}, queueId={}], offsetRequest={}, offsetNew={}], eventTimestamp={store_timestamp}]",
        text(v.get("consumerGroup")),
        text(mq.get("topic")),
        text(mq.get("brokerName")),
        text(mq.get("queueId")),
        text(v.get("offsetRequest")),
        text(v.get("offsetNew")),
    ))
}

/// Java's monitor push consumer: each OFFSET_MOVED_EVENT message becomes one line on `tx`.
async fn start_event_consumer(
    admin: &Admin,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
) -> Result<PushConsumer> {
    let mut cfg = PushConsumerConfig::new(MONITOR_CONSUMER_GROUP, "");
    cfg.client = admin.client_config()?;
    cfg.consume_thread_max = 1;
    let consumer = PushConsumer::new(cfg)?;
    consumer.subscribe(OFFSET_MOVED_EVENT, "*")?;
    consumer.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            if let Some(m) = msgs.first()
                && let Some(line) = delete_msgs_event(&m.body, m.store_timestamp)
            {
                let _ = tx.send(format!("{MONITOR}reportDeleteMsgsEvent: {line}"));
            }
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    );
    consumer.start().await?;
    Ok(consumer)
}

/// Sleeps `ms`, printing the consumer's event lines as they come.
async fn wait_printing(
    out: Out<'_>,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    ms: u64,
) -> Result<()> {
    let sleep = tokio::time::sleep(Duration::from_millis(ms));
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return Ok(()),
            line = rx.recv() => match line {
                Some(line) => {
                    writeln!(out, "{line}")?;
                    out.flush()?;
                }
                None => {
                    (&mut sleep).await;
                    return Ok(());
                }
            },
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn mq_string(mq: &MessageQueue) -> String {
    format!(
        "MessageQueue [topic={}, brokerName={}, queueId={}]",
        mq.topic, mq.broker_name, mq.queue_id
    )
}

/// Java `ConsumerRunningInfo.analyzeProcessQueue`: problems of one member's queues.
pub fn analyze_process_queue(client_id: &str, info: &ConsumerRunningInfo) -> String {
    let push = info
        .properties
        .get("PROP_CONSUME_TYPE")
        .is_some_and(|t| t == "CONSUME_PASSIVELY");
    let orderly = info
        .properties
        .get("PROP_CONSUMEORDERLY")
        .is_some_and(|v| v == "true");
    let mut out = String::new();
    if !push {
        return out;
    }
    let now = now_ms();
    for (mq, pq) in &info.mq_table.0 {
        if orderly {
            if !pq.locked {
                out.push_str(&format!(
                    "{client_id} {} can't lock for a while, {}ms\n",
                    mq_string(mq),
                    now - pq.last_lock_timestamp
                ));
            } else if pq.droped && pq.try_unlock_times > 0 {
                out.push_str(&format!(
                    "{client_id} {} unlock {} times, still failed\n",
                    mq_string(mq),
                    pq.try_unlock_times
                ));
            }
        } else {
            let diff = now - pq.last_consume_timestamp;
            if diff > 60_000 && pq.cached_msg_count > 0 {
                out.push_str(&format!(
                    "{client_id} {} can't consume for a while, maybe blocked, {diff}ms\n",
                    mq_string(mq)
                ));
            }
        }
    }
    out
}

/// The newest message's store time minus the group's last consumed one, for one queue.
async fn delay_of(puller: &PullConsumer, mq: &MessageQueue, ow: &OffsetWrapper) -> i64 {
    if ow.last_timestamp <= 0 {
        return 0;
    }
    let Ok(max) = puller.max_offset(mq).await else {
        return 0;
    };
    if max <= 0 {
        return 0;
    }
    match puller.pull(mq, "*", max - 1, 1).await {
        Ok(r) if r.status == PullStatus::Found => r
            .msgs
            .first()
            .map_or(0, |m| m.store_timestamp - ow.last_timestamp),
        _ => 0,
    }
}

async fn report_undone(
    admin: &Admin,
    puller: &PullConsumer,
    out: Out<'_>,
    group: &str,
) -> Result<()> {
    let typed = admin.typed()?;
    let Ok(stats) = typed.consume_stats(group, None).await else {
        return Ok(());
    };
    // Java reports only groups with members online.
    if typed.consumer_connections(group).await.is_err() {
        return Ok(());
    }
    let mut by_topic: BTreeMap<String, ConsumeStats> = BTreeMap::new();
    for (mq, ow) in &stats.offset_table.0 {
        by_topic
            .entry(mq.topic.clone())
            .or_default()
            .offset_table
            .0
            .insert(mq.clone(), ow.clone());
    }
    for (topic, cs) in &by_topic {
        let (mut total, mut single_max, mut delay_max) = (0i64, 0i64, 0i64);
        for (mq, ow) in &cs.offset_table.0 {
            let diff = ow.broker_offset - ow.consumer_offset;
            single_max = single_max.max(diff);
            if diff > 0 {
                total += diff;
            }
            delay_max = delay_max.max(delay_of(puller, mq, ow).await);
        }
        writeln!(
            out,
            "{MONITOR}reportUndoneMsgs: UndoneMsgs [consumerGroup={group}, topic={topic}, undoneMsgsTotal={total}, undoneMsgsSingleMQ={single_max}, undoneMsgsDelayTimeMills={delay_max}]"
        )?;
    }
    Ok(())
}

async fn report_running_info(admin: &Admin, out: Out<'_>, group: &str) -> Result<()> {
    let typed = admin.typed()?;
    let Ok(cc) = typed.consumer_connections(group).await else {
        return Ok(());
    };
    let mut infos: BTreeMap<String, ConsumerRunningInfo> = BTreeMap::new();
    for c in &cc.connection_set {
        if let Ok(info) = typed
            .consumer_running_info(group, &c.client_id, false)
            .await
        {
            infos.insert(c.client_id.clone(), info);
        }
    }
    if infos.is_empty() {
        return Ok(());
    }
    if !same_subscription(&infos) {
        writeln!(
            out,
            "{NOTIFY}reportConsumerRunningInfo: ConsumerGroup: {group}, Subscription different"
        )?;
    }
    for (id, info) in &infos {
        let problems = analyze_process_queue(id, info);
        if !problems.is_empty() {
            writeln!(
                out,
                "{NOTIFY}reportConsumerRunningInfo: ConsumerGroup: {group}, ClientId: {id}, {problems}"
            )?;
        }
    }
    Ok(())
}

async fn round(admin: &Admin, puller: &PullConsumer, out: Out<'_>) -> Result<()> {
    writeln!(
        out,
        "{MONITOR}=========================================beginRound"
    )?;
    let topics = admin.topic_list().await?;
    for topic in &topics.topic_list {
        let Some(group) = topic.strip_prefix("%RETRY%") else {
            continue;
        };
        // Java goes on with the next group whatever fails.
        let _ = report_undone(admin, puller, &mut *out, group).await;
        let _ = report_running_info(admin, &mut *out, group).await;
    }
    writeln!(
        out,
        "{MONITOR}=========================================endRound"
    )?;
    out.flush()?;
    Ok(())
}

impl Command for StartMonitoringCommand {
    fn name(&self) -> &'static str {
        "startMonitoring"
    }
    fn description(&self) -> &'static str {
        "Start Monitoring"
    }
    fn options(&self) -> Vec<OptSpec> {
        Vec::new()
    }
    async fn run(&self, _args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let rounds = env_u64("MQADMIN_MONITOR_ROUNDS");
        let first = env_u64("MQADMIN_MONITOR_FIRST_DELAY_MS").unwrap_or(20_000);
        let interval = env_u64("MQADMIN_MONITOR_INTERVAL_MS")
            .unwrap_or(60_000)
            .max(1);
        let puller = PullConsumer::new(TOOLS_CONSUMER_GROUP, admin.client_config()?)?;
        puller.start().await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let events = match start_event_consumer(admin, tx).await {
            Ok(c) => c,
            Err(e) => {
                puller.shutdown().await;
                return Err(e);
            }
        };
        let result = async {
            wait_printing(&mut *out, &mut rx, first).await?;
            let mut done = 0u64;
            loop {
                if let Err(e) = round(admin, &puller, &mut *out).await {
                    writeln!(out, "{MONITOR}round failed: {e}")?;
                }
                done += 1;
                if rounds.is_some_and(|n| done >= n) {
                    return Ok(());
                }
                wait_printing(&mut *out, &mut rx, interval).await?;
            }
        }
        .await;
        events.shutdown().await;
        puller.shutdown().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_moved_events_print_as_javas_delete_msgs_event() {
        let body = br#"{"consumerGroup":"G","messageQueue":{"brokerName":"b","queueId":1,"topic":"T"},"offsetNew":7,"offsetRequest":3}"#;
        assert_eq!(
            delete_msgs_event(body, 99).as_deref(),
            Some(
                "DeleteMsgsEvent [offsetMovedEvent=OffsetMovedEvent [consumerGroup=G, messageQueue=MessageQueue [topic=T, brokerName=b, queueId=1], offsetRequest=3, offsetNew=7], eventTimestamp=99]"
            )
        );
        assert_eq!(delete_msgs_event(b"not json", 1), None);
    }
}
