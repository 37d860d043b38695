//! Slave side of HA: connects to the master's HA address (from `haMasterAddress` or the name
//! servers' registration answer), reports its commit-log max offset, and appends every frame at
//! the offset it names (spec §7.3). Reconnects after any failure and resumes from its own max
//! offset; a frame that starts below that offset is the master ordering a diverged tail away,
//! and a header-only first frame above it orders a reset: our position was deleted there.

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicI64, Ordering};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{HaService, MasterLookup, wire};

/// Pause between connection attempts (Java: 5 s; shorter so a slave resumes soon after a
/// partition heals).
const RECONNECT: Duration = Duration::from_secs(1);

/// Longest pause between attempts while the master stays unreachable.
const MAX_RECONNECT: Duration = Duration::from_secs(10);

/// Pause after `failures` attempts in a row that never got a working connection: 1 s doubling
/// to [`MAX_RECONNECT`].
fn reconnect_pause(failures: u32) -> Duration {
    RECONNECT
        .saturating_mul(1u32 << failures.saturating_sub(1).min(4))
        .min(MAX_RECONNECT)
}

/// Pause while no master address is known yet.
const ADDRESS_POLL: Duration = Duration::from_millis(100);

/// Runs the HA client until `shutdown`.
pub async fn run(ha: Arc<HaService>, master: MasterLookup, shutdown: CancellationToken) {
    let mut pause = Duration::ZERO;
    // Attempts in a row that did not get a working connection (reset by one that did).
    let mut failures = 0u32;
    // A re-point or promotion cuts a reconnect back-off short (failover: the new master).
    let mut role_changes = ha.role.subscribe();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
            _ = role_changes.changed() => {}
        }
        // Until registration has named the master, look again soon.
        pause = ADDRESS_POLL;
        if !ha.role.is_slave() {
            // A master (promoted at run time): nothing to follow until demoted.
            let mut changes = ha.role.subscribe();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = changes.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let addr = ha
            .role
            .master_override()
            .map(|m| m.ha_addr)
            .or_else(|| ha.config.ha_master_address.clone())
            .filter(|a| !a.is_empty())
            .or_else(|| master().1);
        let Some(addr) = addr else {
            continue;
        };
        {
            let mut v = ha.slave_view.lock();
            if v.master_ha_addr.as_deref() != Some(addr.as_str()) {
                info!(master_ha = %addr, "slave following a new master HA address");
            }
            v.master_ha_addr = Some(addr.clone());
        }
        // A role change or a newer epoch ends the connection at once (between frames): a
        // frozen slave must stop acknowledging the old master.
        let mut changes = ha.role.subscribe();
        let (why, changed) = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = changes.changed() => ("role or epoch changed".to_string(), true),
            r = follow(&ha, &addr) => (r, false),
        };
        let mut v = ha.slave_view.lock();
        let was_connected = v.connected;
        if was_connected {
            v.reconnects += 1;
        }
        v.connected = false;
        drop(v);
        failures = if was_connected { 1 } else { failures + 1 };
        pause = reconnect_pause(failures);
        if changed {
            // Re-pointed or promoted: look at the new state at once.
            info!(master_ha = %addr, "HA connection closed: role or epoch changed");
            failures = 0;
            pause = ADDRESS_POLL;
            continue;
        }
        // Logged when the state changes (a working connection ended, or the first attempt
        // failed), not on every retry of a master that stays down.
        if failures == 1 {
            warn!(master_ha = %addr, reason = %why, local_max = ha.store.commit_log_max_offset(), "HA connection to master ended or failed; reconnecting with back-off up to 10 s");
        } else {
            tracing::debug!(master_ha = %addr, reason = %why, failures, "HA reconnect failed");
        }
    }
}

/// Read buffer of a connection: a frame header and a small body usually come in one read, and
/// a burst of frames in one read is appended before a single report.
const READ_BUFFER: usize = 256 << 10;

/// The header of the first frame in `buf` when the whole frame (header and body) is there;
/// `Ok(None)` while bytes are missing (room for the rest is reserved).
fn whole_frame(buf: &mut BytesMut) -> Result<Option<(i64, usize)>, String> {
    let Some(h) = buf.get(..wire::HEADER_LEN) else {
        return Ok(None);
    };
    let mut header = [0u8; wire::HEADER_LEN];
    header.copy_from_slice(h);
    let (offset, size) = wire::decode_header(&header)?;
    let len = wire::HEADER_LEN + size;
    if buf.len() < len {
        buf.reserve(len - buf.len());
        return Ok(None);
    }
    Ok(Some((offset, size)))
}

/// Writes `offset` as our report, remembering it for the heartbeats (under the writer lock, so
/// reports never go out of order).
async fn report(wr: &Mutex<OwnedWriteHalf>, reported: &AtomicI64, offset: i64) -> String {
    let mut w = wr.lock().await;
    reported.store(offset, Ordering::Release);
    match w.write_all(&wire::encode_report(offset)).await {
        Ok(()) => String::new(),
        Err(e) => format!("write failed: {e}"),
    }
}

/// Repeats the last report every `heartbeat` so the master's housekeeping sees us while idle.
async fn heartbeats(wr: Arc<Mutex<OwnedWriteHalf>>, reported: Arc<AtomicI64>, heartbeat: Duration) {
    loop {
        tokio::time::sleep(heartbeat).await;
        let mut w = wr.lock().await;
        let offset = reported.load(Ordering::Acquire);
        if w.write_all(&wire::encode_report(offset)).await.is_err() {
            // The frame reader sees the broken connection too and ends it.
            return;
        }
    }
}

/// One connection: returns why it ended.
async fn follow(ha: &Arc<HaService>, addr: &str) -> String {
    let connect = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr)).await;
    let stream = match connect {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return format!("connect failed: {e}"),
        Err(_) => return "connect timed out".into(),
    };
    let _ = stream.set_nodelay(true);
    let housekeeping = Duration::from_millis(ha.config.ha_housekeeping_interval.max(100));
    let heartbeat = Duration::from_millis(ha.config.ha_send_heartbeat_interval.max(100));
    let mut stream = stream;
    match super::auth::secret(&ha.config) {
        Ok(None) => {}
        Ok(Some(secret)) => {
            if let Err(e) = super::auth::slave(&mut stream, &secret, housekeeping).await {
                return e;
            }
        }
        Err(e) => return e,
    }
    if ha.role.enabled()
        && let Err(e) = super::epochs::slave(ha, &mut stream, housekeeping).await
    {
        return e;
    }
    let (mut rd, wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let wr = Arc::new(Mutex::new(wr));
    let store = ha.store.clone();
    let reported = Arc::new(AtomicI64::new(store.commit_log_max_offset()));
    let why = report(&wr, &reported, store.commit_log_max_offset()).await;
    if !why.is_empty() {
        return why;
    }
    {
        let mut v = ha.slave_view.lock();
        v.connected = true;
    }
    info!(master_ha = %addr, offset = reported.load(Ordering::Acquire), "HA connected to master");
    // Heartbeats go from their own task, so each frame is appended and acknowledged right here
    // as it arrives: no hand-off between tasks on the SYNC_MASTER ack path.
    let _beats = AbortOnDrop(tokio::spawn(heartbeats(
        wr.clone(),
        reported.clone(),
        heartbeat,
    )));
    // Only the first frame of a connection may order a reset.
    let mut first = true;
    loop {
        // Every whole frame already read is appended before one report (Java's slave, too,
        // dispatches all it read and then reports): under SYNC_MASTER load the master sends
        // many small frames, and a report per frame would double the syscalls and wake-ups on
        // both sides without acknowledging anything sooner.
        loop {
            let (offset, size) = match whole_frame(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return e,
            };
            buf.advance(wire::HEADER_LEN);
            let why = apply_frame(ha, addr, offset, &buf[..size], first);
            buf.advance(size);
            if !why.is_empty() {
                return why;
            }
            first = false;
        }
        // Acknowledge at once (spec §7.3: after the frames that grew the log).
        let now = store.commit_log_max_offset();
        if now != reported.load(Ordering::Acquire) {
            let why = report(&wr, &reported, now).await;
            if !why.is_empty() {
                return why;
            }
        }
        if buf.capacity() - buf.len() < READ_BUFFER / 4 {
            buf.reserve(READ_BUFFER);
        }
        match tokio::time::timeout(housekeeping, rd.read_buf(&mut buf)).await {
            Ok(Ok(0)) => return "closed by the master".into(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return format!("read failed: {e}"),
            Err(_) => return format!("nothing from the master for {housekeeping:?}"),
        }
    }
}

/// Applies one frame from the master: truncation and reset orders, then the append. Returns
/// why the connection must end ("" to go on).
fn apply_frame(ha: &HaService, addr: &str, offset: i64, body: &[u8], first: bool) -> String {
    let store = &ha.store;
    let mine = store.commit_log_max_offset();
    if offset < mine {
        // Only our master sends this: our tail is not on the master (it crashed before
        // replicating what we hold, or recovered to less). Never keep a diverged tail.
        warn!(master_ha = %addr, truncate_to = offset, local_max = mine, "truncating diverged tail on the master's order");
        if let Err(e) = store.truncate_commit_log(offset) {
            return format!("truncate to {offset} failed: {e}");
        }
        ha.slave_view.lock().truncated_bytes += mine - offset;
    } else if offset > mine && mine != 0 {
        if !(first && body.is_empty()) {
            return format!("frame at {offset} but the local commit log ends at {mine}");
        }
        // The master's reset order (#3388): our position was deleted there by retention,
        // so nothing we hold can be continued. Drop the log, queues and index and follow
        // from the master's min offset; consumers are clamped to the new queue minimums.
        let local_min = store.commit_log_min_offset();
        warn!(
            master_ha = %addr,
            local_min,
            local_max = mine,
            master_min = offset,
            discarded_bytes = mine - local_min,
            "slave position no longer exists on the master: resetting the local store to the master's min offset"
        );
        if let Err(e) = store.reset_to(offset) {
            return format!("reset to {offset} failed: {e}");
        }
        let mut v = ha.slave_view.lock();
        v.resets += 1;
        v.discarded_bytes += mine - local_min;
    }
    if !body.is_empty() {
        let at = store.commit_log_max_offset().max(offset);
        if let Err(e) = store.append_raw(at, body) {
            return format!("append at {at} failed: {e}");
        }
    }
    ha.slave_view.lock().master_offset = offset + body.len() as i64;
    String::new()
}

/// Aborts the reader task when the connection is given up.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod reconnect_tests {
    use super::*;

    #[test]
    fn reconnects_back_off_to_ten_seconds() {
        let secs: Vec<u64> = (1..=7).map(|n| reconnect_pause(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10, 10]);
    }
}
