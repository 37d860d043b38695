//! The failover controller of local mode (docs/failover.md): watches every broker group's
//! master through the name servers and the brokers' failover state, and when a master is lost
//! promotes the in-sync slave with the highest offset, re-points the other slaves and, once the
//! old master is reachable again, makes it a slave of the new one (the broker truncates its
//! divergent tail at the HA handshake).
//!
//! It needs brokers with `epochFencingEnable=true` and speaks to them only with the failover
//! admin codes of [`broker::failover_proto`]. `operator failover` runs it on its own (brokers on
//! other hosts, the network-namespace tests); the Kubernetes operator will drive the same steps.
//!
//! A master counts as lost when no name server lists it (all of them answered) for
//! `lost_after`, which is never less than the brokers' lease plus one second: by then a master
//! that is still running but cut off has stopped accepting writes (its lease ran out), so two
//! masters never accept writes at once (docs/failover.md "Timing").

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use broker::failover_proto::{
    FAILOVER_FENCE, FAILOVER_GET_STATE, FAILOVER_PROMOTE, FAILOVER_REPOINT, FailoverState,
};
use futures::future::join_all;
use remoting::body::cluster::ClusterInfo;
use remoting::{ExtFields, RemotingClient, RemotingCommand, RequestCode, ResponseCode};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// One broker group the controller watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// `brokerName`.
    pub name: String,
    /// SYNC_MASTER group (promotion then needs every slave to answer).
    pub sync: bool,
    /// Remoting addresses of every member (master and slaves), `host:port`.
    pub members: Vec<String>,
}

impl GroupSpec {
    /// Parses `NAME=SYNC|ASYNC:addr,addr,...`.
    pub fn parse(s: &str) -> Result<GroupSpec, String> {
        let (name, rest) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected NAME=SYNC|ASYNC:ADDR,ADDR"))?;
        let (mode, addrs) = rest
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: expected NAME=SYNC|ASYNC:ADDR,ADDR"))?;
        let sync = match mode {
            "SYNC" => true,
            "ASYNC" => false,
            other => return Err(format!("{s:?}: mode {other:?} is not SYNC or ASYNC")),
        };
        let members: Vec<String> = addrs
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect();
        if name.is_empty() || members.len() < 2 {
            return Err(format!(
                "{s:?}: a group needs a name and at least two members"
            ));
        }
        Ok(GroupSpec {
            name: name.to_string(),
            sync,
            members,
        })
    }
}

/// Settings of a controller.
#[derive(Debug, Clone)]
pub struct FailoverConfig {
    /// Every name server (`host:port`).
    pub namesrv: Vec<String>,
    /// The groups.
    pub groups: Vec<GroupSpec>,
    /// How long a master must be missing from every name server before failover.
    pub lost_after: Duration,
    /// Between two looks.
    pub poll: Duration,
    /// Timeout of one request to a broker or name server.
    pub request_timeout: Duration,
}

/// `operator failover`: a failover controller for brokers running anywhere.
#[derive(clap::Args, Debug, Clone)]
pub struct FailoverArgs {
    /// The name servers, `host:port;host:port`.
    #[arg(long)]
    pub namesrv: String,
    /// A group: `NAME=SYNC|ASYNC:ADDR,ADDR,...` (every member's remoting address). Repeatable.
    #[arg(long = "group", required = true)]
    pub groups: Vec<String>,
    /// Milliseconds a master must be missing from every name server before failover (at least
    /// the brokers' `fencingLeaseMillis` + 1000).
    #[arg(long, default_value_t = 5000)]
    pub lost_after_ms: u64,
    /// Milliseconds between two looks.
    #[arg(long, default_value_t = 500)]
    pub poll_ms: u64,
}

impl FailoverArgs {
    /// The controller settings these flags describe.
    pub fn config(&self) -> Result<FailoverConfig, String> {
        let groups = self
            .groups
            .iter()
            .map(|g| GroupSpec::parse(g))
            .collect::<Result<Vec<_>, _>>()?;
        let namesrv: Vec<String> = self
            .namesrv
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if namesrv.is_empty() {
            return Err("--namesrv names no name server".into());
        }
        Ok(FailoverConfig {
            namesrv,
            groups,
            lost_after: Duration::from_millis(self.lost_after_ms),
            poll: Duration::from_millis(self.poll_ms.max(50)),
            request_timeout: Duration::from_millis(1500),
        })
    }
}

/// What the controller did (also printed by `operator failover`, one line each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A slave was promoted.
    Failover {
        /// The group.
        group: String,
        /// The lost master (last known).
        old_master: Option<String>,
        /// The promoted slave.
        new_master: String,
        /// The new epoch.
        epoch: u32,
        /// The new epoch's start offset (the promoted slave's commit-log end).
        start: i64,
        /// The old master's commit-log end when last seen: `last_seen_end - start` bytes
        /// acknowledged under ASYNC_MASTER may be lost (reported, and truncated when it rejoins).
        last_seen_end: Option<i64>,
        /// From the first look without a master to the promotion.
        detect_ms: u64,
    },
    /// A stale master (or a slave following a wrong master) was re-pointed.
    Rejoined {
        /// The group.
        group: String,
        /// The broker re-pointed.
        broker: String,
        /// Its new broker id.
        broker_id: i64,
        /// The master it follows now.
        master: String,
    },
    /// Failover is needed but not possible now.
    Blocked {
        /// The group.
        group: String,
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Failover {
                group,
                old_master,
                new_master,
                epoch,
                start,
                last_seen_end,
                detect_ms,
            } => write!(
                f,
                "failover group={group} old={} new={new_master} epoch={epoch} start={start} old_end={} detect_ms={detect_ms}",
                old_master.as_deref().unwrap_or("-"),
                last_seen_end.map_or("-".to_string(), |e| e.to_string())
            ),
            Event::Rejoined {
                group,
                broker,
                broker_id,
                master,
            } => write!(
                f,
                "rejoined group={group} broker={broker} id={broker_id} master={master}"
            ),
            Event::Blocked { group, why } => write!(f, "blocked group={group} why={why:?}"),
        }
    }
}

#[derive(Debug, Default)]
struct GroupState {
    /// The master as last seen (listed by a name server, or promoted here).
    master: Option<String>,
    /// First look at which no name server listed a master.
    absent_since: Option<Instant>,
    /// Commit-log ends as last seen, by member.
    last_end: BTreeMap<String, i64>,
    /// The broker id each lost master gets when it returns (the promoted slave's old one).
    rejoin_id: BTreeMap<String, i64>,
    /// Last blocked reason logged (logged on change only).
    blocked: Option<String>,
}

/// The controller.
pub struct Controller {
    config: FailoverConfig,
    client: RemotingClient,
    groups: Vec<GroupState>,
}

impl Controller {
    /// A controller over `config`.
    pub fn new(config: FailoverConfig) -> Self {
        let groups = config
            .groups
            .iter()
            .map(|_| GroupState::default())
            .collect();
        Controller {
            config,
            client: RemotingClient::new(remoting::ClientConfig::default()),
            groups,
        }
    }

    /// Looks every `poll` until `shutdown`, handing every event to `on_event`.
    pub async fn run(mut self, shutdown: CancellationToken, mut on_event: impl FnMut(&Event)) {
        loop {
            for e in self.tick().await {
                on_event(&e);
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
        self.client.shutdown();
    }

    /// Replaces the watched name servers and groups (the Kubernetes controller calls this before
    /// every look: pod IPs change when pods restart). A group keeps what was remembered of it
    /// under the same name; groups no longer listed are forgotten.
    pub(crate) fn update_groups(&mut self, namesrv: Vec<String>, groups: Vec<GroupSpec>) {
        let mut old: BTreeMap<String, GroupState> = self
            .config
            .groups
            .iter()
            .map(|g| g.name.clone())
            .zip(std::mem::take(&mut self.groups))
            .collect();
        self.groups = groups
            .iter()
            .map(|g| old.remove(&g.name).unwrap_or_default())
            .collect();
        self.config.namesrv = namesrv;
        self.config.groups = groups;
    }

    /// One failover admin call (`code` of [`broker::failover_proto`]); the broker's state after
    /// it, or why not.
    pub(crate) async fn call(
        &self,
        addr: &str,
        code: i32,
        ext: ExtFields,
    ) -> Result<FailoverState, String> {
        let mut req = RemotingCommand::request(RequestCode(code), ExtFields::default());
        req.ext_fields = ext;
        let resp = self
            .client
            .invoke(addr, req, self.config.request_timeout)
            .await
            .map_err(|e| e.to_string())?;
        if resp.code != ResponseCode::SUCCESS.0 {
            return Err(format!("{}: {}", resp.code, resp.remark_str()));
        }
        serde_json::from_slice(&resp.body).map_err(|e| format!("bad failover state: {e}"))
    }

    /// The master of `group` at the name servers: `Err` when one did not answer.
    async fn listed_master(&self, group: &str) -> Result<Option<String>, String> {
        let looks = join_all(self.config.namesrv.iter().map(|ns| async move {
            let req = RemotingCommand::request(
                RequestCode::GET_BROKER_CLUSTER_INFO,
                ExtFields::default(),
            );
            let r = self
                .client
                .invoke(ns, req, self.config.request_timeout)
                .await
                .map_err(|e| format!("name server {ns}: {e}"))?;
            let info =
                ClusterInfo::decode(&r.body).map_err(|e| format!("name server {ns}: {e}"))?;
            Ok::<_, String>(
                info.broker_addr_table
                    .get(group)
                    .and_then(|b| b.broker_addrs.get(&0))
                    .cloned(),
            )
        }))
        .await;
        let mut master = None;
        for l in looks {
            if let Some(m) = l? {
                master = Some(m);
            }
        }
        Ok(master)
    }

    /// One look at every group; returns what was done.
    pub async fn tick(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        for i in 0..self.groups.len() {
            let spec = self.config.groups[i].clone();
            let mut st = std::mem::take(&mut self.groups[i]);
            self.tick_group(&spec, &mut st, &mut events).await;
            self.groups[i] = st;
        }
        events
    }

    async fn tick_group(&self, spec: &GroupSpec, st: &mut GroupState, events: &mut Vec<Event>) {
        let states: Vec<(String, Option<FailoverState>)> =
            join_all(spec.members.iter().map(|m| async move {
                let s = self
                    .call(m, FAILOVER_GET_STATE, ExtFields::default())
                    .await
                    .ok();
                (m.clone(), s)
            }))
            .await;
        for (m, s) in &states {
            if let Some(s) = s {
                st.last_end.insert(m.clone(), s.max_offset);
            }
        }
        let reachable: Vec<&FailoverState> =
            states.iter().filter_map(|(_, s)| s.as_ref()).collect();
        let top_epoch = reachable.iter().map(|s| s.epoch).max().unwrap_or(0);
        // The writable master of the newest epoch, if one answers.
        let current = reachable
            .iter()
            .find(|s| s.role != "SLAVE" && s.epoch == top_epoch && s.known_epoch == s.epoch)
            .map(|s| (*s).clone());
        if let Some(cur) = &current {
            st.master = Some(cur.broker_addr.clone());
            self.rejoin_stale(spec, st, cur, &reachable, events).await;
        }
        let listed = match self.listed_master(&spec.name).await {
            Ok(l) => l,
            Err(why) => {
                // Without every name server's word a master may still hold a valid lease.
                self.blocked(spec, st, format!("cannot decide: {why}"), events);
                return;
            }
        };
        if let Some(l) = listed {
            st.absent_since = None;
            st.blocked = None;
            if current.is_none() {
                st.master = Some(l);
            }
            return;
        }
        if let Some(cur) = &current
            && cur.write_refused.is_none()
        {
            // Writable but listed nowhere: it registers again any moment (its lease is valid).
            // The clock starts only once it stops answering or refuses writes, so a master that
            // was briefly unlisted long ago is not replaced the moment it later goes quiet.
            st.absent_since = None;
            return;
        }
        let since = *st.absent_since.get_or_insert_with(Instant::now);
        if since.elapsed() < self.config.lost_after {
            return;
        }
        self.failover(spec, st, &states, since, events).await;
    }

    fn blocked(&self, spec: &GroupSpec, st: &mut GroupState, why: String, events: &mut Vec<Event>) {
        if st.blocked.as_deref() != Some(why.as_str()) {
            warn!(group = %spec.name, %why, "failover blocked");
            events.push(Event::Blocked {
                group: spec.name.clone(),
                why: why.clone(),
            });
            st.blocked = Some(why);
        }
    }

    /// Re-points members that are masters of an older epoch (a returned old master) or slaves
    /// following someone else, to the current master.
    async fn rejoin_stale(
        &self,
        spec: &GroupSpec,
        st: &mut GroupState,
        cur: &FailoverState,
        reachable: &[&FailoverState],
        events: &mut Vec<Event>,
    ) {
        let used: Vec<i64> = reachable
            .iter()
            .filter(|s| s.role == "SLAVE")
            .map(|s| s.broker_id)
            .collect();
        for s in reachable {
            if s.broker_addr == cur.broker_addr {
                continue;
            }
            let stale_master = s.role != "SLAVE";
            // A slave that does not follow the current master: it missed the new epoch, or it
            // is not connected and follows someone else, or was frozen in an older epoch than
            // the master's (a FENCE dropped its connection and the REPOINT never came: the
            // controller stopped in between). A slave that has not connected yet after its
            // start (same epoch, following no one) is left to find its master itself.
            let wrong_master = s.role == "SLAVE"
                && (s.known_epoch < cur.epoch
                    || (!s.ha_connected
                        && (s.epoch < cur.epoch
                            || s.following.as_deref().is_some_and(|f| f != cur.ha_addr))));
            if !stale_master && !wrong_master {
                continue;
            }
            let id = if stale_master {
                st.rejoin_id
                    .get(&s.broker_addr)
                    .copied()
                    .filter(|id| !used.contains(id))
                    .unwrap_or_else(|| (1..).find(|i| !used.contains(i)).unwrap_or(1))
            } else {
                s.broker_id
            };
            let mut ext = ExtFields::default();
            ext.insert("epoch", cur.known_epoch.max(s.known_epoch).to_string());
            ext.insert("brokerId", id.to_string());
            ext.insert("masterAddr", cur.broker_addr.clone());
            ext.insert("masterHaAddr", cur.ha_addr.clone());
            match self.call(&s.broker_addr, FAILOVER_REPOINT, ext).await {
                Ok(_) => {
                    info!(group = %spec.name, broker = %s.broker_addr, id, master = %cur.broker_addr, "re-pointed to the current master");
                    st.rejoin_id.remove(&s.broker_addr);
                    events.push(Event::Rejoined {
                        group: spec.name.clone(),
                        broker: s.broker_addr.clone(),
                        broker_id: id,
                        master: cur.broker_addr.clone(),
                    });
                }
                Err(e) => {
                    warn!(group = %spec.name, broker = %s.broker_addr, error = %e, "re-point failed")
                }
            }
        }
    }

    async fn failover(
        &self,
        spec: &GroupSpec,
        st: &mut GroupState,
        states: &[(String, Option<FailoverState>)],
        since: Instant,
        events: &mut Vec<Event>,
    ) {
        let reachable: Vec<&FailoverState> =
            states.iter().filter_map(|(_, s)| s.as_ref()).collect();
        let epoch = reachable
            .iter()
            .map(|s| s.known_epoch.max(s.epoch))
            .max()
            .unwrap_or(1)
            + 1;
        // 1. Freeze: every reachable member learns the new epoch. Slaves stop following the
        //    old master (their offsets are final), a reachable old master is fenced.
        let mut frozen = Vec::new();
        for s in &reachable {
            let mut ext = ExtFields::default();
            ext.insert("epoch", epoch.to_string());
            match self.call(&s.broker_addr, FAILOVER_FENCE, ext).await {
                Ok(f) => frozen.push(f),
                Err(e) => {
                    warn!(group = %spec.name, broker = %s.broker_addr, error = %e, "fence failed")
                }
            }
        }
        let slaves: Vec<&FailoverState> = frozen.iter().filter(|s| s.role == "SLAVE").collect();
        // 2. SYNC_MASTER: an acknowledged message is on at least one slave, and only the one
        //    with the highest offset surely has them all: every slave must answer.
        let needed = if spec.sync { spec.members.len() - 1 } else { 1 };
        if slaves.len() < needed {
            self.blocked(
                spec,
                st,
                format!(
                    "{} of {} slaves answered ({} needed)",
                    slaves.len(),
                    spec.members.len() - 1,
                    needed
                ),
                events,
            );
            return;
        }
        let Some(pick) = slaves
            .iter()
            .max_by_key(|s| (s.max_offset, -s.broker_id))
            .map(|s| (*s).clone())
        else {
            return;
        };
        // 3. Promote.
        let mut ext = ExtFields::default();
        ext.insert("epoch", epoch.to_string());
        ext.insert(
            "role",
            if spec.sync {
                "SYNC_MASTER"
            } else {
                "ASYNC_MASTER"
            },
        );
        let promoted = match self.call(&pick.broker_addr, FAILOVER_PROMOTE, ext).await {
            Ok(p) => p,
            Err(e) => {
                self.blocked(
                    spec,
                    st,
                    format!("promote {}: {e}", pick.broker_addr),
                    events,
                );
                return;
            }
        };
        let old_master = st.master.clone().filter(|m| *m != pick.broker_addr);
        let last_seen_end = old_master
            .as_ref()
            .and_then(|m| st.last_end.get(m).copied());
        if let Some(old) = &old_master {
            st.rejoin_id.insert(old.clone(), pick.broker_id);
        }
        let start = promoted.epochs.last().map_or(promoted.max_offset, |e| e.1);
        info!(group = %spec.name, new = %promoted.broker_addr, epoch, start, old = ?old_master, "failover: slave promoted");
        events.push(Event::Failover {
            group: spec.name.clone(),
            old_master,
            new_master: promoted.broker_addr.clone(),
            epoch,
            start,
            last_seen_end,
            detect_ms: since.elapsed().as_millis() as u64,
        });
        st.master = Some(promoted.broker_addr.clone());
        st.absent_since = None;
        st.blocked = None;
        // 4. Re-point the other slaves (and a reachable, now fenced old master).
        let others: Vec<&FailoverState> = frozen
            .iter()
            .filter(|s| s.broker_addr != promoted.broker_addr)
            .collect();
        self.rejoin_stale(spec, st, &promoted, &others, events)
            .await;
    }
}

/// The controller `operator local` runs for its own processes: every group whose brokers have
/// `epochFencingEnable=true` in their rendered broker.conf (the cluster file's
/// `spec.broker.config`). `None` when no group has it.
pub fn local_config(local: &super::LocalPlan) -> Option<FailoverConfig> {
    let mut groups: BTreeMap<String, GroupSpec> = BTreeMap::new();
    let mut lease = 0u64;
    for p in &local.processes {
        if !matches!(p.role, super::Role::Master | super::Role::Slave) {
            continue;
        }
        let keys: BTreeMap<&str, &str> = p
            .config
            .1
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        if keys.get("epochFencingEnable") != Some(&"true") {
            continue;
        }
        lease = lease.max(
            keys.get("fencingLeaseMillis")
                .and_then(|v| v.parse().ok())
                .unwrap_or(4000),
        );
        let Some(name) = keys.get("brokerName") else {
            continue;
        };
        let g = groups.entry(name.to_string()).or_insert_with(|| GroupSpec {
            name: name.to_string(),
            sync: false,
            members: Vec::new(),
        });
        if keys.get("brokerRole") == Some(&"SYNC_MASTER") {
            g.sync = true;
        }
        g.members.push(format!("127.0.0.1:{}", p.port));
    }
    let groups: Vec<GroupSpec> = groups
        .into_values()
        .filter(|g| g.members.len() > 1)
        .collect();
    if groups.is_empty() {
        return None;
    }
    Some(FailoverConfig {
        namesrv: local
            .namesrv_addr
            .split(';')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        groups,
        lost_after: Duration::from_millis(lease + 1000),
        poll: Duration::from_millis(500),
        request_timeout: Duration::from_millis(1500),
    })
}

/// `operator failover`: runs a controller until SIGINT/SIGTERM, printing every event.
pub async fn run_cli(args: FailoverArgs) -> Result<(), String> {
    let config = args.config()?;
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
        });
    }
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            term.recv().await;
            shutdown.cancel();
        });
    }
    super::say(format!(
        "failover controller boot success: {} group(s), lost after {} ms",
        config.groups.len(),
        config.lost_after.as_millis()
    ));
    Controller::new(config)
        .run(shutdown, |e| super::say(e.to_string()))
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_flags_parse_and_refuse_nonsense() {
        let g = GroupSpec::parse("broker-a=SYNC:198.18.0.2:10911,198.18.0.3:10911").unwrap();
        assert!(g.sync);
        assert_eq!(g.members, vec!["198.18.0.2:10911", "198.18.0.3:10911"]);
        assert!(GroupSpec::parse("broker-a=ASYNC:198.18.0.2:10911").is_err());
        assert!(GroupSpec::parse("broker-a=MAYBE:a:1,b:2").is_err());
        assert!(GroupSpec::parse("nonsense").is_err());
    }

    fn process(role: super::super::Role, port: u16, conf: &str) -> super::super::LocalProcess {
        super::super::LocalProcess {
            name: format!("p{port}"),
            role,
            port,
            dir: std::path::PathBuf::from("/nonexistent"),
            config: (
                std::path::PathBuf::from("/nonexistent/broker.conf"),
                conf.into(),
            ),
            binary: "broker",
            args: Vec::new(),
        }
    }

    #[test]
    fn local_mode_watches_only_groups_with_fencing() {
        use super::super::Role;
        let fenced = "brokerName=a\nepochFencingEnable=true\nfencingLeaseMillis=3000\n";
        let plan = super::super::LocalPlan {
            processes: vec![
                process(Role::NameServer, 9876, "listenPort=9876\n"),
                process(
                    Role::Master,
                    10911,
                    &format!("{fenced}brokerRole=SYNC_MASTER\n"),
                ),
                process(Role::Slave, 10921, &format!("{fenced}brokerRole=SLAVE\n")),
                process(
                    Role::Master,
                    10931,
                    "brokerName=b\nbrokerRole=ASYNC_MASTER\n",
                ),
                process(Role::Slave, 10941, "brokerName=b\nbrokerRole=SLAVE\n"),
            ],
            namesrv_addr: "127.0.0.1:9876".into(),
        };
        let c = local_config(&plan).unwrap();
        assert_eq!(
            c.groups,
            vec![GroupSpec {
                name: "a".into(),
                sync: true,
                members: vec!["127.0.0.1:10911".into(), "127.0.0.1:10921".into()],
            }]
        );
        assert_eq!(c.lost_after, Duration::from_millis(4000));
        assert_eq!(c.namesrv, vec!["127.0.0.1:9876"]);
        let plain = super::super::LocalPlan {
            processes: plan.processes[3..].to_vec(),
            namesrv_addr: plan.namesrv_addr.clone(),
        };
        assert!(local_config(&plain).is_none());
    }
}
