//! Leadership: Lease acquire / renew / release as effects, decided from the observed Lease.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use kulta::{LeaseConfig, LeaseEffect, LeaseObservation, ObservedLease, lease_step};
use support::at;

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        identity: identity.into(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    }
}

fn lease(holder: &str, renewed: DateTime<Utc>, rv: &str) -> ObservedLease {
    ObservedLease {
        holder: Some(holder.into()),
        renew_time: Some(renewed),
        lease_duration_seconds: Some(15),
        transitions: 3,
        resource_version: rv.into(),
    }
}

fn observe(now: DateTime<Utc>, lease: Option<ObservedLease>) -> LeaseObservation {
    LeaseObservation {
        now,
        lease,
        shutting_down: false,
    }
}

#[test]
fn a_missing_lease_is_created_and_leadership_waits_for_it_to_be_observed() {
    let (leadership, effects) = lease_step(&config("a"), &observe(at(0), None));
    assert!(!leadership.is_leader);
    assert!(matches!(&effects[0], LeaseEffect::Create { holder, .. } if holder == "a"));
}

#[test]
fn the_holder_leads_and_renews_every_retry_period_with_its_resource_version() {
    let (leadership, effects) =
        lease_step(&config("a"), &observe(at(1), Some(lease("a", at(0), "7"))));
    assert!(leadership.is_leader);
    assert_eq!(
        effects,
        vec![LeaseEffect::RequeueAfter {
            after: Duration::from_secs(1)
        }]
    );
    let (leadership, effects) =
        lease_step(&config("a"), &observe(at(2), Some(lease("a", at(0), "7"))));
    assert!(leadership.is_leader);
    assert_eq!(
        effects[0],
        LeaseEffect::Renew {
            resource_version: "7".into(),
            now: at(2)
        }
    );
}

#[test]
fn a_holder_that_could_not_renew_stops_leading_before_the_lease_expires() {
    let (leadership, _) = lease_step(&config("a"), &observe(at(10), Some(lease("a", at(0), "7"))));
    assert!(
        !leadership.is_leader,
        "past the renew deadline, still inside the lease"
    );
}

#[test]
fn a_standby_waits_for_a_live_lease_and_takes_over_an_expired_one() {
    let (leadership, effects) =
        lease_step(&config("b"), &observe(at(5), Some(lease("a", at(0), "7"))));
    assert!(!leadership.is_leader);
    assert_eq!(leadership.holder.as_deref(), Some("a"));
    assert_eq!(
        effects,
        vec![LeaseEffect::RequeueAfter {
            after: Duration::from_secs(10)
        }]
    );
    let (_, effects) = lease_step(&config("b"), &observe(at(15), Some(lease("a", at(0), "7"))));
    assert_eq!(
        effects[0],
        LeaseEffect::Acquire {
            resource_version: "7".into(),
            holder: "b".into(),
            now: at(15),
            lease_duration_seconds: 15,
            transitions: 4,
        }
    );
}

#[test]
fn shutting_down_releases_a_held_lease() {
    let obs = LeaseObservation {
        shutting_down: true,
        ..observe(at(1), Some(lease("a", at(0), "7")))
    };
    let (leadership, effects) = lease_step(&config("a"), &obs);
    assert!(!leadership.is_leader);
    assert_eq!(
        effects,
        vec![LeaseEffect::Release {
            resource_version: "7".into()
        }]
    );
}

/// A Lease store that refuses writes whose resourceVersion is stale, as the API server does.
struct Store {
    lease: Option<ObservedLease>,
    version: u64,
}

impl Store {
    fn apply(&mut self, effect: &LeaseEffect) -> bool {
        let current = self.lease.as_ref().map(|l| l.resource_version.clone());
        let (precondition, next) = match effect {
            LeaseEffect::Create {
                holder,
                now,
                lease_duration_seconds,
            } => (
                None,
                Some((Some(holder.clone()), Some(*now), *lease_duration_seconds, 0)),
            ),
            LeaseEffect::Acquire {
                resource_version,
                holder,
                now,
                lease_duration_seconds,
                transitions,
            } => (
                Some(resource_version.clone()),
                Some((
                    Some(holder.clone()),
                    Some(*now),
                    *lease_duration_seconds,
                    *transitions,
                )),
            ),
            LeaseEffect::Renew {
                resource_version,
                now,
            } => {
                let l = self.lease.clone().unwrap();
                (
                    Some(resource_version.clone()),
                    Some((
                        l.holder,
                        Some(*now),
                        l.lease_duration_seconds.unwrap(),
                        l.transitions,
                    )),
                )
            }
            LeaseEffect::Release { resource_version } => {
                let l = self.lease.clone().unwrap();
                (
                    Some(resource_version.clone()),
                    Some((None, l.renew_time, 15, l.transitions)),
                )
            }
            LeaseEffect::RequeueAfter { .. } => return true,
        };
        if precondition != current {
            return false;
        }
        if let Some((holder, renew_time, seconds, transitions)) = next {
            self.version += 1;
            self.lease = Some(ObservedLease {
                holder,
                renew_time,
                lease_duration_seconds: Some(seconds),
                transitions,
                resource_version: self.version.to_string(),
            });
        }
        true
    }
}

#[test]
fn two_contenders_for_an_expired_lease_never_both_lead() {
    let mut store = Store {
        lease: Some(lease("old", at(0), "1")),
        version: 1,
    };
    let seen = store.lease.clone();
    // Both observe the same expired lease and decide to acquire it.
    let (_, a) = lease_step(&config("a"), &observe(at(20), seen.clone()));
    let (_, b) = lease_step(&config("b"), &observe(at(20), seen));
    assert!(store.apply(&a[0]));
    assert!(!store.apply(&b[0]), "the stale write is refused");
    let (la, _) = lease_step(&config("a"), &observe(at(21), store.lease.clone()));
    let (lb, _) = lease_step(&config("b"), &observe(at(21), store.lease.clone()));
    assert!(la.is_leader);
    assert!(!lb.is_leader);
}

#[test]
fn a_standby_takes_over_within_the_lease_duration_after_the_leader_dies() {
    let mut store = Store {
        lease: None,
        version: 0,
    };
    let mut now = at(0);
    // "a" leads, renewing every retry period, until it dies at t=30.
    while now < at(30) {
        let (_, effects) = lease_step(&config("a"), &observe(now, store.lease.clone()));
        for effect in &effects {
            store.apply(effect);
        }
        now += chrono::TimeDelta::seconds(1);
    }
    let died = now;
    let mut took_over = None;
    while now < at(120) {
        let (leadership, effects) = lease_step(&config("b"), &observe(now, store.lease.clone()));
        if leadership.is_leader {
            took_over = Some(now);
            break;
        }
        for effect in &effects {
            store.apply(effect);
        }
        now += chrono::TimeDelta::seconds(1);
    }
    let took_over = took_over.expect("b took over");
    assert!(
        took_over - died <= chrono::TimeDelta::seconds(16),
        "{}",
        took_over - died
    );
}

#[test]
fn a_leader_is_told_the_instant_it_must_stop_acting_unless_it_renews() {
    let (leadership, _) = lease_step(&config("a"), &observe(at(1), Some(lease("a", at(0), "7"))));
    assert_eq!(leadership.acting_until, Some(at(10)), "renewed at 0 + 10 s");
    let (standby, _) = lease_step(&config("b"), &observe(at(1), Some(lease("a", at(0), "7"))));
    assert_eq!(standby.acting_until, None);
}

#[test]
fn lease_timings_that_could_elect_two_leaders_are_refused() {
    use kulta::leader::LeaseConfigError;
    use std::time::Duration;
    let config = |lease: u64, renew: u64, retry: u64| kulta::LeaseConfig {
        identity: "a".into(),
        lease_duration: Duration::from_millis(lease),
        renew_deadline: Duration::from_millis(renew),
        retry_period: Duration::from_millis(retry),
    };
    assert_eq!(config(15_000, 10_000, 2_000).check(), Ok(()));
    assert!(matches!(
        config(10_000, 10_000, 2_000).check(),
        Err(LeaseConfigError::RenewDeadline { .. })
    ));
    assert!(matches!(
        config(10_000, 12_000, 2_000).check(),
        Err(LeaseConfigError::RenewDeadline { .. })
    ));
    assert!(matches!(
        config(15_000, 2_000, 2_000).check(),
        Err(LeaseConfigError::RetryPeriod { .. })
    ));
    assert!(matches!(
        config(500, 300, 100).check(),
        Err(LeaseConfigError::TooShort(_))
    ));
    assert_eq!(
        config(15_000, 10_000, 0).check(),
        Err(LeaseConfigError::NoRetryPeriod)
    );
    let message = config(10_000, 12_000, 2_000)
        .check()
        .unwrap_err()
        .to_string();
    assert!(message.contains("renew deadline (12s)"), "{message}");
    // Fractions of a second round up: the Lease never says less than the holder counts on.
    assert_eq!(config(2_500, 2_000, 500).lease_seconds(), 3);
    assert_eq!(config(3_000, 2_000, 500).lease_seconds(), 3);
}
