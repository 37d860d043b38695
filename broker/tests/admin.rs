//! Admin, batch, subscription and registration tests against an in-process broker.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use broker::Broker;
use common::*;
use remoting::body::admin::{
    ConsumeStats, SubscriptionGroupConfig, SubscriptionGroupWrapper, TopicStatsTable,
};
use remoting::body::client::{
    ConsumerConnection, LockBatchRequestBody, LockBatchResponseBody, MessageQueue,
    ProducerConnection,
};
use remoting::body::topic::TopicConfigSerializeWrapper;
use remoting::header::pull::{PullMessageRequestHeader, PullSysFlag};
use remoting::header::send::{
    SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use remoting::message::{BatchItem, Properties, decode_all, encode_batch};
use remoting::{
    ClientConfig, CommandHeader, RemotingClient, RemotingCommand, RequestCode, ResponseCode,
};

async fn call(
    client: &RemotingClient,
    addr: &str,
    code: RequestCode,
    pairs: &[(&str, String)],
    body: Vec<u8>,
) -> RemotingCommand {
    client
        .invoke(
            addr,
            RemotingCommand::request(code, ext(pairs)).with_body(body),
            TIMEOUT,
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_every_name_server() {
    let dir = tempfile::tempdir().unwrap();
    let ns1 = start_namesrv(&dir.path().join("n1")).await;
    let ns2 = start_namesrv(&dir.path().join("n2")).await;
    let list = format!("{};{}", ns1.local_addr(), ns2.local_addr());
    let b = Broker::start(broker_config(&dir.path().join("b"), Some(list)))
        .await
        .unwrap();
    for ns in [&ns1, &ns2] {
        let mut ok = false;
        for _ in 0..500 {
            if ns.routes().topic_route("TBW102").is_some() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(ok, "registered with {}", ns.local_addr());
    }
    assert_eq!(b.register_now().await, 2);
    b.shutdown().await;
    ns1.shutdown().await;
    ns2.shutdown().await;
}

/// Java's broker registers before it answers UPDATE_AND_CREATE_TOPIC, and `mqadmin updateTopic`
/// followed at once by `updateTopicPerm` (which reads the route) relies on it: the route must be
/// on every name server when the answer arrives, with no waiting on the test's side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_topic_is_routed_when_the_answer_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let ns1 = start_namesrv(&dir.path().join("n1")).await;
    let ns2 = start_namesrv(&dir.path().join("n2")).await;
    let list = format!("{};{}", ns1.local_addr(), ns2.local_addr());
    let mut cfg = broker_config(&dir.path().join("b"), Some(list));
    // Only the change itself can make the broker register within the test.
    cfg.register_name_server_period = 60_000;
    let b = Broker::start(cfg).await.unwrap();
    let addr = b.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());
    for (i, topic) in ["RoutedAtOnce", "RoutedAtOnce2", "RoutedAtOnce3"]
        .iter()
        .enumerate()
    {
        let h = remoting::header::admin::CreateTopicRequestHeader {
            topic: (*topic).into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 2 + i as i32,
            write_queue_nums: 2 + i as i32,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            ..Default::default()
        };
        let resp = invoke(
            &client,
            &addr,
            request(RequestCode::UPDATE_AND_CREATE_TOPIC, &h),
        )
        .await;
        assert_eq!(resp.code, 0, "{:?}", resp.remark_str());
        for ns in [&ns1, &ns2] {
            let route = ns.routes().topic_route(topic);
            let queues = route.as_ref().map(|r| r.queue_datas[0].write_queue_nums);
            assert_eq!(queues, Some(2 + i as i32), "{topic} on {}", ns.local_addr());
        }
    }
    b.shutdown().await;
    ns1.shutdown().await;
    ns2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_send_stores_each_item_with_its_properties() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    let items: Vec<BatchItem> = (0..3)
        .map(|i| {
            let mut p = Properties::new();
            p.insert("TAGS", format!("T{i}"));
            p.insert("UNIQ_KEY", format!("ID{i}"));
            BatchItem {
                flag: i,
                body: format!("item-{i}").into_bytes().into(),
                properties: p,
            }
        })
        .collect();
    let h = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: "Batch".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 2,
        born_timestamp: 1,
        batch: Some(true),
        ..Default::default()
    };
    let req = RemotingCommand::request(
        RequestCode::SEND_BATCH_MESSAGE,
        SendMessageRequestHeaderV2::from(h).to_ext(),
    )
    .with_body(encode_batch(&items).unwrap());
    let r = invoke(&client, &addr, req).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    let rh: SendMessageResponseHeader = header(&r);
    assert_eq!(rh.msg_id.split(',').count(), 3);
    assert_eq!((rh.queue_id, rh.queue_offset), (2, 0));
    assert_eq!(wait_max_offset(&client, &addr, "Batch", 2, 3).await, 3);
    let r = invoke(
        &client,
        &addr,
        pull_request("G", "Batch", 2, 0, 0, "T1 || T2"),
    )
    .await;
    let recs = decode_all(&r.body).unwrap();
    assert_eq!(
        recs.iter().map(|r| r.body.to_vec()).collect::<Vec<_>>(),
        vec![b"item-1".to_vec(), b"item-2".to_vec()]
    );
    assert_eq!(recs[0].flag, 1);
    assert_eq!(recs[1].uniq_key(), Some("ID2"));
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_subscriptions_commit_offsets_and_admin_views() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    for i in 0..4 {
        send(
            &client,
            &addr,
            "Sub",
            0,
            format!("{i}").as_bytes(),
            None,
            None,
        )
        .await;
    }
    assert_eq!(wait_max_offset(&client, &addr, "Sub", 0, 4).await, 4);
    // A pull relying on a heartbeat subscription fails before the heartbeat.
    let pull = |commit: i64| {
        let h = PullMessageRequestHeader {
            consumer_group: "SubGroup".into(),
            topic: "Sub".into(),
            queue_id: 0,
            queue_offset: 2,
            max_msg_nums: 32,
            sys_flag: PullSysFlag::build(true, false, false, false).0,
            commit_offset: commit,
            suspend_timeout_millis: 0,
            sub_version: 5,
            ..Default::default()
        };
        request(RequestCode::PULL_MESSAGE, &h)
    };
    let r = invoke(&client, &addr, pull(2)).await;
    assert_eq!(r.response_code(), ResponseCode::SUBSCRIPTION_NOT_EXIST);
    assert_eq!(
        invoke(
            &client,
            &addr,
            heartbeat_request("c1@1", Some("PG-hb"), "SubGroup", "Sub", 5)
        )
        .await
        .response_code(),
        ResponseCode::SUCCESS
    );
    let r = invoke(&client, &addr, pull(2)).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(decode_all(&r.body).unwrap().len(), 2);
    // The pull's commit offset was stored; consume stats show it against the broker offset.
    let r = call(
        &client,
        &addr,
        RequestCode::GET_CONSUME_STATS,
        &[
            ("consumerGroup", "SubGroup".into()),
            ("topic", "Sub".into()),
        ],
        vec![],
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let cs = ConsumeStats::decode(&r.body).unwrap();
    let w = cs
        .offset_table
        .get(&MessageQueue::new("Sub", "broker-a", 0))
        .unwrap();
    assert_eq!((w.broker_offset, w.consumer_offset), (4, 2));
    // The body uses fastjson's object keys, which Java admin tools parse.
    assert!(
        r.body.starts_with(b"{")
            && std::str::from_utf8(&r.body)
                .unwrap()
                .contains("{\"brokerName\"")
    );
    // Topic stats.
    let r = call(
        &client,
        &addr,
        RequestCode::GET_TOPIC_STATS_INFO,
        &[("topic", "Sub".into())],
        vec![],
    )
    .await;
    let ts = TopicStatsTable::decode(&r.body).unwrap();
    let o = ts
        .offset_table
        .get(&MessageQueue::new("Sub", "broker-a", 0))
        .unwrap();
    assert_eq!((o.min_offset, o.max_offset), (0, 4));
    assert!(o.last_update_timestamp > 0);
    // Connections.
    let r = call(
        &client,
        &addr,
        RequestCode::GET_CONSUMER_CONNECTION_LIST,
        &[("consumerGroup", "SubGroup".into())],
        vec![],
    )
    .await;
    let cc = ConsumerConnection::decode(&r.body).unwrap();
    assert_eq!(cc.connection_set.len(), 1);
    assert_eq!(cc.connection_set[0].client_id, "c1@1");
    assert!(cc.subscription_table.contains_key("Sub"));
    let r = call(
        &client,
        &addr,
        RequestCode::GET_CONSUMER_CONNECTION_LIST,
        &[("consumerGroup", "Nobody".into())],
        vec![],
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::CONSUMER_NOT_ONLINE);
    let r = call(
        &client,
        &addr,
        RequestCode::GET_PRODUCER_CONNECTION_LIST,
        &[("producerGroup", "PG-hb".into())],
        vec![],
    )
    .await;
    assert_eq!(
        ProducerConnection::decode(&r.body)
            .unwrap()
            .connection_set
            .len(),
        1
    );
    // Reset by time: -1 = the end, forced; an offline group is refused.
    let reset = |group: &str| {
        vec![
            ("topic", "Sub".to_string()),
            ("group", group.to_string()),
            ("timestamp", "-1".to_string()),
            ("isForce", "true".to_string()),
        ]
    };
    let r = call(
        &client,
        &addr,
        RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
        &reset("SubGroup"),
        vec![],
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    let body = remoting::body::admin::ResetOffsetBody::decode(&r.body).unwrap();
    assert_eq!(
        body.offset_table
            .get(&MessageQueue::new("Sub", "broker-a", 0)),
        Some(&4)
    );
    assert_eq!(b.context().offsets.query("SubGroup", "Sub", 0), Some(4));
    let r = call(
        &client,
        &addr,
        RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
        &reset("Offline"),
        vec![],
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::CONSUMER_NOT_ONLINE);
    // Locks: one holder per queue.
    let lock = |client_id: &str| {
        let body = LockBatchRequestBody {
            consumer_group: "SubGroup".into(),
            client_id: client_id.into(),
            only_this_broker: false,
            mq_set: [MessageQueue::new("Sub", "broker-a", 0)]
                .into_iter()
                .collect(),
        };
        body.encode().unwrap()
    };
    let r = call(
        &client,
        &addr,
        RequestCode::LOCK_BATCH_MQ,
        &[],
        lock("c1@1"),
    )
    .await;
    assert_eq!(
        LockBatchResponseBody::decode(&r.body)
            .unwrap()
            .lock_ok_mq_set
            .len(),
        1
    );
    let r = call(
        &client,
        &addr,
        RequestCode::LOCK_BATCH_MQ,
        &[],
        lock("c2@2"),
    )
    .await;
    assert_eq!(
        LockBatchResponseBody::decode(&r.body)
            .unwrap()
            .lock_ok_mq_set,
        BTreeSet::new()
    );
    let r = call(
        &client,
        &addr,
        RequestCode::UNLOCK_BATCH_MQ,
        &[],
        lock("c1@1"),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let r = call(
        &client,
        &addr,
        RequestCode::LOCK_BATCH_MQ,
        &[],
        lock("c2@2"),
    )
    .await;
    assert_eq!(
        LockBatchResponseBody::decode(&r.body)
            .unwrap()
            .lock_ok_mq_set
            .len(),
        1
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_groups_and_config_admin() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    // Subscription groups: create, list, delete.
    let mut g = SubscriptionGroupConfig::new("AdminGroup");
    g.retry_max_times = 3;
    let r = call(
        &client,
        &addr,
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        &[],
        g.encode().unwrap(),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    let bad = SubscriptionGroupConfig::new("../evil");
    let r = call(
        &client,
        &addr,
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        &[],
        bad.encode().unwrap(),
    )
    .await;
    assert_ne!(r.response_code(), ResponseCode::SUCCESS);
    let r = call(
        &client,
        &addr,
        RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        &[],
        vec![],
    )
    .await;
    let all = SubscriptionGroupWrapper::decode(&r.body).unwrap();
    assert_eq!(
        all.subscription_group_table["AdminGroup"].retry_max_times,
        3
    );
    let r = call(
        &client,
        &addr,
        RequestCode::DELETE_SUBSCRIPTIONGROUP,
        &[("groupName", "AdminGroup".into())],
        vec![],
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    assert!(b.context().groups.get("AdminGroup").is_none());
    // Topics: auto-created on send, listed, deleted.
    send(&client, &addr, "ToDelete", 0, b"x", None, None).await;
    let r = call(
        &client,
        &addr,
        RequestCode::GET_ALL_TOPIC_CONFIG,
        &[],
        vec![],
    )
    .await;
    let topics = TopicConfigSerializeWrapper::decode(&r.body).unwrap();
    assert_eq!(topics.topic_config_table["ToDelete"].write_queue_nums, 4);
    assert!(topics.topic_config_table.contains_key("TBW102"));
    let r = call(
        &client,
        &addr,
        RequestCode::DELETE_TOPIC_IN_BROKER,
        &[("topic", "ToDelete".into())],
        vec![],
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    assert!(b.context().topics.get("ToDelete").is_none());
    // Persisted: topics.json no longer has it.
    let text = std::fs::read_to_string(dir.path().join("config/topics.json")).unwrap();
    assert!(!text.contains("ToDelete"));
    // Broker config as properties text.
    let r = call(&client, &addr, RequestCode::GET_BROKER_CONFIG, &[], vec![]).await;
    let (cfg, _) =
        broker::BrokerConfig::from_properties_text(std::str::from_utf8(&r.body).unwrap()).unwrap();
    assert_eq!(cfg.broker_name, "broker-a");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_pulls_beyond_the_cap_are_told_busy() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.pull_thread_pool_queue_capacity = 1;
    cfg.broker_suspend_max_time_millis = 60_000;
    let (b, addr, client) = start_broker(cfg).await;
    send(&client, &addr, "Cap", 3, b"creates the topic", None, None).await;
    // The first pull is held for long; short probes on another queue find the cap taken.
    let (c2, a2) = (client.clone(), addr.clone());
    let first =
        tokio::spawn(
            async move { invoke(&c2, &a2, pull_request("G", "Cap", 0, 0, 50_000, "*")).await },
        );
    // Wait until it is parked, then a second pull that would park is refused at once.
    for _ in 0..500 {
        if b.context().long_polling.held() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(b.context().long_polling.held(), 1);
    let busy = Some(invoke(&client, &addr, pull_request("G", "Cap", 1, 0, 100, "*")).await)
        .filter(|r| r.response_code() == ResponseCode::SYSTEM_BUSY);
    let busy = busy.expect("a second held pull is refused while the first is parked");
    assert!(busy.remark_str().contains("OVERLOAD"));
    // A message wakes the parked pull.
    send(&client, &addr, "Cap", 0, b"wake", None, None).await;
    let r = first.await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_config_updates_refuse_paths_apply_run_time_keys_and_permission_drains_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let b = Broker::start(broker_config(
        &dir.path().join("b"),
        Some(ns.local_addr().to_string()),
    ))
    .await
    .unwrap();
    let addr = b.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default());
    assert_eq!(
        send(&client, &addr, "Drain", 0, b"x", None, None)
            .await
            .response_code(),
        ResponseCode::SUCCESS
    );
    // Paths and anything else outside the allow-list: refused, nothing applied.
    let body = b"storePathRootDir=/tmp/evil\nbrokerPermission=4\n".to_vec();
    let r = call(&client, &addr, RequestCode::UPDATE_BROKER_CONFIG, &[], body).await;
    assert_eq!(r.response_code(), ResponseCode::NO_PERMISSION);
    assert!(r.remark_str().contains("storePathRootDir"));
    assert_eq!(
        b.context()
            .permission
            .load(std::sync::atomic::Ordering::Relaxed),
        6
    );
    assert!(r.remark_str().contains("a path"), "{:?}", r.remark);
    // Unknown keys are refused too.
    let r = call(
        &client,
        &addr,
        RequestCode::UPDATE_BROKER_CONFIG,
        &[],
        b"noSuchKey=1".to_vec(),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::NO_PERMISSION);
    // A run-time key applies at once; a start-up key is written to the config file.
    let r = call(
        &client,
        &addr,
        RequestCode::UPDATE_BROKER_CONFIG,
        &[],
        b"maxMessageSize=16\nfileReservedTime=48\n".to_vec(),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert!(
        r.remark_str().contains("fileReservedTime"),
        "{:?}",
        r.remark
    );
    assert_ne!(
        send(&client, &addr, "Drain", 0, &[b'x'; 17], None, None)
            .await
            .response_code(),
        ResponseCode::SUCCESS,
        "a body over the new maxMessageSize is refused"
    );
    let file = b.context().runtime.file().to_path_buf();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("maxMessageSize=16") && text.contains("fileReservedTime=48"),
        "{text}"
    );
    let r = call(
        &client,
        &addr,
        RequestCode::UPDATE_BROKER_CONFIG,
        &[],
        format!("maxMessageSize={}", b.context().config.max_message_size).into_bytes(),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    // Read-only: sends refused, GET_BROKER_CONFIG and the name server's route say so.
    let r = call(
        &client,
        &addr,
        RequestCode::UPDATE_BROKER_CONFIG,
        &[],
        b"brokerPermission=4".to_vec(),
    )
    .await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(
        send(&client, &addr, "Drain", 0, b"y", None, None)
            .await
            .response_code(),
        ResponseCode::NO_PERMISSION
    );
    let r = call(&client, &addr, RequestCode::GET_BROKER_CONFIG, &[], vec![]).await;
    let (cfg, _) =
        broker::BrokerConfig::from_properties_text(std::str::from_utf8(&r.body).unwrap()).unwrap();
    assert_eq!(cfg.broker_permission, 4);
    let mut route_perm = None;
    for _ in 0..500 {
        route_perm = ns
            .routes()
            .topic_route("Drain")
            .map(|r| r.queue_datas[0].perm);
        if route_perm == Some(4) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(route_perm, Some(4));
    // Pulls still work on a read-only broker.
    assert_eq!(wait_max_offset(&client, &addr, "Drain", 0, 1).await, 1);
    let r = invoke(&client, &addr, pull_request("G", "Drain", 0, 0, 0, "*")).await;
    assert_eq!(r.response_code(), ResponseCode::SUCCESS);
    b.shutdown().await;
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_name_server_gets_routes_back_without_waiting_a_period() {
    let dir = tempfile::tempdir().unwrap();
    // The name server comes back on the same address, so that address must stay free while it
    // is down: see `reserved_addr`.
    let ns_addr = reserved_addr();
    let ns = namesrv::NameServer::start(namesrv::NamesrvConfig {
        bind_address: ns_addr.ip().to_string(),
        listen_port: ns_addr.port(),
        kv_config_path: dir.path().join("n/kvConfig.json"),
        config_store_path: dir.path().join("n/namesrv.properties"),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(ns.local_addr(), ns_addr);
    let mut cfg = broker_config(&dir.path().join("b"), Some(ns_addr.to_string()));
    // A period far longer than the test: only the lost-connection path can re-register.
    cfg.register_name_server_period = 60_000;
    let b = Broker::start(cfg).await.unwrap();
    let client = RemotingClient::new(ClientConfig::default());
    send(
        &client,
        &b.local_addr().to_string(),
        "Survivor",
        0,
        b"x",
        None,
        None,
    )
    .await;
    for _ in 0..500 {
        if ns.routes().topic_route("Survivor").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ns.routes().topic_route("Survivor").is_some());
    ns.shutdown().await;
    // The same address again, empty.
    let config = namesrv::NamesrvConfig {
        bind_address: ns_addr.ip().to_string(),
        listen_port: ns_addr.port(),
        kv_config_path: dir.path().join("n2/kvConfig.json"),
        config_store_path: dir.path().join("n2/namesrv.properties"),
        ..Default::default()
    };
    let ns2 = namesrv::NameServer::start(config).await.unwrap();
    assert!(ns2.routes().topic_route("Survivor").is_none());
    let mut back = false;
    for _ in 0..500 {
        if ns2.routes().topic_route("Survivor").is_some() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(back, "routes restored after the name server restart");
    b.shutdown().await;
    ns2.shutdown().await;
}

/// An address for a server that must come back on the same address after a restart: a
/// loopback address of its own (127.x.y.z, from the pid and the clock) and a port below Linux's
/// ephemeral range (32768-60999) and below the ranges the local-process tests use
/// (20000-32100). Neither an outgoing connection nor a port-0 bind anywhere is ever handed it,
/// so while the server is down only an explicit bind to this very address or port could take it.
fn reserved_addr() -> std::net::SocketAddr {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    for i in 0..1000u64 {
        let x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(i * 1442695040888963407);
        let ip = std::net::Ipv4Addr::new(
            127,
            100 + (x % 100) as u8,
            (x >> 8) as u8,
            1 + (x >> 16) as u8 % 250,
        );
        let port = 12000 + ((x >> 24) % 8000) as u16;
        let addr = std::net::SocketAddr::from((ip, port));
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no free reserved address");
}
