//! The broker: send, pull, offsets, groups and admin requests for stock RocketMQ 4.x clients.
//!
//! Run it in-process with [`Broker::start`] (tests do, on `127.0.0.1:0`) or as the `broker`
//! binary, which only parses flags (`-c`, `-n`, `-p`) and the config file.
//!
//! # Layout
//! Four layers, each importing only the ones below it: [`processor`] (with [`context`]) →
//! [`handlers`] → [`services`] → [`state`] (and the shared leaves at the end of this list).
//! No handler and no service takes the whole context: each gets the references it uses
//! (`tests/layering.rs` checks both).
//! - [`config`]: [`BrokerConfig`], every `broker.conf` key with its default; shared with the
//!   operator (built without the default `server` feature, as is `failover_proto`);
//!   [`java_config_keys`]: the Java 4.9 keys this broker has no counterpart of;
//!   [`failover_proto`]: the failover admin codes 29001–29004 and their answer, shared with
//!   the operator's failover controller.
//! - [`broker`]: [`Broker::start`] wires everything and builds each service's handle;
//!   [`BrokerHandle`] stops it. [`context`]: everything the broker shares at run time, held in
//!   one place for the processor to hand out.
//! - [`processor`]: the one table from request code to handler (after the ACL and name checks),
//!   and where each family's `Deps` is built from the context.
//! - [`handlers`]: one module per request family, each taking only what it needs: `send`,
//!   `reply`, `pull`, `retry`, `end_transaction`, `offsets`, `heartbeat` (clients and queue
//!   locks), `admin`, `admin_stats`, `acl_admin`, `stats_data` (VIEW_BROKER_STATS_DATA),
//!   `runtime_extras` (the GET_BROKER_RUNTIME_INFO keys in Java's formats), `role_switch` (the
//!   failover codes: promote, fence, re-point; docs/failover.md).
//! - [`services`]: what runs in the background, each over a narrow handle rather than the
//!   context: `registration` (REGISTER_BROKER to every name server), `ha` (master/slave
//!   replication, the SYNC_MASTER wait, the epoch handshake), `slave_sync` (a slave's copy of
//!   the master's metadata), `schedule` (delay levels), `transaction` (half messages,
//!   check-back).
//! - [`state`]: the tables and their files: `topic_config` (`topics.json`, TBW102),
//!   `subscription_group`, `consumer_offset`, `runtime_config` (UPDATE_BROKER_CONFIG),
//!   `persist` (atomic JSON), `client_manager`, `rebalance_lock`, `long_polling` (parked
//!   pulls), `stats`, `broker_stats` (per-topic/group minute, hour and day windows),
//!   `put_latency` (the append latency histogram), `fencing` (`RoleState`: the role, broker
//!   id, epoch and lease now, and the write check every write path asks with
//!   `epochFencingEnable`).
//! - Cross-cutting: [`acl`] (plain ACL policy: `plain_acl.yml`, signatures, permissions),
//!   [`filter`] (tag and SQL92 filters for pulls), [`metrics`] (the Prometheus endpoint and the
//!   hooks the handlers feed; its collector reads the broker through `metrics::Sources`).
//! - Leaves: [`store_api`] (what the broker needs from the store) and [`store_adapter`] (it
//!   over the `store` crate); [`names`] (topic/group validation); [`local_ip`] (the advertised
//!   address); [`vip`] (the VIP channel listener); [`memory`] (the machine's or the
//!   container's memory, for the "in memory" rule); [`error`] (the crate's error type).
pub mod config;

#[cfg(feature = "server")]
pub mod acl;
#[cfg(feature = "server")]
pub mod broker;
#[cfg(feature = "server")]
pub mod context;
#[cfg(feature = "server")]
pub mod error;
pub mod failover_proto;
#[cfg(feature = "server")]
pub mod filter;
#[cfg(feature = "server")]
pub mod handlers;
#[cfg(feature = "server")]
pub mod java_config_keys;
#[cfg(feature = "server")]
pub mod local_ip;
#[cfg(feature = "server")]
pub mod memory;
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
