//! The safety invariants of SPEC.md §3, checked on one step's inputs and outputs.
//!
//! They judge what `step` decided, not what the world did on its own: a route a person edited
//! by hand is not a violation, but a weight KULTA writes toward pods that are not ready is.

use std::collections::BTreeMap;
use std::fmt;

use crate::effect::Effect;
use crate::revision::pod_template_hash;
use crate::status::Phase;
use crate::step::pods_for;
use crate::validate::{StrategyPlan, validate};

use super::Record;

/// A broken invariant, with what broke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// The details.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

fn violation(invariant: &'static str, detail: String) -> Result<(), Violation> {
    Err(Violation { invariant, detail })
}

/// Check one step. Returns the first broken invariant.
pub fn check_invariants(record: &Record) -> Result<(), Violation> {
    let obs = &record.observations;
    let after = &record.after;
    if !(0..=100).contains(&after.current_weight) {
        return violation(
            "weight in range",
            format!("status.currentWeight {}", after.current_weight),
        );
    }
    // Services and ready pods as they are once this step's effects are carried out.
    let mut services: BTreeMap<&str, Option<&str>> = obs
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.revision.as_deref()))
        .collect();
    let mut ready: BTreeMap<&str, i32> = obs
        .replica_sets
        .iter()
        .map(|rs| (rs.revision.as_str(), rs.ready_replicas))
        .collect();
    let by_name: BTreeMap<&str, &str> = obs
        .replica_sets
        .iter()
        .map(|rs| (rs.name.as_str(), rs.revision.as_str()))
        .collect();
    for effect in &record.effects {
        match effect {
            Effect::PointService { service, revision } => {
                services.insert(service, Some(revision));
            }
            Effect::ScaleReplicaSet { name, replicas } => {
                if *replicas < 0 {
                    return violation("replicas non-negative", format!("{name} -> {replicas}"));
                }
                if let Some(count) = by_name.get(name.as_str()).and_then(|r| ready.get_mut(r)) {
                    *count = (*count).min(*replicas);
                }
            }
            _ => {}
        }
    }
    let anything_ready = obs.replica_sets.iter().any(|rs| rs.ready_replicas > 0);
    let ready_behind = |service: &str| {
        services
            .get(service)
            .copied()
            .flatten()
            .map_or(0, |revision| ready.get(revision).copied().unwrap_or(0))
    };
    let plan = validate(&record.spec).ok();
    let dynamic = matches!(
        plan.as_ref().map(|p| &p.strategy),
        Some(StrategyPlan::Canary(canary)) if canary.dynamic_stable_scale
    );
    let replicas = plan.as_ref().map_or(0, |p| p.replicas);
    for effect in &record.effects {
        match effect {
            Effect::SetRouteWeights { stable, canary, .. } => {
                let in_range =
                    (0..=100).contains(&stable.weight) && (0..=100).contains(&canary.weight);
                if stable.weight + canary.weight != 100 || !in_range {
                    return violation(
                        "route weights sum to 100",
                        format!("stable {} + canary {}", stable.weight, canary.weight),
                    );
                }
                // Traffic share per revision as decided before this step and as written now.
                // Comparing with the decision, not the observed route, judges KULTA's moves:
                // repairing a route someone edited moves nothing KULTA decided.
                let decided = record.before.current_weight.clamp(0, 100);
                let mut before_share: BTreeMap<&str, i32> = BTreeMap::new();
                let mut after_share: BTreeMap<&str, i32> = BTreeMap::new();
                for (backend, observed) in [(stable, 100 - decided), (canary, decided)] {
                    let old_revision = obs
                        .services
                        .iter()
                        .find(|s| s.name == backend.service)
                        .and_then(|s| s.revision.as_deref());
                    if let Some(revision) = old_revision {
                        *before_share.entry(revision).or_default() += observed;
                    }
                    if let Some(revision) =
                        services.get(backend.service.as_str()).copied().flatten()
                    {
                        *after_share.entry(revision).or_default() += backend.weight;
                    }
                }
                let stable_revision = services.get(stable.service.as_str()).copied().flatten();
                for (revision, share) in &after_share {
                    let previous = before_share.get(revision).copied().unwrap_or(0);
                    if *share <= previous || !anything_ready {
                        continue;
                    }
                    let ready_now = ready.get(revision).copied().unwrap_or(0);
                    if ready_now == 0 {
                        return violation(
                            "no traffic to a revision without ready pods",
                            format!("{revision} raised {previous} -> {share} with no ready pods"),
                        );
                    }
                    let needed = pods_for(replicas, *share);
                    if dynamic && Some(*revision) == stable_revision && ready_now < needed {
                        return violation(
                            "stable scaled up before traffic returns to it",
                            format!(
                                "{revision} raised {previous} -> {share} with {ready_now} of {needed} pods ready"
                            ),
                        );
                    }
                }
            }
            Effect::SetHeaderRoute {
                rule: Some(rule), ..
            } if ready_behind(&rule.service) == 0 => {
                return violation(
                    "no traffic to a revision without ready pods",
                    format!(
                        "header route {} to {} with no ready pods",
                        rule.route.name, rule.service
                    ),
                );
            }
            _ => {}
        }
    }
    // The Service that carries production traffic moves only to a revision with ready pods.
    let production = plan.as_ref().and_then(|plan| match &plan.strategy {
        StrategyPlan::BlueGreen(blue_green) => Some(blue_green.active_service),
        StrategyPlan::Canary(canary) => canary.stable_service,
        StrategyPlan::Simple(_) => None,
    });
    for effect in &record.effects {
        if let Effect::PointService { service, revision } = effect
            && Some(service.as_str()) == production
            && anything_ready
            && ready.get(revision.as_str()).copied().unwrap_or(0) == 0
        {
            return violation(
                "no traffic to a revision without ready pods",
                format!("{service} switched to {revision}, which has no ready pods"),
            );
        }
    }
    if let (Some(plan), Some(waiting), Some(phase)) = (&plan, &after.waiting, after.phase)
        && !phase.is_terminal()
        && obs.now >= crate::duration::after(waiting.since, plan.progress_deadline)
    {
        return violation(
            "progress deadline enforced",
            format!("still waiting at {} since {}", obs.now, waiting.since),
        );
    }
    let before = &record.before;
    if let Some(phase @ (Phase::Completed | Phase::Failed)) = before.phase
        && after.phase != before.phase
    {
        let revision = pod_template_hash(&record.spec.template);
        let shipped = match phase {
            Phase::Completed => before.stable_revision.as_deref(),
            _ => before.canary_revision.as_deref(),
        };
        let new_request = obs
            .request
            .as_ref()
            .is_some_and(|r| before.last_request_token.as_deref() != Some(r.token.as_str()));
        if shipped == Some(revision.as_str()) && !new_request {
            return violation(
                "terminal phases are left only by a new revision or a request",
                format!("{phase:?} -> {:?}", after.phase),
            );
        }
    }
    Ok(())
}
