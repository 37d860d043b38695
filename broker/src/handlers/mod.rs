//! The request handlers: one module per family of request codes, each turning a decoded request
//! into its response. [`crate::processor`] is the one table from request code to handler.
//!
//! Each family takes only what it uses: a small `Deps` struct of references (`send::Deps`,
//! `pull::Deps`, …) or the references themselves, which [`crate::processor`] builds from the
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

/// What most requests are checked against before anything is stored or read: the config in
/// effect now, the role now and the broker's permission bits (all three change at run time:
/// UPDATE_BROKER_CONFIG, a failover). A family's `Deps` holds the three references and names
/// them here; the checks themselves are written once, below.
pub trait Standing {
    /// The config as UPDATE_BROKER_CONFIG last set it.
    fn runtime_config(&self) -> &RuntimeConfig;
    /// The role, broker id and epoch now.
    fn role_state(&self) -> &RoleState;
    /// The broker permission bits (brokerPermission; admin may change them).
    fn permission_bits(&self) -> &AtomicI32;

    /// The config in effect now: the start-up config with the run-time keys as
    /// UPDATE_BROKER_CONFIG last set them.
    fn live(&self) -> Arc<BrokerConfig> {
        self.runtime_config().get()
    }

    /// The broker permission bits now.
    fn permission(&self) -> i32 {
        self.permission_bits().load(Ordering::Relaxed)
    }

    /// True for a slave (the role now, which a failover may have changed).
    fn is_slave(&self) -> bool {
        self.role_state().is_slave()
    }

    /// Whether a write may be stored now ([`RoleState::check_write`]): the remark to answer
    /// with when not.
    fn write_refused(&self) -> Option<String> {
        self.role_state().write_refused()
    }
}

/// Implements [`Standing`] for a `Deps` struct with `runtime`, `role` and `permission` fields.
macro_rules! standing_from_fields {
    ($deps:ident) => {
        impl $crate::handlers::Standing for $deps<'_> {
            fn runtime_config(&self) -> &$crate::state::runtime_config::RuntimeConfig {
                self.runtime
            }
            fn role_state(&self) -> &$crate::state::fencing::RoleState {
                self.role
            }
            fn permission_bits(&self) -> &std::sync::atomic::AtomicI32 {
                self.permission
            }
        }
    };
}
pub(crate) use standing_from_fields;
