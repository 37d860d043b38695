//! The route tables (`RouteInfoManager`, spec §8.2): which broker groups serve which topics,
//! which addresses each group has, which cluster holds each group, and which brokers are alive.
//!
//! One read/write lock guards all tables so every answer is a consistent snapshot; route lookups
//! (the hot path) take it shared.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use remoting::Connection;
use remoting::body::cluster::ClusterInfo;
use remoting::body::route::{BrokerData, MASTER_ID, QueueData, TopicRouteData};
use remoting::body::topic::{DataVersion, TopicConfigSerializeWrapper, TopicList, perm, sys_flag};
use tracing::{info, warn};

/// What a broker sends when it registers.
#[derive(Debug, Clone)]
pub struct BrokerRegistration {
    /// Cluster name.
    pub cluster_name: String,
    /// `ip:port` of the broker.
    pub broker_addr: String,
    /// Broker group name.
    pub broker_name: String,
    /// 0 = master.
    pub broker_id: i64,
    /// `ip:port` of its HA service.
    pub ha_server_addr: String,
    /// Its topics, when the body carried them.
    pub topics: Option<TopicConfigSerializeWrapper>,
    /// Filter server addresses.
    pub filter_server_list: Vec<String>,
    /// A per-broker expiry (5.x `heartbeatTimeoutMillis`), else the server's.
    pub heartbeat_timeout: Option<Duration>,
    /// The connection it registered over: closing it unregisters the broker.
    pub connection: Option<Connection>,
}

/// The answer to a registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterResult {
    /// For a slave whose master is alive: the master's address.
    pub master_addr: Option<String>,
    /// For a slave whose master is alive: the master's HA address.
    pub ha_server_addr: Option<String>,
}

/// Why a broker address left the tables (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// UNREGISTER_BROKER.
    Unregistered,
    /// Its registering connection closed.
    ConnectionClosed,
    /// No registration within the expiry.
    Expired,
    /// The broker re-registered from another address.
    AddressReplaced,
}

#[derive(Debug, Clone)]
struct BrokerLiveInfo {
    last_update: Instant,
    heartbeat_timeout: Option<Duration>,
    data_version: DataVersion,
    connection: Option<Connection>,
    ha_server_addr: String,
    broker_name: String,
}

#[derive(Debug, Default)]
struct Tables {
    topic_queue_table: HashMap<String, BTreeMap<String, QueueData>>,
    broker_addr_table: BTreeMap<String, BrokerData>,
    cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
    broker_live_table: HashMap<String, BrokerLiveInfo>,
    filter_server_table: HashMap<String, Vec<String>>,
}

/// The route tables of one name server.
#[derive(Debug, Default)]
pub struct RouteInfoManager {
    tables: RwLock<Tables>,
}

impl RouteInfoManager {
    /// Empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// REGISTER_BROKER (spec §8.2 steps 1–6).
    pub fn register_broker(&self, reg: BrokerRegistration, now: Instant) -> RegisterResult {
        let mut guard = self.tables.write();
        let t = &mut *guard;
        t.cluster_addr_table
            .entry(reg.cluster_name.clone())
            .or_default()
            .insert(reg.broker_name.clone());
        let group = t
            .broker_addr_table
            .entry(reg.broker_name.clone())
            .or_insert_with(|| BrokerData::new(&reg.cluster_name, &reg.broker_name));
        // A role switch: the same address under another id is dropped first.
        group
            .broker_addrs
            .retain(|id, addr| !(*addr == reg.broker_addr && *id != reg.broker_id));
        let old_addr = group
            .broker_addrs
            .insert(reg.broker_id, reg.broker_addr.clone());
        let first_registration = old_addr.is_none();
        if let Some(old) = old_addr.filter(|old| *old != reg.broker_addr) {
            // The broker moved (pod IP churn): its old address must stop being served at once.
            t.broker_live_table.remove(&old);
            t.filter_server_table.remove(&old);
            info!(broker = %reg.broker_name, id = reg.broker_id, old = %old,
                new = %reg.broker_addr, reason = ?RemovalReason::AddressReplaced, "broker address replaced");
        }
        let previous = t.broker_live_table.get(&reg.broker_addr);
        let changed = previous.is_none_or(|p| {
            reg.topics
                .as_ref()
                .is_some_and(|w| !p.data_version.same_as(&w.data_version))
        });
        if reg.broker_id == MASTER_ID
            && (first_registration || changed)
            && let Some(wrapper) = &reg.topics
        {
            for config in wrapper.topic_config_table.values() {
                let queue = QueueData {
                    broker_name: reg.broker_name.clone(),
                    read_queue_nums: config.read_queue_nums,
                    write_queue_nums: config.write_queue_nums,
                    perm: config.perm,
                    topic_sys_flag: config.topic_sys_flag,
                };
                t.topic_queue_table
                    .entry(config.topic_name.clone())
                    .or_default()
                    .insert(reg.broker_name.clone(), queue);
            }
        }
        let data_version = match (&reg.topics, previous) {
            (Some(w), _) => w.data_version.clone(),
            (None, Some(p)) => p.data_version.clone(),
            (None, None) => DataVersion {
                timestamp: 0,
                counter: 0,
                state_version: None,
            },
        };
        let is_new = previous.is_none();
        t.broker_live_table.insert(
            reg.broker_addr.clone(),
            BrokerLiveInfo {
                last_update: now,
                heartbeat_timeout: reg.heartbeat_timeout,
                data_version,
                connection: reg.connection,
                ha_server_addr: reg.ha_server_addr.clone(),
                broker_name: reg.broker_name.clone(),
            },
        );
        if reg.filter_server_list.is_empty() {
            t.filter_server_table.remove(&reg.broker_addr);
        } else {
            t.filter_server_table
                .insert(reg.broker_addr.clone(), reg.filter_server_list);
        }
        if is_new {
            info!(cluster = %reg.cluster_name, broker = %reg.broker_name, id = reg.broker_id,
                addr = %reg.broker_addr, "new broker registered");
        }
        let mut result = RegisterResult::default();
        if reg.broker_id != MASTER_ID
            && let Some(master) = t
                .broker_addr_table
                .get(&reg.broker_name)
                .and_then(|g| g.master_addr())
            && let Some(live) = t.broker_live_table.get(master)
        {
            result.master_addr = Some(master.to_string());
            result.ha_server_addr = Some(live.ha_server_addr.clone());
        }
        result
    }

    /// UNREGISTER_BROKER: removes `broker_addr` (as member `broker_id` of `broker_name`).
    pub fn unregister_broker(
        &self,
        cluster_name: &str,
        broker_addr: &str,
        broker_name: &str,
        broker_id: i64,
    ) {
        let mut t = self.tables.write();
        t.broker_live_table.remove(broker_addr);
        t.filter_server_table.remove(broker_addr);
        if let Some(group) = t.broker_addr_table.get_mut(broker_name)
            && group.broker_addrs.get(&broker_id).map(String::as_str) == Some(broker_addr)
        {
            group.broker_addrs.remove(&broker_id);
        }
        info!(cluster = cluster_name, broker = broker_name, id = broker_id, addr = broker_addr,
            reason = ?RemovalReason::Unregistered, "broker removed");
        cleanup_group(&mut t, broker_name);
    }

    /// Removes every broker that registered over connection `conn_id` (it closed). Returns their
    /// addresses.
    pub fn on_connection_closed(&self, conn_id: u64) -> Vec<String> {
        let mut t = self.tables.write();
        let gone: Vec<String> = t
            .broker_live_table
            .iter()
            .filter(|(_, live)| live.connection.as_ref().is_some_and(|c| c.id() == conn_id))
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &gone {
            remove_addr(&mut t, addr, RemovalReason::ConnectionClosed);
        }
        gone
    }

    /// Removes brokers silent for longer than their expiry (`default_expiry` unless they set
    /// their own) and closes their connections. Returns their addresses.
    pub fn scan_not_active_brokers(&self, now: Instant, default_expiry: Duration) -> Vec<String> {
        let mut t = self.tables.write();
        let gone: Vec<(String, Option<Connection>)> = t
            .broker_live_table
            .iter()
            .filter(|(_, live)| {
                now.saturating_duration_since(live.last_update)
                    > live.heartbeat_timeout.unwrap_or(default_expiry)
            })
            .map(|(addr, live)| (addr.clone(), live.connection.clone()))
            .collect();
        for (addr, conn) in &gone {
            warn!(addr = %addr, expiry_ms = default_expiry.as_millis() as u64,
                "broker expired: no registration within the expiry");
            remove_addr(&mut t, addr, RemovalReason::Expired);
            if let Some(conn) = conn {
                conn.close();
            }
        }
        gone.into_iter().map(|(a, _)| a).collect()
    }

    /// QUERY_DATA_VERSION: whether `version` differs from what `broker_addr` last registered, and
    /// the stored version. An unchanged version counts as a heartbeat.
    pub fn query_data_version(
        &self,
        broker_addr: &str,
        version: &DataVersion,
        now: Instant,
    ) -> (bool, Option<DataVersion>) {
        let mut t = self.tables.write();
        match t.broker_live_table.get_mut(broker_addr) {
            Some(live) if live.data_version.same_as(version) => {
                live.last_update = now;
                (false, Some(live.data_version.clone()))
            }
            Some(live) => (true, Some(live.data_version.clone())),
            None => (true, None),
        }
    }

    /// The route of `topic` (spec §8.2 "Route construction"), or `None` when no live broker
    /// group serves it.
    pub fn topic_route(&self, topic: &str) -> Option<TopicRouteData> {
        let t = self.tables.read();
        let queues = t.topic_queue_table.get(topic)?;
        let queue_datas: Vec<QueueData> = queues.values().cloned().collect();
        let mut broker_datas = Vec::with_capacity(queues.len());
        let mut filter_server_table = BTreeMap::new();
        for name in queues.keys() {
            if let Some(group) = t.broker_addr_table.get(name) {
                for addr in group.broker_addrs.values() {
                    if let Some(filters) = t.filter_server_table.get(addr) {
                        filter_server_table.insert(addr.clone(), filters.clone());
                    }
                }
                broker_datas.push(group.clone());
            }
        }
        if queue_datas.is_empty() || broker_datas.is_empty() {
            return None;
        }
        Some(TopicRouteData {
            order_topic_conf: None,
            queue_datas,
            broker_datas,
            filter_server_table,
        })
    }

    /// GET_BROKER_CLUSTER_INFO.
    pub fn cluster_info(&self) -> ClusterInfo {
        let t = self.tables.read();
        ClusterInfo {
            broker_addr_table: t.broker_addr_table.clone(),
            cluster_addr_table: t.cluster_addr_table.clone(),
        }
    }

    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
    pub fn all_topics(&self) -> TopicList {
        let t = self.tables.read();
        TopicList {
            topic_list: t.topic_queue_table.keys().cloned().collect(),
            broker_addr: None,
        }
    }

    /// GET_TOPICS_BY_CLUSTER: topics with queues on any group of `cluster`.
    pub fn topics_by_cluster(&self, cluster: &str) -> TopicList {
        let t = self.tables.read();
        let groups = t.cluster_addr_table.get(cluster);
        let topic_list = t
            .topic_queue_table
            .iter()
            .filter(|(_, queues)| {
                groups.is_some_and(|g| queues.keys().any(|name| g.contains(name)))
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        TopicList {
            topic_list,
            broker_addr: None,
        }
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: as Java, cluster names and broker group names (each is a
    /// system topic of the same name) plus one broker address to ask for the rest.
    pub fn system_topics(&self) -> TopicList {
        let t = self.tables.read();
        let mut list = TopicList::default();
        for (cluster, groups) in &t.cluster_addr_table {
            list.topic_list.insert(cluster.clone());
            list.topic_list.extend(groups.iter().cloned());
        }
        list.broker_addr = t
            .broker_addr_table
            .values()
            .find_map(|g| g.select_broker_addr().map(str::to_string));
        list
    }

    /// GET_UNIT_TOPIC_LIST (311), GET_HAS_UNIT_SUB_TOPIC_LIST (312) and
    /// GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST (313): topics whose queue data flags match `filter`.
    pub fn topics_by_sys_flag(&self, kind: UnitTopicKind) -> TopicList {
        let t = self.tables.read();
        let topic_list = t
            .topic_queue_table
            .iter()
            .filter(|(_, queues)| {
                queues.values().next().is_some_and(|q| {
                    let f = q.topic_sys_flag;
                    match kind {
                        UnitTopicKind::Unit => sys_flag::has_unit(f),
                        UnitTopicKind::HasUnitSub => sys_flag::has_unit_sub(f),
                        UnitTopicKind::HasUnitSubNotUnit => {
                            !sys_flag::has_unit(f) && sys_flag::has_unit_sub(f)
                        }
                    }
                })
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        TopicList {
            topic_list,
            broker_addr: None,
        }
    }

    /// DELETE_TOPIC_IN_NAMESRV: drops the topic, or only `cluster`'s queues of it.
    pub fn delete_topic(&self, topic: &str, cluster: Option<&str>) {
        let mut guard = self.tables.write();
        let t = &mut *guard;
        match cluster.filter(|c| !c.is_empty()) {
            None => {
                t.topic_queue_table.remove(topic);
            }
            Some(cluster) => {
                let groups = t
                    .cluster_addr_table
                    .get(cluster)
                    .cloned()
                    .unwrap_or_default();
                if let Some(queues) = t.topic_queue_table.get_mut(topic) {
                    queues.retain(|name, _| !groups.contains(name));
                    if queues.is_empty() {
                        t.topic_queue_table.remove(topic);
                    }
                }
            }
        }
        info!(topic, cluster = ?cluster, "topic deleted from name server");
    }

    /// WIPE_WRITE_PERM_OF_BROKER: clears the write bit of `broker_name`'s queues of every topic.
    /// Returns the number of topics touched.
    pub fn wipe_write_perm(&self, broker_name: &str) -> i32 {
        self.change_perm(broker_name, |p| p & !perm::WRITE)
    }

    /// ADD_WRITE_PERM_OF_BROKER: sets `broker_name`'s queues of every topic back to read-write.
    /// Returns the number of topics touched.
    pub fn add_write_perm(&self, broker_name: &str) -> i32 {
        self.change_perm(broker_name, |_| perm::READ | perm::WRITE)
    }

    fn change_perm(&self, broker_name: &str, f: impl Fn(i32) -> i32) -> i32 {
        let mut t = self.tables.write();
        let mut count = 0;
        for queues in t.topic_queue_table.values_mut() {
            if let Some(q) = queues.get_mut(broker_name) {
                q.perm = f(q.perm);
                count += 1;
            }
        }
        info!(
            broker = broker_name,
            topics = count,
            "broker permission changed"
        );
        count
    }

    /// Number of live broker addresses.
    pub fn live_broker_count(&self) -> usize {
        self.tables.read().broker_live_table.len()
    }
}

/// Which unit-topic list to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitTopicKind {
    /// Unit topics.
    Unit,
    /// Topics with unit subscriptions.
    HasUnitSub,
    /// Non-unit topics with unit subscriptions.
    HasUnitSubNotUnit,
}

/// Removes one address from every table (spec §8.2 "Removal of a broker address").
fn remove_addr(t: &mut Tables, addr: &str, reason: RemovalReason) {
    let live = t.broker_live_table.remove(addr);
    t.filter_server_table.remove(addr);
    let mut touched: Vec<String> = Vec::new();
    for (name, group) in t.broker_addr_table.iter_mut() {
        let before = group.broker_addrs.len();
        group.broker_addrs.retain(|_, a| a != addr);
        if group.broker_addrs.len() != before {
            touched.push(name.clone());
        }
    }
    if let Some(live) = &live
        && !touched.contains(&live.broker_name)
    {
        touched.push(live.broker_name.clone());
    }
    info!(addr, reason = ?reason, groups = ?touched, "broker removed");
    for name in touched {
        cleanup_group(t, &name);
    }
}

/// Drops a broker group that has no address left: from its cluster (and the cluster when it
/// becomes empty) and from every topic (and topics left without queues).
fn cleanup_group(t: &mut Tables, broker_name: &str) {
    let empty = t
        .broker_addr_table
        .get(broker_name)
        .is_some_and(|g| g.broker_addrs.is_empty());
    if !empty {
        return;
    }
    t.broker_addr_table.remove(broker_name);
    t.cluster_addr_table.retain(|_, groups| {
        groups.remove(broker_name);
        !groups.is_empty()
    });
    t.topic_queue_table.retain(|_, queues| {
        queues.remove(broker_name);
        !queues.is_empty()
    });
    info!(broker = broker_name, "broker group removed with its routes");
}

#[cfg(test)]
mod tests {
    use super::*;
    use remoting::body::topic::TopicConfig;

    fn reg(cluster: &str, name: &str, id: i64, addr: &str, topics: &[&str]) -> BrokerRegistration {
        let mut wrapper = TopicConfigSerializeWrapper::default();
        for t in topics {
            wrapper
                .topic_config_table
                .insert(t.to_string(), TopicConfig::with_queues(*t, 4, 4, 6));
        }
        BrokerRegistration {
            cluster_name: cluster.into(),
            broker_addr: addr.into(),
            broker_name: name.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            topics: Some(wrapper),
            filter_server_list: vec![],
            heartbeat_timeout: None,
            connection: None,
        }
    }

    #[test]
    fn slaves_learn_the_master_and_do_not_write_topics() {
        let m = RouteInfoManager::new();
        let now = Instant::now();
        let r = m.register_broker(reg("C", "b", 1, "s:1", &["SlaveOnly"]), now);
        assert_eq!(r, RegisterResult::default());
        assert!(m.topic_route("SlaveOnly").is_none());
        m.register_broker(reg("C", "b", 0, "m:1", &["T"]), now);
        let r = m.register_broker(reg("C", "b", 1, "s:1", &[]), now);
        assert_eq!(r.master_addr.as_deref(), Some("m:1"));
        assert_eq!(r.ha_server_addr.as_deref(), Some("m:1-ha"));
        let route = m.topic_route("T").unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
    }

    #[test]
    fn removal_cleans_groups_clusters_and_topics() {
        let m = RouteInfoManager::new();
        let now = Instant::now();
        m.register_broker(reg("C", "b", 0, "m:1", &["T"]), now);
        m.register_broker(reg("C", "b", 1, "s:1", &[]), now);
        m.unregister_broker("C", "m:1", "b", 0);
        // The slave keeps the group and the topic alive (routes point at a group without master).
        let route = m.topic_route("T").unwrap();
        assert_eq!(route.broker_datas[0].master_addr(), None);
        m.unregister_broker("C", "s:1", "b", 1);
        assert!(m.topic_route("T").is_none());
        assert!(m.cluster_info().cluster_addr_table.is_empty());
        assert!(m.all_topics().topic_list.is_empty());
    }

    #[test]
    fn expiry_and_address_change() {
        let m = RouteInfoManager::new();
        let t0 = Instant::now();
        m.register_broker(reg("C", "b", 0, "old:1", &["T"]), t0);
        m.register_broker(reg("C", "b", 0, "new:1", &["T"]), t0);
        assert_eq!(m.live_broker_count(), 1);
        let route = m.topic_route("T").unwrap();
        assert_eq!(route.broker_datas[0].master_addr(), Some("new:1"));
        let later = t0 + Duration::from_secs(5);
        assert!(
            m.scan_not_active_brokers(later, Duration::from_secs(10))
                .is_empty()
        );
        assert_eq!(
            m.scan_not_active_brokers(later, Duration::from_secs(1)),
            ["new:1"]
        );
        assert!(m.topic_route("T").is_none());
    }

    #[test]
    fn data_version_gates_topic_updates_and_heartbeats() {
        let m = RouteInfoManager::new();
        let t0 = Instant::now();
        let first = reg("C", "b", 0, "m:1", &["T"]);
        let version = first.topics.clone().unwrap().data_version;
        m.register_broker(first, t0);
        let (changed, stored) = m.query_data_version("m:1", &version, t0);
        assert!(!changed);
        assert_eq!(stored, Some(version.clone()));
        let mut other = version.clone();
        other.next_version();
        assert!(m.query_data_version("m:1", &other, t0).0);
        assert!(m.query_data_version("nobody:1", &other, t0).0);
        // Same version, new topic: not re-read (Java semantics).
        let mut same = reg("C", "b", 0, "m:1", &["T", "U"]);
        same.topics.as_mut().unwrap().data_version = version;
        m.register_broker(same, t0);
        assert!(m.topic_route("U").is_none());
    }

    #[test]
    fn perms_lists_and_delete() {
        let m = RouteInfoManager::new();
        let now = Instant::now();
        m.register_broker(reg("C1", "a", 0, "a:1", &["T", "X"]), now);
        m.register_broker(reg("C2", "b", 0, "b:1", &["T", "Y"]), now);
        assert_eq!(m.wipe_write_perm("a"), 2);
        let route = m.topic_route("T").unwrap();
        let qa = route
            .queue_datas
            .iter()
            .find(|q| q.broker_name == "a")
            .unwrap();
        assert_eq!(qa.perm, perm::READ);
        assert_eq!(m.add_write_perm("a"), 2);
        let by = |c: &str| {
            m.topics_by_cluster(c)
                .topic_list
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(by("C1"), ["T", "X"]);
        assert_eq!(by("C2"), ["T", "Y"]);
        assert!(by("nope").is_empty());
        m.delete_topic("T", Some("C1"));
        assert_eq!(m.topic_route("T").unwrap().queue_datas.len(), 1);
        m.delete_topic("T", None);
        assert!(m.topic_route("T").is_none());
        let sys = m.system_topics();
        assert!(sys.topic_list.contains("C1") && sys.topic_list.contains("b"));
        assert!(sys.broker_addr.is_some());
    }

    #[test]
    fn unit_topic_lists_follow_sys_flags() {
        let m = RouteInfoManager::new();
        let mut r = reg("C", "b", 0, "b:1", &["Plain", "Unit", "UnitSub", "Both"]);
        let table = &mut r.topics.as_mut().unwrap().topic_config_table;
        table.get_mut("Unit").unwrap().topic_sys_flag = sys_flag::UNIT;
        table.get_mut("UnitSub").unwrap().topic_sys_flag = sys_flag::UNIT_SUB;
        table.get_mut("Both").unwrap().topic_sys_flag = sys_flag::UNIT | sys_flag::UNIT_SUB;
        m.register_broker(r, Instant::now());
        let list = |k| {
            m.topics_by_sys_flag(k)
                .topic_list
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(list(UnitTopicKind::Unit), ["Both", "Unit"]);
        assert_eq!(list(UnitTopicKind::HasUnitSub), ["Both", "UnitSub"]);
        assert_eq!(list(UnitTopicKind::HasUnitSubNotUnit), ["UnitSub"]);
    }
}
