//! A name server and brokers in-process on 127.0.0.1, each with a temp directory.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use broker::{Broker, BrokerConfig, BrokerHandle};
use namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use remoting::header::admin::CreateTopicRequestHeader;
use remoting::{CommandHeader, RemotingClient, RemotingCommand, RequestCode, ResponseCode};
use tempfile::TempDir;

/// The 18 delay levels of the brokers started here (Java's default is "1s 5s 10s 30s 1m ...").
pub const SHORT_DELAY_LEVELS: &str =
    "100ms 200ms 300ms 400ms 500ms 600ms 700ms 800ms 900ms 1s 1s 1s 1s 1s 1s 1s 1s 1s";

/// A running name server plus brokers; dropped directories are removed.
pub struct LocalCluster {
    /// The name server.
    pub namesrv: NameServerHandle,
    /// The brokers, in start order.
    pub brokers: Vec<BrokerHandle>,
    /// Credentials [`create_topic`](Self::create_topic) signs with (brokers with plain ACL).
    pub admin_credentials: Option<remoting::acl::SessionCredentials>,
    dir: TempDir,
}

impl LocalCluster {
    /// Starts a name server and one master per entry of `broker_names`.
    pub async fn start(broker_names: &[&str]) -> Result<LocalCluster> {
        Self::start_with(broker_names, |_| {}).await
    }

    /// Like [`start`](Self::start), with `tweak` applied to each broker's config.
    pub async fn start_with(
        broker_names: &[&str],
        tweak: impl Fn(&mut BrokerConfig),
    ) -> Result<LocalCluster> {
        // Server logs go to the test's captured output (RUST_LOG picks the level).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir()?;
        let namesrv = NameServer::start(NamesrvConfig {
            bind_address: "127.0.0.1".into(),
            listen_port: 0,
            kv_config_path: dir.path().join("kvConfig.json"),
            config_store_path: dir.path().join("namesrv.properties"),
            ..Default::default()
        })
        .await
        .context("start name server")?;
        let mut cluster = LocalCluster {
            namesrv,
            brokers: Vec::new(),
            admin_credentials: None,
            dir,
        };
        for name in broker_names {
            let store = cluster.dir.path().join(name);
            let mut config = BrokerConfig {
                broker_name: (*name).to_string(),
                bind_address: "127.0.0.1".into(),
                listen_port: 0,
                namesrv_addr: Some(cluster.namesrv_addr()),
                store_path_root_dir: store.display().to_string(),
                mapped_file_size_commit_log: 16 << 20,
                register_name_server_period: 1000,
                // Short retry and delay levels, so redelivery tests take seconds, not minutes.
                message_delay_level: SHORT_DELAY_LEVELS.to_string(),
                ..Default::default()
            };
            tweak(&mut config);
            let handle = Broker::start(config)
                .await
                .with_context(|| format!("start broker {name}"))?;
            cluster.brokers.push(handle);
        }
        Ok(cluster)
    }

    /// `127.0.0.1:port` of the name server.
    pub fn namesrv_addr(&self) -> String {
        self.namesrv.local_addr().to_string()
    }

    /// Creates `topic` with `queues` read and write queues on every broker, then waits until the
    /// name server routes it.
    pub async fn create_topic(&self, topic: &str, queues: i32) -> Result<()> {
        let client = RemotingClient::new(remoting::ClientConfig {
            credentials: self.admin_credentials.clone(),
            ..Default::default()
        });
        let header = CreateTopicRequestHeader {
            topic: topic.to_string(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            ..Default::default()
        };
        for b in &self.brokers {
            let req =
                RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, header.to_ext());
            client
                .invoke_ok(b.broker_addr(), req, Duration::from_secs(10))
                .await
                .with_context(|| format!("create {topic} on {}", b.broker_addr()))?;
        }
        let route_header = remoting::header::namesrv::GetRouteInfoRequestHeader {
            topic: topic.to_string(),
            ..Default::default()
        };
        for _ in 0..100 {
            let req = RemotingCommand::request(
                RequestCode::GET_ROUTEINFO_BY_TOPIC,
                route_header.to_ext(),
            );
            let resp = client
                .invoke(&self.namesrv_addr(), req, Duration::from_secs(5))
                .await?;
            if resp.code == ResponseCode::SUCCESS.0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("topic {topic} never appeared in the name server's routes")
    }

    /// Stops every broker, then the name server.
    pub async fn shutdown(self) {
        for b in self.brokers {
            b.shutdown().await;
        }
        self.namesrv.shutdown().await;
    }
}
