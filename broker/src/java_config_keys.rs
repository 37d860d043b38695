//! The key set of Java 4.9.7's GET_BROKER_CONFIG answer, and values for the keys this broker
//! has no counterpart of.
//!
//! Java answers with `Configuration.getAllConfigsFormatString()`: every non-static field of
//! `BrokerConfig`, `NettyServerConfig`, `NettyClientConfig` and `MessageStoreConfig` (merged
//! into one properties table, so a name two classes share appears once), skipping fields whose
//! value is null. The four lists below name those fields in declaration order, as read from the
//! `rocketmq-all-4.9.7` sources; `tests/java_config_keys.rs` checks a running broker's answer
//! against them. Java tools need some of these keys (`mqadmin exportConfigs` reads
//! `filterServerNums` and `useTLS` and fails without them).
//!
//! [`java_only_keys`] gives Java's default for each key that configures something this broker
//! does not have (thread pools, Netty buffers, features it lacks): the value a Java broker with
//! that part left at its default reports. None can be set here: UPDATE_BROKER_CONFIG refuses
//! them as unknown keys.

use crate::config::BrokerConfig;

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Fields of Java 4.9.7 `org.apache.rocketmq.common.BrokerConfig`, in declaration order.
pub const JAVA_BROKER_CONFIG_FIELDS: &[&str] = &[
    "rocketmqHome",
    "namesrvAddr",
    "brokerIP1",
    "brokerIP2",
    "brokerName",
    "brokerClusterName",
    "brokerId",
    "brokerPermission",
    "defaultTopicQueueNums",
    "autoCreateTopicEnable",
    "clusterTopicEnable",
    "brokerTopicEnable",
    "autoCreateSubscriptionGroup",
    "messageStorePlugIn",
    "msgTraceTopicName",
    "traceTopicEnable",
    "sendMessageThreadPoolNums",
    "putMessageFutureThreadPoolNums",
    "pullMessageThreadPoolNums",
    "processReplyMessageThreadPoolNums",
    "queryMessageThreadPoolNums",
    "adminBrokerThreadPoolNums",
    "clientManageThreadPoolNums",
    "consumerManageThreadPoolNums",
    "heartbeatThreadPoolNums",
    "endTransactionThreadPoolNums",
    "flushConsumerOffsetInterval",
    "flushConsumerOffsetHistoryInterval",
    "rejectTransactionMessage",
    "fetchNamesrvAddrByAddressServer",
    "sendThreadPoolQueueCapacity",
    "putThreadPoolQueueCapacity",
    "pullThreadPoolQueueCapacity",
    "replyThreadPoolQueueCapacity",
    "queryThreadPoolQueueCapacity",
    "clientManagerThreadPoolQueueCapacity",
    "consumerManagerThreadPoolQueueCapacity",
    "heartbeatThreadPoolQueueCapacity",
    "endTransactionPoolQueueCapacity",
    "filterServerNums",
    "longPollingEnable",
    "shortPollingTimeMills",
    "notifyConsumerIdsChangedEnable",
    "highSpeedMode",
    "commercialEnable",
    "commercialTimerCount",
    "commercialTransCount",
    "commercialBigCount",
    "commercialBaseCount",
    "transferMsgByHeap",
    "maxDelayTime",
    "regionId",
    "registerBrokerTimeoutMills",
    "slaveReadEnable",
    "disableConsumeIfConsumerReadSlowly",
    "consumerFallbehindThreshold",
    "brokerFastFailureEnable",
    "waitTimeMillsInSendQueue",
    "waitTimeMillsInPullQueue",
    "waitTimeMillsInHeartbeatQueue",
    "waitTimeMillsInTransactionQueue",
    "startAcceptSendRequestTimeStamp",
    "traceOn",
    "enableCalcFilterBitMap",
    "expectConsumerNumUseFilter",
    "maxErrorRateOfBloomFilter",
    "filterDataCleanTimeSpan",
    "filterSupportRetry",
    "enablePropertyFilter",
    "compressedRegister",
    "forceRegister",
    "registerNameServerPeriod",
    "transactionTimeOut",
    "transactionCheckMax",
    "transactionCheckInterval",
    "aclEnable",
    "storeReplyMessageEnable",
    "enableDetailStat",
    "autoDeleteUnusedStats",
    "isolateLogEnable",
];

/// Fields of Java 4.9.7 `NettyServerConfig`, in declaration order.
pub const JAVA_NETTY_SERVER_CONFIG_FIELDS: &[&str] = &[
    "listenPort",
    "serverWorkerThreads",
    "serverCallbackExecutorThreads",
    "serverSelectorThreads",
    "serverOnewaySemaphoreValue",
    "serverAsyncSemaphoreValue",
    "serverChannelMaxIdleTimeSeconds",
    "serverSocketSndBufSize",
    "serverSocketRcvBufSize",
    "writeBufferHighWaterMark",
    "writeBufferLowWaterMark",
    "serverSocketBacklog",
    "serverPooledByteBufAllocatorEnable",
    "useEpollNativeSelector",
];

/// Fields of Java 4.9.7 `NettyClientConfig`, in declaration order.
pub const JAVA_NETTY_CLIENT_CONFIG_FIELDS: &[&str] = &[
    "clientWorkerThreads",
    "clientCallbackExecutorThreads",
    "clientOnewaySemaphoreValue",
    "clientAsyncSemaphoreValue",
    "connectTimeoutMillis",
    "channelNotActiveInterval",
    "clientChannelMaxIdleTimeSeconds",
    "clientSocketSndBufSize",
    "clientSocketRcvBufSize",
    "clientPooledByteBufAllocatorEnable",
    "clientCloseSocketIfTimeout",
    "useTLS",
    "writeBufferHighWaterMark",
    "writeBufferLowWaterMark",
];

/// Fields of Java 4.9.7 `MessageStoreConfig`, in declaration order.
pub const JAVA_MESSAGE_STORE_CONFIG_FIELDS: &[&str] = &[
    "storePathRootDir",
    "storePathCommitLog",
    "storePathDLedgerCommitLog",
    "readOnlyCommitLogStorePaths",
    "mappedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "enableConsumeQueueExt",
    "mappedFileSizeConsumeQueueExt",
    "bitMapLengthConsumeQueueExt",
    "flushIntervalCommitLog",
    "commitIntervalCommitLog",
    "useReentrantLockWhenPutMessage",
    "flushCommitLogTimed",
    "flushIntervalConsumeQueue",
    "cleanResourceInterval",
    "deleteCommitLogFilesInterval",
    "deleteConsumeQueueFilesInterval",
    "destroyMapedFileIntervalForcibly",
    "redeleteHangedFileInterval",
    "deleteWhen",
    "diskMaxUsedSpaceRatio",
    "fileReservedTime",
    "putMsgIndexHightWater",
    "maxMessageSize",
    "checkCRCOnRecover",
    "flushCommitLogLeastPages",
    "commitCommitLogLeastPages",
    "flushLeastPagesWhenWarmMapedFile",
    "flushConsumeQueueLeastPages",
    "flushCommitLogThoroughInterval",
    "commitCommitLogThoroughInterval",
    "flushConsumeQueueThoroughInterval",
    "maxTransferBytesOnMessageInMemory",
    "maxTransferCountOnMessageInMemory",
    "maxTransferBytesOnMessageInDisk",
    "maxTransferCountOnMessageInDisk",
    "accessMessageInMemoryMaxRatio",
    "messageIndexEnable",
    "maxHashSlotNum",
    "maxIndexNum",
    "maxMsgsNumBatch",
    "messageIndexSafe",
    "haListenPort",
    "haSendHeartbeatInterval",
    "haHousekeepingInterval",
    "haTransferBatchSize",
    "haMasterAddress",
    "haSlaveFallbehindMax",
    "brokerRole",
    "flushDiskType",
    "syncFlushTimeout",
    "slaveTimeout",
    "messageDelayLevel",
    "flushDelayOffsetInterval",
    "cleanFileForciblyEnable",
    "warmMapedFileEnable",
    "offsetCheckInSlave",
    "debugLockEnable",
    "duplicationEnable",
    "diskFallRecorded",
    "osPageCacheBusyTimeOutMills",
    "defaultQueryMaxNum",
    "transientStorePoolEnable",
    "transientStorePoolSize",
    "fastFailIfNoBufferInStorePool",
    "enableDLegerCommitLog",
    "dLegerGroup",
    "dLegerPeers",
    "dLegerSelfId",
    "preferredLeaderId",
    "isEnableBatchPush",
    "enableScheduleMessageStats",
    "enableLmq",
    "enableMultiDispatch",
    "maxLmqConsumeQueueNum",
    "enableScheduleAsyncDeliver",
    "scheduleAsyncDeliverMaxPendingLimit",
    "scheduleAsyncDeliverMaxResendNum2Blocked",
];

/// Fields Java leaves null unless configured, so GET_BROKER_CONFIG omits them by default
/// (`namesrvAddr` and `rocketmqHome` come from `-n` / `NAMESRV_ADDR` and `ROCKETMQ_HOME`).
pub const JAVA_NULL_BY_DEFAULT: &[&str] = &[
    "rocketmqHome",
    "namesrvAddr",
    "storePathCommitLog",
    "storePathDLedgerCommitLog",
    "readOnlyCommitLogStorePaths",
    "haMasterAddress",
    "dLegerGroup",
    "dLegerPeers",
    "dLegerSelfId",
    "preferredLeaderId",
];

/// Every key Java 4.9.7 can put in its GET_BROKER_CONFIG answer, once each, in the order the
/// classes are registered (184 names).
pub fn java_keys() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in JAVA_BROKER_CONFIG_FIELDS
        .iter()
        .chain(JAVA_NETTY_SERVER_CONFIG_FIELDS)
        .chain(JAVA_NETTY_CLIENT_CONFIG_FIELDS)
        .chain(JAVA_MESSAGE_STORE_CONFIG_FIELDS)
    {
        if !out.contains(k) {
            out.push(k);
        }
    }
    out
}

/// `(key, Java's default)` for every key of Java 4.9.7's config objects that this broker has
/// no counterpart of (and that Java does not leave null).
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
        ("putThreadPoolQueueCapacity", "10000"),
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
        ("enableDetailStat", "true"),
        ("autoDeleteUnusedStats", "false"),
        ("isolateLogEnable", "false"),
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
        ("clientCloseSocketIfTimeout", "true"),
        ("useTLS", "false"),
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
    let send_threads = n.min(4);
    out.extend([
        ("putMessageFutureThreadPoolNums", n.min(4).to_string()),
        (
            "processReplyMessageThreadPoolNums",
            (16 + 2 * n).to_string(),
        ),
        ("queryMessageThreadPoolNums", (8 + n).to_string()),
        ("heartbeatThreadPoolNums", n.min(32).to_string()),
        (
            "endTransactionThreadPoolNums",
            (8 + 2 * n).max(send_threads * 4).to_string(),
        ),
        ("clientCallbackExecutorThreads", n.to_string()),
    ]);
    // Java reads ROCKETMQ_HOME (null, so absent, when unset).
    if let Ok(home) = std::env::var("ROCKETMQ_HOME")
        && !home.is_empty()
    {
        out.push(("rocketmqHome", home));
    }
    out.retain(|(k, _)| !BrokerConfig::KEYS.contains(k));
    out
}

/// What this broker runs with for keys its config may leave unset but Java always reports:
/// the advertised IPs, the real listening port and the HA port.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    /// `brokerIP1`: the advertised host.
    pub broker_ip1: String,
    /// `brokerIP2`: the advertised HA host.
    pub broker_ip2: String,
    /// `haListenPort`.
    pub ha_listen_port: u16,
}

/// The whole GET_BROKER_CONFIG body for `config` on a broker advertised as `broker_addr`
/// (`host:port`): the broker's own keys (`listenPort` the real port when 0 was asked for), then
/// [`render_missing`].
pub fn render(config: &BrokerConfig, broker_addr: &str) -> String {
    let mut config = config.clone();
    let (ip1, port) = broker_addr
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse().unwrap_or(config.listen_port)))
        .unwrap_or_default();
    if config.listen_port == 0 {
        config.listen_port = port;
    }
    let effective = Effective {
        broker_ip2: config.broker_ip2.clone().unwrap_or_else(|| ip1.clone()),
        broker_ip1: ip1,
        ha_listen_port: config.ha_listen_port(),
    };
    let mut text = config.to_properties();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&render_missing(&config, &effective));
    text
}

/// The text after `config.to_properties()` in a GET_BROKER_CONFIG answer: the effective values
/// of keys `config` leaves unset, then the Java-only keys, skipping any `config` already renders.
pub fn render_missing(config: &BrokerConfig, effective: &Effective) -> String {
    let mut entries: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("brokerIP1", effective.broker_ip1.clone()),
        ("brokerIP2", effective.broker_ip2.clone()),
        ("haListenPort", effective.ha_listen_port.to_string()),
    ] {
        if config.get(k).is_none() && !v.is_empty() {
            entries.push((k, v));
        }
    }
    for (k, v) in java_only_keys() {
        if config.get(k).is_none() {
            entries.push((k, v));
        }
    }
    remoting::properties::render(entries.iter().map(|(k, v)| (*k, v.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_java_lists_have_the_4_9_7_sizes() {
        assert_eq!(JAVA_BROKER_CONFIG_FIELDS.len(), 80);
        assert_eq!(JAVA_NETTY_SERVER_CONFIG_FIELDS.len(), 14);
        assert_eq!(JAVA_NETTY_CLIENT_CONFIG_FIELDS.len(), 14);
        assert_eq!(JAVA_MESSAGE_STORE_CONFIG_FIELDS.len(), 78);
        // writeBufferHighWaterMark and writeBufferLowWaterMark are in both Netty classes.
        assert_eq!(java_keys().len(), 184);
    }

    #[test]
    fn every_java_only_key_is_a_java_key_and_not_ours() {
        let java = java_keys();
        for (k, _) in java_only_keys() {
            assert!(java.contains(&k), "{k} is not a Java 4.9.7 key");
            assert!(!BrokerConfig::KEYS.contains(&k), "{k} is ours too");
        }
    }

    #[test]
    fn no_key_twice_and_every_non_null_java_key_is_there() {
        let c = BrokerConfig::default();
        let eff = Effective {
            broker_ip1: "127.0.0.1".into(),
            broker_ip2: "127.0.0.1".into(),
            ha_listen_port: 10912,
        };
        let text = format!("{}{}", c.to_properties(), render_missing(&c, &eff));
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            let key = line.split('=').next().unwrap_or_default();
            assert!(seen.insert(key.to_string()), "{key} twice");
        }
        for k in java_keys() {
            if !JAVA_NULL_BY_DEFAULT.contains(&k) {
                assert!(seen.contains(k), "{k} missing");
            }
        }
    }
}
