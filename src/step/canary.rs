//! Canary: the new revision receives a growing share of traffic, step by step.
//!
//! The weight applied to the route only ever moves when the pods that will carry it are ready:
//! the canary is scaled to the larger of the current and the target weight first, the stable
//! (with `dynamicStableScale`) to the larger share, and the route follows once they are ready.

use crate::conditions::reason;
use crate::effect::{BackendWeight, CdEventKind, EventType, HeaderRouteRule, RouteRef};
use crate::request::RequestAction;
use crate::status::{AnalysisKind, AnalysisPhase, Phase};
use crate::validate::{CanaryPlan, StepPlan};

use super::analysis::{self, Verdict};
use super::world::DesiredRoute;
use super::{AnalysisSlot, Cx, Desired, pods_for};

pub(crate) fn reconcile(cx: &mut Cx<'_>, plan: &CanaryPlan) -> Desired {
    settle_revision(cx);
    if let Some(action) = cx.take_request()
        && let Some(action) = cx.common_request(action)
    {
        handle_request(cx, plan, action);
    }
    if cx.may_advance() {
        progress(cx, plan);
    }
    if !cx.may_advance() {
        // Rolling back (perhaps since just now), draining or held: traffic still moves
        // toward its target as soon as that is safe.
        settle_weight(cx, plan);
        adopt_after_drain(cx);
    }
    cx.enforce_deadline();
    desired(cx, plan)
}

/// Decide which revision is being shipped.
fn settle_revision(cx: &mut Cx<'_>) {
    let revision = cx.revision.clone();
    let stable = cx.status.stable_revision.clone();
    let canary = cx.status.canary_revision.clone();
    match stable {
        None => cx.first_revision(),
        Some(stable) if stable == revision => {
            if canary.is_some() && cx.phase() != Some(Phase::Completed) {
                cx.revert_to_stable();
            }
        }
        Some(_) if canary.as_deref() == Some(revision.as_str()) => {}
        Some(_) => {
            if cx.status.current_weight == 0 {
                cx.start_revision(Phase::Progressing, Some(0));
            } else {
                // Traffic returns to stable before the new revision starts; say so once.
                let old = canary.unwrap_or_default();
                let message =
                    format!("revision {revision} waits: returning traffic from {old} to stable");
                cx.status.phase = Some(Phase::Progressing);
                if cx.status.message.as_deref() != Some(message.as_str()) {
                    cx.event(EventType::Normal, reason::SUPERSEDED, message);
                }
            }
        }
    }
}

/// After traffic left a superseded canary, start the template's revision; after it left an
/// abandoned one (revert), forget it. Until then the canary keeps its revision, so that the
/// pods still carrying traffic stay up.
fn adopt_after_drain(cx: &mut Cx<'_>) {
    let superseded = cx.status.stable_revision.as_deref() != Some(cx.revision.as_str())
        && cx.status.canary_revision.as_deref() != Some(cx.revision.as_str());
    if superseded && cx.status.current_weight == 0 {
        cx.start_revision(Phase::Progressing, Some(0));
    }
    if cx.phase() == Some(Phase::Completed) && cx.status.current_weight == 0 {
        cx.status.canary_revision = None;
    }
}

fn handle_request(cx: &mut Cx<'_>, plan: &CanaryPlan, action: RequestAction) {
    match action {
        RequestAction::Retry => {
            cx.restart_revision(Phase::Progressing, Some(0));
        }
        RequestAction::Promote => {
            if cx.status.canary_revision.as_deref() != Some(cx.revision.as_str()) {
                cx.ignore_request(action, "traffic is returning to stable first");
                return;
            }
            cx.status.paused_by_user = false;
            let gate_inconclusive = cx
                .status
                .gate_analysis
                .as_ref()
                .is_some_and(|run| run.phase == AnalysisPhase::Inconclusive);
            let background_inconclusive = cx
                .status
                .background_analysis
                .as_ref()
                .is_some_and(|run| run.phase == AnalysisPhase::Inconclusive);
            if background_inconclusive {
                let now = cx.now();
                if let Some(run) = cx.status.background_analysis.as_mut() {
                    analysis::resume(run, now);
                }
            }
            if gate_inconclusive && let Some(run) = cx.status.gate_analysis.as_mut() {
                analysis::accept(run);
            }
            cx.status.phase = Some(Phase::Progressing);
            if gate_inconclusive || !background_inconclusive {
                let index = step_index(cx);
                if index < plan.steps.len() {
                    advance_step(cx, plan);
                }
            }
            cx.event(EventType::Normal, reason::PROMOTED, "promoted by request");
        }
        RequestAction::PromoteFull => {
            cx.status.paused_by_user = false;
            cx.status.full_promotion = true;
            cx.status.phase = Some(Phase::Progressing);
            cx.status.pause_start_time = None;
            cx.status.gate_analysis = None;
            cx.status.current_step_index = Some(steps_len(plan));
            if let Some(run) = cx.status.background_analysis.as_mut() {
                analysis::stop(run);
                run.phase = AnalysisPhase::Successful;
            }
            cx.event(
                EventType::Normal,
                reason::PROMOTED,
                "fully promoted by request: remaining steps and analysis skipped",
            );
        }
        RequestAction::Abort | RequestAction::Pause | RequestAction::Resume => {}
    }
}

fn progress(cx: &mut Cx<'_>, plan: &CanaryPlan) {
    if let Some((start, background)) = &plan.analysis
        && !cx.status.full_promotion
        && step_index(cx) >= *start
    {
        match cx.run_analysis(
            AnalysisSlot::Background,
            AnalysisKind::Background,
            None,
            background,
        ) {
            Verdict::Failed(message) => return cx.fail(reason::ANALYSIS_FAILED, message),
            Verdict::Inconclusive(message) => return cx.pause_inconclusive(message),
            Verdict::Running | Verdict::Passed => {}
        }
    }
    // Each pass either advances one step or stops; instant steps chain within one call.
    for _ in 0..=plan.steps.len() {
        if !settle_weight(cx, plan) || !route_in_sync(cx, plan) {
            return;
        }
        let index = step_index(cx);
        let Some(current) = plan.steps.get(index) else {
            cx.complete();
            return;
        };
        match current {
            StepPlan::SetWeight(_) => advance_step(cx, plan),
            StepPlan::Pause(None) => {
                if cx.status.pause_start_time.is_none() {
                    cx.status.pause_start_time = Some(cx.now());
                    cx.event(
                        EventType::Normal,
                        reason::PAUSED_BY_STEP,
                        format!("paused at step {index} until promoted"),
                    );
                }
                cx.status.phase = Some(Phase::Paused);
                return;
            }
            StepPlan::Pause(Some(duration)) => {
                let start = *cx.status.pause_start_time.get_or_insert(cx.now());
                let until = crate::duration::after(start, *duration);
                if cx.now() < until {
                    cx.wake_at(until);
                    return;
                }
                advance_step(cx, plan);
            }
            StepPlan::SetHeaderRoute(route) => {
                let ready = cx.ready(cx.status.canary_revision.as_deref());
                if !route.matches.is_empty() && ready < 1 {
                    cx.wait_for(ready, "canary pods for the header route".into());
                    return;
                }
                advance_step(cx, plan);
            }
            StepPlan::Analysis(gate) => {
                let at = i32::try_from(index).ok();
                match cx.run_analysis(AnalysisSlot::Gate, AnalysisKind::Step, at, gate) {
                    Verdict::Passed => advance_step(cx, plan),
                    Verdict::Failed(message) => return cx.fail(reason::ANALYSIS_FAILED, message),
                    Verdict::Inconclusive(message) => return cx.pause_inconclusive(message),
                    Verdict::Running => return,
                }
            }
        }
    }
}

fn advance_step(cx: &mut Cx<'_>, plan: &CanaryPlan) {
    let index = step_index(cx);
    let what = plan.steps.get(index).map(describe).unwrap_or_default();
    cx.status.current_step_index = Some(i32::try_from(index + 1).unwrap_or(i32::MAX));
    cx.status.pause_start_time = None;
    cx.status.phase = Some(Phase::Progressing);
    let revision = cx.status.canary_revision.clone().unwrap_or_default();
    cx.event(
        EventType::Normal,
        reason::STEP_COMPLETED,
        format!("step {index} ({what}) completed"),
    );
    cx.cdevent(
        CdEventKind::ServiceUpgraded,
        &revision,
        &format!("step-{index}"),
    );
}

fn describe(step: &StepPlan) -> String {
    match step {
        StepPlan::SetWeight(weight) => format!("setWeight {weight}"),
        StepPlan::Pause(None) => "pause".into(),
        StepPlan::Pause(Some(duration)) => format!("pause {}s", duration.num_seconds()),
        StepPlan::SetHeaderRoute(route) if route.matches.is_empty() => {
            format!("remove header route {}", route.name)
        }
        StepPlan::SetHeaderRoute(route) => format!("setHeaderRoute {}", route.name),
        StepPlan::Analysis(_) => "analysis".into(),
    }
}

fn step_index(cx: &Cx<'_>) -> usize {
    cx.status
        .current_step_index
        .and_then(|index| usize::try_from(index).ok())
        .unwrap_or(0)
}

fn steps_len(plan: &CanaryPlan) -> i32 {
    i32::try_from(plan.steps.len()).unwrap_or(i32::MAX)
}

/// The weight the canary should carry now.
fn target_weight(cx: &Cx<'_>, plan: &CanaryPlan) -> i32 {
    let status = &cx.status;
    let shipping_template = status.canary_revision.as_deref() == Some(cx.revision.as_str());
    if cx.is_settled() || status.canary_revision.is_none() || !shipping_template {
        return 0;
    }
    if status.paused_by_user || status.analysis_inconclusive() {
        return status.current_weight;
    }
    let index = step_index(cx);
    if index >= plan.steps.len() {
        return 100;
    }
    plan.steps[..=index]
        .iter()
        .rev()
        .find_map(|step| match step {
            StepPlan::SetWeight(weight) => Some(*weight),
            _ => None,
        })
        .unwrap_or(0)
}

/// Stable pods needed while the canary carries `weight`.
fn stable_pods(cx: &Cx<'_>, plan: &CanaryPlan, weight: i32) -> i32 {
    let replicas = cx.plan.replicas;
    match (&plan.routing, plan.dynamic_stable_scale) {
        (Some(_), false) => replicas,
        (Some(_), true) => pods_for(replicas, 100 - weight),
        (None, _) => (replicas - pods_for(replicas, weight)).max(0),
    }
}

/// Move the applied weight to its target if the pods are ready; true when it is there.
fn settle_weight(cx: &mut Cx<'_>, plan: &CanaryPlan) -> bool {
    let current = cx.status.current_weight;
    let target = target_weight(cx, plan);
    if current == target {
        return true;
    }
    if let Some(routing) = &plan.routing {
        // Traffic moves only onto a Service already observed selecting the right revision.
        let canary_service = cx.service_revision(routing.canary_service);
        let stable_service = cx.service_revision(routing.stable_service);
        let wrong = if target > 0 && canary_service != cx.status.canary_revision.as_deref() {
            Some(&routing.canary_service)
        } else if target < 100 && stable_service != cx.status.stable_revision.as_deref() {
            Some(&routing.stable_service)
        } else {
            None
        };
        if let Some(service) = wrong {
            cx.wait_for(0, format!("service {service} to select the right revision"));
            return false;
        }
    }
    let canary_ready = cx.ready(cx.status.canary_revision.as_deref());
    let stable_ready = cx.ready(cx.status.stable_revision.as_deref());
    let canary_needed = pods_for(cx.plan.replicas, target);
    let stable_needed = match (&plan.routing, plan.dynamic_stable_scale, target) {
        (_, _, 100) => 0,
        (Some(_), false, _) => 1,
        _ => stable_pods(cx, plan, target),
    };
    if canary_ready >= canary_needed && stable_ready >= stable_needed {
        cx.status.current_weight = target;
        cx.event(
            EventType::Normal,
            reason::WEIGHT_CHANGED,
            format!("canary weight {current} -> {target}"),
        );
        return true;
    }
    let what = if canary_ready < canary_needed {
        format!("{canary_needed} ready canary pods for weight {target} ({canary_ready} ready)")
    } else {
        format!("{stable_needed} ready stable pods for weight {target} ({stable_ready} ready)")
    };
    cx.wait_for(canary_ready.saturating_add(stable_ready), what);
    false
}

/// Whether the route, as observed, carries the weights and header rule decided; a step does
/// not count as done (nor a pause start) until the traffic really moved.
fn route_in_sync(cx: &mut Cx<'_>, plan: &CanaryPlan) -> bool {
    let Some(routing) = &plan.routing else {
        return true;
    };
    let weight = cx.status.current_weight;
    let observed = cx.obs.http_route.as_ref();
    let weights = observed.map(|route| {
        (
            route.weight_of(routing.stable_service),
            route.weight_of(routing.canary_service),
        )
    });
    let header = observed.and_then(|route| route.header_route.as_ref());
    if weights == Some((Some(100 - weight), Some(weight)))
        && header == active_header_route(cx, plan)
    {
        return true;
    }
    cx.wait_for(
        0,
        format!("route {} to carry canary weight {weight}", routing.route),
    );
    false
}

fn desired(cx: &Cx<'_>, plan: &CanaryPlan) -> Desired {
    let replicas = cx.plan.replicas;
    let current = cx.status.current_weight;
    let target = target_weight(cx, plan);
    let stable = cx.status.stable_revision.clone();
    let canary = cx.status.canary_revision.clone();
    let header = active_header_route(cx, plan);
    let mut replica_sets = Vec::new();
    match (&stable, &canary) {
        (Some(stable), Some(canary)) => {
            let needs_header_pod =
                configured_header_route(cx, plan).is_some() || header_step_pending(cx, plan);
            let mut canary_pods = pods_for(replicas, current.max(target));
            if needs_header_pod {
                canary_pods = canary_pods.max(1);
            }
            replica_sets.push((stable.clone(), stable_pods(cx, plan, current.min(target))));
            replica_sets.push((canary.clone(), canary_pods));
        }
        (Some(stable), None) => replica_sets.push((stable.clone(), replicas)),
        (None, _) => {}
    }
    let mut services = Vec::new();
    if let Some(stable) = &stable {
        if let Some(service) = &plan.stable_service {
            services.push((service.to_string(), stable.clone()));
        }
        if let Some(service) = &plan.canary_service {
            services.push((
                service.to_string(),
                canary.clone().unwrap_or_else(|| stable.clone()),
            ));
        }
    }
    let route = plan.routing.as_ref().map(|routing| DesiredRoute {
        route: RouteRef {
            name: routing.route.to_string(),
            namespace: routing
                .namespace
                .unwrap_or(&cx.obs.rollout.namespace)
                .to_string(),
        },
        stable: BackendWeight {
            service: routing.stable_service.to_string(),
            weight: 100 - current,
        },
        canary: BackendWeight {
            service: routing.canary_service.to_string(),
            weight: current,
        },
        header: header.map(|route| HeaderRouteRule {
            route: route.clone(),
            service: routing.canary_service.to_string(),
        }),
    });
    Desired {
        replica_sets,
        services,
        route,
    }
}

/// The header route the steps passed so far ask for, while the template's revision is in
/// progress.
fn configured_header_route<'p>(
    cx: &Cx<'_>,
    plan: &CanaryPlan<'p>,
) -> Option<&'p crate::spec::HeaderRoute> {
    let shipping_template = cx.status.canary_revision.as_deref() == Some(cx.revision.as_str());
    if cx.is_settled() || !shipping_template || cx.status.full_promotion {
        return None;
    }
    let passed = step_index(cx).min(plan.steps.len());
    plan.steps[..passed]
        .iter()
        .rev()
        .find_map(|step| match step {
            StepPlan::SetHeaderRoute(route) => Some(*route),
            _ => None,
        })
        .filter(|route| !route.matches.is_empty())
}

/// The header route in force: the configured one, once a canary pod is ready to take the
/// requests it sends (a promote may skip the step before that).
fn active_header_route<'p>(
    cx: &Cx<'_>,
    plan: &CanaryPlan<'p>,
) -> Option<&'p crate::spec::HeaderRoute> {
    let canary_ready = cx.ready(cx.status.canary_revision.as_deref()) > 0;
    configured_header_route(cx, plan).filter(|_| canary_ready)
}

fn header_step_pending(cx: &Cx<'_>, plan: &CanaryPlan) -> bool {
    !cx.is_settled()
        && matches!(
            plan.steps.get(step_index(cx)),
            Some(StepPlan::SetHeaderRoute(route)) if !route.matches.is_empty()
        )
}
