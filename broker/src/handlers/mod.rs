//! The request handlers: one module per family of request codes, each turning a decoded request
//! into its response. [`crate::processor`] is the one table from request code to handler.
//!
//! Handlers read and change the broker through [`crate::context::BrokerContext`]: the tables of
//! [`crate::state`], the store, and the services of [`crate::services`] they call into (the SYNC_MASTER
//! wait after a put, the half-message store). Nothing below the handlers imports them, so a
//! handler can be read, changed or tested without the rest of the request path.
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
