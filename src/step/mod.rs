//! `step`: the one function that decides everything.
//!
//! Each call runs the same pipeline: check the spec, note the observed generation, then
//! (`strategy::run`) settle which revision is being shipped, handle a new control request, let
//! the strategy advance or hold, enforce the progress deadline, and finally derive the desired
//! world from the new status and compare it with the observed one, so that only what differs
//! becomes an effect. What differs between canary, blue-green and simple sits behind the
//! `Strategy` seam (`strategy.rs`); every change of phase or revision is in `transitions.rs`.

pub(crate) mod analysis;
mod analysis_runs;
mod blue_green;
mod canary;
mod collision;
mod deadline;
mod report;
mod requests;
mod route;
mod simple;
mod strategy;
pub(crate) mod traffic;
mod transitions;
mod workload;
mod world;

use deadline::Wait;

use chrono::{DateTime, Utc};

use crate::cdevents;
use crate::conditions::reason;
use crate::effect::{CdEvent, CdEventKind, Effect, EventType, KubeEvent, MetricQuery, WakeReason};
use crate::observations::{Observations, ObservedReplicaSet};
use crate::request::RequestAction;
use crate::spec::RolloutSpec;
use crate::status::{ConditionStatus, ConditionType, Phase, RolloutStatus};
use crate::validate::{Plan, SpecError, StrategyPlan, validate};

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
    let workload_ref = spec.workload_ref.as_ref();
    let resolved = match workload_ref {
        Some(reference) => {
            match validate(spec).and_then(|_| workload::resolve(spec, reference, obs)) {
                Ok(resolved) => Some(resolved),
                Err(error) => return invalid_spec(spec, status, obs, &error),
            }
        }
        None => None,
    };
    let spec = resolved.as_ref().unwrap_or(spec);
    let plan = match validate(spec) {
        Ok(plan) => plan,
        Err(error) => return invalid_spec(spec, status, obs, &error),
    };
    let mut cx = Cx::new(spec, &plan, status, obs, workload_ref);
    cx.screen_request();
    cx.report_request_error();
    let desired = match &plan.strategy {
        StrategyPlan::Canary(plan) => strategy::run(&mut cx, &mut canary::Canary { plan }),
        StrategyPlan::BlueGreen(plan) => {
            strategy::run(&mut cx, &mut blue_green::BlueGreen { plan })
        }
        StrategyPlan::Simple(plan) => strategy::run(&mut cx, &mut simple::Simple::new(plan)),
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
    pub route: Option<route::DesiredRoute>,
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
    /// Whether a revision other than the first was in flight before this step (the prior
    /// status had a canary revision).
    pub was_shipping: bool,
    /// A new request not yet handled by the strategy.
    request: Option<RequestAction>,
    /// Set by the strategy when it waits on the cluster this step.
    waiting: Option<Wait>,
    events: Vec<KubeEvent>,
    cdevents: Vec<CdEvent>,
    queries: Vec<MetricQuery>,
    wakeups: Vec<(DateTime<Utc>, WakeReason)>,
}

impl<'a> Cx<'a> {
    fn new(
        spec: &'a RolloutSpec,
        plan: &'a Plan<'a>,
        prior: &RolloutStatus,
        obs: &'a Observations,
        workload_ref: Option<&'a crate::spec::WorkloadRef>,
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
        let mut cx = Cx {
            spec,
            plan,
            obs,
            status,
            revision,
            workload_ref,
            adopt,
            was_shipping: prior.canary_revision.is_some(),
            request,
            waiting: None,
            events: renamed.into_iter().collect(),
            cdevents: Vec::new(),
            queries: Vec::new(),
            wakeups: Vec::new(),
        };
        cx.forget_initializing();
        workload::remember(&mut cx);
        cx
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

    pub fn wake_at(&mut self, at: DateTime<Utc>, reason: WakeReason) {
        self.wakeups.push((at, reason));
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

    /// The revision an observed Service selects.
    pub fn service_revision(&self, service: &str) -> Option<&'a str> {
        self.obs
            .services
            .iter()
            .find(|s| s.name == service)
            .and_then(|s| s.revision.as_deref())
    }

    fn finish(mut self, desired: Desired) -> (RolloutStatus, Vec<Effect>) {
        traffic::remember(&mut self);
        self.status.observed_weight = traffic::observed_canary_weight(&self);
        let mut effects = world::effects(&self, &desired);
        self.update_conditions_and_counts();
        // The rollout's transitions are one story; a failure to act and its recovery are
        // Events of their own.
        self.events = report::one_normal_event(std::mem::take(&mut self.events));
        self.report_effect_errors();
        effects.extend(self.queries.into_iter().map(Effect::QueryMetric));
        effects.extend(self.events.into_iter().map(Effect::RecordEvent));
        effects.extend(self.cdevents.into_iter().map(Effect::EmitCdEvent));
        let now = self.obs.now;
        if let Some((next, reason)) = self.wakeups.into_iter().filter(|(at, _)| *at > now).min() {
            effects.push(Effect::RequeueAfter {
                after: crate::duration::to_std(next - now),
                reason,
            });
        }
        (self.status, effects)
    }
}

/// A sum that stops at the bounds of `i32` instead of overflowing on absurd observations.
pub(crate) fn saturating_sum(values: impl Iterator<Item = i32>) -> i32 {
    values.fold(0i32, i32::saturating_add)
}

/// Pods needed to carry `weight` percent of `replicas`: rounded up, at least one when > 0.
pub(crate) use workload::deployment_floor;

pub(crate) fn pods_for(replicas: i32, weight: i32) -> i32 {
    if weight <= 0 {
        return 0;
    }
    let scaled = (i64::from(replicas) * i64::from(weight.min(100)) + 99) / 100;
    i32::try_from(scaled).unwrap_or(replicas).max(1)
}
