//! The request processor (`DefaultRequestProcessor`): one function per request code of spec
//! §3.11, and connection-close handling that unregisters brokers at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use parking_lot::RwLock;
use remoting::body::topic::{RegisterBrokerBody, TopicConfigSerializeWrapper};
use remoting::connection::not_supported;
use remoting::header::namesrv::*;
use remoting::{
    CommandHeader, Connection, RemotingCommand, RequestCode, RequestHandler, ResponseCode,
};
use tracing::{debug, warn};

use crate::config::NamesrvConfig;
use crate::error::Result;
use crate::kv::KvConfigManager;
use crate::route::{BrokerRegistration, RouteInfoManager, UnitTopicKind};

/// KV namespace whose entries are order-topic configs (`NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG`).
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

/// Requests older than this `version` (V3_0_11) carry a bare TopicConfigSerializeWrapper body.
const VERSION_WITH_REGISTER_BODY: i32 = 37;

/// Serves every name server request; shared by all connections of one name server.
pub struct NamesrvProcessor {
    routes: Arc<RouteInfoManager>,
    kv: Arc<KvConfigManager>,
    config: Arc<RwLock<NamesrvConfig>>,
    metrics: Arc<crate::metrics::NamesrvMetrics>,
}

impl NamesrvProcessor {
    /// Counts requests into `metrics` (else into counters of its own).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::NamesrvMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// A processor over these tables and settings.
    pub fn new(
        routes: Arc<RouteInfoManager>,
        kv: Arc<KvConfigManager>,
        config: Arc<RwLock<NamesrvConfig>>,
    ) -> Self {
        NamesrvProcessor {
            routes,
            kv,
            config,
            metrics: Default::default(),
        }
    }

    /// Answers one request. Errors (bad header or body) become SYSTEM_ERROR with the error text,
    /// as Java answers a processor exception.
    pub fn process(&self, conn: Option<&Connection>, req: &RemotingCommand) -> RemotingCommand {
        match self.dispatch(conn, req) {
            Ok(resp) => resp,
            Err(e) => {
                debug!(code = req.code, error = %e, "request failed");
                req.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string()))
            }
        }
    }

    fn dispatch(
        &self,
        conn: Option<&Connection>,
        req: &RemotingCommand,
    ) -> Result<RemotingCommand> {
        let ext = &req.ext_fields;
        Ok(match req.request_code() {
            RequestCode::PUT_KV_CONFIG => {
                let h: PutKVConfigRequestHeader = ext.decode()?;
                self.kv.put(&h.namespace, &h.key, &h.value)?;
                req.success()
            }
            RequestCode::GET_KV_CONFIG => {
                let h: GetKVConfigRequestHeader = ext.decode()?;
                match self.kv.get(&h.namespace, &h.key) {
                    Some(value) => req
                        .success()
                        .with_ext(GetKVConfigResponseHeader { value: Some(value) }.to_ext()),
                    None => req.response_to(
                        ResponseCode::QUERY_NOT_FOUND,
                        Some(format!(
                            "No config item, Namespace: {} Key: {}",
                            h.namespace, h.key
                        )),
                    ),
                }
            }
            RequestCode::DELETE_KV_CONFIG => {
                let h: DeleteKVConfigRequestHeader = ext.decode()?;
                self.kv.delete(&h.namespace, &h.key)?;
                req.success()
            }
            RequestCode::GET_KVLIST_BY_NAMESPACE => {
                let h: GetKVListByNamespaceRequestHeader = ext.decode()?;
                match self.kv.list(&h.namespace) {
                    Some(table) => req.success().with_body(table.encode()?),
                    None => req.response_to(
                        ResponseCode::QUERY_NOT_FOUND,
                        Some(format!("No config item, Namespace: {}", h.namespace)),
                    ),
                }
            }
            RequestCode::QUERY_DATA_VERSION => self.query_data_version(req)?,
            RequestCode::REGISTER_BROKER => self.register_broker(conn, req)?,
            RequestCode::UNREGISTER_BROKER => {
                let h: UnRegisterBrokerRequestHeader = ext.decode()?;
                self.routes.unregister_broker(
                    &h.cluster_name,
                    &h.broker_addr,
                    &h.broker_name,
                    h.broker_id,
                );
                req.success()
            }
            RequestCode::GET_ROUTEINFO_BY_TOPIC => {
                let h: GetRouteInfoRequestHeader = ext.decode()?;
                match self.routes.topic_route(&h.topic) {
                    Some(mut route) => {
                        if self.config.read().order_message_enable {
                            route.order_topic_conf =
                                self.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &h.topic);
                        }
                        // Standard JSON always: every client parses it (spec §1.7, §14).
                        req.success().with_body(route.encode()?)
                    }
                    None => req.response_to(
                        ResponseCode::TOPIC_NOT_EXIST,
                        Some(format!("No route info of this topic: {}", h.topic)),
                    ),
                }
            }
            RequestCode::GET_BROKER_CLUSTER_INFO => req
                .success()
                .with_body(self.routes.cluster_info().encode()?),
            RequestCode::WIPE_WRITE_PERM_OF_BROKER => {
                let h: WipeWritePermOfBrokerRequestHeader = ext.decode()?;
                let count = self.routes.wipe_write_perm(&h.broker_name);
                req.success().with_ext(
                    WipeWritePermOfBrokerResponseHeader {
                        wipe_topic_count: count,
                    }
                    .to_ext(),
                )
            }
            RequestCode::ADD_WRITE_PERM_OF_BROKER => {
                let h: AddWritePermOfBrokerRequestHeader = ext.decode()?;
                let count = self.routes.add_write_perm(&h.broker_name);
                req.success().with_ext(
                    AddWritePermOfBrokerResponseHeader {
                        add_topic_count: count,
                    }
                    .to_ext(),
                )
            }
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
                req.success().with_body(self.routes.all_topics().encode()?)
            }
            RequestCode::DELETE_TOPIC_IN_NAMESRV => {
                let h: DeleteTopicFromNamesrvRequestHeader = ext.decode()?;
                self.routes
                    .delete_topic(&h.topic, h.cluster_name.as_deref());
                req.success()
            }
            RequestCode::GET_TOPICS_BY_CLUSTER => {
                let h: GetTopicsByClusterRequestHeader = ext.decode()?;
                req.success()
                    .with_body(self.routes.topics_by_cluster(&h.cluster).encode()?)
            }
            RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_NS => req
                .success()
                .with_body(self.routes.system_topics().encode()?),
            RequestCode::GET_UNIT_TOPIC_LIST => self.unit_topics(req, UnitTopicKind::Unit)?,
            RequestCode::GET_HAS_UNIT_SUB_TOPIC_LIST => {
                self.unit_topics(req, UnitTopicKind::HasUnitSub)?
            }
            RequestCode::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST => {
                self.unit_topics(req, UnitTopicKind::HasUnitSubNotUnit)?
            }
            RequestCode::UPDATE_NAMESRV_CONFIG => self.update_config(req),
            RequestCode::GET_NAMESRV_CONFIG => {
                let text = self.config.read().to_properties_text();
                req.success().with_body(text.into_bytes())
            }
            _ => {
                debug!(code = req.code, "request code not supported");
                not_supported(req)
            }
        })
    }

    fn unit_topics(&self, req: &RemotingCommand, kind: UnitTopicKind) -> Result<RemotingCommand> {
        Ok(req
            .success()
            .with_body(self.routes.topics_by_sys_flag(kind).encode()?))
    }

    fn register_broker(
        &self,
        conn: Option<&Connection>,
        req: &RemotingCommand,
    ) -> Result<RemotingCommand> {
        let h: RegisterBrokerRequestHeader = req.ext_fields.decode()?;
        let crc = h.body_crc32.unwrap_or(0);
        if crc != 0 && RegisterBrokerBody::crc32(&req.body) != crc {
            warn!(broker = %h.broker_name, addr = %h.broker_addr, "register body crc32 mismatch");
            return Ok(req.response_to(ResponseCode::SYSTEM_ERROR, Some("crc32 not match".into())));
        }
        let compressed = h.compressed.unwrap_or(false);
        let (topics, filter_server_list) = if req.body.is_empty() {
            (None, Vec::new())
        } else if req.version >= VERSION_WITH_REGISTER_BODY || compressed {
            let body = RegisterBrokerBody::decode(&req.body, compressed)?;
            (
                Some(body.topic_config_serialize_wrapper),
                body.filter_server_list,
            )
        } else {
            (
                Some(TopicConfigSerializeWrapper::decode(&req.body)?),
                Vec::new(),
            )
        };
        let result = self.routes.register_broker(
            BrokerRegistration {
                cluster_name: h.cluster_name,
                broker_addr: h.broker_addr,
                broker_name: h.broker_name,
                broker_id: h.broker_id,
                ha_server_addr: h.ha_server_addr,
                topics,
                filter_server_list,
                heartbeat_timeout: h
                    .heartbeat_timeout_millis
                    .filter(|ms| *ms > 0)
                    .map(|ms| Duration::from_millis(ms as u64)),
                connection: conn.cloned(),
            },
            Instant::now(),
        );
        // The connection may have closed while this request was being handled, after its close
        // handler already ran: the broker must not linger until the expiry then.
        if let Some(conn) = conn
            && conn.is_closed()
        {
            self.routes.on_connection_closed(conn.id());
        }
        let mut resp = req.success().with_ext(
            RegisterBrokerResponseHeader {
                ha_server_addr: result.ha_server_addr,
                master_addr: result.master_addr,
            }
            .to_ext(),
        );
        if let Some(table) = self.kv.list(NAMESPACE_ORDER_TOPIC_CONFIG) {
            resp = resp.with_body(table.encode()?);
        }
        Ok(resp)
    }

    fn query_data_version(&self, req: &RemotingCommand) -> Result<RemotingCommand> {
        let h: QueryDataVersionRequestHeader = req.ext_fields.decode()?;
        let version = remoting::body::topic::DataVersion::decode(&req.body)?;
        let (changed, stored) =
            self.routes
                .query_data_version(&h.broker_addr, &version, Instant::now());
        let mut resp = req
            .success()
            .with_ext(QueryDataVersionResponseHeader { changed }.to_ext());
        if let Some(stored) = stored {
            resp = resp.with_body(stored.encode()?);
        }
        Ok(resp)
    }

    fn update_config(&self, req: &RemotingCommand) -> RemotingCommand {
        let Ok(text) = std::str::from_utf8(&req.body) else {
            return req.response_to(
                ResponseCode::SYSTEM_ERROR,
                Some("config body is not UTF-8".into()),
            );
        };
        let props = remoting::properties::parse(text);
        let outcome = self.config.write().apply_remote(&props);
        match outcome {
            Ok(()) => {
                tracing::info!(keys = ?props.keys().collect::<Vec<_>>(), "name server config updated");
                req.success()
            }
            Err(e @ crate::config::RemoteUpdateError::Forbidden(_)) => {
                warn!(error = %e, "remote config update refused");
                req.response_to(ResponseCode::NO_PERMISSION, Some(e.to_string()))
            }
            Err(e) => req.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
        }
    }
}

impl RequestHandler for NamesrvProcessor {
    fn handle<'a>(
        &'a self,
        conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            let response = self.process(Some(conn), &request);
            self.metrics
                .on_response(request.request_code(), response.code);
            Some(response)
        })
    }

    fn on_close(&self, conn: &Connection) {
        let gone = self.routes.on_connection_closed(conn.id());
        if !gone.is_empty() {
            tracing::info!(peer = %conn.peer(), brokers = ?gone, "broker connection closed; brokers removed");
        }
    }
}
