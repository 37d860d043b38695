//! The controller: watches RocketMQClusters (and the StatefulSets / Deployments they own) and
//! runs the pipeline validate → read → storage → build → roll → apply → scale → status, with
//! Events. `reconcile_inner` reads as that list; each step is a method of `Pass` (one
//! reconcile of one cluster) or a call into the step's module ([`crate::scale`], [`crate::apply`]).
//!
//! A spec that fails validation gets a Degraded condition and a Warning Event; nothing is applied
//! (the cluster built from the last valid spec keeps running) and other clusters are unaffected:
//! errors never leave `reconcile` as panics, and `error_policy` only requeues.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::ConfigMap;
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
use crate::plan::ClusterPlan;
use crate::read::{self, Observed};
use crate::status::{self, Outcome};
use crate::{apply, names, roll, scale, validate};

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
    let Ok(pass) = Pass::new(cr, ctx) else { return };
    let new = status::failed(pass.prev, &err.to_string(), pass.generation, &pass.now);
    pass.announce(&new).await;
    if let Err(e) = pass.patch_status(&new).await {
        tracing::warn!(error = %e, "writing the failure onto the status failed");
    }
}

/// The pipeline: validate → read → storage → build → roll → apply and prune → scale in →
/// scale out → status and Events. Each step is one call; a step that ends the reconcile early
/// (deleted, paused, refused) returns the action itself.
async fn reconcile_inner(cr: &RocketMQCluster, ctx: &Context) -> Result<Action> {
    let pass = Pass::new(cr, ctx)?;
    if cr.meta().deletion_timestamp.is_some() {
        // Children go with the owner (garbage collection); claims follow the StatefulSets'
        // retention policy (kept unless spec.broker.storage.deleteClaimsOnDeletion).
        return Ok(Action::await_change());
    }
    if paused(cr) {
        return pass.pause().await;
    }
    let mut plan = match pass.validate() {
        Ok(plan) => plan,
        Err(refusal) => return pass.refuse(&refusal).await,
    };
    let observed = read::read(&ctx.client, &pass.ns, &pass.name).await?;
    let storage = pass.storage(&mut plan, &observed).await?;
    let mut children = build::build(&plan, &owner_ref(cr)?, &build::Partitions::new())?;
    let mut outcome = pass.roll(&plan, &observed, &mut children).await;
    outcome.storage_refused = storage.refused.clone();
    pass.apply(&plan, &observed, children, &storage, &outcome.decision)
        .await?;
    pass.delete_released(&plan, &outcome.decision).await?;
    scale::scale_in(&pass, &plan, &observed, &mut outcome).await?;
    scale::scale_out(&pass, &plan, &observed, &mut outcome).await;
    pass.report(&plan, &observed, &outcome, &storage).await
}

/// One reconcile of one cluster: what every step of the pipeline needs, and the steps.
pub(crate) struct Pass<'a> {
    pub(crate) cr: &'a RocketMQCluster,
    pub(crate) ctx: &'a Context,
    pub(crate) ns: String,
    pub(crate) name: String,
    pub(crate) generation: Option<i64>,
    pub(crate) prev: Option<&'a RocketMQClusterStatus>,
    pub(crate) now: Time,
}

impl<'a> Pass<'a> {
    fn new(cr: &'a RocketMQCluster, ctx: &'a Context) -> Result<Self> {
        Ok(Pass {
            ns: cr
                .namespace()
                .ok_or(Error::MissingField("metadata.namespace"))?,
            name: cr.name_any(),
            generation: cr.meta().generation,
            prev: cr.status.as_ref(),
            now: Time(k8s_openapi::jiff::Timestamp::now()),
            cr,
            ctx,
        })
    }

    /// Publishes one Event on the cluster (best effort).
    pub(crate) async fn publish(&self, type_: EventType, reason: &str, note: String) {
        publish(self.ctx, self.cr, type_, reason, note).await
    }

    /// Publishes the Events of the condition changes from the previous status to `new`.
    async fn announce(&self, new: &RocketMQClusterStatus) {
        for (type_, reason, note) in transitions(self.prev, new) {
            self.publish(type_, &reason, note).await;
        }
    }

    async fn patch_status(&self, new: &RocketMQClusterStatus) -> Result<()> {
        patch_status(self.ctx, self.cr, &self.ns, new).await
    }

    /// Paused: Progressing=False, nothing applied.
    async fn pause(&self) -> Result<Action> {
        let new = status::paused(self.prev, self.generation, &self.now);
        self.announce(&new).await;
        if self.prev != Some(&new) {
            self.patch_status(&new).await?;
        }
        Ok(Action::await_change())
    }

    /// The spec as a plan (with the manual-restart token), or the refusal.
    fn validate(&self) -> std::result::Result<ClusterPlan, validate::Refusal> {
        let mut plan = validate::validate(&self.name, &self.ns, &self.cr.spec)?;
        plan.restart = self
            .cr
            .annotations()
            .get(crate::crd::RESTART_ANNOTATION)
            .cloned();
        Ok(plan)
    }

    /// A refused spec: Degraded with the refusal (a Warning Event when the refusal is new);
    /// nothing is applied.
    async fn refuse(&self, refusal: &validate::Refusal) -> Result<Action> {
        self.ctx.metrics.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(namespace = %self.ns, cluster = %self.name, reason = refusal.reason(), message = %refusal.message(), "spec refused");
        let new = status::refused(self.prev, refusal, self.generation, &self.now);
        fn degraded(s: &RocketMQClusterStatus) -> Option<(&str, &str)> {
            s.conditions
                .iter()
                .find(|c| c.type_ == status::DEGRADED)
                .map(|c| (c.reason.as_str(), c.message.as_str()))
        }
        if self.prev.and_then(degraded) != degraded(&new) {
            self.publish(EventType::Warning, refusal.reason(), refusal.message())
                .await;
        }
        self.patch_status(&new).await?;
        Ok(Action::await_change())
    }

    /// Claim templates are immutable: expand the claims and re-create the StatefulSets
    /// (orphaning their pods), or refuse the storage change.
    async fn storage(
        &self,
        plan: &mut ClusterPlan,
        observed: &Observed,
    ) -> Result<crate::storage::StorageOutcome> {
        let storage =
            crate::storage::reconcile(&self.ctx.client, plan, &observed.stateful_sets).await?;
        if !storage.expanded.is_empty() {
            self.publish(
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
        Ok(storage)
    }

    /// The roll ([`roll::settle`], its questions answered by broker admin calls), written into
    /// the built StatefulSets' partitions.
    async fn roll(
        &self,
        plan: &ClusterPlan,
        observed: &Observed,
        children: &mut Children,
    ) -> Outcome {
        let admin = self.ctx.admin.as_ref();
        let mut targets = children.roll_targets(plan);
        for t in &mut targets {
            t.master = observed.master_ordinal(plan, t.index);
        }
        let (decision, notes) = roll::settle(&targets, &observed.groups(), |q| {
            crate::admin::questions::answer(admin, plan, observed, q)
        })
        .await;
        children.set_partitions(plan, &decision.partitions);
        Outcome {
            decision,
            notes,
            ..Outcome::default()
        }
    }

    /// Applies the children (StatefulSets being re-created for a new claim template wait for
    /// their deletion) and prunes what the spec dropped.
    async fn apply(
        &self,
        plan: &ClusterPlan,
        observed: &Observed,
        mut children: Children,
        storage: &crate::storage::StorageOutcome,
        decision: &roll::Decision,
    ) -> Result<()> {
        children.skip_stateful_sets(&storage.recreating);
        apply::apply(&self.ctx.client, &children).await?;
        apply::prune(
            &self.ctx.client,
            &self.ns,
            plan,
            &children,
            observed,
            decision,
        )
        .await
    }

    /// Deletes the pods the roll released in `OnDelete` groups (failover on): the StatefulSet
    /// controller re-creates each from the template just applied.
    async fn delete_released(&self, plan: &ClusterPlan, decision: &roll::Decision) -> Result<()> {
        for (g, ordinal) in &decision.deletions {
            let pod = names::broker_pod(&plan.name, *g, *ordinal);
            tracing::info!(namespace = %self.ns, %pod, "roll: deleting the pod to replace it");
            apply::delete_if_exists::<k8s_openapi::api::core::v1::Pod>(
                &self.ctx.client,
                &self.ns,
                &pod,
            )
            .await?;
        }
        Ok(())
    }

    /// Writes the status with its Events; requeues soon while anything is moving.
    async fn report(
        &self,
        plan: &ClusterPlan,
        observed: &Observed,
        outcome: &Outcome,
        storage: &crate::storage::StorageOutcome,
    ) -> Result<Action> {
        let new = status::reconciled(
            self.prev,
            plan,
            observed,
            outcome,
            self.generation,
            &self.now,
        );
        self.announce(&new).await;
        let busy = status::progressing(&new)
            || !outcome.scale_in_refused.is_empty()
            || !storage.recreating.is_empty()
            || outcome.topics_copied.len() < plan.groups.len();
        self.patch_status(&new).await?;
        Ok(Action::requeue(if busy {
            REQUEUE_BUSY
        } else {
            REQUEUE_IDLE
        }))
    }
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
    // ConfigMaps are watched for the roles ConfigMaps the failover loop writes: a failover
    // shows in the status at once.
    let cms: Api<ConfigMap> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // Only our own children are cached: keeps memory flat however many other workloads exist.
    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=rocketmq-operator");
    let controller = Controller::new(crs, watcher::Config::default())
        .owns(sts, owned.clone())
        .owns(deps, owned.clone())
        .owns(cms, owned)
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
    // Automatic failover: its own loop (a lost master is replaced within seconds, whatever the
    // reconcile is doing), stopped with the controller.
    let stop_failover = tokio_util::sync::CancellationToken::new();
    let failover = crate::failover::supervisor::Supervisor::new(client.clone(), namespace.clone())
        .run(stop_failover.clone());
    let stopper = async {
        wait_for_signal().await;
        stop_failover.cancel();
    };
    tokio::select! {
        _ = futures::future::join4(controller, resources, failover, stopper) => {}
        _ = deadline => tracing::warn!(grace = ?SHUTDOWN_GRACE, "controller did not drain in time; stopping anyway"),
    }
    tracing::info!("operator stopped");
}
