//! The validated cluster: the one value both the Kubernetes builder and the local mode work from.
//!
//! A [`ClusterPlan`] only exists after [`crate::validate`] accepted a spec, so everything here may
//! assume a consistent cluster (sync replication has slaves, sizes fit, extra keys are known).

use std::collections::BTreeMap;

use broker::{BrokerConfig, BrokerRole, FlushDiskType};
use k8s_openapi::api::core::v1::ResourceRequirements;

use crate::crd::{Advertise, PdbSpec, PodOverrides, PullPolicy, Replication};
use crate::error::{Error, Result};
use crate::names;

/// A validated RocketMQCluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterPlan {
    /// The custom resource's name (prefix of every child object).
    pub name: String,
    /// Its namespace (`default` in local mode when the file has none).
    pub namespace: String,
    /// `brokerClusterName`.
    pub cluster_name: String,
    /// Container image.
    pub image: String,
    /// Value of the `app.kubernetes.io/version` label (the image tag).
    pub version: String,
    /// Pull policy.
    pub pull_policy: PullPolicy,
    /// Name servers.
    pub namesrv: NamesrvPlan,
    /// Broker remoting port (`listenPort`).
    pub broker_port: u16,
    /// Replication mode.
    pub replication: Replication,
    /// Flush mode.
    pub flush_disk_type: FlushDiskType,
    /// Broker store volume.
    pub storage: StoragePlan,
    /// Broker container resources.
    pub broker_resources: Option<ResourceRequirements>,
    /// What brokers advertise.
    pub advertise: Advertise,
    /// `autoCreateTopicEnable`.
    pub auto_create_topic_enable: bool,
    /// Extra broker.conf keys, known to the broker and not owned by the operator.
    pub extra_config: BTreeMap<String, String>,
    /// Pod-level overrides.
    pub overrides: PodOverrides,
    /// Broker groups, index order.
    pub groups: Vec<GroupPlan>,
    /// PodDisruptionBudget of the brokers.
    pub broker_pdb: PdbSpec,
    /// PodDisruptionBudget of the name servers.
    pub namesrv_pdb: PdbSpec,
    /// The web console (`spec.console`).
    pub console: crate::crd::ConsoleSpec,
    /// TLS, ACL and HA authentication Secrets (`spec.security`); Kubernetes only.
    pub security: crate::crd::SecuritySpec,
    /// Automatic failover (`spec.broker.failover`); `enabled` renders epoch fencing into every
    /// broker.conf and makes the roles ConfigMap decide each pod's role.
    pub failover: crate::crd::FailoverSpec,
    /// Value of the manual-restart annotation ([`crate::crd::RESTART_ANNOTATION`]): part of every
    /// pod template, so a new value rolls every pod once. Set by the controller from the
    /// resource's metadata (validation only sees the spec).
    pub restart: Option<String>,
}

/// Name server part of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct NamesrvPlan {
    /// Pod count.
    pub replicas: i32,
    /// Listen port.
    pub port: u16,
    /// Container resources.
    pub resources: Option<ResourceRequirements>,
}

/// Storage part of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct StoragePlan {
    /// Quantity as written in the spec.
    pub size: String,
    /// The same in bytes.
    pub bytes: u64,
    /// Storage class.
    pub storage_class_name: Option<String>,
    /// emptyDir instead of a claim.
    pub ephemeral: bool,
    /// Delete claims with the cluster.
    pub delete_claims_on_deletion: bool,
}

/// One broker group: a brokerName with its master and slaves.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupPlan {
    /// Group index (0-based).
    pub index: usize,
    /// `brokerName`, also the StatefulSet name.
    pub broker_name: String,
    /// Ordinal 0 (master) first, then the slaves.
    pub members: Vec<MemberPlan>,
}

/// One broker process / pod of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberPlan {
    /// StatefulSet ordinal.
    pub ordinal: u32,
    /// `brokerId`: the ordinal (0 = master).
    pub broker_id: i64,
    /// `brokerRole`.
    pub role: BrokerRole,
}

/// Where one broker process runs: the values that differ between Kubernetes and local mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoints {
    /// `namesrvAddr`.
    pub namesrv_addr: String,
    /// `brokerIP1`; `None` when the pod appends it at start-up (Kubernetes).
    pub broker_ip1: Option<String>,
    /// `listenPort`.
    pub listen_port: u16,
    /// `storePathRootDir`.
    pub store_root: String,
}

impl ClusterPlan {
    /// The deployment mode in the seed's words: `single-master`, `2m-noslave`, `2m-2s-async`,
    /// `2m-2s-sync` (numbers follow the spec).
    pub fn mode(&self) -> String {
        let masters = self.groups.len();
        let slaves: usize = self.groups.iter().map(|g| g.members.len() - 1).sum();
        match (masters, slaves) {
            (1, 0) => "single-master".to_string(),
            (m, 0) => format!("{m}m-noslave"),
            (m, s) => {
                let r = match self.replication {
                    Replication::Async => "async",
                    Replication::Sync => "sync",
                };
                format!("{m}m-{s}s-{r}")
            }
        }
    }

    /// Whether the operator runs failover for this cluster's groups (enabled, and groups have
    /// slaves to promote).
    pub fn failover_on(&self) -> bool {
        self.failover.enabled && self.replicas_per_group() > 0
    }

    /// Slaves per group.
    pub fn replicas_per_group(&self) -> usize {
        self.groups
            .first()
            .map(|g| g.members.len() - 1)
            .unwrap_or(0)
    }

    /// The master role every group's ordinal 0 gets.
    pub fn master_role(&self) -> BrokerRole {
        match self.replication {
            Replication::Async => BrokerRole::AsyncMaster,
            Replication::Sync => BrokerRole::SyncMaster,
        }
    }

    /// The broker's typed config for one member, built from the broker crate's own
    /// [`BrokerConfig`] so the rendered file is exactly what the broker parses.
    pub fn broker_config(
        &self,
        group: &GroupPlan,
        member: &MemberPlan,
        ep: &Endpoints,
    ) -> Result<BrokerConfig> {
        let who = names::broker_pod(&self.name, group.index, member.ordinal);
        let wrap = |source| Error::BrokerConfig {
            broker: who.clone(),
            source,
        };
        let mut c = BrokerConfig::default();
        for (k, v) in &self.extra_config {
            c.set(k, v).map_err(wrap)?;
        }
        c.broker_cluster_name = self.cluster_name.clone();
        c.broker_name = group.broker_name.clone();
        c.broker_id = member.broker_id;
        c.broker_role = member.role;
        c.broker_ip1 = ep.broker_ip1.clone();
        c.namesrv_addr = Some(ep.namesrv_addr.clone());
        c.listen_port = ep.listen_port;
        c.ha_listen_port = Some(ep.listen_port.saturating_add(1));
        c.store_path_root_dir = ep.store_root.clone();
        c.flush_disk_type = self.flush_disk_type;
        c.auto_create_topic_enable = self.auto_create_topic_enable;
        if self.failover.enabled {
            c.epoch_fencing_enable = true;
            c.fencing_lease_millis = self.failover.lease_millis.max(0) as u64;
        }
        c.validate().map_err(wrap)?;
        Ok(c)
    }

    /// Rendered broker.conf text of one member (see [`ClusterPlan::broker_config`]).
    pub fn broker_conf(
        &self,
        group: &GroupPlan,
        member: &MemberPlan,
        ep: &Endpoints,
    ) -> Result<String> {
        Ok(self.broker_config(group, member, ep)?.to_properties())
    }
}
