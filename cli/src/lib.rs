//! `mqadmin`: RocketMQ's admin tool, with Java's subcommand names and flags.
//!
//! # Layout
//! - [`args`]: commons-cli style option parsing and usage text.
//! - [`admin`]: the shared admin layer (name server list, client, typed calls).
//! - [`commands`]: one module per subcommand (or per pair that differ only in a request code
//!   and a verb, as `write_perm` and `broker_maintenance`) and the registry; each implements
//!   [`commands::Command`] with a plain `async fn run`. The broker commands go through
//!   the client library ([`client::Admin`], producer, pull consumer); the benchmark tool is two
//!   of them, `mqadmin benchProducer` and `mqadmin benchConsumer` (see
//!   [`commands::bench_producer`], [`commands::bench_consumer`] and `cli/bench/broker-bench.sh`).
//! - [`error`]: the crate's error type; every error is one line.
//! - [`run`]: the whole tool as a function, used by `main.rs` and tests.

pub mod admin;
pub mod args;
pub mod commands;
pub mod error;

use std::io::Write;

use crate::admin::Admin;
use crate::error::{CliError, Result};

/// The command list printed by `mqadmin` and `mqadmin help`.
pub fn command_list() -> String {
    let mut s = String::from("The most commonly used mqadmin commands are:\n");
    for c in commands::all() {
        s.push_str(&format!("   {:<25} {}\n", c.name(), c.description()));
    }
    s.push_str("\nSee 'mqadmin help <command>' for more information on a specific command.\n");
    s
}

/// Runs `mqadmin` with `args` (without the program name), writing normal output to `out`.
pub async fn run(args: &[String], out: &mut (dyn Write + Send)) -> Result<()> {
    let Some((name, rest)) = args.split_first() else {
        write!(out, "{}", command_list())?;
        return Ok(());
    };
    if name == "--version" || name == "-V" || name == "version" {
        writeln!(
            out,
            "mqadmin {} (rocketmq-rs; RocketMQ 4.x remoting protocol)",
            env!("CARGO_PKG_VERSION")
        )?;
        return Ok(());
    }
    if name == "help" || name == "-h" || name == "--help" {
        match rest.first() {
            None => write!(out, "{}", command_list())?,
            Some(cmd) => {
                let c = commands::find(cmd).ok_or_else(|| unknown(cmd))?;
                write!(out, "{}", args::usage(c.name(), &c.all_options()))?;
            }
        }
        return Ok(());
    }
    let command = commands::find(name).ok_or_else(|| unknown(name))?;
    let specs = command.all_options();
    let (rest, credentials) = take_credentials(&specs, rest)?;
    let parsed = args::parse(command.name(), &specs, &rest)?;
    if parsed.has(args::HELP.short) {
        write!(out, "{}", args::usage(command.name(), &specs))?;
        return Ok(());
    }
    let tls = match std::env::var(admin::TLS_TRUST_CERT_ENV) {
        Ok(path) if !path.trim().is_empty() => Some(
            remoting::tls::TlsClient::new(path.trim(), None)
                .map_err(|e| CliError::Usage(format!("{}: {e}", admin::TLS_TRUST_CERT_ENV)))?,
        ),
        _ => None,
    };
    let admin = Admin::with_security(parsed.value(args::NAMESRV.short), credentials, tls);
    let result = command.execute(&parsed, &admin, out).await;
    admin.shutdown().await;
    result
}

/// Takes the plain-ACL credentials out of the arguments: `--accessKey K --secretKey S` (or
/// `--accessKey=K`), unless the command has options of those names itself (the ACL commands,
/// where they name the account being changed); else `ROCKETMQ_ACCESS_KEY` and
/// `ROCKETMQ_SECRET_KEY`. Both or neither must be given.
fn take_credentials(
    specs: &[args::OptSpec],
    rest: &[String],
) -> Result<(Vec<String>, Option<remoting::acl::SessionCredentials>)> {
    let own = |long: &str| specs.iter().any(|s| s.long == long);
    let mut kept = Vec::with_capacity(rest.len());
    let (mut ak, mut sk) = (None, None);
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.strip_prefix("--").map(|n| n.split_once('=')) {
            Some(Some((n, v))) => (n, Some(v.to_string())),
            Some(None) => (&a[2..], None),
            None => ("", None),
        };
        let slot = match name {
            "accessKey" if !own("accessKey") => &mut ak,
            "secretKey" if !own("secretKey") => &mut sk,
            _ => {
                kept.push(a.clone());
                continue;
            }
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| CliError::Usage(format!("Missing argument for option: {a}")))?,
        };
        *slot = Some(value);
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let ak = ak.or_else(|| env(admin::ACCESS_KEY_ENV));
    let sk = sk.or_else(|| env(admin::SECRET_KEY_ENV));
    match (ak, sk) {
        (None, None) => Ok((kept, None)),
        (Some(ak), Some(sk)) => Ok((kept, Some(remoting::acl::SessionCredentials::new(ak, sk)))),
        _ => Err(CliError::Usage(
            "give both an access key and a secret key (--accessKey/--secretKey or \
             ROCKETMQ_ACCESS_KEY/ROCKETMQ_SECRET_KEY)"
                .into(),
        )),
    }
}

fn unknown(name: &str) -> CliError {
    CliError::Usage(format!(
        "The sub command {name} not exist. (see 'mqadmin help')"
    ))
}
