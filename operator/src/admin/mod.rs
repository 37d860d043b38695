//! The broker admin calls the controller needs, behind a trait so tests can answer them.
//!
//! [`RemotingAdmin`] implements it over the RocketMQ remoting protocol (spec §3.10):
//! GET_BROKER_RUNTIME_INFO for commit-log offsets, GET_ALL_TOPIC_CONFIG + UPDATE_AND_CREATE_TOPIC (and the subscription-group
//! pair) for the scale-out copy, and the broker's permission and consumer offsets for the drain check.

use futures::future::BoxFuture;

use crate::error::Result;

/// Largest master/slave commit-log gap (bytes) that still counts as caught up: a master under
/// load is always a little ahead.
pub const CATCH_UP_SLACK: i64 = 1 << 20;

/// Questions the controller asks brokers. Addresses are `host:port` of the remoting port.
pub trait BrokerAdmin: Send + Sync {
    /// Whether every slave's commit log is within [`CATCH_UP_SLACK`] of the master's.
    fn slaves_caught_up<'a>(
        &'a self,
        master: &'a str,
        slaves: &'a [String],
    ) -> BoxFuture<'a, Result<bool>>;
    /// Copies every topic config of `from` missing on `to`, except system topics and the names
    /// in `skip` (broker and cluster names, which every broker creates for itself), and every
    /// subscription group of `from` missing on `to`; returns how many were copied.
    fn copy_topics<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        skip: &'a [String],
    ) -> BoxFuture<'a, Result<usize>>;
    /// Whether a group's master was drained: write permission wiped and no consumer lag.
    fn is_drained<'a>(&'a self, master: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// Whether the name server at `namesrv` lists group `broker_name` of cluster `cluster` with a
    /// master (brokerId 0), at `master_addr` when given. A restarted master is only useful to
    /// clients once registered: a masters-only roll waits for it before stopping the next one.
    fn master_registered<'a>(
        &'a self,
        namesrv: &'a str,
        cluster: &'a str,
        broker_name: &'a str,
        master_addr: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool>>;
}

/// [`BrokerAdmin`] over the remoting protocol.
pub struct RemotingAdmin {
    client: remoting::client::RemotingClient,
    timeout: std::time::Duration,
}

impl Default for RemotingAdmin {
    fn default() -> Self {
        RemotingAdmin {
            client: remoting::client::RemotingClient::new(remoting::client::ClientConfig::default()),
            timeout: std::time::Duration::from_secs(3),
        }
    }
}

pub mod questions;
mod remoting_impl;
mod resources;
