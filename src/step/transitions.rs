//! Transitions: every change of phase and of the stable or canary revision is made here, so
//! that one file answers "who pauses a rollout", "when does a revision become stable" and
//! "what does a rollback do to the status". Strategies decide *when*; these say *what*.

use crate::conditions::reason;
use crate::effect::{CdEventKind, EventType};
use crate::status::{ConditionStatus, ConditionType, Phase};

use super::Cx;
use super::analysis;

impl Cx<'_> {
    /// Whether the rollout is still bringing up its first revision (nothing was ever
    /// stable, so there is nothing to shift traffic from or to roll back to).
    pub fn first_in_flight(&self) -> bool {
        self.status.stable_revision.is_some()
            && self.status.canary_revision.is_none()
            && !matches!(self.status.phase, None | Some(Phase::Completed))
    }
    /// The first revision ever (or a new template before the first one came up): deploy it at
    /// full scale; it is `Completed` once its pods are available.
    pub fn first_revision(&mut self) {
        let revision = self.revision.clone();
        let replaced = self.status.stable_revision.replace(revision.clone());
        self.status.shipments = self.status.shipments.saturating_add(1);
        self.status.canary_revision = None;
        self.status.current_weight = 0;
        self.status.current_step_index = None;
        self.reset_progress(Phase::Progressing, None);
        let (why, message) = match (replaced, self.adopt) {
            (_, Some(orphan)) => (
                reason::ADOPTED,
                format!(
                    "revision {revision} adopted from running ReplicaSet {} (no pod restarted)",
                    orphan.replica_set.name
                ),
            ),
            (Some(old), None) if old != revision => (
                reason::INITIAL_REVISION,
                format!("revision {revision} deploying at full scale, replacing {old}"),
            ),
            _ => (
                reason::INITIAL_REVISION,
                format!("revision {revision} deploying at full scale"),
            ),
        };
        self.set_progressing(true, why, &message);
        self.event(EventType::Normal, why, message);
        self.cdevent(CdEventKind::ServiceDeployed, &revision, "deployed");
    }
    /// Settle the first revision: `Completed` (and published) once its pods are available,
    /// waiting under the progress deadline until then. Returns whether the rollout is still
    /// bringing its first revision up (the strategy has nothing else to do then).
    pub fn settle_first_revision(&mut self) -> bool {
        if !self.first_in_flight() || self.phase() == Some(Phase::Failed) {
            return self.first_in_flight();
        }
        let revision = self.revision.clone();
        let available = self
            .replica_set(Some(&revision))
            .map_or(0, |rs| rs.available_replicas.min(rs.replicas));
        let replicas = self.plan.replicas;
        let at_full_scale = self
            .replica_set(Some(&revision))
            .is_some_and(|rs| rs.replicas == replicas);
        let complete = replicas == 0 || (available >= replicas && at_full_scale);
        if complete {
            self.status.phase = Some(Phase::Completed);
            self.status.waiting = None;
            let message = format!("revision {revision} is available at full scale");
            self.set_progressing(true, reason::COMPLETED, &message);
            self.event(EventType::Normal, reason::COMPLETED, message);
            self.cdevent(CdEventKind::ServicePublished, &revision, "published");
            return false;
        }
        self.wait_for(
            available,
            format!("{replicas} available pods of revision {revision}"),
            format!("{available} available"),
        );
        true
    }
    /// Start shipping the template's revision from the beginning.
    pub fn start_revision(&mut self, phase: Phase, step_index: Option<i32>) {
        let revision = self.revision.clone();
        let replaced = self.status.canary_revision.replace(revision.clone());
        self.status.attempt = 0;
        self.status.shipments = self.status.shipments.saturating_add(1);
        self.reset_progress(phase, step_index);
        let message = match replaced {
            Some(old) if old != revision => format!("revision {revision} replaces {old}"),
            _ => format!("revision {revision} started"),
        };
        self.set_progressing(true, reason::NEW_REVISION, &message);
        self.event(EventType::Normal, reason::NEW_REVISION, message);
        self.cdevent(CdEventKind::ServiceDeployed, &revision, "deployed");
    }
    /// Start a failed revision again (retry).
    pub fn restart_revision(&mut self, phase: Phase, step_index: Option<i32>) {
        let revision = self.revision.clone();
        self.status.attempt = self.status.attempt.saturating_add(1);
        self.status.shipments = self.status.shipments.saturating_add(1);
        self.reset_progress(phase, step_index);
        let message = format!("revision {revision} retried");
        self.set_progressing(true, reason::RETRIED, &message);
        self.event(EventType::Normal, reason::RETRIED, message);
        self.cdevent(CdEventKind::ServiceDeployed, &revision, "deployed");
    }
    pub(super) fn reset_progress(&mut self, phase: Phase, step_index: Option<i32>) {
        let status = &mut self.status;
        status.phase = Some(phase);
        status.current_step_index = step_index;
        status.pause_start_time = None;
        status.paused_by_user = false;
        status.full_promotion = false;
        status.waiting = None;
        status.blue_green = None;
        status.background_analysis = None;
        status.gate_analysis = None;
        status.announced.clear();
    }
    /// The template went back to the stable revision: done, without running any step.
    pub fn revert_to_stable(&mut self) {
        let Some(canary) = self.status.canary_revision.clone() else {
            return;
        };
        let stable = self.status.stable_revision.clone().unwrap_or_default();
        let was_in_flight = !self.is_settled();
        self.stop_analyses();
        self.status.phase = Some(Phase::Completed);
        self.status.pause_start_time = None;
        self.status.paused_by_user = false;
        self.status.waiting = None;
        self.status.blue_green = None;
        let message = format!("template reverted to stable revision {stable}; {canary} abandoned");
        self.set_progressing(true, reason::REVERTED_TO_STABLE, &message);
        self.event(EventType::Normal, reason::REVERTED_TO_STABLE, message);
        if was_in_flight {
            self.cdevent(CdEventKind::ServiceRolledback, &canary, "reverted");
        }
    }
    /// Fail the rollout: traffic returns to stable and the new revision scales to zero. A
    /// first revision has nothing to roll back to: it only stops being awaited.
    pub fn fail(&mut self, why: &str, message: impl Into<String>) {
        let message = message.into();
        let first = self.first_in_flight();
        let revision = self
            .status
            .canary_revision
            .clone()
            .or_else(|| self.status.stable_revision.clone())
            .unwrap_or_default();
        self.stop_analyses();
        self.status.phase = Some(Phase::Failed);
        self.status.pause_start_time = None;
        self.status.paused_by_user = false;
        self.status.waiting = None;
        self.set_progressing(false, why, &message);
        if first {
            self.event(
                EventType::Warning,
                why,
                format!("revision {revision} failed: {message}; nothing to roll back to"),
            );
            return;
        }
        self.event(
            EventType::Warning,
            why,
            format!("rolling back {revision}: {message}"),
        );
        self.cdevent(CdEventKind::ServiceRolledback, &revision, "rolledback");
    }
    /// The shipped revision is stable now.
    pub fn complete(&mut self) {
        let Some(revision) = self.status.canary_revision.take() else {
            return;
        };
        self.status.stable_revision = Some(revision.clone());
        self.status.current_weight = 0;
        self.status.phase = Some(Phase::Completed);
        self.status.pause_start_time = None;
        self.status.waiting = None;
        self.status.full_promotion = false;
        self.status.blue_green = None;
        self.stop_analyses();
        let message = format!("revision {revision} is stable");
        self.set_progressing(true, reason::COMPLETED, &message);
        self.event(EventType::Normal, reason::COMPLETED, message);
        self.cdevent(CdEventKind::ServicePublished, &revision, "published");
    }
    /// An analysis was inconclusive too often: wait for a person.
    pub fn pause_inconclusive(&mut self, message: String) {
        self.status.phase = Some(Phase::Paused);
        self.event(
            EventType::Warning,
            reason::ANALYSIS_INCONCLUSIVE,
            format!("{message}; promote to accept or abort to roll back"),
        );
    }
    pub(super) fn stop_analyses(&mut self) {
        for run in [
            &mut self.status.background_analysis,
            &mut self.status.gate_analysis,
        ]
        .into_iter()
        .flatten()
        {
            analysis::stop(run);
        }
    }
    pub(super) fn set_progressing(&mut self, progressing: bool, why: &str, message: &str) {
        let status = if progressing {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        self.status.set_condition(
            ConditionType::Progressing,
            status,
            why,
            message,
            self.obs.now,
        );
    }

    /// The rollout moves again (a step passed, a promotion, a newer template waiting).
    pub fn progressing(&mut self) {
        self.status.phase = Some(Phase::Progressing);
    }

    /// Blue-green: the new revision is up, or coming up, behind the preview Service.
    pub fn preview(&mut self) {
        self.status.phase = Some(Phase::Preview);
    }

    /// Canary: an indefinite pause step holds the rollout until it is promoted.
    pub fn pause_at_step(&mut self) {
        self.status.phase = Some(Phase::Paused);
    }

    /// A person paused the rollout; nothing advances until resumed.
    pub fn pause_by_user(&mut self) {
        self.status.paused_by_user = true;
        self.status.phase = Some(Phase::Paused);
        self.event(
            EventType::Normal,
            reason::PAUSED_BY_USER,
            "paused by request",
        );
    }

    /// `Initializing` is only ever shown for a spec that cannot be acted on: a status that
    /// says so is taken as not started.
    pub(super) fn forget_initializing(&mut self) {
        if self.status.phase == Some(Phase::Initializing) {
            self.status.phase = None;
        }
    }

    /// Settle which revision ships, for the strategies that need no drain first (blue-green,
    /// simple): a first revision at full scale, a return to the stable template, or the
    /// template's revision started in `phase`.
    pub fn settle_revision(&mut self, phase: Phase) {
        let revision = self.revision.clone();
        match self.status.stable_revision.clone() {
            None => self.first_revision(),
            Some(stable) if self.first_in_flight() && stable != revision => self.first_revision(),
            Some(stable) if stable == revision => {
                self.revert_to_stable();
                self.forget_canary();
            }
            Some(_) if self.status.canary_revision.as_deref() == Some(revision.as_str()) => {}
            Some(_) => self.start_revision(phase, None),
        }
    }

    /// No revision is in flight any more (the abandoned one has no traffic left).
    pub fn forget_canary(&mut self) {
        self.status.canary_revision = None;
    }
}
