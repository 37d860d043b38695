//! `mqadmin`: RocketMQ's admin tool, with Java's subcommand names and flags.
//!
//! # Layout
//! - [`args`]: commons-cli style option parsing and usage text.
//! - [`admin`]: the shared admin layer (name server list, client, typed calls).
//! - [`commands`]: one module per subcommand and the registry. The broker commands go through
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
    let parsed = args::parse(command.name(), &specs, rest)?;
    if parsed.has(args::HELP.short) {
        write!(out, "{}", args::usage(command.name(), &specs))?;
        return Ok(());
    }
    let admin = Admin::new(parsed.value(args::NAMESRV.short));
    let result = command.execute(&parsed, &admin, out).await;
    admin.shutdown().await;
    result
}

fn unknown(name: &str) -> CliError {
    CliError::Usage(format!(
        "The sub command {name} not exist. (see 'mqadmin help')"
    ))
}
