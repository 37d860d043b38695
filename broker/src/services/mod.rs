//! The background services: work the broker does on its own schedule, beside the requests.
//!
//! A service never takes the broker's context ([`crate::context::BrokerContext`], which holds
//! the services and so would bring back the import circle of Java's `BrokerController` shape).
//! Each takes a narrow handle holding only the `Arc`s it uses ([`schedule::Handle`],
//! [`transaction::Handle`], [`slave_sync::Handle`]; HA takes its store and that sync handle),
//! built in [`crate::broker`], and returns what the context keeps of it (the service's shared
//! state and its task). So a service reads as what it touches, and can be started by a test
//! over just those tables. `tests/layering.rs` fails when a module here names anything above
//! [`crate::state`] and the leaves.
//!
//! - [`registration`]: REGISTER_BROKER to every name server, periodically and when topics change.
//! - [`ha`]: master/slave replication (HA service, HA client, the SYNC_MASTER wait).
//! - [`slave_sync`]: a slave's copy of the master's topics, groups and offsets.
//! - [`schedule`]: delay levels (`delayOffset.json`), delivering due messages.
//! - [`transaction`]: half messages, their op records and the check-back loop.
pub mod ha;
pub mod registration;
pub mod schedule;
pub mod slave_sync;
pub mod transaction;
