//! The `namesrv` binary: flags as Java's `mqnamesrv` (`-c FILE`, `-p`), then the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use namesrv::{NameServer, NamesrvConfig};

const USAGE: &str = "usage: namesrv [-c configFile] [-p] [-h] [-V]
  -c, --configFile <file>   Name server config properties file
  -p, --printConfigItem     Print all config items and exit
  -h, --help                Print help
  -V, --version             Print the version
Logs: ~/logs/rocketmqlogs/namesrv.log (logDir, logLevel, logFormat keys; RUST_LOG), and stderr.";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, causes joined by ": ", never a backtrace (anyhow's `{:?}` prints one
            // whenever RUST_BACKTRACE is set); RUST_LOG asks for the details.
            eprintln!("namesrv: {e:#}");
            if std::env::var_os("RUST_LOG").is_some() {
                eprintln!("{}", e.backtrace());
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
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
            "-V" | "--version" => {
                println!("namesrv {} (rocketmq-rs)", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            other => bail!("unknown option {other} (see namesrv --help)"),
        }
    }
    let mut props = match &config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            remoting::properties::parse(&text)
        }
        None => Default::default(),
    };
    let log = logging::LogSettings::take_from(&mut props)?;
    if !print {
        // Before the config is applied, so that its warnings (unknown keys) are logged.
        logging::init("namesrv", &log)?;
    }
    let mut config = NamesrvConfig::default();
    config.apply(&props).with_context(|| match &config_file {
        Some(p) => format!("config {}", p.display()),
        None => "config".to_string(),
    })?;
    if print {
        print!("{}", config.to_properties_text());
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new().context("start tokio runtime")?;
    runtime.block_on(async move {
        // SIGTERM's handler goes in before the port opens: a supervisor may stop the name server
        // as soon as its port answers.
        let term = terminate();
        let handle = NameServer::start(config).await?;
        // The process tests (and operators' probes) read this line to learn the bound port.
        println!(
            "The Name Server boot success. listening on {}",
            handle.local_addr()
        );
        if let Some(a) = handle.metrics_addr() {
            println!("metrics endpoint http://{a}/metrics");
        }
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("wait for ctrl-c")?,
            _ = term => {}
        }
        handle.shutdown().await;
        anyhow::Ok(())
    })
}

/// Installs the SIGTERM handler now; the future resolves on SIGTERM (how Kubernetes stops a pod).
fn terminate() -> impl std::future::Future<Output = ()> {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        match term {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
}
