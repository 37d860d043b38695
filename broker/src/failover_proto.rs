//! The failover admin requests (docs/failover.md "Admin codes"): what a failover controller
//! (`operator local`, later the Kubernetes operator) sends a broker with
//! `epochFencingEnable=true`. Built without the `server` feature, so the operator shares the
//! codes and shapes with the broker that serves them.
//!
//! The codes lie outside every range Java 4.x/5.x uses (its highest small codes are the 5.x
//! controller's 1001–1013; pop codes are 200050+, which do not fit the binary header), and fit
//! the ROCKETMQ binary header's `i16`.

use serde::{Deserialize, Serialize};

/// GET: the broker's [`FailoverState`]. No header.
pub const FAILOVER_GET_STATE: i32 = 29001;
/// FENCE: ext `epoch`. The broker durably learns `epoch`; a master of an older epoch refuses
/// writes from then on, a slave stops following any master older than it.
pub const FAILOVER_FENCE: i32 = 29002;
/// PROMOTE: ext `epoch`, `role` (`SYNC_MASTER` / `ASYNC_MASTER`). A slave stops following,
/// starts `epoch` at its commit-log end, becomes brokerId 0 and registers at once.
pub const FAILOVER_PROMOTE: i32 = 29003;
/// REPOINT: ext `epoch`, `brokerId` (> 0), `masterAddr`, `masterHaAddr`. The broker becomes
/// (or stays) a slave following that master; a divergent tail is truncated at the HA
/// handshake.
pub const FAILOVER_REPOINT: i32 = 29004;

/// True for the four failover codes.
pub fn is_failover_code(code: i32) -> bool {
    (FAILOVER_GET_STATE..=FAILOVER_REPOINT).contains(&code)
}

/// A broker's answer to every failover request (JSON body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailoverState {
    /// `brokerName`.
    pub broker_name: String,
    /// The advertised remoting address.
    pub broker_addr: String,
    /// The HA address (`host:haPort`).
    pub ha_addr: String,
    /// `SYNC_MASTER`, `ASYNC_MASTER` or `SLAVE`.
    pub role: String,
    /// The broker id now.
    pub broker_id: i64,
    /// The epoch of the last epoch-file entry.
    pub epoch: u32,
    /// The newest epoch known.
    pub known_epoch: u32,
    /// The epoch file's entries: `[epoch, start offset]`.
    pub epochs: Vec<(u32, i64)>,
    /// The commit-log end.
    pub max_offset: i64,
    /// Why a write would be refused now (`None`: a writable master).
    pub write_refused: Option<String>,
    /// Slave: connected to its master's HA port.
    pub ha_connected: bool,
    /// Slave: the master HA address it follows.
    pub following: Option<String>,
    /// Master: slaves in sync.
    pub in_sync_slaves: usize,
}
