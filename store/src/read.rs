//! The read side of [`MessageStore`]: pulls from a consume queue (`get_message`, with Java's
//! `getMessage` statuses and next offsets), queue offsets, lookups by time, by commit-log offset
//! (message id) and by key, and the raw commit-log reads HA sends to slaves.
//!
//! Consumers see only what dispatch has put into the queues (under SYNC_FLUSH: durable
//! records), and a lookup by offset or key refuses anything past the dispatch offset. Every
//! record served to a consumer is verified first (size, position, body CRC); one that fails is
//! logged and left out. Raw HA reads hand out bytes as they are (the slave's dispatch verifies).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use remoting::message::keys;
use remoting::message::record::{
    MAGIC_CODE_V1, MAGIC_CODE_V2, MIN_RECORD_LEN, decode_view, peek_header, pos_store_timestamp,
};

use crate::error::Result;
use crate::store::{Inner, MessageStore};
use crate::types::{GetResult, GetStatus, TagFilter};

impl MessageStore {
    /// Reads up to `max_msgs` records (and about `max_bytes`; at least one record when any
    /// matches) from a queue, following Java's `getMessage` rules for statuses and next
    /// offsets (spec §5.12). `filter` sees each entry's tags code. `_group` is accepted for
    /// API parity and unused.
    #[allow(clippy::too_many_arguments)]
    pub fn get_message(
        &self,
        _group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msgs: usize,
        max_bytes: usize,
        filter: Option<TagFilter<'_>>,
    ) -> Result<GetResult> {
        let Some(q) = self.inner.queue(topic, queue_id) else {
            return Ok(GetResult::empty(GetStatus::NoMatchedLogicQueue, 0, 0, 0));
        };
        let (min, max) = (q.min_offset(), q.max_offset());
        if max == 0 {
            return Ok(GetResult::empty(GetStatus::NoMessageInQueue, 0, min, max));
        }
        if offset < min {
            return Ok(GetResult::empty(GetStatus::OffsetTooSmall, min, min, max));
        }
        if offset == max {
            return Ok(GetResult::empty(
                GetStatus::OffsetOverflowOne,
                offset,
                min,
                max,
            ));
        }
        if offset > max {
            return Ok(GetResult::empty(
                GetStatus::OffsetOverflowBadly,
                max,
                min,
                max,
            ));
        }
        let max_msgs = max_msgs.max(1);
        // At most this many queue entries are looked at per pull (Java's 16000 bytes of
        // consume queue, or 20 per wanted message), but they are read as needed: an unfiltered
        // pull of 32 reads 32 entries, not 800 (reading them all was 8 % of a consuming
        // broker's CPU). A filter may skip many, so its first read is the whole window.
        let scan = (16000 / 20)
            .max(max_msgs.saturating_mul(20))
            .min((max - offset) as usize);
        // Entries to read next, of `left` still in the window, when `needed` more are wanted.
        let chunk = |left: usize, needed: usize| {
            if filter.is_none() {
                left.min(needed)
            } else {
                left
            }
        };
        let mut entries = q.entries(offset, chunk(scan, max_msgs))?;
        if entries.is_empty() {
            return Ok(GetResult::empty(
                GetStatus::OffsetFoundNull,
                offset,
                min,
                max,
            ));
        }
        let log_min = self.inner.log.min_offset();
        let seg_size = self.inner.config.mapped_file_size_commit_log;
        let mut out = GetResult::empty(GetStatus::NoMatchedMessage, offset, min, max);
        // Every run is read into this one buffer, its served records kept back to back, so
        // that the whole buffer is the pull's response body: no gathering copy afterwards,
        // however the queue's records lie in the commit log. Sized for what is likely served.
        let likely: usize = entries
            .iter()
            .filter(|e| e.size > 0 && e.size != i32::MAX)
            .take(max_msgs)
            .map(|e| e.size as usize)
            .sum();
        let mut area: Vec<u8> = Vec::with_capacity(likely.min(max_bytes.saturating_add(1 << 20)));
        // (start in `area`, length) of each served record.
        let mut served: Vec<(usize, usize)> = Vec::new();
        let mut bytes = 0usize;
        // Entries looked at so far; `entries[0]` is at queue offset `offset + base`.
        let mut scanned = 0i64;
        let mut base = 0i64;
        let mut removed = false;
        let mut i = 0;
        loop {
            if served.len() >= max_msgs || (bytes >= max_bytes && !served.is_empty()) {
                break;
            }
            if i == entries.len() {
                // This read is used up: the next entries, while the window lasts.
                let left = scan.saturating_sub(scanned as usize);
                if left == 0 {
                    break;
                }
                base = scanned;
                entries = q.entries(offset + base, chunk(left, max_msgs - served.len()))?;
                i = 0;
                if entries.is_empty() {
                    break;
                }
            }
            let e = entries[i];
            if e.size == i32::MAX || e.size <= 0 {
                scanned += 1;
                i += 1;
                continue;
            }
            if (e.phys_offset as u64) < log_min {
                removed = true;
                scanned += 1;
                i += 1;
                continue;
            }
            if let Some(f) = filter
                && !f(e.tags_code)
            {
                scanned += 1;
                i += 1;
                continue;
            }
            // Read a run of adjacent matching records with one read.
            let mut j = i + 1;
            let mut run_len = e.size as usize;
            let mut take = 1;
            while j < entries.len()
                && served.len() + take < max_msgs
                && bytes + run_len < max_bytes
                && entries[j].phys_offset == entries[j - 1].phys_offset + entries[j - 1].size as i64
                && entries[j].size > 0
                && entries[j].size != i32::MAX
                && filter.is_none_or(|f| f(entries[j].tags_code))
                && run_len + (entries[j].size as usize) <= 1 << 20
                && (entries[j].phys_offset as u64) / seg_size == (e.phys_offset as u64) / seg_size
            {
                run_len += entries[j].size as usize;
                take += 1;
                j += 1;
            }
            let run_start = area.len();
            if !self
                .inner
                .log
                .read_into(e.phys_offset as u64, run_len, &mut area)?
            {
                removed = true;
                scanned += 1;
                i += 1;
                continue;
            }
            // Verify each record where it was read; move the good ones down over any bad one.
            let (mut at, mut keep) = (run_start, run_start);
            for (k, ent) in entries.iter().enumerate().take(j).skip(i) {
                let sz = ent.size as usize;
                // A record that fails verification (size, layout, body CRC) is not served.
                let ok = decode_view(&area[at..at + sz]).is_ok_and(|v| {
                    v.total_size as usize == sz
                        && v.physical_offset == ent.phys_offset
                        && v.crc_ok()
                });
                if ok {
                    if keep != at {
                        area.copy_within(at..at + sz, keep);
                    }
                    served.push((keep, sz));
                    out.queue_offsets.push(offset + base + k as i64);
                    bytes += sz;
                    keep += sz;
                } else {
                    tracing::error!(
                        topic,
                        queue_id,
                        offset = ent.phys_offset,
                        "record failed verification; not served"
                    );
                }
                at += sz;
            }
            area.truncate(keep);
            scanned += (j - i) as i64;
            i = j;
        }
        let area = Bytes::from(area);
        out.messages = served
            .iter()
            .map(|&(at, len)| area.slice(at..at + len))
            .collect();
        if !out.messages.is_empty() {
            out.joined = Some(area);
        }
        out.next_begin_offset = offset + scanned;
        out.status = if !out.messages.is_empty() {
            GetStatus::Found
        } else if removed {
            GetStatus::MessageWasRemoving
        } else {
            GetStatus::NoMatchedMessage
        };
        Ok(out)
    }

    /// Max offset (next offset to be written) of a queue; 0 if unknown.
    pub fn max_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .queue(topic, queue_id)
            .map(|q| q.max_offset())
            .unwrap_or(0)
    }

    /// Min offset of a queue; 0 if unknown.
    pub fn min_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .queue(topic, queue_id)
            .map(|q| q.min_offset())
            .unwrap_or(0)
    }

    /// Queue offset of the first message stored at or after `timestamp` ms
    /// (SEARCH_OFFSET_BY_TIMESTAMP); the max offset when all are older, 0 for no queue.
    pub fn offset_in_queue_by_time(
        &self,
        topic: &str,
        queue_id: i32,
        timestamp: i64,
    ) -> Result<i64> {
        let Some(q) = self.inner.queue(topic, queue_id) else {
            return Ok(0);
        };
        q.offset_for_time(timestamp, |e| {
            self.inner.store_time_at(e.phys_offset as u64)
        })
    }

    /// Store time of the message at `offset` of a queue.
    pub fn message_store_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Result<Option<i64>> {
        let Some(q) = self.inner.queue(topic, queue_id) else {
            return Ok(None);
        };
        Ok(match q.entry(offset)? {
            Some(e) if e.size > 0 && e.size != i32::MAX => {
                self.inner.store_time_at(e.phys_offset as u64)
            }
            _ => None,
        })
    }

    /// Store time of the oldest readable message of a queue (GET_EARLIEST_MSG_STORETIME).
    pub fn earliest_message_time(&self, topic: &str, queue_id: i32) -> Result<Option<i64>> {
        let min = self.min_offset_in_queue(topic, queue_id);
        self.message_store_timestamp(topic, queue_id, min)
    }

    /// The record at commit-log offset `offset` (VIEW_MESSAGE_BY_ID), verified.
    pub fn look_message_by_offset(&self, offset: i64) -> Result<Option<Bytes>> {
        if offset < 0 {
            return Ok(None);
        }
        self.inner.read_record(offset as u64)
    }

    /// Records of `topic` whose `KEYS` entry or `UNIQ_KEY` equals `key`, stored within
    /// `[begin, end]` ms, newest first, at most `max` (QUERY_MESSAGE).
    pub fn query_message(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Result<Vec<Bytes>> {
        let offs =
            self.inner
                .index
                .query(topic, key, max.saturating_mul(2).max(max), begin, end)?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for off in offs {
            if out.len() >= max || !seen.insert(off) {
                continue;
            }
            let Some(rec) = self.inner.read_record(off as u64)? else {
                continue;
            };
            let Ok(v) = decode_view(&rec) else { continue };
            let matches = v.topic == topic
                && (v.property(keys::UNIQ_KEY) == Some(key)
                    || v.property(keys::KEYS)
                        .is_some_and(|ks| ks.split(keys::KEY_SEPARATOR).any(|k| k == key)));
            if matches {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Raw commit-log bytes from `offset`, at most `max` and never across a file boundary
    /// (HA transfer). `None` when `offset` is below the min offset (deleted); empty at the end.
    pub fn read_commit_log(&self, offset: i64, max: usize) -> Result<Option<Bytes>> {
        if offset < 0 || (offset as u64) < self.inner.log.min_offset() {
            return Ok(None);
        }
        let data = self.inner.log.read_upto(offset as u64, max)?;
        if let Some(d) = &data {
            let n = d.len() as u64;
            self.inner
                .stats
                .ha_bytes_read
                .fetch_add(n, Ordering::Relaxed);
        }
        Ok(data.map(Bytes::from))
    }

    /// Topics and queue ids known to the store.
    pub fn queues(&self) -> Vec<(String, i32)> {
        let mut v: Vec<(String, i32)> = self
            .inner
            .queues
            .read()
            .iter()
            .flat_map(|(t, m)| m.keys().map(move |q| (t.clone(), *q)))
            .collect();
        v.sort();
        v
    }
}

impl Inner {
    fn store_time_at(&self, phys: u64) -> Option<i64> {
        let head = self.log.read(phys, 80).ok()??;
        let sys_flag = i32::from_be_bytes([head[36], head[37], head[38], head[39]]);
        let p = pos_store_timestamp(sys_flag);
        let mut b = [0u8; 8];
        b.copy_from_slice(head.get(p..p + 8)?);
        Some(i64::from_be_bytes(b))
    }

    fn read_record(&self, phys: u64) -> Result<Option<Bytes>> {
        if phys < self.log.min_offset() {
            return Ok(None);
        }
        let Some(head) = self.log.read(phys, 8)? else {
            return Ok(None);
        };
        let Some((size, magic)) = peek_header(&head) else {
            return Ok(None);
        };
        if (magic != MAGIC_CODE_V1 && magic != MAGIC_CODE_V2) || size < MIN_RECORD_LEN as i32 {
            return Ok(None);
        }
        // Only what dispatch has reached (and so what is durable under SYNC_FLUSH) is served.
        if phys + size as u64 > self.reput.load(Ordering::Acquire) {
            return Ok(None);
        }
        let Some(rec) = self.log.read(phys, size as usize)? else {
            return Ok(None);
        };
        match decode_view(&rec) {
            Ok(v) if v.physical_offset as u64 == phys && v.crc_ok() => Ok(Some(Bytes::from(rec))),
            _ => Ok(None),
        }
    }
}
