//! What the status says besides the phase: standard conditions, counts, and the effects that
//! failed at the last attempt.

use crate::conditions::reason;
use crate::effect::{EventType, KubeEvent};
use crate::status::{ConditionStatus, ConditionType, Phase};

use super::{Cx, saturating_sum};

/// One Normal Event per decision: a weight step that completes a pause, moves the weight and
/// pauses again is one story, told once. Its note tells every transition in order; its reason is
/// the weightiest of them ([`weight`]), so that a completion reads `RolloutCompleted` however
/// it was reached. Each Warning stays an Event of its own, where the first Normal one would
/// have been.
pub(super) fn one_normal_event(events: Vec<KubeEvent>) -> Vec<KubeEvent> {
    let mut folded: Vec<KubeEvent> = Vec::with_capacity(events.len().min(2));
    let mut normal: Option<usize> = None;
    for event in events {
        let first = normal.and_then(|at| folded.get_mut(at));
        match (event.type_, first) {
            (EventType::Normal, Some(story)) => {
                story.message.push_str("; ");
                story.message.push_str(&event.message);
                if weight(&event.reason) > weight(&story.reason) {
                    story.reason = event.reason;
                }
            }
            (EventType::Normal, None) => {
                normal = Some(folded.len());
                folded.push(event);
            }
            (EventType::Warning, _) => folded.push(event),
        }
    }
    folded
}

/// How much a transition weighs in a decision's story: an outcome over the revision it
/// concerns, a request over what it set off, traffic moving over the pause that follows it,
/// a pause over the step completed on the way.
fn weight(why: &str) -> u8 {
    match why {
        reason::COMPLETED | reason::ROLLOUT_FAILED | reason::ABORTED => 7,
        reason::INITIAL_REVISION
        | reason::ADOPTED
        | reason::NEW_REVISION
        | reason::SUPERSEDED
        | reason::REVERTED_TO_STABLE
        | reason::REVISION_NAME_COLLISION => 6,
        reason::PROMOTED | reason::RESUMED | reason::RETRIED | reason::REQUEST_IGNORED => 5,
        reason::WEIGHT_CHANGED | reason::ACTIVE_SWITCHED => 4,
        reason::ANALYSIS_PASSED | reason::ANALYSIS_INCONCLUSIVE => 3,
        reason::PAUSED_BY_STEP | reason::PAUSED_BY_USER => 2,
        reason::STEP_COMPLETED => 1,
        _ => 0,
    }
}

impl Cx<'_> {
    /// Say what failed at the last attempt; the failed effects are decided again from what is
    /// observed, so they are retried on every reconcile. An Event goes out when the story
    /// changes, not on every retry.
    pub(super) fn report_effect_errors(&mut self) {
        let errors = &self.obs.effect_errors;
        let Some(first) = errors.first() else {
            if self
                .status
                .condition(ConditionType::ReconcileError)
                .is_some()
            {
                self.status.clear_condition(ConditionType::ReconcileError);
                self.events.push(KubeEvent {
                    type_: EventType::Normal,
                    reason: reason::RECONCILE_RECOVERED.into(),
                    message: "every effect succeeded again".into(),
                });
            }
            return;
        };
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.target, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let reason = first.cause.reason();
        let unchanged = self
            .status
            .condition(ConditionType::ReconcileError)
            .is_some_and(|c| c.reason == reason && c.message == message);
        if unchanged {
            return;
        }
        self.status.set_condition(
            ConditionType::ReconcileError,
            ConditionStatus::True,
            reason,
            &message,
            self.obs.now,
        );
        self.events.push(KubeEvent {
            type_: EventType::Warning,
            reason: reason.into(),
            message,
        });
    }
    pub(super) fn update_conditions_and_counts(&mut self) {
        let now = self.obs.now;
        let replica_sets = &self.obs.replica_sets;
        let status = &mut self.status;
        let shipped = status
            .canary_revision
            .as_deref()
            .or(status.stable_revision.as_deref());
        let updated = saturating_sum(
            replica_sets
                .iter()
                .filter(|rs| Some(rs.revision.as_str()) == shipped)
                .map(|rs| rs.replicas),
        );
        status.replicas = saturating_sum(replica_sets.iter().map(|rs| rs.replicas));
        status.ready_replicas = saturating_sum(replica_sets.iter().map(|rs| rs.ready_replicas));
        status.updated_replicas = updated;
        status.selector = Some(crate::validate::selector_string(&self.spec.selector));
        let (paused, why) = if status.phase != Some(Phase::Paused) {
            (ConditionStatus::False, reason::NOT_PAUSED)
        } else if status.paused_by_user {
            (ConditionStatus::True, reason::PAUSED_BY_USER)
        } else if status.analysis_inconclusive() {
            (ConditionStatus::True, reason::ANALYSIS_INCONCLUSIVE)
        } else {
            (ConditionStatus::True, reason::PAUSED_BY_STEP)
        };
        status.set_condition(ConditionType::Paused, paused, why, "", now);
        let completed = status.phase == Some(Phase::Completed);
        status.set_condition(
            ConditionType::Completed,
            if completed {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            if completed {
                reason::COMPLETED
            } else {
                reason::NEW_REVISION
            },
            "",
            now,
        );
        let ready = status.ready_replicas;
        let wanted = self.plan.replicas;
        let (available, why) = if ready >= wanted {
            (ConditionStatus::True, reason::AVAILABLE)
        } else {
            (ConditionStatus::False, reason::UNAVAILABLE)
        };
        status.set_condition(
            ConditionType::Available,
            available,
            why,
            &format!("{ready} of {wanted} pods ready"),
            now,
        );
    }
}
