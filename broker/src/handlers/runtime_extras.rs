//! GET_BROKER_RUNTIME_INFO keys in Java 4.9.7's exact formats that the base table in
//! `admin::runtime_info` does not compute: the put latency figures (`putLatency99`,
//! `putLatency999`, `putMessageDistributeTime`), `scheduleMessageOffset_<level>`, and Java's
//! spellings of numbers (`String.valueOf(double)`, `MixAll.humanReadableByteCount`). They replace the base table's entries of the same name.

use std::sync::atomic::Ordering::Relaxed;

use crate::config::BrokerConfig;
use crate::services::schedule::SCHEDULE_TOPIC;
use crate::services::schedule::ScheduleService;
use crate::state::stats::BrokerStats;
use crate::store_api::MessageStoreApi;

/// The keys Java 4.9.7 always puts in GET_BROKER_RUNTIME_INFO (`StoreStatsService`,
/// `DefaultMessageStore` and `AdminBrokerProcessor.prepareRuntimeInfo`; the list is
/// `remoting::body::admin::BROKER_RUNTIME_INFO_KEYS`), besides `commitLogDiskRatio_<commit log
/// dir>` and one `scheduleMessageOffset_<level>` per delay level with progress;
/// `remainHowManyDataToCommit` only with `transientStorePoolEnable`; ours writes its buffer before
/// each acknowledgement, so nothing waits to be committed and the key is left out.
pub fn java_runtime_info_keys() -> Vec<&'static str> {
    remoting::body::admin::BROKER_RUNTIME_INFO_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "remainHowManyDataToCommit")
        .collect()
}

/// Java's `String.valueOf(double)` for the values these keys take (`0.0`, `1.5`, `0.53`).
pub fn java_double(v: f64) -> String {
    format!("{v:?}")
}

/// Java's TPS text: the rates over 10 s, 1 min and 10 min as `Double.toString`, space-separated
/// (`0.0 12.5 3.3333333333333335`). Java leaves a window empty until it has enough samples;
/// here it reads 0.0 then, which every reader parses.
pub fn java_rates(v: &[f64]) -> String {
    v.iter()
        .map(|r| java_double(*r))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Java's `MixAll.humanReadableByteCount(bytes, false)`: `512 B`, `1.5 KiB`, `931.3 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNIT: f64 = 1024.0;
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / UNIT.ln()) as i32;
    let exp = exp.clamp(1, 6);
    let pre = ["K", "M", "G", "T", "P", "E"][(exp - 1) as usize];
    format!("{:.1} {pre}iB", bytes as f64 / UNIT.powi(exp))
}

/// The entries that replace or complete the base table (`schedule`: the delayed-delivery
/// service once started).
pub fn entries(
    config: &BrokerConfig,
    store: &dyn MessageStoreApi,
    stats: &BrokerStats,
    schedule: Option<&ScheduleService>,
) -> Vec<(String, String)> {
    let st = stats;
    let s = store.stats();
    let put_total = st.put_total.load(Relaxed);
    // Java divides by the put count, taken as 1 when nothing was put.
    let times = put_total.max(1);
    // The store's own ratio (store::fs::used_ratio), which its disk checks act on, so that
    // clusterList's #SPACE shows what deletion decisions see; Java rounds it up to a percent.
    let ratio = java_double(store::fs::used_ratio(s.disk_total_bytes, s.disk_free_bytes));
    let tps = st.tps();
    let total: Vec<f64> = (0..3).map(|i| tps.found[i] + tps.miss[i]).collect();
    let mut out = vec![
        ("putTps".to_string(), java_rates(&tps.put)),
        ("getFoundTps".to_string(), java_rates(&tps.found)),
        ("getMissTps".to_string(), java_rates(&tps.miss)),
        ("getTotalTps".to_string(), java_rates(&total)),
        ("getTransferedTps".to_string(), java_rates(&tps.transferred)),
        (
            "getTransferredTps".to_string(),
            java_rates(&tps.transferred),
        ),
        (
            "putLatency99".to_string(),
            format!("{:.2}", st.put_latency.percentile(0.99)),
        ),
        (
            "putLatency999".to_string(),
            format!("{:.2}", st.put_latency.percentile(0.999)),
        ),
        (
            "putMessageDistributeTime".to_string(),
            st.put_latency.distribution_text(),
        ),
        ("putMessageTimesTotal".to_string(), times.to_string()),
        (
            "putMessageAverageSize".to_string(),
            java_double(st.put_bytes.load(Relaxed) as f64 / times as f64),
        ),
        (
            "commitLogDirCapacity".to_string(),
            format!(
                "Total : {}, Free : {}.",
                human_bytes(s.disk_total_bytes),
                human_bytes(s.disk_free_bytes)
            ),
        ),
        ("commitLogDiskRatio".to_string(), ratio.clone()),
        (
            format!("commitLogDiskRatio_{}", config.commit_log_dir()),
            ratio.clone(),
        ),
        ("consumeQueueDiskRatio".to_string(), ratio),
        ("remainHowManyDataToFlush".to_string(), human_bytes(0)),
    ];
    // Java's ScheduleMessageService.buildRunningStats: "<next offset>,<queue max offset>" per
    // level that has progress.
    if let Some(schedule) = schedule {
        for (level, offset) in schedule.offsets().offset_table {
            let max = store.max_offset(SCHEDULE_TOPIC, level - 1);
            out.push((
                format!("scheduleMessageOffset_{level}"),
                format!("{offset},{max}"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_java_runtime_key_list_has_no_duplicates() {
        let keys = java_runtime_info_keys();
        let set: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(set.len(), keys.len());
        assert_eq!(keys.len(), 47);
    }

    #[test]
    fn numbers_are_spelled_as_java_spells_them() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(0.53), "0.53");
        assert_eq!(
            java_rates(&[0.0, 12.5, 1.0 / 3.0]),
            "0.0 12.5 0.3333333333333333"
        );
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(100 << 30), "100.0 GiB");
    }
}
