//! Master side of HA: accepts slaves on `haListenPort` and streams the commit log to each
//! (spec §7.3), checking every ack against what that connection was sent (reliability #3015).

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Buf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{HaService, SlaveLink, now_ms, wire};
use crate::config::BrokerRole;

/// How long an idle transfer sleeps before looking at the commit log again even without a
/// wake-up (appends by paths that do not call [`HaService::notify_appended`]).
const POLL: Duration = Duration::from_millis(5);

/// Frame size while a slave is far behind.
const CATCH_UP_BATCH: usize = 1 << 20;

/// How long an ASYNC_MASTER's transfer, woken by an append, lets further appends gather before
/// it reads the log. Nobody waits for those frames. Sent as the puts came (a frame per 7
/// messages at 60 k sends/s) they cost the master 0.21 context switches per message against
/// 0.06 with this, and its tokio workers 1.4 times the CPU per send (BENCHMARKS.md, session
/// 23). Java's transfer thread is not woken by ASYNC_MASTER puts at all and looks again every
/// 100 ms.
const ASYNC_GATHER: Duration = Duration::from_millis(1);

/// Accepts slave connections until `shutdown`.
pub async fn accept_loop(ha: Arc<HaService>, listener: TcpListener, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !ha.role.may_lead() {
                    // A slave listens like Java's, but has nothing to serve; neither has a
                    // master fenced by a newer epoch.
                    debug!(%peer, "HA connection refused: not an unfenced master");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let id = ha.next_id.fetch_add(1, Ordering::Relaxed);
                let link = Arc::new(SlaveLink {
                    id,
                    peer,
                    acked: Default::default(),
                    sent: Default::default(),
                    caught_up: Default::default(),
                    connected_at: now_ms(),
                });
                let ha = ha.clone();
                let shutdown = shutdown.child_token();
                tokio::spawn(async move {
                    info!(slave = %peer, conn = id, "HA slave connected");
                    let why = serve(&ha, &link, stream, shutdown).await;
                    ha.links.lock().remove(&id);
                    info!(slave = %peer, conn = id, acked = link.acked.load(Ordering::Acquire), reason = %why, "HA slave disconnected");
                });
            }
            Err(e) => {
                warn!(error = %e, "HA accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads the slave's first report: its max offset.
async fn first_report(rd: &mut OwnedReadHalf, timeout: Duration) -> Result<i64, String> {
    let mut buf = [0u8; wire::REPORT_LEN];
    match tokio::time::timeout(timeout, rd.read_exact(&mut buf)).await {
        Ok(Ok(_)) => Ok(i64::from_be_bytes(buf)),
        Ok(Err(e)) => Err(format!("read failed: {e}")),
        Err(_) => Err("no report from the slave".into()),
    }
}

/// Serves one slave until an error, a bad ack, housekeeping or shutdown; returns why it ended.
async fn serve(
    ha: &Arc<HaService>,
    link: &Arc<SlaveLink>,
    stream: TcpStream,
    shutdown: CancellationToken,
) -> String {
    let housekeeping = Duration::from_millis(ha.config.ha_housekeeping_interval.max(100));
    let mut stream = stream;
    // haAuthSecretFile: the peer proves it knows the secret before it gets a byte of the log.
    match super::auth::secret(&ha.config) {
        Ok(None) => {}
        Ok(Some(secret)) => {
            if let Err(e) = super::auth::master(&mut stream, &secret, housekeeping).await {
                warn!(peer = %link.peer, conn = link.id, reason = %e, "HA peer refused");
                return e;
            }
        }
        Err(e) => {
            tracing::error!(reason = %e, "HA secret unreadable: refusing the HA connection");
            return e;
        }
    }
    // epochFencingEnable: epochs first (the slave truncates its divergent tail itself; a
    // slave that knows a newer epoch fences this master instead).
    if ha.role.enabled()
        && let Err(e) = super::epochs::master(ha, &mut stream, housekeeping).await
    {
        warn!(peer = %link.peer, conn = link.id, reason = %e, "HA epoch handshake refused");
        return e;
    }
    let (mut rd, mut wr) = stream.into_split();
    let reported = match first_report(&mut rd, housekeeping).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let max = ha.store.commit_log_max_offset();
    let start_end = ha.start_end.load(Ordering::Acquire);
    let vouched = start_end.max(ha.sent_high.load(Ordering::Acquire));
    let start = if reported <= 0 {
        // A fresh slave gets the whole log (Java: only the last file, #3661).
        let min = ha.store.commit_log_min_offset();
        info!(slave = %link.peer, conn = link.id, start = min, master_max = max, "fresh slave: copying the whole commit log");
        min
    } else if reported > max || reported > vouched {
        // The slave holds bytes this incarnation never had or never sent: a tail written by a
        // master that then crashed. Only up to the recovered end is common to both.
        let truncate_to = start_end.min(max);
        warn!(slave = %link.peer, conn = link.id, reported, master_max = max, truncate_to, "slave tail diverged: telling it to truncate");
        truncate_to
    } else {
        reported
    };
    let min = ha.store.commit_log_min_offset();
    // The slave's position no longer exists here (retention deleted those files, #3388):
    // instead of closing the connection (the slave would retry forever), order a reset with
    // a header-only first frame at our min offset, past the slave's end. Our slave then drops
    // its log and queues and follows from there; a Java slave treats it as a protocol error.
    let reset = start < min;
    let start = if reset {
        warn!(
            slave = %link.peer,
            conn = link.id,
            slave_offset = start,
            master_min = min,
            master_max = max,
            "slave position deleted on the master: ordering it to reset to the master's min offset"
        );
        min
    } else {
        start
    };
    link.sent.store(start, Ordering::Release);
    link.acked
        .store(start.min(reported.max(0)), Ordering::Release);
    ha.links.lock().insert(link.id, link.clone());
    if start < reported || (reset && reported > 0) {
        // The truncation (below the slave's end) or reset (above it) order: a header-only
        // frame at the offset the slave must continue from.
        if let Err(e) = wr.write_all(&wire::encode_header(start, 0)).await {
            return format!("write failed: {e}");
        }
    } else if reported > 0 {
        ha.ack(link, reported);
    }

    let stop = shutdown.child_token();
    let reader = {
        let ha = ha.clone();
        let link = link.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let why = read_acks(&ha, &link, rd, housekeeping, &stop).await;
            stop.cancel();
            why
        })
    };
    let why = transfer(ha, link, &mut wr, start, &stop).await;
    stop.cancel();
    let read_why = reader.await.unwrap_or_else(|e| e.to_string());
    if why.is_empty() { read_why } else { why }
}

/// Reads acks until an error; an ack beyond what was sent ends the connection.
async fn read_acks(
    ha: &HaService,
    link: &SlaveLink,
    mut rd: OwnedReadHalf,
    housekeeping: Duration,
    stop: &CancellationToken,
) -> String {
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::select! {
            _ = stop.cancelled() => return String::new(),
            r = tokio::time::timeout(housekeeping, rd.read(&mut chunk)) => match r {
                Ok(Ok(0)) => return "closed by the slave".into(),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return format!("read failed: {e}"),
                Err(_) => return format!("no report for {housekeeping:?} (housekeeping)"),
            },
        };
        buf.extend_from_slice(&chunk[..n]);
        let Some((offset, used)) = wire::last_report(&buf) else {
            continue;
        };
        buf.drain(..used);
        let sent = link.sent.load(Ordering::Acquire);
        if offset > sent {
            warn!(slave = %link.peer, conn = link.id, ack = offset, sent, "slave acknowledged more than it was sent: dropping the connection");
            return format!("ack {offset} beyond sent {sent}");
        }
        ha.ack(link, offset);
    }
}

/// Streams the commit log from `next` until `stop`; returns why it ended ("" when stopped).
async fn transfer(
    ha: &HaService,
    link: &SlaveLink,
    wr: &mut OwnedWriteHalf,
    mut next: i64,
    stop: &CancellationToken,
) -> String {
    let batch = (ha.config.ha_transfer_batch_size as usize).max(1024);
    let heartbeat = Duration::from_millis(ha.config.ha_send_heartbeat_interval.max(100));
    let mut last_write = Instant::now();
    loop {
        if stop.is_cancelled() {
            return String::new();
        }
        let mut appended = pin!(ha.appended.notified());
        appended.as_mut().enable();
        // Far behind (a fresh slave catching up): bigger frames, still well within the 4 MiB
        // read buffer of a Java slave.
        let size = if ha.store.commit_log_max_offset() - next > (batch as i64) * 4 {
            batch.max(CATCH_UP_BATCH)
        } else {
            batch
        };
        let data = match ha.store.read_commit_log(next, size) {
            Ok(Some(d)) => d,
            Ok(None) => {
                return format!("offset {next} is no longer on the master (deleted)");
            }
            Err(e) => return format!("commit log read at {next} failed: {e}"),
        };
        if !data.is_empty() {
            let len = data.len();
            let header = wire::encode_header(next, len as i32);
            // Counted as sent before the write: the slave may ack it before write_all returns.
            link.sent.store(next + len as i64, Ordering::Release);
            ha.sent_high.fetch_max(next + len as i64, Ordering::AcqRel);
            // Header and body in one vectored write: one segment on the wire for a small
            // frame (nodelay is on), not a 12-byte packet followed by the body.
            let mut frame = Buf::chain(&header[..], &data[..]);
            let write = wr.write_all_buf(&mut frame);
            tokio::select! {
                _ = stop.cancelled() => return String::new(),
                r = write => if let Err(e) = r { return format!("write failed: {e}") },
            }
            next += len as i64;
            last_write = Instant::now();
            continue;
        }
        if last_write.elapsed() >= heartbeat {
            let header = wire::encode_header(next, 0);
            tokio::select! {
                _ = stop.cancelled() => return String::new(),
                r = wr.write_all(&header) => if let Err(e) = r { return format!("write failed: {e}") },
            }
            last_write = Instant::now();
            continue;
        }
        // One timer per idle wait: the heartbeat is checked at each look (POLL ≪ heartbeat).
        tokio::select! {
            _ = stop.cancelled() => return String::new(),
            _ = appended => {
                if ha.role.role() == BrokerRole::SyncMaster {
                    // Puts wait for this frame's ack. Let the other puts that are ready to run
                    // append first, so they share it: a frame (and its ack) per message would
                    // cost more work per message than the replication itself.
                    tokio::task::yield_now().await;
                } else {
                    tokio::select! {
                        _ = stop.cancelled() => return String::new(),
                        _ = tokio::time::sleep(ASYNC_GATHER) => {}
                    }
                }
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}
