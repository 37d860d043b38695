//! The request handlers: one module per family of request codes, each turning a decoded request
//! into its response. [`crate::processor`] is the one table from request code to handler.
//!
//! Each family takes only what it uses: a small `Deps` struct of references (`send::Deps`,
//! `pull::Deps`, …; the part most share is one [`Core`]) or the references themselves, which [`crate::processor`] builds from the
//! broker's context for each request. No handler names the context
//! (`tests/layering.rs` checks it), so what a handler can touch is written in its signature:
//! the tables of [`crate::state`], the store, and the services of [`crate::services`] it calls
//! into (the SYNC_MASTER wait after a put, the half-message store). Nothing below the handlers
//! imports them, so a handler can be read, changed or tested without the rest of the request
//! path.
//!
//! - [`send`]: SEND_MESSAGE, V2 and batches (the checks of spec §3.1, then the store).
//! - [`reply`]: SEND_REPLY_MESSAGE(_V2), pushed to the requester.
//! - [`pull`]: PULL_MESSAGE and LITE_PULL_MESSAGE, with long polling.
//! - [`retry`]: CONSUMER_SEND_MSG_BACK (retry and dead-letter topics).
//! - [`end_transaction`]: END_TRANSACTION (commit or roll back a half message).
//! - [`offsets`]: consumer offsets, queue bounds, search by time.
//! - [`heartbeat`]: HEART_BEAT, UNREGISTER_CLIENT, consumer lists, orderly queue locks.
//! - [`admin`]: topics, groups, queries by key and id, runtime info, broker config.
//! - [`admin_stats`]: the further admin codes `mqadmin` 4.9 uses (consumer running info,
//!   broker consume stats, producer info, clean-ups).
//! - [`acl_admin`]: the ACL admin codes 50–54 (rewrite `plain_acl.yml`).
//! - [`role_switch`]: the failover codes 29001–29004 of [`crate::failover_proto`] (state,
//!   fence, promote, re-point; docs/failover.md).
pub mod acl_admin;
pub mod admin;
pub mod admin_stats;
pub mod end_transaction;
pub mod heartbeat;
pub mod offsets;
pub mod pull;
pub mod reply;
pub mod retry;
pub mod role_switch;
pub mod runtime_extras;
pub mod send;
pub mod stats_data;

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::config::BrokerConfig;
use crate::state::fencing::RoleState;
use crate::state::runtime_config::RuntimeConfig;
use crate::state::stats::BrokerStats;
use crate::state::subscription_group::SubscriptionGroupManager;
use crate::state::topic_config::TopicConfigManager;
use crate::store_api::MessageStoreApi;

/// What the message families (send, pull, retry, admin) all touch: the config, the role and
/// permission bits every request is checked against (all three change at run time:
/// UPDATE_BROKER_CONFIG, a failover), the store, the topic and group tables and the counters.
/// Their `Deps` hold one `Core` and the few references of their own, and reach the `Core`'s
/// fields through `Deref` (`ctx.store`, `ctx.live()`), so the shared part is named once and
/// the checks below are written once.
pub struct Core<'a> {
    /// The start-up config.
    pub config: &'a BrokerConfig,
    /// The config as UPDATE_BROKER_CONFIG last set it ([`Core::live`]).
    pub runtime: &'a RuntimeConfig,
    /// The role, broker id and epoch now: slaves and fenced masters refuse writes.
    pub role: &'a RoleState,
    /// The broker permission bits (brokerPermission; admin may change them).
    pub permission: &'a AtomicI32,
    /// The store, as the handlers use it.
    pub store: &'a dyn MessageStoreApi,
    /// Topics (with the retry and dead-letter topics created on demand).
    pub topics: &'a TopicConfigManager,
    /// Subscription groups (retry settings, consume enabled).
    pub groups: &'a SubscriptionGroupManager,
    /// Counters.
    pub stats: &'a BrokerStats,
}

impl Core<'_> {
    /// The config in effect now: the start-up config with the run-time keys as
    /// UPDATE_BROKER_CONFIG last set them.
    pub fn live(&self) -> Arc<BrokerConfig> {
        self.runtime.get()
    }

    /// The broker permission bits now.
    pub fn permission(&self) -> i32 {
        self.permission.load(Ordering::Relaxed)
    }

    /// True for a slave (the role now, which a failover may have changed).
    pub fn is_slave(&self) -> bool {
        self.role.is_slave()
    }

    /// Whether a write may be stored now ([`RoleState::check_write`]): the remark to answer
    /// with when not.
    pub fn write_refused(&self) -> Option<String> {
        self.role.write_refused()
    }
}

/// Lets a family's `Deps` (a struct with a `core: Core` field) be read as its [`Core`].
macro_rules! deps_over_core {
    ($deps:ident) => {
        impl<'a> std::ops::Deref for $deps<'a> {
            type Target = $crate::handlers::Core<'a>;
            fn deref(&self) -> &Self::Target {
                &self.core
            }
        }
    };
}
pub(crate) use deps_over_core;
