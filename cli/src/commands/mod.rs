//! The subcommands, one module each, and the registry `mqadmin` dispatches on.
//!
//! A command implements [`Command`]: it declares its options (beyond `-h` and `-n`, which every
//! command has) and runs against an [`Admin`]; output goes to the writer it is given so tests
//! can capture it. New
//! commands (broker ones, a bench) add a module and one line in [`all`].

use std::io::Write;

use futures::future::BoxFuture;

use crate::admin::Admin;
use crate::args::{HELP, NAMESRV, OptSpec, ParsedArgs};
use crate::error::Result;

pub mod acl;
pub mod allocate_mq;
pub mod bench_consumer;
pub mod bench_producer;
pub mod bench_stats;
pub mod broker_consume_stats;
pub mod broker_format;
pub mod broker_maintenance;
pub mod broker_status;
pub mod clone_group_offset;
pub mod cluster_list;
pub mod cluster_list_more;
pub mod cluster_rt;
pub mod consume_message;
pub mod consumer_connection;
pub mod consumer_progress;
pub mod consumer_progress_all;
pub mod consumer_status;
pub mod delete_kv_config;
pub mod delete_sub_group;
pub mod delete_topic;
pub mod export;
pub mod export_metrics;
pub mod get_broker_config;
pub mod get_consumer_config;
pub mod get_namesrv_config;
pub mod message_print;
pub mod print_msg;
pub mod producer;
pub mod producer_connection;
pub mod query_cq;
pub mod query_msg_by_id;
pub mod query_msg_by_key;
pub mod query_msg_by_offset;
pub mod query_msg_by_unique_key;
pub mod query_msg_trace_by_id;
pub mod resend_msg_by_id;
pub mod reset_offset_by_time;
pub mod send_message;
pub mod send_rt;
pub mod skip_accumulated;
pub mod start_monitoring;
pub mod stats_all;
pub mod topic_cluster_list;
pub mod topic_list;
pub mod topic_route;
pub mod topic_status;
pub mod update_broker_config;
pub mod update_kv_config;
pub mod update_namesrv_config;
pub mod update_order_conf;
pub mod update_sub_group;
pub mod update_topic;
pub mod update_topic_perm;
pub mod write_perm;

/// Where a command writes its output.
pub type Out<'a> = &'a mut (dyn Write + Send);

/// One `mqadmin` subcommand, as [`crate::run`] calls it (object-safe: [`all`] lists them).
/// Commands implement [`Command`] instead; this is implemented for each of them.
pub trait SubCommand: Sync {
    /// The name typed on the command line (Java's `commandName()`).
    fn name(&self) -> &'static str;
    /// Another name it answers to (Java's `commandAlias()`).
    fn alias(&self) -> Option<&'static str>;
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

/// What a command module writes: its name, description and options, and `run` as a plain
/// `async fn` (the boxing [`SubCommand`] needs is done once, below). `-h` and `-n` are added
/// to every command's options, and the admin client is set up from them before `run`.
pub trait Command: Sync {
    /// The name typed on the command line (Java's `commandName()`).
    fn name(&self) -> &'static str;
    /// Another name it answers to (Java's `commandAlias()`).
    fn alias(&self) -> Option<&'static str> {
        None
    }
    /// One line for the command list (Java's `commandDesc()`).
    fn description(&self) -> &'static str;
    /// The command's own options.
    fn options(&self) -> Vec<OptSpec>;
    /// Runs the command, writing its output to `out`.
    fn run(
        &self,
        args: &ParsedArgs,
        admin: &Admin,
        out: Out<'_>,
    ) -> impl Future<Output = Result<()>> + Send;
}

impl<C: Command> SubCommand for C {
    fn name(&self) -> &'static str {
        Command::name(self)
    }
    fn alias(&self) -> Option<&'static str> {
        Command::alias(self)
    }
    fn description(&self) -> &'static str {
        Command::description(self)
    }
    fn options(&self) -> Vec<OptSpec> {
        Command::options(self)
    }
    fn execute<'a>(
        &'a self,
        args: &'a ParsedArgs,
        admin: &'a Admin,
        out: Out<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.run(args, admin, out))
    }
}

/// Every command, in the order `mqadmin help` lists them.
pub fn all() -> Vec<&'static dyn SubCommand> {
    vec![
        &update_topic::UpdateTopicCommand,
        &delete_topic::DeleteTopicCommand,
        &update_sub_group::UpdateSubGroupCommand,
        &topic_list::TopicListCommand,
        &topic_status::TopicStatusCommand,
        &topic_route::TopicRouteCommand,
        &cluster_list::ClusterListCommand,
        &update_kv_config::UpdateKvConfigCommand,
        &delete_kv_config::DeleteKvConfigCommand,
        &write_perm::WipeWritePermCommand,
        &write_perm::AddWritePermCommand,
        &get_namesrv_config::GetNamesrvConfigCommand,
        &update_namesrv_config::UpdateNamesrvConfigCommand,
        &broker_status::BrokerStatusCommand,
        &consumer_progress::ConsumerProgressCommand,
        &consumer_connection::ConsumerConnectionCommand,
        &consumer_status::ConsumerStatusCommand,
        &producer_connection::ProducerConnectionCommand,
        &send_message::SendMessageCommand,
        &consume_message::ConsumeMessageCommand,
        &query_msg_by_key::QueryMsgByKeyCommand,
        &query_msg_by_id::QueryMsgByIdCommand,
        &resend_msg_by_id::ResendMsgByIdCommand,
        &reset_offset_by_time::ResetOffsetByTimeCommand,
        &get_broker_config::GetBrokerConfigCommand,
        &update_broker_config::UpdateBrokerConfigCommand,
        &delete_sub_group::DeleteSubGroupCommand,
        &topic_cluster_list::TopicClusterListCommand,
        &update_topic_perm::UpdateTopicPermCommand,
        &broker_consume_stats::BrokerConsumeStatsCommand,
        &producer::ProducerCommand,
        &query_msg_by_unique_key::QueryMsgByUniqueKeyCommand,
        &query_msg_by_offset::QueryMsgByOffsetCommand,
        &allocate_mq::AllocateMqCommand,
        &update_order_conf::UpdateOrderConfCommand,
        &send_rt::CheckMsgSendRtCommand,
        &send_rt::SendMsgStatusCommand,
        &clone_group_offset::CloneGroupOffsetCommand,
        &query_cq::QueryCqCommand,
        &print_msg::PrintMsgCommand,
        &print_msg::PrintMsgByQueueCommand,
        &export::ExportMetadataCommand,
        &export::ExportConfigsCommand,
        &export_metrics::ExportMetricsCommand,
        &stats_all::StatsAllCommand,
        &start_monitoring::StartMonitoringCommand,
        &query_msg_trace_by_id::QueryMsgTraceByIdCommand,
        &get_consumer_config::GetConsumerConfigCommand,
        &skip_accumulated::SkipAccumulatedMessageCommand,
        &cluster_rt::ClusterRtCommand,
        &broker_maintenance::CLEAN_UNUSED_TOPIC,
        &broker_maintenance::CLEAN_EXPIRED_CQ,
        &broker_maintenance::DELETE_EXPIRED_COMMIT_LOG,
        &bench_producer::BenchProducerCommand,
        &bench_consumer::BenchConsumerCommand,
        &acl::UpdateAclConfigCommand,
        &acl::DeleteAccessConfigCommand,
        &acl::UpdateGlobalWhiteAddrCommand,
        &acl::ClusterAclConfigVersionCommand,
        &acl::GetAccessConfigCommand,
    ]
}

/// The command called `name`.
pub fn find(name: &str) -> Option<&'static dyn SubCommand> {
    // Java's findSubCommand: the name or the alias, in any case.
    all().into_iter().find(|c| {
        c.name().eq_ignore_ascii_case(name)
            || c.alias().is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands Java 4.9.7's `MQAdminStartup.initCommand` registers, by `commandName()`.
    const JAVA_4_9_7_COMMANDS: &[&str] = &[
        "addWritePerm",
        "allocateMQ",
        "brokerConsumeStats",
        "brokerStatus",
        "checkMsgSendRT",
        "cleanExpiredCQ",
        "cleanUnusedTopic",
        "cloneGroupOffset",
        "clusterAclConfigVersion",
        "clusterList",
        "clusterRT",
        "consumeMessage",
        "consumerConnection",
        "consumerProgress",
        "consumerStatus",
        "deleteAclConfig",
        "deleteExpiredCommitLog",
        "deleteKvConfig",
        "deleteSubGroup",
        "deleteTopic",
        "exportConfigs",
        "exportMetadata",
        "exportMetrics",
        "getAclConfig",
        "getBrokerConfig",
        "getConsumerConfig",
        "getNamesrvConfig",
        "printMsg",
        "printMsgByQueue",
        "producer",
        "producerConnection",
        "queryCq",
        "queryMsgById",
        "queryMsgByKey",
        "queryMsgByOffset",
        "queryMsgByUniqueKey",
        "queryMsgTraceById",
        "resetOffsetByTime",
        "sendMessage",
        "sendMsgStatus",
        "skipAccumulatedMessage",
        "startMonitoring",
        "statsAll",
        "topicClusterList",
        "topicList",
        "topicRoute",
        "topicStatus",
        "updateAclConfig",
        "updateBrokerConfig",
        "updateGlobalWhiteAddr",
        "updateKvConfig",
        "updateNamesrvConfig",
        "updateOrderConf",
        "updateSubGroup",
        "updateTopic",
        "updateTopicPerm",
        "wipeWritePerm",
    ];

    #[test]
    fn every_java_4_9_7_command_is_here_under_its_name() {
        assert_eq!(JAVA_4_9_7_COMMANDS.len(), 57);
        for name in JAVA_4_9_7_COMMANDS {
            let c = find(name);
            assert!(c.is_some_and(|c| c.name() == *name), "{name} missing");
        }
    }

    #[test]
    fn names_and_aliases_match_in_any_case_as_javas_do() {
        let name = |n: &str| find(n).map(|c| c.name());
        assert_eq!(name("deleteAccessConfig"), Some("deleteAclConfig"));
        assert_eq!(name("getAccessConfigSubCommand"), Some("getAclConfig"));
        assert_eq!(name("QueryMsgTraceById"), Some("queryMsgTraceById"));
        assert_eq!(name("STATSALL"), Some("statsAll"));
        assert_eq!(name("noSuchCommand"), None);
    }
}
