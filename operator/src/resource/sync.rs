//! Applying a declared topic or consumer group onto the masters of a cluster's broker groups,
//! and removing it: the part shared by the Kubernetes controller and local mode. Talks to real
//! brokers through [`RemotingAdmin`]; tests run it against in-process brokers.

use std::collections::{BTreeMap, BTreeSet};

use remoting::body::topic::TopicConfig;

use super::GroupResult;
use crate::admin::RemotingAdmin;
use crate::group::RocketMQConsumerGroupSpec;

/// One broker group of the referenced cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `brokerName`.
    pub broker_name: String,
    /// Remoting address of its master, when it is Ready.
    pub master: Option<String>,
}

/// What is declared.
#[derive(Clone, Debug, PartialEq)]
pub enum Declared {
    /// A topic, and whether its queues may shrink.
    Topic {
        /// The wanted config.
        config: TopicConfig,
        /// [`super::ALLOW_SHRINK_ANNOTATION`] is set.
        allow_shrink: bool,
    },
    /// A consumer group.
    Group {
        /// Name on the brokers.
        name: String,
        /// The wanted settings.
        spec: RocketMQConsumerGroupSpec,
    },
}

impl Declared {
    /// The topic or group name.
    pub fn name(&self) -> &str {
        match self {
            Declared::Topic { config, .. } => &config.topic_name,
            Declared::Group { name, .. } => name,
        }
    }
    /// `topic` or `group`, for messages.
    pub fn what(&self) -> &'static str {
        match self {
            Declared::Topic { .. } => "topic",
            Declared::Group { .. } => "consumer group",
        }
    }
}

/// What happened on one broker group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It was missing and was created.
    Created,
    /// It existed with other settings and was updated (the differences, e.g. `perm 4 -> 6`).
    Updated(Vec<String>),
    /// It had the declared settings already.
    Unchanged,
    /// Applying it would lose queues: left alone.
    Refused(String),
    /// The master did not answer or refused the request.
    Failed(String),
    /// The group has no Ready master yet.
    Waiting,
}

/// The outcome on every broker group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `brokerName` → outcome, plus whether it existed on that group before the resource had
    /// been applied there (adopted).
    pub groups: BTreeMap<String, (Outcome, bool)>,
}

impl Report {
    /// Broker groups where the declaration holds now.
    pub fn applied(&self) -> usize {
        self.groups
            .values()
            .filter(|(o, _)| {
                matches!(
                    o,
                    Outcome::Created | Outcome::Updated(_) | Outcome::Unchanged
                )
            })
            .count()
    }
    /// `applied/total`.
    pub fn summary(&self) -> String {
        format!("{}/{}", self.applied(), self.groups.len())
    }
    /// Broker groups with the given outcome kind.
    pub fn with(&self, f: impl Fn(&Outcome) -> bool) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, (o, _))| f(o))
            .map(|(b, _)| b.clone())
            .collect()
    }
    /// Broker groups where an existing topic or group was taken over.
    pub fn adopted(&self) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, (_, adopted))| *adopted)
            .map(|(b, _)| b.clone())
            .collect()
    }
    /// Per-group results for the status.
    pub fn results(&self) -> Vec<GroupResult> {
        self.groups
            .iter()
            .map(|(b, (o, _))| {
                let message = match o {
                    Outcome::Refused(m) | Outcome::Failed(m) => Some(m.clone()),
                    Outcome::Waiting => Some("no Ready master".to_string()),
                    _ => None,
                };
                GroupResult {
                    broker_name: b.clone(),
                    applied: message.is_none(),
                    message,
                }
            })
            .collect()
    }
}

/// The topic settings the resource owns that differ, e.g. `writeQueueNums 8 -> 16`.
pub fn topic_differences(current: &TopicConfig, want: &TopicConfig) -> Vec<String> {
    let mut d = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            d.push(format!("{name} {a} -> {b}"));
        }
    };
    field(
        "readQueueNums",
        current.read_queue_nums.to_string(),
        want.read_queue_nums.to_string(),
    );
    field(
        "writeQueueNums",
        current.write_queue_nums.to_string(),
        want.write_queue_nums.to_string(),
    );
    field("perm", current.perm.to_string(), want.perm.to_string());
    field("order", current.order.to_string(), want.order.to_string());
    if current.attributes != want.attributes {
        d.push(format!(
            "attributes {:?} -> {:?}",
            current.attributes, want.attributes
        ));
    }
    d
}

/// Why lowering `current`'s queues to `want`'s is refused, if it would.
pub fn shrink(current: &TopicConfig, want: &TopicConfig) -> Option<String> {
    (want.read_queue_nums < current.read_queue_nums
        || want.write_queue_nums < current.write_queue_nums)
        .then(|| {
            format!(
                "queues would shrink from {}r/{}w to {}r/{}w: messages in the removed queues would be stranded (annotate {}=true to allow)",
                current.read_queue_nums,
                current.write_queue_nums,
                want.read_queue_nums,
                want.write_queue_nums,
                super::ALLOW_SHRINK_ANNOTATION
            )
        })
}

async fn apply_on(admin: &RemotingAdmin, addr: &str, declared: &Declared) -> (Outcome, bool) {
    match declared {
        Declared::Topic {
            config,
            allow_shrink,
        } => {
            let table = match admin.topic_table(addr).await {
                Ok(t) => t,
                Err(e) => return (Outcome::Failed(e.to_string()), false),
            };
            let Some(current) = table.get(&config.topic_name) else {
                return match admin.put_topic(addr, config, &[]).await {
                    Ok(()) => (Outcome::Created, false),
                    Err(e) => (Outcome::Failed(e.to_string()), false),
                };
            };
            let diffs = topic_differences(current, config);
            if diffs.is_empty() {
                return (Outcome::Unchanged, true);
            }
            if !allow_shrink && let Some(why) = shrink(current, config) {
                return (Outcome::Refused(why), true);
            }
            let remove: Vec<String> = current
                .attributes
                .keys()
                .filter(|k| !config.attributes.contains_key(*k))
                .cloned()
                .collect();
            match admin.put_topic(addr, config, &remove).await {
                Ok(()) => (Outcome::Updated(diffs), true),
                Err(e) => (Outcome::Failed(e.to_string()), true),
            }
        }
        Declared::Group { name, spec } => {
            let table = match admin.group_table(addr).await {
                Ok(t) => t,
                Err(e) => return (Outcome::Failed(e.to_string()), false),
            };
            let current = table.get(name);
            let want = crate::group::desired_from(current, name, spec);
            let diffs = current
                .map(|c| crate::group::differences(c, &want))
                .unwrap_or_default();
            if current.is_some() && diffs.is_empty() {
                return (Outcome::Unchanged, true);
            }
            match admin.put_group(addr, &want).await {
                Ok(()) if current.is_none() => (Outcome::Created, false),
                Ok(()) => (Outcome::Updated(diffs), true),
                Err(e) => (Outcome::Failed(e.to_string()), current.is_some()),
            }
        }
    }
}

/// Applies `declared` onto every target's master. `known` names the broker groups where the
/// resource was applied before: an existing topic or group anywhere else counts as adopted.
pub async fn apply(
    admin: &RemotingAdmin,
    declared: &Declared,
    targets: &[Target],
    known: &BTreeSet<String>,
) -> Report {
    let mut report = Report::default();
    for t in targets {
        let (outcome, existed) = match &t.master {
            Some(addr) => apply_on(admin, addr, declared).await,
            None => (Outcome::Waiting, false),
        };
        let adopted = existed && !known.contains(&t.broker_name);
        report
            .groups
            .insert(t.broker_name.clone(), (outcome, adopted));
    }
    report
}

/// Removes `declared` from every target's master, and a topic's route from every name server
/// (`namesrvs`) for cluster `cluster`. Fails when a group has no Ready master or a call fails
/// (the finalizer stays and deletion is retried).
pub async fn delete(
    admin: &RemotingAdmin,
    declared: &Declared,
    targets: &[Target],
    namesrvs: &[String],
    cluster: &str,
) -> Result<(), String> {
    for t in targets {
        let Some(addr) = &t.master else {
            return Err(format!(
                "{} has no Ready master to delete {} {} from",
                t.broker_name,
                declared.what(),
                declared.name()
            ));
        };
        let r = match declared {
            Declared::Topic { config, .. } => admin.delete_topic(addr, &config.topic_name).await,
            Declared::Group { name, .. } => admin.delete_group(addr, name).await,
        };
        r.map_err(|e| e.to_string())?;
    }
    if let Declared::Topic { config, .. } = declared {
        for ns in namesrvs {
            admin
                .delete_topic_in_namesrv(ns, &config.topic_name, cluster)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
