//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several operator replicas
//! exactly one reconciles (and publishes Events) at a time.
//!
//! kube 5 has no elector; this is the client-go algorithm in small:
//! - A candidate reads the Lease. If it does not exist, it creates it naming itself (a create
//!   races safely: the loser gets 409 Conflict).
//! - If another identity holds it, the candidate takes over only once the lease has expired,
//!   measured on the candidate's own monotonic clock from the moment it last *saw the record
//!   change* (holder or renewTime) — never by comparing the holder's wall-clock timestamps, so
//!   clock skew between nodes cannot cause two leaders.
//! - Every write is a `replace` carrying the resourceVersion that was read: of two candidates
//!   writing at once, one gets 409 Conflict and stays a follower.
//! - The holder renews every `renew_every`; if it has not renewed successfully for
//!   `lease_duration` it must assume another replica took over and stops (the caller exits the
//!   process; Kubernetes restarts it as a follower).
//! - On a clean shutdown the holder releases the lease (empty holder, 1 s duration) so a
//!   follower takes over at its next retry instead of waiting for expiry.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::error::{Error, Result};

/// Settings of one elector.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Lease name; replicas watching the same namespaces must share it.
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a lease is valid without renewal (`leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How often the holder renews and a follower retries.
    pub renew_every: Duration,
}

impl LeaseConfig {
    /// Defaults: 15 s lease, renew every 5 s (client-go's 15 s / 2 s retry order of magnitude).
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        LeaseConfig {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }
}

/// A Lease-based leader elector.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The last record seen and when it was first seen.
    observed: Option<(Record, Instant)>,
}

/// What identifies one renewal of a lease: holder and renewTime.
type Record = (Option<String>, Option<MicroTime>);

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl Elector {
    /// An elector using `client`.
    pub fn new(client: kube::Client, cfg: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &LeaseConfig {
        &self.cfg
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.cfg.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// One acquire-or-renew attempt: `Ok(true)` when this replica holds the lease afterwards.
    /// Conflicts (another writer won the race) are `Ok(false)`, not errors.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        let ctx = || format!("lease {}/{}", self.cfg.namespace, self.cfg.name);
        let current = match self.api.get_opt(&self.cfg.name).await {
            Ok(c) => c,
            Err(e) => return Err(Error::kube(ctx(), e)),
        };
        let Some(mut lease) = current else {
            let t = now();
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(self.duration_secs()),
                    acquire_time: Some(t.clone()),
                    renew_time: Some(t),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(Error::kube(ctx(), e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let record = (spec.holder_identity.clone(), spec.renew_time.clone());
        let seen_at = match &self.observed {
            Some((r, at)) if *r == record => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((record.clone(), at));
                at
            }
        };
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let mine = holder == Some(self.cfg.identity.as_str());
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1)))
            .unwrap_or(self.cfg.lease_duration);
        if !mine && holder.is_some() && seen_at.elapsed() < duration {
            return Ok(false);
        }
        let t = now();
        let mut new = spec;
        if !mine {
            new.holder_identity = Some(self.cfg.identity.clone());
            new.acquire_time = Some(t.clone());
            new.lease_transitions = Some(new.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        new.renew_time = Some(t);
        new.lease_duration_seconds = Some(self.duration_secs());
        lease.spec = Some(new);
        // `replace` sends metadata.resourceVersion: a concurrent writer makes this a 409.
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(Error::kube(ctx(), e)),
        }
    }

    /// Waits until this replica holds the lease, retrying every `renew_every`.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.cfg.name, namespace = %self.cfg.namespace, identity = %self.cfg.identity, "became leader");
                    return;
                }
                Ok(false) => {
                    tracing::debug!(lease = %self.cfg.name, "another replica leads; waiting")
                }
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.cfg.renew_every).await;
        }
    }

    /// Renews until a renewal has not succeeded for `lease_duration`; then returns (leadership is
    /// lost: another replica may already lead).
    pub async fn hold(&mut self) {
        let mut last_ok = Instant::now();
        loop {
            tokio::time::sleep(self.cfg.renew_every).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_ok = Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.cfg.name, "lease taken by another replica");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "renewing the lease failed"),
            }
            // Stop renewing before the lease could be taken over by a follower.
            if last_ok.elapsed() + self.cfg.renew_every >= self.cfg.lease_duration {
                tracing::error!(lease = %self.cfg.name, "could not renew the lease in time");
                return;
            }
        }
    }

    /// Gives the lease up if this replica holds it (clean shutdown).
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.cfg.name, "released the lease"),
            Err(e) => tracing::warn!(error = %e, "releasing the lease failed"),
        }
    }
}
