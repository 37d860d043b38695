//! Reading an endpoint back: a minimal HTTP GET of `/metrics`, sample lookup, and the exposition
//! lint through the reference parser (PyPI `prometheus-client`). For tests and tools; a server
//! never calls it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GETs `path` from `addr` (`host:port`); returns the status code and the body.
pub async fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "scrape timed out"))??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// GETs `/metrics` from `addr`; an error unless it answers 200.
pub async fn metrics(addr: &str) -> std::io::Result<String> {
    match get(addr, "/metrics").await? {
        (200, body) => Ok(body),
        (code, body) => Err(std::io::Error::other(format!(
            "/metrics answered {code}: {body}"
        ))),
    }
}

/// The value of the sample written exactly as `series` (`name` or `name{a="x",b="y"}`, labels
/// in served order).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        let v = rest.split_whitespace().next()?;
        match v {
            "+Inf" | "inf" => Some(f64::INFINITY),
            _ => v.parse().ok(),
        }
    })
}

/// Sum of every sample of family member `name` (e.g. `rocketmq_broker_messages_in_total`),
/// over all label sets.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let rest = if rest.starts_with('{') {
                &rest[rest.find('}')? + 1..]
            } else {
                rest
            };
            rest.strip_prefix(' ')?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum()
}

/// What [`lint`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lint {
    /// The reference parser accepted the text; the number of metric families it read.
    Ok(usize),
    /// No Python with `prometheus_client` here (the reason).
    Skipped(String),
    /// The parser refused the text.
    Refused(String),
}

/// The Python to lint with: `$METRICS_LINT_PYTHON` (`.ci/run` sets it to the venv it installs
/// `prometheus-client` into), else a `metrics-venv/bin/python` in a directory above the running
/// test binary (`python3 -m venv target/metrics-venv`).
pub fn lint_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("METRICS_LINT_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .map(|d| d.join("metrics-venv/bin/python"))
        .find(|p| p.is_file())
}

const LINT_SCRIPT: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
print(len(families))
"#;

/// Parses `text` with the OpenMetrics parser of the PyPI `prometheus-client` (strict: names,
/// types, `_total` counters, bucket order, `# EOF`). With `METRICS_LINT_REQUIRED=1` a missing
/// parser is [`Lint::Refused`], not skipped.
pub fn lint(text: &str) -> Lint {
    let required = std::env::var("METRICS_LINT_REQUIRED").as_deref() == Ok("1");
    match lint_python().map(|py| lint_with(&py, text)) {
        Some(Lint::Skipped(why)) if required => {
            Lint::Refused(format!("METRICS_LINT_REQUIRED=1 but the lint cannot run: {why}"))
        }
        Some(l) => l,
        None if required => Lint::Refused(
            "METRICS_LINT_REQUIRED=1 but there is no METRICS_LINT_PYTHON nor target/metrics-venv"
                .into(),
        ),
        None => Lint::Skipped(
            "no METRICS_LINT_PYTHON and no target/metrics-venv (python3 -m venv target/metrics-venv && target/metrics-venv/bin/pip install prometheus-client)".into(),
        ),
    }
}

/// [`lint`] with an explicit interpreter.
pub fn lint_with(python: &Path, text: &str) -> Lint {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new(python)
        .args(["-c", LINT_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Lint::Skipped(format!("cannot run {}: {e}", python.display())),
    };
    if let Some(mut stdin) = child.stdin.take()
        && let Err(e) = stdin.write_all(text.as_bytes())
    {
        return Lint::Refused(format!("writing to the parser failed: {e}"));
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() => {
            let n = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            Lint::Ok(n)
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("No module named 'prometheus_client'") {
                Lint::Skipped(format!("{} has no prometheus_client", python.display()))
            } else {
                Lint::Refused(err.trim().to_string())
            }
        }
        Err(e) => Lint::Skipped(format!("cannot run {}: {e}", python.display())),
    }
}
