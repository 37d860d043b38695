//! The `namesrv` binary: flags as Java's `mqnamesrv` (`-c FILE`, `-p`), then the library.

use std::path::PathBuf;

use anyhow::{Context, bail};
use namesrv::{NameServer, NamesrvConfig};

const USAGE: &str = "usage: namesrv [-c configFile] [-p] [-h]
  -c, --configFile <file>   Name server config properties file
  -p, --printConfigItem     Print all config items and exit
  -h, --help                Print help";

fn main() -> anyhow::Result<()> {
    let mut config_file: Option<PathBuf> = None;
    let mut print = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" | "--configFile" => {
                config_file = Some(args.next().context("-c needs a file")?.into())
            }
            "-p" | "--printConfigItem" => print = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    let config = match &config_file {
        Some(path) => NamesrvConfig::load_file(path)
            .with_context(|| format!("load config {}", path.display()))?,
        None => NamesrvConfig::default(),
    };
    if print {
        print!("{}", config.to_properties_text());
        return Ok(());
    }
    // Logs go to stderr so stdout carries only the boot line that scripts and tests read.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new().context("start tokio runtime")?;
    runtime.block_on(async move {
        let handle = NameServer::start(config).await?;
        // The process tests (and operators' probes) read this line to learn the bound port.
        println!(
            "The Name Server boot success. listening on {}",
            handle.local_addr()
        );
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("wait for ctrl-c")?,
            _ = terminate() => {}
        }
        handle.shutdown().await;
        anyhow::Ok(())
    })
}

/// Resolves on SIGTERM (how Kubernetes stops a pod).
async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}
