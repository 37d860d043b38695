//! Keys of Java 4.9's broker config objects (`BrokerConfig`, `NettyServerConfig`,
//! `NettyClientConfig`, `MessageStoreConfig`) that this broker has no counterpart of, with the
//! value Java's default gives them.
//!
//! GET_BROKER_CONFIG returns them after the broker's own keys because Java tools read some of
//! them and fail without them (`mqadmin exportConfigs` reads `filterServerNums` and `useTLS`).
//! Each describes Java's thread pools, Netty buffers or features this broker does not have; the
//! value is what a Java broker with that feature off or left at its default reports. None can be
//! set here: UPDATE_BROKER_CONFIG refuses them as unknown keys.

use crate::config::BrokerConfig;

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `(key, Java's default)` for every key of Java 4.9's config objects without a counterpart.
pub fn java_only_keys() -> Vec<(&'static str, String)> {
    let n = cpus();
    let fixed: &[(&str, &str)] = &[
        // BrokerConfig
        ("messageStorePlugIn", ""),
        ("adminBrokerThreadPoolNums", "16"),
        ("clientManageThreadPoolNums", "32"),
        ("consumerManageThreadPoolNums", "32"),
        ("flushConsumerOffsetHistoryInterval", "60000"),
        ("fetchNamesrvAddrByAddressServer", "false"),
        ("replyThreadPoolQueueCapacity", "10000"),
        ("queryThreadPoolQueueCapacity", "20000"),
        ("clientManagerThreadPoolQueueCapacity", "1000000"),
        ("consumerManagerThreadPoolQueueCapacity", "1000000"),
        ("heartbeatThreadPoolQueueCapacity", "50000"),
        ("endTransactionPoolQueueCapacity", "100000"),
        ("filterServerNums", "0"),
        ("highSpeedMode", "false"),
        ("commercialEnable", "true"),
        ("commercialTimerCount", "1"),
        ("commercialTransCount", "1"),
        ("commercialBigCount", "1"),
        ("commercialBaseCount", "1"),
        ("transferMsgByHeap", "true"),
        ("maxDelayTime", "40"),
        ("disableConsumeIfConsumerReadSlowly", "false"),
        ("consumerFallbehindThreshold", "17179869184"),
        ("waitTimeMillsInPullQueue", "5000"),
        ("waitTimeMillsInHeartbeatQueue", "31000"),
        ("waitTimeMillsInTransactionQueue", "3000"),
        ("enableCalcFilterBitMap", "false"),
        ("expectConsumerNumUseFilter", "32"),
        ("maxErrorRateOfBloomFilter", "20"),
        ("filterDataCleanTimeSpan", "86400000"),
        ("filterSupportRetry", "false"),
        ("autoDeleteUnusedStats", "false"),
        // NettyServerConfig
        ("serverWorkerThreads", "8"),
        ("serverCallbackExecutorThreads", "0"),
        ("serverSelectorThreads", "3"),
        ("serverOnewaySemaphoreValue", "256"),
        ("serverAsyncSemaphoreValue", "64"),
        ("serverSocketSndBufSize", "0"),
        ("serverSocketRcvBufSize", "0"),
        ("serverSocketBacklog", "1024"),
        ("serverPooledByteBufAllocatorEnable", "true"),
        ("useEpollNativeSelector", "false"),
        ("writeBufferLowWaterMark", "0"),
        // NettyClientConfig
        ("clientWorkerThreads", "4"),
        ("clientOnewaySemaphoreValue", "65535"),
        ("clientAsyncSemaphoreValue", "65535"),
        ("connectTimeoutMillis", "3000"),
        ("channelNotActiveInterval", "60000"),
        ("clientChannelMaxIdleTimeSeconds", "120"),
        ("clientSocketSndBufSize", "0"),
        ("clientSocketRcvBufSize", "0"),
        ("clientPooledByteBufAllocatorEnable", "false"),
        ("clientCloseSocketIfTimeout", "false"),
        ("useTLS", "false"),
        ("disableCallbackExecutor", "false"),
        ("disableNettyWorkerGroup", "false"),
        // MessageStoreConfig
        ("enableConsumeQueueExt", "false"),
        ("mappedFileSizeConsumeQueueExt", "50331648"),
        ("bitMapLengthConsumeQueueExt", "64"),
        ("cleanResourceInterval", "10000"),
        ("deleteCommitLogFilesInterval", "100"),
        ("deleteConsumeQueueFilesInterval", "100"),
        ("destroyMapedFileIntervalForcibly", "120000"),
        ("redeleteHangedFileInterval", "120000"),
        ("putMsgIndexHightWater", "600000"),
        ("flushLeastPagesWhenWarmMapedFile", "4096"),
        ("flushConsumeQueueLeastPages", "2"),
        ("commitCommitLogThoroughInterval", "200"),
        ("flushConsumeQueueThoroughInterval", "60000"),
        ("warmMapedFileEnable", "false"),
        ("debugLockEnable", "false"),
        ("diskFallRecorded", "true"),
        ("fastFailIfNoBufferInStorePool", "false"),
        ("isEnableBatchPush", "false"),
        ("enableScheduleMessageStats", "true"),
        ("enableLmq", "false"),
        ("enableMultiDispatch", "false"),
        ("maxLmqConsumeQueueNum", "20000"),
        ("enableScheduleAsyncDeliver", "false"),
        ("scheduleAsyncDeliverMaxPendingLimit", "2000"),
        ("scheduleAsyncDeliverMaxResendNum2Blocked", "3"),
    ];
    let mut out: Vec<(&'static str, String)> =
        fixed.iter().map(|(k, v)| (*k, v.to_string())).collect();
    // Defaults that follow the processor count, as Java computes them.
    out.extend([
        (
            "processReplyMessageThreadPoolNums",
            (16 + 2 * n).to_string(),
        ),
        ("queryMessageThreadPoolNums", (8 + n).to_string()),
        ("heartbeatThreadPoolNums", n.min(32).to_string()),
        ("endTransactionThreadPoolNums", (8 + 2 * n).to_string()),
        ("clientCallbackExecutorThreads", n.to_string()),
    ]);
    out.retain(|(k, _)| !BrokerConfig::KEYS.contains(k));
    out
}

/// The Java-only keys as properties text, skipping any `config` already renders.
pub fn render_missing(config: &BrokerConfig) -> String {
    let keys = java_only_keys();
    let entries: Vec<(&str, &str)> = keys
        .iter()
        .filter(|(k, _)| config.get(k).is_none())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    remoting::properties::render(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_twice_and_the_exporter_keys_are_there() {
        let c = BrokerConfig::default();
        let text = format!("{}{}", c.to_properties(), render_missing(&c));
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            let key = line.split('=').next().unwrap_or_default();
            assert!(seen.insert(key.to_string()), "{key} twice");
        }
        for k in [
            "filterServerNums",
            "useTLS",
            "brokerName",
            "clientWorkerThreads",
        ] {
            assert!(seen.contains(k), "{k} missing");
        }
        assert!(seen.len() >= 170, "{} keys", seen.len());
    }
}
