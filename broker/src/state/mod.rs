//! The broker's tables and their persistence: what a request changes and a restart must find
//! again.
//!
//! Each table is a plain struct with its own lock, shared through the context (and, for the
//! services that need one, through their narrow handles). Nothing here knows about requests,
//! connections or background tasks: state imports only [`crate::config`], [`crate::names`] and
//! [`crate::error`], so handlers and services can both depend on it without a circle.
//!
//! - [`topic_config`]: topics (`topics.json`, auto-creation from `TBW102`, the re-register
//!   signal).
//! - [`subscription_group`]: group settings (`subscriptionGroup.json`).
//! - [`consumer_offset`]: committed offsets (`consumerOffset.json`).
//! - [`runtime_config`]: the live config UPDATE_BROKER_CONFIG changes (and its file).
//! - [`persist`]: atomic JSON files with a `.bak`, as Java's `MixAll.string2File`.
//! - [`client_manager`]: producers and consumers known from heartbeats.
//! - [`rebalance_lock`]: orderly consumers' queue locks.
//! - [`long_polling`]: parked pulls, per queue, with their caps (no task of its own: a message
//!   arrival or the periodic sweep wakes them).
//! - [`stats`]: the counters GET_BROKER_RUNTIME_INFO reports.
//! - [`broker_stats`]: per-topic and per-group minute, hour and day windows
//!   (VIEW_BROKER_STATS_DATA, `statsAll`).
//! - [`put_latency`]: the append latency histogram (putLatency99/999 of runtime info).
//! - [`fencing`]: [`fencing::RoleState`], the role, broker id, epoch and lease now
//!   (`epochFencingEnable`, docs/failover.md) and the write check every write path asks;
//!   handlers and services get a reference to it in their `Deps` or handle.
pub mod broker_stats;
pub mod client_manager;
pub mod consumer_offset;
pub mod fencing;
pub mod long_polling;
pub mod persist;
pub mod put_latency;
pub mod rebalance_lock;
pub mod runtime_config;
pub mod stats;
pub mod subscription_group;
pub mod topic_config;
