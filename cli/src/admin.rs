//! The shared admin layer (Java `DefaultMQAdminExt`): the name server list, one
//! [`RemotingClient`], and typed calls to name servers and brokers that commands build on.

use std::sync::OnceLock;
use std::time::Duration;

use remoting::body::cluster::ClusterInfo;
use remoting::body::kv::KVTable;
use remoting::body::route::TopicRouteData;
use remoting::body::topic::TopicList;
use remoting::header::namesrv::GetRouteInfoRequestHeader;
use remoting::{
    ClientConfig, CommandHeader, ExtFields, RemotingClient, RemotingCommand, RequestCode,
    ResponseCode,
};

use crate::error::{CliError, Result};

/// Environment variable with the plain-ACL access key requests are signed with.
pub const ACCESS_KEY_ENV: &str = "ROCKETMQ_ACCESS_KEY";
/// Environment variable with the plain-ACL secret key.
pub const SECRET_KEY_ENV: &str = "ROCKETMQ_SECRET_KEY";

/// Environment variable naming the PEM CA file servers' certificates must chain to; when set,
/// `mqadmin` speaks TLS (Java's `tls.enable=true` with `tls.client.trustCertPath`).
pub const TLS_TRUST_CERT_ENV: &str = "ROCKETMQ_TLS_TRUST_CERT_PATH";

/// Environment variable read when `-n` is absent (as Java's `NAMESRV_ADDR`).
pub const NAMESRV_ADDR_ENV: &str = "NAMESRV_ADDR";

/// A connection to the cluster for one command run.
pub struct Admin {
    client: RemotingClient,
    namesrv_addrs: Vec<String>,
    timeout: Duration,
    /// The client library's admin, made on first use (broker commands go through it).
    typed: OnceLock<client::Admin>,
    credentials: Option<remoting::acl::SessionCredentials>,
    tls: Option<remoting::tls::TlsClient>,
}

impl Admin {
    /// An admin over the `;`-separated name server list `namesrv` (or `$NAMESRV_ADDR`).
    /// The list may be empty for commands that only talk to brokers.
    pub fn new(namesrv: Option<&str>) -> Self {
        Self::with_credentials(namesrv, None)
    }

    /// Like [`new`](Self::new), signing every request with `credentials` (plain ACL).
    pub fn with_credentials(
        namesrv: Option<&str>,
        credentials: Option<remoting::acl::SessionCredentials>,
    ) -> Self {
        Self::with_security(namesrv, credentials, None)
    }

    /// Like [`with_credentials`](Self::with_credentials), speaking TLS when `tls` is set.
    pub fn with_security(
        namesrv: Option<&str>,
        credentials: Option<remoting::acl::SessionCredentials>,
        tls: Option<remoting::tls::TlsClient>,
    ) -> Self {
        let list = namesrv
            .map(str::to_string)
            .or_else(|| std::env::var(NAMESRV_ADDR_ENV).ok())
            .unwrap_or_default();
        let namesrv_addrs = list
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let config = ClientConfig {
            connect_timeout: Duration::from_secs(3),
            credentials: credentials.clone(),
            tls: tls.clone(),
            ..ClientConfig::default()
        };
        Admin {
            client: RemotingClient::new(config),
            credentials,
            tls,
            namesrv_addrs,
            timeout: Duration::from_secs(5),
            typed: OnceLock::new(),
        }
    }

    /// Client-library settings for this run: the same name servers, 5 s requests.
    pub fn client_config(&self) -> Result<client::ClientConfig> {
        let list = self.namesrv_addrs()?.join(";");
        Ok(client::ClientConfig {
            rpc_timeout: self.timeout,
            credentials: self.credentials().cloned(),
            tls: self.tls.clone(),
            ..client::ClientConfig::new(list)
        })
    }

    /// The client library's admin ([`client::Admin`]) over the same name servers; the broker
    /// commands use its typed calls rather than building requests here.
    pub fn typed(&self) -> Result<&client::Admin> {
        if let Some(a) = self.typed.get() {
            return Ok(a);
        }
        let admin = client::Admin::new(self.client_config()?).map_err(CliError::Client)?;
        Ok(self.typed.get_or_init(|| admin))
    }

    /// The name server addresses.
    pub fn namesrv_addrs(&self) -> Result<&[String]> {
        if self.namesrv_addrs.is_empty() {
            return Err(CliError::NoNameServer);
        }
        Ok(&self.namesrv_addrs)
    }

    /// The plain-ACL credentials requests are signed with, if any.
    pub fn credentials(&self) -> Option<&remoting::acl::SessionCredentials> {
        self.credentials.as_ref()
    }

    /// The underlying client, for commands with needs of their own.
    pub fn client(&self) -> &RemotingClient {
        &self.client
    }

    /// Sends `request` to `addr`; any code but SUCCESS is an error.
    pub async fn invoke(&self, addr: &str, request: RemotingCommand) -> Result<RemotingCommand> {
        self.client
            .invoke_ok(addr, request, self.timeout)
            .await
            .map_err(|e| CliError::from_remoting(addr, e))
    }

    /// Sends `request` to `addr` and returns whatever it answers.
    pub async fn invoke_raw(
        &self,
        addr: &str,
        request: RemotingCommand,
    ) -> Result<RemotingCommand> {
        self.client
            .invoke(addr, request, self.timeout)
            .await
            .map_err(|e| CliError::from_remoting(addr, e))
    }

    /// Sends `request` to the first name server that can be reached (in list order; an
    /// unreachable one is skipped, an error answer is final).
    pub async fn namesrv_invoke(&self, request: RemotingCommand) -> Result<RemotingCommand> {
        let mut last = None;
        for addr in self.namesrv_addrs()? {
            match self.invoke(addr, request.clone()).await {
                Err(e) if e.is_unreachable() => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or(CliError::NoNameServer))
    }

    /// Sends `request` to every name server; one result each, in list order.
    pub async fn namesrv_invoke_all(
        &self,
        request: RemotingCommand,
    ) -> Result<Vec<(String, Result<RemotingCommand>)>> {
        let addrs = self.namesrv_addrs()?.to_vec();
        let calls = addrs.iter().map(|addr| self.invoke(addr, request.clone()));
        let results = futures::future::join_all(calls).await;
        Ok(addrs.into_iter().zip(results).collect())
    }

    /// GET_BROKER_CLUSTER_INFO.
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let req = RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO, ExtFields::new());
        let resp = self.namesrv_invoke(req).await?;
        decode("cluster info", ClusterInfo::decode(&resp.body))
    }

    /// GET_ROUTEINFO_BY_TOPIC.
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_string(),
            accept_standard_json_only: Some(true),
        };
        let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, header.to_ext());
        let resp = self.namesrv_invoke(req).await?;
        decode("topic route", TopicRouteData::decode(&resp.body))
    }

    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
    pub async fn topic_list(&self) -> Result<TopicList> {
        let req = RemotingCommand::request(
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            ExtFields::new(),
        );
        let resp = self.namesrv_invoke(req).await?;
        decode("topic list", TopicList::decode(&resp.body))
    }

    /// GET_BROKER_RUNTIME_INFO from one broker.
    pub async fn broker_runtime_info(&self, broker_addr: &str) -> Result<KVTable> {
        let req = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, ExtFields::new());
        let resp = self.invoke(broker_addr, req).await?;
        decode("broker runtime info", KVTable::decode(&resp.body))
    }

    /// Closes every connection.
    pub async fn shutdown(&self) {
        self.client.shutdown();
        if let Some(a) = self.typed.get() {
            a.shutdown().await;
        }
    }
}

fn decode<T>(what: &str, r: remoting::Result<T>) -> Result<T> {
    r.map_err(|e| CliError::Decode(format!("cannot decode {what}: {e}")))
}

/// Builds a response-code error for an answer that is not SUCCESS (for `invoke_raw` users).
pub fn check(addr: &str, resp: RemotingCommand) -> Result<RemotingCommand> {
    if resp.code == ResponseCode::SUCCESS.0 {
        return Ok(resp);
    }
    Err(CliError::Response {
        addr: addr.to_string(),
        code: resp.response_code(),
        remark: resp.remark.unwrap_or_default(),
    })
}
