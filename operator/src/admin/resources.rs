//! Admin calls for declared topics and consumer groups ([`crate::resource`]): read a broker's
//! whole topic or subscription-group table, create/update one entry, delete one; delete a
//! topic's route from a name server.

use std::collections::BTreeMap;

use remoting::body::admin::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
use remoting::body::topic::{TopicConfig, TopicConfigSerializeWrapper};
use remoting::header::admin::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, DeleteTopicRequestHeader,
};
use remoting::header::namesrv::DeleteTopicFromNamesrvRequestHeader;
use remoting::{CommandHeader, ExtFields, RemotingCommand, RequestCode};

use super::RemotingAdmin;
use crate::error::{Error, Result};

impl RemotingAdmin {
    fn resource_err(addr: &str, message: impl Into<String>) -> Error {
        Error::Admin {
            addr: addr.to_string(),
            message: message.into(),
        }
    }

    async fn send(&self, addr: &str, req: RemotingCommand) -> Result<RemotingCommand> {
        let code = req.request_code();
        self.client
            .invoke_ok(addr, req, self.timeout)
            .await
            .map_err(|e| Self::resource_err(addr, format!("request {code}: {e}")))
    }

    /// Every topic config of the broker at `addr` (GET_ALL_TOPIC_CONFIG).
    pub async fn topic_table(&self, addr: &str) -> Result<BTreeMap<String, TopicConfig>> {
        let resp = self
            .send(
                addr,
                RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG, ExtFields::default()),
            )
            .await?;
        Ok(TopicConfigSerializeWrapper::decode(&resp.body)
            .map_err(|e| Self::resource_err(addr, e.to_string()))?
            .topic_config_table)
    }

    /// Creates or updates `tc` on the master at `addr` (UPDATE_AND_CREATE_TOPIC). Attributes go
    /// as `+key=value`; `remove` names attributes to drop (`-key`).
    pub async fn put_topic(&self, addr: &str, tc: &TopicConfig, remove: &[String]) -> Result<()> {
        let attrs: Vec<String> = tc
            .attributes
            .iter()
            .map(|(k, v)| format!("+{k}={v}"))
            .chain(remove.iter().map(|k| format!("-{k}")))
            .collect();
        let header = CreateTopicRequestHeader {
            topic: tc.topic_name.clone(),
            default_topic: "TBW102".to_string(),
            read_queue_nums: tc.read_queue_nums,
            write_queue_nums: tc.write_queue_nums,
            perm: tc.perm,
            topic_filter_type: tc.topic_filter_type.name().to_string(),
            topic_sys_flag: Some(tc.topic_sys_flag),
            order: tc.order,
            attributes: (!attrs.is_empty()).then(|| attrs.join(",")),
            force: None,
        };
        self.send(
            addr,
            RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, header.to_ext()),
        )
        .await?;
        Ok(())
    }

    /// Deletes `topic` from the broker at `addr` (DELETE_TOPIC_IN_BROKER).
    pub async fn delete_topic(&self, addr: &str, topic: &str) -> Result<()> {
        let header = DeleteTopicRequestHeader {
            topic: topic.to_string(),
        };
        self.send(
            addr,
            RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_BROKER, header.to_ext()),
        )
        .await?;
        Ok(())
    }

    /// Deletes `topic`'s route from the name server at `addr` (DELETE_TOPIC_IN_NAMESRV), only
    /// cluster `cluster`'s queues of it.
    pub async fn delete_topic_in_namesrv(
        &self,
        addr: &str,
        topic: &str,
        cluster: &str,
    ) -> Result<()> {
        let header = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.to_string(),
            cluster_name: Some(cluster.to_string()),
        };
        self.send(
            addr,
            RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_NAMESRV, header.to_ext()),
        )
        .await?;
        Ok(())
    }

    /// Every subscription group of the broker at `addr` (GET_ALL_SUBSCRIPTIONGROUP_CONFIG).
    pub async fn group_table(
        &self,
        addr: &str,
    ) -> Result<BTreeMap<String, SubscriptionGroupConfig>> {
        let resp = self
            .send(
                addr,
                RemotingCommand::request(
                    RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
                    ExtFields::default(),
                ),
            )
            .await?;
        Ok(SubscriptionGroupWrapper::decode(&resp.body)
            .map_err(|e| Self::resource_err(addr, e.to_string()))?
            .subscription_group_table)
    }

    /// Creates or updates group `g` on the master at `addr` (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).
    pub async fn put_group(&self, addr: &str, g: &SubscriptionGroupConfig) -> Result<()> {
        let body = g
            .encode()
            .map_err(|e| Self::resource_err(addr, e.to_string()))?;
        self.send(
            addr,
            RemotingCommand::request(
                RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
                ExtFields::default(),
            )
            .with_body(body),
        )
        .await?;
        Ok(())
    }

    /// Deletes group `name` from the broker at `addr` (DELETE_SUBSCRIPTIONGROUP); committed
    /// offsets are kept.
    pub async fn delete_group(&self, addr: &str, name: &str) -> Result<()> {
        let header = DeleteSubscriptionGroupRequestHeader {
            group_name: name.to_string(),
            remove_offset: Some(false),
        };
        self.send(
            addr,
            RemotingCommand::request(RequestCode::DELETE_SUBSCRIPTIONGROUP, header.to_ext()),
        )
        .await?;
        Ok(())
    }

    /// Copies every subscription group of `from` missing on `to` (a scale-out's new group gets
    /// the groups the others have, as it gets their topics); returns how many were copied.
    pub async fn copy_groups(&self, from: &str, to: &str) -> Result<usize> {
        let src = self.group_table(from).await?;
        let dst = self.group_table(to).await?;
        let mut n = 0;
        for (name, g) in &src {
            if dst.contains_key(name) {
                continue;
            }
            self.put_group(to, g).await?;
            n += 1;
        }
        Ok(n)
    }
}
