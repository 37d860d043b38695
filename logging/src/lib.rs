//! The logging setup shared by `namesrv`, `broker`, `mqadmin` and `operator`, so that every
//! binary logs the same way (documented in `docs/logging.md`):
//!
//! - a file `<dir>/<name>.log` (`namesrv.log`, `broker.log`), rotated by size into
//!   `<name>.log.1` … `<name>.log.<keep>`; `dir` defaults to `~/logs/rocketmqlogs` as in the Java
//!   distribution, and `logDir=` (empty) or `none` turns files off;
//! - stderr as well, unless stderr is `/dev/null` (the seed's `nohup … > /dev/null 2>&1 &`
//!   would otherwise discard everything; a terminal, a pipe (`kubectl logs`) or a redirect to a
//!   file all keep it);
//! - text, or one JSON object per line (`logFormat=json`);
//! - levels per module: `RUST_LOG` wins, else the `logLevel` setting (an `EnvFilter` directive
//!   such as `info,broker::services::ha=debug`), else `info`.
//!
//! Settings come from the binary's config file (keys `logDir`, `logLevel`, `logFormat`,
//! `logMaxFileSize`, `logMaxFiles`, taken out of the properties before the server's own config
//! sees them) and from the environment (`ROCKETMQ_LOG_DIR`, `ROCKETMQ_LOG_FORMAT`), the
//! environment winning.
//!
//! # Layout
//! One module (the crate is small enough to read top to bottom):
//! - [`KEYS`], [`LogSettings`] (`take_from`: the settings out of a property map), [`Format`],
//!   [`default_dir`]: what the settings are and where they come from;
//! - [`init`]: installs the global subscriber (filter, stderr and file layers);
//! - [`RotatingLog`]: the size-rotated file writer;
//! - [`LogError`]: the crate's error type.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Config keys this crate owns; [`LogSettings::take_from`] removes them from a property map.
pub const KEYS: [&str; 5] = [
    "logDir",
    "logLevel",
    "logFormat",
    "logMaxFileSize",
    "logMaxFiles",
];

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A setting has a value that cannot be used.
    #[error("{key}={value}: {why}")]
    BadSetting {
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// The log directory or file cannot be created.
    #[error("cannot open log file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A global subscriber was already installed.
    #[error("logging was already set up")]
    AlreadySet,
}

/// Line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `tracing`'s human-readable lines.
    Text,
    /// One JSON object per line: `ts`, `level`, `target`, `message` and the event's fields.
    Json,
}

/// How a binary logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// Directory of the log file; `None`: no file.
    pub dir: Option<PathBuf>,
    /// `EnvFilter` directives used when `RUST_LOG` is unset.
    pub level: String,
    /// Text or JSON.
    pub format: Format,
    /// Size at which the file is rotated (default 128 MiB).
    pub max_file_size: u64,
    /// Rotated files kept (default 10).
    pub max_files: u32,
}

/// `~/logs/rocketmqlogs`, as the Java distribution's logback configuration.
pub fn default_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join("logs").join("rocketmqlogs"))
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            dir: default_dir(),
            level: "info".into(),
            format: Format::Text,
            max_file_size: 128 * 1024 * 1024,
            max_files: 10,
        }
    }
}

impl LogSettings {
    /// The defaults overridden by the [`KEYS`] found in `props` (which are removed from it, so
    /// the server's own parser does not call them unknown), then by the environment.
    pub fn take_from(props: &mut BTreeMap<String, String>) -> Result<LogSettings, LogError> {
        let mut s = LogSettings::default();
        let bad = |key: &'static str, value: &str, why: &str| LogError::BadSetting {
            key,
            value: value.to_string(),
            why: why.to_string(),
        };
        if let Some(v) = props.remove("logDir") {
            s.dir = parse_dir(&v);
        }
        if let Some(v) = props.remove("logLevel") {
            if tracing_subscriber::EnvFilter::try_new(v.trim()).is_err() {
                return Err(bad(
                    "logLevel",
                    &v,
                    "not a level or RUST_LOG-style directive list",
                ));
            }
            s.level = v.trim().to_string();
        }
        if let Some(v) = props.remove("logFormat") {
            s.format = parse_format(&v).ok_or_else(|| bad("logFormat", &v, "use text or json"))?;
        }
        if let Some(v) = props.remove("logMaxFileSize") {
            s.max_file_size = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 4096)
                .ok_or_else(|| bad("logMaxFileSize", &v, "a byte count of at least 4096"))?;
        }
        if let Some(v) = props.remove("logMaxFiles") {
            s.max_files = v
                .trim()
                .parse()
                .map_err(|_| bad("logMaxFiles", &v, "a number"))?;
        }
        if let Some(v) = std::env::var_os("ROCKETMQ_LOG_DIR") {
            s.dir = parse_dir(&v.to_string_lossy());
        }
        if let Ok(v) = std::env::var("ROCKETMQ_LOG_FORMAT") {
            s.format = parse_format(&v)
                .ok_or_else(|| bad("logFormat", &v, "ROCKETMQ_LOG_FORMAT: use text or json"))?;
        }
        Ok(s)
    }
}

fn parse_dir(v: &str) -> Option<PathBuf> {
    let v = v.trim();
    if v.is_empty() || v == "none" {
        return None;
    }
    match v.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest)),
        None => Some(PathBuf::from(v)),
    }
}

fn parse_format(v: &str) -> Option<Format> {
    match v.trim().to_ascii_lowercase().as_str() {
        "text" | "" => Some(Format::Text),
        "json" => Some(Format::Json),
        _ => None,
    }
}

/// Whether stderr goes to `/dev/null` (then logging to it is pointless).
fn stderr_is_devnull() -> bool {
    let (Ok(err), Ok(null)) = (
        rustix::fs::fstat(std::io::stderr()),
        rustix::fs::stat("/dev/null"),
    ) else {
        return false;
    };
    err.st_dev == null.st_dev && err.st_ino == null.st_ino && err.st_rdev == null.st_rdev
}

/// Installs the global subscriber for binary `name` (the file is `<dir>/<name>.log`). Returns
/// the log file's path, if any, for the binary to mention.
pub fn init(name: &str, s: &LogSettings) -> Result<Option<PathBuf>, LogError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&s.level));
    let file = match &s.dir {
        Some(dir) => {
            let path = dir.join(format!("{name}.log"));
            std::fs::create_dir_all(dir).map_err(|source| LogError::Io {
                path: dir.clone(),
                source,
            })?;
            let log = RotatingLog::open(&path, s.max_file_size, s.max_files).map_err(|source| {
                LogError::Io {
                    path: path.clone(),
                    source,
                }
            })?;
            Some((path, SharedLog(Arc::new(Mutex::new(log)))))
        }
        None => None,
    };
    let to_stderr = !stderr_is_devnull();
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let path = file.as_ref().map(|(p, _)| p.clone());
    let file_writer = file.map(|(_, w)| w);
    let registry = tracing_subscriber::registry().with(filter);
    let r = match s.format {
        Format::Text => registry
            .with(file_writer.map(|w| {
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(w)
            }))
            .with(to_stderr.then(|| {
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr)
            }))
            .try_init(),
        Format::Json => registry
            .with(file_writer.map(|w| {
                tracing_subscriber::fmt::layer()
                    .event_format(JsonLines)
                    .with_writer(w)
            }))
            .with(to_stderr.then(|| {
                tracing_subscriber::fmt::layer()
                    .event_format(JsonLines)
                    .with_writer(std::io::stderr)
            }))
            .try_init(),
    };
    r.map_err(|_| LogError::AlreadySet)?;
    Ok(path)
}

/// JSON-lines event format: `{"ts":…,"level":…,"target":…,"message":…,<fields>}`.
struct JsonLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut obj = serde_json::Map::new();
        obj.insert(
            "ts".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        obj.insert("level".into(), event.metadata().level().as_str().into());
        obj.insert("target".into(), event.metadata().target().into());
        event.record(&mut JsonVisitor(&mut obj));
        let line = serde_json::Value::Object(obj).to_string();
        writeln!(writer, "{line}")
    }
}

struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

/// A [`RotatingLog`] shared by the subscriber's writers.
#[derive(Clone)]
struct SharedLog(Arc<Mutex<RotatingLog>>);

impl<'a> MakeWriter<'a> for SharedLog {
    type Writer = SharedLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl std::io::Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over one whole event per call: rotation never splits a line.
        match self.0.lock() {
            Ok(mut l) => l.write(buf).map(|()| buf.len()),
            Err(_) => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An append-only log file that rotates by size: `x.log` → `x.log.1` → … → `x.log.<keep>` (the
/// oldest is dropped), so neither a chatty server nor a crash-looping one fills the disk.
pub struct RotatingLog {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
    size: u64,
}

impl RotatingLog {
    /// Opens (appending to) `path`.
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> std::io::Result<RotatingLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog {
            path: path.to_path_buf(),
            max_bytes,
            keep,
            file,
            size,
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        if self.keep > 0 {
            std::fs::rename(&self.path, self.rotated(1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }

    /// Appends `bytes` (one or more whole lines), rotating first when they would not fit.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + bytes.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn logs_rotate_by_size_and_keep_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out.log");
        let mut log = RotatingLog::open(&path, 100, 2).unwrap();
        for i in 0..30 {
            log.write(format!("line {i:02} ........\n").as_bytes())
                .unwrap();
        }
        let cur = std::fs::read_to_string(&path).unwrap();
        let one = std::fs::read_to_string(tmp.path().join("out.log.1")).unwrap();
        let two = std::fs::read_to_string(tmp.path().join("out.log.2")).unwrap();
        assert!(!tmp.path().join("out.log.3").exists());
        for f in [&cur, &one, &two] {
            assert!(f.len() <= 100, "{f}");
        }
        assert!(cur.ends_with("line 29 ........\n"), "{cur}");
        // Nothing is lost between the kept files: they continue one another.
        let all = format!("{two}{one}{cur}");
        let nums: Vec<u32> = all.lines().map(|l| l[5..7].parse().unwrap()).collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
    }

    #[test]
    fn settings_come_out_of_the_properties_and_are_checked() {
        let mut props: BTreeMap<String, String> = [
            ("logDir", "/var/log/rmq"),
            ("logLevel", "warn,broker::services::ha=debug"),
            ("logFormat", "JSON"),
            ("logMaxFileSize", "1048576"),
            ("logMaxFiles", "3"),
            ("listenPort", "10911"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = LogSettings::take_from(&mut props).unwrap();
        // The environment may override the directory and format in a developer's shell.
        if std::env::var_os("ROCKETMQ_LOG_DIR").is_none() {
            assert_eq!(s.dir, Some(PathBuf::from("/var/log/rmq")));
        }
        if std::env::var_os("ROCKETMQ_LOG_FORMAT").is_none() {
            assert_eq!(s.format, Format::Json);
        }
        assert_eq!(s.level, "warn,broker::services::ha=debug");
        assert_eq!((s.max_file_size, s.max_files), (1048576, 3));
        assert_eq!(props.keys().collect::<Vec<_>>(), vec!["listenPort"]);
        for (k, v) in [
            ("logFormat", "xml"),
            ("logMaxFileSize", "10"),
            ("logLevel", "info,=[="),
        ] {
            let mut p = BTreeMap::from([(k.to_string(), v.to_string())]);
            let e = LogSettings::take_from(&mut p).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{k}={v}")), "{e}");
        }
        let mut off = BTreeMap::from([("logDir".to_string(), "none".to_string())]);
        if std::env::var_os("ROCKETMQ_LOG_DIR").is_none() {
            assert_eq!(LogSettings::take_from(&mut off).unwrap().dir, None);
        }
    }
}
