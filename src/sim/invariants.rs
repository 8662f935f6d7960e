//! The safety invariants of SPEC.md §3, checked on one step's inputs and outputs, three ways:
//!
//! 1. **In order, after every effect.** The effects are applied one at a time, in the order
//!    the interpreter executes them, to a model of the observed world; after each one, nothing
//!    that carries traffic may have been made worse. Route writes in the batch are not assumed
//!    to have landed: a Service keeps the traffic the route was *observed* giving it (a write
//!    may fail or lag), and gains what a write gives it.
//! 2. **On the observed world.** Traffic the route is observed sending to a revision without
//!    ready pods must be taken away by this step when stable can take it; no revision is left
//!    scaled below the traffic it is observed carrying.
//! 3. **The deadline runs in every waiting state**, and is enforced.
//!
//! They judge what `step` did, not what the world did on its own: pods crashing is not a
//! violation, but leaving traffic on them is.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::effect::Effect;
use crate::observations::Observations;
use crate::revision::template_revision;
use crate::status::{Phase, RolloutStatus};
use crate::step::{deployment_floor, pods_for};
use crate::validate::{Plan, StrategyPlan, validate};

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

const NO_TRAFFIC_WITHOUT_PODS: &str = "no traffic to a revision without ready pods";
const NO_SCALE_DOWN_UNDER_TRAFFIC: &str = "nothing scaled down under the traffic it carries";
const STABLE_COVERS_ITS_WEIGHT: &str = "stable's ready pods cover its weight";
const DEPLOYMENT_COVERED: &str =
    "the Deployment being replaced goes down only as the Rollout's ready pods cover it";
const DEADLINE_RUNS: &str = "the progress deadline runs in every waiting state";

/// Check one step. Returns the first broken invariant.
pub fn check_invariants(record: &Record) -> Result<(), Violation> {
    let after = &record.after;
    if !(0..=100).contains(&after.current_weight) {
        return violation(
            "weight in range",
            format!("status.currentWeight {}", after.current_weight),
        );
    }
    for effect in &record.effects {
        match effect {
            Effect::ScaleReplicaSet { name, replicas } if *replicas < 0 => {
                return violation("replicas non-negative", format!("{name} -> {replicas}"));
            }
            Effect::SetRouteWeights { stable, canary, .. } => {
                let in_range =
                    (0..=100).contains(&stable.weight) && (0..=100).contains(&canary.weight);
                if stable.weight + canary.weight != 100 || !in_range {
                    return violation(
                        "route weights sum to 100",
                        format!("stable {} + canary {}", stable.weight, canary.weight),
                    );
                }
            }
            _ => {}
        }
    }
    let plan = validate(&record.spec).ok();
    if let Some(plan) = &plan {
        let roles = Roles::of(plan, &record.before);
        in_order(record, plan, &roles)?;
        observed_world(record, plan, &roles)?;
        deadline(record, plan)?;
    }
    terminal_phases(record)
}

/// Which Services carry traffic, and how much of it their revision must be able to serve.
struct Roles<'p> {
    replicas: i32,
    /// Services whose traffic is the route weight of their backend.
    routed: Vec<&'p str>,
    /// The routed Service whose weight stable's ready pods must cover (dynamicStableScale).
    covered_stable: Option<&'p str>,
    /// The routed canary Service: a weight is only raised onto enough ready pods.
    canary: Option<&'p str>,
    /// Services that carry traffic outside any route (need at least one ready pod).
    unrouted: Vec<&'p str>,
}

impl<'p> Roles<'p> {
    fn of(plan: &'p Plan<'p>, before: &RolloutStatus) -> Self {
        let mut roles = Roles {
            replicas: plan.replicas,
            routed: Vec::new(),
            covered_stable: None,
            canary: None,
            unrouted: Vec::new(),
        };
        match &plan.strategy {
            StrategyPlan::Canary(canary) => match &canary.routing {
                Some(routing) => {
                    roles.routed = vec![routing.stable_service, routing.canary_service];
                    roles.canary = Some(routing.canary_service);
                    if canary.dynamic_stable_scale {
                        roles.covered_stable = Some(routing.stable_service);
                    }
                }
                None => {
                    roles.unrouted.extend(canary.stable_service);
                    if before.current_weight > 0 {
                        roles.unrouted.extend(canary.canary_service);
                    }
                }
            },
            StrategyPlan::BlueGreen(blue_green) => {
                roles.unrouted.push(blue_green.active_service);
                roles.unrouted.extend(blue_green.preview_service);
            }
            StrategyPlan::Simple(_) => {}
        }
        roles
    }
}

/// The observed world, with this step's effects applied one by one.
struct Model {
    selects: BTreeMap<String, Option<String>>,
    ready: BTreeMap<String, i32>,
    replicas: BTreeMap<String, i32>,
    revision_of: BTreeMap<String, String>,
    /// Per routed Service: the most traffic it may carry during the batch (observed, or raised
    /// by a write).
    weight: BTreeMap<String, i32>,
    /// Services a header rule sends requests to (observed, or written in the batch).
    header: BTreeSet<String>,
}

impl Model {
    fn new(obs: &Observations, roles: &Roles<'_>, canary_service: Option<&str>) -> Self {
        let route = obs.http_route.as_ref();
        Model {
            selects: obs
                .services
                .iter()
                .map(|s| (s.name.clone(), s.revision.clone()))
                .collect(),
            ready: obs
                .replica_sets
                .iter()
                .map(|rs| (rs.revision.clone(), rs.ready_replicas.max(0)))
                .collect(),
            replicas: obs
                .replica_sets
                .iter()
                .map(|rs| (rs.revision.clone(), rs.replicas))
                .collect(),
            revision_of: obs
                .replica_sets
                .iter()
                .map(|rs| (rs.name.clone(), rs.revision.clone()))
                .collect(),
            // Route weights are relative: what a backend carries is its share of their sum.
            weight: {
                let raw = |s: &str| route.and_then(|r| r.weight_of(s)).unwrap_or(0).max(0);
                let total: i64 = roles.routed.iter().map(|s| i64::from(raw(s))).sum();
                roles
                    .routed
                    .iter()
                    .map(|s| {
                        let share = if total > 0 {
                            (i64::from(raw(s)) * 100 + total - 1) / total
                        } else {
                            0
                        };
                        (s.to_string(), i32::try_from(share.min(100)).unwrap_or(100))
                    })
                    .collect()
            },
            header: route
                .filter(|r| r.header_route.is_some())
                .and(canary_service)
                .map(|s| BTreeSet::from([s.to_string()]))
                .unwrap_or_default(),
        }
    }

    fn ready_of(&self, revision: Option<&str>) -> i32 {
        revision
            .and_then(|r| self.ready.get(r).copied())
            .unwrap_or(0)
    }

    fn selected(&self, service: &str) -> Option<&str> {
        self.selects.get(service).and_then(|r| r.as_deref())
    }

    /// Ready pods `revision` needs for what the Services selecting it carry.
    fn needed(&self, revision: &str, roles: &Roles<'_>) -> i32 {
        let mut share = 0;
        let mut any = false;
        for service in &roles.routed {
            if self.selected(service) == Some(revision) {
                share += self.weight.get(*service).copied().unwrap_or(0);
                any |= self.header.contains(*service);
            }
        }
        for service in &roles.unrouted {
            any |= self.selected(service) == Some(revision);
        }
        let pods = pods_for(roles.replicas, share.min(100));
        if any { pods.max(1) } else { pods }
    }
}

fn in_order(record: &Record, plan: &Plan<'_>, roles: &Roles<'_>) -> Result<(), Violation> {
    let obs = &record.observations;
    let canary_service = plan.routing().map(|r| r.canary_service);
    let mut model = Model::new(obs, roles, canary_service);
    let anything_ready = obs.replica_sets.iter().any(|rs| rs.ready_replicas > 0);
    for (index, effect) in record.effects.iter().enumerate() {
        let at = |what: String| format!("effect #{index}: {what}");
        match effect {
            Effect::PointService { service, revision } => {
                let carries = roles.unrouted.contains(&service.as_str())
                    || model.weight.get(service).is_some_and(|w| *w > 0)
                    || model.header.contains(service);
                let before = model.selected(service).map(str::to_string);
                let was = model.ready_of(before.as_deref());
                let now = model.ready_of(Some(revision));
                // A Service that selects no revision while the first revision comes up
                // selects by the user's labels alone and may be serving pods the Rollout does
                // not own: it counts as serving.
                let taking_over = before.is_none() && record.before.canary_revision.is_none();
                if carries && now == 0 && (was > 0 || taking_over) {
                    return violation(
                        NO_TRAFFIC_WITHOUT_PODS,
                        at(format!(
                            "{service} re-pointed from {} ({was} ready) to {revision} (0 ready) \
                             while it carries traffic",
                            before.as_deref().unwrap_or("its own selector")
                        )),
                    );
                }
                model
                    .selects
                    .insert(service.clone(), Some(revision.clone()));
            }
            Effect::ScaleReplicaSet { name, replicas } => {
                let Some(revision) = model.revision_of.get(name).cloned() else {
                    continue;
                };
                let ready = model.ready_of(Some(&revision));
                let left = ready.min(*replicas);
                let needed = model.needed(&revision, roles);
                if left < ready && left < needed {
                    return violation(
                        NO_SCALE_DOWN_UNDER_TRAFFIC,
                        at(format!(
                            "{name} scaled to {replicas} ({ready} ready) while its Services \
                             carry traffic that needs {needed} pods"
                        )),
                    );
                }
                model.ready.insert(revision.clone(), left);
                model.replicas.insert(revision, *replicas);
            }
            Effect::DeleteReplicaSet { name } => {
                if let Some(revision) = model.revision_of.get(name).cloned() {
                    let needed = model.needed(&revision, roles);
                    if needed > 0 {
                        return violation(
                            NO_SCALE_DOWN_UNDER_TRAFFIC,
                            at(format!("{name} deleted while it carries traffic")),
                        );
                    }
                    model.ready.insert(revision, 0);
                }
            }
            Effect::SetRouteWeights { stable, canary, .. } => {
                // Judged per revision: two Services selecting one revision share its pods.
                let backends = [stable, canary];
                let mut revisions: Vec<&str> = backends
                    .iter()
                    .filter_map(|b| model.selected(&b.service))
                    .collect();
                revisions.dedup();
                for revision in revisions {
                    let share = |weight: &dyn Fn(&str, i32) -> i32| {
                        backends
                            .iter()
                            .filter(|b| model.selected(&b.service) == Some(revision))
                            .map(|b| weight(&b.service, b.weight))
                            .sum::<i32>()
                    };
                    let previous =
                        share(&|service, _| model.weight.get(service).copied().unwrap_or(0));
                    let written = share(&|_, weight| weight);
                    if written <= previous {
                        continue;
                    }
                    let ready = model.ready_of(Some(revision));
                    if ready == 0 && anything_ready {
                        return violation(
                            NO_TRAFFIC_WITHOUT_PODS,
                            at(format!(
                                "{revision} raised {previous} -> {written} with no ready pods"
                            )),
                        );
                    }
                    let selected_by = |role: Option<&str>| {
                        role.is_some_and(|service| model.selected(service) == Some(revision))
                    };
                    let stable_role = selected_by(roles.covered_stable);
                    // The canary's coverage is its own only while it is another revision.
                    let stable_service = roles.routed.first().copied();
                    let canary_role = selected_by(roles.canary) && !selected_by(stable_service);
                    let covered = stable_role || canary_role;
                    // Judged as a change: a raise must not need more pods than are ready, beyond
                    // what the traffic it already had needed (a replicas edit is not KULTA's).
                    let needed = pods_for(roles.replicas, written);
                    let before = pods_for(roles.replicas, previous);
                    // Leaving a canary without ready pods beats stable's coverage.
                    let canary_lost = stable_role
                        && roles
                            .canary
                            .is_some_and(|c| model.ready_of(model.selected(c)) == 0);
                    if covered && needed > ready.max(before) && anything_ready && !canary_lost {
                        let invariant = if stable_role {
                            STABLE_COVERS_ITS_WEIGHT
                        } else {
                            NO_TRAFFIC_WITHOUT_PODS
                        };
                        return violation(
                            invariant,
                            at(format!(
                                "{revision} raised {previous} -> {written} with {ready} of \
                                 {needed} pods ready"
                            )),
                        );
                    }
                }
                for backend in backends {
                    let weight = model.weight.entry(backend.service.clone()).or_default();
                    *weight = (*weight).max(backend.weight);
                }
            }
            Effect::SetHeaderRoute {
                rule: Some(rule), ..
            } => {
                let revision = model.selected(&rule.service).map(str::to_string);
                if model.ready_of(revision.as_deref()) == 0 {
                    return violation(
                        NO_TRAFFIC_WITHOUT_PODS,
                        at(format!(
                            "header route {} to {} ({}) with no ready pods",
                            rule.route.name,
                            rule.service,
                            revision.unwrap_or_default()
                        )),
                    );
                }
                model.header.insert(rule.service.clone());
            }
            Effect::ScaleDeployment { name, replicas } => {
                let observed = obs.workload.as_ref().map_or(0, |w| w.replicas);
                let at_takeover = record.after.workload_replicas.unwrap_or(observed);
                let ready: i32 = model.ready.values().sum();
                let floor = deployment_floor(at_takeover, roles.replicas, ready);
                if *replicas < observed && *replicas < floor {
                    return violation(
                        DEPLOYMENT_COVERED,
                        at(format!(
                            "Deployment {name} scaled from {observed} to {replicas} with {ready} \
                             of the Rollout's {} pods ready (it ran {at_takeover}; at least \
                             {floor} must stay)",
                            roles.replicas
                        )),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// What the observed world shows must be answered by this step.
fn observed_world(record: &Record, plan: &Plan<'_>, roles: &Roles<'_>) -> Result<(), Violation> {
    let obs = &record.observations;
    let Some(routing) = plan.routing() else {
        return Ok(());
    };
    let Some(route) = obs.http_route.as_ref() else {
        return Ok(());
    };
    let selected = |service: &str| {
        obs.services
            .iter()
            .find(|s| s.name == service)
            .and_then(|s| s.revision.clone())
    };
    let ready = |revision: Option<&str>| {
        obs.replica_sets
            .iter()
            .filter(|rs| Some(rs.revision.as_str()) == revision)
            .map(|rs| rs.ready_replicas.max(0))
            .sum::<i32>()
    };
    let grows = |revision: &str| {
        record.effects.iter().any(|effect| match effect {
            Effect::ScaleReplicaSet { name, replicas } => obs
                .replica_sets
                .iter()
                .any(|rs| rs.name == *name && rs.revision == revision && *replicas > rs.replicas),
            Effect::CreateReplicaSet { revision: r, .. } => r == revision,
            _ => false,
        })
    };
    let stable_revision = selected(routing.stable_service);
    let canary_revision = selected(routing.canary_service);
    // Traffic on a canary that lost every ready pod goes back to stable when stable can take it.
    let canary_weight = route.weight_of(routing.canary_service).unwrap_or(0);
    let stranded = canary_weight > 0
        && ready(canary_revision.as_deref()) == 0
        && canary_revision != stable_revision;
    if stranded && ready(stable_revision.as_deref()) > 0 {
        let answered = record.effects.iter().any(|effect| match effect {
            Effect::SetRouteWeights { canary, .. } => canary.weight < canary_weight,
            Effect::PointService { service, revision } => {
                service == routing.canary_service && ready(Some(revision)) > 0
            }
            _ => false,
        }) || stable_revision.as_deref().is_some_and(grows);
        if !answered {
            return violation(
                NO_TRAFFIC_WITHOUT_PODS,
                format!(
                    "the route sends {canary_weight}% to {} ({}), which has no ready pods, and \
                     this step does not move it",
                    routing.canary_service,
                    canary_revision.unwrap_or_default()
                ),
            );
        }
    }
    // No revision is left scaled below the traffic the route is observed giving it.
    for service in &roles.routed {
        let weight = route.weight_of(service).unwrap_or(0);
        let Some(revision) = selected(service) else {
            continue;
        };
        let Some(rs) = obs.replica_sets.iter().find(|rs| rs.revision == revision) else {
            continue;
        };
        let needed = pods_for(roles.replicas, weight);
        let covered = Some(*service) == roles.covered_stable || Some(*service) == roles.canary;
        let lowered = record.effects.iter().any(|effect| match effect {
            Effect::SetRouteWeights { stable, canary, .. } => [stable, canary].iter().any(|b| {
                b.service == *service && pods_for(roles.replicas, b.weight) <= rs.replicas
            }),
            _ => false,
        });
        if covered && rs.replicas < needed && !grows(&revision) && !lowered && weight > 0 {
            let invariant = if Some(*service) == roles.covered_stable {
                STABLE_COVERS_ITS_WEIGHT
            } else {
                NO_SCALE_DOWN_UNDER_TRAFFIC
            };
            return violation(
                invariant,
                format!(
                    "{} has {} pods for the {weight}% the route gives {service}, which needs \
                     {needed}, and this step does not scale it up",
                    rs.name, rs.replicas
                ),
            );
        }
    }
    Ok(())
}

/// A rollout that waits on the cluster has its progress deadline running, and enforced.
fn deadline(record: &Record, plan: &Plan<'_>) -> Result<(), Violation> {
    let obs = &record.observations;
    let after = &record.after;
    let Some(phase) = after.phase else {
        return Ok(());
    };
    if phase.is_terminal() {
        return Ok(());
    }
    let waiting = after.waiting.as_ref().filter(|w| w.resolved_at.is_none());
    if let Some(waiting) = waiting
        && obs.now >= crate::duration::after(waiting.since, plan.progress_deadline)
    {
        return violation(
            "progress deadline enforced",
            format!("still waiting at {} since {}", obs.now, waiting.since),
        );
    }
    if waiting.is_some() {
        return Ok(());
    }
    // The revision being shipped lacks ready pods it is meant to have.
    let shipped = after.canary_revision.as_deref().or(after
        .stable_revision
        .as_deref()
        .filter(|_| phase == Phase::Progressing));
    if let Some(revision) = shipped
        && let Some(rs) = obs.replica_sets.iter().find(|rs| rs.revision == revision)
    {
        // What this step leaves it: a scale-down in the batch lowers what it is meant to have.
        let replicas = record
            .effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::ScaleReplicaSet { name, replicas } if *name == rs.name => Some(*replicas),
                _ => None,
            })
            .fold(rs.replicas, i32::min);
        let meant = match &plan.strategy {
            StrategyPlan::Canary(_) if after.canary_revision.is_some() => {
                replicas.min(pods_for(plan.replicas, after.current_weight))
            }
            // A preview not yet promoted is meant to have its preview count (in any phase, a
            // pause included); extra pods may be held by the scale-down delay.
            StrategyPlan::BlueGreen(blue_green)
                if after
                    .blue_green
                    .as_ref()
                    .is_none_or(|bg| !bg.promotion_requested && bg.promoted_at.is_none()) =>
            {
                replicas.min(blue_green.preview_replicas)
            }
            _ => replicas.min(plan.replicas.max(0)),
        };
        if rs.ready_replicas < meant {
            return violation(
                DEADLINE_RUNS,
                format!(
                    "{} has {} of {meant} pods ready and the rollout is {phase:?} with no \
                     progress deadline running",
                    rs.name, rs.ready_replicas
                ),
            );
        }
    }
    // The route does not carry the weight decided yet.
    if let (Some(routing), Some(route)) = (plan.routing(), obs.http_route.as_ref()) {
        let observed = route.weight_of(routing.canary_service).unwrap_or(0);
        if observed != after.current_weight && after.canary_revision.is_some() {
            return violation(
                DEADLINE_RUNS,
                format!(
                    "the route carries {observed}% to the canary, {} was decided, and the \
                     rollout is {phase:?} with no progress deadline running",
                    after.current_weight
                ),
            );
        }
    }
    Ok(())
}

fn terminal_phases(record: &Record) -> Result<(), Violation> {
    let obs = &record.observations;
    let before = &record.before;
    let after = &record.after;
    if let Some(phase @ (Phase::Completed | Phase::Failed)) = before.phase
        && after.phase != before.phase
    {
        let revision = template_revision(&record.spec.template, after.collision_count);
        let shipped = match phase {
            Phase::Completed => before.stable_revision.as_deref(),
            _ => before
                .canary_revision
                .as_deref()
                .or(before.stable_revision.as_deref()),
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
