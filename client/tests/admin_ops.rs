//! Admin calls against a real name server and broker: topics on a cluster, connections, runtime
//! info, consumer progress, subscription groups, offset resets (online and offline), deletion;
//! and the RECONSUME_LATER path of the push consumer.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use client::{
    ClientError, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, Message, MessageExt,
    PushConsumer,
};
use common::*;
use parking_lot::Mutex;
use remoting::body::admin::SubscriptionGroupConfig;
use remoting::body::topic::TopicConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_views_resets_and_deletes() {
    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    // Wait for the broker's registration, then create on the whole cluster.
    assert!(
        wait_until_async(|| async {
            env.admin
                .cluster_info()
                .await
                .map(|c| !c.master_addrs_of_cluster("DefaultCluster").is_empty())
                .unwrap_or(false)
        })
        .await
    );
    let addrs = env
        .admin
        .create_topic(
            "DefaultCluster",
            &TopicConfig::with_queues("AdminT", 3, 3, 6),
        )
        .await
        .unwrap();
    assert_eq!(addrs, vec![env.broker.broker_addr().to_string()]);
    wait_route(&env.admin, "AdminT", 1).await;
    let route = env.admin.topic_route("AdminT").await.unwrap();
    assert_eq!(route.queue_datas[0].write_queue_nums, 3);

    let group_cfg = SubscriptionGroupConfig {
        retry_max_times: 3,
        ..SubscriptionGroupConfig::new("CG-admin")
    };
    env.admin
        .create_subscription_group("DefaultCluster", &group_cfg)
        .await
        .unwrap();

    let producer = start_producer("PG-admin", &ns_addr).await;
    send_numbered(&producer, "AdminT", "a", 30).await;
    // Producer connections: our client id is listed.
    producer.instance().send_heartbeat_to_all().await;
    let pc = env
        .admin
        .producer_connections("PG-admin", "AdminT")
        .await
        .unwrap();
    assert!(
        pc.connection_set
            .iter()
            .any(|c| c.client_id == producer.instance().client_id()),
        "{pc:?}"
    );

    let seen: Seen = Arc::default();
    let c = counting_consumer(
        consumer_config("CG-admin", &ns_addr),
        "AdminT",
        "*",
        seen.clone(),
        Arc::default(),
    );
    c.start().await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || seen.lock().len() == 30).await);

    // Consumer connections and subscriptions.
    let cc = env.admin.consumer_connections("CG-admin").await.unwrap();
    assert_eq!(cc.connection_set.len(), 1);
    assert_eq!(cc.connection_set[0].client_id, c.instance().client_id());
    assert!(cc.subscription_table.contains_key("AdminT"));
    assert!(cc.subscription_table.contains_key("%RETRY%CG-admin"));

    // Consumer progress: everything consumed once the commits land.
    assert!(
        wait_until_async(|| async {
            env.admin
                .consume_stats("CG-admin", Some("AdminT"))
                .await
                .map(|s| {
                    let q: Vec<_> = s
                        .offset_table
                        .iter()
                        .filter(|(q, _)| q.topic == "AdminT")
                        .collect();
                    q.len() == 3 && q.iter().all(|(_, o)| o.consumer_offset == o.broker_offset)
                })
                .unwrap_or(false)
        })
        .await
    );

    // Runtime info has the keys mqadmin reads.
    let info = env
        .admin
        .broker_runtime_info(env.broker.broker_addr())
        .await
        .unwrap();
    assert!(info.contains_key("msgPutTotalTodayNow"), "{info:?}");
    assert!(info.contains_key("brokerVersionDesc"));

    // Reset to the beginning while the consumer is online: the broker tells it, it re-consumes.
    let reset = env
        .admin
        .reset_offset_by_time("AdminT", "CG-admin", 0, true)
        .await
        .unwrap();
    assert_eq!(reset.len(), 3, "{reset:?}");
    assert!(reset.values().all(|o| *o == 0));
    assert!(
        wait_until(Duration::from_secs(30), || seen
            .lock()
            .values()
            .all(|n| *n == 2))
        .await,
        "every message consumed again after the reset: {:?}",
        seen.lock()
    );
    c.shutdown().await;

    // Offline: offsets are committed directly; -1 means the end.
    let reset = env
        .admin
        .reset_offset_by_time("AdminT", "CG-admin", -1, true)
        .await
        .unwrap();
    assert_eq!(reset.values().sum::<i64>(), 30);
    let mq = reset.keys().next().unwrap().clone();
    assert_eq!(
        env.admin
            .instance()
            .query_consumer_offset("CG-admin", &mq)
            .await
            .unwrap(),
        Some(reset[&mq])
    );

    // Deletion: the route disappears.
    env.admin
        .delete_topic("DefaultCluster", "AdminT")
        .await
        .unwrap();
    match env.admin.topic_route("AdminT").await {
        Err(ClientError::NoRoute(_)) => {}
        other => panic!("route after delete: {other:?}"),
    }
    producer.shutdown().await;
    env.shutdown().await;
}

/// Polls an async condition for up to 20 s.
async fn wait_until_async<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < end {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A listener that fails each message once: the broker's CONSUMER_SEND_MSG_BACK puts it on
/// `%RETRY%<group>` with a delay, and it comes back with its original topic and a reconsume
/// count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconsume_later_redelivers_through_the_retry_topic() {
    let env =
        Env::start_with(|cfg| cfg.message_delay_level = "1s 1s 1s 1s 1s 1s 1s 1s".into()).await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Retry", 2).await;
    let producer = start_producer("PG-retry", &ns_addr).await;
    for i in 0..10 {
        producer
            .send(Message::new("Retry", format!("r{i}")).with_tags("T"))
            .await
            .unwrap();
    }
    // Fail every message once; the redelivery must come back with the original topic.
    type Calls = Arc<Mutex<HashMap<String, Vec<(String, i32)>>>>;
    let calls: Calls = Arc::default();
    let c2 = calls.clone();
    let c = PushConsumer::new(consumer_config("CG-retry", &ns_addr)).unwrap();
    c.subscribe("Retry", "*").unwrap();
    c.register_listener_concurrently(
        move |msgs: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
            let mut calls = c2.lock();
            let mut fail = false;
            for m in msgs {
                let v = calls.entry(m.body_str()).or_default();
                v.push((m.topic.clone(), m.reconsume_times));
                fail |= v.len() == 1;
            }
            if fail {
                ConsumeConcurrentlyStatus::ReconsumeLater
            } else {
                ConsumeConcurrentlyStatus::ConsumeSuccess
            }
        },
    );
    c.start().await.unwrap();
    let ok = wait_until(Duration::from_secs(60), || {
        let c = calls.lock();
        c.len() == 10 && c.values().all(|v| v.len() >= 2)
    })
    .await;
    assert!(ok, "redeliveries: {:?}", calls.lock());
    for (body, v) in calls.lock().iter() {
        assert_eq!(v[0], ("Retry".to_string(), 0), "{body}");
        assert_eq!(
            v[1].0, "Retry",
            "{body}: retried message shows its original topic"
        );
        assert_eq!(v[1].1, 1, "{body}: reconsume times counted");
    }
    c.shutdown().await;
    producer.shutdown().await;
    env.shutdown().await;
}

/// Broker → client requests over the client's own connection: GET_CONSUMER_RUNNING_INFO is
/// answered with the consumer's report, CHECK_TRANSACTION_STATE reaches the producer group's
/// check listener, and NOTIFY_CONSUMER_IDS_CHANGED is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_to_client_requests_are_served() {
    use remoting::header::admin::GetConsumerRunningInfoRequestHeader;
    use remoting::header::transaction::CheckTransactionStateRequestHeader;
    use remoting::message::{MessageRecord, keys};
    use remoting::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

    let env = Env::start().await;
    let ns_addr = env.ns_addr.clone();
    env.create_topic("Calls", 2).await;

    let c = PushConsumer::new(consumer_config("CG-calls", &ns_addr)).unwrap();
    c.subscribe("Calls", "TagA || TagB").unwrap();
    c.register_listener_concurrently(|_: &[MessageExt], _: &mut ConsumeConcurrentlyContext| {
        ConsumeConcurrentlyStatus::ConsumeSuccess
    });
    c.start().await.unwrap();
    assert!(wait_until(Duration::from_secs(20), || c.assigned_queues().len() == 3).await);
    let ch = env.broker.context().clients.consumer_channels("CG-calls");
    assert_eq!(ch.len(), 1);
    // GET_CONSUMER_RUNNING_INFO for this client, sent as the broker sends it.
    let running_info = async |consumer_group: &str, jstack_enable: Option<bool>| {
        let header = GetConsumerRunningInfoRequestHeader {
            consumer_group: consumer_group.into(),
            client_id: c.instance().client_id().into(),
            jstack_enable,
        };
        ch[0]
            .conn
            .request(
                RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO, header.to_ext()),
                Duration::from_secs(5),
            )
            .await
            .unwrap()
    };
    let resp = running_info("CG-calls", Some(false)).await;
    assert_eq!(resp.code, ResponseCode::SUCCESS.0, "{:?}", resp.remark);
    let v = remoting::fastjson::parse_value(&resp.body).unwrap();
    assert_eq!(v["properties"]["PROP_CONSUME_TYPE"], "CONSUME_PASSIVELY");
    assert_eq!(v["subscriptionSet"].as_array().unwrap().len(), 2);
    assert_eq!(v["mqTable"].as_object().unwrap().len(), 3, "{v}");
    // Unknown group: an error answer, not silence.
    let resp = running_info("nobody", None).await;
    assert_eq!(resp.code, ResponseCode::SYSTEM_ERROR.0);

    // A producer group with a transaction check listener.
    struct Checks(tokio::sync::mpsc::UnboundedSender<(String, i64, String)>);
    impl client::TransactionCheckListener for Checks {
        fn check_transaction_state(
            &self,
            _broker_addr: String,
            header: CheckTransactionStateRequestHeader,
            msg: MessageExt,
        ) {
            let _ = self
                .0
                .send((msg.msg_id.clone(), header.commit_log_offset, msg.body_str()));
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let inst = client::ClientInstance::new(client_config(&ns_addr)).unwrap();
    inst.register_producer("PG-tx", Some(Arc::new(Checks(tx))))
        .unwrap();
    inst.start().unwrap();
    inst.update_topic_route("Calls").await.unwrap();
    assert_eq!(inst.send_heartbeat_to_all().await, 1);
    let pch = env.broker.context().clients.producer_channels("PG-tx");
    assert_eq!(pch.len(), 1);
    let rec = MessageRecord {
        topic: "Calls".into(),
        body: bytes::Bytes::from_static(b"half"),
        physical_offset: 4242,
        properties: [(keys::PGROUP, "PG-tx"), (keys::UNIQ_KEY, "TXID1")]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let header = CheckTransactionStateRequestHeader {
        tran_state_table_offset: 1,
        commit_log_offset: 4242,
        msg_id: Some("TXID1".into()),
        transaction_id: Some("TXID1".into()),
        ..Default::default()
    };
    pch[0]
        .conn
        .oneway(
            RemotingCommand::request(RequestCode::CHECK_TRANSACTION_STATE, header.to_ext())
                .with_body(remoting::message::encode(&rec).unwrap()),
        )
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, ("TXID1".to_string(), 4242, "half".to_string()));
    inst.shutdown().await;
    c.shutdown().await;
    env.shutdown().await;
}
