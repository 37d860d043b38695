//! The controller: watches RocketMQClusters (and the StatefulSets / Deployments they own) and
//! runs the pipeline read → validate → build → roll → apply → scale → status, with Events.
//!
//! A spec that fails validation gets a Degraded condition and a Warning Event; nothing is applied
//! (the cluster built from the last valid spec keeps running) and other clusters are unaffected:
//! errors never leave `reconcile` as panics, and `error_policy` only requeues.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::admin::{BrokerAdmin, RemotingAdmin};
use crate::build::{self, Children};
use crate::crd::{RocketMQCluster, RocketMQClusterStatus};
use crate::error::{Error, Result};
use crate::names;
use crate::plan::ClusterPlan;
use crate::read::{self, Observed};
use crate::roll::{self, DesiredGroup, Question};
use crate::status::{self, Outcome};
use crate::validate;

/// Requeue while something is moving.
pub const REQUEUE_BUSY: Duration = Duration::from_secs(10);
/// Requeue of a stable cluster (catches drift the watches miss).
pub const REQUEUE_IDLE: Duration = Duration::from_secs(300);

/// How long a stopping controller may drain its running reconciles.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Resolves on SIGTERM or Ctrl-C.
async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// Counters exported on `/metrics` (see [`crate::metrics`]).
pub use crate::metrics::Metrics;

/// Shared state of every reconcile.
pub struct Context {
    /// API client.
    pub client: kube::Client,
    /// Broker admin calls.
    pub admin: Arc<dyn BrokerAdmin>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per cluster.
    pub backoff: Backoff,
}

impl Context {
    /// A context with the given client and admin.
    pub fn new(client: kube::Client, admin: Arc<dyn BrokerAdmin>) -> Self {
        let reporter = Reporter {
            controller: names::FIELD_MANAGER.to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let metrics = Arc::new(Metrics::default());
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            admin: Arc::new(crate::metrics::MeteredAdmin::new(admin, metrics.clone())),
            metrics,
            backoff: Backoff::default(),
        }
    }
}

fn owner_ref(cr: &RocketMQCluster) -> Result<OwnerReference> {
    cr.controller_owner_ref(&())
        .ok_or(Error::MissingField("metadata.uid"))
}

async fn publish(
    ctx: &Context,
    cr: &RocketMQCluster,
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
    if let Err(e) = ctx.recorder.publish(&ev, &cr.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "publishing event failed");
    }
}

async fn patch_status(
    ctx: &Context,
    cr: &RocketMQCluster,
    ns: &str,
    status: &RocketMQClusterStatus,
) -> Result<()> {
    let api: Api<RocketMQCluster> = Api::namespaced(ctx.client.clone(), ns);
    let body = serde_json::json!({
        "apiVersion": "rocketmq.rocketmq-rs.io/v1alpha1",
        "kind": "RocketMQCluster",
        "status": status,
    });
    let name = cr.name_any();
    api.patch_status(
        &name,
        &PatchParams::apply(names::FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|e| Error::kube(format!("patch status {ns}/{name}"), e))?;
    Ok(())
}

/// The config hash of each desired group's StatefulSet template.
fn desired_groups(plan: &ClusterPlan, children: &Children) -> Vec<DesiredGroup> {
    plan.groups
        .iter()
        .filter_map(|g| {
            let sts = children
                .stateful_sets
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(&g.broker_name))?;
            let hash = sts
                .spec
                .as_ref()?
                .template
                .metadata
                .as_ref()?
                .annotations
                .as_ref()?
                .get(names::CONFIG_HASH_ANNOTATION)?
                .clone();
            Some(DesiredGroup {
                index: g.index,
                members: g.members.len() as u32,
                hash,
            })
        })
        .collect()
}

fn set_partitions(children: &mut Children, plan: &ClusterPlan, partitions: &build::Partitions) {
    for g in &plan.groups {
        let p = partitions.get(&g.index).copied().unwrap_or(0);
        if let Some(ru) = children
            .stateful_sets
            .iter_mut()
            .find(|s| s.metadata.name.as_deref() == Some(&g.broker_name))
            .and_then(|s| {
                s.spec
                    .as_mut()?
                    .update_strategy
                    .as_mut()?
                    .rolling_update
                    .as_mut()
            })
        {
            ru.partition = Some(p);
        }
    }
}

/// Remoting address of a broker pod, from its IP (the operator talks to pods directly).
fn pod_addr(observed: &Observed, plan: &ClusterPlan, group: usize, ordinal: u32) -> Option<String> {
    let name = names::broker_pod(&plan.name, group, ordinal);
    let pod = observed
        .pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(&name))?;
    if !read::pod_ready(pod) {
        return None;
    }
    Some(format!(
        "{}:{}",
        pod.status.as_ref()?.pod_ip.as_ref()?,
        plan.broker_port
    ))
}

/// Answers one roll question with a broker admin call; `Err` carries a note for the status.
async fn answer(
    ctx: &Context,
    plan: &ClusterPlan,
    observed: &Observed,
    q: Question,
) -> std::result::Result<bool, String> {
    let group_of = |g: usize| names::broker_group(&plan.name, g);
    match q {
        Question::CaughtUp(g) => {
            let members = plan
                .groups
                .iter()
                .find(|x| x.index == g)
                .map(|x| x.members.len() as u32)
                .unwrap_or(1);
            let master = pod_addr(observed, plan, g, 0);
            let slaves: Option<Vec<String>> = (1..members)
                .map(|o| pod_addr(observed, plan, g, o))
                .collect();
            let (Some(master), Some(slaves)) = (master, slaves) else {
                // A member is not Ready: the roll waits (not an error).
                return Ok(false);
            };
            ctx.admin
                .slaves_caught_up(&master, &slaves)
                .await
                .map_err(|e| format!("replication state of {}: {e}", group_of(g)))
        }
        Question::Registered(g) => {
            let Some(master) = pod_addr(observed, plan, g, 0) else {
                return Ok(false);
            };
            let want = match plan.advertise {
                crate::crd::Advertise::PodIp => Some(master.as_str()),
                crate::crd::Advertise::PodDns => None,
            };
            // Every Ready name server must list it: clients ask any of them. Asked by pod IP,
            // like the brokers (the operator needs no cluster DNS).
            let servers: Vec<String> = observed
                .namesrv_pods
                .iter()
                .filter(|p| read::pod_ready(p))
                .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
                .map(|ip| format!("{ip}:{}", plan.namesrv.port))
                .collect();
            if servers.is_empty() {
                return Ok(false);
            }
            for namesrv in &servers {
                let registered = ctx
                    .admin
                    .master_registered(namesrv, &plan.cluster_name, &group_of(g), want)
                    .await
                    .map_err(|e| format!("registration of {} at {namesrv}: {e}", group_of(g)))?;
                if !registered {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}

/// Whether the resource asks the operator to leave it alone.
pub fn paused(cr: &RocketMQCluster) -> bool {
    cr.annotations()
        .get(crate::crd::PAUSE_ANNOTATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// One reconcile of one cluster. A failure is reported on the resource (Degraded with the
/// reason, a Warning Event) before it goes to [`error_policy`] for the backoff.
pub async fn reconcile(cr: Arc<RocketMQCluster>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
    let (ns, name) = (cr.namespace().unwrap_or_default(), cr.name_any());
    let gone = cr.meta().deletion_timestamp.is_some();
    ctx.metrics
        .observe_cluster(&ns, &name, cr.status.as_ref().filter(|_| !gone));
    let started = std::time::Instant::now();
    let result = reconcile_inner(&cr, &ctx).await;
    ctx.metrics
        .observe_reconcile(started.elapsed(), result.is_ok());
    match result {
        Ok(action) => {
            ctx.backoff.reset(&key_of(&cr));
            Ok(action)
        }
        Err(e) => {
            report_failure(&ctx, &cr, &e).await;
            Err(e)
        }
    }
}

/// Writes a failed reconcile onto the resource: Degraded=True `ReconcileFailed` with the error,
/// Progressing=True (the operator retries), Ready only kept when the last status was written for
/// this very generation. Best effort: the API may be what failed.
async fn report_failure(ctx: &Context, cr: &RocketMQCluster, err: &Error) {
    let Some(ns) = cr.namespace() else { return };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let prev = cr.status.as_ref();
    let new = status::failed(prev, &err.to_string(), cr.meta().generation, &now);
    for (type_, reason, note) in transitions(prev, &new) {
        publish(ctx, cr, type_, &reason, note).await;
    }
    if let Err(e) = patch_status(ctx, cr, &ns, &new).await {
        tracing::warn!(error = %e, "writing the failure onto the status failed");
    }
}

async fn reconcile_inner(cr: &RocketMQCluster, ctx: &Context) -> Result<Action> {
    let ns = cr
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = cr.name_any();
    if cr.meta().deletion_timestamp.is_some() {
        // Children go with the owner (garbage collection); claims follow the StatefulSets'
        // retention policy (kept unless spec.broker.storage.deleteClaimsOnDeletion).
        return Ok(Action::await_change());
    }
    let generation = cr.meta().generation;
    let prev = cr.status.as_ref();
    let now = Time(k8s_openapi::jiff::Timestamp::now());

    if paused(cr) {
        let new = status::paused(prev, generation, &now);
        for (type_, reason, note) in transitions(prev, &new) {
            publish(ctx, cr, type_, &reason, note).await;
        }
        if prev != Some(&new) {
            patch_status(ctx, cr, &ns, &new).await?;
        }
        return Ok(Action::await_change());
    }

    // validate
    let mut plan = match validate::validate(&name, &ns, &cr.spec) {
        Ok(p) => p,
        Err(refusal) => {
            ctx.metrics.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(namespace = %ns, cluster = %name, reason = refusal.reason(), message = %refusal.message(), "spec refused");
            let new = status::refused(prev, &refusal, generation, &now);
            let changed = prev
                .and_then(|p| p.conditions.iter().find(|c| c.type_ == status::DEGRADED))
                .map(|c| (&c.reason, &c.message))
                != new
                    .conditions
                    .iter()
                    .find(|c| c.type_ == status::DEGRADED)
                    .map(|c| (&c.reason, &c.message));
            if changed {
                publish(
                    ctx,
                    cr,
                    EventType::Warning,
                    refusal.reason(),
                    refusal.message(),
                )
                .await;
            }
            patch_status(ctx, cr, &ns, &new).await?;
            return Ok(Action::await_change());
        }
    };
    plan.restart = cr
        .annotations()
        .get(crate::crd::RESTART_ANNOTATION)
        .cloned();

    // read
    let observed = read::read(&ctx.client, &ns, &name).await?;
    let observed_groups = observed.groups();

    // storage (claim templates are immutable: expand + orphan re-create, or refuse)
    let storage =
        crate::storage::reconcile(&ctx.client, &mut plan, &observed.stateful_sets).await?;
    if !storage.expanded.is_empty() {
        publish(
            ctx,
            cr,
            EventType::Normal,
            "StorageExpanded",
            format!(
                "claims {} expanded to {}; their StatefulSets are re-created without restarting pods",
                storage.expanded.join(", "),
                plan.storage.size
            ),
        )
        .await;
    }

    // build
    let owner = owner_ref(cr)?;
    let mut children = build::build(&plan, &owner, &build::Partitions::new())?;

    // roll: decide, answer the questions the decision raises, decide again.
    let desired = desired_groups(&plan, &children);
    let mut outcome = Outcome::default();
    let mut answers = roll::Answers::new();
    let mut decision = roll::decide(&desired, &observed_groups, &answers);
    for _ in 0..plan.groups.len() + 1 {
        let open: Vec<Question> = decision
            .questions
            .iter()
            .filter(|q| !answers.contains_key(q))
            .copied()
            .collect();
        if open.is_empty() {
            break;
        }
        for q in open {
            let a = match answer(ctx, &plan, &observed, q).await {
                Ok(a) => a,
                Err(note) => {
                    outcome.notes.push(note);
                    false
                }
            };
            answers.insert(q, a);
        }
        decision = roll::decide(&desired, &observed_groups, &answers);
    }
    set_partitions(&mut children, &plan, &decision.partitions);
    outcome.decision = decision;
    outcome.storage_refused = storage.refused.clone();

    // apply (StatefulSets being re-created for a new claim template wait for their deletion)
    children.stateful_sets.retain(|s| {
        !s.metadata
            .name
            .as_ref()
            .is_some_and(|n| storage.recreating.contains(n))
    });
    build_apply(ctx, &children).await?;
    prune(ctx, &ns, &plan, &children, &observed, &outcome.decision).await?;

    // scale in: groups the spec dropped are removed only once drained.
    for sts in &observed.stateful_sets {
        let Some(index) = read::group_index(&sts.metadata) else {
            continue;
        };
        if index < plan.groups.len() {
            continue;
        }
        let group = names::broker_group(&plan.name, index);
        let drained = match pod_addr(&observed, &plan, index, 0) {
            Some(addr) => match ctx.admin.is_drained(&addr).await {
                Ok(d) => d,
                Err(e) => {
                    outcome.notes.push(format!("drain check of {group}: {e}"));
                    false
                }
            },
            None => false,
        };
        if drained {
            let cms: Vec<String> = observed
                .config_maps
                .iter()
                .filter(|c| read::group_index(&c.metadata) == Some(index))
                .filter_map(|c| c.metadata.name.clone())
                .collect();
            crate::apply::delete_group(&ctx.client, &ns, &group, &cms).await?;
            publish(
                ctx,
                cr,
                EventType::Normal,
                "GroupRemoved",
                format!("{group} was drained and removed; its claims are kept"),
            )
            .await;
        } else {
            outcome.scale_in_refused.push(group);
        }
    }

    // scale out: copy topics to groups added after the cluster first came up.
    let fresh = prev.is_none_or(|p| p.groups.is_empty());
    for g in &plan.groups {
        let before = prev.and_then(|p| p.groups.iter().find(|s| s.broker_name == g.broker_name));
        if fresh || before.is_some_and(|b| b.topics_copied) {
            outcome.topics_copied.insert(g.index);
        }
    }
    let skip: Vec<String> = plan
        .groups
        .iter()
        .map(|g| g.broker_name.clone())
        .chain(std::iter::once(plan.cluster_name.clone()))
        .collect();
    let sources: BTreeSet<usize> = outcome.topics_copied.clone();
    for g in &plan.groups {
        if outcome.topics_copied.contains(&g.index) {
            continue;
        }
        let target = pod_addr(&observed, &plan, g.index, 0);
        let source = sources
            .iter()
            .find_map(|&s| pod_addr(&observed, &plan, s, 0));
        if let (Some(target), Some(source)) = (target, source) {
            match ctx.admin.copy_topics(&source, &target, &skip).await {
                Ok(n) => {
                    outcome.topics_copied.insert(g.index);
                    publish(
                        ctx,
                        cr,
                        EventType::Normal,
                        "TopicsCopied",
                        format!(
                            "copied {n} topic(s) and subscription group(s) from {source} to {}",
                            g.broker_name
                        ),
                    )
                    .await;
                }
                Err(e) => outcome
                    .notes
                    .push(format!("topic copy to {}: {e}", g.broker_name)),
            }
        }
    }

    // status and events
    let new = status::reconciled(prev, &plan, &observed, &outcome, generation, &now);
    for (type_, reason, note) in transitions(prev, &new) {
        publish(ctx, cr, type_, &reason, note).await;
    }
    let busy = new
        .conditions
        .iter()
        .any(|c| c.type_ == status::PROGRESSING && c.status == "True")
        || !outcome.scale_in_refused.is_empty()
        || !storage.recreating.is_empty()
        || outcome.topics_copied.len() < plan.groups.len();
    patch_status(ctx, cr, &ns, &new).await?;
    Ok(Action::requeue(if busy {
        REQUEUE_BUSY
    } else {
        REQUEUE_IDLE
    }))
}

/// Deletes children the spec no longer asks for: PodDisruptionBudgets (budget disabled, or the
/// cluster moved between masters-only and groups with slaves) and old broker config revisions of
/// settled groups (a held group keeps the revision its pods' template references).
async fn prune(
    ctx: &Context,
    ns: &str,
    plan: &ClusterPlan,
    children: &Children,
    observed: &Observed,
    decision: &roll::Decision,
) -> Result<()> {
    let pdbs: BTreeSet<&str> = children
        .pdbs
        .iter()
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    let config_maps: BTreeSet<&str> = children
        .config_maps
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    for pdb in &observed.pdbs {
        let Some(n) = pdb.metadata.name.as_deref() else {
            continue;
        };
        // A group kept for a refused scale-in keeps its budget until it is removed.
        let beyond = read::group_index(&pdb.metadata).is_some_and(|i| i >= plan.groups.len());
        if !pdbs.contains(n) && !beyond {
            crate::apply::delete_if_exists::<PodDisruptionBudget>(&ctx.client, ns, n).await?;
        }
    }
    for cm in &observed.config_maps {
        let Some(n) = cm.metadata.name.as_deref() else {
            continue;
        };
        let Some(index) = read::group_index(&cm.metadata) else {
            continue;
        };
        // Groups beyond the spec keep theirs until drained and removed with the group.
        if index >= plan.groups.len()
            || decision.states.get(&index) != Some(&roll::GroupState::Settled)
        {
            continue;
        }
        if !config_maps.contains(n) {
            crate::apply::delete_if_exists::<ConfigMap>(&ctx.client, ns, n).await?;
        }
    }
    Ok(())
}

async fn build_apply(ctx: &Context, children: &Children) -> Result<()> {
    crate::apply::apply(&ctx.client, children).await
}

/// Events for condition changes worth telling a human about (pure).
pub fn transitions(
    prev: Option<&RocketMQClusterStatus>,
    new: &RocketMQClusterStatus,
) -> Vec<(EventType, String, String)> {
    let mut out = Vec::new();
    for c in &new.conditions {
        let before = prev.and_then(|p| p.conditions.iter().find(|x| x.type_ == c.type_));
        if before.is_some_and(|b| b.reason == c.reason && b.status == c.status) {
            continue;
        }
        match (c.type_.as_str(), c.status.as_str()) {
            (status::PROGRESSING, "True") => {
                out.push((EventType::Normal, c.reason.clone(), c.message.clone()))
            }
            (status::READY, "True") => {
                out.push((EventType::Normal, c.reason.clone(), c.message.clone()))
            }
            (status::DEGRADED, "True") => {
                out.push((EventType::Warning, c.reason.clone(), c.message.clone()))
            }
            _ => {}
        }
    }
    out
}

/// First retry delay after a failed reconcile.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Retry delay after the `failures`-th consecutive failure: 5 s, 10 s, 20 s, ... up to 5 min.
pub fn backoff_delay(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_MAX)
}

/// Consecutive failures per cluster, for the exponential backoff.
#[derive(Default, Debug)]
pub struct Backoff {
    failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl Backoff {
    /// Counts one more failure of `key`; returns the delay before the next try.
    pub fn fail(&self, key: &str) -> Duration {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        backoff_delay(*n)
    }
    /// A success of `key` resets its delay.
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

fn key_of(cr: &RocketMQCluster) -> String {
    format!("{}/{}", cr.namespace().unwrap_or_default(), cr.name_any())
}

/// Requeue after a failed reconcile with an exponential backoff; never gives up on a cluster.
pub fn error_policy(cr: Arc<RocketMQCluster>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failures.fetch_add(1, Ordering::Relaxed);
    let delay = ctx.backoff.fail(&key_of(&cr));
    tracing::warn!(cluster = %cr.name_any(), namespace = ?cr.namespace(), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Serves `/healthz`, `/readyz` and `/metrics` (Prometheus text, [`crate::metrics`]) on `addr`.
pub async fn serve_http(addr: &str, ctx: Arc<Context>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let ep = telemetry::Endpoint::new(crate::metrics::registry(ctx.metrics.clone()));
    telemetry::serve(
        listener,
        Arc::new(ep),
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    Ok(())
}

/// Runs the controller until SIGTERM / Ctrl-C.
///
/// With `election`, the replica first waits to become leader of that Lease (serving `/healthz`
/// meanwhile) and reconciles only while it holds it; losing the lease ends `run` with
/// [`Error::LostLeadership`] (the process exits and restarts as a follower, as client-go
/// operators do), and a clean stop releases it so a follower takes over at once.
pub async fn run(
    http: &str,
    namespace: Option<String>,
    election: Option<crate::leader::LeaseConfig>,
) -> Result<()> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| Error::kube("building the client", e))?;
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(RemotingAdmin::default()),
    ));
    let http_ctx = ctx.clone();
    let http = http.to_string();
    tokio::spawn(async move {
        if let Err(e) = serve_http(&http, http_ctx).await {
            tracing::error!(error = %e, addr = %http, "health/metrics endpoint failed");
        }
    });
    let Some(cfg) = election else {
        tracing::info!(namespace = ?namespace, "operator started (no leader election)");
        run_controller(client, namespace, ctx).await;
        return Ok(());
    };
    let mut elector = crate::leader::Elector::new(client.clone(), cfg);
    tracing::info!(namespace = ?namespace, lease = %elector.config().name, identity = %elector.config().identity, "operator started; waiting for leadership");
    tokio::select! {
        _ = elector.acquire() => {}
        _ = wait_for_signal() => {
            tracing::info!("operator stopped before becoming leader");
            return Ok(());
        }
    }
    let lost = tokio::select! {
        _ = run_controller(client, namespace, ctx) => false,
        _ = elector.hold() => true,
    };
    if lost {
        return Err(Error::LostLeadership(elector.config().name.clone()));
    }
    elector.release().await;
    Ok(())
}

/// The controller itself, until a signal (plus [`SHUTDOWN_GRACE`] to drain).
async fn run_controller(client: kube::Client, namespace: Option<String>, ctx: Arc<Context>) {
    let (crs, sts, deps): (Api<RocketMQCluster>, Api<StatefulSet>, Api<Deployment>) =
        match &namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (
                Api::all(client.clone()),
                Api::all(client.clone()),
                Api::all(client.clone()),
            ),
        };
    // Only our own children are cached: keeps memory flat however many other workloads exist.
    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=rocketmq-operator");
    let controller = Controller::new(crs, watcher::Config::default())
        .owns(sts, owned.clone())
        .owns(deps, owned)
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(cluster = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        });
    // The controller drains running reconciles after a signal; do not let a stuck API call keep
    // the pod in Terminating until the kubelet's SIGKILL.
    let deadline = async {
        wait_for_signal().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    // Declared topics and consumer groups: their own controllers, same client and signal.
    let resources = crate::resource::controller::run(client.clone(), namespace.clone());
    tokio::select! {
        _ = futures::future::join(controller, resources) => {}
        _ = deadline => tracing::warn!(grace = ?SHUTDOWN_GRACE, "controller did not drain in time; stopping anyway"),
    }
    tracing::info!("operator stopped");
}
