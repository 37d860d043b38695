//! Starting and stopping a name server: [`NameServer::start`] binds the listen socket, loads the
//! KV store and spawns the accept loop and the expiry scanner; [`NameServerHandle`] stops them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use remoting::{ConnectionConfig, ServerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::NamesrvConfig;
use crate::error::{NamesrvError, Result};
use crate::kv::KvConfigManager;
use crate::processor::NamesrvProcessor;
use crate::route::RouteInfoManager;

/// Entry point of the name server library.
#[derive(Debug)]
pub struct NameServer;

impl NameServer {
    /// Loads the KV store, binds `bindAddress:listenPort` and starts serving. Each call is an
    /// independent name server: several run side by side in one process with no shared state.
    pub async fn start(config: NamesrvConfig) -> Result<NameServerHandle> {
        let kv = Arc::new(KvConfigManager::load(&config.kv_config_path)?);
        let bind = format!("{}:{}", config.bind_address, config.listen_port);
        let listener = TcpListener::bind(&bind)
            .await
            .map_err(|source| NamesrvError::Bind {
                addr: bind.clone(),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| NamesrvError::Bind {
            addr: bind.clone(),
            source,
        })?;
        let server_config = ServerConfig {
            max_connections: config.server_max_connections,
            frame_budget: config.server_frame_budget_bytes,
            connection: ConnectionConfig {
                idle_timeout: config.server_channel_max_idle_time,
                max_header_fields: config.server_max_header_fields,
                write_high_water: config.write_buffer_high_water_mark,
                ..ConnectionConfig::server()
            },
            tls: Some(remoting::tls::TlsServer::from_properties(&config.tls)?),
        };
        let routes = Arc::new(RouteInfoManager::new());
        let metrics = Arc::new(crate::metrics::NamesrvMetrics::default());
        let metrics_listener = match config.metrics_exporter_type {
            telemetry::ExporterType::Prom => Some(
                telemetry::bind(
                    &config.metrics_prom_exporter_host,
                    config.metrics_prom_exporter_port,
                )
                .await
                .map_err(|e| match e {
                    telemetry::TelemetryError::Bind { addr, source } => {
                        NamesrvError::Bind { addr, source }
                    }
                    other => NamesrvError::Config {
                        key: "metricsPromExporterPort".into(),
                        value: String::new(),
                        reason: other.to_string(),
                    },
                })?,
            ),
            telemetry::ExporterType::Disable => None,
        };
        let config = Arc::new(RwLock::new(config));
        let processor = Arc::new(
            NamesrvProcessor::new(routes.clone(), kv.clone(), config.clone())
                .with_metrics(metrics.clone()),
        );
        let shutdown = CancellationToken::new();
        let serve = tokio::spawn(remoting::serve(
            listener,
            processor,
            server_config,
            shutdown.clone(),
        ));
        let scan = tokio::spawn(scan_loop(
            routes.clone(),
            config.clone(),
            shutdown.clone(),
            metrics.clone(),
        ));
        let mut tasks = vec![serve, scan];
        let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(l) = metrics_listener {
            let ep = Arc::new(telemetry::Endpoint::new(crate::metrics::registry(
                routes.clone(),
                metrics,
            )));
            tasks.push(tokio::spawn(telemetry::serve(l, ep, shutdown.clone())));
            info!(addr = ?metrics_addr, "metrics endpoint serving /metrics");
        }
        info!(addr = %local_addr, kv_path = %kv.path().display(), "name server started");
        Ok(NameServerHandle {
            local_addr,
            metrics_addr,
            shutdown,
            tasks,
            routes,
            config,
        })
    }
}

/// Drops brokers that stopped registering. The interval and expiry are re-read every round so a
/// remote config update takes effect without a restart.
async fn scan_loop(
    routes: Arc<RouteInfoManager>,
    config: Arc<RwLock<NamesrvConfig>>,
    shutdown: CancellationToken,
    metrics: Arc<crate::metrics::NamesrvMetrics>,
) {
    loop {
        let interval = config.read().scan_not_active_broker_interval;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        let expiry = config.read().broker_channel_expired_time;
        let gone = routes.scan_not_active_brokers(Instant::now(), expiry);
        metrics.on_expired(gone.len());
    }
}

/// A running name server. Dropping it stops the server too, but without waiting.
#[derive(Debug)]
pub struct NameServerHandle {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    routes: Arc<RouteInfoManager>,
    config: Arc<RwLock<NamesrvConfig>>,
}

impl NameServerHandle {
    /// The address actually bound (useful with `listenPort=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the metrics endpoint, when `metricsExporterType=PROM`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The route tables (for in-process inspection).
    pub fn routes(&self) -> &Arc<RouteInfoManager> {
        &self.routes
    }

    /// The current settings (remote updates included).
    pub fn config(&self) -> NamesrvConfig {
        self.config.read().clone()
    }

    /// Stops accepting, closes every connection and waits for the server's tasks to end.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        info!(addr = %self.local_addr, "name server stopped");
    }

    /// Resolves once the server has been told to stop (e.g. by a signal handler elsewhere).
    pub async fn stopped(&self) {
        self.shutdown.cancelled().await
    }
}

impl Drop for NameServerHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
