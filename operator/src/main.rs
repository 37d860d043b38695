//! The `operator` binary: `run` (the controller), `crd` (print or write the CRD), `local` (run a
//! cluster file as local processes).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// The namespace of an in-cluster pod's service account.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

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
        /// Elect a leader among replicas with a coordination.k8s.io Lease; only the leader
        /// reconciles. Default: true.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        leader_elect: bool,
        /// Namespace of the Lease. Default: $POD_NAMESPACE, else the pod's service-account
        /// namespace (the operator's own namespace), else `default`.
        #[arg(long)]
        lease_namespace: Option<String>,
        /// Name of the Lease. Default: `rocketmq-operator`, or `rocketmq-operator-<namespace>`
        /// with --namespace (operators watching different namespaces do not compete).
        #[arg(long)]
        lease_name: Option<String>,
        /// Seconds a lease stays valid without renewal; a follower takes over after that.
        #[arg(long, default_value_t = 15)]
        lease_duration_secs: u64,
        /// Seconds between renewals (and a follower's retries); less than the lease duration.
        #[arg(long, default_value_t = 5)]
        lease_renew_secs: u64,
    },
    /// Print a CustomResourceDefinition's YAML, or write it to a file.
    Crd {
        /// Write here instead of stdout (e.g. crds/rocketmqclusters.yaml).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Which CRD: `cluster` (RocketMQCluster), `topic` (RocketMQTopic) or `consumer-group`
        /// (RocketMQConsumerGroup).
        #[arg(long, value_enum, default_value_t = CrdKind::Cluster)]
        kind: CrdKind,
    },
    /// Run a cluster file as local processes on 127.0.0.1 until Ctrl-C / SIGTERM.
    Local(operator::local::LocalArgs),
    /// Run the failover controller for brokers with `epochFencingEnable=true` (docs/failover.md):
    /// promotes a slave when a group's master is lost, re-points the rest.
    Failover(operator::local::failover::FailoverArgs),
}

/// The CRDs `operator crd` writes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CrdKind {
    /// RocketMQCluster.
    Cluster,
    /// RocketMQTopic.
    Topic,
    /// RocketMQConsumerGroup.
    ConsumerGroup,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let verbose = std::env::var_os("RUST_LOG").is_some();
    // The shared setup, stderr only (a controller's logs are its pod's; local mode prints
    // status lines and leaves the servers' logs to their own files). ROCKETMQ_LOG_FORMAT=json
    // asks for JSON lines, as for the servers.
    let mut log = logging::LogSettings::take_from(&mut Default::default()).unwrap_or_default();
    log.dir = None;
    log.level = "info,kube=warn".into();
    let _ = logging::init("operator", &log);
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
        Cmd::Crd { out, kind } => {
            let yaml = match kind {
                CrdKind::Cluster => operator::crd::crd_yaml(),
                CrdKind::Topic => operator::resource::topic_crd_yaml(),
                CrdKind::ConsumerGroup => operator::resource::group_crd_yaml(),
            }
            .context("rendering the CRD")?;
            match out {
                Some(p) => {
                    std::fs::write(&p, yaml).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{yaml}"),
            }
            Ok(())
        }
        Cmd::Run {
            http,
            namespace,
            leader_elect,
            lease_namespace,
            lease_name,
            lease_duration_secs,
            lease_renew_secs,
        } => {
            let election = if leader_elect {
                anyhow::ensure!(
                    lease_renew_secs >= 1 && lease_renew_secs < lease_duration_secs,
                    "--lease-renew-secs must be at least 1 and below --lease-duration-secs"
                );
                let lease_namespace = lease_namespace
                    .or_else(|| std::env::var("POD_NAMESPACE").ok())
                    .or_else(|| std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "default".to_string());
                let name = lease_name.unwrap_or_else(|| match &namespace {
                    Some(ns) => format!("rocketmq-operator-{ns}"),
                    None => "rocketmq-operator".to_string(),
                });
                let identity = std::env::var("POD_NAME")
                    .ok()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("operator-{}", std::process::id()));
                let mut cfg =
                    operator::leader::LeaseConfig::new(&lease_namespace, &name, &identity);
                cfg.lease_duration = std::time::Duration::from_secs(lease_duration_secs);
                cfg.renew_every = std::time::Duration::from_secs(lease_renew_secs);
                Some(cfg)
            } else {
                None
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(operator::controller::run(&http, namespace, election))?;
            Ok(())
        }
        Cmd::Failover(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(operator::local::failover::run_cli(args))
                .map_err(anyhow::Error::msg)?;
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
