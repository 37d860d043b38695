//! The broker's configuration: every key of `broker.conf` (spec §9.1), typed, with RocketMQ's
//! spelling and defaults.
//!
//! This module depends only on `serde`, `thiserror` and `remoting` (for the properties text
//! format) so that the operator can render `broker.conf` from the very type the broker parses;
//! the two cannot drift. Build the crate with `default-features = false` to get only this module.
//!
//! Parsing is stricter than Java's `MixAll.properties2Object`: a value that does not parse as the
//! key's type is an error naming the key and the value (Java silently keeps the default), and
//! booleans must be `true` or `false`. Unknown keys are returned to the caller, who warns.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What can be wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value does not parse as its key's type or is out of range.
    #[error("invalid value {value:?} for key {key}: {reason}")]
    InvalidValue {
        /// The key, spelled as in `broker.conf`.
        key: String,
        /// The raw value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// Keys whose values are fine alone but contradict each other.
    #[error("inconsistent configuration: {0}")]
    Inconsistent(String),
}

/// The broker's role in a master/slave pair (`brokerRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum BrokerRole {
    /// A master that acknowledges after the local store; slaves catch up asynchronously.
    #[default]
    #[serde(rename = "ASYNC_MASTER")]
    AsyncMaster,
    /// A master that acknowledges only once a slave holds the record.
    #[serde(rename = "SYNC_MASTER")]
    SyncMaster,
    /// A read-only replica of a master.
    #[serde(rename = "SLAVE")]
    Slave,
}

impl BrokerRole {
    /// The spelling used in `broker.conf` and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }

    /// True for both master roles.
    pub fn is_master(self) -> bool {
        !matches!(self, BrokerRole::Slave)
    }
}

impl fmt::Display for BrokerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BrokerRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
            "SLAVE" => Ok(BrokerRole::Slave),
            _ => Err("expected ASYNC_MASTER, SYNC_MASTER or SLAVE".to_string()),
        }
    }
}

/// When the commit log is flushed relative to the acknowledgement (`flushDiskType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum FlushDiskType {
    /// Acknowledge after the page cache; a background task flushes every `flushIntervalCommitLog`.
    #[default]
    #[serde(rename = "ASYNC_FLUSH")]
    AsyncFlush,
    /// Acknowledge only after the record is fsynced (group commit).
    #[serde(rename = "SYNC_FLUSH")]
    SyncFlush,
}

impl FlushDiskType {
    /// The spelling used in `broker.conf`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
            FlushDiskType::SyncFlush => "SYNC_FLUSH",
        }
    }
}

impl fmt::Display for FlushDiskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FlushDiskType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ASYNC_FLUSH" => Ok(FlushDiskType::AsyncFlush),
            "SYNC_FLUSH" => Ok(FlushDiskType::SyncFlush),
            _ => Err("expected ASYNC_FLUSH or SYNC_FLUSH".to_string()),
        }
    }
}

/// A type a config value can have: parsed from and rendered to properties text.
trait ConfigValue: Sized {
    fn parse_value(raw: &str) -> Result<Self, String>;
    fn render_value(&self) -> Option<String>;
}

impl ConfigValue for String {
    fn parse_value(raw: &str) -> Result<Self, String> {
        Ok(raw.trim().to_string())
    }
    fn render_value(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl ConfigValue for bool {
    fn parse_value(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected true or false".to_string()),
        }
    }
    fn render_value(&self) -> Option<String> {
        Some(self.to_string())
    }
}

macro_rules! number_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn parse_value(raw: &str) -> Result<Self, String> {
                raw.trim().parse::<$t>().map_err(|e| format!("expected {}: {e}", stringify!($t)))
            }
            fn render_value(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}
number_value!(i32, i64, u16, u32, u64);

impl ConfigValue for BrokerRole {
    fn parse_value(raw: &str) -> Result<Self, String> {
        raw.parse()
    }
    fn render_value(&self) -> Option<String> {
        Some(self.as_str().to_string())
    }
}

impl ConfigValue for FlushDiskType {
    fn parse_value(raw: &str) -> Result<Self, String> {
        raw.parse()
    }
    fn render_value(&self) -> Option<String> {
        Some(self.as_str().to_string())
    }
}

/// The metrics exporter (`metricsExporterType`, Java 5's key and spellings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum MetricsExporterType {
    /// No metrics endpoint (Java's default).
    #[default]
    #[serde(rename = "DISABLE")]
    Disable,
    /// A Prometheus endpoint serving `/metrics` on `metricsPromExporterHost:metricsPromExporterPort`.
    #[serde(rename = "PROM")]
    Prom,
}

impl MetricsExporterType {
    /// The spelling used in `broker.conf`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsExporterType::Disable => "DISABLE",
            MetricsExporterType::Prom => "PROM",
        }
    }
}

impl fmt::Display for MetricsExporterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricsExporterType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "DISABLE" => Ok(MetricsExporterType::Disable),
            "PROM" => Ok(MetricsExporterType::Prom),
            "OTLP_GRPC" | "LOG" => {
                Err("not supported here: only DISABLE and PROM (Prometheus pull)".to_string())
            }
            _ => Err("expected DISABLE or PROM".to_string()),
        }
    }
}

impl ConfigValue for MetricsExporterType {
    fn parse_value(raw: &str) -> Result<Self, String> {
        raw.parse()
    }
    fn render_value(&self) -> Option<String> {
        Some(self.as_str().to_string())
    }
}

/// An optional value: an empty string (or absence) means "unset".
impl<T: ConfigValue> ConfigValue for Option<T> {
    fn parse_value(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            Ok(None)
        } else {
            T::parse_value(raw).map(Some)
        }
    }
    fn render_value(&self) -> Option<String> {
        self.as_ref().and_then(T::render_value)
    }
}

/// The local host name, Java's default `brokerName`.
fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
}

/// `~/store`, Java's default `storePathRootDir`.
fn default_store_root() -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() => format!("{}/store", home.trim_end_matches('/')),
        _ => "/root/store".to_string(),
    }
}

fn cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// The default delay levels (`messageDelayLevel`).
pub const DEFAULT_MESSAGE_DELAY_LEVEL: &str =
    "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

macro_rules! broker_config {
    ($($(#[$doc:meta])* $field:ident : $ty:ty = $key:literal $(| $alias:literal)*, default $default:expr;)*) => {
        /// Every `broker.conf` key the broker understands (spec §9.1). Field docs give defaults.
        ///
        /// Serde uses the `broker.conf` spellings, so the operator can embed this type in a custom
        /// resource as-is.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct BrokerConfig {
            $($(#[$doc])* #[serde(rename = $key)] pub $field: $ty,)*
        }

        impl Default for BrokerConfig {
            fn default() -> Self {
                BrokerConfig { $($field: $default,)* }
            }
        }

        impl BrokerConfig {
            /// Every key, in declaration order, as spelled in `broker.conf`.
            pub const KEYS: &'static [&'static str] = &[$($key,)*];

            /// Sets one key from its text. `Ok(false)` when the key is unknown.
            pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
                match key {
                    $($key $(| $alias)* => {
                        self.$field = <$ty as ConfigValue>::parse_value(value).map_err(|reason| {
                            ConfigError::InvalidValue {
                                key: key.to_string(),
                                value: value.to_string(),
                                reason,
                            }
                        })?;
                        Ok(true)
                    })*
                    _ => Ok(false),
                }
            }

            /// The current value of a key as text (`None` for an unset optional key or an unknown
            /// key).
            pub fn get(&self, key: &str) -> Option<String> {
                match key {
                    $($key $(| $alias)* => ConfigValue::render_value(&self.$field),)*
                    _ => None,
                }
            }

            /// Every set key with its value as text, in declaration order.
            pub fn entries(&self) -> Vec<(&'static str, String)> {
                let mut out = Vec::with_capacity(Self::KEYS.len());
                $(if let Some(v) = ConfigValue::render_value(&self.$field) {
                    out.push(($key, v));
                })*
                out
            }
        }
    };
}

broker_config! {
    /// Cluster this broker belongs to. Default `DefaultCluster`.
    broker_cluster_name: String = "brokerClusterName", default "DefaultCluster".to_string();
    /// Name shared by a master and its slaves. Default: the local host name.
    broker_name: String = "brokerName", default local_host_name();
    /// 0 for a master, > 0 for a slave. Default 0.
    broker_id: i64 = "brokerId", default 0;
    /// Advertised remoting address (IP or DNS name). Default unset: the address of the interface
    /// that routes to the name server, never loopback or a bridge.
    broker_ip1: Option<String> = "brokerIP1", default None;
    /// Advertised HA address. Default unset: same as brokerIP1.
    broker_ip2: Option<String> = "brokerIP2", default None;
    /// Name servers, `host:port;host:port`. Default unset (then `NAMESRV_ADDR` or `-n`).
    namesrv_addr: Option<String> = "namesrvAddr", default None;
    /// Address to listen on. Default `0.0.0.0` (all interfaces).
    bind_address: String = "bindAddress", default "0.0.0.0".to_string();
    /// Remoting port. Default 10911 (0 picks a free port, for tests).
    listen_port: u16 = "listenPort", default 10911;
    /// HA port. Default unset: listenPort + 1.
    ha_listen_port: Option<u16> = "haListenPort", default None;
    /// Port of the VIP channel (Java's `fastRemotingServer`), which clients with
    /// `vipChannelEnabled` use for sends and admin calls. Default listenPort − 2 (an ephemeral
    /// port when listenPort is 0).
    fast_listen_port: Option<u16> = "fastListenPort", default None;
    /// Serve the VIP channel. Default true, as Java always does.
    fast_channel_enable: bool = "fastChannelEnable", default true;
    /// Role. Default `ASYNC_MASTER`.
    broker_role: BrokerRole = "brokerRole", default BrokerRole::AsyncMaster;
    /// Flush policy. Default `ASYNC_FLUSH`.
    flush_disk_type: FlushDiskType = "flushDiskType", default FlushDiskType::AsyncFlush;
    /// Permission bits advertised for the broker (4 read, 2 write). Default 6.
    broker_permission: i32 = "brokerPermission", default 6;
    /// Root of the store directory tree. Default `~/store`.
    store_path_root_dir: String = "storePathRootDir", default default_store_root();
    /// Where UPDATE_BROKER_CONFIG writes the keys it accepts (Java's `brokerConfigPath`).
    /// Default unset: the `-c` file, else `<storePathRootDir>/config/broker.properties`. Never
    /// changeable remotely.
    broker_config_path: Option<String> = "brokerConfigPath", default None;
    /// Commit log directory. Default unset: `<storePathRootDir>/commitlog`.
    store_path_commit_log: Option<String> = "storePathCommitLog", default None;
    /// Commit log segment size in bytes. Default 1073741824 (also read as `mapedFileSizeCommitLog`).
    mapped_file_size_commit_log: u64 = "mappedFileSizeCommitLog" | "mapedFileSizeCommitLog", default 1_073_741_824;
    /// Consume queue segment size in bytes. Default 6000000 (also read as
    /// `mapedFileSizeConsumeQueue`).
    mapped_file_size_consume_queue: u64 = "mappedFileSizeConsumeQueue" | "mapedFileSizeConsumeQueue", default 6_000_000;
    /// Hours of the day at which expired files are deleted, `;`-separated. Default `04`.
    delete_when: String = "deleteWhen", default "04".to_string();
    /// Hours a commit log file is kept. Default 72.
    file_reserved_time: u32 = "fileReservedTime", default 72;
    /// Disk usage percentage above which files are deleted early. Default 75.
    disk_max_used_space_ratio: u32 = "diskMaxUsedSpaceRatio", default 75;
    /// Delete files forcibly when the disk is full. Default true.
    clean_file_forcibly_enable: bool = "cleanFileForciblyEnable", default true;
    /// Largest message body accepted, bytes. Default 4194304.
    max_message_size: u32 = "maxMessageSize", default 4_194_304;
    /// ASYNC_FLUSH flush period, ms. Default 500.
    flush_interval_commit_log: u64 = "flushIntervalCommitLog", default 500;
    /// Pages that must be dirty before a periodic flush. Default 4.
    flush_commit_log_least_pages: u32 = "flushCommitLogLeastPages", default 4;
    /// Period after which a flush ignores the page threshold, ms. Default 10000.
    flush_commit_log_thorough_interval: u64 = "flushCommitLogThoroughInterval", default 10_000;
    /// Sleep (true) rather than wait for a wake-up between flushes. Default true.
    flush_commit_log_timed: bool = "flushCommitLogTimed", default true;
    /// Transient pool commit period, ms. Default 200.
    commit_interval_commit_log: u64 = "commitIntervalCommitLog", default 200;
    /// Pages before a transient pool commit. Default 4.
    commit_commit_log_least_pages: u32 = "commitCommitLogLeastPages", default 4;
    /// Consume queue flush period, ms. Default 1000.
    flush_interval_consume_queue: u64 = "flushIntervalConsumeQueue", default 1000;
    /// Index flush period, ms (no Java counterpart): a crash re-indexes at most this long a
    /// stretch of the log; each flush rewrites the index's slot table. Default 10000.
    flush_interval_index: u64 = "flushIntervalIndex", default 10_000;
    /// SYNC_FLUSH wait before FLUSH_DISK_TIMEOUT, ms. Default 5000.
    sync_flush_timeout: u64 = "syncFlushTimeout", default 5000;
    /// SYNC_MASTER wait for a slave before FLUSH_SLAVE_TIMEOUT, ms. Default 3000.
    slave_timeout: u64 = "slaveTimeout", default 3000;
    /// HA heartbeat period of a slave, ms. Default 5000.
    ha_send_heartbeat_interval: u64 = "haSendHeartbeatInterval", default 5000;
    /// HA connection idle limit, ms. Default 20000.
    ha_housekeeping_interval: u64 = "haHousekeepingInterval", default 20_000;
    /// HA transfer batch, bytes. Default 32768.
    ha_transfer_batch_size: u32 = "haTransferBatchSize", default 32_768;
    /// Bytes a slave may lag before it is no longer considered in sync. Default 268435456.
    ha_slave_fallbehind_max: u64 = "haSlaveFallbehindMax", default 268_435_456;
    /// Gap above which SYNC_MASTER answers SLAVE_NOT_AVAILABLE at once, bytes. Default 268435456.
    ha_max_gap_not_in_sync: u64 = "haMaxGapNotInSync", default 268_435_456;
    /// Slave only: a fixed master HA address. Default unset (learnt from registration).
    ha_master_address: Option<String> = "haMasterAddress", default None;
    /// ASYNC_FLUSH only: appends go through an in-memory buffer that each put writes to the
    /// commit-log file (one `pwrite`, shared by the puts queued behind it) before it is
    /// acknowledged, instead of a memory mapping of the file. Batches run about twice as fast
    /// and the latency tail is shorter; single small sends cost a little more CPU. Unlike Java's
    /// pool nothing is acknowledged before it is in the page cache. Default false.
    transient_store_pool_enable: bool = "transientStorePoolEnable", default false;
    /// Buffers in the transient pool (Java sizes its pool with it; here one buffer). Default 5.
    transient_store_pool_size: u32 = "transientStorePoolSize", default 5;
    /// Lock kind for appends (kept for compatibility). Default true.
    use_reentrant_lock_when_put_message: bool = "useReentrantLockWhenPutMessage", default true;
    /// Send worker count. Default min(cpus, 4).
    send_message_thread_pool_nums: u32 = "sendMessageThreadPoolNums", default cpus().min(4);
    /// Pull worker count. Default 16 + 2 × cpus.
    pull_message_thread_pool_nums: u32 = "pullMessageThreadPoolNums", default 16 + 2 * cpus();
    /// Pending send requests before SYSTEM_BUSY. Default 10000.
    send_thread_pool_queue_capacity: u32 = "sendThreadPoolQueueCapacity", default 10_000;
    /// Pending (held) pull requests before SYSTEM_BUSY. Default 100000.
    pull_thread_pool_queue_capacity: u32 = "pullThreadPoolQueueCapacity", default 100_000;
    /// Answer SYSTEM_BUSY rather than queue when saturated. Default true.
    broker_fast_failure_enable: bool = "brokerFastFailureEnable", default true;
    /// Create unknown topics from TBW102 on send. Default true.
    auto_create_topic_enable: bool = "autoCreateTopicEnable", default true;
    /// Queue count of TBW102. Default 8.
    default_topic_queue_nums: u32 = "defaultTopicQueueNums", default 8;
    /// Create subscription groups on first use. Default true.
    auto_create_subscription_group: bool = "autoCreateSubscriptionGroup", default true;
    /// Create the `<clusterName>` topic writable. Default true.
    cluster_topic_enable: bool = "clusterTopicEnable", default true;
    /// Create the `<brokerName>` topic writable. Default true.
    broker_topic_enable: bool = "brokerTopicEnable", default true;
    /// Let consumers read from this slave. Default false.
    slave_read_enable: bool = "slaveReadEnable", default false;
    /// Percent of memory (the machine's, or the container's limit when lower, as Java 17
    /// reads it) that counts as "in memory" behind the commit log's end; pulls further behind
    /// are redirected to a slave. Default 40.
    access_message_in_memory_max_ratio: u32 = "accessMessageInMemoryMaxRatio", default 40;
    /// Pull transfer cap in memory, bytes. Default 262144.
    max_transfer_bytes_on_message_in_memory: u32 = "maxTransferBytesOnMessageInMemory", default 262_144;
    /// Pull transfer cap in memory, messages. Default 32.
    max_transfer_count_on_message_in_memory: u32 = "maxTransferCountOnMessageInMemory", default 32;
    /// Pull transfer cap on disk, bytes. Default 65536.
    max_transfer_bytes_on_message_in_disk: u32 = "maxTransferBytesOnMessageInDisk", default 65_536;
    /// Pull transfer cap on disk, messages. Default 8.
    max_transfer_count_on_message_in_disk: u32 = "maxTransferCountOnMessageInDisk", default 8;
    /// Hold empty pulls until a message arrives. Default true.
    long_polling_enable: bool = "longPollingEnable", default true;
    /// Hold time when long polling is off, ms. Default 1000.
    short_polling_time_mills: u64 = "shortPollingTimeMills", default 1000;
    /// Longest a pull is held, whatever the client asks, ms. Default 15000.
    broker_suspend_max_time_millis: u64 = "brokerSuspendMaxTimeMillis", default 15_000;
    /// Tell a group's members when its membership changes. Default true.
    notify_consumer_ids_changed_enable: bool = "notifyConsumerIdsChangedEnable", default true;
    /// Index messages by key. Default true.
    message_index_enable: bool = "messageIndexEnable", default true;
    /// Index recovery safety. Default false.
    message_index_safe: bool = "messageIndexSafe", default false;
    /// Index hash slots. Default 5000000.
    max_hash_slot_num: u32 = "maxHashSlotNum", default 5_000_000;
    /// Index entries per file. Default 20000000.
    max_index_num: u32 = "maxIndexNum", default 20_000_000;
    /// Largest batch a query returns. Default 64.
    max_msgs_num_batch: u32 = "maxMsgsNumBatch", default 64;
    /// Default result count of a query. Default 32.
    default_query_max_num: u32 = "defaultQueryMaxNum", default 32;
    /// Delay levels, space-separated durations with unit s, m, h or d. Default
    /// `1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h`.
    message_delay_level: String = "messageDelayLevel", default DEFAULT_MESSAGE_DELAY_LEVEL.to_string();
    /// Delay progress flush period, ms. Default 10000.
    flush_delay_offset_interval: u64 = "flushDelayOffsetInterval", default 10_000;
    /// Registration period, ms. Default 30000 (clamped to 10 s..60 s unless a test sets less than
    /// 10 s explicitly; see [`BrokerConfig::register_period`]).
    register_name_server_period: u64 = "registerNameServerPeriod", default 30_000;
    /// Registration request timeout, ms. Default 6000.
    register_broker_timeout_mills: u64 = "registerBrokerTimeoutMills", default 6000;
    /// Send the full topic table on every registration. Default true.
    force_register: bool = "forceRegister", default true;
    /// Compress the registration body. Default false.
    compressed_register: bool = "compressedRegister", default false;
    /// Consumer offset flush period, ms. Default 5000.
    flush_consumer_offset_interval: u64 = "flushConsumerOffsetInterval", default 5000;
    /// Refuse transactional messages. Default false.
    reject_transaction_message: bool = "rejectTransactionMessage", default false;
    /// Age of a half message before its first check, ms. Default 6000.
    transaction_time_out: u64 = "transactionTimeOut", default 6000;
    /// Checks before a half message is discarded. Default 15.
    transaction_check_max: u32 = "transactionCheckMax", default 15;
    /// Transaction check period, ms. Default 60000.
    transaction_check_interval: u64 = "transactionCheckInterval", default 60_000;
    /// Create the trace topic. Default false.
    trace_topic_enable: bool = "traceTopicEnable", default false;
    /// Trace topic name. Default `RMQ_SYS_TRACE_TOPIC`.
    msg_trace_topic_name: String = "msgTraceTopicName", default "RMQ_SYS_TRACE_TOPIC".to_string();
    /// Echoed as the `TRACE_ON` property. Default true.
    trace_on: bool = "traceOn", default true;
    /// Echoed as the `MSG_REGION` property. Default `DefaultRegion`.
    region_id: String = "regionId", default "DefaultRegion".to_string();
    /// Sends before this epoch-ms time are refused. Default 0.
    start_accept_send_request_time_stamp: i64 = "startAcceptSendRequestTimeStamp", default 0;
    /// Append duration above which the store counts as busy, ms. Default 1000.
    os_page_cache_busy_time_out_mills: u64 = "osPageCacheBusyTimeOutMills", default 1000;
    /// Queueing time after which a send is refused as busy, ms. Default 200.
    wait_time_mills_in_send_queue: u64 = "waitTimeMillsInSendQueue", default 200;
    /// SQL92 filtering (`filter::sql92`). Default false: SQL92 subscriptions are refused.
    enable_property_filter: bool = "enablePropertyFilter", default false;
    /// Store reply messages (SEND_REPLY_MESSAGE) besides pushing them to the requester.
    /// Default true.
    store_reply_message_enable: bool = "storeReplyMessageEnable", default true;
    /// Plain ACL (4.x): every request must be signed by an account of the ACL file and have
    /// the permission its topics and groups need (`docs/security.md`). Default false.
    acl_enable: bool = "aclEnable", default false;
    /// The plain ACL file (Java's `-Drocketmq.acl.plain.file`); relative paths are under
    /// `$ROCKETMQ_HOME`. Default unset: `$ROCKETMQ_HOME/conf/plain_acl.yml`.
    acl_plain_file: Option<String> = "aclPlainFile", default None;
    /// A file holding the shared secret brokers prove to each other on the HA port (at least 16
    /// characters; no Java counterpart, `docs/security.md`). Default unset: the HA port serves
    /// any peer, as Java's does.
    ha_auth_secret_file: Option<String> = "haAuthSecretFile", default None;
    /// Epoch fencing for automatic failover (no Java counterpart, `docs/failover.md`): the
    /// epoch file is checked on every write and HA handshake, a master that cannot register
    /// with any name server for `fencingLeaseMillis` refuses writes, and the failover admin
    /// codes (promote, fence, re-point) are served. Every broker of a group must agree.
    /// Default false: classic 4.x master/slave.
    epoch_fencing_enable: bool = "epochFencingEnable", default false;
    /// With `epochFencingEnable`: how long a master keeps accepting writes after the last
    /// registration a name server accepted, ms. Name servers are asked to expire the broker
    /// after 1.5 times this, and registrations go out at least every quarter of it. Default
    /// 4000.
    fencing_lease_millis: u64 = "fencingLeaseMillis", default 4000;
    /// TLS on the remoting ports (Java's `tls.server.mode`): `disabled`, `permissive` (plain and
    /// TLS on one port) or `enforcing`. Default unset: disabled (Java defaults to permissive with
    /// a self-signed certificate; here TLS needs a certificate).
    tls_server_mode: Option<String> = "tls.server.mode", default None;
    /// PEM certificate chain of the remoting ports. Default unset.
    tls_server_cert_path: Option<String> = "tls.server.certPath", default None;
    /// PEM private key of `tls.server.certPath`. Default unset.
    tls_server_key_path: Option<String> = "tls.server.keyPath", default None;
    /// PEM CA certificates client certificates must chain to. Default unset.
    tls_server_trust_cert_path: Option<String> = "tls.server.trustCertPath", default None;
    /// Client certificates: `none`, `optional`, `require`. Default unset: none.
    tls_server_need_client_auth: Option<String> = "tls.server.need.client.auth", default None;
    /// The broker's own connections (registration, slave sync) speak TLS. Default false.
    tls_enable: bool = "tls.enable", default false;
    /// PEM CA certificates the name servers' and master's certificates must chain to (with
    /// `tls.enable`). Default unset.
    tls_client_trust_cert_path: Option<String> = "tls.client.trustCertPath", default None;
    /// Let a slave correct consumer offsets. Default false.
    offset_check_in_slave: bool = "offsetCheckInSlave", default false;
    /// Check record CRCs during recovery. Default true.
    check_crc_on_recover: bool = "checkCRCOnRecover", default true;
    /// Duplication mode. Default false.
    duplication_enable: bool = "duplicationEnable", default false;
    /// DLedger commit log. Default false (not supported).
    enable_dleger_commit_log: bool = "enableDLegerCommitLog", default false;
    /// Idle connection limit, seconds. Default 120.
    server_channel_max_idle_time_seconds: u64 = "serverChannelMaxIdleTimeSeconds", default 120;
    /// Connections served at once; a client connecting beyond it is accepted and closed at once,
    /// never left waiting (Java has no limit). Default 10000, as the name server's key.
    server_max_connections: u32 = "serverMaxConnections", default 10_000;
    /// Bytes of incomplete request frames all connections together may buffer beyond 64 KiB
    /// each; a connection needing more is closed (no Java counterpart). Default 67108864
    /// (four 16 MiB frames).
    server_frame_budget_bytes: u64 = "serverFrameBudgetBytes", default 67_108_864;
    /// Most header fields one request frame may carry; a frame with more closes its connection
    /// (no Java counterpart; real headers carry a few dozen). Default 1024.
    server_max_header_fields: u32 = "serverMaxHeaderFields", default 1024;
    /// Bytes of answers queued for a connection above which the broker stops reading that
    /// connection until half of them are written (Java's key for Netty's writability mark, whose
    /// Java default 0 means Netty's 64 KiB; here reading pauses, so the default is larger than a
    /// message). Default 4194304.
    write_buffer_high_water_mark: u32 = "writeBufferHighWaterMark", default 4_194_304;
    /// Pulls one connection may have parked at once, beyond which a pull is answered SYSTEM_BUSY
    /// (no Java counterpart; the total is `pullThreadPoolQueueCapacity`). Kept below the 2048
    /// requests a connection may have in flight so parked pulls never starve its heartbeats and
    /// offset commits. Default 1024.
    max_held_pulls_per_connection: u32 = "maxHeldPullsPerConnection", default 1024;
    /// NOTIFY_CONSUMER_IDS_CHANGED debounce per group, ms: membership changes within this window
    /// give each member one notification (no Java counterpart; Java notifies on every change).
    /// 0 notifies at once. Default 200.
    notify_consumer_ids_changed_delay_millis: u64 = "notifyConsumerIdsChangedDelayMillis", default 200;
    /// Metrics exporter (Java 5's key): `DISABLE` or `PROM`, a Prometheus endpoint serving
    /// `/metrics` on `metricsPromExporterHost:metricsPromExporterPort` (docs/metrics.md lists
    /// what it serves). Java's `OTLP_GRPC` and `LOG` are refused. Default `DISABLE`, as Java;
    /// the operator turns it on in its pods and in local mode.
    metrics_exporter_type: MetricsExporterType = "metricsExporterType", default MetricsExporterType::Disable;
    /// Address the metrics endpoint binds. Default empty: all interfaces (Java binds brokerIP1;
    /// all interfaces keeps `kubectl port-forward` and the pod IP both working).
    metrics_prom_exporter_host: String = "metricsPromExporterHost", default String::new();
    /// Port of the metrics endpoint (0 picks a free one). Default 5557, as Java.
    metrics_prom_exporter_port: u16 = "metricsPromExporterPort", default 5557;
}

/// A `host:port` entry of `namesrvAddr`, not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesrvEndpoint {
    /// Host name or IP literal.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl fmt::Display for NamesrvEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses a `namesrvAddr` value (`host:port;host:port`, blanks and empty entries ignored).
pub fn parse_namesrv_addr(value: &str) -> Result<Vec<NamesrvEndpoint>, String> {
    let mut out = Vec::new();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (host, port) = part
            .rsplit_once(':')
            .ok_or_else(|| format!("{part:?} is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{part:?} has no host"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{part:?} has an invalid port"))?;
        if port == 0 {
            return Err(format!("{part:?} has port 0"));
        }
        out.push(NamesrvEndpoint {
            host: host.to_string(),
            port,
        });
    }
    if out.is_empty() {
        return Err("no host:port entry".to_string());
    }
    Ok(out)
}

/// Parses a `messageDelayLevel` value into milliseconds per level (level 1 first).
pub fn parse_delay_levels(value: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in value.split_whitespace() {
        // "ms" (not in Java) lets tests use sub-second levels.
        let unit_len = if part.ends_with("ms") { 2 } else { 1 };
        let (num, unit) = part.split_at(part.len().saturating_sub(unit_len));
        let factor = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("{part:?} has no unit s, m, h or d")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{part:?} is not a number with a unit"))?;
        out.push(n.saturating_mul(factor));
    }
    if out.is_empty() {
        return Err("no delay level".to_string());
    }
    Ok(out)
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Checks a cluster or broker name: the characters allowed in topic names, at most 127.
fn check_name(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(invalid(key, value, "must not be empty"));
    }
    if value.len() > 127 {
        return Err(invalid(key, value, "longer than 127 characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'%' || b == b'|')
    {
        return Err(invalid(
            key,
            value,
            "only letters, digits, '-', '_', '%' and '|' are allowed",
        ));
    }
    Ok(())
}

impl BrokerConfig {
    /// Builds a config from parsed properties: defaults, overridden by each known key. Returns the
    /// unknown keys beside it so the caller can warn. The result is [validated](Self::validate).
    pub fn from_properties(
        props: &BTreeMap<String, String>,
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut config = BrokerConfig::default();
        let mut unknown = Vec::new();
        for (key, value) in props {
            if !config.set(key.trim(), value)? {
                unknown.push(key.clone());
            }
        }
        config.validate()?;
        Ok((config, unknown))
    }

    /// Parses `broker.conf` text (Java properties).
    pub fn from_properties_text(text: &str) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        Self::from_properties(&remoting::properties::parse(text))
    }

    /// Renders `broker.conf` text with every set key, in declaration order. It parses back to the
    /// same value.
    pub fn to_properties(&self) -> String {
        let entries = self.entries();
        remoting::properties::render(entries.iter().map(|(k, v)| (*k, v.as_str())))
    }

    /// Checks rules between keys and ranges the types alone do not express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.settings_without_effect()?;
        check_name("brokerClusterName", &self.broker_cluster_name)?;
        check_name("brokerName", &self.broker_name)?;
        let id = self.broker_id.to_string();
        if self.broker_role.is_master() && self.broker_id != 0 {
            return Err(ConfigError::Inconsistent(format!(
                "brokerRole={} requires brokerId=0, got brokerId={id}",
                self.broker_role
            )));
        }
        if !self.broker_role.is_master() && self.broker_id <= 0 {
            return Err(ConfigError::Inconsistent(format!(
                "brokerRole=SLAVE requires brokerId > 0, got brokerId={id}"
            )));
        }
        if let Some(addr) = &self.namesrv_addr {
            parse_namesrv_addr(addr).map_err(|e| invalid("namesrvAddr", addr, e))?;
        }
        if self.epoch_fencing_enable && !(1000..=600_000).contains(&self.fencing_lease_millis) {
            return Err(invalid(
                "fencingLeaseMillis",
                &self.fencing_lease_millis.to_string(),
                "must be 1000..=600000 ms",
            ));
        }
        for (key, value) in [
            ("brokerIP1", &self.broker_ip1),
            ("brokerIP2", &self.broker_ip2),
        ] {
            if let Some(v) = value
                && (v.contains(':') && v.parse::<std::net::Ipv6Addr>().is_err()
                    || v.chars().any(|c| c.is_whitespace() || c == ';' || c == '/'))
            {
                return Err(invalid(key, v, "not an IP address or host name"));
            }
        }
        if self.bind_address.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(
                "bindAddress",
                &self.bind_address,
                "not an IP address",
            ));
        }
        if self.listen_port != 0 && self.ha_listen_port() == self.listen_port {
            return Err(ConfigError::Inconsistent(format!(
                "haListenPort must differ from listenPort ({})",
                self.listen_port
            )));
        }
        if self.max_message_size == 0 {
            return Err(invalid("maxMessageSize", "0", "must be positive"));
        }
        if self.default_topic_queue_nums == 0 || self.default_topic_queue_nums > 1024 {
            return Err(invalid(
                "defaultTopicQueueNums",
                &self.default_topic_queue_nums.to_string(),
                "must be 1..=1024",
            ));
        }
        if self.mapped_file_size_commit_log < 4096 {
            return Err(invalid(
                "mappedFileSizeCommitLog",
                &self.mapped_file_size_commit_log.to_string(),
                "must be at least 4096",
            ));
        }
        if u64::from(self.max_message_size) + 1024 > self.mapped_file_size_commit_log {
            return Err(ConfigError::Inconsistent(format!(
                "maxMessageSize ({}) must fit in a commit log segment (mappedFileSizeCommitLog {})",
                self.max_message_size, self.mapped_file_size_commit_log
            )));
        }
        for hour in self.delete_when.split(';').map(str::trim) {
            match hour.parse::<u32>() {
                Ok(h) if h < 24 => {}
                _ => {
                    return Err(invalid(
                        "deleteWhen",
                        &self.delete_when,
                        "hours 00..23 separated by ';'",
                    ));
                }
            }
        }
        parse_delay_levels(&self.message_delay_level)
            .map_err(|e| invalid("messageDelayLevel", &self.message_delay_level, e))?;
        if !(0..=7).contains(&self.broker_permission) {
            return Err(invalid(
                "brokerPermission",
                &self.broker_permission.to_string(),
                "must be 0..=7",
            ));
        }
        if self.disk_max_used_space_ratio == 0 || self.disk_max_used_space_ratio > 100 {
            return Err(invalid(
                "diskMaxUsedSpaceRatio",
                &self.disk_max_used_space_ratio.to_string(),
                "must be 1..=100",
            ));
        }
        if self.store_path_root_dir.is_empty() {
            return Err(invalid("storePathRootDir", "", "must not be empty"));
        }
        Ok(())
    }

    /// The VIP channel port: `fastListenPort`, else listenPort − 2 (0 when listenPort is 0).
    pub fn fast_listen_port(&self) -> u16 {
        match self.fast_listen_port {
            Some(p) => p,
            None if self.listen_port == 0 => 0,
            None => self.listen_port.saturating_sub(2),
        }
    }

    /// The HA port: `haListenPort`, else listenPort + 1 (ephemeral when listenPort is 0).
    pub fn ha_listen_port(&self) -> u16 {
        match self.ha_listen_port {
            Some(p) => p,
            None if self.listen_port == 0 => 0,
            None => self.listen_port.wrapping_add(1),
        }
    }

    /// The commit log directory: `storePathCommitLog` or `<storePathRootDir>/commitlog`.
    pub fn commit_log_dir(&self) -> String {
        match &self.store_path_commit_log {
            Some(p) => p.clone(),
            None => format!(
                "{}/commitlog",
                self.store_path_root_dir.trim_end_matches('/')
            ),
        }
    }

    /// The name servers of `namesrvAddr` (empty when unset).
    pub fn namesrv_endpoints(&self) -> Vec<NamesrvEndpoint> {
        self.namesrv_addr
            .as_deref()
            .and_then(|a| parse_namesrv_addr(a).ok())
            .unwrap_or_default()
    }

    /// Delay levels in milliseconds (level 1 first).
    pub fn delay_levels_millis(&self) -> Vec<u64> {
        parse_delay_levels(&self.message_delay_level).unwrap_or_default()
    }

    /// The registration period. Java clamps to [10 s, 60 s]; we keep the lower clamp only for
    /// values of 10 s and more so tests can register faster.
    pub fn register_period(&self) -> std::time::Duration {
        let mut ms = self.register_name_server_period.clamp(100, 60_000);
        if self.epoch_fencing_enable {
            // The lease must be renewed several times before it runs out (docs/failover.md).
            ms = ms.min((self.fencing_lease_millis / 4).max(100));
        }
        std::time::Duration::from_millis(ms)
    }
}

// ---- Config honesty: keys that parse but do nothing (yet). ----
//
// A user who sets one of these believes something happens; the broker says otherwise at start
// (an error for security keys, a warning for the rest), `docs/config-reference.md` lists them
// (generated from this table and the field docs by `broker/tests/config_reference.rs`).

/// What a non-default value of a key the broker does not act on leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotHonoured {
    /// Start-up fails: believing the setting works would be a security hole.
    Refused,
    /// Start-up goes on with a warning.
    Warned,
}

/// Keys that are accepted (Java's `broker.conf` has them) but change nothing here, with why.
pub const NOT_HONOURED: &[(&str, NotHonoured, &str)] = &[
    (
        "enableDLegerCommitLog",
        NotHonoured::Warned,
        "DLedger is not implemented; replication is master/slave (brokerRole)",
    ),
    (
        "transientStorePoolSize",
        NotHonoured::Warned,
        "the transient store pool is one buffer (transientStorePoolEnable)",
    ),
    (
        "commitIntervalCommitLog",
        NotHonoured::Warned,
        "there is no transient store pool to commit",
    ),
    (
        "commitCommitLogLeastPages",
        NotHonoured::Warned,
        "there is no transient store pool to commit",
    ),
    (
        "flushCommitLogTimed",
        NotHonoured::Warned,
        "the flush task always sleeps flushIntervalCommitLog",
    ),
    (
        "useReentrantLockWhenPutMessage",
        NotHonoured::Warned,
        "appends are serialised by one async lock",
    ),
    (
        "pullMessageThreadPoolNums",
        NotHonoured::Warned,
        "pulls run on the async runtime, not a thread pool",
    ),
    (
        "maxTransferBytesOnMessageInDisk",
        NotHonoured::Warned,
        "pull batches are capped by the in-memory limits only",
    ),
    (
        "maxTransferCountOnMessageInDisk",
        NotHonoured::Warned,
        "pull batches are capped by the in-memory limits only",
    ),
    (
        "messageIndexSafe",
        NotHonoured::Warned,
        "index recovery always follows the checkpoint",
    ),
    (
        "flushDelayOffsetInterval",
        NotHonoured::Warned,
        "delay progress is flushed with the consumer offsets",
    ),
    (
        "forceRegister",
        NotHonoured::Warned,
        "the full topic table is always registered",
    ),
    (
        "osPageCacheBusyTimeOutMills",
        NotHonoured::Warned,
        "not implemented",
    ),
    ("duplicationEnable", NotHonoured::Warned, "not implemented"),
];

/// How `key` is treated when set to a non-default value: `None` when it is honoured.
pub fn not_honoured(key: &str) -> Option<(NotHonoured, &'static str)> {
    NOT_HONOURED
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, n, why)| (*n, *why))
}

impl BrokerConfig {
    /// The `tls.*` keys that are set, for [`remoting::tls`].
    pub fn tls_properties(&self) -> std::collections::BTreeMap<String, String> {
        self.entries()
            .into_iter()
            .filter(|(k, _)| k.starts_with("tls."))
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// The keys of [`NOT_HONOURED`] this config sets to something other than the default, each
    /// as `key=value has no effect: why`. `Err` for a [`NotHonoured::Refused`] one.
    pub fn settings_without_effect(&self) -> Result<Vec<String>, ConfigError> {
        let defaults = BrokerConfig::default();
        let mut warnings = Vec::new();
        for (key, kind, why) in NOT_HONOURED {
            let value = self.get(key);
            if value == defaults.get(key) {
                continue;
            }
            let value = value.unwrap_or_default();
            match kind {
                NotHonoured::Refused => {
                    return Err(ConfigError::InvalidValue {
                        key: key.to_string(),
                        value,
                        reason: format!("not supported: {why}"),
                    });
                }
                NotHonoured::Warned => {
                    warnings.push(format!("{key}={value} has no effect: {why}"));
                }
            }
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The broker.conf of the seed's FAQ 5.2, verbatim.
    const SEED_CONF: &str = "brokerClusterName = DefaultCluster
brokerName = broker-a
brokerId = 0
brokerIP1 = 10.29.181.16
deleteWhen = 04
fileReservedTime = 48
brokerRole = ASYNC_MASTER
flushDiskType = ASYNC_FLUSH

# NameServer地址列表，多个nameServer地址用分号隔开
namesrvAddr = 10.29.181.16:9876

autoCreateTopicEnable = true
";

    #[test]
    fn overload_keys_have_their_defaults_and_parse() {
        let c = BrokerConfig::default();
        assert_eq!(c.server_max_connections, 10_000);
        assert_eq!(c.server_frame_budget_bytes, 64 << 20);
        assert_eq!(c.server_max_header_fields, 1024);
        assert_eq!(c.write_buffer_high_water_mark, 4 << 20);
        assert_eq!(c.max_held_pulls_per_connection, 1024);
        assert_eq!(c.notify_consumer_ids_changed_delay_millis, 200);
        assert_eq!(c.wait_time_mills_in_send_queue, 200);
        assert_eq!(c.sync_flush_timeout, 5000);
        assert_eq!(c.server_channel_max_idle_time_seconds, 120);
        let (c, unknown) = BrokerConfig::from_properties_text(
            "serverMaxConnections=50\nserverFrameBudgetBytes=1048576\nserverMaxHeaderFields=64\n\
             writeBufferHighWaterMark=65536\nmaxHeldPullsPerConnection=8\n\
             notifyConsumerIdsChangedDelayMillis=0\n",
        )
        .unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(c.server_max_connections, 50);
        assert_eq!(c.server_frame_budget_bytes, 1 << 20);
        assert_eq!(c.server_max_header_fields, 64);
        assert_eq!(c.write_buffer_high_water_mark, 65536);
        assert_eq!(c.max_held_pulls_per_connection, 8);
        assert_eq!(c.notify_consumer_ids_changed_delay_millis, 0);
    }

    #[test]
    fn seed_conf_parses_as_is() {
        let (c, unknown) = BrokerConfig::from_properties_text(SEED_CONF).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(c.broker_cluster_name, "DefaultCluster");
        assert_eq!(c.broker_name, "broker-a");
        assert_eq!(c.broker_id, 0);
        assert_eq!(c.broker_ip1.as_deref(), Some("10.29.181.16"));
        assert_eq!(c.delete_when, "04");
        assert_eq!(c.file_reserved_time, 48);
        assert_eq!(c.broker_role, BrokerRole::AsyncMaster);
        assert_eq!(c.flush_disk_type, FlushDiskType::AsyncFlush);
        assert_eq!(c.namesrv_addr.as_deref(), Some("10.29.181.16:9876"));
        assert!(c.auto_create_topic_enable);
        assert_eq!(c.listen_port, 10911);
        assert_eq!(c.ha_listen_port(), 10912);
        assert_eq!(
            c.namesrv_endpoints(),
            vec![NamesrvEndpoint {
                host: "10.29.181.16".into(),
                port: 9876
            }]
        );
    }

    #[test]
    fn to_properties_round_trips() {
        let (mut c, _) = BrokerConfig::from_properties_text(SEED_CONF).unwrap();
        c.broker_role = BrokerRole::Slave;
        c.broker_id = 2;
        c.flush_disk_type = FlushDiskType::SyncFlush;
        c.store_path_root_dir = "/data/store with space".into();
        c.ha_listen_port = Some(20000);
        c.message_delay_level = "1s 2s".into();
        let text = c.to_properties();
        let (back, unknown) = BrokerConfig::from_properties_text(&text).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(back, c);
        // Defaults round-trip too.
        let d = BrokerConfig::default();
        let (back, _) = BrokerConfig::from_properties_text(&d.to_properties()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let err = BrokerConfig::from_properties_text("listenPort=abc").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("listenPort") && msg.contains("abc"), "{msg}");
        let err = BrokerConfig::from_properties_text("brokerRole=MASTER").unwrap_err();
        assert!(err.to_string().contains("brokerRole"));
        let err = BrokerConfig::from_properties_text("autoCreateTopicEnable=yes").unwrap_err();
        assert!(err.to_string().contains("autoCreateTopicEnable"));
        let err = BrokerConfig::from_properties_text("messageDelayLevel=1s 5x").unwrap_err();
        assert!(err.to_string().contains("messageDelayLevel"));
        let err = BrokerConfig::from_properties_text("namesrvAddr=host-without-port").unwrap_err();
        assert!(err.to_string().contains("namesrvAddr"));
        let err = BrokerConfig::from_properties_text("brokerName=../x").unwrap_err();
        assert!(err.to_string().contains("brokerName"));
    }

    #[test]
    fn unknown_keys_and_aliases() {
        let (c, unknown) =
            BrokerConfig::from_properties_text("mapedFileSizeCommitLog=16777216\nfooBar=1\n")
                .unwrap();
        assert_eq!(c.mapped_file_size_commit_log, 16_777_216);
        assert_eq!(unknown, vec!["fooBar".to_string()]);
    }

    #[test]
    fn role_and_id_must_agree() {
        assert!(matches!(
            BrokerConfig::from_properties_text("brokerRole=SLAVE\nbrokerId=0"),
            Err(ConfigError::Inconsistent(_))
        ));
        assert!(matches!(
            BrokerConfig::from_properties_text("brokerRole=SYNC_MASTER\nbrokerId=1"),
            Err(ConfigError::Inconsistent(_))
        ));
        assert!(BrokerConfig::from_properties_text("brokerRole=SLAVE\nbrokerId=1").is_ok());
    }

    #[test]
    fn delay_levels_and_namesrv_lists() {
        assert_eq!(
            parse_delay_levels("1s 2m 1h 1d").unwrap(),
            vec![1000, 120_000, 3_600_000, 86_400_000]
        );
        assert_eq!(BrokerConfig::default().delay_levels_millis().len(), 18);
        let eps = parse_namesrv_addr("a:9876; b:9877;").unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[1].to_string(), "b:9877");
    }

    #[test]
    fn serde_uses_conf_spelling() {
        let c = BrokerConfig::default();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["brokerRole"], "ASYNC_MASTER");
        assert_eq!(json["brokerIP1"], serde_json::Value::Null);
        let back: BrokerConfig =
            serde_json::from_str(r#"{"brokerName":"b","flushDiskType":"SYNC_FLUSH"}"#).unwrap();
        assert_eq!(back.flush_disk_type, FlushDiskType::SyncFlush);
        assert_eq!(back.broker_name, "b");
    }
}
