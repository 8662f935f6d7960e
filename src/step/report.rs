//! What the status says besides the phase: standard conditions, counts, and the effects that
//! failed at the last attempt.

use crate::conditions::reason;
use crate::effect::{EventType, KubeEvent};
use crate::status::{ConditionStatus, ConditionType, Phase};

use super::{Cx, saturating_sum};

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
        let shipped = self
            .status
            .canary_revision
            .clone()
            .or_else(|| self.status.stable_revision.clone());
        let status = &mut self.status;
        status.replicas = saturating_sum(replica_sets.iter().map(|rs| rs.replicas));
        status.ready_replicas = saturating_sum(replica_sets.iter().map(|rs| rs.ready_replicas));
        status.updated_replicas = saturating_sum(
            replica_sets
                .iter()
                .filter(|rs| Some(&rs.revision) == shipped.as_ref())
                .map(|rs| rs.replicas),
        );
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
