//! Admin request codes Java `mqadmin` 4.9 uses beyond the original set. So far:
//! GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305), used by `exportMetadata` / `exportMetrics`.

use remoting::RemotingCommand;
use remoting::ResponseCode;
use remoting::body::topic::TopicList;

use crate::context::BrokerContext;

/// GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305): the broker's built-in topics (Java
/// `TopicConfigManager.getSystemTopic`), as a `TopicList` body without a broker address.
pub fn system_topic_list(ctx: &BrokerContext, req: RemotingCommand) -> RemotingCommand {
    let body = TopicList {
        topic_list: crate::topic_config::builtin_topics(&ctx.config)
            .into_iter()
            .map(|t| t.topic_name)
            .collect(),
        broker_addr: None,
    };
    match body.encode() {
        Ok(b) => req.success().with_body(b),
        Err(e) => req.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
    }
}
