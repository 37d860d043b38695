//! Slave metadata sync (spec §7.6, Java `SlaveSynchronize`): every `slaveSyncIntervalMillis`
//! (10 s; first after 3 s) a slave copies the master's topic configs, consumer offsets, delay
//! offsets and subscription groups over ordinary remoting requests.
//!
//! Consumer offsets are merged, never rolled back (reliability #1094): a queue keeps the larger
//! of the slave's and the master's offset, since the slave's may have been committed by
//! consumers reading from it while the master was down. Offsets the slave holds ahead of the
//! master are pushed back to it (UPDATE_CONSUMER_OFFSET), so they survive the master's return.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use remoting::acl::SessionCredentials;
use remoting::body::admin::{ConsumerOffsetSerializeWrapper, SubscriptionGroupWrapper};
use remoting::body::topic::{DataVersion, TopicConfigSerializeWrapper};
use remoting::header::offset::UpdateConsumerOffsetRequestHeader;
use remoting::{
    CommandHeader, ExtFields, RemotingClient, RemotingCommand, RequestCode, ResponseCode,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::BrokerConfig;
use crate::services::ha::MasterLookup;
use crate::state::consumer_offset::ConsumerOffsetManager;
use crate::state::fencing::RoleState;
use crate::state::subscription_group::SubscriptionGroupManager;
use crate::state::topic_config::TopicConfigManager;

/// What the sync reaches of the broker: who it is and the three tables it copies into.
pub struct Handle {
    /// The broker's configuration (name, store root, TLS).
    pub config: Arc<BrokerConfig>,
    /// This broker's advertised address: a master lookup naming it is skipped.
    pub broker_addr: String,
    /// With ACL on, the account requests to the master are signed with (the first admin
    /// account of this broker's own ACL file: brokers of a cluster share one; see
    /// docs/security.md).
    pub credentials: Option<SessionCredentials>,
    /// Topics.
    pub topics: Arc<TopicConfigManager>,
    /// Subscription groups.
    pub groups: Arc<SubscriptionGroupManager>,
    /// Committed consumer offsets.
    pub offsets: Arc<ConsumerOffsetManager>,
    /// The role now: a slave promoted at run time stops copying.
    pub role: Arc<RoleState>,
}

/// Default period between syncs (Java: 10 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The sync period: env `RMQ_SLAVE_SYNC_INTERVAL_MS` (tests shorten it), else 10 s.
pub fn interval() -> Duration {
    std::env::var("RMQ_SLAVE_SYNC_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.max(100)))
        .unwrap_or(DEFAULT_INTERVAL)
}

/// Versions of the master's tables last applied.
#[derive(Default)]
struct Seen {
    topics: Option<DataVersion>,
    groups: Option<DataVersion>,
}

/// Runs the sync loop until `shutdown`.
pub async fn run(ctx: Handle, master: MasterLookup, shutdown: CancellationToken) {
    // With ACL on, the master wants signed requests (see `Handle::credentials`).
    let client = RemotingClient::new(remoting::ClientConfig {
        credentials: ctx.credentials.clone(),
        tls: remoting::tls::TlsClient::from_properties(&ctx.config.tls_properties())
            .ok()
            .flatten(),
        ..Default::default()
    });
    let every = interval();
    let mut seen = Seen::default();
    let mut wait = every.min(Duration::from_secs(3));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = every;
        if !ctx.role.is_slave() {
            // A master (promoted at run time with epochFencingEnable): nothing to copy.
            continue;
        }
        let Some(addr) = master().0 else {
            continue;
        };
        if addr == ctx.broker_addr {
            continue;
        }
        if let Err(e) = sync_once(&ctx, &client, &addr, &mut seen).await {
            warn!(master = %addr, error = %e, "slave metadata sync failed");
        }
    }
    client.shutdown();
}

async fn fetch(client: &RemotingClient, addr: &str, code: RequestCode) -> Result<Vec<u8>, String> {
    let req = RemotingCommand::request(code, ExtFields::default());
    let resp = client
        .invoke(addr, req, Duration::from_secs(5))
        .await
        .map_err(|e| format!("{code:?}: {e}"))?;
    if resp.code != ResponseCode::SUCCESS.0 {
        return Err(format!(
            "{code:?} answered {}: {}",
            resp.code,
            resp.remark_str()
        ));
    }
    Ok(resp.body.to_vec())
}

/// One round of the four syncs against the master at `addr`.
async fn sync_once(
    ctx: &Handle,
    client: &RemotingClient,
    addr: &str,
    seen: &mut Seen,
) -> Result<(), String> {
    // 1. Topics: replace when the master's version changed.
    let body = fetch(client, addr, RequestCode::GET_ALL_TOPIC_CONFIG).await?;
    let topics = TopicConfigSerializeWrapper::decode(&body).map_err(|e| e.to_string())?;
    if seen
        .topics
        .as_ref()
        .is_none_or(|v| !v.same_as(&topics.data_version))
    {
        apply_topics(ctx, &topics)?;
        seen.topics = Some(topics.data_version.clone());
    }
    // 2. Consumer offsets: merged by maximum, and ours pushed back where the master is behind.
    let body = fetch(client, addr, RequestCode::GET_ALL_CONSUMER_OFFSET).await?;
    let offsets: ConsumerOffsetSerializeWrapper =
        remoting::fastjson::from_slice(&body).map_err(|e| e.to_string())?;
    merge_offsets(ctx, client, addr, &offsets.offset_table).await;
    // 3. Delay offsets: verbatim into delayOffset.json (a master without the request is fine).
    match fetch(client, addr, RequestCode::GET_ALL_DELAY_OFFSET).await {
        Ok(body) if !body.is_empty() => {
            let path = PathBuf::from(&ctx.config.store_path_root_dir)
                .join("config")
                .join("delayOffset.json");
            let text = String::from_utf8_lossy(&body).into_owned();
            if let Err(e) = crate::state::persist::write_atomic(&path, &text) {
                warn!(error = %e, "cannot write delayOffset.json");
            }
        }
        Ok(_) => {}
        Err(e) => debug!(error = %e, "delay offsets not synced"),
    }
    // 4. Subscription groups: replace when the master's version changed.
    let body = fetch(client, addr, RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?;
    let groups: SubscriptionGroupWrapper =
        remoting::fastjson::from_slice(&body).map_err(|e| e.to_string())?;
    if seen
        .groups
        .as_ref()
        .is_none_or(|v| !v.same_as(&groups.data_version))
    {
        apply_groups(ctx, &groups)?;
        seen.groups = Some(groups.data_version.clone());
    }
    Ok(())
}

fn apply_topics(ctx: &Handle, master: &TopicConfigSerializeWrapper) -> Result<(), String> {
    let local = ctx.topics.snapshot();
    let mut changed = 0;
    for (name, tc) in &master.topic_config_table {
        if crate::names::check_topic(name).is_err() {
            continue;
        }
        if local.topic_config_table.get(name) != Some(tc) {
            ctx.topics.upsert(tc.clone()).map_err(|e| e.to_string())?;
            changed += 1;
        }
    }
    for name in local.topic_config_table.keys() {
        if !master.topic_config_table.contains_key(name) {
            ctx.topics.delete(name).map_err(|e| e.to_string())?;
            changed += 1;
        }
    }
    if changed > 0 {
        info!(
            changed,
            total = master.topic_config_table.len(),
            "topic configs synced from master"
        );
    }
    Ok(())
}

fn apply_groups(ctx: &Handle, master: &SubscriptionGroupWrapper) -> Result<(), String> {
    let local = ctx.groups.snapshot();
    let mut changed = 0;
    for (name, g) in &master.subscription_group_table {
        if crate::names::check_group(name).is_err() {
            continue;
        }
        if local.subscription_group_table.get(name) != Some(g) {
            ctx.groups.upsert(g.clone()).map_err(|e| e.to_string())?;
            changed += 1;
        }
    }
    for name in local.subscription_group_table.keys() {
        if !master.subscription_group_table.contains_key(name) {
            ctx.groups.delete(name).map_err(|e| e.to_string())?;
            changed += 1;
        }
    }
    if changed > 0 {
        info!(changed, "subscription groups synced from master");
    }
    Ok(())
}

async fn merge_offsets(
    ctx: &Handle,
    client: &RemotingClient,
    addr: &str,
    master: &BTreeMap<String, BTreeMap<i32, i64>>,
) {
    let mut taken = 0;
    for (key, queues) in master {
        let Some((topic, group)) = ConsumerOffsetSerializeWrapper::split_key(key) else {
            continue;
        };
        for (&q, &off) in queues {
            if ctx
                .offsets
                .query(group, topic, q)
                .is_none_or(|mine| off > mine)
            {
                ctx.offsets.commit(group, topic, q, off, i64::MAX);
                taken += 1;
            }
        }
    }
    // Push back what consumers committed here while the master was away.
    let mut pushed = 0;
    for (key, queues) in ctx.offsets.snapshot().offset_table {
        let Some((topic, group)) = ConsumerOffsetSerializeWrapper::split_key(&key) else {
            continue;
        };
        for (q, mine) in queues {
            let theirs = master.get(&key).and_then(|m| m.get(&q)).copied();
            if theirs.is_some_and(|t| t >= mine) {
                continue;
            }
            let h = UpdateConsumerOffsetRequestHeader {
                consumer_group: group.to_string(),
                topic: topic.to_string(),
                queue_id: q,
                commit_offset: mine,
                bname: Some(ctx.config.broker_name.clone()),
            };
            let req = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, h.to_ext());
            match client.invoke(addr, req, Duration::from_secs(5)).await {
                Ok(_) => pushed += 1,
                Err(e) => {
                    debug!(error = %e, "pushing a consumer offset to the master failed");
                    break;
                }
            }
        }
    }
    if taken + pushed > 0 {
        info!(
            taken,
            pushed, "consumer offsets merged with master (never rolled back)"
        );
    }
}
