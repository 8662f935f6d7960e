//! Leadership: a second small pure state machine. Only the leader executes mutating effects.
//!
//! Every Lease write carries the `resourceVersion` it was decided from, so two contenders that
//! both see an expired lease cannot both win: the API server refuses the stale write (409).
//! A holder counts itself leader only until `renew_time + renew_deadline`, which is shorter
//! than the lease duration, so it stops acting before anyone else may take over.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::after;

/// How this controller takes part in the election.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LeaseConfig {
    /// This controller's identity (pod name).
    pub identity: String,
    /// How long a lease is valid after its last renewal; others wait this long.
    #[serde(with = "crate::duration::human")]
    pub lease_duration: Duration,
    /// The holder stops acting if it could not renew for this long (less than the duration).
    #[serde(with = "crate::duration::human")]
    pub renew_deadline: Duration,
    /// How often the holder renews and others retry.
    #[serde(with = "crate::duration::human")]
    pub retry_period: Duration,
}

/// The Lease object as observed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedLease {
    /// `spec.holderIdentity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// `spec.renewTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<DateTime<Utc>>,
    /// `spec.leaseDurationSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    /// `spec.leaseTransitions`.
    #[serde(default)]
    pub transitions: i32,
    /// `metadata.resourceVersion`, the precondition of the next write.
    pub resource_version: String,
}

/// Inputs of one leadership step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LeaseObservation {
    /// The current time.
    pub now: DateTime<Utc>,
    /// The Lease, if it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<ObservedLease>,
    /// The controller is shutting down and should hand over.
    #[serde(default)]
    pub shutting_down: bool,
}

/// What to write to the Lease.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum LeaseEffect {
    /// Create the Lease, held by us.
    Create {
        /// Our identity.
        holder: String,
        /// Acquire and renew time.
        now: DateTime<Utc>,
        /// `leaseDurationSeconds`.
        lease_duration_seconds: i32,
    },
    /// Take over a free or expired Lease; fails with a conflict if it changed since read.
    Acquire {
        /// Precondition.
        resource_version: String,
        /// Our identity.
        holder: String,
        /// Acquire and renew time.
        now: DateTime<Utc>,
        /// `leaseDurationSeconds`.
        lease_duration_seconds: i32,
        /// New `leaseTransitions`.
        transitions: i32,
    },
    /// Extend our Lease.
    Renew {
        /// Precondition.
        resource_version: String,
        /// New renew time.
        now: DateTime<Utc>,
    },
    /// Give the Lease up (clear the holder) so a standby takes over at once.
    Release {
        /// Precondition.
        resource_version: String,
    },
    /// Run the leadership step again after this long.
    RequeueAfter {
        /// How long from now.
        #[serde(with = "crate::duration::human")]
        after: Duration,
    },
}

/// The outcome of a leadership step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Leadership {
    /// Whether this controller may execute mutating effects now.
    pub is_leader: bool,
    /// Who holds the lease, as observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// While leader: the instant it must stop acting unless it renews first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_until: Option<DateTime<Utc>>,
}

/// Lease timings that would let two controllers act at once, or flap.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum LeaseConfigError {
    /// The lease must last at least a second (`leaseDurationSeconds` is whole seconds).
    #[error("the lease duration is {0:?}; it must be at least 1s (the Lease counts whole seconds)")]
    TooShort(Duration),
    /// A holder must stop acting before anyone else may take the lease over.
    #[error(
        "the renew deadline ({renew:?}) must be shorter than the lease duration ({lease:?}), or a \
         leader that cannot renew keeps acting after another has taken over"
    )]
    RenewDeadline {
        /// Renew deadline.
        renew: Duration,
        /// Lease duration.
        lease: Duration,
    },
    /// A holder must try to renew more than once before its deadline.
    #[error(
        "the retry period ({retry:?}) must be shorter than the renew deadline ({renew:?}), or a \
         leader loses the lease before it tries to renew it"
    )]
    RetryPeriod {
        /// Retry period.
        retry: Duration,
        /// Renew deadline.
        renew: Duration,
    },
    /// A zero retry period would spin.
    #[error("the retry period must be more than zero")]
    NoRetryPeriod,
}

impl LeaseConfig {
    /// Check that these timings elect at most one leader at a time.
    pub fn check(&self) -> Result<(), LeaseConfigError> {
        if self.lease_duration < Duration::from_secs(1) {
            return Err(LeaseConfigError::TooShort(self.lease_duration));
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(LeaseConfigError::RenewDeadline {
                renew: self.renew_deadline,
                lease: self.lease_duration,
            });
        }
        if self.retry_period.is_zero() {
            return Err(LeaseConfigError::NoRetryPeriod);
        }
        if self.retry_period >= self.renew_deadline {
            return Err(LeaseConfigError::RetryPeriod {
                retry: self.retry_period,
                renew: self.renew_deadline,
            });
        }
        Ok(())
    }

    /// `leaseDurationSeconds`: the duration in whole seconds, rounded up, so a lease never
    /// claims to last less than the holder counts on.
    pub fn lease_seconds(&self) -> i32 {
        let seconds =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(seconds).unwrap_or(i32::MAX)
    }

    /// Until when a holder that renewed at `renewed` may act: `renewed + renew_deadline`,
    /// earlier than anyone else may take the lease over.
    pub fn acting_until(&self, renewed: DateTime<Utc>) -> DateTime<Utc> {
        after(renewed, delta(self.renew_deadline))
    }
}

/// Decide what to do about the Lease.
pub fn lease_step(config: &LeaseConfig, obs: &LeaseObservation) -> (Leadership, Vec<LeaseEffect>) {
    let now = obs.now;
    let seconds = config.lease_seconds();
    let retry = config.retry_period;
    let Some(lease) = &obs.lease else {
        let effects = if obs.shutting_down {
            Vec::new()
        } else {
            vec![
                LeaseEffect::Create {
                    holder: config.identity.clone(),
                    now,
                    lease_duration_seconds: seconds,
                },
                LeaseEffect::RequeueAfter { after: retry },
            ]
        };
        return (not_leader(None), effects);
    };
    let held_by_me = lease.holder.as_deref() == Some(config.identity.as_str());
    let duration = lease
        .lease_duration_seconds
        .map_or(delta(config.lease_duration), |s| {
            TimeDelta::seconds(i64::from(s))
        });
    let expires = lease.renew_time.map(|at| after(at, duration));
    let free =
        lease.holder.as_deref().is_none_or(str::is_empty) || expires.is_none_or(|at| now >= at);
    let holder = lease.holder.clone().filter(|h| !h.is_empty());
    if obs.shutting_down {
        let effects = if held_by_me {
            vec![LeaseEffect::Release {
                resource_version: lease.resource_version.clone(),
            }]
        } else {
            Vec::new()
        };
        return (not_leader(holder), effects);
    }
    if held_by_me {
        let renewed = lease.renew_time.unwrap_or(now);
        let acting_until = config.acting_until(renewed);
        if now < acting_until {
            let renew_at = after(renewed, delta(retry));
            let effects = if now >= renew_at {
                vec![
                    LeaseEffect::Renew {
                        resource_version: lease.resource_version.clone(),
                        now,
                    },
                    LeaseEffect::RequeueAfter { after: retry },
                ]
            } else {
                vec![LeaseEffect::RequeueAfter {
                    after: crate::duration::to_std(renew_at - now),
                }]
            };
            let leadership = Leadership {
                is_leader: true,
                holder,
                acting_until: Some(acting_until),
            };
            return (leadership, effects);
        }
    }
    if free || held_by_me {
        let transitions = if held_by_me {
            lease.transitions
        } else {
            lease.transitions.saturating_add(1)
        };
        let effects = vec![
            LeaseEffect::Acquire {
                resource_version: lease.resource_version.clone(),
                holder: config.identity.clone(),
                now,
                lease_duration_seconds: seconds,
                transitions,
            },
            LeaseEffect::RequeueAfter { after: retry },
        ];
        return (not_leader(holder), effects);
    }
    // Someone else holds a live lease: try again when it would expire.
    let wait = expires.map_or(retry, |at| crate::duration::to_std(at - now).max(retry));
    (
        not_leader(holder),
        vec![LeaseEffect::RequeueAfter { after: wait }],
    )
}

fn not_leader(holder: Option<String>) -> Leadership {
    Leadership {
        is_leader: false,
        holder,
        acting_until: None,
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}
