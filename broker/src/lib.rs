//! The broker: send, pull, offsets, groups and admin requests for stock RocketMQ 4.x clients.
//!
//! Run it in-process with [`Broker::start`] (tests do, on `127.0.0.1:0`) or as the `broker`
//! binary, which only parses flags (`-c`, `-n`, `-p`) and the config file.
//!
//! # Layout
//! - [`config`]: [`BrokerConfig`], every `broker.conf` key with its default; shared with the
//!   operator (the only module built without the default `server` feature).
//! - [`broker`]: [`Broker::start`], [`BrokerHandle`]; [`context`]: the state handlers share.
//! - [`processor`]: request code → handler. Handlers, one module per area: [`send`], [`pull`]
//!   (with [`long_polling`] and [`filter`]), [`offsets`], [`heartbeat`] (clients and locks),
//!   [`admin`].
//! - Managers: [`topic_config`] (`topics.json`, TBW102), [`subscription_group`]
//!   (`subscriptionGroup.json`), [`consumer_offset`] (`consumerOffset.json`),
//!   [`client_manager`], [`rebalance_lock`], [`stats`].
//! - [`registration`]: REGISTER_BROKER to every name server; [`local_ip`]: the advertised address.
//! - [`ha`]: master/slave replication (HA service, HA client, SYNC_MASTER wait);
//!   [`slave_sync`]: a slave's copy of the master's topics, groups and offsets.
//! - Delivery semantics: [`retry`] (CONSUMER_SEND_MSG_BACK, retry and dead-letter topics),
//!   [`schedule`] (delay levels, `delayOffset.json`), [`transaction`] (half messages,
//!   END_TRANSACTION, check-back).
//! - [`metrics`]: the Prometheus endpoint (`metricsExporterType=PROM`), hooks and collector.
//! - [`acl`]: plain ACL (`aclEnable`): `plain_acl.yml`, signature and permission checks, the ACL
//!   admin codes.
//! - [`store_api`]: what the broker needs from the store; [`store_adapter`]: it over the
//!   `store` crate; [`names`]: topic/group validation;
//!   [`persist`]: atomic JSON files; [`error`]: the crate's error type.
pub mod config;

#[cfg(feature = "server")]
pub mod acl;
#[cfg(feature = "server")]
pub mod broker;
#[cfg(feature = "server")]
pub mod context;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod filter;
#[cfg(feature = "server")]
pub mod handlers;
#[cfg(feature = "server")]
pub mod java_config_keys;
#[cfg(feature = "server")]
pub mod local_ip;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod names;
#[cfg(feature = "server")]
pub mod processor;
#[cfg(feature = "server")]
pub mod services;
#[cfg(feature = "server")]
pub mod state;
#[cfg(feature = "server")]
pub mod store_adapter;
#[cfg(feature = "server")]
pub mod store_api;
#[cfg(feature = "server")]
pub mod vip;

#[cfg(feature = "server")]
pub use broker::{Broker, BrokerHandle};
pub use config::{BrokerConfig, BrokerRole, ConfigError, FlushDiskType, MetricsExporterType};
#[cfg(feature = "server")]
pub use error::{BrokerError, Result};
