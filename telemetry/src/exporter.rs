//! The Prometheus endpoint: Java 5's exporter keys and a small hyper server.
//!
//! RocketMQ 5 configures its exporter with `metricsExporterType` (`DISABLE`, the default, or
//! `PROM`; Java also has `OTLP_GRPC` and `LOG`, refused here with a clear error),
//! `metricsPromExporterHost` (empty: Java binds brokerIP1; here all interfaces, so a pod's
//! metrics port answers on every address the kubelet or Prometheus may use) and
//! `metricsPromExporterPort` (default 5557). The same keys serve the name server.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::TelemetryError;

/// Java 5's default `metricsPromExporterPort`.
pub const DEFAULT_PORT: u16 = 5557;

/// The content type of `prometheus-client`'s text encoding (OpenMetrics 1.0, which Prometheus
/// negotiates and parses).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A whole scrape may take this long before the connection is dropped.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// `metricsExporterType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExporterType {
    /// No metrics endpoint (Java's default).
    #[default]
    Disable,
    /// Serve Prometheus text on `metricsPromExporterHost:metricsPromExporterPort`.
    Prom,
}

impl ExporterType {
    /// The spelling used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            ExporterType::Disable => "DISABLE",
            ExporterType::Prom => "PROM",
        }
    }
}

impl fmt::Display for ExporterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExporterType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "DISABLE" | "" => Ok(ExporterType::Disable),
            "PROM" => Ok(ExporterType::Prom),
            "OTLP_GRPC" | "LOG" => {
                Err("not supported here: only DISABLE and PROM (Prometheus pull)".to_string())
            }
            _ => Err("expected DISABLE or PROM".to_string()),
        }
    }
}

/// What the endpoint serves: the registry on `/metrics`; `/healthz` always answers `ok`, and
/// `/readyz` asks `ready` (the operator's readiness: leader or not).
pub struct Endpoint {
    /// The metrics.
    pub registry: Registry,
    /// Readiness for `/readyz`; `None`: always ready.
    pub ready: Option<Box<dyn Fn() -> bool + Send + Sync>>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("ready", &self.ready.is_some())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint serving `registry`, always ready.
    pub fn new(registry: Registry) -> Self {
        Endpoint {
            registry,
            ready: None,
        }
    }

    /// The exposition text of one scrape.
    pub fn scrape(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn handle(
    ep: Arc<Endpoint>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    Ok(match req.uri().path() {
        "/metrics" => match ep.scrape() {
            Ok(body) => respond(StatusCode::OK, CONTENT_TYPE, body),
            Err(_) => respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                "encoding failed\n".into(),
            ),
        },
        "/healthz" => respond(StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" => {
            if ep.ready.as_ref().is_none_or(|r| r()) {
                respond(StatusCode::OK, TEXT, "ok\n".into())
            } else {
                respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n".into())
            }
        }
        _ => respond(StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    })
}

/// Serves `ep` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, ep: Arc<Endpoint>, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let ep = ep.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(ep.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn) => {}
            }
        });
    }
}

/// Binds the metrics endpoint's listener on `host:port` (empty host: all interfaces; port 0:
/// a free one). Serve it with [`serve`].
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, TelemetryError> {
    let host = if host.trim().is_empty() {
        "0.0.0.0"
    } else {
        host.trim()
    };
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    TcpListener::bind(&addr)
        .await
        .map_err(|source| TelemetryError::Bind { addr, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_type_spellings() {
        assert_eq!("PROM".parse::<ExporterType>(), Ok(ExporterType::Prom));
        assert_eq!("prom".parse::<ExporterType>(), Ok(ExporterType::Prom));
        assert_eq!("DISABLE".parse::<ExporterType>(), Ok(ExporterType::Disable));
        assert!("OTLP_GRPC".parse::<ExporterType>().is_err());
        assert!("yes".parse::<ExporterType>().is_err());
    }
}
