//! The `RocketMQCluster` custom resource (`rocketmq.rocketmq-rs.io/v1alpha1`).
//!
//! Every spec field has a default, documented on the field, so `spec: {}` is a valid single-master
//! cluster. Rules the API server can check by itself are also CEL `x-kubernetes-validations`; the
//! operator re-checks all of them (and more) in [`crate::validate`], because a CRD installed without
//! the rules (or an old API server) must not be able to crash or mis-wire the operator.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, PodSecurityContext, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The API group of this project's resources.
pub const GROUP: &str = "rocketmq.rocketmq-rs.io";

/// Annotation on a RocketMQCluster: while it is `"true"` the operator changes nothing of the
/// cluster (no apply, no roll, no scale) and only reports `Progressing=False` with reason
/// `ReconciliationPaused` (Strimzi's `strimzi.io/pause-reconciliation`).
pub const PAUSE_ANNOTATION: &str = "rocketmq.rocketmq-rs.io/pause-reconciliation";
/// Annotation on a RocketMQCluster: any value; setting or changing it restarts every broker
/// (through the same safe roll as a spec change: slaves first, one group at a time) and every
/// name server, once per value (Strimzi's `strimzi.io/manual-rolling-update`).
pub const RESTART_ANNOTATION: &str = "rocketmq.rocketmq-rs.io/manual-rolling-update";

/// Broker config keys the operator sets itself; `spec.broker.config` may not contain them.
pub const OPERATOR_OWNED_KEYS: &[&str] = &[
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerRole",
    "brokerIP1",
    "brokerIP2",
    "namesrvAddr",
    "listenPort",
    "haListenPort",
    "haMasterAddress",
    "storePathRootDir",
    "storePathCommitLog",
    "flushDiskType",
    "autoCreateTopicEnable",
];

/// Most `spec.broker.config` keys (the CRD's `maxProperties`): bounds the API server's CEL cost
/// estimate, far above any real broker.conf (the broker knows fewer keys than this).
pub const MAX_CONFIG_KEYS: usize = 256;

/// CEL rule refusing [`OPERATOR_OWNED_KEYS`] in `spec.broker.config`. It walks the constant key
/// list and asks the map (`k in self` is a hash lookup), so its estimated cost is fixed: the
/// former `self.all(k, !(k in [...]))` walked every key against every owned key and, on a map of
/// unbounded size, a real kube-apiserver refused the whole CRD ("estimated rule cost exceeds
/// budget").
pub const OWNED_KEYS_RULE: &str = "!['brokerClusterName', 'brokerName', 'brokerId', 'brokerRole', 'brokerIP1', 'brokerIP2', 'namesrvAddr', 'listenPort', 'haListenPort', 'haMasterAddress', 'storePathRootDir', 'storePathCommitLog', 'flushDiskType', 'autoCreateTopicEnable'].exists(k, k in self)";

/// CEL rule on the whole resource: the name is a DNS label of at most
/// [`crate::validate::MAX_NAME_LEN`] characters (pod and StatefulSet names are built from it).
pub const NAME_RULE: &str =
    "self.metadata.name.size() <= 40 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')";

/// Desired state of a RocketMQ cluster: name servers plus broker groups (one master, n slaves each).
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rocketmq.rocketmq-rs.io",
    version = "v1alpha1",
    kind = "RocketMQCluster",
    plural = "rocketmqclusters",
    shortname = "rmq",
    category = "rocketmq",
    namespaced,
    status = "RocketMQClusterStatus",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".status.mode"}"#,
    printcolumn = r#"{"name":"Ready Groups","type":"string","jsonPath":".status.readyGroups"}"#,
    printcolumn = r#"{"name":"Name Server","type":"string","jsonPath":".status.nameServerAddress","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube::core::Rule::new(NAME_RULE).message("metadata.name must be a DNS label (lowercase letters, digits, '-') of at most 40 characters: pod names <name>-broker-<group>-<ordinal> must stay valid"),
    validation = kube::core::Rule::new(SECURITY_KEYS_RULE).message("spec.broker.config may not set the keys spec.security owns (aclEnable/aclPlainFile with acl, haAuthSecretFile with haAuth, tls.server.* with tls)")
)]
#[serde(rename_all = "camelCase")]
pub struct RocketMQClusterSpec {
    /// Container image holding `namesrv`, `broker`, `mqadmin` and `operator`.
    /// Default: `rocketmq-rs:<operator version>` (the chart's appVersion; never `latest`).
    #[serde(default = "default_image")]
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    /// Image pull policy of every pod. Default: `IfNotPresent`.
    #[serde(default)]
    pub image_pull_policy: PullPolicy,
    /// `brokerClusterName` of every broker. Default: `DefaultCluster`.
    #[serde(default = "default_cluster_name")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[A-Za-z0-9_-]{1,64}$')").message("clusterName: 1-64 letters, digits, '-' or '_'"))]
    pub cluster_name: String,
    /// Name servers. Default: one replica on port 9876.
    #[serde(default)]
    pub name_server: NameServerSpec,
    /// Broker groups. Default: one group, no slave, async replication, ASYNC_FLUSH, 10Gi volumes.
    #[serde(default)]
    pub broker: BrokerSpec,
    /// `autoCreateTopicEnable` of every broker (RocketMQ's default is `true`; the seed advises
    /// turning it off in production). Default: `true`.
    #[serde(default = "default_true")]
    pub auto_create_topic_enable: bool,
    /// Pod-level settings copied into every name server and broker pod. Default: none.
    #[serde(default)]
    pub pod_overrides: PodOverrides,
    /// The web console (RocketMQ's dashboard): a Deployment and a ClusterIP Service
    /// `<name>-console` on port 8180. Default: off.
    #[serde(default, skip_serializing_if = "ConsoleSpec::is_default")]
    pub console: ConsoleSpec,
    /// TLS, plain ACL and HA authentication, each from a Secret in the cluster's namespace
    /// (mounted read-only; never a ConfigMap). Default: none of them.
    #[serde(default, skip_serializing_if = "SecuritySpec::is_default")]
    pub security: SecuritySpec,
}

/// `spec.security`: which Secrets the pods mount and the broker.conf / namesrv.conf keys the
/// operator then sets (and owns) to point at them. See docs/security.md.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySpec {
    /// TLS on the name servers' and brokers' remoting ports (and the VIP channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// RocketMQ 4.x plain ACL (`aclEnable=true`) with `plain_acl.yml` from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<SecretKeyRef>,
    /// Shared secret authenticating master and slaves on the HA port (`haAuthSecretFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_auth: Option<SecretKeyRef>,
}

impl SecuritySpec {
    /// Whether nothing is set (then the field is left out when serialized).
    pub fn is_default(&self) -> bool {
        *self == SecuritySpec::default()
    }
}

/// `spec.security.tls`: a `kubernetes.io/tls` Secret (what cert-manager writes): `tls.crt`,
/// `tls.key`, and `ca.crt` when client certificates are checked.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// Client certificates (`tls.server.need.client.auth`): `None`, `Optional` or `Require`
    /// (checked against the Secret's `ca.crt`). Default: `None`.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// `tls.server.need.client.auth`.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
pub enum ClientAuth {
    /// No client certificate asked for.
    #[default]
    None,
    /// Checked when the client sends one.
    Optional,
    /// Every client must present one signed by `ca.crt`.
    Require,
}

impl ClientAuth {
    /// The broker's spelling.
    pub fn as_conf(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Optional => "optional",
            ClientAuth::Require => "require",
        }
    }
}

/// One key of a Secret in the cluster's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// The key holding the file. Default: `plain_acl.yml` for `acl`, `secret` for `haAuth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub key: Option<String>,
}

/// broker.conf keys the operator owns when `spec.security.acl` is set.
pub const ACL_OWNED_KEYS: &[&str] = &["aclEnable", "aclPlainFile"];
/// broker.conf keys the operator owns when `spec.security.haAuth` is set.
pub const HA_AUTH_OWNED_KEYS: &[&str] = &["haAuthSecretFile"];
/// broker.conf keys the operator owns when `spec.security.tls` is set.
pub const TLS_OWNED_KEYS: &[&str] = &[
    "tls.server.mode",
    "tls.server.certPath",
    "tls.server.keyPath",
    "tls.server.trustCertPath",
    "tls.server.need.client.auth",
];

/// CEL rule on the whole resource: a security section set in `spec.security` owns its
/// broker.conf keys. Each clause walks a constant list and asks the map, so the estimated cost
/// is fixed (see [`OWNED_KEYS_RULE`]).
pub const SECURITY_KEYS_RULE: &str = "!has(self.spec.security) || !has(self.spec.broker.config) || ((!has(self.spec.security.acl) || !['aclEnable', 'aclPlainFile'].exists(k, k in self.spec.broker.config)) && (!has(self.spec.security.haAuth) || !('haAuthSecretFile' in self.spec.broker.config)) && (!has(self.spec.security.tls) || !['tls.server.mode', 'tls.server.certPath', 'tls.server.keyPath', 'tls.server.trustCertPath', 'tls.server.need.client.auth'].exists(k, k in self.spec.broker.config)))";

/// Web console settings (`spec.console`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleSpec {
    /// Run the console. Default: `false`.
    #[serde(default)]
    pub enabled: bool,
    /// Secret in the cluster's namespace whose key `token` is the token that state changes
    /// (topic create/delete, offset resets, resends) need. Without it the console is read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub token_secret: Option<String>,
    /// Refuse every state change, even with a token. Default: `false`.
    #[serde(default)]
    pub read_only: bool,
}

impl ConsoleSpec {
    /// Whether nothing is set (then the field is left out when serialized).
    pub fn is_default(&self) -> bool {
        *self == ConsoleSpec::default()
    }
}

/// Image pull policy.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull when the image is missing on the node (the default).
    #[default]
    IfNotPresent,
    /// Never pull.
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Name server settings.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameServerSpec {
    /// Number of name server pods (stateless; brokers register with every one). Default: 1.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 15))]
    pub replicas: i32,
    /// Name server listen port. Default: 9876.
    #[serde(default = "default_namesrv_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// CPU/memory requests and limits of the name server container. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// PodDisruptionBudget of the name servers. Default: enabled, `maxUnavailable: 1`.
    #[serde(default)]
    pub pod_disruption_budget: PdbSpec,
}

impl Default for NameServerSpec {
    fn default() -> Self {
        NameServerSpec {
            replicas: 1,
            port: 9876,
            resources: None,
            pod_disruption_budget: PdbSpec::default(),
        }
    }
}

/// A PodDisruptionBudget the operator creates (voluntary disruptions such as node drains).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PdbSpec {
    /// Create the budget. Default: true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Pods of the budget that may be down at once. For brokers with slaves the budget is per
    /// group (at most this many pods of one group); for a masters-only cluster one budget
    /// covers every master, so a drain never takes two groups' masters at once. Default: 1.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 64))]
    pub max_unavailable: i32,
}

impl Default for PdbSpec {
    fn default() -> Self {
        PdbSpec {
            enabled: true,
            max_unavailable: 1,
        }
    }
}

/// Replication between a master and its slaves.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    /// Masters are `ASYNC_MASTER`: a send is acknowledged once the master stored it (the default).
    #[default]
    Async,
    /// Masters are `SYNC_MASTER`: a send is acknowledged once a slave has it too. Needs
    /// `replicasPerGroup >= 1`.
    Sync,
}

/// How a broker makes a pod reachable for clients (`brokerIP1`).
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
pub enum Advertise {
    /// The pod IP from the downward API (`status.podIP`) (the default).
    #[default]
    #[serde(rename = "podIP")]
    PodIp,
    /// The pod's stable DNS name `<pod>.<group service>.<namespace>.svc`.
    #[serde(rename = "podDNS")]
    PodDns,
}

/// Disk flush mode, RocketMQ spelling.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
pub enum FlushDiskType {
    /// Acknowledge once in the page cache; flushed in the background (the default).
    #[default]
    #[serde(rename = "ASYNC_FLUSH")]
    AsyncFlush,
    /// Acknowledge once flushed to disk.
    #[serde(rename = "SYNC_FLUSH")]
    SyncFlush,
}

/// Broker settings, shared by every group.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = kube::core::Rule::new("self.replication != 'sync' || self.replicasPerGroup >= 1").message("replication sync needs replicasPerGroup >= 1: a SYNC_MASTER without a slave answers every send with SLAVE_NOT_AVAILABLE"))]
pub struct BrokerSpec {
    /// Number of broker groups (distinct `brokerName`s, one master each). Default: 1.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 64))]
    pub groups: i32,
    /// Slaves per master (0 = masters only). Default: 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 8))]
    pub replicas_per_group: i32,
    /// Master/slave replication: `async` (ASYNC_MASTER) or `sync` (SYNC_MASTER). Default: `async`.
    #[serde(default)]
    pub replication: Replication,
    /// `flushDiskType`: `ASYNC_FLUSH` or `SYNC_FLUSH`. Default: `ASYNC_FLUSH`.
    #[serde(default)]
    pub flush_disk_type: FlushDiskType,
    /// Remoting port (`listenPort`); the HA port is `port + 1`.
    /// Default: 10911.
    #[serde(default = "default_broker_port")]
    #[schemars(range(min = 3, max = 65534))]
    pub port: i32,
    /// Store volume of each broker pod. Default: a 10Gi PersistentVolumeClaim of the default class.
    #[serde(default)]
    pub storage: StorageSpec,
    /// CPU/memory requests and limits of the broker container. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra broker.conf keys (RocketMQ spelling, string values), checked against the broker's typed
    /// config. Keys the operator owns (brokerName, brokerId, brokerRole, brokerIP1, namesrvAddr,
    /// ports, store paths, ...) are refused. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_CONFIG_KEYS))]
    #[x_kube(validation = kube::core::Rule::new(OWNED_KEYS_RULE).message("config may not set keys the operator owns (brokerName, brokerId, brokerRole, brokerIP1, namesrvAddr, ports, store paths, flushDiskType, autoCreateTopicEnable): use the spec fields"))]
    pub config: BTreeMap<String, String>,
    /// What brokers advertise as `brokerIP1`: `podIP` or `podDNS`. Default: `podIP`.
    #[serde(default)]
    pub advertise: Advertise,
    /// PodDisruptionBudget(s) of the brokers. Default: enabled, `maxUnavailable: 1`.
    #[serde(default)]
    pub pod_disruption_budget: PdbSpec,
    /// Automatic failover (docs/failover.md): epoch fencing on every broker, the operator
    /// promotes the best in-sync slave when a master is lost. Default: off.
    #[serde(default, skip_serializing_if = "FailoverSpec::is_default")]
    pub failover: FailoverSpec,
}

/// CEL rule of [`FailoverSpec`]: a master must be missing for longer than its lease plus a
/// second before the operator promotes a slave (docs/failover.md "Timing"), so a master cut off
/// from the name servers has stopped writing before another one starts.
pub const FAILOVER_TIMING_RULE: &str =
    "!self.enabled || self.lostAfterSeconds * 1000 >= self.leaseMillis + 1000";

/// Automatic failover of the broker groups (`spec.broker.failover`).
///
/// With `enabled`, every broker gets `epochFencingEnable=true` and `fencingLeaseMillis`, the
/// name servers scan for silent brokers every second, the pod's role comes from the group's
/// roles ConfigMap (`<group>-roles`) instead of its ordinal, and the operator promotes the
/// in-sync slave with the highest offset when a master is listed by no name server for
/// `lostAfterSeconds`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = kube::core::Rule::new(FAILOVER_TIMING_RULE).message("failover.lostAfterSeconds must be at least failover.leaseMillis + 1000 ms: a cut-off master must have stopped writing before another is promoted"))]
pub struct FailoverSpec {
    /// Promote a slave when its master is lost. Needs `replicasPerGroup >= 1`. Default: false.
    #[serde(default)]
    pub enabled: bool,
    /// Seconds a master must be missing from every name server before a slave is promoted; at
    /// least `leaseMillis` + 1 s. Default: 5.
    #[serde(default = "default_lost_after")]
    #[schemars(range(min = 2, max = 3600))]
    pub lost_after_seconds: i32,
    /// `fencingLeaseMillis`: a master writes only while a name server accepted one of its
    /// registrations less than this ago. Default: 4000.
    #[serde(default = "default_lease_millis")]
    #[schemars(range(min = 1000, max = 600000))]
    pub lease_millis: i32,
}

impl Default for FailoverSpec {
    fn default() -> Self {
        FailoverSpec {
            enabled: false,
            lost_after_seconds: default_lost_after(),
            lease_millis: default_lease_millis(),
        }
    }
}

impl FailoverSpec {
    /// Whether it is the default (left out of serialized specs).
    pub fn is_default(&self) -> bool {
        *self == FailoverSpec::default()
    }
}

fn default_lost_after() -> i32 {
    5
}
fn default_lease_millis() -> i32 {
    4000
}

/// Annotation on a RocketMQCluster asking for a manual switchover, `"<group>=<pod>"` (e.g.
/// `demo-broker-0=demo-broker-0-1`): the operator promotes that slave of that broker group
/// (failover enabled, the slave in sync) with the failover sequence, records the outcome in
/// `status.switchover` and removes the annotation.
pub const SWITCHOVER_ANNOTATION: &str = "rocketmq.rocketmq-rs.io/switchover";

impl Default for BrokerSpec {
    fn default() -> Self {
        BrokerSpec {
            groups: 1,
            replicas_per_group: 0,
            replication: Replication::Async,
            flush_disk_type: FlushDiskType::AsyncFlush,
            port: 10911,
            storage: StorageSpec::default(),
            resources: None,
            config: BTreeMap::new(),
            advertise: Advertise::PodIp,
            pod_disruption_budget: PdbSpec::default(),
            failover: FailoverSpec::default(),
        }
    }
}

/// Broker store volume.
///
/// Transition rules (checked by the API server on update, never on create): the storage class and
/// `ephemeral` cannot change (a StatefulSet's volumeClaimTemplates are immutable, so the change
/// could never be applied), and `size` cannot shrink (a PersistentVolumeClaim never shrinks).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = kube::core::Rule::new(STORAGE_CLASS_IMMUTABLE_RULE).message("storage.storageClassName is immutable: a StatefulSet's volumeClaimTemplates cannot change; create a new cluster to move to another class"))]
#[x_kube(validation = kube::core::Rule::new("self.ephemeral == oldSelf.ephemeral").message("storage.ephemeral is immutable: a StatefulSet's volumeClaimTemplates cannot change"))]
#[x_kube(validation = kube::core::Rule::new("!isQuantity(self.size) || !isQuantity(oldSelf.size) || quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0").message("storage.size cannot shrink: a PersistentVolumeClaim never gets smaller"))]
pub struct StorageSpec {
    /// Size of each broker's volume (a Kubernetes quantity such as `10Gi`); must hold at least two
    /// commit-log files (`mappedFileSizeCommitLog`, 1 GiB by default: the broker preallocates the
    /// next file). Default: `10Gi`.
    #[serde(default = "default_storage_size")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self)").message("storage.size must be a Kubernetes quantity such as 10Gi"))]
    pub size: String,
    /// StorageClass of the claims (fixed once created: a StatefulSet's volumeClaimTemplates are
    /// immutable). Default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub storage_class_name: Option<String>,
    /// Use an `emptyDir` instead of a claim (data is lost with the pod; for tests); fixed once
    /// created. Default: false.
    #[serde(default)]
    pub ephemeral: bool,
    /// Delete the claims when the RocketMQCluster is deleted. Default: false (claims are kept).
    #[serde(default)]
    pub delete_claims_on_deletion: bool,
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            size: default_storage_size(),
            storage_class_name: None,
            ephemeral: false,
            delete_claims_on_deletion: false,
        }
    }
}

/// Transition rule: `storageClassName` keeps its value (set, unset) once the cluster exists.
pub const STORAGE_CLASS_IMMUTABLE_RULE: &str = "has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)";

/// Pod-level settings applied to every pod the operator creates.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Affinity. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Tolerations. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node selector. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Extra pod annotations. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Priority class. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Pod security context. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
}

/// Observed state, written by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RocketMQClusterStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing` and `Degraded`, with reasons and messages.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Deployment mode in the seed's words, e.g. `2m-2s-async`, `single-master`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `ready/total` broker groups (a group is ready when its master is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_groups: Option<String>,
    /// Name server address for clients (`namesrvAddr`), `<service>.<namespace>.svc:<port>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_server_address: Option<String>,
    /// Per broker group: master and slaves.
    #[serde(default)]
    pub groups: Vec<GroupStatus>,
    /// The last switchover annotation the operator acted on and what came of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover: Option<SwitchoverStatus>,
}

/// Outcome of a switchover request ([`SWITCHOVER_ANNOTATION`]).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwitchoverStatus {
    /// The annotation's value, `<group>=<pod>`.
    pub request: String,
    /// `Done` or `Refused`.
    pub result: String,
    /// What happened (the refusal's reason).
    pub message: String,
}

/// State of one broker group.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// `brokerName` of the group.
    pub broker_name: String,
    /// The master (brokerId 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<MemberStatus>,
    /// The slaves (brokerId 1..n).
    #[serde(default)]
    pub slaves: Vec<MemberStatus>,
    /// Whether existing topics and subscription groups were copied to this group after a
    /// scale-out.
    #[serde(default)]
    pub topics_copied: bool,
    /// With failover: the group's epoch as the roles ConfigMap records it (one more per
    /// failover or switchover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
}

/// State of one broker pod.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// Pod name.
    pub pod: String,
    /// brokerId.
    pub broker_id: i64,
    /// Pod readiness.
    pub ready: bool,
    /// Advertised address `brokerIP1:port`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// The image the operator defaults to: its own version, the chart's appVersion.
pub const DEFAULT_IMAGE: &str = concat!("rocketmq-rs:", env!("CARGO_PKG_VERSION"));

fn default_image() -> String {
    DEFAULT_IMAGE.to_string()
}
fn default_cluster_name() -> String {
    "DefaultCluster".to_string()
}
fn default_true() -> bool {
    true
}
fn default_one() -> i32 {
    1
}
fn default_namesrv_port() -> i32 {
    9876
}
fn default_broker_port() -> i32 {
    10911
}
fn default_storage_size() -> String {
    "10Gi".to_string()
}

impl Default for RocketMQClusterSpec {
    fn default() -> Self {
        RocketMQClusterSpec {
            image: default_image(),
            image_pull_policy: PullPolicy::IfNotPresent,
            cluster_name: default_cluster_name(),
            name_server: NameServerSpec::default(),
            broker: BrokerSpec::default(),
            auto_create_topic_enable: true,
            pod_overrides: PodOverrides::default(),
            console: ConsoleSpec::default(),
            security: SecuritySpec::default(),
        }
    }
}

/// The CRD as YAML, exactly as written to `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    let crd = RocketMQCluster::crd();
    let body = serde_yaml::to_string(&crd)?;
    Ok(format!(
        "# Generated by `operator crd` from operator/src/crd.rs; do not edit.\n---\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rule_matches_the_operators_limit() {
        assert!(NAME_RULE.contains(&format!("size() <= {}", crate::validate::MAX_NAME_LEN)));
    }

    #[test]
    fn empty_spec_gets_documented_defaults() {
        let spec: RocketMQClusterSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, RocketMQClusterSpec::default());
        assert_eq!(spec.broker.groups, 1);
        assert_eq!(spec.name_server.port, 9876);
        assert_eq!(spec.broker.storage.size, "10Gi");
    }

    #[test]
    fn crd_has_status_short_name_columns_and_cel_rules() {
        let y = crd_yaml().unwrap();
        assert!(y.contains("shortNames"));
        assert!(y.contains("- rmq"));
        assert!(y.contains("status: {}"));
        assert!(y.contains("x-kubernetes-validations"));
        assert!(y.contains("SLAVE_NOT_AVAILABLE"));
        assert!(y.contains("Ready Groups"));
    }

    /// The root rule: a security section owns its keys in `spec.broker.config`, only when set.
    #[test]
    fn cel_security_rule_refuses_owned_keys_only_with_their_section() {
        let ok = |spec: &str| -> bool {
            let text = format!(
                "apiVersion: rocketmq.rocketmq-rs.io/v1alpha1\nkind: RocketMQCluster\nmetadata: {{name: demo}}\nspec: {spec}\n"
            );
            let cr: RocketMQCluster = serde_yaml::from_str(&text).unwrap();
            kube::core::cel::validate_cel(&cr).is_ok()
        };
        assert!(ok("{}"));
        assert!(!ok(
            "{security: {acl: {secretName: a}}, broker: {config: {aclPlainFile: /x}}}"
        ));
        assert!(!ok(
            "{security: {haAuth: {secretName: a}}, broker: {config: {haAuthSecretFile: /x}}}"
        ));
        assert!(!ok(
            "{security: {tls: {secretName: a}}, broker: {config: {tls.server.keyPath: /x}}}"
        ));
        assert!(ok(
            "{security: {tls: {secretName: a}}, broker: {config: {aclEnable: 'true'}}}"
        ));
        assert!(ok("{broker: {config: {aclEnable: 'true'}}}"));
        assert!(ok("{security: {acl: {secretName: a}}}"));
    }

    #[test]
    fn cel_rule_refuses_a_lost_after_within_the_lease() {
        let ok = serde_json::json!({"enabled": true, "lostAfterSeconds": 5, "leaseMillis": 4000});
        assert!(FailoverSpec::validate_cel(&ok, None).is_ok());
        let tight =
            serde_json::json!({"enabled": true, "lostAfterSeconds": 4, "leaseMillis": 3500});
        assert!(FailoverSpec::validate_cel(&tight, None).is_err());
        let off = serde_json::json!({"enabled": false, "lostAfterSeconds": 2, "leaseMillis": 9000});
        assert!(FailoverSpec::validate_cel(&off, None).is_ok());
    }

    #[test]
    fn cel_rules_refuse_sync_without_slave_and_owned_keys() {
        let ok = serde_json::json!({"groups": 2, "replicasPerGroup": 1, "replication": "sync",
            "flushDiskType": "ASYNC_FLUSH", "port": 10911, "advertise": "podIP",
            "storage": {"size": "10Gi", "ephemeral": false, "deleteClaimsOnDeletion": false}});
        assert!(BrokerSpec::validate_cel(&ok, None).is_ok());
        let mut bad = ok.clone();
        bad["replicasPerGroup"] = 0.into();
        let err = format!("{:?}", BrokerSpec::validate_cel(&bad, None).unwrap_err());
        assert!(err.contains("SLAVE_NOT_AVAILABLE"), "{err}");
        let mut owned = ok.clone();
        owned["config"] = serde_json::json!({"brokerId": "3"});
        assert!(BrokerSpec::validate_cel(&owned, None).is_err());
        let mut fine = ok;
        fine["config"] = serde_json::json!({"deleteWhen": "04"});
        assert!(BrokerSpec::validate_cel(&fine, None).is_ok());
    }
}
