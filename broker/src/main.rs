//! The `broker` binary, flags as `mqbroker`: `-c broker.conf`, `-n namesrvAddr`, `-p` (print the
//! effective config and exit without touching the network). `key=value` arguments override the
//! file, as `mqbroker -n localhost:9876 autoCreateTopicEnable=true` suggests in the seed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use broker::config::BrokerConfig;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "broker", about = "RocketMQ 4.x compatible broker", version)]
struct Args {
    /// Broker config file (Java properties, the keys of broker.conf).
    #[arg(short = 'c', long = "configFile")]
    config_file: Option<PathBuf>,
    /// Name server addresses, `host:port;host:port` (overrides namesrvAddr).
    #[arg(short = 'n', long = "namesrvAddr")]
    namesrv_addr: Option<String>,
    /// Print the effective configuration and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    print: bool,
    /// Print only the keys that differ from the defaults (with -p).
    #[arg(short = 'm', long = "printImportantConfig")]
    important: bool,
    /// Extra `key=value` settings, applied after the file.
    overrides: Vec<String>,
}

/// The merged properties (file, then `key=value` arguments, then `-n`/NAMESRV_ADDR), with the
/// logging keys taken out.
fn properties(args: &Args) -> anyhow::Result<(BTreeMap<String, String>, logging::LogSettings)> {
    let mut props = BTreeMap::new();
    if let Some(path) = &args.config_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        props = remoting::properties::parse(&text);
    }
    for o in &args.overrides {
        let Some((k, v)) = o.split_once('=') else {
            bail!("argument {o:?} is not key=value");
        };
        props.insert(k.trim().to_string(), v.trim().to_string());
    }
    if let Some(n) = &args.namesrv_addr {
        props.insert("namesrvAddr".into(), n.clone());
    } else if !props.contains_key("namesrvAddr")
        && let Ok(env) = std::env::var("NAMESRV_ADDR")
        && !env.trim().is_empty()
    {
        props.insert("namesrvAddr".into(), env);
    }
    let log = logging::LogSettings::take_from(&mut props)?;
    Ok((props, log))
}

fn load(props: &BTreeMap<String, String>) -> anyhow::Result<BrokerConfig> {
    let (config, unknown) = BrokerConfig::from_properties(props)?;
    for k in unknown {
        tracing::warn!(key = %k, "unknown config key ignored");
    }
    // Keys Java's broker.conf has but this broker does not act on: refused or
    // warned about, so nobody believes a setting works that does not.
    for w in config.settings_without_effect()? {
        tracing::warn!("{w}");
    }
    Ok(config)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, causes joined by ": ", never a backtrace (anyhow's `{:?}` prints one
            // whenever RUST_BACKTRACE is set); RUST_LOG asks for the details.
            eprintln!("broker: {e:#}");
            if std::env::var_os("RUST_LOG").is_some() {
                eprintln!("{}", e.backtrace());
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let (props, log) = properties(&args)?;
    if args.print {
        // -p only prints: warnings to stderr, no log file.
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    } else {
        logging::init("broker", &log)?;
    }
    let config = load(&props)?;
    if args.print {
        if args.important {
            let defaults = BrokerConfig::default();
            for (k, v) in config.entries() {
                if defaults.get(k).as_deref() != Some(v.as_str()) {
                    println!("{k}={v}");
                }
            }
        } else {
            print!("{}", config.to_properties());
        }
        return Ok(());
    }
    // UPDATE_BROKER_CONFIG writes accepted keys back to the -c file, as Java does.
    let mut config = config;
    if config.broker_config_path.is_none() {
        config.broker_config_path = args.config_file.as_ref().map(|p| p.display().to_string());
    }
    if config.namesrv_endpoints().is_empty() {
        return Err(broker::BrokerError::NoNamesrv.into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        // The handlers go in before the ports open: a supervisor may stop the broker as soon as
        // its port answers, and a SIGTERM before then would kill it without a clean shutdown.
        let stop = stop_signal();
        let handle = broker::Broker::start(config).await?;
        println!(
            "The broker[{}, {}] boot success. serializeType=JSON and name server is {}",
            handle.config().broker_name,
            handle.broker_addr(),
            handle.config().namesrv_addr.as_deref().unwrap_or("")
        );
        if let Some(a) = handle.context().metrics.local_addr() {
            println!("metrics endpoint http://{a}/metrics");
        }
        stop.await;
        handle.shutdown().await;
        anyhow::Ok(())
    })
}

/// Installs the SIGTERM and Ctrl-C handlers now and returns a future that resolves on either.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
}
