//! Typed broker calls shared by producers, consumers and admin (Java `MQClientAPIImpl`), as
//! methods of [`ClientInstance`]. Each is a thin wrapper over a typed header and body.

use std::collections::BTreeSet;
use std::time::Duration;

use remoting::body::client::{
    GetConsumerListByGroupResponseBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue,
};
use remoting::header::client::GetConsumerListByGroupRequestHeader;
use remoting::header::offset::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use remoting::header::pull::{PullMessageRequestHeader, PullMessageResponseHeader};
use remoting::header::send::ConsumerSendMsgBackRequestHeader;
use remoting::message::keys;
use remoting::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

use crate::error::{ClientError, Result};
use crate::instance::{ClientInstance, expect_success};
use crate::message::MessageExt;

/// The outcome of a pull (Java `PullStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages were returned.
    Found,
    /// Nothing new at this offset (PULL_NOT_FOUND).
    NoNewMsg,
    /// Messages exist but none matched the filter (PULL_RETRY_IMMEDIATELY).
    NoMatchedMsg,
    /// The offset is outside the queue (PULL_OFFSET_MOVED); continue from `next_begin_offset`.
    OffsetIllegal,
}

/// The answer to a pull (Java `PullResult`).
#[derive(Debug, Clone)]
pub struct PullResult {
    /// What happened.
    pub status: PullStatus,
    /// Where to pull next.
    pub next_begin_offset: i64,
    /// Smallest offset of the queue.
    pub min_offset: i64,
    /// Next offset to be written in the queue.
    pub max_offset: i64,
    /// Broker id to pull from next (0 = master).
    pub suggest_which_broker_id: i64,
    /// Messages found (already filtered by tag on the client side when a filter was given).
    pub msgs: Vec<MessageExt>,
}

impl PullResult {
    /// Stamps every message with the queue's offset bounds of this answer (MIN_OFFSET,
    /// MAX_OFFSET properties), as Java's pull consumer does.
    pub fn stamp_queue_offsets(&mut self) {
        let (min, max) = (self.min_offset.to_string(), self.max_offset.to_string());
        for m in &mut self.msgs {
            m.properties.insert(keys::MIN_OFFSET, &min);
            m.properties.insert(keys::MAX_OFFSET, &max);
        }
    }
}

impl ClientInstance {
    /// PULL_MESSAGE to `addr`. `timeout` must exceed the header's suspend time.
    pub async fn pull_message(
        &self,
        addr: &str,
        broker_name: &str,
        header: &PullMessageRequestHeader,
        timeout: Duration,
    ) -> Result<PullResult> {
        let req = RemotingCommand::request(RequestCode::PULL_MESSAGE, header.to_ext());
        let resp = self.invoke_broker(addr, req, timeout).await?;
        let status = match resp.response_code() {
            ResponseCode::SUCCESS => PullStatus::Found,
            ResponseCode::PULL_NOT_FOUND => PullStatus::NoNewMsg,
            ResponseCode::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMsg,
            ResponseCode::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
            code => {
                return Err(ClientError::Response {
                    addr: addr.to_string(),
                    code,
                    remark: resp.remark.unwrap_or_default(),
                });
            }
        };
        let h: PullMessageResponseHeader =
            resp.ext_fields
                .decode()
                .map_err(|e| ClientError::Malformed {
                    addr: addr.to_string(),
                    reason: format!("pull response header: {e}"),
                })?;
        let msgs = if status == PullStatus::Found {
            MessageExt::decode_all_shared(&resp.body, broker_name)?
        } else {
            Vec::new()
        };
        Ok(PullResult {
            status,
            next_begin_offset: h.next_begin_offset,
            min_offset: h.min_offset,
            max_offset: h.max_offset,
            suggest_which_broker_id: h.suggest_which_broker_id,
            msgs,
        })
    }

    /// QUERY_CONSUMER_OFFSET: the group's committed offset of `mq`, `None` when the broker has
    /// none (QUERY_NOT_FOUND).
    pub async fn query_consumer_offset(
        &self,
        group: &str,
        mq: &MessageQueue,
    ) -> Result<Option<i64>> {
        let addr = self.read_addr_for_queue(mq).await?;
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: group.to_string(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            set_zero_if_not_found: None,
            bname: Some(mq.broker_name.clone()),
        };
        let req = RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET, header.to_ext());
        let resp = self
            .invoke_broker(&addr, req, self.config().rpc_timeout)
            .await?;
        if resp.code == ResponseCode::QUERY_NOT_FOUND.0 {
            return Ok(None);
        }
        let resp = expect_success(&addr, resp)?;
        let h: QueryConsumerOffsetResponseHeader = decode_header(&addr, &resp)?;
        Ok(Some(h.offset))
    }

    /// UPDATE_CONSUMER_OFFSET (answered, so a caller knows it landed).
    pub async fn update_consumer_offset(
        &self,
        group: &str,
        mq: &MessageQueue,
        offset: i64,
    ) -> Result<()> {
        let addr = self.read_addr_for_queue(mq).await?;
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.to_string(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            commit_offset: offset,
            bname: Some(mq.broker_name.clone()),
        };
        let req = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, header.to_ext());
        self.invoke_ok(&addr, req, self.config().rpc_timeout)
            .await
            .map(|_| ())
    }

    /// GET_MAX_OFFSET: the next offset to be written in `mq`.
    pub async fn max_offset(&self, mq: &MessageQueue) -> Result<i64> {
        let addr = self.read_addr_for_queue(mq).await?;
        let header = GetMaxOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            committed: None,
            bname: Some(mq.broker_name.clone()),
        };
        let req = RemotingCommand::request(RequestCode::GET_MAX_OFFSET, header.to_ext());
        let resp = self
            .invoke_ok(&addr, req, self.config().rpc_timeout)
            .await?;
        let h: GetMaxOffsetResponseHeader = decode_header(&addr, &resp)?;
        Ok(h.offset)
    }

    /// GET_MIN_OFFSET: the smallest offset still stored in `mq`.
    pub async fn min_offset(&self, mq: &MessageQueue) -> Result<i64> {
        let addr = self.read_addr_for_queue(mq).await?;
        let header = GetMinOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            bname: Some(mq.broker_name.clone()),
        };
        let req = RemotingCommand::request(RequestCode::GET_MIN_OFFSET, header.to_ext());
        let resp = self
            .invoke_ok(&addr, req, self.config().rpc_timeout)
            .await?;
        let h: GetMinOffsetResponseHeader = decode_header(&addr, &resp)?;
        Ok(h.offset)
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP: the first offset of `mq` stored at or after `timestamp` ms.
    pub async fn search_offset(&self, mq: &MessageQueue, timestamp: i64) -> Result<i64> {
        let addr = self.read_addr_for_queue(mq).await?;
        let header = SearchOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            timestamp,
            boundary_type: None,
            bname: Some(mq.broker_name.clone()),
        };
        let req =
            RemotingCommand::request(RequestCode::SEARCH_OFFSET_BY_TIMESTAMP, header.to_ext());
        let resp = self
            .invoke_ok(&addr, req, self.config().rpc_timeout)
            .await?;
        let h: SearchOffsetResponseHeader = decode_header(&addr, &resp)?;
        Ok(h.offset)
    }

    /// GET_CONSUMER_LIST_BY_GROUP on one broker of `topic`: the group's live client ids.
    pub async fn consumer_id_list(&self, group: &str, topic: &str) -> Result<Vec<String>> {
        let route = self.topic_route(topic).await?;
        // Any broker of the topic knows the group (every member heartbeats every broker); use the
        // master of a group chosen by the client id so members spread the load.
        let mut addrs: Vec<String> = route
            .broker_datas
            .iter()
            .filter_map(|b| {
                self.read_addr(&b.broker_name, 0)
                    .map(|(_, a)| a)
                    .or_else(|| b.select_broker_addr().map(str::to_string))
            })
            .collect();
        addrs.sort();
        if addrs.is_empty() {
            return Err(ClientError::NoRoute(topic.to_string()));
        }
        let start = remoting::message::java_string_hash(self.client_id()).unsigned_abs() as usize;
        let mut last = None;
        for i in 0..addrs.len() {
            let addr = &addrs[(start + i) % addrs.len()];
            let header = GetConsumerListByGroupRequestHeader {
                consumer_group: group.to_string(),
            };
            let req =
                RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP, header.to_ext());
            match self.invoke_ok(addr, req, self.config().rpc_timeout).await {
                Ok(resp) => {
                    let body = GetConsumerListByGroupResponseBody::decode(&resp.body)?;
                    return Ok(body.consumer_id_list);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::NoRoute(topic.to_string())))
    }

    /// LOCK_BATCH_MQ on `addr`: the subset of `mqs` this client now holds.
    pub async fn lock_batch_mq(
        &self,
        addr: &str,
        group: &str,
        mqs: BTreeSet<MessageQueue>,
    ) -> Result<BTreeSet<MessageQueue>> {
        let body = LockBatchRequestBody {
            consumer_group: group.to_string(),
            client_id: self.client_id().to_string(),
            only_this_broker: false,
            mq_set: mqs,
        };
        let req = RemotingCommand::request(RequestCode::LOCK_BATCH_MQ, Default::default())
            .with_body(body.encode()?);
        let resp = self.invoke_ok(addr, req, self.config().rpc_timeout).await?;
        Ok(LockBatchResponseBody::decode(&resp.body)?.lock_ok_mq_set)
    }

    /// UNLOCK_BATCH_MQ on `addr`.
    pub async fn unlock_batch_mq(
        &self,
        addr: &str,
        group: &str,
        mqs: BTreeSet<MessageQueue>,
    ) -> Result<()> {
        let body = LockBatchRequestBody {
            consumer_group: group.to_string(),
            client_id: self.client_id().to_string(),
            only_this_broker: false,
            mq_set: mqs,
        };
        let req = RemotingCommand::request(RequestCode::UNLOCK_BATCH_MQ, Default::default())
            .with_body(body.encode()?);
        self.invoke_ok(addr, req, self.config().rpc_timeout)
            .await
            .map(|_| ())
    }

    /// CONSUMER_SEND_MSG_BACK: hands a message the listener failed back to its broker, which
    /// schedules it on `%RETRY%<group>` (or the DLQ after `max_reconsume_times`).
    pub async fn send_message_back(
        &self,
        msg: &MessageExt,
        group: &str,
        delay_level: i32,
        max_reconsume_times: i32,
    ) -> Result<()> {
        let addr = self
            .master_addr(&msg.broker_name)
            .unwrap_or_else(|| msg.store_host.to_string());
        let header = ConsumerSendMsgBackRequestHeader {
            offset: msg.commit_log_offset,
            group: group.to_string(),
            delay_level,
            origin_msg_id: Some(msg.msg_id.clone()),
            origin_topic: Some(msg.topic.clone()),
            unit_mode: Some(false),
            max_reconsume_times: Some(max_reconsume_times),
            bname: Some(msg.broker_name.clone()),
        };
        let req = RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK, header.to_ext());
        self.invoke_ok(&addr, req, self.config().rpc_timeout)
            .await
            .map(|_| ())
    }
}

/// Decodes a response header, naming `addr` on failure.
pub(crate) fn decode_header<H: CommandHeader>(addr: &str, resp: &RemotingCommand) -> Result<H> {
    resp.ext_fields
        .decode()
        .map_err(|e| ClientError::Malformed {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}
