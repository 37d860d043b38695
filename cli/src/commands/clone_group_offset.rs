//! `cloneGroupOffset -s srcGroup -d destGroup -t topic [-o offline]`: gives the destination
//! group an offset on every queue the source group has statistics for, as Java's
//! `CloneGroupOffsetCommand` does — which sets each to the queue's *broker* offset (its end),
//! not the source group's consumer offset.

use remoting::header::offset::UpdateConsumerOffsetRequestHeader;
use remoting::{CommandHeader, RemotingCommand, RequestCode};

use super::{Command, Out};
use crate::admin::{Admin, check};
use crate::args::{OptSpec, ParsedArgs};
use crate::error::Result;

/// `mqadmin cloneGroupOffset`.
pub struct CloneGroupOffsetCommand;

impl Command for CloneGroupOffsetCommand {
    fn name(&self) -> &'static str {
        "cloneGroupOffset"
    }
    fn description(&self) -> &'static str {
        "clone offset from other group."
    }
    fn options(&self) -> Vec<OptSpec> {
        vec![
            OptSpec::arg("s", "srcGroup", true, "set source consumer group"),
            OptSpec::arg("d", "destGroup", true, "set destination consumer group"),
            OptSpec::arg("t", "topic", true, "set the topic"),
            OptSpec::arg("o", "offline", false, "the group or the topic is offline"),
        ]
    }
    async fn run(&self, args: &ParsedArgs, admin: &Admin, out: Out<'_>) -> Result<()> {
        let src = args.required("s")?.trim();
        let dest = args.required("d")?.trim();
        let topic = args.required("t")?.trim();
        let stats = admin.typed()?.consume_stats(src, None).await?;
        if !stats.offset_table.is_empty() {
            let route = admin.topic_route(topic).await?;
            for (mq, w) in stats.offset_table.iter() {
                // Java `selectBrokerAddr`: the master, else any member.
                let Some(addr) = route
                    .broker_datas
                    .iter()
                    .find(|b| b.broker_name == mq.broker_name)
                    .and_then(|b| {
                        b.broker_addrs
                            .get(&0)
                            .or_else(|| b.broker_addrs.values().next())
                    })
                else {
                    continue;
                };
                if w.broker_offset < 0 {
                    continue;
                }
                let h = UpdateConsumerOffsetRequestHeader {
                    consumer_group: dest.to_string(),
                    topic: mq.topic.clone(),
                    queue_id: mq.queue_id,
                    commit_offset: w.broker_offset,
                    bname: Some(mq.broker_name.clone()),
                };
                let req = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, h.to_ext());
                check(addr, admin.invoke(addr, req).await?)?;
            }
        }
        writeln!(
            out,
            "clone group offset success. srcGroup[{src}], destGroup=[{dest}], topic[{topic}]"
        )?;
        Ok(())
    }
}
