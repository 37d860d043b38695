//! Validation: a spec in, one [`ClusterPlan`] or the full list of problems out. Pure.
//!
//! Refuses the seed's pitfalls before anything is created: SYNC_MASTER without a slave (every send
//! would answer SLAVE_NOT_AVAILABLE), volumes too small for the commit log, unknown or
//! operator-owned broker.conf keys, names that do not make valid Kubernetes or broker names.

use std::collections::BTreeMap;

use broker::BrokerRole;

use crate::crd::{
    ACL_OWNED_KEYS, BrokerSpec, HA_AUTH_OWNED_KEYS, NameServerSpec, OPERATOR_OWNED_KEYS,
    Replication, RocketMQClusterSpec, SecuritySpec, StorageSpec, TLS_OWNED_KEYS,
};
use crate::names;
use crate::plan::{ClusterPlan, Endpoints, GroupPlan, MemberPlan, NamesrvPlan, StoragePlan};
use crate::quantity;

/// Longest CR name: pod names `<name>-broker-<g>-<n>` must stay DNS labels and the StatefulSet's
/// `controller-revision-hash` label value (`<sts>-<10 chars>`) at most 63 characters.
pub const MAX_NAME_LEN: usize = 40;

/// One reason a spec is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// CamelCase reason for the Degraded condition, e.g. `SyncWithoutSlave`.
    pub reason: &'static str,
    /// Human explanation.
    pub message: String,
}

/// All problems of a refused spec (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The problems, in field order.
    pub problems: Vec<Problem>,
}

impl Refusal {
    /// Reason of the first problem (for the condition).
    pub fn reason(&self) -> &'static str {
        self.problems.first().map(|p| p.reason).unwrap_or("Invalid")
    }

    /// Every message joined with `; `.
    pub fn message(&self) -> String {
        self.problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason(), self.message())
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_lowercase()
        && !s.ends_with('-')
}

/// A Secret name: a DNS subdomain (RFC 1123).
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label_any)
}

/// One RFC 1123 label (may start with a digit).
fn is_dns_label_any(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Secret data key: `[-._a-zA-Z0-9]+`, not `.` or `..` (it also becomes a file name).
fn is_secret_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The image tag as a label value (`latest` when untagged or unusable).
fn version_of(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let tag = last.split_once('@').map(|(a, _)| a).unwrap_or(last);
    let tag = tag.split_once(':').map(|(_, t)| t).unwrap_or("latest");
    let ok = !tag.is_empty()
        && tag.len() <= 63
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && tag.as_bytes()[0].is_ascii_alphanumeric()
        && tag.as_bytes()[tag.len() - 1].is_ascii_alphanumeric();
    if ok {
        tag.to_string()
    } else {
        "latest".to_string()
    }
}

/// Validates a spec for the CR `name` in `namespace`: every check below runs (so the refusal
/// lists every problem, in field order), then the plan is built and the broker's own cross-key
/// rules run on each member's rendered config.
pub fn validate(
    name: &str,
    namespace: &str,
    spec: &RocketMQClusterSpec,
) -> Result<ClusterPlan, Refusal> {
    let mut problems = Problems::default();
    check_names(&mut problems, name, spec);
    check_name_server(&mut problems, &spec.name_server);
    check_broker(&mut problems, &spec.broker);
    check_secret_refs(&mut problems, &spec.security);
    let extra = check_extra_config(&mut problems, &spec.broker.config, &spec.security);
    let size_bytes = check_storage(&mut problems, &spec.broker.storage, &extra);
    problems.into_result()?;
    let plan = plan_of(name, namespace, spec, extra, size_bytes.unwrap_or(0));
    check_rendered(&plan)?;
    Ok(plan)
}

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn bad(&mut self, reason: &'static str, message: String) {
        self.0.push(Problem { reason, message });
    }

    fn into_result(self) -> Result<(), Refusal> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Refusal { problems: self.0 })
        }
    }
}

/// The CR name, clusterName and image.
fn check_names(p: &mut Problems, name: &str, spec: &RocketMQClusterSpec) {
    if !is_dns_label(name) || name.len() > MAX_NAME_LEN {
        p.bad(
            "InvalidName",
            format!(
                "metadata.name {name:?} must be a DNS label (lowercase letters, digits, '-') of at most {MAX_NAME_LEN} characters: pod names <name>-broker-<group>-<ordinal> must stay valid"
            ),
        );
    }
    if spec.cluster_name.is_empty()
        || spec.cluster_name.len() > 64
        || !spec
            .cluster_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        p.bad(
            "InvalidName",
            format!(
                "clusterName {:?} must be 1-64 letters, digits, '-' or '_'",
                spec.cluster_name
            ),
        );
    }
    if spec.image.trim().is_empty() || spec.image.contains(char::is_whitespace) {
        p.bad(
            "InvalidImage",
            format!("image {:?} is not an image reference", spec.image),
        );
    }
}

/// nameServer: replicas and port.
fn check_name_server(p: &mut Problems, ns: &NameServerSpec) {
    if !(1..=15).contains(&ns.replicas) {
        p.bad(
            "InvalidReplicas",
            format!("nameServer.replicas {} must be 1..15", ns.replicas),
        );
    }
    if !(1..=65535).contains(&ns.port) {
        p.bad(
            "InvalidPort",
            format!("nameServer.port {} must be 1..65535", ns.port),
        );
    }
}

/// broker: groups, replicas, replication and port.
fn check_broker(p: &mut Problems, b: &BrokerSpec) {
    if !(1..=64).contains(&b.groups) {
        p.bad(
            "InvalidReplicas",
            format!("broker.groups {} must be 1..64", b.groups),
        );
    }
    if !(0..=8).contains(&b.replicas_per_group) {
        p.bad(
            "InvalidReplicas",
            format!(
                "broker.replicasPerGroup {} must be 0..8",
                b.replicas_per_group
            ),
        );
    }
    if b.replication == Replication::Sync && b.replicas_per_group < 1 {
        p.bad(
            "SyncWithoutSlave",
            "broker.replication sync needs broker.replicasPerGroup >= 1: a SYNC_MASTER without a slave stores each message but answers every send with SLAVE_NOT_AVAILABLE (the seed's FAQ); use replication async for masters without slaves".to_string(),
        );
    }
    check_failover(p, b);
    if !(3..=65534).contains(&b.port) {
        p.bad(
            "InvalidPort",
            format!(
                "broker.port {} must be 3..65534 (the HA port is port+1)",
                b.port
            ),
        );
    }
}

/// broker.failover: a slave to promote, a lease the broker accepts, and a lost-after that
/// outlasts the lease by a second (docs/failover.md "Timing"); the keys it renders are not
/// also in broker.config.
fn check_failover(p: &mut Problems, b: &BrokerSpec) {
    let f = &b.failover;
    if !f.enabled {
        return;
    }
    if b.replicas_per_group < 1 {
        p.bad(
            "FailoverWithoutSlave",
            "broker.failover.enabled needs broker.replicasPerGroup >= 1: there is no slave to promote".to_string(),
        );
    }
    if !(1000..=600_000).contains(&f.lease_millis) {
        p.bad(
            "InvalidFailover",
            format!(
                "broker.failover.leaseMillis {} must be 1000..600000",
                f.lease_millis
            ),
        );
    }
    if !(2..=3600).contains(&f.lost_after_seconds)
        || i64::from(f.lost_after_seconds) * 1000 < i64::from(f.lease_millis) + 1000
    {
        p.bad(
            "InvalidFailover",
            format!(
                "broker.failover.lostAfterSeconds {} must be 2..3600 and at least leaseMillis ({}) + 1000 ms: a cut-off master must have stopped writing before another is promoted",
                f.lost_after_seconds, f.lease_millis
            ),
        );
    }
    for k in ["epochFencingEnable", "fencingLeaseMillis"] {
        if b.config.contains_key(k) {
            p.bad(
                "OperatorOwnedConfigKey",
                format!(
                    "broker.config key {k} is set by the operator from broker.failover; remove it"
                ),
            );
        }
    }
}

/// spec.security: Secret names and keys Kubernetes accepts.
fn check_secret_refs(p: &mut Problems, sec: &SecuritySpec) {
    let secret_refs = [
        ("tls", sec.tls.as_ref().map(|t| (&t.secret_name, None))),
        (
            "acl",
            sec.acl.as_ref().map(|r| (&r.secret_name, r.key.as_ref())),
        ),
        (
            "haAuth",
            sec.ha_auth
                .as_ref()
                .map(|r| (&r.secret_name, r.key.as_ref())),
        ),
    ];
    for (field, r) in secret_refs {
        let Some((secret, key)) = r else { continue };
        if !is_dns_subdomain(secret) {
            p.bad(
                "InvalidName",
                format!("security.{field}.secretName {secret:?} is not a valid Secret name"),
            );
        }
        if let Some(key) = key
            && !is_secret_key(key)
        {
            p.bad(
                "InvalidName",
                format!(
                    "security.{field}.key {key:?} is not a valid Secret key (letters, digits, '-', '_', '.')"
                ),
            );
        }
    }
}

/// The spec.security field that owns broker.conf key `k`, if a configured one does.
fn security_owner(sec: &SecuritySpec, k: &str) -> Option<&'static str> {
    if sec.acl.is_some() && ACL_OWNED_KEYS.contains(&k) {
        Some("security.acl")
    } else if sec.ha_auth.is_some() && HA_AUTH_OWNED_KEYS.contains(&k) {
        Some("security.haAuth")
    } else if sec.tls.is_some() && TLS_OWNED_KEYS.contains(&k) {
        Some("security.tls")
    } else {
        None
    }
}

/// broker.config: refuses operator-owned keys, unknown keys and values the broker refuses;
/// returns the accepted ones.
fn check_extra_config(
    p: &mut Problems,
    config: &BTreeMap<String, String>,
    sec: &SecuritySpec,
) -> BTreeMap<String, String> {
    let mut extra = BTreeMap::new();
    for (k, v) in config {
        if OPERATOR_OWNED_KEYS.contains(&k.as_str()) {
            p.bad(
                "OperatorOwnedConfigKey",
                format!(
                    "broker.config key {k} is set by the operator (from the spec fields and the pod); remove it"
                ),
            );
            continue;
        }
        if let Some(field) = security_owner(sec, k) {
            p.bad(
                "OperatorOwnedConfigKey",
                format!(
                    "broker.config key {k} is set by the operator from spec.{field} (a mounted Secret); remove it"
                ),
            );
            continue;
        }
        let mut probe = broker::BrokerConfig::default();
        match probe.set(k, v) {
            Ok(true) => {
                extra.insert(k.clone(), v.clone());
            }
            Ok(false) => p.bad(
                "UnknownConfigKey",
                format!("broker.config key {k} is not a broker.conf key the broker knows"),
            ),
            Err(e) => p.bad("InvalidConfigValue", format!("broker.config: {e}")),
        }
    }
    extra
}

/// broker.storage: a size that holds two commit-log files (the broker preallocates the next
/// one) under the accepted `extra` config, and a valid class name. Returns the size in bytes.
fn check_storage(
    p: &mut Problems,
    storage: &StorageSpec,
    extra: &BTreeMap<String, String>,
) -> Option<u64> {
    let size_bytes = quantity::parse_bytes(&storage.size);
    let mut probe = broker::BrokerConfig::default();
    for (k, v) in extra {
        let _ = probe.set(k, v);
    }
    let min = probe.mapped_file_size_commit_log.saturating_mul(2);
    match size_bytes {
        None => p.bad(
            "InvalidSize",
            format!(
                "broker.storage.size {:?} is not a quantity such as 10Gi",
                storage.size
            ),
        ),
        Some(bytes) if bytes < min => p.bad(
            "StorageTooSmall",
            format!(
                "broker.storage.size {} ({bytes} bytes) cannot hold two commit-log files of mappedFileSizeCommitLog={} bytes (the broker preallocates the next file); use at least {} bytes",
                storage.size, probe.mapped_file_size_commit_log, min
            ),
        ),
        Some(_) => {}
    }
    if let Some(class) = &storage.storage_class_name
        && !class
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
    {
        p.bad(
            "InvalidName",
            format!("broker.storage.storageClassName {class:?} is not a valid name"),
        );
    }
    size_bytes
}

/// The groups of a valid spec: `groups` groups of one master and `replicas_per_group` slaves.
fn group_plans(name: &str, b: &BrokerSpec) -> Vec<GroupPlan> {
    let master_role = match b.replication {
        Replication::Async => BrokerRole::AsyncMaster,
        Replication::Sync => BrokerRole::SyncMaster,
    };
    (0..b.groups as usize)
        .map(|index| GroupPlan {
            index,
            broker_name: names::broker_group(name, index),
            members: (0..=b.replicas_per_group as u32)
                .map(|ordinal| MemberPlan {
                    ordinal,
                    broker_id: i64::from(ordinal),
                    role: if ordinal == 0 {
                        master_role
                    } else {
                        BrokerRole::Slave
                    },
                })
                .collect(),
        })
        .collect()
}

/// The plan of a spec every check accepted.
fn plan_of(
    name: &str,
    namespace: &str,
    spec: &RocketMQClusterSpec,
    extra: BTreeMap<String, String>,
    bytes: u64,
) -> ClusterPlan {
    let (ns, b) = (&spec.name_server, &spec.broker);
    ClusterPlan {
        name: name.to_string(),
        namespace: namespace.to_string(),
        cluster_name: spec.cluster_name.clone(),
        image: spec.image.clone(),
        version: version_of(&spec.image),
        pull_policy: spec.image_pull_policy,
        namesrv: NamesrvPlan {
            replicas: ns.replicas,
            port: ns.port as u16,
            resources: ns.resources.clone(),
        },
        broker_port: b.port as u16,
        replication: b.replication,
        flush_disk_type: match b.flush_disk_type {
            crate::crd::FlushDiskType::AsyncFlush => broker::FlushDiskType::AsyncFlush,
            crate::crd::FlushDiskType::SyncFlush => broker::FlushDiskType::SyncFlush,
        },
        storage: StoragePlan {
            size: b.storage.size.clone(),
            bytes,
            storage_class_name: b.storage.storage_class_name.clone(),
            ephemeral: b.storage.ephemeral,
            delete_claims_on_deletion: b.storage.delete_claims_on_deletion,
        },
        broker_resources: b.resources.clone(),
        advertise: b.advertise,
        auto_create_topic_enable: spec.auto_create_topic_enable,
        extra_config: extra,
        overrides: spec.pod_overrides.clone(),
        groups: group_plans(name, b),
        broker_pdb: b.pod_disruption_budget.clone(),
        namesrv_pdb: ns.pod_disruption_budget.clone(),
        console: spec.console.clone(),
        security: spec.security.clone(),
        failover: b.failover.clone(),
        restart: None,
    }
}

/// Last: the broker's own cross-key rules on a fully rendered config of every member (the
/// first failure is the refusal).
fn check_rendered(plan: &ClusterPlan) -> Result<(), Refusal> {
    let ep = Endpoints {
        namesrv_addr: format!(
            "{}:{}",
            names::namesrv_headless(&plan.name),
            plan.namesrv.port
        ),
        broker_ip1: None,
        listen_port: plan.broker_port,
        store_root: names::STORE_DIR.to_string(),
    };
    for g in &plan.groups {
        for m in &g.members {
            if let Err(e) = plan.broker_config(g, m, &ep) {
                return Err(Refusal {
                    problems: vec![Problem {
                        reason: "InvalidConfigValue",
                        message: e.to_string(),
                    }],
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> RocketMQClusterSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn refused(name: &str, yaml: &str) -> Refusal {
        validate(name, "ns", &spec(yaml)).unwrap_err()
    }

    #[test]
    fn failover_needs_slaves_a_sane_lease_and_lost_after_beyond_it() {
        let p = validate(
            "demo",
            "ns",
            &spec("broker: {replicasPerGroup: 1, failover: {enabled: true}}"),
        )
        .unwrap();
        assert!(p.failover_on());
        assert_eq!(
            (p.failover.lost_after_seconds, p.failover.lease_millis),
            (5, 4000)
        );
        let reasons = |y: &str| {
            refused("demo", y)
                .problems
                .iter()
                .map(|p| p.reason)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            reasons("broker: {failover: {enabled: true}}"),
            vec!["FailoverWithoutSlave"]
        );
        assert_eq!(
            reasons(
                "broker: {replicasPerGroup: 1, failover: {enabled: true, lostAfterSeconds: 4, leaseMillis: 3500}}"
            ),
            vec!["InvalidFailover"]
        );
        assert_eq!(
            reasons("broker: {replicasPerGroup: 1, failover: {enabled: true, leaseMillis: 10}}"),
            vec!["InvalidFailover"]
        );
        assert_eq!(
            reasons(
                "broker: {replicasPerGroup: 1, failover: {enabled: true}, config: {fencingLeaseMillis: '3000'}}"
            ),
            vec!["OperatorOwnedConfigKey"]
        );
        // Off: nothing is checked or rendered.
        let off = validate(
            "demo",
            "ns",
            &spec("broker: {failover: {lostAfterSeconds: 1}}"),
        )
        .unwrap();
        assert!(!off.failover_on());
    }

    #[test]
    fn defaults_make_a_single_master() {
        let p = validate("demo", "ns", &spec("{}")).unwrap();
        assert_eq!(p.mode(), "single-master");
        assert_eq!(p.groups.len(), 1);
        assert_eq!(
            p.groups[0].members,
            vec![MemberPlan {
                ordinal: 0,
                broker_id: 0,
                role: BrokerRole::AsyncMaster
            }]
        );
    }

    #[test]
    fn sync_without_slave_is_refused_with_the_seed_explanation() {
        let r = refused(
            "demo",
            "broker: {groups: 2, replicasPerGroup: 0, replication: sync}",
        );
        assert_eq!(r.reason(), "SyncWithoutSlave");
        assert!(r.message().contains("SLAVE_NOT_AVAILABLE"));
    }

    #[test]
    fn operator_owned_unknown_and_bad_config_values_are_refused() {
        let r = refused(
            "demo",
            "broker: {config: {brokerId: '3', brokerIP1: '10.29.181.16', namesrvAddr: 'x:9876'}}",
        );
        assert_eq!(r.problems.len(), 3);
        assert!(
            r.problems
                .iter()
                .all(|p| p.reason == "OperatorOwnedConfigKey")
        );
        let r = refused("demo", "broker: {config: {noSuchKey: '1'}}");
        assert_eq!(r.reason(), "UnknownConfigKey");
        let r = refused("demo", "broker: {config: {fileReservedTime: 'forever'}}");
        assert_eq!(r.reason(), "InvalidConfigValue");
        assert!(r.message().contains("fileReservedTime"));
        // Fine alone, but the broker's cross-key rule refuses it.
        let r = refused("demo", "broker: {config: {maxMessageSize: '2000000000'}}");
        assert_eq!(r.reason(), "InvalidConfigValue");
    }

    /// A security section owns its keys; without it the same keys stay the user's.
    #[test]
    fn keys_owned_by_spec_security_are_refused_only_with_that_section() {
        let r = refused(
            "demo",
            "security: {acl: {secretName: acl}, haAuth: {secretName: ha}, tls: {secretName: tls}}\nbroker: {config: {aclEnable: 'false', aclPlainFile: /x, haAuthSecretFile: /y, tls.server.mode: disabled, tls.server.certPath: /c}}",
        );
        assert_eq!(r.problems.len(), 5, "{r}");
        assert!(
            r.problems.iter().all(
                |p| p.reason == "OperatorOwnedConfigKey" && p.message.contains("spec.security")
            )
        );
        // Only the sections that are set own keys: ACL alone leaves tls.* to the user.
        let r = refused(
            "demo",
            "security: {acl: {secretName: acl}}\nbroker: {config: {aclEnable: 'true', tls.server.need.client.auth: none}}",
        );
        assert_eq!(r.problems.len(), 1, "{r}");
        assert!(r.message().contains("aclEnable"));
        let p = validate(
            "demo",
            "ns",
            &spec("broker: {config: {aclEnable: 'true', haAuthSecretFile: /etc/ha}}"),
        )
        .unwrap();
        assert_eq!(p.extra_config.len(), 2);
    }

    #[test]
    fn bad_secret_names_and_keys_are_refused() {
        let r = refused(
            "demo",
            "security: {acl: {secretName: Bad_Name}, haAuth: {secretName: ha, key: '../x'}, tls: {secretName: ok.tls}}",
        );
        assert_eq!(r.problems.len(), 2, "{r}");
        assert!(r.message().contains("security.acl.secretName"));
        assert!(r.message().contains("security.haAuth.key"));
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert_eq!(
            refused("demo", "broker: {storage: {size: lots}}").reason(),
            "InvalidSize"
        );
        let r = refused("demo", "broker: {storage: {size: 1Gi}}");
        assert_eq!(r.reason(), "StorageTooSmall");
        // Smaller commit-log files make small volumes fine.
        let ok = validate(
            "demo",
            "ns",
            &spec("broker: {storage: {size: 64Mi}, config: {mappedFileSizeCommitLog: '16777216'}}"),
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn invalid_names_and_counts_are_refused() {
        assert_eq!(refused("Demo", "{}").reason(), "InvalidName");
        assert_eq!(
            refused("a-very-long-cluster-name-that-breaks-pod-names", "{}").reason(),
            "InvalidName"
        );
        assert_eq!(
            refused("demo", "clusterName: 'bad name'").reason(),
            "InvalidName"
        );
        assert_eq!(
            refused("demo", "broker: {groups: 0}").reason(),
            "InvalidReplicas"
        );
        assert_eq!(
            refused("demo", "nameServer: {replicas: 0}").reason(),
            "InvalidReplicas"
        );
        assert_eq!(
            refused("demo", "broker: {port: 65535}").reason(),
            "InvalidPort"
        );
    }

    #[test]
    fn modes_follow_the_seed_names() {
        let m = |y: &str| validate("demo", "ns", &spec(y)).unwrap().mode();
        assert_eq!(m("broker: {groups: 2}"), "2m-noslave");
        assert_eq!(m("broker: {groups: 2, replicasPerGroup: 1}"), "2m-2s-async");
        assert_eq!(
            m("broker: {groups: 2, replicasPerGroup: 1, replication: sync}"),
            "2m-2s-sync"
        );
    }

    #[test]
    fn image_tag_becomes_the_version_label() {
        assert_eq!(version_of("reg.example:5000/rocketmq-rs:0.1.0"), "0.1.0");
        assert_eq!(version_of("rocketmq-rs"), "latest");
        assert_eq!(version_of("rocketmq-rs@sha256:abc"), "latest");
    }
}
