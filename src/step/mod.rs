//! `step`: the one function that decides everything.
//!
//! Each call runs the same pipeline: check the spec, note the observed generation, settle which
//! revision is being shipped, handle a new control request, let the strategy advance, enforce
//! the progress deadline, and finally derive the desired world from the new status and compare
//! it with the observed one, so that only what differs becomes an effect.

pub(crate) mod analysis;
mod blue_green;
mod canary;
mod collision;
mod simple;
pub(crate) mod traffic;
mod workload;
mod world;

use chrono::{DateTime, Utc};

use crate::cdevents;
use crate::conditions::reason;
use crate::effect::{CdEvent, CdEventKind, Effect, EventType, KubeEvent, MetricQuery};
use crate::observations::{Observations, ObservedReplicaSet};
use crate::request::RequestAction;
use crate::spec::RolloutSpec;
use crate::status::{
    AnalysisKind, ConditionStatus, ConditionType, Phase, RolloutStatus, WaitingForPods,
};
use crate::validate::{AnalysisPlan, Plan, SpecError, StrategyPlan, validate};

use analysis::{QueryVars, RunOutput, Verdict};

/// Decide what to do next.
///
/// Pure and deterministic: the same inputs give byte-identical outputs. The returned status is
/// the whole status to write; the effects are to be executed in order.
pub fn step(
    spec: &RolloutSpec,
    status: &RolloutStatus,
    obs: &Observations,
) -> (RolloutStatus, Vec<Effect>) {
    // A `workloadRef` spec ships the Deployment's template: checked as a spec, then again
    // once that template is in place.
    let resolved;
    let workload_ref = spec.workload_ref.as_ref();
    let spec = match workload_ref.map(|_| validate(spec).and_then(|_| workload::resolve(spec, obs)))
    {
        Some(Ok(Some(with_template))) => {
            resolved = with_template;
            &resolved
        }
        Some(Err(error)) => return invalid_spec(spec, status, obs, &error),
        Some(Ok(None)) | None => spec,
    };
    let plan = match validate(spec) {
        Ok(plan) => plan,
        Err(error) => return invalid_spec(spec, status, obs, &error),
    };
    let mut cx = Cx::new(spec, &plan, status, obs);
    cx.workload_ref = workload_ref;
    cx.screen_request();
    cx.report_request_error();
    let desired = match &plan.strategy {
        StrategyPlan::Canary(canary) => canary::reconcile(&mut cx, canary),
        StrategyPlan::BlueGreen(blue_green) => blue_green::reconcile(&mut cx, blue_green),
        StrategyPlan::Simple(simple) => simple::reconcile(&mut cx, simple),
    };
    cx.finish(desired)
}

/// An invalid spec changes nothing in the cluster: it only says what is wrong.
fn invalid_spec(
    spec: &RolloutSpec,
    prior: &RolloutStatus,
    obs: &Observations,
    error: &SpecError,
) -> (RolloutStatus, Vec<Effect>) {
    let mut status = prior.clone();
    let message = error.to_string();
    let already_said = status
        .condition(ConditionType::InvalidSpec)
        .is_some_and(|c| c.status == ConditionStatus::True && c.message == message);
    status.observed_generation = Some(obs.rollout.generation);
    status.phase.get_or_insert(Phase::Initializing);
    status.selector = Some(crate::validate::selector_string(&spec.selector));
    status.set_condition(
        ConditionType::InvalidSpec,
        ConditionStatus::True,
        reason::INVALID_SPEC,
        &message,
        obs.now,
    );
    status.message = Some(format!("invalid spec: {message}"));
    let effects = if already_said {
        Vec::new()
    } else {
        vec![Effect::RecordEvent(KubeEvent {
            type_: EventType::Warning,
            reason: reason::INVALID_SPEC.into(),
            message,
        })]
    };
    (status, effects)
}

/// The desired state of the cluster, derived from the new status.
#[derive(Debug, Default)]
pub(crate) struct Desired {
    /// Replicas per revision; owned ReplicaSets of other revisions go to zero.
    pub replica_sets: Vec<(String, i32)>,
    /// Service name and the revision it should select.
    pub services: Vec<(String, String)>,
    /// The HTTPRoute's managed parts.
    pub route: Option<world::DesiredRoute>,
}

/// The working state of one `step` call.
pub(crate) struct Cx<'a> {
    pub spec: &'a RolloutSpec,
    pub plan: &'a Plan<'a>,
    pub obs: &'a Observations,
    pub status: RolloutStatus,
    /// The revision of the spec's template.
    pub revision: String,
    /// The Deployment whose template the spec carries (`spec.workloadRef`), if any.
    pub workload_ref: Option<&'a crate::spec::WorkloadRef>,
    /// A running ReplicaSet no controller owns that runs the template: the revision's
    /// ReplicaSet is adopted instead of created.
    pub adopt: Option<&'a crate::observations::ObservedOrphan>,
    /// A new request not yet handled by the strategy.
    request: Option<RequestAction>,
    /// Set by the strategy when it waits on the cluster this step.
    waiting: Option<Wait>,
    events: Vec<KubeEvent>,
    cdevents: Vec<CdEvent>,
    queries: Vec<MetricQuery>,
    wakeups: Vec<DateTime<Utc>>,
}

impl<'a> Cx<'a> {
    fn new(
        spec: &'a RolloutSpec,
        plan: &'a Plan<'a>,
        prior: &RolloutStatus,
        obs: &'a Observations,
    ) -> Self {
        let (revision, collision_count, renamed) = collision::settle(spec, prior, obs);
        let mut status = prior.clone();
        status.observed_generation = Some(obs.rollout.generation);
        status.collision_count = collision_count;
        status.clear_condition(ConditionType::InvalidSpec);
        if !obs.cdevents_sink {
            status.cdevents_outbox.clear();
        }
        status
            .cdevents_outbox
            .retain(|event| !obs.cdevents_delivered.contains(&event.id));
        // A status edited by hand may hold any number; a weight is a percentage.
        status.current_weight = status.current_weight.clamp(0, 100);
        if status.phase == Some(Phase::Initializing) {
            status.phase = None;
        }
        let request = obs.request.as_ref().and_then(|request| {
            let fresh = status.last_request_token.as_deref() != Some(request.token.as_str());
            fresh.then(|| {
                status.last_request_token = Some(request.token.clone());
                status.last_request_ignored = None;
                request.action
            })
        });
        let adopt =
            workload::orphan_to_adopt(spec, obs, status.stable_revision.as_deref(), &revision);
        Cx {
            spec,
            plan,
            obs,
            status,
            revision,
            workload_ref: None,
            adopt,
            request,
            waiting: None,
            events: renamed.into_iter().collect(),
            cdevents: Vec::new(),
            queries: Vec::new(),
            wakeups: Vec::new(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.obs.now
    }

    pub fn phase(&self) -> Option<Phase> {
        self.status.phase
    }

    /// Terminal or not yet started: nothing to advance.
    pub fn is_settled(&self) -> bool {
        self.status.phase.is_none_or(Phase::is_terminal)
    }

    /// The revision being shipped is the template's, and nobody asked to wait.
    pub fn may_advance(&self) -> bool {
        !self.is_settled()
            && self.status.canary_revision.as_deref() == Some(self.revision.as_str())
            && !self.status.paused_by_user
            && !self.status.analysis_inconclusive()
    }

    pub fn replica_set(&self, revision: Option<&str>) -> Option<&'a ObservedReplicaSet> {
        let revision = revision?;
        self.obs
            .replica_sets
            .iter()
            .find(|rs| rs.revision == revision)
    }

    pub fn ready(&self, revision: Option<&str>) -> i32 {
        self.replica_set(revision).map_or(0, |rs| rs.ready_replicas)
    }

    pub fn event(&mut self, type_: EventType, reason: &str, message: impl Into<String>) {
        let message = message.into();
        self.status.message = Some(message.clone());
        self.events.push(KubeEvent {
            type_,
            reason: reason.to_string(),
            message,
        });
    }

    pub fn wake_at(&mut self, at: DateTime<Utc>) {
        self.wakeups.push(at);
    }

    /// Emit a CDEvent about `revision`; `transition` makes its id unique and repeatable.
    pub fn cdevent(&mut self, kind: CdEventKind, revision: &str, transition: &str) {
        let announcement = format!("{revision}/{transition}");
        if self.status.announced.contains(&announcement) {
            return;
        }
        self.status.announced.push(announcement);
        let rollout = &self.obs.rollout;
        // Unique per shipment: the same revision shipped again (1 -> 2 -> 1) gets new ids.
        let transition = format!("{transition}/shipment-{}", self.status.shipments);
        let image = self
            .spec
            .template
            .spec
            .as_ref()
            .and_then(|pod| pod.containers.first())
            .and_then(|container| container.image.as_deref())
            .unwrap_or_default();
        let event = CdEvent {
            id: cdevents::event_id(&rollout.uid, revision, &transition),
            kind,
            subject_id: format!("{}/{}", rollout.namespace, rollout.name),
            environment: self
                .obs
                .cdevents_environment
                .clone()
                .unwrap_or_else(|| rollout.namespace.clone()),
            artifact_id: cdevents::image_purl(image),
            revision: revision.to_string(),
            timestamp: self.obs.now,
        };
        if self.obs.cdevents_sink {
            let outbox = &mut self.status.cdevents_outbox;
            if !outbox.iter().any(|kept| kept.id == event.id) {
                outbox.push(event.clone());
            }
            let excess = outbox.len().saturating_sub(crate::status::OUTBOX_LIMIT);
            outbox.drain(..excess);
        }
        self.cdevents.push(event);
    }

    /// Take the new request for the strategy to handle.
    pub fn take_request(&mut self) -> Option<RequestAction> {
        self.request.take()
    }

    /// A request made for another revision than the one the spec ships now (a stale
    /// `promote --full` meeting the next image) is ignored, and said so.
    fn screen_request(&mut self) {
        let (Some(action), Some(request)) = (self.request, self.obs.request.as_ref()) else {
            return;
        };
        let Some(aimed) = request.revision.as_deref() else {
            return;
        };
        if aimed != self.revision {
            self.request = None;
            let why = format!(
                "it was made for revision {aimed}, and the rollout now ships {}",
                self.revision
            );
            self.ignore_request(action, &why);
        }
    }

    /// A request annotation that cannot be read is a Warning Event (once) and a condition
    /// until it is fixed or removed.
    fn report_request_error(&mut self) {
        let Some(error) = self.obs.request_error.clone() else {
            self.status.clear_condition(ConditionType::InvalidRequest);
            return;
        };
        let already_said = self
            .status
            .condition(ConditionType::InvalidRequest)
            .is_some_and(|c| c.message == error);
        if already_said {
            return;
        }
        self.status.set_condition(
            ConditionType::InvalidRequest,
            ConditionStatus::True,
            reason::INVALID_REQUEST,
            &error,
            self.obs.now,
        );
        self.events.push(KubeEvent {
            type_: EventType::Warning,
            reason: reason::INVALID_REQUEST.into(),
            message: format!("{error}; nothing was done"),
        });
    }

    /// Say that a request did not apply.
    pub fn ignore_request(&mut self, action: RequestAction, why: &str) {
        self.status.last_request_ignored = Some(why.to_string());
        self.event(
            EventType::Normal,
            reason::REQUEST_IGNORED,
            format!("{action} ignored: {why}"),
        );
    }

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

    fn reset_progress(&mut self, phase: Phase, step_index: Option<i32>) {
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

    fn stop_analyses(&mut self) {
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

    fn set_progressing(&mut self, progressing: bool, why: &str, message: &str) {
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

    /// Advance the analysis in `slot` (creating it for this revision if needed); it measures
    /// only while the revision is `serving` the traffic it was given.
    pub fn run_analysis(
        &mut self,
        slot: AnalysisSlot,
        kind: AnalysisKind,
        step_index: Option<i32>,
        plan: &AnalysisPlan,
        serving: bool,
    ) -> Verdict {
        let revision = self.status.canary_revision.clone().unwrap_or_default();
        let stable = self.status.stable_revision.clone().unwrap_or_default();
        let existing = match slot {
            AnalysisSlot::Background => self.status.background_analysis.take(),
            AnalysisSlot::Gate => self.status.gate_analysis.take(),
        };
        let mut run = existing
            .filter(|run| analysis::is_run_of(run, kind, step_index, &revision))
            .unwrap_or_else(|| analysis::new_run(kind, step_index, &revision, plan));
        let vars = QueryVars {
            namespace: &self.obs.rollout.namespace,
            name: &self.obs.rollout.name,
            stable_revision: &stable,
        };
        let mut out = RunOutput::default();
        let verdict = analysis::advance(
            &mut run,
            plan,
            slot == AnalysisSlot::Gate,
            serving,
            self.obs.now,
            &self.obs.metric_results,
            &vars,
            &mut out,
        );
        self.queries.extend(out.queries);
        if let Some(at) = out.wake_at {
            self.wakeups.push(at);
        }
        if verdict == Verdict::Passed && run.round > 0 {
            let name = describe_analysis(kind, step_index);
            self.event(
                EventType::Normal,
                reason::ANALYSIS_PASSED,
                format!("{name} passed for revision {revision}"),
            );
        }
        match slot {
            AnalysisSlot::Background => self.status.background_analysis = Some(run),
            AnalysisSlot::Gate => self.status.gate_analysis = Some(run),
        }
        verdict
    }

    /// Advance the background analysis: a failure rolls back, too many inconclusives pause
    /// for a person.
    pub fn run_background_analysis(&mut self, plan: &AnalysisPlan, serving: bool) {
        let slot = AnalysisSlot::Background;
        match self.run_analysis(slot, AnalysisKind::Background, None, plan, serving) {
            Verdict::Failed(message) => self.fail(reason::ANALYSIS_FAILED, message),
            Verdict::Inconclusive(message) => self.pause_inconclusive(message),
            Verdict::Running | Verdict::Passed => {}
        }
    }

    /// Handle the requests every strategy treats alike; hand back the ones it must decide.
    pub fn common_request(&mut self, action: RequestAction) -> Option<RequestAction> {
        match action {
            RequestAction::Abort if self.is_settled() => {
                self.ignore_request(action, "the rollout is not in progress");
            }
            RequestAction::Abort => self.fail(reason::ABORTED, "aborted by request"),
            RequestAction::Pause if self.is_settled() => {
                self.ignore_request(action, "the rollout is not in progress");
            }
            RequestAction::Pause => {
                self.status.paused_by_user = true;
                self.status.phase = Some(Phase::Paused);
                self.event(
                    EventType::Normal,
                    reason::PAUSED_BY_USER,
                    "paused by request",
                );
            }
            RequestAction::Resume if self.status.paused_by_user => {
                self.status.paused_by_user = false;
                self.event(EventType::Normal, reason::RESUMED, "resumed by request");
            }
            RequestAction::Resume if self.status.analysis_inconclusive() => {
                self.resume_analyses();
                self.event(
                    EventType::Normal,
                    reason::RESUMED,
                    "resumed by request: measuring again after one interval",
                );
            }
            RequestAction::Resume => self.ignore_request(action, "the rollout is not paused"),
            RequestAction::Retry if self.first_in_flight() && self.is_settled() => {
                self.first_revision();
            }
            RequestAction::Retry => {
                let retryable = self.status.phase == Some(Phase::Failed)
                    && self.status.canary_revision.as_deref() == Some(self.revision.as_str());
                if retryable {
                    return Some(action);
                }
                self.ignore_request(action, "only a failed rollout can be retried");
            }
            RequestAction::Promote | RequestAction::PromoteFull if self.is_settled() => {
                self.ignore_request(action, "the rollout is not in progress");
            }
            RequestAction::Promote | RequestAction::PromoteFull => return Some(action),
        }
        None
    }

    /// Measure inconclusive analyses again, each one interval from now.
    pub fn resume_analyses(&mut self) {
        let now = self.obs.now;
        for slot in [AnalysisSlot::Background, AnalysisSlot::Gate] {
            let run = match slot {
                AnalysisSlot::Background => self.status.background_analysis.as_mut(),
                AnalysisSlot::Gate => self.status.gate_analysis.as_mut(),
            };
            let Some(run) = run else { continue };
            let interval = analysis_plan_of(self.plan, run.kind, run.step_index)
                .map_or(chrono::TimeDelta::minutes(1), |plan| plan.interval);
            analysis::resume(run, now, interval);
        }
    }

    /// The revision an observed Service selects.
    pub fn service_revision(&self, service: &str) -> Option<&'a str> {
        self.obs
            .services
            .iter()
            .find(|s| s.name == service)
            .and_then(|s| s.revision.as_deref())
    }

    /// Record that this step waits on the cluster (pods, or a write to be observed): `what`
    /// names the wait (a new name is a new wait), `progress` grows as it makes headway, and
    /// `detail` says where it stands. The last wait recorded in a step is the one that counts.
    pub fn wait_for(&mut self, progress: i32, what: String, detail: String) {
        self.waiting = Some(Wait {
            progress,
            what,
            detail,
        });
    }

    /// Wait (under the deadline) while `revision` has fewer than `wanted` ready pods.
    pub fn wait_for_pods(&mut self, revision: Option<&str>, wanted: i32) {
        let Some(rs) = self.replica_set(revision) else {
            return;
        };
        let wanted = wanted.min(rs.replicas);
        if rs.ready_replicas < wanted {
            let (ready, name) = (rs.ready_replicas, rs.name.clone());
            self.wait_for(
                ready,
                format!("{wanted} ready pods of {name}"),
                format!("{ready} ready"),
            );
        }
    }

    /// Enforce the progress deadline from the persisted start of the wait. Only forward
    /// progress (more than the most seen in this wait) restarts it; a wait that relapses within
    /// a deadline of being satisfied resumes where it was.
    pub fn enforce_deadline(&mut self) -> bool {
        let now = self.obs.now;
        let deadline_of =
            |at: DateTime<Utc>| crate::duration::after(at, self.plan.progress_deadline);
        if self.is_settled() {
            self.status.waiting = None;
            self.waiting = None;
            return false;
        }
        let Some(wait) = self.waiting.take() else {
            // Satisfied: keep the record for a deadline, in case the wait relapses.
            if let Some(waiting) = self.status.waiting.as_mut() {
                let resolved = *waiting.resolved_at.get_or_insert(now);
                if now >= deadline_of(resolved) {
                    self.status.waiting = None;
                } else {
                    self.wakeups.push(deadline_of(resolved));
                }
            }
            return false;
        };
        let (since, progress) = match &self.status.waiting {
            Some(waiting)
                if waiting.what == wait.what
                    && wait.progress <= waiting.progress
                    && waiting.resolved_at.is_none_or(|at| now < deadline_of(at)) =>
            {
                (waiting.since, waiting.progress)
            }
            _ => (now, wait.progress),
        };
        self.status.waiting = Some(WaitingForPods {
            since,
            progress,
            what: wait.what.clone(),
            resolved_at: None,
        });
        let deadline = deadline_of(since);
        if now >= deadline {
            let seconds = self.plan.progress_deadline.num_seconds();
            let detail = if wait.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", wait.detail)
            };
            self.fail(
                reason::PROGRESS_DEADLINE_EXCEEDED,
                format!(
                    "waited for {}{detail}: no progress for {seconds}s",
                    wait.what
                ),
            );
            return true;
        }
        self.wake_at(deadline);
        false
    }

    fn finish(mut self, desired: Desired) -> (RolloutStatus, Vec<Effect>) {
        traffic::remember(&mut self);
        self.status.observed_weight = traffic::observed_canary_weight(&self);
        let mut effects = world::effects(&self, &desired);
        self.update_conditions_and_counts();
        self.report_effect_errors();
        effects.extend(self.queries.into_iter().map(Effect::QueryMetric));
        effects.extend(self.events.into_iter().map(Effect::RecordEvent));
        effects.extend(self.cdevents.into_iter().map(Effect::EmitCdEvent));
        let now = self.obs.now;
        if let Some(next) = self.wakeups.into_iter().filter(|at| *at > now).min() {
            effects.push(Effect::RequeueAfter {
                after: crate::duration::to_std(next - now),
            });
        }
        (self.status, effects)
    }

    /// Say what failed at the last attempt; the failed effects are decided again from what is
    /// observed, so they are retried on every reconcile. An Event goes out when the story
    /// changes, not on every retry.
    fn report_effect_errors(&mut self) {
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

    fn update_conditions_and_counts(&mut self) {
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

/// What a strategy waits for in this step.
struct Wait {
    progress: i32,
    what: String,
    detail: String,
}

/// The analysis plan a run belongs to.
fn analysis_plan_of<'p>(
    plan: &'p Plan<'p>,
    kind: AnalysisKind,
    step_index: Option<i32>,
) -> Option<&'p AnalysisPlan<'p>> {
    match (&plan.strategy, kind) {
        (StrategyPlan::Canary(canary), AnalysisKind::Background) => {
            canary.analysis.as_ref().map(|(_, plan)| plan)
        }
        (StrategyPlan::Canary(canary), AnalysisKind::Step) => step_index
            .and_then(|index| usize::try_from(index).ok())
            .and_then(|index| canary.steps.get(index))
            .and_then(|step| match step {
                crate::validate::StepPlan::Analysis(plan) => Some(plan),
                _ => None,
            }),
        (StrategyPlan::BlueGreen(blue_green), AnalysisKind::PrePromotion) => {
            blue_green.pre_promotion_analysis.as_ref()
        }
        (StrategyPlan::BlueGreen(blue_green), AnalysisKind::PostPromotion) => {
            blue_green.post_promotion_analysis.as_ref()
        }
        (StrategyPlan::Simple(simple), AnalysisKind::Background) => simple.analysis.as_ref(),
        _ => None,
    }
}

/// Which status slot an analysis lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnalysisSlot {
    /// `status.backgroundAnalysis`.
    Background,
    /// `status.gateAnalysis`.
    Gate,
}

fn describe_analysis(kind: AnalysisKind, step_index: Option<i32>) -> String {
    match (kind, step_index) {
        (AnalysisKind::Step, Some(index)) => format!("analysis step {index}"),
        (AnalysisKind::Background, _) => "background analysis".into(),
        (AnalysisKind::PrePromotion, _) => "pre-promotion analysis".into(),
        (AnalysisKind::PostPromotion, _) => "post-promotion analysis".into(),
        (AnalysisKind::Step, None) => "analysis step".into(),
    }
}

/// A sum that stops at the bounds of `i32` instead of overflowing on absurd observations.
pub(crate) fn saturating_sum(values: impl Iterator<Item = i32>) -> i32 {
    values.fold(0i32, i32::saturating_add)
}

/// Pods needed to carry `weight` percent of `replicas`: rounded up, at least one when > 0.
pub(crate) fn pods_for(replicas: i32, weight: i32) -> i32 {
    if weight <= 0 {
        return 0;
    }
    let scaled = (i64::from(replicas) * i64::from(weight.min(100)) + 99) / 100;
    i32::try_from(scaled).unwrap_or(replicas).max(1)
}
