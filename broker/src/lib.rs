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
//! - Failover (`epochFencingEnable`, docs/failover.md): [`fencing`] (role, epoch, lease: the
//!   write check), [`role_switch`] (promote / fence / re-point admin codes, write hooks),
//!   [`failover_proto`] (the codes and answer shape, shared with the operator).
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
pub mod admin;
#[cfg(feature = "server")]
pub mod admin_stats;
#[cfg(feature = "server")]
pub mod broker;
#[cfg(feature = "server")]
pub mod client_manager;
#[cfg(feature = "server")]
pub mod consumer_offset;
#[cfg(feature = "server")]
pub mod context;
#[cfg(feature = "server")]
pub mod error;
pub mod failover_proto;
#[cfg(feature = "server")]
pub mod fencing;
#[cfg(feature = "server")]
pub mod filter;
#[cfg(feature = "server")]
pub mod ha;
#[cfg(feature = "server")]
pub mod heartbeat;
#[cfg(feature = "server")]
pub mod java_config_keys;
#[cfg(feature = "server")]
pub mod local_ip;
#[cfg(feature = "server")]
pub mod long_polling;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod names;
#[cfg(feature = "server")]
pub mod offsets;
#[cfg(feature = "server")]
pub mod persist;
#[cfg(feature = "server")]
pub mod processor;
#[cfg(feature = "server")]
pub mod pull;
#[cfg(feature = "server")]
pub mod rebalance_lock;
#[cfg(feature = "server")]
pub mod registration;
#[cfg(feature = "server")]
pub mod reply;
#[cfg(feature = "server")]
pub mod retry;
#[cfg(feature = "server")]
pub mod role_switch;
#[cfg(feature = "server")]
pub mod runtime_config;
#[cfg(feature = "server")]
pub mod schedule;
#[cfg(feature = "server")]
pub mod send;
#[cfg(feature = "server")]
pub mod slave_sync;
#[cfg(feature = "server")]
pub mod stats;
#[cfg(feature = "server")]
pub mod store_adapter;
#[cfg(feature = "server")]
pub mod store_api;
#[cfg(feature = "server")]
pub mod subscription_group;
#[cfg(feature = "server")]
pub mod topic_config;
#[cfg(feature = "server")]
pub mod transaction;
#[cfg(feature = "server")]
pub mod vip;

#[cfg(feature = "server")]
pub use broker::{Broker, BrokerHandle};
pub use config::{BrokerConfig, BrokerRole, ConfigError, FlushDiskType, MetricsExporterType};
#[cfg(feature = "server")]
pub use error::{BrokerError, Result};
