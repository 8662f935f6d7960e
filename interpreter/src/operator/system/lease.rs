//! Leader election: the core's [`kulta::lease_step`] decides, this loop observes the Lease and
//! carries the decision out. Every write carries the `resourceVersion` it was decided from, so
//! a stale contender gets 409 instead of a second crown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

use kube::{Api, Client};
use kulta::{LeaseConfig, LeaseEffect, LeaseObservation, ObservedLease, lease_step};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::operator::error::{OperatorError, is_conflict};
use crate::operator::telemetry::Telemetry;
use crate::operator::time::{from_timestamp, micro};

/// Whether this controller may act, shared by the lease loop and every reconcile.
///
/// Leadership is held until a deadline on the monotonic clock (`renew_time + renew_deadline`),
/// so a leader whose renewals fail stops writing at that instant even if the loop is stuck.
#[derive(Clone)]
pub struct Leader {
    acting: Arc<Mutex<Acting>>,
    changes: watch::Sender<bool>,
}

/// Leadership held until `until`, in its `term`-th stretch.
#[derive(Default)]
struct Acting {
    until: Option<Instant>,
    term: u64,
}

impl Acting {
    fn now(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() < until)
    }
}

impl Leader {
    /// A controller that is not (yet) leader.
    pub fn new() -> Self {
        Leader {
            acting: Arc::new(Mutex::new(Acting::default())),
            changes: watch::Sender::new(false),
        }
    }

    /// A controller that always acts (leader election disabled).
    pub fn always() -> Self {
        let leader = Self::new();
        leader.set(Some(
            Instant::now() + Duration::from_secs(u64::from(u32::MAX)),
        ));
        leader
    }

    /// Whether mutating effects may be executed now.
    pub fn acting(&self) -> bool {
        self.acting.lock().is_ok_and(|acting| acting.now())
    }

    /// The stretch of leadership held now, if any. It changes each time leadership is gained
    /// after a gap (lost, expired or never held), so what was learnt while leading before —
    /// such as which version of a Rollout is the newest — is not trusted after another
    /// leader may have acted.
    pub fn term(&self) -> Option<u64> {
        let acting = self.acting.lock().ok()?;
        acting.now().then_some(acting.term)
    }

    /// Become leader until `until`, or stop at once (`None`).
    fn set(&self, until: Option<Instant>) {
        if let Ok(mut acting) = self.acting.lock() {
            if until.is_some() && !acting.now() {
                acting.term = acting.term.wrapping_add(1);
            }
            acting.until = until;
        }
        let leading = until.is_some();
        self.changes.send_if_modified(|current| {
            let changed = *current != leading;
            *current = leading;
            changed
        });
    }

    /// Changes of leadership (true: became leader).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.changes.subscribe()
    }
}

impl Default for Leader {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the Lease lives.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Lease namespace.
    pub namespace: String,
    /// Lease name (one per shard).
    pub name: String,
    /// Timings and this controller's identity.
    pub config: LeaseConfig,
}

/// Run the election until `shutdown` fires, then release the lease if held.
pub async fn run(
    client: Client,
    settings: LeaseSettings,
    leader: Leader,
    telemetry: Arc<Telemetry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    loop {
        let stopping = *shutdown.borrow();
        let wait = match round(&api, &settings, &leader, stopping).await {
            Ok(wait) => wait,
            Err(error) => {
                tracing::warn!(%error, lease = %settings.name, "lease round failed");
                // The deadline in `leader` keeps an unrenewed leader from acting too long.
                settings.config.retry_period
            }
        };
        telemetry.set_leader(leader.acting());
        if stopping {
            leader.set(None);
            telemetry.set_leader(false);
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One observe → decide → write round; returns how long to wait before the next.
async fn round(
    api: &Api<Lease>,
    settings: &LeaseSettings,
    leader: &Leader,
    shutting_down: bool,
) -> Result<Duration, OperatorError> {
    let observed_at = Instant::now();
    let now = Utc::now();
    let lease = api.get_opt(&settings.name).await?;
    let observation = LeaseObservation {
        now,
        lease: lease.as_ref().map(observe),
        shutting_down,
    };
    let (leadership, effects) = lease_step(&settings.config, &observation);
    // The core's instant, read on the monotonic clock from when the lease was observed.
    let acting = |until: DateTime<Utc>| observed_at + (until - now).to_std().unwrap_or_default();
    leader.set(leadership.acting_until.map(acting));
    let mut wait = settings.config.retry_period;
    for effect in effects {
        match effect {
            LeaseEffect::RequeueAfter { after } => wait = after,
            write => match execute(api, settings, lease.as_ref(), &write).await {
                Ok(()) => {
                    if let LeaseEffect::Renew { now: renewed, .. } = write {
                        leader.set(Some(acting(settings.config.acting_until(renewed))));
                    }
                    if matches!(
                        write,
                        LeaseEffect::Create { .. } | LeaseEffect::Acquire { .. }
                    ) {
                        tracing::info!(lease = %settings.name, identity = %settings.config.identity, "acquired the lease");
                        // Observe the lease we now hold at once, to start acting.
                        return Ok(Duration::ZERO);
                    }
                    if let LeaseEffect::Release { .. } = write {
                        tracing::info!(lease = %settings.name, "released the lease");
                    }
                }
                Err(error) if is_conflict(&error) => {
                    tracing::debug!(lease = %settings.name, "lost a lease race; will look again");
                    leader.set(None);
                    return Ok(settings.config.retry_period);
                }
                Err(error) => {
                    if matches!(write, LeaseEffect::Renew { .. }) {
                        tracing::warn!(%error, "could not renew the lease");
                    }
                    return Err(error.into());
                }
            },
        }
    }
    Ok(wait)
}

fn observe(lease: &Lease) -> ObservedLease {
    let spec = lease.spec.clone().unwrap_or_default();
    ObservedLease {
        holder: spec.holder_identity,
        renew_time: spec.renew_time.map(|MicroTime(at)| from_timestamp(at)),
        lease_duration_seconds: spec.lease_duration_seconds,
        transitions: spec.lease_transitions.unwrap_or(0),
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    }
}

async fn execute(
    api: &Api<Lease>,
    settings: &LeaseSettings,
    current: Option<&Lease>,
    effect: &LeaseEffect,
) -> Result<(), kube::Error> {
    let params = crate::operator::execute::post_params();
    let held = |resource_version: &str, spec: LeaseSpec| Lease {
        metadata: ObjectMeta {
            name: Some(settings.name.clone()),
            namespace: Some(settings.namespace.clone()),
            resource_version: Some(resource_version.to_string()),
            ..current
                .map(|lease| lease.metadata.clone())
                .unwrap_or_default()
        },
        spec: Some(spec),
    };
    let existing = current
        .and_then(|lease| lease.spec.clone())
        .unwrap_or_default();
    match effect {
        LeaseEffect::Create {
            holder,
            now,
            lease_duration_seconds,
        } => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(settings.name.clone()),
                    namespace: Some(settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(holder.clone()),
                    acquire_time: Some(micro(*now)),
                    renew_time: Some(micro(*now)),
                    lease_duration_seconds: Some(*lease_duration_seconds),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            api.create(&params, &lease).await.map(drop)
        }
        LeaseEffect::Acquire {
            resource_version,
            holder,
            now,
            lease_duration_seconds,
            transitions,
        } => {
            let spec = LeaseSpec {
                holder_identity: Some(holder.clone()),
                acquire_time: Some(micro(*now)),
                renew_time: Some(micro(*now)),
                lease_duration_seconds: Some(*lease_duration_seconds),
                lease_transitions: Some(*transitions),
                ..existing
            };
            api.replace(&settings.name, &params, &held(resource_version, spec))
                .await
                .map(drop)
        }
        LeaseEffect::Renew {
            resource_version,
            now,
        } => {
            let spec = LeaseSpec {
                renew_time: Some(micro(*now)),
                ..existing
            };
            api.replace(&settings.name, &params, &held(resource_version, spec))
                .await
                .map(drop)
        }
        LeaseEffect::Release { resource_version } => {
            let spec = LeaseSpec {
                holder_identity: None,
                ..existing
            };
            api.replace(&settings.name, &params, &held(resource_version, spec))
                .await
                .map(drop)
        }
        LeaseEffect::RequeueAfter { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_gained_after_any_gap_is_a_new_term_and_renewals_keep_it() {
        let leader = Leader::new();
        assert_eq!(leader.term(), None);
        leader.set(Some(Instant::now() + Duration::from_secs(10)));
        let first = leader.term();
        assert!(first.is_some());
        leader.set(Some(Instant::now() + Duration::from_secs(20)));
        assert_eq!(leader.term(), first, "a renewal");
        leader.set(None);
        assert_eq!(leader.term(), None, "lost");
        leader.set(Some(Instant::now() + Duration::from_secs(10)));
        let second = leader.term();
        assert!(second.is_some() && second != first, "gained again");
        // Expired without a word from the lease loop (a process stopped past its deadline).
        leader.set(Some(Instant::now() + Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(leader.term(), None);
        leader.set(Some(Instant::now() + Duration::from_secs(10)));
        let third = leader.term();
        assert!(third.is_some() && third != second, "gained after expiring");
    }
}
