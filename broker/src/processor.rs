//! Dispatch of every request code to its handler (spec §1.6): unknown codes get
//! REQUEST_CODE_NOT_SUPPORTED, and every response carries our version (the connection sets
//! `opaque`, the response flag and the serialize type).

use std::sync::Arc;

use futures::future::BoxFuture;
use remoting::connection::not_supported;
use remoting::{Connection, RemotingCommand, RequestCode, RequestHandler};
use tracing::info;

use crate::context::BrokerContext;
use crate::handlers::{
    acl_admin, admin, admin_stats, end_transaction, heartbeat, offsets, pull, reply, retry,
    role_switch, send,
};

/// The broker's request handler.
pub struct BrokerProcessor {
    ctx: Arc<BrokerContext>,
}

impl BrokerProcessor {
    /// A handler over the broker's state.
    pub fn new(ctx: Arc<BrokerContext>) -> Self {
        BrokerProcessor { ctx }
    }

    async fn dispatch(&self, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
        let ctx = &*self.ctx;
        // Plain ACL first: a refused request reaches no handler, so nothing is stored.
        if let Some(acl) = ctx.acl.get()
            && let Err(remark) = acl.check(conn.peer().ip(), &req)
        {
            tracing::warn!(peer = %conn.peer(), code = req.code, %remark, "request refused by ACL");
            return req.response_to(remoting::ResponseCode::NO_PERMISSION, Some(remark));
        }
        // Every topic and group name in the header is checked before any handler sees it
        // (reliability.md "Hostile input"): the same rules and answer as topic creation.
        if let Err(remark) = crate::names::check_header(req.request_code(), &req.ext_fields) {
            return req.response_to(remoting::ResponseCode::SYSTEM_ERROR, Some(remark));
        }
        match req.request_code() {
            RequestCode::SEND_MESSAGE
            | RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE => send::handle(ctx, conn, req).await,
            RequestCode::SEND_REPLY_MESSAGE | RequestCode::SEND_REPLY_MESSAGE_V2 => {
                reply::handle(ctx, conn, req).await
            }
            RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => {
                pull::handle(ctx, conn, req).await
            }
            RequestCode::CONSUMER_SEND_MSG_BACK => retry::send_back(ctx, conn, req).await,
            RequestCode::END_TRANSACTION => {
                // Counted while handled, also if the handling is dropped half-way.
                struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);
                impl Drop for InFlight<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                ctx.end_transactions_in_flight
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _in_flight = InFlight(&ctx.end_transactions_in_flight);
                end_transaction::end_transaction(ctx, conn, req).await
            }
            RequestCode::QUERY_CONSUMER_OFFSET => {
                offsets::query_consumer_offset(&ctx.offsets, &*ctx.store, req)
            }
            RequestCode::UPDATE_CONSUMER_OFFSET => {
                offsets::update_consumer_offset(&ctx.offsets, &*ctx.store, req)
            }
            RequestCode::GET_MAX_OFFSET => offsets::get_max_offset(&*ctx.store, req),
            RequestCode::GET_MIN_OFFSET => offsets::get_min_offset(&*ctx.store, req),
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP => offsets::search_offset(&*ctx.store, req),
            RequestCode::GET_EARLIEST_MSG_STORETIME => {
                offsets::earliest_store_time(&*ctx.store, req)
            }
            RequestCode::HEART_BEAT => heartbeat::heartbeat(ctx, conn, req),
            RequestCode::UNREGISTER_CLIENT => heartbeat::unregister_client(ctx, conn, req),
            RequestCode::GET_CONSUMER_LIST_BY_GROUP => heartbeat::consumer_list(ctx, req),
            RequestCode::CHECK_CLIENT_CONFIG => heartbeat::check_client_config(ctx, req),
            RequestCode::LOCK_BATCH_MQ => heartbeat::lock_batch(ctx, req),
            RequestCode::UNLOCK_BATCH_MQ => heartbeat::unlock_batch(ctx, req),
            RequestCode::UPDATE_AND_CREATE_TOPIC => admin::create_topic(ctx, req),
            RequestCode::DELETE_TOPIC_IN_BROKER => admin::delete_topic(ctx, req),
            RequestCode::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(ctx, req),
            RequestCode::GET_TOPIC_CONFIG => admin::topic_config(ctx, req),
            RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => admin::create_group(ctx, req),
            RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => admin::all_groups(ctx, req),
            RequestCode::DELETE_SUBSCRIPTIONGROUP => admin::delete_group(ctx, req),
            RequestCode::GET_ALL_CONSUMER_OFFSET => admin::all_consumer_offsets(ctx, req),
            RequestCode::QUERY_MESSAGE => admin::query_message(ctx, req),
            RequestCode::VIEW_MESSAGE_BY_ID => admin::view_message(ctx, req),
            RequestCode::GET_BROKER_RUNTIME_INFO => admin::broker_runtime_info(ctx, req),
            RequestCode::GET_TOPIC_STATS_INFO => admin::topic_stats(ctx, req),
            RequestCode::GET_CONSUME_STATS => admin::consume_stats(ctx, req),
            RequestCode::GET_CONSUMER_CONNECTION_LIST => admin::consumer_connections(ctx, req),
            RequestCode::GET_PRODUCER_CONNECTION_LIST => admin::producer_connections(ctx, req),
            RequestCode::GET_BROKER_CONFIG => admin::broker_config(ctx, req),
            RequestCode::UPDATE_BROKER_CONFIG => admin::update_broker_config(ctx, req),
            RequestCode::QUERY_TOPIC_CONSUME_BY_WHO => admin::topic_consumed_by(ctx, req),
            RequestCode::INVOKE_BROKER_TO_RESET_OFFSET => admin::reset_offset(ctx, req),
            RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_BROKER => {
                admin_stats::system_topic_list(ctx, req)
            }
            RequestCode::GET_CONSUMER_RUNNING_INFO => {
                admin_stats::consumer_running_info(ctx, req).await
            }
            RequestCode::CONSUME_MESSAGE_DIRECTLY => {
                admin_stats::consume_message_directly(ctx, req).await
            }
            RequestCode::GET_ALL_PRODUCER_INFO => admin_stats::all_producer_info(ctx, req),
            RequestCode::DELETE_EXPIRED_COMMITLOG => {
                admin_stats::delete_expired_commit_log(ctx, req).await
            }
            RequestCode::CLEAN_UNUSED_TOPIC => admin_stats::clean_unused_topic(ctx, req).await,
            RequestCode::CLEAN_EXPIRED_CONSUMEQUEUE => {
                admin_stats::clean_expired_consume_queue(ctx, req).await
            }
            RequestCode::QUERY_CONSUME_QUEUE => admin_stats::query_consume_queue(ctx, req),
            RequestCode::GET_BROKER_CONSUME_STATS => admin_stats::broker_consume_stats(ctx, req),
            RequestCode::VIEW_BROKER_STATS_DATA => {
                crate::handlers::stats_data::view_broker_stats_data(ctx, req)
            }
            code if crate::failover_proto::is_failover_code(code.0) => {
                role_switch::handle(ctx, &req).await
            }
            code if acl_admin::is_acl_admin_code(code) => acl_admin::handle(ctx, &req),
            _ => not_supported(&req),
        }
    }
}

impl RequestHandler for BrokerProcessor {
    fn handle<'a>(
        &'a self,
        conn: &'a Connection,
        request: RemotingCommand,
    ) -> BoxFuture<'a, Option<RemotingCommand>> {
        Box::pin(async move {
            let kind = crate::metrics::RequestKind::of(request.request_code());
            let response = self.dispatch(conn, request).await;
            self.ctx.metrics.on_response(kind, response.code);
            Some(response)
        })
    }

    /// END_TRANSACTION writes the commit and then its op record; stopped between the two, the
    /// half message would be checked back and could be committed twice. Everything else is
    /// dropped with its connection (a parked pull at once).
    fn cancel_on_close(&self, request: &RemotingCommand) -> bool {
        request.request_code() != RequestCode::END_TRANSACTION
    }

    fn on_close(&self, conn: &Connection) {
        for group in self.ctx.clients.connection_closed(conn.id()) {
            info!(group, peer = %conn.peer(), "consumer connection closed");
            self.ctx.notify_consumer_ids_changed(&group);
        }
    }
}
