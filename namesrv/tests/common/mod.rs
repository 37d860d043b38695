//! Test helpers: an in-process name server on 127.0.0.1:0 and fake brokers that register with
//! real REGISTER_BROKER requests over their own connections.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use remoting::body::route::TopicRouteData;
use remoting::body::topic::{
    DataVersion, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper,
};
use remoting::header::namesrv::{
    GetRouteInfoRequestHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
};
use remoting::{
    ClientConfig, CommandHeader, ExtFields, RemotingClient, RemotingCommand, RequestCode,
    ResponseCode,
};

pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A config for tests: loopback, free port, KV file in `dir`.
pub fn test_config(dir: &Path) -> NamesrvConfig {
    NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.join("kvConfig.json"),
        config_store_path: dir.join("namesrv.properties"),
        ..NamesrvConfig::default()
    }
}

pub async fn start(dir: &Path) -> NameServerHandle {
    NameServer::start(test_config(dir)).await.unwrap()
}

/// A broker stand-in with its own connection to the name server.
pub struct FakeBroker {
    pub client: RemotingClient,
    pub namesrv: String,
    pub cluster: String,
    pub name: String,
    pub id: i64,
    pub addr: String,
    pub topics: Vec<TopicConfig>,
    pub version: DataVersion,
}

impl FakeBroker {
    pub fn new(namesrv: &str, cluster: &str, name: &str, id: i64, addr: &str) -> Self {
        FakeBroker {
            client: RemotingClient::new(ClientConfig::default()),
            namesrv: namesrv.to_string(),
            cluster: cluster.into(),
            name: name.into(),
            id,
            addr: addr.into(),
            topics: Vec::new(),
            version: DataVersion {
                timestamp: 1_700_000_000_000,
                counter: 1,
                state_version: None,
            },
        }
    }

    pub fn with_topic(mut self, topic: &str, queues: i32) -> Self {
        self.topics
            .push(TopicConfig::with_queues(topic, queues, queues, 6));
        self
    }

    pub fn ha_addr(&self) -> String {
        format!("{}-ha", self.addr)
    }

    pub fn register_request(&self, compressed: bool) -> RemotingCommand {
        let body = RegisterBrokerBody {
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                topic_config_table: self
                    .topics
                    .iter()
                    .map(|t| (t.topic_name.clone(), t.clone()))
                    .collect(),
                data_version: self.version.clone(),
            },
            filter_server_list: vec![],
        };
        let bytes = body.encode(compressed).unwrap();
        let header = RegisterBrokerRequestHeader {
            broker_name: self.name.clone(),
            broker_addr: self.addr.clone(),
            cluster_name: self.cluster.clone(),
            ha_server_addr: self.ha_addr(),
            broker_id: self.id,
            compressed: Some(compressed),
            body_crc32: Some(RegisterBrokerBody::crc32(&bytes)),
            heartbeat_timeout_millis: None,
            enable_acting_master: None,
        };
        RemotingCommand::request(RequestCode::REGISTER_BROKER, header.to_ext()).with_body(bytes)
    }

    /// Registers and returns the response header.
    pub async fn register(&self) -> RegisterBrokerResponseHeader {
        self.register_with(false).await
    }

    pub async fn register_with(&self, compressed: bool) -> RegisterBrokerResponseHeader {
        let resp = self
            .client
            .invoke_ok(&self.namesrv, self.register_request(compressed), TIMEOUT)
            .await
            .unwrap();
        resp.ext_fields.decode().unwrap()
    }
}

pub async fn route(
    client: &RemotingClient,
    namesrv: &str,
    topic: &str,
) -> Result<TopicRouteData, (ResponseCode, String)> {
    let header = GetRouteInfoRequestHeader {
        topic: topic.into(),
        accept_standard_json_only: None,
    };
    let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, header.to_ext());
    let resp = client.invoke(namesrv, req, TIMEOUT).await.unwrap();
    if resp.code != 0 {
        return Err((resp.response_code(), resp.remark.unwrap_or_default()));
    }
    Ok(TopicRouteData::decode(&resp.body).unwrap())
}

pub async fn call(
    client: &RemotingClient,
    namesrv: &str,
    code: RequestCode,
    ext: ExtFields,
) -> RemotingCommand {
    client
        .invoke(namesrv, RemotingCommand::request(code, ext), TIMEOUT)
        .await
        .unwrap()
}

/// Polls `check` every 20 ms for up to 20 s (no timing is asserted; this only bounds a hang).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition never held: {what}");
}
