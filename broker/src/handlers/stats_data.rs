//! VIEW_BROKER_STATS_DATA (315): one statistic's minute, hour and day figures from
//! [`crate::state::broker_stats`], as Java's `BrokerStatsData`.

use remoting::header::admin::ViewBrokerStatsDataRequestHeader;
use remoting::{RemotingCommand, ResponseCode};

use crate::state::broker_stats::BrokerStatsManager;

/// VIEW_BROKER_STATS_DATA (315): the minute, hour and day figures of one statistic; an unknown
/// statistic or key gets Java's SYSTEM_ERROR `The stats <name> <key> not exist`.
pub fn view_broker_stats_data(stats: &BrokerStatsManager, req: RemotingCommand) -> RemotingCommand {
    let h: ViewBrokerStatsDataRequestHeader = match req.ext_fields.decode() {
        Ok(h) => h,
        Err(e) => return req.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
    };
    let Some(item) = stats.item(&h.stats_name, &h.stats_key) else {
        return req.response_to(
            ResponseCode::SYSTEM_ERROR,
            Some(format!(
                "The stats <{}> <{}> not exist",
                h.stats_name, h.stats_key
            )),
        );
    };
    match serde_json::to_vec(&item.data()) {
        Ok(body) => req.success().with_body(body),
        Err(e) => req.response_to(ResponseCode::SYSTEM_ERROR, Some(e.to_string())),
    }
}
