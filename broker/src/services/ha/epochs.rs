//! The epoch handshake of the HA port (`epochFencingEnable`, docs/failover.md), after the
//! optional authentication and before the first offset report of spec §7.3. No Java
//! counterpart (RocketMQ 5's `AutoSwitchHAService` sends epochs in its own frame format), so
//! every broker of a group must have the key set alike.
//!
//! 1. slave → master: `RMQHAEP1`, `u32` known epoch, `u32` n, n × (`u32` epoch, `i64` start);
//! 2. master → slave: `RMQHAEPM`, `u8` status (0 ok, 1 refused: the master is fenced), its
//!    `u32` known epoch, `u32` n, n entries, `i64` commit-log end.
//!
//! The master that hears of a newer epoch than its own fences itself (the "old master learns
//! it is fenced" path). The slave refuses a master whose epoch is older than the newest it
//! knows (a frozen or re-pointed slave never acknowledges the old master again), truncates its
//! log to the consistent point of the two epoch lists (its divergent tail, if any), and only
//! then adopts the master's list, so a crash in between repeats the same truncation.

use std::time::Duration;

use store::epoch::{EpochEntry, EpochState, consistent_point};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use super::HaService;

const HELLO: &[u8; 8] = b"RMQHAEP1";
const REPLY: &[u8; 8] = b"RMQHAEPM";
/// More epochs than any real history; a larger count is a corrupt or hostile peer.
const MAX_ENTRIES: u32 = 4096;

fn encode_state(out: &mut Vec<u8>, s: &EpochState) {
    out.extend_from_slice(&s.known.to_be_bytes());
    out.extend_from_slice(&(s.entries.len() as u32).to_be_bytes());
    for e in &s.entries {
        out.extend_from_slice(&e.epoch.to_be_bytes());
        out.extend_from_slice(&e.start_offset.to_be_bytes());
    }
}

async fn read_exact<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut [u8],
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, s.read_exact(buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("HA epoch handshake: read failed: {e}")),
        Err(_) => Err("HA epoch handshake: no answer in time".into()),
    }
}

async fn read_state<S: AsyncRead + Unpin>(
    s: &mut S,
    timeout: Duration,
) -> Result<EpochState, String> {
    let mut head = [0u8; 8];
    read_exact(s, &mut head, timeout).await?;
    let known = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let n = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if n > MAX_ENTRIES {
        return Err(format!("HA epoch handshake: {n} epoch entries"));
    }
    let mut raw = vec![0u8; n as usize * 12];
    read_exact(s, &mut raw, timeout).await?;
    let entries = raw
        .chunks_exact(12)
        .map(|c| {
            let mut e = [0u8; 4];
            e.copy_from_slice(&c[..4]);
            let mut o = [0u8; 8];
            o.copy_from_slice(&c[4..]);
            EpochEntry {
                epoch: u32::from_be_bytes(e),
                start_offset: i64::from_be_bytes(o),
            }
        })
        .collect::<Vec<_>>();
    for w in entries.windows(2) {
        if w[1].epoch <= w[0].epoch || w[1].start_offset < w[0].start_offset {
            return Err("HA epoch handshake: epoch entries out of order".into());
        }
    }
    if entries.iter().any(|e| e.start_offset < 0) {
        return Err("HA epoch handshake: negative epoch start offset".into());
    }
    Ok(EpochState { known, entries })
}

fn my_state(ha: &HaService) -> EpochState {
    let mut s = ha.role.epoch_state().effective();
    s.known = s.known.max(ha.role.known_epoch());
    s
}

/// The master's side. `Err` closes the connection.
pub async fn master<S: AsyncRead + AsyncWrite + Unpin>(
    ha: &HaService,
    s: &mut S,
    timeout: Duration,
) -> Result<(), String> {
    let mut magic = [0u8; 8];
    read_exact(s, &mut magic, timeout).await?;
    if &magic != HELLO {
        return Err("the peer sent no epoch hello (epochFencingEnable must be set on every broker of the group)".into());
    }
    let theirs = read_state(s, timeout).await?;
    let mine = my_state(ha);
    let fenced = if theirs.known > mine.known {
        // The old master learns it is fenced.
        let _ = ha.role.learn_epoch(theirs.known, "a slave's HA handshake");
        true
    } else {
        !ha.role.may_lead()
    };
    let mut out = REPLY.to_vec();
    out.push(u8::from(fenced));
    encode_state(&mut out, &my_state(ha));
    out.extend_from_slice(&ha.store.commit_log_max_offset().to_be_bytes());
    s.write_all(&out)
        .await
        .map_err(|e| format!("HA epoch handshake: write failed: {e}"))?;
    if fenced {
        return Err(format!(
            "this master is fenced (epoch {}, newest known {})",
            ha.role.epoch(),
            ha.role.known_epoch()
        ));
    }
    Ok(())
}

/// The slave's side: refuses an old master, truncates a divergent tail, adopts the master's
/// epochs. `Err` closes the connection (the slave retries later, maybe with another master).
pub async fn slave<S: AsyncRead + AsyncWrite + Unpin>(
    ha: &HaService,
    s: &mut S,
    timeout: Duration,
) -> Result<(), String> {
    let mine = my_state(ha);
    let mut hello = HELLO.to_vec();
    encode_state(&mut hello, &mine);
    s.write_all(&hello)
        .await
        .map_err(|e| format!("HA epoch handshake: write failed: {e}"))?;
    let mut head = [0u8; 9];
    read_exact(s, &mut head, timeout).await?;
    if &head[..8] != REPLY {
        return Err(
            "HA epoch handshake: the master does not speak it (epochFencingEnable unset there?)"
                .into(),
        );
    }
    let theirs = read_state(s, timeout).await?;
    let mut end = [0u8; 8];
    read_exact(s, &mut end, timeout).await?;
    let their_end = i64::from_be_bytes(end);
    if head[8] != 0 {
        return Err(format!(
            "the master is fenced (its epoch {}, known {})",
            theirs.current(),
            theirs.known
        ));
    }
    if theirs.current() < mine.known {
        return Err(format!(
            "refusing a master of epoch {}: epoch {} exists",
            theirs.current(),
            mine.known
        ));
    }
    let my_end = ha.store.commit_log_max_offset();
    let Some(point) = consistent_point(&mine, my_end, &theirs, their_end) else {
        return Err(format!(
            "no epoch in common with the master (mine {:?}, its {:?}): the store must be reset by hand",
            mine.entries, theirs.entries
        ));
    };
    if point < my_end {
        warn!(
            truncate_to = point,
            local_max = my_end,
            master_epoch = theirs.current(),
            "divergent tail beyond the new epoch's start: truncating"
        );
        ha.store
            .truncate_commit_log(point)
            .map_err(|e| format!("truncate to {point} failed: {e}"))?;
        ha.slave_view.lock().truncated_bytes += my_end - point;
    }
    if let Some(f) = ha.role.epochs() {
        let before = f.state();
        f.adopt(&theirs)
            .map_err(|e| format!("cannot store the master's epochs: {e}"))?;
        if f.state() != before {
            info!(epochs = ?theirs.entries, known = f.known(), "epochs adopted from the master");
        }
    }
    Ok(())
}
