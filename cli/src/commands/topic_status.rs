//! `topicStatus -t T`: min/max offset and last update of every queue of a topic (Java
//! `TopicStatusSubCommand`).

use super::broker_format::human_time;
use super::{Command, Out};
use crate::admin::Admin;
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin topicStatus`.
pub struct TopicStatusCommand;

impl Command for TopicStatusCommand {
    fn name(&self) -> &'static str {
        "topicStatus"
    }
    fn description(&self) -> &'static str {
        "Examine topic Status info"
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![OptSpec::arg("t", "topic", true, "topic name")]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let topic = args.required("t")?;
        let stats = admin.typed()?.topic_stats(topic).await?;
        let mut rows: Vec<_> = stats.offset_table.0.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        writeln!(
            out,
            "{:<32}  {:<4}  {:<20}  {:<20}    #Last Updated",
            "#Broker Name", "#QID", "#Min Offset", "#Max Offset"
        )?;
        for (mq, off) in rows {
            let last = if off.last_update_timestamp > 0 {
                human_time(off.last_update_timestamp)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{:<32}  {:<4}  {:<20}  {:<20}    {}",
                mq.broker_name, mq.queue_id, off.min_offset, off.max_offset, last
            )?;
        }
        Ok(())
    }
}
