//! The `operator` binary: `run` (the controller), `crd` (print or write the CRD), `local` (run a
//! cluster file as local processes).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "operator",
    version,
    about = "RocketMQCluster operator and local runner"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the controller against the cluster from KUBECONFIG or the in-cluster config.
    Run {
        /// Address of the health (/healthz, /readyz) and metrics (/metrics) endpoint.
        #[arg(long, default_value = "0.0.0.0:8080")]
        http: String,
        /// Only watch this namespace (default: all namespaces).
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Print the CustomResourceDefinition YAML, or write it to a file.
    Crd {
        /// Write here instead of stdout (e.g. crds/rocketmqclusters.yaml).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Run a cluster file as local processes on 127.0.0.1 until Ctrl-C / SIGTERM.
    Local(operator::local::LocalArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let verbose = std::env::var_os("RUST_LOG").is_some();
    // The shared setup, stderr only (a controller's logs are its pod's; local mode prints
    // status lines and leaves the servers' logs to their own files).
    let _ = logging::init(
        "operator",
        &logging::LogSettings {
            dir: None,
            level: "info,kube=warn".into(),
            ..Default::default()
        },
    );
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `status` on a directory where nothing runs: LSB's "program is not running".
        Err(e)
            if matches!(
                e.downcast_ref::<operator::error::Error>(),
                Some(operator::error::Error::NotRunning(_))
            ) =>
        {
            eprintln!("{e:#}");
            std::process::ExitCode::from(3)
        }
        Err(e) => {
            // One line, causes joined with ": "; the backtrace only when asked for with RUST_LOG
            // (anyhow's `{:?}` would print one whenever RUST_BACKTRACE is set).
            eprintln!("error: {e:#}");
            if verbose {
                eprintln!("{}", e.backtrace());
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Crd { out } => {
            let yaml = operator::crd::crd_yaml().context("rendering the CRD")?;
            match out {
                Some(p) => {
                    std::fs::write(&p, yaml).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{yaml}"),
            }
            Ok(())
        }
        Cmd::Run { http, namespace } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(operator::controller::run(&http, namespace))?;
            Ok(())
        }
        Cmd::Local(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            // The supervisor's future runs on this (main) thread, so the children it spawns
            // get their parent-death signal tied to a thread that lives as long as the process.
            rt.block_on(operator::local::run(args))?;
            Ok(())
        }
    }
}
