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
    Core, acl_admin, admin, admin_stats, end_transaction, heartbeat, offsets, pull, reply, retry,
    role_switch, send, stats_data,
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

    /// The checks before any handler: plain ACL first (a refused request reaches no handler,
    /// so nothing is stored), then every topic and group name in the header (reliability.md
    /// "Hostile input": the same rules and answer as topic creation). `Some` is the refusal.
    fn admit(&self, conn: &Connection, req: &RemotingCommand) -> Option<RemotingCommand> {
        if let Some(acl) = self.ctx.acl.get()
            && let Err(remark) = acl.check(conn.peer().ip(), req)
        {
            tracing::warn!(peer = %conn.peer(), code = req.code, %remark, "request refused by ACL");
            return Some(req.response_to(remoting::ResponseCode::NO_PERMISSION, Some(remark)));
        }
        if let Err(remark) = crate::names::check_header(req.request_code(), &req.ext_fields) {
            return Some(req.response_to(remoting::ResponseCode::SYSTEM_ERROR, Some(remark)));
        }
        None
    }

    async fn dispatch(&self, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
        let ctx = &*self.ctx;
        if let Some(refused) = self.admit(conn, &req) {
            return refused;
        }
        let notify = |group: &str| ctx.notify_consumer_ids_changed(group);
        match req.request_code() {
            RequestCode::SEND_MESSAGE
            | RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE => send::handle(&send_deps(ctx), conn, req).await,
            RequestCode::SEND_REPLY_MESSAGE | RequestCode::SEND_REPLY_MESSAGE_V2 => {
                reply::handle(&send_deps(ctx), &ctx.clients, conn, req).await
            }
            RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => {
                pull::handle(&pull_deps(ctx), conn, req).await
            }
            RequestCode::CONSUMER_SEND_MSG_BACK => {
                retry::send_back(&retry_deps(ctx), conn, req).await
            }
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
                end_transaction::end_transaction(&end_transaction_deps(ctx), conn, req).await
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
            RequestCode::HEART_BEAT => {
                heartbeat::heartbeat(&heartbeat_deps(ctx, &notify), conn, req)
            }
            RequestCode::UNREGISTER_CLIENT => {
                heartbeat::unregister_client(&heartbeat_deps(ctx, &notify), conn, req)
            }
            RequestCode::GET_CONSUMER_LIST_BY_GROUP => heartbeat::consumer_list(&ctx.clients, req),
            RequestCode::CHECK_CLIENT_CONFIG => heartbeat::check_client_config(&ctx.runtime, req),
            RequestCode::LOCK_BATCH_MQ => heartbeat::lock_batch(&ctx.locks, req),
            RequestCode::UNLOCK_BATCH_MQ => heartbeat::unlock_batch(&ctx.locks, req),
            // The admin codes: rarely sent, so the families' references are built once there.
            _ => admin_dispatch(ctx, req).await,
        }
    }
}

/// The rest of the dispatch table: the admin families (topics, groups, runtime info, the
/// clean-ups, failover and ACL codes); unknown codes get REQUEST_CODE_NOT_SUPPORTED.
async fn admin_dispatch(ctx: &BrokerContext, req: RemotingCommand) -> RemotingCommand {
    let admin = &admin_deps(ctx);
    let stats = &admin_stats_deps(ctx);
    match req.request_code() {
        RequestCode::UPDATE_AND_CREATE_TOPIC => admin::create_topic(admin, req).await,
        RequestCode::DELETE_TOPIC_IN_BROKER => admin::delete_topic(admin, req),
        RequestCode::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(admin, req),
        RequestCode::GET_TOPIC_CONFIG => admin::topic_config(admin, req),
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => admin::create_group(admin, req),
        RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => admin::all_groups(admin, req),
        RequestCode::DELETE_SUBSCRIPTIONGROUP => admin::delete_group(admin, req),
        RequestCode::GET_ALL_CONSUMER_OFFSET => admin::all_consumer_offsets(admin, req),
        RequestCode::QUERY_MESSAGE => admin::query_message(admin, req),
        RequestCode::VIEW_MESSAGE_BY_ID => admin::view_message(admin, req),
        RequestCode::GET_BROKER_RUNTIME_INFO => admin::broker_runtime_info(admin, req),
        RequestCode::GET_TOPIC_STATS_INFO => admin::topic_stats(admin, req),
        RequestCode::GET_CONSUME_STATS => admin::consume_stats(admin, req),
        RequestCode::GET_CONSUMER_CONNECTION_LIST => admin::consumer_connections(admin, req),
        RequestCode::GET_PRODUCER_CONNECTION_LIST => admin::producer_connections(admin, req),
        RequestCode::GET_BROKER_CONFIG => admin::broker_config(admin, req),
        RequestCode::UPDATE_BROKER_CONFIG => admin::update_broker_config(admin, req),
        RequestCode::QUERY_TOPIC_CONSUME_BY_WHO => admin::topic_consumed_by(admin, req),
        RequestCode::INVOKE_BROKER_TO_RESET_OFFSET => admin::reset_offset(admin, req),
        RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_BROKER => {
            admin_stats::system_topic_list(stats, req)
        }
        RequestCode::GET_CONSUMER_RUNNING_INFO => {
            admin_stats::consumer_running_info(stats, req).await
        }
        RequestCode::CONSUME_MESSAGE_DIRECTLY => {
            admin_stats::consume_message_directly(stats, req).await
        }
        RequestCode::GET_ALL_PRODUCER_INFO => admin_stats::all_producer_info(stats, req),
        RequestCode::DELETE_EXPIRED_COMMITLOG => {
            admin_stats::delete_expired_commit_log(stats, req).await
        }
        RequestCode::CLEAN_UNUSED_TOPIC => admin_stats::clean_unused_topic(stats, req).await,
        RequestCode::CLEAN_EXPIRED_CONSUMEQUEUE => {
            admin_stats::clean_expired_consume_queue(stats, req).await
        }
        RequestCode::QUERY_CONSUME_QUEUE => admin_stats::query_consume_queue(stats, req),
        RequestCode::GET_BROKER_CONSUME_STATS => admin_stats::broker_consume_stats(stats, req),
        RequestCode::VIEW_BROKER_STATS_DATA => {
            stats_data::view_broker_stats_data(&ctx.stats.detail, req)
        }
        code if crate::failover_proto::is_failover_code(code.0) => {
            role_switch::handle(&role_switch_deps(ctx), &req).await
        }
        code if acl_admin::is_acl_admin_code(code) => acl_admin::handle(
            ctx.acl.get().map(|a| &**a),
            &ctx.config,
            &ctx.broker_addr,
            &req,
        ),
        _ => not_supported(&req),
    }
}

// What each family gets from the context: the one place that knows both sides.

fn core(ctx: &BrokerContext) -> Core<'_> {
    Core {
        config: &ctx.config,
        runtime: &ctx.runtime,
        role: &ctx.role,
        permission: &ctx.permission,
        store: &*ctx.store,
        topics: &ctx.topics,
        groups: &ctx.groups,
        stats: &ctx.stats,
    }
}

fn send_deps(ctx: &BrokerContext) -> send::Deps<'_> {
    send::Deps {
        core: core(ctx),
        send_permits: &ctx.send_permits,
        send_turns: &ctx.send_turns,
        send_waiting: &ctx.send_waiting,
        ha: &ctx.ha,
        long_polling: &ctx.long_polling,
        metrics: &ctx.metrics,
        store_host: ctx.store_host,
    }
}

fn pull_deps(ctx: &BrokerContext) -> pull::Deps<'_> {
    pull::Deps {
        core: core(ctx),
        clients: &ctx.clients,
        offsets: &ctx.offsets,
        long_polling: &ctx.long_polling,
        shutdown: &ctx.shutdown,
        metrics: &ctx.metrics,
    }
}

fn retry_deps(ctx: &BrokerContext) -> retry::Deps<'_> {
    retry::Deps {
        core: core(ctx),
        store_host: ctx.store_host,
    }
}

fn end_transaction_deps(ctx: &BrokerContext) -> end_transaction::Deps<'_> {
    end_transaction::Deps {
        role: &ctx.role,
        store: &*ctx.store,
        transactions: &ctx.transactions,
        long_polling: &ctx.long_polling,
        store_host: ctx.store_host,
    }
}

fn heartbeat_deps<'a>(
    ctx: &'a BrokerContext,
    notify: &'a (dyn Fn(&str) + Sync),
) -> heartbeat::Deps<'a> {
    heartbeat::Deps {
        groups: &ctx.groups,
        topics: &ctx.topics,
        clients: &ctx.clients,
        notify_ids_changed: notify,
    }
}

fn admin_deps(ctx: &BrokerContext) -> admin::Deps<'_> {
    admin::Deps {
        core: core(ctx),
        offsets: &ctx.offsets,
        clients: &ctx.clients,
        long_polling: &ctx.long_polling,
        send_permits: &ctx.send_permits,
        end_transactions_in_flight: &ctx.end_transactions_in_flight,
        ha: &ctx.ha,
        schedule: &ctx.schedule,
        broker_addr: &ctx.broker_addr,
    }
}

fn admin_stats_deps(ctx: &BrokerContext) -> admin_stats::Deps<'_> {
    admin_stats::Deps {
        config: &ctx.config,
        store: &*ctx.store,
        message_store: &ctx.message_store,
        topics: &ctx.topics,
        groups: &ctx.groups,
        offsets: &ctx.offsets,
        clients: &ctx.clients,
        stats: &ctx.stats,
        broker_addr: &ctx.broker_addr,
    }
}

fn role_switch_deps(ctx: &BrokerContext) -> role_switch::Deps<'_> {
    role_switch::Deps {
        config: &ctx.config,
        role: &ctx.role,
        ha: &ctx.ha,
        ha_addr: &ctx.ha_addr,
        schedule: &ctx.schedule,
        topics_changed: &ctx.topics_changed,
        broker_addr: &ctx.broker_addr,
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

    /// Sends that wait for nothing (see `send::answer_now`). A send given back after its
    /// admission is admitted again on its way through `handle`; that happens only while
    /// another send holds the store's turn.
    fn answer_now(
        &self,
        conn: &Connection,
        request: RemotingCommand,
    ) -> Result<Option<RemotingCommand>, RemotingCommand> {
        if !matches!(
            request.request_code(),
            RequestCode::SEND_MESSAGE
                | RequestCode::SEND_MESSAGE_V2
                | RequestCode::SEND_BATCH_MESSAGE
        ) {
            return Err(request);
        }
        let deps = send_deps(&self.ctx);
        if !send::waits_for_nothing(&deps) {
            return Err(request);
        }
        let kind = crate::metrics::RequestKind::of(request.request_code());
        let response = match self.admit(conn, &request) {
            Some(refused) => refused,
            None => send::answer_now(&deps, conn, request)?,
        };
        self.ctx.metrics.on_response(kind, response.code);
        Ok(Some(response))
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
