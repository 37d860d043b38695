//! The subcommands, one module each, and the registry `mqadmin` dispatches on.
//!
//! A command declares its options (beyond `-h` and `-n`, which every command has) and runs
//! against an [`Admin`]; output goes to the writer it is given so tests can capture it. New
//! commands (broker ones, a bench) add a module and one line in [`all`].

use std::io::Write;

use futures::future::BoxFuture;

use crate::admin::Admin;
use crate::args::{HELP, NAMESRV, OptSpec, ParsedArgs};
use crate::error::Result;

pub mod add_write_perm;
pub mod cluster_list;
pub mod delete_kv_config;
pub mod get_namesrv_config;
pub mod message_print;
pub mod query_msg_by_id;
pub mod query_msg_by_key;
pub mod resend_msg_by_id;
pub mod reset_offset_by_time;
pub mod topic_list;
pub mod topic_route;
pub mod update_kv_config;
pub mod update_namesrv_config;
pub mod wipe_write_perm;

/// Where a command writes its output.
pub type Out<'a> = &'a mut (dyn Write + Send);

/// One `mqadmin` subcommand.
pub trait SubCommand: Sync {
    /// The name typed on the command line (Java's `commandName()`).
    fn name(&self) -> &'static str;
    /// One line for the command list (Java's `commandDesc()`).
    fn description(&self) -> &'static str;
    /// The command's own options.
    fn options(&self) -> Vec<OptSpec>;
    /// Runs the command.
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Every option: the command's plus `-h` and `-n`.
    fn all_options(&self) -> Vec<OptSpec> {
        let mut specs = vec![HELP, NAMESRV];
        specs.extend(self.options());
        specs
    }
}

/// Every command, in the order `mqadmin help` lists them.
pub fn all() -> Vec<&'static dyn SubCommand> {
    vec![
        &topic_list::TopicListCommand,
        &topic_route::TopicRouteCommand,
        &cluster_list::ClusterListCommand,
        &update_kv_config::UpdateKvConfigCommand,
        &delete_kv_config::DeleteKvConfigCommand,
        &wipe_write_perm::WipeWritePermCommand,
        &add_write_perm::AddWritePermCommand,
        &get_namesrv_config::GetNamesrvConfigCommand,
        &update_namesrv_config::UpdateNamesrvConfigCommand,
        &query_msg_by_key::QueryMsgByKeyCommand,
        &query_msg_by_id::QueryMsgByIdCommand,
        &resend_msg_by_id::ResendMsgByIdCommand,
        &reset_offset_by_time::ResetOffsetByTimeCommand,
    ]
}

/// The command called `name`.
pub fn find(name: &str) -> Option<&'static dyn SubCommand> {
    all().into_iter().find(|c| c.name() == name)
}
