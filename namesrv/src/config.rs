//! Name server configuration: `NamesrvConfig` and the listen settings of `NettyServerConfig`,
//! read from a Java properties file (`namesrv -c FILE`) with RocketMQ's key spelling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{NamesrvError, Result};

/// Keys a remote UPDATE_NAMESRV_CONFIG may change. Everything else — paths above all
/// (CVE-2023-33246, CVE-2023-37582) — is refused: only settings that are safe to flip at run time
/// and take effect without a restart are listed.
pub const REMOTE_UPDATABLE_KEYS: &[&str] = &[
    "orderMessageEnable",
    "scanNotActiveBrokerInterval",
    "brokerChannelExpiredTime",
];

/// The name server's settings. Each field names its properties key and default.
#[derive(Debug, Clone, PartialEq)]
pub struct NamesrvConfig {
    /// `rocketmqHome`: install directory (default: `$ROCKETMQ_HOME` or empty). Informational.
    pub rocketmq_home: String,
    /// `kvConfigPath`: the KV store file (default `~/namesrv/kvConfig.json`).
    pub kv_config_path: PathBuf,
    /// `configStorePath`: where Java persists config updates (default
    /// `~/namesrv/namesrv.properties`). Reported only; remote updates are kept in memory.
    pub config_store_path: PathBuf,
    /// `orderMessageEnable`: fill `orderTopicConf` of routes from KV namespace
    /// ORDER_TOPIC_CONFIG (default false).
    pub order_message_enable: bool,
    /// `clusterTest`: Java test-cluster flag (default false). Informational.
    pub cluster_test: bool,
    /// `bindAddress`: listen address (default `0.0.0.0`).
    pub bind_address: String,
    /// `listenPort`: listen port (default 9876; 0 picks a free port).
    pub listen_port: u16,
    /// `brokerChannelExpiredTime`: a broker silent this long is dropped (ms, default 120000).
    pub broker_channel_expired_time: Duration,
    /// `scanNotActiveBrokerInterval`: how often silent brokers are looked for (ms, default 10000).
    pub scan_not_active_broker_interval: Duration,
    /// `serverChannelMaxIdleTimeSeconds`: idle connections are closed after this (default 120 s).
    pub server_channel_max_idle_time: Duration,
    /// `serverMaxConnections`: connections served at once (default 10000); a client connecting
    /// beyond it is accepted and closed at once, never left waiting.
    pub server_max_connections: usize,
    /// `serverFrameBudgetBytes`: bytes of incomplete request frames all connections together may
    /// buffer beyond 64 KiB each; a connection needing more is closed (no Java counterpart;
    /// default 67108864, four 16 MiB frames).
    pub server_frame_budget_bytes: usize,
    /// `serverMaxHeaderFields`: most header fields one request frame may carry (no Java
    /// counterpart; default 1024).
    pub server_max_header_fields: usize,
    /// `writeBufferHighWaterMark`: bytes of answers queued for a connection above which it is
    /// not read until half are written (Java's key for Netty's mark; default 4194304).
    pub write_buffer_high_water_mark: usize,
    /// `metricsExporterType`: `DISABLE` or `PROM`, a Prometheus endpoint serving `/metrics`
    /// (Java 5's key; `OTLP_GRPC` and `LOG` are refused). Default `DISABLE`, as Java; the
    /// operator turns it on in its pods and in local mode.
    pub metrics_exporter_type: telemetry::ExporterType,
    /// `metricsPromExporterHost`: address the metrics endpoint binds (default empty: all
    /// interfaces).
    pub metrics_prom_exporter_host: String,
    /// `metricsPromExporterPort`: port of the metrics endpoint (default 5557, as Java; 0 picks a
    /// free port).
    pub metrics_prom_exporter_port: u16,
    /// `tls.server.*` settings as given (see [`remoting::tls`]); empty: plain only.
    pub tls: BTreeMap<String, String>,
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        let home = home_dir();
        NamesrvConfig {
            rocketmq_home: std::env::var("ROCKETMQ_HOME").unwrap_or_default(),
            kv_config_path: home.join("namesrv").join("kvConfig.json"),
            config_store_path: home.join("namesrv").join("namesrv.properties"),
            order_message_enable: false,
            cluster_test: false,
            bind_address: "0.0.0.0".into(),
            listen_port: 9876,
            broker_channel_expired_time: Duration::from_secs(120),
            scan_not_active_broker_interval: Duration::from_secs(10),
            server_channel_max_idle_time: Duration::from_secs(120),
            server_max_connections: 10_000,
            server_frame_budget_bytes: remoting::server::DEFAULT_FRAME_BUDGET,
            server_max_header_fields: remoting::frame::DEFAULT_MAX_HEADER_FIELDS,
            write_buffer_high_water_mark: remoting::connection::DEFAULT_WRITE_HIGH_WATER,
            metrics_exporter_type: telemetry::ExporterType::Disable,
            metrics_prom_exporter_host: String::new(),
            metrics_prom_exporter_port: telemetry::exporter::DEFAULT_PORT,
            tls: BTreeMap::new(),
        }
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> NamesrvError {
    NamesrvError::Config {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "expected a non-negative integer"))
}

fn parse_millis(key: &str, value: &str) -> Result<Duration> {
    let ms: u64 = parse_num(key, value)?;
    if ms == 0 {
        return Err(invalid(key, value, "must be positive"));
    }
    Ok(Duration::from_millis(ms))
}

/// Expands a leading `~/` as the Java start scripts' `${user.home}` would.
fn expand_home(value: &str) -> PathBuf {
    match value.strip_prefix("~/") {
        Some(rest) => home_dir().join(rest),
        None => PathBuf::from(value),
    }
}

impl NamesrvConfig {
    /// Reads a properties file over the defaults.
    pub fn load_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| NamesrvError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = NamesrvConfig::default();
        config.apply(&remoting::properties::parse(&text))?;
        Ok(config)
    }

    /// Sets every known key of `props`; unknown keys are ignored (with a warning), as Java's
    /// `properties2Object` ignores them.
    pub fn apply(&mut self, props: &BTreeMap<String, String>) -> Result<()> {
        for (key, value) in props {
            if !self.set(key, value)? {
                tracing::warn!(key = %key, "unknown name server config key ignored");
            }
        }
        Ok(())
    }

    /// Sets one key. Returns false for an unknown key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "rocketmqHome" => self.rocketmq_home = value.trim().to_string(),
            "kvConfigPath" => self.kv_config_path = expand_home(value.trim()),
            "configStorePath" => self.config_store_path = expand_home(value.trim()),
            "orderMessageEnable" => self.order_message_enable = parse_bool(key, value)?,
            "clusterTest" => self.cluster_test = parse_bool(key, value)?,
            "bindAddress" => self.bind_address = value.trim().to_string(),
            "listenPort" => self.listen_port = parse_num(key, value)?,
            "brokerChannelExpiredTime" => {
                self.broker_channel_expired_time = parse_millis(key, value)?
            }
            "scanNotActiveBrokerInterval" => {
                self.scan_not_active_broker_interval = parse_millis(key, value)?
            }
            "serverChannelMaxIdleTimeSeconds" => {
                let secs: u64 = parse_num(key, value)?;
                self.server_channel_max_idle_time = Duration::from_secs(secs.max(1));
            }
            "serverMaxConnections" => {
                self.server_max_connections = parse_num::<usize>(key, value)?.max(1)
            }
            "serverFrameBudgetBytes" => {
                self.server_frame_budget_bytes = parse_num::<usize>(key, value)?.max(1)
            }
            "serverMaxHeaderFields" => {
                self.server_max_header_fields = parse_num::<usize>(key, value)?.max(1)
            }
            "writeBufferHighWaterMark" => {
                self.write_buffer_high_water_mark = parse_num::<usize>(key, value)?.max(1)
            }
            "metricsExporterType" => {
                self.metrics_exporter_type = value
                    .parse()
                    .map_err(|why: String| invalid(key, value, why))?
            }
            "metricsPromExporterHost" => self.metrics_prom_exporter_host = value.trim().to_string(),
            "metricsPromExporterPort" => self.metrics_prom_exporter_port = parse_num(key, value)?,
            k if k.starts_with("tls.") => {
                self.tls.insert(k.to_string(), value.trim().to_string());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Applies a remote UPDATE_NAMESRV_CONFIG: all keys must be in [`REMOTE_UPDATABLE_KEYS`] and
    /// all values valid, or nothing changes. `Err` holds the refused key.
    pub fn apply_remote(
        &mut self,
        props: &BTreeMap<String, String>,
    ) -> std::result::Result<(), RemoteUpdateError> {
        if let Some(key) = props
            .keys()
            .find(|k| !REMOTE_UPDATABLE_KEYS.contains(&k.as_str()))
        {
            return Err(RemoteUpdateError::Forbidden(key.clone()));
        }
        let mut next = self.clone();
        next.apply(props)
            .map_err(|e| RemoteUpdateError::Invalid(e.to_string()))?;
        *self = next;
        Ok(())
    }

    /// Every setting as properties, for `-p` and GET_NAMESRV_CONFIG.
    pub fn to_properties(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("rocketmqHome", self.rocketmq_home.clone());
        put("kvConfigPath", self.kv_config_path.display().to_string());
        put(
            "configStorePath",
            self.config_store_path.display().to_string(),
        );
        put("orderMessageEnable", self.order_message_enable.to_string());
        put("clusterTest", self.cluster_test.to_string());
        put("bindAddress", self.bind_address.clone());
        put("listenPort", self.listen_port.to_string());
        put(
            "brokerChannelExpiredTime",
            self.broker_channel_expired_time.as_millis().to_string(),
        );
        put(
            "scanNotActiveBrokerInterval",
            self.scan_not_active_broker_interval.as_millis().to_string(),
        );
        put(
            "serverChannelMaxIdleTimeSeconds",
            self.server_channel_max_idle_time.as_secs().to_string(),
        );
        put(
            "serverMaxConnections",
            self.server_max_connections.to_string(),
        );
        put(
            "serverFrameBudgetBytes",
            self.server_frame_budget_bytes.to_string(),
        );
        put(
            "serverMaxHeaderFields",
            self.server_max_header_fields.to_string(),
        );
        put(
            "writeBufferHighWaterMark",
            self.write_buffer_high_water_mark.to_string(),
        );
        put(
            "metricsExporterType",
            self.metrics_exporter_type.to_string(),
        );
        put(
            "metricsPromExporterHost",
            self.metrics_prom_exporter_host.clone(),
        );
        put(
            "metricsPromExporterPort",
            self.metrics_prom_exporter_port.to_string(),
        );
        m
    }

    /// [`to_properties`](Self::to_properties) as properties text.
    pub fn to_properties_text(&self) -> String {
        let props = self.to_properties();
        remoting::properties::render(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// Why a remote config update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteUpdateError {
    /// The key may not be changed remotely.
    #[error("Can not update config in black list: {0} may not be changed remotely")]
    Forbidden(String),
    /// A value is malformed.
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_budget_keys() {
        let c = NamesrvConfig::default();
        assert_eq!(c.server_frame_budget_bytes, 64 << 20);
        assert_eq!(c.server_max_header_fields, 1024);
        assert_eq!(c.write_buffer_high_water_mark, 4 << 20);
        let mut c = NamesrvConfig::default();
        let props = remoting::properties::parse(
            "serverFrameBudgetBytes=1048576\nserverMaxHeaderFields=64\nwriteBufferHighWaterMark=65536\nserverMaxConnections=5\n",
        );
        c.apply(&props).unwrap();
        assert_eq!(c.server_frame_budget_bytes, 1 << 20);
        assert_eq!(c.server_max_header_fields, 64);
        assert_eq!(c.write_buffer_high_water_mark, 65536);
        assert_eq!(c.server_max_connections, 5);
        let p = c.to_properties();
        assert_eq!(p["serverFrameBudgetBytes"], "1048576");
        assert!(c.set("serverMaxHeaderFields", "many").is_err());
    }

    #[test]
    fn defaults_and_file_keys() {
        let c = NamesrvConfig::default();
        assert_eq!(c.listen_port, 9876);
        assert!(c.kv_config_path.ends_with("namesrv/kvConfig.json"));
        let mut c = NamesrvConfig::default();
        let props = remoting::properties::parse(
            "listenPort=9877\nkvConfigPath=/tmp/x.json\nbrokerChannelExpiredTime=500\nfoo=bar\n",
        );
        c.apply(&props).unwrap();
        assert_eq!(c.listen_port, 9877);
        assert_eq!(c.kv_config_path, PathBuf::from("/tmp/x.json"));
        assert_eq!(c.broker_channel_expired_time, Duration::from_millis(500));
        assert!(
            c.apply(&remoting::properties::parse("listenPort=x"))
                .is_err()
        );
        let printed = remoting::properties::parse(&c.to_properties_text());
        let mut again = NamesrvConfig::default();
        again.apply(&printed).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn remote_updates_are_allow_listed_and_atomic() {
        let mut c = NamesrvConfig::default();
        let before = c.clone();
        let bad = remoting::properties::parse("kvConfigPath=/etc/passwd\norderMessageEnable=true");
        assert_eq!(
            c.apply_remote(&bad),
            Err(RemoteUpdateError::Forbidden("kvConfigPath".into()))
        );
        assert_eq!(c, before);
        let invalid = remoting::properties::parse("orderMessageEnable=yes");
        assert!(matches!(
            c.apply_remote(&invalid),
            Err(RemoteUpdateError::Invalid(_))
        ));
        let ok = remoting::properties::parse("orderMessageEnable=true");
        c.apply_remote(&ok).unwrap();
        assert!(c.order_message_enable);
    }
}
