//! Blue-green: the new revision comes up behind the preview Service; promotion switches the
//! active Service in one write; the old revision stays up for `scaleDownDelaySeconds` so a
//! failed post-promotion analysis can switch straight back.

use crate::conditions::reason;
use crate::duration::after;
use crate::effect::{CdEventKind, EventType, WakeReason};
use crate::request::RequestAction;
use crate::status::{AnalysisKind, AnalysisPhase, Phase};
use crate::validate::BlueGreenPlan;

use super::analysis;
use super::strategy::Strategy;
use super::{Cx, Desired};

/// The blue-green strategy of one `step`.
pub(crate) struct BlueGreen<'p> {
    pub plan: &'p BlueGreenPlan<'p>,
}

impl Strategy for BlueGreen<'_> {
    fn settle_revision(&mut self, cx: &mut Cx<'_>) {
        cx.settle_revision(Phase::Preview);
    }

    fn handle_request(&mut self, cx: &mut Cx<'_>, action: RequestAction) {
        handle_request(cx, action);
    }

    fn watch(&mut self, cx: &mut Cx<'_>) {
        if cx.is_settled() {
            return;
        }
        // Pods that are not ready run the deadline whatever else holds the rollout (a person,
        // an analysis); the strategy's own, more precise wait in `advance` takes precedence.
        let state = cx.status.blue_green.clone().unwrap_or_default();
        let wanted = if state.promotion_requested || state.promoted_at.is_some() {
            cx.plan.replicas
        } else {
            self.plan.preview_replicas
        };
        let canary = cx.status.canary_revision.clone();
        cx.wait_for_pods(canary.as_deref(), wanted);
    }

    fn advance(&mut self, cx: &mut Cx<'_>) {
        progress(cx, self.plan);
    }

    fn desired(&self, cx: &Cx<'_>) -> Desired {
        desired(cx, self.plan)
    }
}

fn handle_request(cx: &mut Cx<'_>, action: RequestAction) {
    match action {
        RequestAction::Retry => cx.restart_revision(Phase::Preview, None),
        RequestAction::Promote => {
            cx.status.paused_by_user = false;
            if let Some(run) = cx.status.gate_analysis.as_mut()
                && run.phase == AnalysisPhase::Inconclusive
            {
                analysis::accept(run);
            }
            let state = cx.status.blue_green.get_or_insert_default();
            if state.promoted_at.is_some() {
                cx.ignore_request(action, "already promoted");
                return;
            }
            state.promotion_requested = true;
            cx.event(EventType::Normal, reason::PROMOTED, "promotion requested");
        }
        RequestAction::PromoteFull => {
            cx.promote_fully();
            cx.status
                .blue_green
                .get_or_insert_default()
                .promotion_requested = true;
            cx.event(
                EventType::Normal,
                reason::PROMOTED,
                "fully promoted by request: analyses skipped",
            );
        }
        RequestAction::Abort | RequestAction::Pause | RequestAction::Resume => {}
    }
}

fn progress(cx: &mut Cx<'_>, plan: &BlueGreenPlan) {
    let promoted = cx
        .status
        .blue_green
        .as_ref()
        .is_some_and(|state| state.promoted_at.is_some());
    if promoted || promote(cx, plan) {
        after_promotion(cx, plan);
    }
}

/// In preview: ready preview pods, then the pre-promotion analysis, then the automatic or
/// requested promotion, which switches the active Service. True once it is switched (now).
fn promote(cx: &mut Cx<'_>, plan: &BlueGreenPlan) -> bool {
    let replicas = cx.plan.replicas;
    let preview = cx.status.canary_revision.clone();
    let ready = cx.ready(preview.as_deref());
    cx.preview();
    if ready < plan.preview_replicas {
        let needed = plan.preview_replicas;
        cx.wait_for(
            ready,
            format!("{needed} ready preview pods"),
            format!("{ready} ready"),
        );
        return false;
    }
    if let (Some(gate), false) = (&plan.pre_promotion_analysis, cx.status.full_promotion)
        && !cx.gate_passed(AnalysisKind::PrePromotion, None, gate, true)
    {
        return false;
    }
    let now = cx.now();
    let state = cx.status.blue_green.get_or_insert_default();
    let since = *state.promotable_since.get_or_insert(now);
    if !state.promotion_requested && plan.auto_promotion_enabled {
        let at = after(since, plan.auto_promotion_delay);
        if now >= at {
            state.promotion_requested = true;
        } else {
            cx.wake_at(at, WakeReason::AutoPromotion);
            return false;
        }
    }
    if !state.promotion_requested {
        return false;
    }
    if ready < replicas {
        cx.wait_for(
            ready,
            format!("{replicas} ready pods to promote"),
            format!("{ready} ready"),
        );
        return false;
    }
    state.promoted_at = Some(now);
    cx.progressing();
    let revision = preview.unwrap_or_default();
    cx.event(
        EventType::Normal,
        reason::ACTIVE_SWITCHED,
        format!(
            "active service {} now selects {revision}",
            plan.active_service
        ),
    );
    cx.cdevent(CdEventKind::ServiceUpgraded, &revision, "promoted");
    true
}

/// Promoted: once the switch is observed, the post-promotion analysis, then the old revision
/// is given up after `scaleDownDelaySeconds`.
fn after_promotion(cx: &mut Cx<'_>, plan: &BlueGreenPlan) {
    let replicas = cx.plan.replicas;
    let ready = cx.ready(cx.status.canary_revision.as_deref());
    cx.progressing();
    // Post-promotion analysis measures the switched traffic: wait for the switch to land.
    let active = cx.service_revision(plan.active_service);
    if active != cx.status.canary_revision.as_deref() {
        let service = &plan.active_service;
        cx.wait_for(
            0,
            format!("service {service} to select the new revision"),
            String::new(),
        );
        return;
    }
    let now = cx.now();
    let switched_at = *cx
        .status
        .blue_green
        .get_or_insert_default()
        .switched_at
        .get_or_insert(now);
    // Pods lost after the switch: the deadline runs until they are back.
    if ready < replicas {
        cx.wait_for(
            ready,
            format!("{replicas} ready pods of the promoted revision"),
            format!("{ready} ready"),
        );
    }
    if let (Some(gate), false) = (&plan.post_promotion_analysis, cx.status.full_promotion)
        && !cx.gate_passed(AnalysisKind::PostPromotion, None, gate, ready > 0)
    {
        return;
    }
    let scale_down_at = after(switched_at, plan.scale_down_delay);
    if ready < replicas {
        return;
    }
    if cx.now() >= scale_down_at {
        cx.complete();
    } else {
        cx.wake_at(scale_down_at, WakeReason::ScaleDownDelay);
    }
}

fn desired(cx: &Cx<'_>, plan: &BlueGreenPlan) -> Desired {
    let replicas = cx.plan.replicas;
    let failed = cx.phase() == Some(Phase::Failed);
    let Some(stable) = cx.status.stable_revision.clone() else {
        return Desired::default();
    };
    let state = cx.status.blue_green.clone().unwrap_or_default();
    let promoted = state.promoted_at.is_some() && !failed;
    let mut replica_sets = vec![(stable.clone(), replicas)];
    let preview = cx.status.canary_revision.clone().filter(|_| !failed);
    if let Some(canary) = &cx.status.canary_revision {
        let pods = match (failed, promoted || state.promotion_requested) {
            (true, _) => 0,
            (false, true) => replicas,
            (false, false) => plan.preview_replicas,
        };
        replica_sets.push((canary.clone(), pods));
    }
    let active = match (&preview, promoted) {
        (Some(preview), true) => preview.clone(),
        _ => stable.clone(),
    };
    let mut services = vec![(plan.active_service.to_string(), active)];
    if let Some(service) = &plan.preview_service {
        services.push((service.to_string(), preview.unwrap_or(stable)));
    }
    Desired {
        replica_sets,
        services,
        route: None,
    }
}
