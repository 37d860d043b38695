//! [`RemotingAdmin`] against real brokers started in-process on 127.0.0.1:0 (the unit tests only
//! answer it with a scripted fake): the catch-up question reads real replication offsets, the
//! topic copy creates real topics on another master, and the drain check reads a real broker's
//! permission, consumer offsets and queue offsets.

#![allow(clippy::unwrap_used)]

mod in_process;

use std::path::Path;
use std::time::Duration;

use broker::config::{BrokerConfig, BrokerRole};
use broker::{Broker, BrokerHandle};
use operator::admin::{BrokerAdmin, CATCH_UP_SLACK, RemotingAdmin};
use remoting::body::topic::{TopicConfigSerializeWrapper, perm};
use remoting::header::admin::CreateTopicRequestHeader;
use remoting::header::offset::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use remoting::header::pull::{PullMessageRequestHeader, PullMessageResponseHeader, PullSysFlag};
use remoting::header::send::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
use remoting::message::Properties;
use remoting::{
    CommandHeader, ExtFields, RemotingClient, RemotingCommand, RequestCode, ResponseCode,
};

/// Request timeout of the test's own requests (generous: the machine is shared).
const TIMEOUT: Duration = Duration::from_secs(30);

use in_process::start_namesrv;

/// A broker on 127.0.0.1:0 with small files under `store`.
async fn start_broker(
    store: &Path,
    name: &str,
    role: BrokerRole,
    namesrv: Option<String>,
) -> BrokerHandle {
    let config = BrokerConfig {
        broker_id: if role.is_master() { 0 } else { 1 },
        broker_role: role,
        register_name_server_period: 1000,
        flush_consumer_offset_interval: 200,
        ha_housekeeping_interval: 3000,
        ha_send_heartbeat_interval: 500,
        ..in_process::broker_config(store, name, namesrv)
    };
    Broker::start(config).await.unwrap()
}

async fn invoke(client: &RemotingClient, addr: &str, req: RemotingCommand) -> RemotingCommand {
    let r = client.invoke(addr, req, TIMEOUT).await.unwrap();
    assert_eq!(r.code, ResponseCode::SUCCESS.0, "{:?}", r.remark);
    r
}

async fn send(client: &RemotingClient, addr: &str, topic: &str, queue_id: i32, body: Vec<u8>) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut p = Properties::new();
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    p.insert("UNIQ_KEY", format!("{n:032X}"));
    let h = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(p.encode().unwrap()),
        batch: Some(false),
        ..Default::default()
    };
    let req = RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        SendMessageRequestHeaderV2::from(h).to_ext(),
    )
    .with_body(body);
    invoke(client, addr, req).await;
}

async fn create_topic(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    (read, write, perm, order): (i32, i32, i32, bool),
) {
    let h = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: read,
        write_queue_nums: write,
        perm,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order,
        attributes: None,
        force: None,
    };
    let req = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, h.to_ext());
    invoke(client, addr, req).await;
}

async fn all_topics(client: &RemotingClient, addr: &str) -> TopicConfigSerializeWrapper {
    let req = RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG, ExtFields::default());
    TopicConfigSerializeWrapper::decode(&invoke(client, addr, req).await.body).unwrap()
}

/// Waits until a queue's max offset reaches `n` (the store dispatches after the ack).
async fn wait_max_offset(client: &RemotingClient, addr: &str, topic: &str, queue_id: i32, n: i64) {
    for _ in 0..1000 {
        let h = GetMaxOffsetRequestHeader {
            topic: topic.into(),
            queue_id,
            committed: None,
            bname: None,
        };
        let req = RemotingCommand::request(RequestCode::GET_MAX_OFFSET, h.to_ext());
        let r = invoke(client, addr, req).await;
        if r.ext_fields
            .decode::<GetMaxOffsetResponseHeader>()
            .unwrap()
            .offset
            >= n
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{topic}/{queue_id} never reached {n}");
}

async fn commit_offset(client: &RemotingClient, addr: &str, topic: &str, queue_id: i32, at: i64) {
    let h = UpdateConsumerOffsetRequestHeader {
        consumer_group: "CG".into(),
        topic: topic.into(),
        queue_id,
        commit_offset: at,
        bname: None,
    };
    let req = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, h.to_ext());
    invoke(client, addr, req).await;
}

/// Pulls a queue from `offset` until nothing is left; returns (messages read, next offset).
async fn consume_all(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    queue_id: i32,
    mut offset: i64,
) -> (usize, i64) {
    let mut read = 0;
    loop {
        let h = PullMessageRequestHeader {
            consumer_group: "CG".into(),
            topic: topic.into(),
            queue_id,
            queue_offset: offset,
            max_msg_nums: 32,
            sys_flag: PullSysFlag::build(false, false, true, false).0,
            commit_offset: 0,
            suspend_timeout_millis: 0,
            subscription: Some("*".into()),
            sub_version: 0,
            expression_type: Some("TAG".into()),
            ..Default::default()
        };
        let req = RemotingCommand::request(RequestCode::PULL_MESSAGE, h.to_ext());
        let r = client.invoke(addr, req, TIMEOUT).await.unwrap();
        if r.code != ResponseCode::SUCCESS.0 {
            // PULL_NOT_FOUND / PULL_RETRY_IMMEDIATELY at the end of the queue.
            return (read, offset);
        }
        read += remoting::message::record::decode_all(&r.body)
            .unwrap()
            .len();
        let next = r
            .ext_fields
            .decode::<PullMessageResponseHeader>()
            .unwrap()
            .next_begin_offset;
        assert!(next > offset);
        offset = next;
    }
}

fn store_offset(b: &BrokerHandle) -> i64 {
    b.context()
        .message_store
        .as_ref()
        .unwrap()
        .commit_log_max_offset()
}

/// An address on loopback nobody listens on.
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_follows_real_replication() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let master = start_broker(
        &dir.path().join("m"),
        "broker-a",
        BrokerRole::AsyncMaster,
        Some(ns_addr.clone()),
    )
    .await;
    let slave = start_broker(
        &dir.path().join("s"),
        "broker-a",
        BrokerRole::Slave,
        Some(ns_addr.clone()),
    )
    .await;
    // A slave with no name server and no haMasterAddress never learns where its master is: it
    // stays at offset 0, a deterministic "far behind".
    let stuck = start_broker(&dir.path().join("x"), "broker-a", BrokerRole::Slave, None).await;
    let (maddr, saddr, xaddr) = (
        master.broker_addr().to_string(),
        slave.broker_addr().to_string(),
        stuck.broker_addr().to_string(),
    );
    let client = RemotingClient::new(Default::default());
    // More than the slack, in messages under maxMessageSize.
    for i in 0..40 {
        send(
            &client,
            &maddr,
            "RT",
            i % 4,
            vec![b'a' + (i % 26) as u8; 40 * 1024],
        )
        .await;
    }
    let sent = store_offset(&master);
    assert!(sent > CATCH_UP_SLACK, "{sent}");
    let admin = RemotingAdmin::default();

    assert_eq!(store_offset(&stuck), 0);
    assert!(
        !admin
            .slaves_caught_up(&maddr, std::slice::from_ref(&xaddr))
            .await
            .unwrap()
    );
    // An absent slave is not an answer: the question fails rather than saying "caught up".
    assert!(
        admin
            .slaves_caught_up(&maddr, &[dead_addr()])
            .await
            .is_err()
    );

    // Once the real slave holds every byte that was sent, it is caught up.
    for _ in 0..3000 {
        if store_offset(&slave) >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store_offset(&slave), sent);
    assert!(
        admin
            .slaves_caught_up(&maddr, std::slice::from_ref(&saddr))
            .await
            .unwrap()
    );
    // One stuck slave is enough to say no.
    assert!(
        !admin
            .slaves_caught_up(&maddr, &[saddr, xaddr])
            .await
            .unwrap()
    );
    assert!(admin.slaves_caught_up(&maddr, &[]).await.unwrap());

    stuck.shutdown().await;
    slave.shutdown().await;
    master.shutdown().await;
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_copy_creates_the_same_topics_on_the_new_group() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let a = start_broker(
        &dir.path().join("a"),
        "broker-a",
        BrokerRole::AsyncMaster,
        Some(ns_addr.clone()),
    )
    .await;
    let b = start_broker(
        &dir.path().join("b"),
        "broker-b",
        BrokerRole::AsyncMaster,
        Some(ns_addr.clone()),
    )
    .await;
    let (aaddr, baddr) = (a.broker_addr().to_string(), b.broker_addr().to_string());
    let client = RemotingClient::new(Default::default());
    let created = [
        ("orders", (3, 5, perm::READ_WRITE, false)),
        ("audit", (2, 2, perm::READ, true)),
    ];
    for (t, shape) in created {
        create_topic(&client, &aaddr, t, shape).await;
    }
    // A consumer's retry topic on the source is the broker's own business: not copied.
    send(&client, &aaddr, "orders", 0, b"x".to_vec()).await;
    create_topic(
        &client,
        &aaddr,
        "%RETRY%CG",
        (1, 1, perm::READ_WRITE, false),
    )
    .await;

    let before = all_topics(&client, &baddr).await;
    for (t, _) in created {
        assert!(!before.topic_config_table.contains_key(t), "{t}");
    }
    let admin = RemotingAdmin::default();
    let skip = ["broker-a", "broker-b", "DefaultCluster"].map(String::from);
    let n = admin.copy_topics(&aaddr, &baddr, &skip).await.unwrap();
    assert_eq!(n, created.len());

    let after = all_topics(&client, &baddr).await;
    for (t, (read, write, perm, order)) in created {
        let tc = &after.topic_config_table[t];
        assert_eq!(
            (tc.read_queue_nums, tc.write_queue_nums, tc.perm, tc.order),
            (read, write, perm, order),
            "{t}"
        );
    }
    assert!(!after.topic_config_table.contains_key("%RETRY%CG"));
    assert!(!after.topic_config_table.contains_key("broker-a"));
    // Copying again finds nothing missing.
    assert_eq!(admin.copy_topics(&aaddr, &baddr, &skip).await.unwrap(), 0);
    // The copied topic takes writes on the target.
    send(&client, &baddr, "orders", 4, b"y".to_vec()).await;

    b.shutdown().await;
    a.shutdown().await;
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drained_needs_wiped_write_permission_and_no_lag() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let m = start_broker(
        &dir.path().join("m"),
        "broker-a",
        BrokerRole::AsyncMaster,
        Some(ns.local_addr().to_string()),
    )
    .await;
    let maddr = m.broker_addr().to_string();
    let client = RemotingClient::new(Default::default());
    create_topic(&client, &maddr, "D", (2, 2, perm::READ_WRITE, false)).await;
    for i in 0..10 {
        send(&client, &maddr, "D", i % 2, format!("d{i}").into_bytes()).await;
    }
    for q in 0..2 {
        wait_max_offset(&client, &maddr, "D", q, 5).await;
        // The group has started at the beginning and consumed nothing yet.
        commit_offset(&client, &maddr, "D", q, 0).await;
    }
    let admin = RemotingAdmin::default();
    // Writable: not drained, whatever the lag.
    assert!(!admin.is_drained(&maddr).await.unwrap());

    // Wipe write permission the way mqadmin updateBrokerConfig does.
    let req = RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG, ExtFields::default())
        .with_body(format!("brokerPermission={}\n", perm::READ).into_bytes());
    invoke(&client, &maddr, req).await;
    assert_eq!(
        m.context()
            .permission
            .load(std::sync::atomic::Ordering::Relaxed),
        perm::READ
    );
    // Read-only but ten messages unconsumed: still not drained.
    assert!(!admin.is_drained(&maddr).await.unwrap());

    // Half consumed: still lag on one queue.
    let (n0, next0) = consume_all(&client, &maddr, "D", 0, 0).await;
    assert_eq!((n0, next0), (5, 5));
    commit_offset(&client, &maddr, "D", 0, next0).await;
    assert!(!admin.is_drained(&maddr).await.unwrap());

    let (n1, next1) = consume_all(&client, &maddr, "D", 1, 0).await;
    assert_eq!((n1, next1), (5, 5));
    commit_offset(&client, &maddr, "D", 1, next1).await;
    assert!(admin.is_drained(&maddr).await.unwrap());

    m.shutdown().await;
    ns.shutdown().await;
}

/// The masters-only roll's gate: a master counts as registered once the real name server lists
/// its group in the cluster with brokerId 0 at its address; a slave alone, another address or a
/// shut-down master do not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_registration_is_read_from_a_real_name_server() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_namesrv(dir.path()).await;
    let ns_addr = ns.local_addr().to_string();
    let admin = RemotingAdmin::default();
    let cluster = BrokerConfig::default().broker_cluster_name;
    assert!(
        !admin
            .master_registered(&ns_addr, &cluster, "broker-a", None)
            .await
            .unwrap()
    );
    let slave = start_broker(
        &dir.path().join("s"),
        "broker-a",
        BrokerRole::Slave,
        Some(ns_addr.clone()),
    )
    .await;
    slave.register_now().await;
    assert!(
        !admin
            .master_registered(&ns_addr, &cluster, "broker-a", None)
            .await
            .unwrap(),
        "a slave alone is not a registered master"
    );
    let master = start_broker(
        &dir.path().join("m"),
        "broker-a",
        BrokerRole::AsyncMaster,
        Some(ns_addr.clone()),
    )
    .await;
    master.register_now().await;
    let maddr = master.broker_addr().to_string();
    assert!(
        admin
            .master_registered(&ns_addr, &cluster, "broker-a", Some(&maddr))
            .await
            .unwrap()
    );
    assert!(
        !admin
            .master_registered(&ns_addr, &cluster, "broker-a", Some("127.0.0.1:1"))
            .await
            .unwrap()
    );
    assert!(
        !admin
            .master_registered(&ns_addr, "OtherCluster", "broker-a", Some(&maddr))
            .await
            .unwrap()
    );
    // A stopped master unregisters (the broker's shutdown path).
    master.shutdown().await;
    assert!(
        !admin
            .master_registered(&ns_addr, &cluster, "broker-a", Some(&maddr))
            .await
            .unwrap()
    );
    slave.shutdown().await;
    ns.shutdown().await;
}
