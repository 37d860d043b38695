//! Names of every object, container, volume, port and env var the operator creates, declared once,
//! and the recommended labels.

use std::collections::BTreeMap;

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "rocketmq-operator";
/// Finalizer that lets the operator delete claims when asked to.
pub const FINALIZER: &str = "rocketmq.rocketmq-rs.io/cleanup";
/// Annotation on pod templates: hash of everything that should roll the pods when it changes.
pub const CONFIG_HASH_ANNOTATION: &str = "rocketmq.rocketmq-rs.io/config-hash";
/// Label holding the broker group index on broker objects.
pub const GROUP_LABEL: &str = "rocketmq.rocketmq-rs.io/group";

/// Container name of the name server.
pub const NAMESRV_CONTAINER: &str = "namesrv";
/// Container name of the broker.
pub const BROKER_CONTAINER: &str = "broker";
/// Name of the name server port.
pub const NAMESRV_PORT_NAME: &str = "namesrv";
/// Name of the broker remoting port.
pub const BROKER_PORT_NAME: &str = "remoting";
/// Name of the broker HA port (listenPort + 1).
pub const HA_PORT_NAME: &str = "ha";
/// Name of the Prometheus metrics port of broker and name server pods (and the operator's).
pub const METRICS_PORT_NAME: &str = "metrics";
/// The metrics port in pods: Java 5's default `metricsPromExporterPort`.
pub const METRICS_PORT: u16 = 5557;

/// Volume with the rendered configs.
pub const CONFIG_VOLUME: &str = "config";
/// Mount path of [`CONFIG_VOLUME`].
pub const CONFIG_DIR: &str = "/etc/rocketmq";
/// Volume (claim template or emptyDir) with the broker store.
pub const STORE_VOLUME: &str = "store";
/// Mount path of [`STORE_VOLUME`]; `storePathRootDir`.
pub const STORE_DIR: &str = "/data/store";
/// Scratch volume where the entrypoint writes the final broker.conf.
pub const RUN_VOLUME: &str = "run";
/// Mount path of [`RUN_VOLUME`].
pub const RUN_DIR: &str = "/var/run/rocketmq";
/// Writable emptyDir mounted as `$HOME` (the root filesystem is read-only; the name server
/// keeps `~/namesrv/kvConfig.json` there).
pub const HOME_VOLUME: &str = "home";
/// Mount path of [`HOME_VOLUME`], also the `HOME` env var of every container.
pub const HOME_DIR: &str = "/home/rocketmq";
/// Writable emptyDir for `/tmp`.
pub const TMP_VOLUME: &str = "tmp";
/// Mount path of [`TMP_VOLUME`].
pub const TMP_DIR: &str = "/tmp";
/// Key of the entrypoint script in the broker ConfigMap.
pub const ENTRYPOINT_KEY: &str = "entrypoint.sh";
/// Key of the name server config in its ConfigMap.
pub const NAMESRV_CONF_KEY: &str = "namesrv.conf";
/// uid and gid of the image's unprivileged user; pods run as it and own their volumes.
pub const RUN_AS: i64 = 65532;
/// Where binaries live in the image.
pub const BIN_DIR: &str = "/usr/local/bin";

/// Env var with the pod name (downward API).
pub const ENV_POD_NAME: &str = "POD_NAME";
/// Env var with the pod namespace (downward API).
pub const ENV_POD_NAMESPACE: &str = "POD_NAMESPACE";
/// Env var with the pod IP (downward API `status.podIP`).
pub const ENV_POD_IP: &str = "POD_IP";
/// Env var with the group's headless Service name (for podDNS).
pub const ENV_GROUP_SERVICE: &str = "GROUP_SERVICE";
/// Env var with `podIP` or `podDNS`.
pub const ENV_ADVERTISE: &str = "ADVERTISE";

/// Key of the broker.conf of ordinal `n` in the group ConfigMap: `broker-master.conf` for
/// ordinal 0, `broker-slave.conf` for every slave (the entrypoint sets `brokerId` to the ordinal).
pub fn broker_conf_key(ordinal: u32) -> String {
    if ordinal == 0 {
        "broker-master.conf".to_string()
    } else {
        "broker-slave.conf".to_string()
    }
}

/// One config revision of a broker group: `<group>-<first 10 hex digits of the content hash>`.
pub fn broker_config_map(group: &str, hash: &str) -> String {
    format!("{group}-{}", &hash[..hash.len().min(10)])
}

/// The roles ConfigMap of a broker group (failover on): which pod has which brokerId and the
/// group's epoch; written by the operator's failover controller, read by the pod at start.
pub fn broker_roles(group: &str) -> String {
    format!("{group}-roles")
}

/// Key of the roles file in the roles ConfigMap.
pub const ROLES_KEY: &str = "roles.conf";
/// Volume of the roles ConfigMap in broker pods (failover on).
pub const ROLES_VOLUME: &str = "roles";
/// Where the roles ConfigMap is mounted (a directory mount, not subPath: the kubelet refreshes
/// it, so a container restarted after a failover reads the new roles).
pub const ROLES_DIR: &str = "/etc/rocketmq-roles";

/// The single broker PodDisruptionBudget of a masters-only cluster.
pub fn broker_pdb_all(cluster: &str) -> String {
    format!("{cluster}-broker")
}

/// Name server Deployment and its ConfigMap.
pub fn namesrv(cluster: &str) -> String {
    format!("{cluster}-namesrv")
}

/// Client-facing name server Service.
pub fn namesrv_service(cluster: &str) -> String {
    format!("{cluster}-namesrv")
}

/// Headless name server Service: resolves to every name server pod; brokers register with each.
pub fn namesrv_headless(cluster: &str) -> String {
    format!("{cluster}-namesrv-hl")
}

/// Deployment and Service of the web console (`spec.console`).
pub fn console(cluster: &str) -> String {
    format!("{cluster}-console")
}

/// Where the `spec.security.tls` Secret is mounted (`tls.crt`, `tls.key`, `ca.crt`).
pub const TLS_DIR: &str = "/etc/rocketmq-tls";
/// Where the `spec.security.acl` Secret key is mounted, as [`ACL_FILE`].
pub const ACL_DIR: &str = "/etc/rocketmq-acl";
/// File name of the mounted ACL key.
pub const ACL_FILE: &str = "plain_acl.yml";
/// Where the `spec.security.haAuth` Secret key is mounted, as [`HA_AUTH_FILE`].
pub const HA_AUTH_DIR: &str = "/etc/rocketmq-ha-auth";
/// File name of the mounted HA secret key.
pub const HA_AUTH_FILE: &str = "secret";
/// Volume names of the three security Secrets.
pub const TLS_VOLUME: &str = "tls";
/// See [`TLS_VOLUME`].
pub const ACL_VOLUME: &str = "acl";
/// See [`TLS_VOLUME`].
pub const HA_AUTH_VOLUME: &str = "ha-auth";

/// Container and port name of the web console.
pub const CONSOLE_CONTAINER: &str = "console";
/// Port name of the web console.
pub const CONSOLE_PORT_NAME: &str = "http";
/// Where the console's token Secret is mounted.
pub const CONSOLE_TOKEN_DIR: &str = "/etc/rocketmq-console";
/// The key of the token in `spec.console.tokenSecret`.
pub const CONSOLE_TOKEN_KEY: &str = "token";

/// StatefulSet, headless Service, ConfigMap and PDB of broker group `index`; also its brokerName.
pub fn broker_group(cluster: &str, index: usize) -> String {
    format!("{cluster}-broker-{index}")
}

/// Pod name of ordinal `ordinal` of group `index`.
pub fn broker_pod(cluster: &str, index: usize, ordinal: u32) -> String {
    format!("{}-{ordinal}", broker_group(cluster, index))
}

/// Role of an object in the recommended `app.kubernetes.io/component` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// Name server.
    NameServer,
    /// Broker.
    Broker,
    /// The web console (`spec.console`).
    Console,
}

impl Component {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::NameServer => "namesrv",
            Component::Broker => "broker",
            Component::Console => "console",
        }
    }
}

/// Labels that select the pods of one component (stable: used in selectors, never change them).
pub fn selector_labels(
    cluster: &str,
    component: Component,
    group: Option<usize>,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("app.kubernetes.io/name".to_string(), "rocketmq".to_string());
    m.insert(
        "app.kubernetes.io/instance".to_string(),
        cluster.to_string(),
    );
    m.insert(
        "app.kubernetes.io/component".to_string(),
        component.as_str().to_string(),
    );
    if let Some(g) = group {
        m.insert(GROUP_LABEL.to_string(), g.to_string());
    }
    m
}

/// The recommended label set (selector labels plus managed-by, part-of, version).
pub fn labels(
    cluster: &str,
    component: Component,
    group: Option<usize>,
    version: &str,
) -> BTreeMap<String, String> {
    let mut m = selector_labels(cluster, component, group);
    m.insert(
        "app.kubernetes.io/managed-by".to_string(),
        "rocketmq-operator".to_string(),
    );
    m.insert(
        "app.kubernetes.io/part-of".to_string(),
        "rocketmq".to_string(),
    );
    m.insert("app.kubernetes.io/version".to_string(), version.to_string());
    m
}

/// Label selector string of a cluster's objects (for list calls).
pub fn instance_selector(cluster: &str) -> String {
    format!("app.kubernetes.io/name=rocketmq,app.kubernetes.io/instance={cluster}")
}

/// A stable 64-bit FNV-1a hash as hex: `DefaultHasher` may change between Rust releases, which
/// would roll every pod after an operator upgrade.
pub fn stable_hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}
