//! Shared helpers of the broker's integration tests: an in-process name server, broker configs
//! on 127.0.0.1:0 in temp dirs, and raw remoting requests.

#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use broker::config::{BrokerConfig, BrokerRole};
use broker::{Broker, BrokerHandle};
use namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use remoting::body::client::{ConsumerData, HeartbeatData, ProducerData, SubscriptionData};
use remoting::header::pull::{PullMessageRequestHeader, PullSysFlag};
use remoting::header::send::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
use remoting::message::Properties;
use remoting::{
    ClientConfig, CommandHeader, ExtFields, RemotingClient, RemotingCommand, RequestCode,
};

/// Request timeout of the tests (generous: the machine is shared).
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// An in-process name server on 127.0.0.1:0 with its files under `dir`.
pub async fn start_namesrv(dir: &Path) -> NameServerHandle {
    let config = NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.join("kvConfig.json"),
        config_store_path: dir.join("namesrv.properties"),
        ..Default::default()
    };
    NameServer::start(config).await.unwrap()
}

/// A broker config on 127.0.0.1:0 with small files under `store`.
pub fn broker_config(store: &Path, namesrv: Option<String>) -> BrokerConfig {
    BrokerConfig {
        broker_name: "broker-a".into(),
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: namesrv,
        store_path_root_dir: store.display().to_string(),
        mapped_file_size_commit_log: 4 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        max_message_size: 64 * 1024,
        register_name_server_period: 1000,
        flush_consumer_offset_interval: 200,
        ..Default::default()
    }
}

/// [`broker_config`] for one side of a master/slave pair: `role`, and broker id 0 for a master,
/// 1 for a slave.
pub fn pair_config(store: &Path, namesrv: Option<String>, role: BrokerRole) -> BrokerConfig {
    let mut c = broker_config(store, namesrv);
    c.broker_role = role;
    c.broker_id = if role.is_master() { 0 } else { 1 };
    c
}

/// Waits up to `within` for `master` to count a slave in sync (panics if none is).
pub async fn wait_in_sync(master: &BrokerHandle, within: Duration) {
    let ha = master.context().ha.get().unwrap();
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if ha.in_sync_count() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no slave in sync");
}

/// A broker started from `cfg`, its address and a client: the opening of most tests.
pub async fn start_broker(cfg: BrokerConfig) -> (BrokerHandle, String, RemotingClient) {
    let b = Broker::start(cfg).await.unwrap();
    let addr = b.local_addr().to_string();
    (b, addr, RemotingClient::new(ClientConfig::default()))
}

/// Sends `req` with the tests' timeout; the transport must not fail (the response code is the
/// caller's to check).
pub async fn invoke(client: &RemotingClient, addr: &str, req: RemotingCommand) -> RemotingCommand {
    client.invoke(addr, req, TIMEOUT).await.unwrap()
}

/// A request whose header fields come from a typed request header.
pub fn request<H: CommandHeader>(code: RequestCode, header: &H) -> RemotingCommand {
    RemotingCommand::request(code, header.to_ext())
}

/// The typed response header of `r`, which must decode.
pub fn header<H: CommandHeader>(r: &RemotingCommand) -> H {
    r.ext_fields.decode::<H>().unwrap()
}

/// A HEART_BEAT request of one consumer (and optionally one producer group) subscribed to all of
/// `topic`.
pub fn heartbeat_request(
    client_id: &str,
    producer_group: Option<&str>,
    group: &str,
    topic: &str,
    sub_version: i64,
) -> RemotingCommand {
    let hb = HeartbeatData {
        client_id: client_id.into(),
        producer_data_set: producer_group
            .map(|g| ProducerData {
                group_name: g.into(),
            })
            .into_iter()
            .collect(),
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            subscription_data_set: vec![SubscriptionData {
                topic: topic.into(),
                sub_string: "*".into(),
                sub_version,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    RemotingCommand::request(RequestCode::HEART_BEAT, Default::default())
        .with_body(hb.encode().unwrap())
}

/// A properties string with optional tags and keys and a fresh UNIQ_KEY.
pub fn props(tags: Option<&str>, keys: Option<&str>) -> String {
    let mut p = Properties::new();
    if let Some(t) = tags {
        p.insert("TAGS", t);
    }
    if let Some(k) = keys {
        p.insert("KEYS", k);
    }
    p.insert("UNIQ_KEY", format!("{:032X}", rand_u128()));
    p.encode().unwrap()
}

fn rand_u128() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    u128::from(N.fetch_add(1, Ordering::Relaxed))
}

/// A SEND_MESSAGE_V2 request.
pub fn send_request(
    topic: &str,
    queue_id: i32,
    body: &[u8],
    properties: String,
) -> RemotingCommand {
    let h = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(properties),
        batch: Some(false),
        ..Default::default()
    };
    RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        SendMessageRequestHeaderV2::from(h).to_ext(),
    )
    .with_body(body.to_vec())
}

/// Sends one message and returns the response.
pub async fn send(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    queue_id: i32,
    body: &[u8],
    tags: Option<&str>,
    keys: Option<&str>,
) -> RemotingCommand {
    invoke(
        client,
        addr,
        send_request(topic, queue_id, body, props(tags, keys)),
    )
    .await
}

/// A PULL_MESSAGE request with the subscription in the request.
pub fn pull_request(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    suspend_ms: i64,
    subscription: &str,
) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: PullSysFlag::build(false, suspend_ms > 0, true, false).0,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: Some(subscription.into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        ..Default::default()
    };
    RemotingCommand::request(RequestCode::PULL_MESSAGE, h.to_ext())
}

/// Header fields from pairs.
pub fn ext(pairs: &[(&str, String)]) -> ExtFields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Waits until a queue's max offset reaches `n` (the store dispatches asynchronously after the
/// send is acknowledged) and returns it.
pub async fn wait_max_offset(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    queue_id: i32,
    n: i64,
) -> i64 {
    use remoting::header::offset::{GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader};
    let mut last = 0;
    for _ in 0..500 {
        let h = GetMaxOffsetRequestHeader {
            topic: topic.into(),
            queue_id,
            committed: None,
            bname: None,
        };
        let r = invoke(client, addr, request(RequestCode::GET_MAX_OFFSET, &h)).await;
        last = header::<GetMaxOffsetResponseHeader>(&r).offset;
        if last >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    last
}
