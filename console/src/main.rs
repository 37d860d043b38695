//! `console`: the web console on port 8180 (see the crate docs and docs/console.md).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use console::{ConsoleConfig, DEFAULT_PORT, auth::Auth};

/// Web console for a RocketMQ cluster: cluster, topics, consumer groups, messages, charts.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Name servers, `host:port` separated by `;` (default: $NAMESRV_ADDR, else 127.0.0.1:9876).
    #[arg(short = 'n', long = "namesrv-addr")]
    namesrv_addr: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: String,
    /// Port to listen on.
    #[arg(short = 'p', long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// File holding the token that state changes need (a mounted Secret, say). Without it the
    /// console is read-only.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Refuse every state change, even with a token.
    #[arg(long)]
    read_only: bool,
    /// Seconds between chart samples.
    #[arg(long, default_value_t = 10)]
    sample_secs: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Errors are one line on stderr and exit status 1, as the project's other binaries.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("console: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let args = Args::parse();
    let namesrv = args
        .namesrv_addr
        .or_else(|| std::env::var("NAMESRV_ADDR").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1:9876".to_string());
    let token = match &args.token_file {
        Some(p) => {
            Some(Auth::token_from_file(p).with_context(|| format!("token file {}", p.display()))?)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let config = ConsoleConfig {
        namesrv_addr: namesrv,
        token,
        read_only: args.read_only,
        sample_interval: Duration::from_secs(args.sample_secs.max(1)),
        history: Duration::from_secs(3600),
    };
    let handle = console::serve(config, listener).await?;
    println!("console: http://{}/", handle.addr());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
