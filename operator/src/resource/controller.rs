//! The kube-rs controllers of RocketMQTopics and RocketMQConsumerGroups: finalizer, unmanaged
//! annotation, conflict check, the referenced cluster's broker groups, [`sync::apply`], status
//! and Events. One generic reconcile serves both kinds through [`Declares`].

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sync::{self, Declared, Outcome, Report, Target};
use super::{
    ALLOW_SHRINK_ANNOTATION, DeletionPolicy, GROUP_FINALIZER, MANAGED_ANNOTATION, READY,
    ResourceStatus, TOPIC_FINALIZER,
};
use crate::admin::RemotingAdmin;
use crate::controller::Backoff;
use crate::crd::RocketMQCluster;
use crate::error::{Error, Result};
use crate::group::RocketMQConsumerGroup;
use crate::names;
use crate::topic::RocketMQTopic;

/// Default resync of a settled resource (drift made with mqadmin is corrected this late).
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(60);
/// Requeue while a broker group is missing, unreachable or refused.
pub const REQUEUE_BUSY: Duration = Duration::from_secs(10);

/// The resync interval: `ROCKETMQ_OPERATOR_RESYNC_SECS` (at least 1), else [`DEFAULT_RESYNC`].
pub fn resync_interval() -> Duration {
    std::env::var("ROCKETMQ_OPERATOR_RESYNC_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&s| s >= 1)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RESYNC)
}

/// A resource that declares something on the brokers of a cluster.
pub trait Declares:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// Its finalizer.
    const FINALIZER: &'static str;
    /// The RocketMQCluster it references.
    fn cluster_ref(&self) -> &str;
    /// The topic or group name on the brokers.
    fn declared_name(&self) -> String;
    /// What deletion does.
    fn deletion_policy(&self) -> DeletionPolicy;
    /// Spec problems the operator refuses (the CEL rules' checks, and more).
    fn problems(&self) -> Vec<String>;
    /// The declaration.
    fn declared(&self) -> Declared;
    /// Its status.
    fn resource_status(&self) -> Option<&ResourceStatus>;
}

impl Declares for RocketMQTopic {
    const FINALIZER: &'static str = TOPIC_FINALIZER;
    fn cluster_ref(&self) -> &str {
        &self.spec.cluster_ref
    }
    fn declared_name(&self) -> String {
        crate::topic::topic_name(self)
    }
    fn deletion_policy(&self) -> DeletionPolicy {
        self.spec.deletion_policy
    }
    fn problems(&self) -> Vec<String> {
        crate::topic::check(&self.declared_name(), &self.spec)
    }
    fn declared(&self) -> Declared {
        Declared::Topic {
            config: crate::topic::desired(&self.declared_name(), &self.spec),
            allow_shrink: self
                .annotations()
                .get(ALLOW_SHRINK_ANNOTATION)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }
    fn resource_status(&self) -> Option<&ResourceStatus> {
        self.status.as_ref()
    }
}

impl Declares for RocketMQConsumerGroup {
    const FINALIZER: &'static str = GROUP_FINALIZER;
    fn cluster_ref(&self) -> &str {
        &self.spec.cluster_ref
    }
    fn declared_name(&self) -> String {
        crate::group::group_name(self)
    }
    fn deletion_policy(&self) -> DeletionPolicy {
        self.spec.deletion_policy
    }
    fn problems(&self) -> Vec<String> {
        crate::group::check(&self.declared_name(), &self.spec)
    }
    fn declared(&self) -> Declared {
        Declared::Group {
            name: self.declared_name(),
            spec: self.spec.clone(),
        }
    }
    fn resource_status(&self) -> Option<&ResourceStatus> {
        self.status.as_ref()
    }
}

/// Whether the resource is managed (no [`MANAGED_ANNOTATION`] `"false"`).
pub fn managed<K: Resource>(obj: &K) -> bool {
    !obj.annotations()
        .get(MANAGED_ANNOTATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("false"))
}

/// Shared state of the two controllers.
pub struct Context {
    /// API client.
    pub client: kube::Client,
    /// Broker admin calls.
    pub admin: Arc<RemotingAdmin>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Resync of settled resources.
    pub resync: Duration,
    /// Consecutive failures per resource.
    pub backoff: Backoff,
}

impl Context {
    /// A context with the given client.
    pub fn new(client: kube::Client) -> Self {
        let reporter = Reporter {
            controller: names::FIELD_MANAGER.to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            admin: Arc::new(RemotingAdmin::default()),
            resync: resync_interval(),
            backoff: Backoff::default(),
        }
    }
}

/// Where the referenced cluster's broker groups are.
#[derive(Debug)]
pub enum Resolved {
    /// No such RocketMQCluster.
    Missing,
    /// It is being deleted.
    Deleting,
    /// Its spec is refused (no broker groups to talk to).
    Invalid(String),
    /// Its broker groups and Ready name servers.
    Found {
        /// Every group of the spec, with its master when Ready.
        targets: Vec<Target>,
        /// Ready name servers (`ip:port`).
        namesrvs: Vec<String>,
        /// `brokerClusterName`.
        cluster_name: String,
    },
}

/// Reads cluster `name` in `ns`: its desired groups and the pod IPs of their Ready masters.
pub async fn resolve(client: &kube::Client, ns: &str, name: &str) -> Result<Resolved> {
    let clusters: Api<RocketMQCluster> = Api::namespaced(client.clone(), ns);
    let Some(cr) = clusters
        .get_opt(name)
        .await
        .map_err(|e| Error::kube(format!("get rocketmqcluster {ns}/{name}"), e))?
    else {
        return Ok(Resolved::Missing);
    };
    if cr.meta().deletion_timestamp.is_some() {
        return Ok(Resolved::Deleting);
    }
    let plan = match crate::validate::validate(name, ns, &cr.spec) {
        Ok(p) => p,
        Err(r) => return Ok(Resolved::Invalid(r.to_string())),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = |component: &'static str| {
        let sel = format!(
            "{},app.kubernetes.io/component={component}",
            names::instance_selector(name)
        );
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels(&sel))
                .await
                .map_err(|e| Error::kube(format!("list {component} pods"), e))
        }
    };
    let brokers = list("broker").await?.items;
    let namesrv_pods = list("namesrv").await?.items;
    let ip = |p: &Pod| -> Option<String> {
        if !crate::read::pod_ready(p) || p.metadata.deletion_timestamp.is_some() {
            return None;
        }
        p.status.as_ref()?.pod_ip.clone()
    };
    let targets = plan
        .groups
        .iter()
        .map(|g| {
            let pod = names::broker_pod(&plan.name, g.index, 0);
            let master = brokers
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(&pod))
                .and_then(ip)
                .map(|ip| format!("{ip}:{}", plan.broker_port));
            Target {
                broker_name: g.broker_name.clone(),
                master,
            }
        })
        .collect();
    let namesrvs = namesrv_pods
        .iter()
        .filter_map(ip)
        .map(|ip| format!("{ip}:{}", plan.namesrv.port))
        .collect();
    Ok(Resolved::Found {
        targets,
        namesrvs,
        cluster_name: plan.cluster_name.clone(),
    })
}

fn condition(status: bool, reason: &str, message: String, generation: Option<i64>) -> Condition {
    Condition {
        type_: READY.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
    }
}

/// A status with the Ready condition `(ok, reason, message)`; the transition time is kept when
/// the condition's status did not change.
pub fn status_with(
    prev: Option<&ResourceStatus>,
    name: &str,
    generation: Option<i64>,
    ready: (bool, &str, String),
    report: Option<&Report>,
) -> ResourceStatus {
    let mut c = condition(ready.0, ready.1, ready.2, generation);
    if let Some(p) = prev.and_then(|p| p.ready())
        && p.status == c.status
    {
        c.last_transition_time = p.last_transition_time.clone();
    }
    let (applied_groups, groups) = match report {
        Some(r) => (Some(r.summary()), r.results()),
        None => (
            prev.and_then(|p| p.applied_groups.clone()),
            prev.map(|p| p.groups.clone()).unwrap_or_default(),
        ),
    };
    ResourceStatus {
        observed_generation: generation,
        conditions: vec![c],
        name: Some(name.to_string()),
        applied_groups,
        groups,
    }
}

/// The Ready condition a report amounts to: `(ok, reason, message)`.
pub fn readiness(report: &Report, what: &str, name: &str) -> (bool, &'static str, String) {
    let total = report.groups.len();
    let applied = report.applied();
    if total > 0 && applied == total {
        return (
            true,
            "Applied",
            format!("{what} {name} applied on {applied}/{total} broker groups"),
        );
    }
    let first = |f: fn(&Outcome) -> bool| {
        report
            .groups
            .iter()
            .find(|(_, (o, _))| f(o))
            .map(|(b, (o, _))| (b.clone(), o.clone()))
    };
    if let Some((b, Outcome::Refused(m))) = first(|o| matches!(o, Outcome::Refused(_))) {
        return (
            false,
            "QueueShrinkRefused",
            format!("{b}: {m}; applied on {applied}/{total} broker groups"),
        );
    }
    if let Some((b, Outcome::Failed(m))) = first(|o| matches!(o, Outcome::Failed(_))) {
        return (
            false,
            "BrokerUnreachable",
            format!("{b}: {m}; applied on {applied}/{total} broker groups"),
        );
    }
    (
        false,
        "WaitingForBrokers",
        format!("applied on {applied}/{total} broker groups; the others have no Ready master yet"),
    )
}

async fn publish<K: Declares>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "publishing event failed");
    }
}

async fn patch_status<K: Declares>(ctx: &Context, obj: &K, status: &ResourceStatus) -> Result<()> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = obj.name_any();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(names::FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|e| Error::kube(format!("patch status {ns}/{name}"), e))?;
    Ok(())
}

/// Writes `new` when it differs from the current status (ignoring transition times), with a
/// Warning Event when the Ready condition turns into a new refusal or failure.
async fn report_status<K: Declares>(ctx: &Context, obj: &K, new: ResourceStatus) -> Result<()> {
    let prev = obj.resource_status();
    let key = |s: &ResourceStatus| {
        (
            s.observed_generation,
            s.ready()
                .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone())),
            s.applied_groups.clone(),
            s.groups.clone(),
            s.name.clone(),
        )
    };
    let prev_ready = prev
        .and_then(|p| p.ready())
        .map(|c| (c.reason.clone(), c.message.clone()));
    if let Some(c) = new.ready()
        && c.status == "False"
        && c.reason != "WaitingForBrokers"
        && prev_ready.as_ref() != Some(&(c.reason.clone(), c.message.clone()))
    {
        publish(ctx, obj, EventType::Warning, &c.reason, c.message.clone()).await;
    }
    if prev.map(key) != Some(key(&new)) {
        patch_status(ctx, obj, &new).await?;
    }
    Ok(())
}

/// Sets the finalizer list, guarded by the resourceVersion read (a concurrent change makes the
/// patch fail and the reconcile retry).
async fn set_finalizers<K: Declares>(
    ctx: &Context,
    obj: &K,
    finalizers: Vec<String>,
) -> Result<()> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = obj.name_any();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let body = serde_json::json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": obj.resource_version(),
    }});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map_err(|e| Error::kube(format!("set finalizers of {ns}/{name}"), e))?;
    Ok(())
}

fn has_finalizer<K: Declares>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == K::FINALIZER)
}

async fn remove_finalizer<K: Declares>(ctx: &Context, obj: &K) -> Result<()> {
    let rest: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != K::FINALIZER)
        .cloned()
        .collect();
    set_finalizers(ctx, obj, rest).await
}

/// The resource that owns `obj`'s topic or group when several declare it: the oldest (then
/// the first by name). `None` when `obj` owns it. With `any_age`, any other live managed
/// resource declaring it (a deletion must not remove what another resource still declares).
async fn conflicting_owner<K: Declares>(
    ctx: &Context,
    obj: &K,
    any_age: bool,
) -> Result<Option<String>> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let all = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube(format!("list {} in {ns}", K::plural(&())), e))?;
    let me = (obj.meta().creation_timestamp.clone(), obj.name_any());
    let name = obj.declared_name();
    Ok(all
        .items
        .iter()
        .filter(|o| o.name_any() != obj.name_any())
        .filter(|o| o.meta().deletion_timestamp.is_none() && managed(*o))
        .filter(|o| o.cluster_ref() == obj.cluster_ref() && o.declared_name() == name)
        .filter(|o| any_age || (o.meta().creation_timestamp.clone(), o.name_any()) < me)
        .map(|o| o.name_any())
        .next())
}

/// One reconcile of a RocketMQTopic or RocketMQConsumerGroup.
pub async fn reconcile<K: Declares>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    let r = reconcile_inner(&*obj, &ctx).await;
    if r.is_ok() {
        ctx.backoff.reset(&key_of(&*obj));
    }
    r
}

/// The pipeline: deletion (finalizer) → unmanaged → invalid → conflict → own finalizer →
/// the referenced cluster's groups → apply, Events and status. A step that ends the reconcile
/// returns the action itself.
async fn reconcile_inner<K: Declares>(obj: &K, ctx: &Context) -> Result<Action> {
    let pass = Pass::new(obj, ctx)?;
    if obj.meta().deletion_timestamp.is_some() {
        return pass.finalize().await;
    }
    if !managed(obj) {
        return pass.leave_alone().await;
    }
    if let Some(action) = pass.refuse().await? {
        return Ok(action);
    }
    // Only the owner holds a finalizer: deleting a conflicting declaration touches nothing.
    if !has_finalizer(obj) {
        return pass.add_finalizer().await;
    }
    let targets = match pass.targets().await? {
        Ok(targets) => targets,
        Err(action) => return Ok(action),
    };
    pass.apply(&targets).await
}

/// One reconcile of one resource: what every step needs, and the steps.
struct Pass<'a, K: Declares> {
    obj: &'a K,
    ctx: &'a Context,
    ns: String,
    generation: Option<i64>,
    prev: Option<&'a ResourceStatus>,
    /// The topic or group name on the brokers.
    name: String,
    declared: Declared,
    /// "topic" or "consumer group".
    what: &'static str,
}

impl<'a, K: Declares> Pass<'a, K> {
    fn new(obj: &'a K, ctx: &'a Context) -> Result<Self> {
        let declared = obj.declared();
        Ok(Pass {
            ns: obj
                .namespace()
                .ok_or(Error::MissingField("metadata.namespace"))?,
            generation: obj.meta().generation,
            prev: obj.resource_status(),
            name: obj.declared_name(),
            what: declared.what(),
            declared,
            obj,
            ctx,
        })
    }

    async fn publish(&self, type_: EventType, reason: &str, note: String) {
        publish(self.ctx, self.obj, type_, reason, note).await
    }

    /// Writes the Ready condition `ready` (and the per-group results of `report`).
    async fn report(&self, ready: (bool, &str, String), report: Option<&Report>) -> Result<()> {
        let st = status_with(self.prev, &self.name, self.generation, ready, report);
        report_status(self.ctx, self.obj, st).await
    }

    /// Deleted: with deletionPolicy Delete, removes the topic or group from the brokers (unless
    /// another resource declares it too), then lets the resource go.
    async fn finalize(&self) -> Result<Action> {
        if !has_finalizer(self.obj) {
            return Ok(Action::await_change());
        }
        if managed(self.obj) && self.obj.deletion_policy() == DeletionPolicy::Delete {
            match conflicting_owner(self.ctx, self.obj, true).await? {
                Some(other) => {
                    self.publish(
                        EventType::Normal,
                        "Orphaned",
                        format!(
                            "{} {} is left on the brokers: {other} declares it too",
                            self.what, self.name
                        ),
                    )
                    .await
                }
                None => self.delete_from_brokers().await?,
            }
        }
        remove_finalizer(self.ctx, self.obj).await?;
        Ok(Action::await_change())
    }

    /// Deletes the declaration from every broker group of the referenced cluster (nothing when
    /// the cluster is gone); a failure is written on the status and retried.
    async fn delete_from_brokers(&self) -> Result<()> {
        let (what, name) = (self.what, &self.name);
        let (targets, namesrvs, cluster_name) = match resolve(
            &self.ctx.client,
            &self.ns,
            self.obj.cluster_ref(),
        )
        .await?
        {
            Resolved::Found {
                targets,
                namesrvs,
                cluster_name,
            } => (targets, namesrvs, cluster_name),
            other => {
                tracing::info!(namespace = %self.ns, resource = %self.obj.name_any(), cluster = ?other, "nothing to delete: the cluster is gone");
                return Ok(());
            }
        };
        if let Err(m) = sync::delete(
            &self.ctx.admin,
            &self.declared,
            &targets,
            &namesrvs,
            &cluster_name,
        )
        .await
        {
            self.report((false, "DeletionFailed", m.clone()), None)
                .await?;
            return Err(Error::Admin {
                addr: self.obj.cluster_ref().to_string(),
                message: format!("deleting {what} {name}: {m}"),
            });
        }
        self.publish(
            EventType::Normal,
            "Deleted",
            format!(
                "{what} {name} deleted from {} broker group(s)",
                targets.len()
            ),
        )
        .await;
        Ok(())
    }

    /// Unmanaged: drops the finalizer and says so on the status.
    async fn leave_alone(&self) -> Result<Action> {
        if has_finalizer(self.obj) {
            remove_finalizer(self.ctx, self.obj).await?;
        }
        let message = format!(
            "{MANAGED_ANNOTATION}=false: the operator leaves {} {} alone",
            self.what, self.name
        );
        self.report((true, "Unmanaged", message), None).await?;
        Ok(Action::await_change())
    }

    /// An invalid spec, or a declaration another resource owns: the refusal on the status.
    async fn refuse(&self) -> Result<Option<Action>> {
        let problems = self.obj.problems();
        if !problems.is_empty() {
            self.report((false, "Invalid", problems.join("; ")), None)
                .await?;
            return Ok(Some(Action::await_change()));
        }
        if let Some(owner) = conflicting_owner(self.ctx, self.obj, false).await? {
            let message = format!(
                "{} {} of cluster {} is declared by {owner} already",
                self.what,
                self.name,
                self.obj.cluster_ref()
            );
            self.report((false, "ResourceConflict", message), None)
                .await?;
            return Ok(Some(Action::requeue(self.ctx.resync)));
        }
        Ok(None)
    }

    /// Adds the finalizer; the patch is a change, so the next reconcile sees it and applies.
    async fn add_finalizer(&self) -> Result<Action> {
        let mut f: Vec<String> = self.obj.finalizers().to_vec();
        f.push(K::FINALIZER.to_string());
        set_finalizers(self.ctx, self.obj, f).await?;
        Ok(Action::requeue(Duration::from_millis(100)))
    }

    /// The referenced cluster's broker groups, or (missing, deleting or refused cluster) the
    /// status saying so and the requeue.
    async fn targets(&self) -> Result<std::result::Result<Vec<Target>, Action>> {
        let cluster = self.obj.cluster_ref();
        let ready = match resolve(&self.ctx.client, &self.ns, cluster).await? {
            Resolved::Found { targets, .. } => return Ok(Ok(targets)),
            Resolved::Missing | Resolved::Deleting => (
                false,
                "ClusterNotFound",
                format!("no RocketMQCluster {cluster} in {}", self.ns),
            ),
            Resolved::Invalid(m) => (
                false,
                "ClusterInvalid",
                format!("RocketMQCluster {cluster} is refused: {m}"),
            ),
        };
        self.report(ready, None).await?;
        Ok(Err(Action::requeue(self.ctx.resync)))
    }

    /// Applies the declaration on every group ([`sync::apply`]), tells what changed in Events
    /// and writes the per-group results.
    async fn apply(&self, targets: &[Target]) -> Result<Action> {
        let known: BTreeSet<String> = self
            .prev
            .map(|p| {
                p.groups
                    .iter()
                    .filter(|g| g.applied)
                    .map(|g| g.broker_name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let report = sync::apply(&self.ctx.admin, &self.declared, targets, &known).await;
        for (b, (o, _)) in &report.groups {
            tracing::info!(namespace = %self.ns, resource = %self.obj.name_any(), broker = %b, outcome = ?o, "{} {}", self.what, self.name);
        }
        self.announce_changes(&report).await;
        let ready = readiness(&report, self.what, &self.name);
        let settled = ready.0;
        self.report(ready, Some(&report)).await?;
        Ok(Action::requeue(if settled {
            self.ctx.resync
        } else {
            REQUEUE_BUSY
        }))
    }

    /// Adopted / Created / Updated Events for what the apply changed.
    async fn announce_changes(&self, report: &Report) {
        let (what, name) = (self.what, &self.name);
        let adopted = report.adopted();
        if !adopted.is_empty() {
            self.publish(
                EventType::Normal,
                "Adopted",
                format!(
                    "{what} {name} existed on {} and is managed now",
                    adopted.join(", ")
                ),
            )
            .await;
        }
        let created = report.with(|o| matches!(o, Outcome::Created));
        if !created.is_empty() {
            self.publish(
                EventType::Normal,
                "Created",
                format!("{what} {name} created on {}", created.join(", ")),
            )
            .await;
        }
        let updated: Vec<String> = report
            .groups
            .iter()
            .filter_map(|(b, (o, _))| match o {
                Outcome::Updated(d) => Some(format!("{b} ({})", d.join(", "))),
                _ => None,
            })
            .collect();
        if !updated.is_empty() {
            self.publish(
                EventType::Normal,
                "Updated",
                format!("{what} {name} updated on {}", updated.join("; ")),
            )
            .await;
        }
    }
}

fn key_of<K: Declares>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::plural(&()),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// Requeue after a failed reconcile with the exponential backoff of the cluster controller.
pub fn error_policy<K: Declares>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.fail(&key_of(&*obj));
    tracing::warn!(resource = %key_of(&*obj), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn run_kind<K: Declares>(client: kube::Client, namespace: Option<String>, ctx: Arc<Context>) {
    let (api, clusters): (Api<K>, Api<RocketMQCluster>) = match &namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let controller = Controller::new(api, watcher::Config::default());
    let store = controller.store();
    // A cluster's change (a group became Ready after a scale-out, the cluster was created after
    // the resource) reconciles every resource referencing it.
    controller
        .watches(
            clusters,
            watcher::Config::default(),
            move |c: RocketMQCluster| {
                let ns = c.namespace();
                let name = c.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|o| o.namespace() == ns && o.cluster_ref() == name)
                    .map(|o| ObjectRef::from_obj(&*o))
                    .collect::<Vec<_>>()
            },
        )
        .shutdown_on_signal()
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(resource = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        })
        .await;
}

/// Runs the RocketMQTopic and RocketMQConsumerGroup controllers until a signal.
pub async fn run(client: kube::Client, namespace: Option<String>) {
    let ctx = Arc::new(Context::new(client.clone()));
    tracing::info!(resync = ?ctx.resync, "topic and consumer group controllers started");
    futures::future::join(
        run_kind::<RocketMQTopic>(client.clone(), namespace.clone(), ctx.clone()),
        run_kind::<RocketMQConsumerGroup>(client, namespace, ctx),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcomes: &[(&str, Outcome)]) -> Report {
        let mut r = Report::default();
        for (b, o) in outcomes {
            r.groups.insert(b.to_string(), (o.clone(), false));
        }
        r
    }

    #[test]
    fn readiness_names_the_first_problem_and_counts_groups() {
        let all = report(&[("b-0", Outcome::Created), ("b-1", Outcome::Unchanged)]);
        let (ok, reason, msg) = readiness(&all, "topic", "t");
        assert!(ok && reason == "Applied" && msg.contains("2/2"), "{msg}");
        let refused = report(&[
            ("b-0", Outcome::Refused("queues would shrink".into())),
            ("b-1", Outcome::Failed("connection refused".into())),
            ("b-2", Outcome::Waiting),
        ]);
        let (ok, reason, msg) = readiness(&refused, "topic", "t");
        assert!(
            !ok && reason == "QueueShrinkRefused" && msg.contains("0/3"),
            "{msg}"
        );
        let failed = report(&[
            ("b-0", Outcome::Failed("x".into())),
            ("b-1", Outcome::Waiting),
        ]);
        assert_eq!(readiness(&failed, "topic", "t").1, "BrokerUnreachable");
        let waiting = report(&[("b-0", Outcome::Unchanged), ("b-1", Outcome::Waiting)]);
        assert_eq!(readiness(&waiting, "topic", "t").1, "WaitingForBrokers");
        assert!(
            !readiness(&Report::default(), "topic", "t").0,
            "no groups is not Ready"
        );
    }

    #[test]
    fn status_keeps_transition_time_and_last_results_without_a_report() {
        let r = report(&[("b-0", Outcome::Created), ("b-1", Outcome::Waiting)]);
        let first = status_with(None, "t", Some(1), readiness(&r, "topic", "t"), Some(&r));
        assert_eq!(first.applied_groups.as_deref(), Some("1/2"));
        assert_eq!(first.groups.len(), 2);
        assert!(!first.groups[1].applied);
        let mut old = first.clone();
        old.conditions[0].last_transition_time =
            Time(k8s_openapi::jiff::Timestamp::from_second(1).expect("timestamp"));
        // Still not Ready (another reason): the transition time stays; per-group results stay
        // when there was nothing to apply (cluster missing).
        let next = status_with(
            Some(&old),
            "t",
            Some(2),
            (false, "ClusterNotFound", "gone".into()),
            None,
        );
        assert_eq!(
            next.conditions[0].last_transition_time,
            old.conditions[0].last_transition_time
        );
        assert_eq!(next.groups, old.groups);
        assert_eq!(next.observed_generation, Some(2));
        let ready = status_with(
            Some(&old),
            "t",
            Some(2),
            (true, "Applied", "ok".into()),
            None,
        );
        assert_ne!(
            ready.conditions[0].last_transition_time,
            old.conditions[0].last_transition_time
        );
    }
}
