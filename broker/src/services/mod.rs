//! The background services: work the broker does on its own schedule, beside the requests.
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
