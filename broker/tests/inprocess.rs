//! In-process broker tests: a real name server and broker on 127.0.0.1:0, real store files in
//! temp dirs, raw remoting requests.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use broker::Broker;
use common::*;
use futures::future::BoxFuture;
use remoting::body::client::GetConsumerListByGroupResponseBody;
use remoting::body::kv::KVTable;
use remoting::header::admin::CreateTopicRequestHeader;
use remoting::header::offset::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use remoting::header::pull::PullMessageResponseHeader;
use remoting::header::query::{QueryMessageRequestHeader, ViewMessageRequestHeader};
use remoting::header::send::SendMessageResponseHeader;
use remoting::message::{decode_all, decode_offset_msg_id};
use remoting::{
    ClientConfig, CommandHeader, Connection, RemotingClient, RemotingCommand, RequestCode,
    RequestHandler, ResponseCode,
};

fn code(r: &RemotingCommand) -> ResponseCode {
    r.response_code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_pull_round_trip_with_tags_keys_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let r = send(
            &client,
            &addr,
            "RoundTrip",
            0,
            format!("body-{i}").as_bytes(),
            Some(tag),
            Some(&format!("key{i}")),
        )
        .await;
        assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
        assert_eq!(r.version, 409);
        let h: SendMessageResponseHeader = header(&r);
        assert_eq!(h.queue_offset, i);
        assert_eq!(h.queue_id, 0);
        ids.push(h.msg_id);
    }
    assert_eq!(
        wait_max_offset(&client, &addr, "RoundTrip", 0, 10).await,
        10
    );
    // Everything, from offset 0.
    let r = invoke(
        &client,
        &addr,
        pull_request("G1", "RoundTrip", 0, 0, 0, "*"),
    )
    .await;
    assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
    let h: PullMessageResponseHeader = header(&r);
    let recs = decode_all(&r.body).unwrap();
    assert_eq!(recs.len(), 10);
    assert_eq!(h.next_begin_offset, 10);
    assert_eq!(h.max_offset, 10);
    for (i, rec) in recs.iter().enumerate() {
        assert_eq!(rec.body.as_ref(), format!("body-{i}").as_bytes());
        assert_eq!(rec.queue_offset, i as i64);
        assert_eq!(rec.properties.get("CLUSTER"), Some("DefaultCluster"));
    }
    // Tag filter by hash: only TagB.
    let r = invoke(
        &client,
        &addr,
        pull_request("G1", "RoundTrip", 0, 0, 0, "TagB"),
    )
    .await;
    assert_eq!(code(&r), ResponseCode::SUCCESS);
    let recs = decode_all(&r.body).unwrap();
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().all(|r| r.tags() == Some("TagB")));
    // View by offset message id.
    let id = decode_offset_msg_id(&ids[3]).unwrap();
    let view = ViewMessageRequestHeader {
        offset: id.commit_log_offset,
        topic: None,
    };
    let r = invoke(
        &client,
        &addr,
        request(RequestCode::VIEW_MESSAGE_BY_ID, &view),
    )
    .await;
    assert_eq!(code(&r), ResponseCode::SUCCESS);
    assert_eq!(decode_all(&r.body).unwrap()[0].body.as_ref(), b"body-3");
    // Query by key (the index is written by the dispatch; allow it a moment).
    let q = QueryMessageRequestHeader {
        topic: "RoundTrip".into(),
        key: "key7".into(),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
        unique_key_query: None,
    };
    let mut found = Vec::new();
    for _ in 0..50 {
        let r = invoke(&client, &addr, request(RequestCode::QUERY_MESSAGE, &q)).await;
        if code(&r) == ResponseCode::SUCCESS {
            found = decode_all(&r.body).unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].body.as_ref(), b"body-7");
    // Max offset.
    let mh = GetMaxOffsetRequestHeader {
        topic: "RoundTrip".into(),
        queue_id: 0,
        committed: None,
        bname: None,
    };
    let r = invoke(&client, &addr, request(RequestCode::GET_MAX_OFFSET, &mh)).await;
    assert_eq!(header::<GetMaxOffsetResponseHeader>(&r).offset, 10);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_wakes_on_new_message_before_hold_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.broker_suspend_max_time_millis = 20_000;
    let (b, addr, client) = start_broker(cfg).await;
    assert_eq!(
        code(&send(&client, &addr, "LP", 0, b"first", None, None).await),
        ResponseCode::SUCCESS
    );
    // Wait for the first message to be readable, so the next pull parks at offset 1.
    for _ in 0..500 {
        let r = invoke(&client, &addr, pull_request("G", "LP", 0, 0, 0, "*")).await;
        if code(&r) == ResponseCode::SUCCESS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hold = 15_000;
    let c2 = client.clone();
    let a2 = addr.clone();
    let started = Instant::now();
    let pull = tokio::spawn(async move {
        let r = invoke(&c2, &a2, pull_request("G", "LP", 0, 1, hold, "*")).await;
        (r, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !pull.is_finished(),
        "the pull must be held while nothing is new"
    );
    let sent_at = Instant::now();
    assert_eq!(
        code(&send(&client, &addr, "LP", 0, b"second", None, None).await),
        ResponseCode::SUCCESS
    );
    let (r, done_at) = pull.await.unwrap();
    assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(decode_all(&r.body).unwrap()[0].body.as_ref(), b"second");
    let total = done_at.duration_since(started);
    assert!(
        total < Duration::from_millis(hold as u64),
        "woken by the message, not the hold time"
    );
    println!(
        "long-poll wake latency after send: {:?}",
        done_at.duration_since(sent_at)
    );
    // An empty hold ends with PULL_NOT_FOUND and all four fields.
    let r = invoke(&client, &addr, pull_request("G", "LP", 0, 2, 200, "*")).await;
    assert_eq!(code(&r), ResponseCode::PULL_NOT_FOUND);
    for k in [
        "suggestWhichBrokerId",
        "nextBeginOffset",
        "minOffset",
        "maxOffset",
    ] {
        assert!(r.ext_fields.get(k).is_some(), "{k}");
    }
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.auto_create_topic_enable = false;
    let (b, addr, client) = start_broker(cfg).await;
    // Missing topic with auto-create off.
    let r = send(&client, &addr, "Missing", 0, b"x", None, None).await;
    assert_eq!(code(&r), ResponseCode::TOPIC_NOT_EXIST);
    assert!(
        r.remark_str().contains("No route info of this topic"),
        "{}",
        r.remark_str()
    );
    // Create it, then a body over maxMessageSize (64 KiB here).
    let ct = CreateTopicRequestHeader {
        topic: "Sized".into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        order: false,
        ..Default::default()
    };
    let r = invoke(
        &client,
        &addr,
        request(RequestCode::UPDATE_AND_CREATE_TOPIC, &ct),
    )
    .await;
    assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
    let big = vec![b'x'; 64 * 1024 + 1];
    let r = send(&client, &addr, "Sized", 0, &big, None, None).await;
    assert_eq!(code(&r), ResponseCode::MESSAGE_ILLEGAL);
    assert!(r.remark_str().contains("body size"), "{}", r.remark_str());
    // The same connection still works.
    let r = send(&client, &addr, "Sized", 0, b"fits", None, None).await;
    assert_eq!(code(&r), ResponseCode::SUCCESS);
    assert_eq!(header::<SendMessageResponseHeader>(&r).queue_offset, 0);
    // Illegal topic names.
    for bad in ["../etc", "a/b", "a b"] {
        let r = send(&client, &addr, bad, 0, b"x", None, None).await;
        assert_ne!(code(&r), ResponseCode::SUCCESS, "{bad}");
        assert!(!r.remark_str().is_empty());
    }
    // Queue id out of range.
    let r = send(&client, &addr, "Sized", 7, b"x", None, None).await;
    assert_eq!(code(&r), ResponseCode::SYSTEM_ERROR);
    // Nothing else was stored: only "fits", also after the dispatch had time to run.
    assert_eq!(wait_max_offset(&client, &addr, "Sized", 0, 1).await, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(wait_max_offset(&client, &addr, "Sized", 0, 1).await, 1);
    assert_eq!(wait_max_offset(&client, &addr, "Sized", 1, 0).await, 0);
    // Unknown request code.
    let r = invoke(
        &client,
        &addr,
        RemotingCommand::request(RequestCode(9999), Default::default()),
    )
    .await;
    assert_eq!(code(&r), ResponseCode::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(r.version, 409);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_at_impossible_offset_is_moved_with_right_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    for i in 0..3 {
        assert_eq!(
            code(
                &send(
                    &client,
                    &addr,
                    "Moved",
                    1,
                    format!("{i}").as_bytes(),
                    None,
                    None
                )
                .await
            ),
            ResponseCode::SUCCESS
        );
    }
    // Let the dispatch catch up.
    for _ in 0..500 {
        let r = invoke(&client, &addr, pull_request("G", "Moved", 1, 0, 0, "*")).await;
        if code(&r) == ResponseCode::SUCCESS && decode_all(&r.body).unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = invoke(&client, &addr, pull_request("G", "Moved", 1, 100, 0, "*")).await;
    assert_eq!(code(&r), ResponseCode::PULL_OFFSET_MOVED, "{:?}", r.remark);
    let h: PullMessageResponseHeader = header(&r);
    assert_eq!(h.next_begin_offset, 3);
    assert_eq!(h.max_offset, 3);
    assert_eq!(h.min_offset, 0);
    // At the end exactly: nothing new, not moved.
    let r = invoke(&client, &addr, pull_request("G", "Moved", 1, 3, 0, "*")).await;
    assert_eq!(code(&r), ResponseCode::PULL_NOT_FOUND);
    assert_eq!(header::<PullMessageResponseHeader>(&r).next_begin_offset, 3);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets_survive_restart_and_are_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let client = RemotingClient::new(ClientConfig::default());
    let commit = |topic: &str, q: i32, off: i64| {
        let h = UpdateConsumerOffsetRequestHeader {
            consumer_group: "CG".into(),
            topic: topic.into(),
            queue_id: q,
            commit_offset: off,
            bname: None,
        };
        request(RequestCode::UPDATE_CONSUMER_OFFSET, &h)
    };
    let query = |topic: &str, q: i32| {
        let h = QueryConsumerOffsetRequestHeader {
            consumer_group: "CG".into(),
            topic: topic.into(),
            queue_id: q,
            set_zero_if_not_found: None,
            bname: None,
        };
        request(RequestCode::QUERY_CONSUMER_OFFSET, &h)
    };
    {
        let b = Broker::start(broker_config(dir.path(), None))
            .await
            .unwrap();
        let addr = b.local_addr().to_string();
        for i in 0..8 {
            assert_eq!(
                code(
                    &send(
                        &client,
                        &addr,
                        "Off",
                        0,
                        format!("{i}").as_bytes(),
                        None,
                        None
                    )
                    .await
                ),
                ResponseCode::SUCCESS
            );
        }
        // Wait until all 8 are in the queue, then commit.
        for _ in 0..500 {
            let mh = GetMaxOffsetRequestHeader {
                topic: "Off".into(),
                queue_id: 0,
                committed: None,
                bname: None,
            };
            let r = invoke(&client, &addr, request(RequestCode::GET_MAX_OFFSET, &mh)).await;
            if header::<GetMaxOffsetResponseHeader>(&r).offset == 8 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            code(&invoke(&client, &addr, commit("Off", 0, 5)).await),
            ResponseCode::SUCCESS
        );
        // Beyond the end: clamped to the end (8), never stored as 1000.
        assert_eq!(
            code(&invoke(&client, &addr, commit("Off", 1, 1000)).await),
            ResponseCode::SUCCESS
        );
        // Negative: refused.
        assert_ne!(
            code(&invoke(&client, &addr, commit("Off", 2, -3)).await),
            ResponseCode::SUCCESS
        );
        b.shutdown().await;
    }
    client.shutdown();
    let client = RemotingClient::new(ClientConfig::default());
    let b = Broker::start(broker_config(dir.path(), None))
        .await
        .unwrap();
    let addr = b.local_addr().to_string();
    let r = invoke(&client, &addr, query("Off", 0)).await;
    assert_eq!(code(&r), ResponseCode::SUCCESS);
    assert_eq!(header::<QueryConsumerOffsetResponseHeader>(&r).offset, 5);
    let r = invoke(&client, &addr, query("Off", 1)).await;
    assert_eq!(header::<QueryConsumerOffsetResponseHeader>(&r).offset, 0);
    // The messages survived too.
    let r = invoke(&client, &addr, pull_request("G", "Off", 0, 5, 0, "*")).await;
    assert_eq!(code(&r), ResponseCode::SUCCESS);
    assert_eq!(decode_all(&r.body).unwrap().len(), 3);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_visible_in_namesrv_routes_and_follows_topic_changes() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let b = Broker::start(broker_config(&dir.path().join("b"), Some(ns_addr.clone())))
        .await
        .unwrap();
    let addr = b.local_addr().to_string();
    // The broker registers at start: TBW102 has a route to it, at its advertised address.
    let mut route = None;
    for _ in 0..500 {
        route = ns.routes().topic_route("TBW102");
        if route.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let route = route.expect("TBW102 route registered");
    assert_eq!(route.broker_datas[0].master_addr(), Some(b.broker_addr()));
    assert!(
        b.broker_addr().starts_with("127.0.0.1:"),
        "{}",
        b.broker_addr()
    );
    // A new topic is registered at once (well before the 30 s period of production configs).
    let client = RemotingClient::new(ClientConfig::default());
    let ct = CreateTopicRequestHeader {
        topic: "NewTopic".into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 3,
        write_queue_nums: 3,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        ..Default::default()
    };
    let r = invoke(
        &client,
        &addr,
        request(RequestCode::UPDATE_AND_CREATE_TOPIC, &ct),
    )
    .await;
    assert_eq!(code(&r), ResponseCode::SUCCESS);
    let mut qd = None;
    for _ in 0..500 {
        if let Some(r) = ns.routes().topic_route("NewTopic") {
            qd = Some(r.queue_datas[0].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(qd.expect("NewTopic route").write_queue_nums, 3);
    // Shutdown unregisters.
    b.shutdown().await;
    assert!(ns.routes().topic_route("NewTopic").is_none());
    ns.shutdown().await;
}

/// Counts NOTIFY_CONSUMER_IDS_CHANGED calls from the broker.
struct NotifyCounter(AtomicUsize);

impl RequestHandler for NotifyCounter {
    fn handle<'a>(
        &'a self,
        _conn: &'a Connection,
        req: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        if req.request_code() == RequestCode::NOTIFY_CONSUMER_IDS_CHANGED {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async move { None })
    }
}

fn heartbeat(client_id: &str) -> RemotingCommand {
    heartbeat_request(client_id, None, "HbGroup", "HbTopic", 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_membership_notifications_and_runtime_info() {
    let dir = tempfile::tempdir().unwrap();
    let b = Broker::start(broker_config(dir.path(), None))
        .await
        .unwrap();
    let addr = b.local_addr().to_string();
    let counter_a = Arc::new(NotifyCounter(AtomicUsize::new(0)));
    let a = RemotingClient::with_handler(ClientConfig::default(), counter_a.clone());
    let bcl = RemotingClient::new(ClientConfig::default());
    assert_eq!(
        code(&invoke(&a, &addr, heartbeat("10.0.0.1@a")).await),
        ResponseCode::SUCCESS
    );
    assert_eq!(
        code(&invoke(&bcl, &addr, heartbeat("10.0.0.2@b")).await),
        ResponseCode::SUCCESS
    );
    let list = RemotingCommand::request(
        RequestCode::GET_CONSUMER_LIST_BY_GROUP,
        ext(&[("consumerGroup", "HbGroup".into())]),
    );
    let r = invoke(&a, &addr, list.clone()).await;
    let ids = GetConsumerListByGroupResponseBody::decode(&r.body)
        .unwrap()
        .consumer_id_list;
    assert_eq!(
        ids,
        vec!["10.0.0.1@a".to_string(), "10.0.0.2@b".to_string()]
    );
    // A learns that B joined, then that B left (connection closed).
    for _ in 0..500 {
        if counter_a.0.load(Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let joined = counter_a.0.load(Ordering::SeqCst);
    assert!(joined >= 1);
    bcl.shutdown();
    for _ in 0..500 {
        if counter_a.0.load(Ordering::SeqCst) > joined {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(counter_a.0.load(Ordering::SeqCst) > joined);
    let r = invoke(&a, &addr, list).await;
    assert_eq!(
        GetConsumerListByGroupResponseBody::decode(&r.body)
            .unwrap()
            .consumer_id_list,
        vec!["10.0.0.1@a".to_string()]
    );
    // The retry topic of the group was created by the heartbeat.
    assert!(b.context().topics.get("%RETRY%HbGroup").is_some());
    // Runtime info carries the keys clusterList reads.
    let r = invoke(
        &a,
        &addr,
        RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, Default::default()),
    )
    .await;
    let t = KVTable::decode(&r.body).unwrap().table;
    for k in [
        "brokerVersionDesc",
        "putTps",
        "getTransferedTps",
        "msgPutTotalTodayNow",
        "msgGetTotalTodayNow",
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "commitLogDiskRatio",
        "pageCacheLockTimeMills",
        "earliestMessageTimeStamp",
        "commitLogMaxOffset",
        "bootTimestamp",
        "runtime",
    ] {
        assert!(t.contains_key(k), "{k}");
    }
    // commitLogDiskRatio (clusterList's #SPACE) is the ratio the store's disk checks act on,
    // Java's (total - free) / total with free = f_bfree; the file system may change a little
    // between the two readings.
    let reported: f64 = t["commitLogDiskRatio"].parse().unwrap();
    let acted_on = store::fs::disk_used_ratio(dir.path()).unwrap();
    assert!(
        (reported - acted_on).abs() < 0.005,
        "reported {reported}, store {acted_on}"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_flush_sends_and_time_based_offsets() {
    use remoting::header::offset::{
        GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
        GetMinOffsetRequestHeader, GetMinOffsetResponseHeader, SearchOffsetRequestHeader,
        SearchOffsetResponseHeader,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = broker_config(dir.path(), None);
    cfg.flush_disk_type = broker::FlushDiskType::SyncFlush;
    let (b, addr, client) = start_broker(cfg).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Concurrent SYNC_FLUSH sends share flushes; every one is acknowledged as stored.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (c, a) = (client.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            send(&c, &a, "Sync", 0, format!("m{i}").as_bytes(), None, None).await
        }));
    }
    let mut offsets = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
        offsets.push(header::<SendMessageResponseHeader>(&r).queue_offset);
    }
    offsets.sort();
    assert_eq!(offsets, (0..20).collect::<Vec<i64>>());
    assert_eq!(wait_max_offset(&client, &addr, "Sync", 0, 20).await, 20);
    let req = |code, ext: remoting::ExtFields| RemotingCommand::request(code, ext);
    let r = invoke(
        &client,
        &addr,
        req(
            RequestCode::GET_MIN_OFFSET,
            GetMinOffsetRequestHeader {
                topic: "Sync".into(),
                queue_id: 0,
                bname: None,
            }
            .to_ext(),
        ),
    )
    .await;
    assert_eq!(header::<GetMinOffsetResponseHeader>(&r).offset, 0);
    let r = invoke(
        &client,
        &addr,
        req(
            RequestCode::GET_EARLIEST_MSG_STORETIME,
            GetEarliestMsgStoretimeRequestHeader {
                topic: "Sync".into(),
                queue_id: 0,
                bname: None,
            }
            .to_ext(),
        ),
    )
    .await;
    let earliest = header::<GetEarliestMsgStoretimeResponseHeader>(&r).timestamp;
    assert!(earliest >= before - 1000, "{earliest} vs {before}");
    let search = |ts: i64| {
        req(
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
            SearchOffsetRequestHeader {
                topic: "Sync".into(),
                queue_id: 0,
                timestamp: ts,
                boundary_type: None,
                bname: None,
            }
            .to_ext(),
        )
    };
    let r = invoke(&client, &addr, search(before - 60_000)).await;
    assert_eq!(header::<SearchOffsetResponseHeader>(&r).offset, 0);
    let r = invoke(&client, &addr, search(i64::MAX / 2)).await;
    assert_eq!(header::<SearchOffsetResponseHeader>(&r).offset, 20);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_properties_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (b, addr, client) = start_broker(broker_config(dir.path(), None)).await;
    // A value with a second name/value separator, and a segment with none: either would decode
    // differently from what was sent.
    for raw in ["TAGS\u{1}a\u{1}b", "TAGS\u{1}a\u{2}KEYSONLY", "\u{1}v"] {
        let r = invoke(
            &client,
            &addr,
            send_request("Props", 0, b"x", raw.to_string()),
        )
        .await;
        assert_eq!(code(&r), ResponseCode::MESSAGE_ILLEGAL, "{raw:?}");
    }
    // Trailing separators (ali-ons writes them) are fine.
    let r = invoke(
        &client,
        &addr,
        send_request("Props", 0, b"x", "TAGS\u{1}a\u{2}".to_string()),
    )
    .await;
    assert_eq!(code(&r), ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(wait_max_offset(&client, &addr, "Props", 0, 1).await, 1);
    b.shutdown().await;
}
