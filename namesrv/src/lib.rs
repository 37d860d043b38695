//! The name server: a stateless route registry brokers register with (spec §3.11, §8).
//!
//! Run it in-process with [`NameServer::start`] (tests and the broker's tests do, on
//! `127.0.0.1:0`), or as the `namesrv` binary, which only parses flags and config.
//!
//! # Layout
//! - [`config`]: [`NamesrvConfig`], read from Java properties; the remote-update allow-list.
//! - [`route`]: [`RouteInfoManager`], the route tables, broker liveness and expiry.
//! - [`kv`]: the KV config store persisted to `kvConfig.json`.
//! - [`processor`]: one handler per request code; connection close unregisters brokers.
//! - [`server`]: [`NameServer::start`] and [`NameServerHandle`].
//! - [`metrics`]: the Prometheus endpoint (`metricsExporterType=PROM`).
//! - [`error`]: the crate's error type.

pub mod config;
pub mod error;
pub mod kv;
pub mod metrics;
pub mod processor;
pub mod route;
pub mod server;

pub use config::NamesrvConfig;
pub use error::{NamesrvError, Result};
pub use route::RouteInfoManager;
pub use server::{NameServer, NameServerHandle};
