//! The broker: send, pull, offsets, groups, retry, delay, transactions, replication.
//!
//! # Layout
//! - [`config`]: [`BrokerConfig`](config::BrokerConfig), every `broker.conf` key with its default;
//!   shared with the operator (available without the default `server` feature).
pub mod config;

pub use config::{BrokerConfig, BrokerRole, ConfigError, FlushDiskType};
