//! Admin calls for `mqadmin` and tests (Java `DefaultMQAdminExt`), thin over typed headers and
//! bodies: topics, routes, statistics, connections, runtime info, message queries, subscription
//! groups and offset resets.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use remoting::body::admin::{
    ConsumeStats, ResetOffsetBody, SubscriptionGroupConfig, TopicStatsTable,
};
use remoting::body::client::{ConsumerConnection, MessageQueue, ProducerConnection};
use remoting::body::cluster::ClusterInfo;
use remoting::body::kv::KVTable;
use remoting::body::route::TopicRouteData;
use remoting::body::topic::TopicConfig;
use remoting::header::admin::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader, ResetOffsetRequestHeader,
};
use remoting::header::namesrv::DeleteTopicFromNamesrvRequestHeader;
use remoting::header::query::{QueryMessageRequestHeader, ViewMessageRequestHeader};
use remoting::message::decode_offset_msg_id;
use remoting::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};
use tracing::debug;

use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::instance::{ClientInstance, expect_success};
use crate::message::MessageExt;
use crate::push_consumer::retry_topic;

/// Admin client over one client instance.
#[derive(Debug, Clone)]
pub struct Admin {
    instance: ClientInstance,
}

impl Admin {
    /// An admin client with its own instance (no background loops are started).
    pub fn new(client: ClientConfig) -> Result<Self> {
        Ok(Admin {
            instance: ClientInstance::new(client)?,
        })
    }

    /// An admin client on a shared instance.
    pub fn with_instance(instance: ClientInstance) -> Self {
        Admin { instance }
    }

    /// The client instance.
    pub fn instance(&self) -> &ClientInstance {
        &self.instance
    }

    /// Closes connections.
    pub async fn shutdown(&self) {
        self.instance.shutdown().await
    }

    fn timeout(&self) -> std::time::Duration {
        self.instance.config().rpc_timeout
    }

    async fn call(&self, addr: &str, req: RemotingCommand) -> Result<RemotingCommand> {
        self.instance.invoke_ok(addr, req, self.timeout()).await
    }

    // ----- name server ----------------------------------------------------------------------

    /// GET_BROKER_CLUSTER_INFO.
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let req =
            RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO, Default::default());
        let resp = self.instance.invoke_namesrv(req).await?;
        let resp = expect_success("name server", resp)?;
        Ok(ClusterInfo::decode(&resp.body)?)
    }

    /// The route of `topic`, fresh from a name server.
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        self.instance.update_topic_route(topic).await
    }

    /// Master addresses of `cluster`.
    pub async fn cluster_masters(&self, cluster: &str) -> Result<Vec<String>> {
        let masters = self.cluster_info().await?.master_addrs_of_cluster(cluster);
        if masters.is_empty() {
            return Err(ClientError::InvalidArgument(format!(
                "cluster {cluster} has no master broker"
            )));
        }
        Ok(masters)
    }

    /// Master addresses of every broker group holding `topic`.
    async fn topic_masters(&self, topic: &str) -> Result<Vec<(String, String)>> {
        let route = self.topic_route(topic).await?;
        Ok(route
            .broker_datas
            .iter()
            .filter_map(|b| {
                b.select_broker_addr()
                    .map(|a| (b.broker_name.clone(), a.to_string()))
            })
            .collect())
    }

    // ----- topics ---------------------------------------------------------------------------

    /// UPDATE_AND_CREATE_TOPIC on one broker.
    pub async fn create_topic_on_broker(&self, addr: &str, config: &TopicConfig) -> Result<()> {
        let header = CreateTopicRequestHeader {
            topic: config.topic_name.clone(),
            default_topic: crate::producer::DEFAULT_TOPIC.to_string(),
            read_queue_nums: config.read_queue_nums,
            write_queue_nums: config.write_queue_nums,
            perm: config.perm,
            topic_filter_type: config.topic_filter_type.name().to_string(),
            topic_sys_flag: Some(config.topic_sys_flag),
            order: config.order,
            attributes: None,
            force: None,
        };
        let req = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, header.to_ext());
        self.call(addr, req).await.map(|_| ())
    }

    /// Creates or updates `config` on every master of `cluster`; returns the addresses.
    pub async fn create_topic(&self, cluster: &str, config: &TopicConfig) -> Result<Vec<String>> {
        let masters = self.cluster_masters(cluster).await?;
        for addr in &masters {
            self.create_topic_on_broker(addr, config).await?;
        }
        Ok(masters)
    }

    /// Deletes `topic` from every master of `cluster`, then from every name server.
    pub async fn delete_topic(&self, cluster: &str, topic: &str) -> Result<()> {
        for addr in self.cluster_masters(cluster).await? {
            let header = DeleteTopicRequestHeader {
                topic: topic.to_string(),
            };
            let req =
                RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_BROKER, header.to_ext());
            self.call(&addr, req).await?;
        }
        for ns in self.instance.namesrv_addrs().to_vec() {
            let header = DeleteTopicFromNamesrvRequestHeader {
                topic: topic.to_string(),
                cluster_name: Some(cluster.to_string()),
            };
            let req =
                RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_NAMESRV, header.to_ext());
            self.call(&ns, req).await?;
        }
        self.instance.forget_route(topic);
        Ok(())
    }

    /// GET_TOPIC_STATS_INFO from every broker of `topic`, merged.
    pub async fn topic_stats(&self, topic: &str) -> Result<TopicStatsTable> {
        let mut out = TopicStatsTable::default();
        for (_, addr) in self.topic_masters(topic).await? {
            let header = GetTopicStatsInfoRequestHeader {
                topic: topic.to_string(),
            };
            let req = RemotingCommand::request(RequestCode::GET_TOPIC_STATS_INFO, header.to_ext());
            let resp = self.call(&addr, req).await?;
            let t = TopicStatsTable::decode(&resp.body)?;
            out.offset_table.0.extend(t.offset_table.0);
        }
        Ok(out)
    }

    // ----- groups ---------------------------------------------------------------------------

    /// GET_CONSUME_STATS (consumer progress) from every broker of the group's retry topic and
    /// of `topic` when given, merged.
    pub async fn consume_stats(&self, group: &str, topic: Option<&str>) -> Result<ConsumeStats> {
        let mut addrs: BTreeMap<String, String> = BTreeMap::new();
        let mut found_route = false;
        for t in [Some(retry_topic(group)), topic.map(str::to_string)]
            .into_iter()
            .flatten()
        {
            match self.topic_masters(&t).await {
                Ok(v) => {
                    found_route = true;
                    addrs.extend(v);
                }
                Err(ClientError::NoRoute(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !found_route {
            return Err(ClientError::NoRoute(retry_topic(group)));
        }
        let mut out = ConsumeStats::default();
        for addr in addrs.values() {
            let header = GetConsumeStatsRequestHeader {
                consumer_group: group.to_string(),
                topic: topic.map(str::to_string),
            };
            let req = RemotingCommand::request(RequestCode::GET_CONSUME_STATS, header.to_ext());
            let resp = self.call(addr, req).await?;
            let s = ConsumeStats::decode(&resp.body)?;
            out.consume_tps += s.consume_tps;
            out.offset_table.0.extend(s.offset_table.0);
        }
        Ok(out)
    }

    /// GET_CONSUMER_CONNECTION_LIST from a broker of the group's retry topic.
    pub async fn consumer_connections(&self, group: &str) -> Result<ConsumerConnection> {
        let mut last = None;
        for (_, addr) in self.topic_masters(&retry_topic(group)).await? {
            let header = GetConsumerConnectionListRequestHeader {
                consumer_group: group.to_string(),
            };
            let req = RemotingCommand::request(
                RequestCode::GET_CONSUMER_CONNECTION_LIST,
                header.to_ext(),
            );
            match self.call(&addr, req).await {
                Ok(resp) => return Ok(ConsumerConnection::decode(&resp.body)?),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::NoRoute(retry_topic(group))))
    }

    /// GET_CONSUMER_RUNNING_INFO for one member of `group`, through a broker of the group's
    /// retry topic, which forwards it to the client (Java `getConsumerRunningInfo`).
    pub async fn consumer_running_info(
        &self,
        group: &str,
        client_id: &str,
        jstack: bool,
    ) -> Result<crate::running_info::ConsumerRunningInfo> {
        use remoting::header::admin::GetConsumerRunningInfoRequestHeader;
        let mut last = None;
        for (_, addr) in self.topic_masters(&retry_topic(group)).await? {
            let header = GetConsumerRunningInfoRequestHeader {
                consumer_group: group.to_string(),
                client_id: client_id.to_string(),
                jstack_enable: Some(jstack),
            };
            let req =
                RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO, header.to_ext());
            match self.call(&addr, req).await {
                Ok(resp) => {
                    return crate::running_info::ConsumerRunningInfo::decode(&resp.body);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::NoRoute(retry_topic(group))))
    }

    /// GET_PRODUCER_CONNECTION_LIST from every broker of `topic`, merged.
    pub async fn producer_connections(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<ProducerConnection> {
        let mut out = ProducerConnection::default();
        for (_, addr) in self.topic_masters(topic).await? {
            let header = GetProducerConnectionListRequestHeader {
                producer_group: group.to_string(),
            };
            let req = RemotingCommand::request(
                RequestCode::GET_PRODUCER_CONNECTION_LIST,
                header.to_ext(),
            );
            let resp = self.call(&addr, req).await?;
            for c in ProducerConnection::decode(&resp.body)?.connection_set {
                if !out.connection_set.contains(&c) {
                    out.connection_set.push(c);
                }
            }
        }
        Ok(out)
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on one broker.
    pub async fn create_subscription_group_on_broker(
        &self,
        addr: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<()> {
        let req = RemotingCommand::request(
            RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
            Default::default(),
        )
        .with_body(config.encode()?);
        self.call(addr, req).await.map(|_| ())
    }

    /// Creates or updates a subscription group on every master of `cluster`.
    pub async fn create_subscription_group(
        &self,
        cluster: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<Vec<String>> {
        let masters = self.cluster_masters(cluster).await?;
        for addr in &masters {
            self.create_subscription_group_on_broker(addr, config)
                .await?;
        }
        Ok(masters)
    }

    /// Resets `group`'s offsets of `topic` to the first message stored at or after
    /// `timestamp` ms (-1: the end) on every broker (INVOKE_BROKER_TO_RESET_OFFSET; the broker
    /// tells online consumers). When the group is offline, the offsets are computed here and
    /// committed directly. Returns each queue's new offset.
    pub async fn reset_offset_by_time(
        &self,
        topic: &str,
        group: &str,
        timestamp: i64,
        force: bool,
    ) -> Result<BTreeMap<MessageQueue, i64>> {
        let mut out = BTreeMap::new();
        for (broker_name, addr) in self.topic_masters(topic).await? {
            let header = ResetOffsetRequestHeader {
                topic: topic.to_string(),
                group: group.to_string(),
                timestamp,
                is_force: force,
                queue_id: None,
                offset: None,
            };
            let req = RemotingCommand::request(
                RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
                header.to_ext(),
            );
            let resp = self
                .instance
                .remoting()
                .invoke(&addr, req, self.timeout())
                .await?;
            if resp.code == ResponseCode::SUCCESS.0 {
                if !resp.body.is_empty() {
                    out.extend(ResetOffsetBody::decode(&resp.body)?.offset_table.0);
                }
                continue;
            }
            if resp.code != ResponseCode::CONSUMER_NOT_ONLINE.0 {
                return Err(expect_success(&addr, resp)
                    .err()
                    .unwrap_or(ClientError::State("reset refused".into())));
            }
            debug!(%topic, %group, broker = %broker_name, "group offline; resetting offsets directly");
            let route = self.instance.topic_route(topic).await?;
            for mq in crate::route::subscribe_queues(topic, &route)
                .into_iter()
                .filter(|q| q.broker_name == broker_name)
            {
                let offset = if timestamp < 0 {
                    self.instance.max_offset(&mq).await?
                } else {
                    self.instance.search_offset(&mq, timestamp).await?
                };
                self.instance
                    .update_consumer_offset(group, &mq, offset)
                    .await?;
                out.insert(mq, offset);
            }
        }
        Ok(out)
    }

    // ----- brokers and messages ---------------------------------------------------------------

    /// GET_BROKER_RUNTIME_INFO: the broker's runtime key/value table.
    pub async fn broker_runtime_info(&self, addr: &str) -> Result<BTreeMap<String, String>> {
        let req =
            RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, Default::default());
        let resp = self.call(addr, req).await?;
        Ok(KVTable::decode(&resp.body)?.table)
    }

    async fn query(
        &self,
        topic: &str,
        key: &str,
        max_num: i32,
        begin: i64,
        end: i64,
        uniq: bool,
    ) -> Result<Vec<MessageExt>> {
        let mut out = Vec::new();
        for (broker_name, addr) in self.topic_masters(topic).await? {
            let header = QueryMessageRequestHeader {
                topic: topic.to_string(),
                key: key.to_string(),
                max_num,
                begin_timestamp: begin,
                end_timestamp: end,
                unique_key_query: uniq.then_some(true),
            };
            let req = RemotingCommand::request(RequestCode::QUERY_MESSAGE, header.to_ext());
            let resp = self
                .instance
                .remoting()
                .invoke(&addr, req, self.timeout())
                .await?;
            if resp.code == ResponseCode::QUERY_NOT_FOUND.0 {
                continue;
            }
            let resp = expect_success(&addr, resp)?;
            out.extend(MessageExt::decode_all(&resp.body, &broker_name)?);
        }
        // The index is hashed: drop collisions, keep only exact matches (Java does the same).
        out.retain(|m| {
            if uniq {
                m.msg_id == key
            } else {
                m.topic == topic && m.keys().contains(&key)
            }
        });
        out.sort_by_key(|m| (m.store_timestamp, m.commit_log_offset));
        Ok(out)
    }

    /// QUERY_MESSAGE by business key on every broker of `topic`, stored between `begin` and
    /// `end` ms.
    pub async fn query_message_by_key(
        &self,
        topic: &str,
        key: &str,
        max_num: i32,
        begin: i64,
        end: i64,
    ) -> Result<Vec<MessageExt>> {
        self.query(topic, key, max_num, begin, end, false).await
    }

    /// Finds a message by its client id (`UNIQ_KEY`).
    pub async fn query_message_by_uniq_key(
        &self,
        topic: &str,
        msg_id: &str,
    ) -> Result<Option<MessageExt>> {
        let msgs = self.query(topic, msg_id, 32, 0, i64::MAX, true).await?;
        Ok(msgs.into_iter().next())
    }

    /// A message by either kind of id (what `mqadmin queryMsgById` accepts): first as a client id
    /// (`UNIQ_KEY`) in `topic`, then as an offset id. An offset id is only followed to its store
    /// host when that host is a broker the name servers know, so a client id that happens to
    /// decode as an address never makes us dial a stranger.
    pub async fn query_message_by_id(
        &self,
        topic: Option<&str>,
        id: &str,
    ) -> Result<Option<MessageExt>> {
        if let Some(t) = topic
            && let Some(m) = self.query_message_by_uniq_key(t, id).await?
        {
            return Ok(Some(m));
        }
        let Ok(decoded) = decode_offset_msg_id(id) else {
            return Ok(None);
        };
        let host = decoded.store_host.to_string();
        let known = self
            .cluster_info()
            .await?
            .broker_addr_table
            .values()
            .any(|b| b.broker_addrs.values().any(|a| *a == host));
        if !known {
            return Ok(None);
        }
        match self.view_message(id).await {
            Ok(m) => Ok(Some(m)),
            Err(ClientError::Response { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// VIEW_MESSAGE_BY_ID: a message by its offset id (store host + commit-log offset).
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt> {
        let id = decode_offset_msg_id(offset_msg_id)?;
        let addr: SocketAddr = id.store_host;
        let addr = addr.to_string();
        let header = ViewMessageRequestHeader {
            offset: id.commit_log_offset,
            topic: None,
        };
        let req = RemotingCommand::request(RequestCode::VIEW_MESSAGE_BY_ID, header.to_ext());
        let resp = self.call(&addr, req).await?;
        let broker_name = self.instance.broker_name_of(&addr).unwrap_or_default();
        let rec = remoting::message::decode(&resp.body)?;
        MessageExt::from_record(rec, &broker_name)
    }
}
