//! Canary: the new revision receives a growing share of traffic, step by step.
//!
//! The weight applied to the route only ever moves when the pods that will carry it are ready:
//! the canary is scaled to the larger of the current and the target weight first, the stable
//! (with `dynamicStableScale`) to the larger share, and the route follows once they are ready.
//! A canary that loses the pods carrying its weight, in any phase, gives that traffic back to
//! stable until they recover, under the progress deadline. A new revision starts only once the
//! route is observed with nothing on the old canary.

use crate::conditions::reason;
use crate::effect::{CdEventKind, EventType, WakeReason};
use crate::request::RequestAction;
use crate::status::{AnalysisKind, AnalysisPhase, Phase};
use crate::validate::{CanaryPlan, StepPlan};

use super::analysis;
use super::route::{DesiredRoute, RouteParts};
use super::strategy::Strategy;
use super::{Cx, Desired, pods_for};

/// The canary strategy of one `step`.
pub(crate) struct Canary<'p> {
    pub plan: &'p CanaryPlan<'p>,
}

impl Strategy for Canary<'_> {
    fn settle_revision(&mut self, cx: &mut Cx<'_>) {
        settle_revision(cx, self.plan);
    }

    fn handle_request(&mut self, cx: &mut Cx<'_>, action: RequestAction) {
        handle_request(cx, self.plan, action);
    }

    fn advance(&mut self, cx: &mut Cx<'_>) {
        // Results are judged before anything advances: a failing measurement stops the step
        // it arrives in.
        background_analysis(cx, self.plan);
        if cx.may_advance() {
            progress(cx, self.plan);
        }
    }

    fn hold(&mut self, cx: &mut Cx<'_>) {
        // Traffic still moves toward its target as soon as that is safe.
        settle_weight(cx, self.plan);
        adopt_after_drain(cx, self.plan);
    }

    fn guard(&mut self, cx: &mut Cx<'_>) {
        hold_lost_weight(cx, self.plan);
    }

    fn desired(&self, cx: &Cx<'_>) -> Desired {
        desired(cx, self.plan)
    }
}

/// Whether the route is observed carrying nothing to the canary Service (no weight, no header
/// rule): only then may the canary Service be given to another revision. Without routing, the
/// decided weight is what the replica counts follow.
fn drained(cx: &Cx<'_>, plan: &CanaryPlan) -> bool {
    if cx.status.current_weight != 0 {
        return false;
    }
    if cx.status.canary_revision.is_none() {
        // No canary in flight: whatever the route gives the canary Service goes to stable.
        return true;
    }
    let Some(routing) = &plan.routing else {
        return true;
    };
    let Some(route) = cx.obs.http_route.as_ref() else {
        return true;
    };
    route.weight_of(routing.canary_service).unwrap_or(0) == 0 && route.header_route.is_none()
}

/// The weight the route gives the canary now: the decided weight, or less when the canary lost
/// ready pods (that traffic returns to stable until they recover). With `dynamicStableScale`
/// stable only takes back what its ready pods can carry: until it has scaled up, the canary
/// keeps what it is observed carrying beyond that.
fn serving_weight(cx: &Cx<'_>, plan: &CanaryPlan) -> i32 {
    let current = cx.status.current_weight;
    let Some(routing) = &plan.routing else {
        return current;
    };
    let replicas = cx.plan.replicas;
    let capacity = |ready: i32| -> i32 {
        if replicas <= 0 || ready <= 0 {
            return 0;
        }
        if ready >= replicas {
            return 100;
        }
        let weight = i64::from(ready) * 100 / i64::from(replicas);
        i32::try_from(weight.min(100)).unwrap_or(100)
    };
    // Capacity behind each Service as observed: what its selected revision has ready.
    let canary_ready = cx.ready(cx.service_revision(routing.canary_service));
    let canary_can = if canary_ready >= pods_for(replicas, current) {
        current
    } else {
        capacity(canary_ready).min(current)
    };
    if !plan.dynamic_stable_scale {
        return canary_can;
    }
    let stable_can = capacity(cx.ready(cx.service_revision(routing.stable_service)));
    let observed = if cx.obs.http_route.is_some() {
        super::traffic::route_share(cx, routing.canary_service)
    } else {
        current
    };
    if canary_ready <= 0 {
        // Nothing serves on the canary: everything goes to stable's ready pods.
        return canary_can;
    }
    // Stable is not given more than its ready pods carry beyond what it already has.
    canary_can.max((100 - stable_can).min(observed))
}

/// Whether the canary serves the traffic decided for it: enough ready pods, and the route
/// observed carrying it. Analyses measure only then.
fn serving(cx: &Cx<'_>, plan: &CanaryPlan) -> bool {
    let current = cx.status.current_weight;
    let ready = cx.ready(cx.status.canary_revision.as_deref());
    // A canary meant to have pods has at least one ready before anything is measured, so a
    // metric of its requests can exist; one meant to have none (an analysis at weight 0) is
    // measured as it is.
    let meant = pods_for(cx.plan.replicas, current.max(target_weight(cx, plan)));
    let selected = plan.routing.as_ref().is_none_or(|routing| {
        cx.service_revision(routing.canary_service) == cx.status.canary_revision.as_deref()
    });
    ready >= pods_for(cx.plan.replicas, current)
        && (meant == 0 || (ready >= 1 && current > 0))
        && selected
        && serving_weight(cx, plan) == current
        && route_carries(cx, plan, current)
}

/// A canary that lost the pods carrying its weight: the deadline runs until they are back,
/// whatever the phase (a pause included), and the lost share goes back to stable.
fn hold_lost_weight(cx: &mut Cx<'_>, plan: &CanaryPlan) {
    if cx.is_settled() || cx.status.canary_revision.is_none() {
        return;
    }
    let current = cx.status.current_weight;
    let serving = serving_weight(cx, plan);
    let canary = cx.status.canary_revision.clone().unwrap_or_default();
    let ready = cx.ready(Some(&canary));
    let needed = pods_for(cx.plan.replicas, current);
    let desired_pods = pods_for(cx.plan.replicas, current.max(target_weight(cx, plan)));
    if serving < current {
        let message = format!(
            "canary {canary} has {ready} of the {needed} ready pods its weight {current} needs; \
             {} of it returns to stable until they recover",
            current - serving
        );
        if cx.status.message.as_deref() != Some(message.as_str()) {
            cx.event(EventType::Warning, reason::CANARY_UNAVAILABLE, message);
        }
    }
    // One wait, whichever part is missing, so that pods flapping between ready and crashed
    // (and the route following them) resume one deadline instead of restarting it.
    let what = format!("canary {canary} to serve weight {current} on {desired_pods} ready pods");
    if ready < desired_pods {
        cx.wait_for(ready, what, format!("{ready} ready"));
    } else if !route_carries(cx, plan, current) {
        let route = plan.routing.as_ref().map_or("", |routing| routing.route);
        cx.wait_for(
            ready,
            what,
            format!("route {route} not yet observed carrying it"),
        );
    }
}

/// Decide which revision is being shipped.
fn settle_revision(cx: &mut Cx<'_>, plan: &CanaryPlan) {
    let revision = cx.revision.clone();
    let stable = cx.status.stable_revision.clone();
    let canary = cx.status.canary_revision.clone();
    match stable {
        None => cx.first_revision(),
        Some(stable) if cx.first_in_flight() && stable != revision => cx.first_revision(),
        Some(stable) if stable == revision => {
            if canary.is_some() && cx.phase() != Some(Phase::Completed) {
                cx.revert_to_stable();
            }
        }
        Some(_) if canary.as_deref() == Some(revision.as_str()) => {}
        Some(_) => {
            if drained(cx, plan) {
                cx.start_revision(Phase::Progressing, Some(0));
            } else {
                // Traffic returns to stable before the new revision starts; say so once.
                let old = canary.unwrap_or_default();
                let message =
                    format!("revision {revision} waits: returning traffic from {old} to stable");
                cx.progressing();
                if cx.status.message.as_deref() != Some(message.as_str()) {
                    cx.event(EventType::Normal, reason::SUPERSEDED, message);
                }
            }
        }
    }
}

/// After traffic was observed leaving a superseded canary, start the template's revision;
/// after it left an abandoned one (revert), forget it. Until then the canary keeps its
/// revision, so that the canary Service keeps selecting the pods still carrying its traffic.
fn adopt_after_drain(cx: &mut Cx<'_>, plan: &CanaryPlan) {
    let superseded = cx.status.stable_revision.as_deref() != Some(cx.revision.as_str())
        && cx.status.canary_revision.as_deref() != Some(cx.revision.as_str());
    if superseded && drained(cx, plan) {
        cx.start_revision(Phase::Progressing, Some(0));
    }
    if cx.phase() == Some(Phase::Completed) && drained(cx, plan) {
        cx.forget_canary();
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
                cx.resume_analyses();
            }
            if gate_inconclusive && let Some(run) = cx.status.gate_analysis.as_mut() {
                analysis::accept(run);
            }
            cx.progressing();
            cx.event(EventType::Normal, reason::PROMOTED, "promoted by request");
            if gate_inconclusive || !background_inconclusive {
                let index = step_index(cx);
                if index < plan.steps.len() {
                    advance_step(cx, plan);
                }
            }
        }
        RequestAction::PromoteFull => {
            cx.promote_fully();
            cx.progressing();
            cx.status.pause_start_time = None;
            cx.status.current_step_index = Some(steps_len(plan));
            cx.event(
                EventType::Normal,
                reason::PROMOTED,
                "fully promoted by request: remaining steps and analysis skipped",
            );
        }
        RequestAction::Abort | RequestAction::Pause | RequestAction::Resume => {}
    }
}

/// The background analysis, from its starting step on; it measures only while the canary
/// serves the weight it was given.
fn background_analysis(cx: &mut Cx<'_>, plan: &CanaryPlan) {
    let Some((start, background)) = &plan.analysis else {
        return;
    };
    if cx.status.full_promotion || step_index(cx) < *start || !cx.may_advance() {
        return;
    }
    let serving = serving(cx, plan);
    cx.run_background_analysis(background, serving);
}

fn progress(cx: &mut Cx<'_>, plan: &CanaryPlan) {
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
                cx.pause_at_step();
                return;
            }
            StepPlan::Pause(Some(duration)) => {
                let start = *cx.status.pause_start_time.get_or_insert(cx.now());
                let until = crate::duration::after(start, *duration);
                if cx.now() < until {
                    cx.wake_at(until, WakeReason::PauseEnds);
                    return;
                }
                advance_step(cx, plan);
            }
            StepPlan::SetHeaderRoute(route) => {
                let ready = cx.ready(cx.status.canary_revision.as_deref());
                if !route.matches.is_empty() && ready < 1 {
                    cx.wait_for(
                        ready,
                        "a ready canary pod for the header route".into(),
                        String::new(),
                    );
                    return;
                }
                advance_step(cx, plan);
            }
            StepPlan::Analysis(gate) => {
                let at = i32::try_from(index).ok();
                let serving = serving(cx, plan);
                if !cx.gate_passed(AnalysisKind::Step, at, gate, serving) {
                    return;
                }
                advance_step(cx, plan);
            }
        }
    }
}

fn advance_step(cx: &mut Cx<'_>, plan: &CanaryPlan) {
    let index = step_index(cx);
    let what = plan.steps.get(index).map(describe).unwrap_or_default();
    cx.status.current_step_index = Some(i32::try_from(index + 1).unwrap_or(i32::MAX));
    cx.status.pause_start_time = None;
    cx.progressing();
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
            cx.wait_for(
                0,
                format!("service {service} to select the right revision"),
                String::new(),
            );
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
    let (what, detail) = if canary_ready < canary_needed {
        (
            format!("{canary_needed} ready canary pods for weight {target}"),
            format!("{canary_ready} ready"),
        )
    } else {
        (
            format!("{stable_needed} ready stable pods for weight {target}"),
            format!("{stable_ready} ready"),
        )
    };
    cx.wait_for(canary_ready.saturating_add(stable_ready), what, detail);
    false
}

/// Whether the route, as observed, carries canary `weight` and the header rule decided.
fn route_carries(cx: &Cx<'_>, plan: &CanaryPlan, weight: i32) -> bool {
    plan.routing.as_ref().is_none_or(|routing| {
        let header = active_header_route(cx, plan);
        RouteParts::new(routing, weight, header).observed(cx.obs.http_route.as_ref())
    })
}

/// Whether the route, as observed, carries the weights and header rule decided; a step does
/// not count as done (nor a pause start) until the traffic really moved.
fn route_in_sync(cx: &mut Cx<'_>, plan: &CanaryPlan) -> bool {
    let weight = cx.status.current_weight;
    if route_carries(cx, plan, weight) {
        return true;
    }
    let route = plan.routing.as_ref().map_or("", |routing| routing.route);
    cx.wait_for(
        0,
        format!("route {route} to carry canary weight {weight}"),
        String::new(),
    );
    false
}

fn desired(cx: &Cx<'_>, plan: &CanaryPlan) -> Desired {
    let replicas = cx.plan.replicas;
    let current = cx.status.current_weight;
    let target = target_weight(cx, plan);
    let routed = serving_weight(cx, plan);
    let stable = cx.status.stable_revision.clone();
    let canary = cx.status.canary_revision.clone();
    let header = active_header_route(cx, plan);
    let mut replica_sets = Vec::new();
    match (&stable, &canary) {
        (Some(stable), Some(canary)) => {
            let needs_header_pod =
                configured_header_route(cx, plan).is_some() || header_step_pending(cx, plan);
            let mut canary_pods = pods_for(replicas, current.max(target).max(routed));
            if needs_header_pod {
                canary_pods = canary_pods.max(1);
            }
            let least = current.min(target).min(routed);
            replica_sets.push((stable.clone(), stable_pods(cx, plan, least)));
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
            // The canary Service follows the canary while it has pods to serve; a rolled back
            // or abandoned canary going to zero gives it back to stable.
            let canary_has_pods = replica_sets
                .iter()
                .any(|(revision, pods)| Some(revision) == canary.as_ref() && *pods > 0);
            let selected = match &canary {
                Some(canary) if canary_has_pods => canary.clone(),
                _ => stable.clone(),
            };
            services.push((service.to_string(), selected));
        }
    }
    let route = plan
        .routing
        .as_ref()
        .map(|routing| DesiredRoute::new(routing, &cx.obs.rollout.namespace, routed, header));
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
