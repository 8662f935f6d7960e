//! A deterministic model cluster: it carries out [`Effect`]s on an in-memory world and
//! produces the next [`Observations`], on virtual time. Tests and simulations drive `step`
//! through it; nothing here reads a clock or draws a random number.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use serde::{Deserialize, Serialize};

use crate::effect::{Effect, EffectKind, MeasurementKey};
use crate::observations::{
    EffectError, ErrorCause, MetricResult, MetricValue, Observations, ObservedBackend,
    ObservedHttpRoute, ObservedOrphan, ObservedReplicaSet, ObservedService, ObservedWorkload,
    RolloutRef,
};
use crate::request::ControlRequest;
use crate::spec::RolloutSpec;
use crate::status::RolloutStatus;
use k8s_openapi::api::core::v1::PodTemplateSpec;

mod invariants;
pub mod metrics;
pub mod scenario;
pub mod timeline;

pub use invariants::{Violation, check_invariants};

/// Where metric values come from in a simulation.
pub trait MetricSource {
    /// The value of the metric measured by `key` at `now`.
    fn value(&mut self, key: &MeasurementKey, now: DateTime<Utc>) -> MetricValue;
}

impl<F: FnMut(&MeasurementKey, DateTime<Utc>) -> MetricValue> MetricSource for F {
    fn value(&mut self, key: &MeasurementKey, now: DateTime<Utc>) -> MetricValue {
        self(key, now)
    }
}

/// How the pods of a revision behave.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum PodBehaviour {
    /// Ready this long after they are created.
    ReadyAfter(TimeDelta),
    /// Never ready (image pull failure, crash loop).
    NeverReady,
    /// Ready after `ready`, then crash and stay unready from `crash` after creation.
    CrashAfter {
        /// Time to ready.
        ready: TimeDelta,
        /// Time to crash, from creation.
        crash: TimeDelta,
    },
    /// Ready after `ready`, then flapping: unready for `down` after every `up` of readiness.
    Flapping {
        /// Time to first ready.
        ready: TimeDelta,
        /// How long each ready spell lasts.
        up: TimeDelta,
        /// How long each unready spell lasts.
        down: TimeDelta,
    },
}

/// One pod in the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPod {
    /// When it becomes ready (`None`: never).
    pub ready_at: Option<DateTime<Utc>>,
    /// When it crashes (`None`: never).
    pub crash_at: Option<DateTime<Utc>>,
    /// Once ready, (up, down) spells it alternates between, if it flaps.
    pub flap: Option<(TimeDelta, TimeDelta)>,
}

impl SimPod {
    fn is_ready(&self, now: DateTime<Utc>) -> bool {
        let Some(ready_at) = self.ready_at.filter(|at| *at <= now) else {
            return false;
        };
        if self.crash_at.is_some_and(|at| at <= now) {
            return false;
        }
        match self.flap {
            Some((up, down)) => {
                let cycle = (up + down).num_milliseconds().max(1);
                (now - ready_at).num_milliseconds() % cycle < up.num_milliseconds()
            }
            None => true,
        }
    }

    /// The next time this pod changes between ready and unready after `now`.
    fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let ready_at = self.ready_at?;
        let mut next = [Some(ready_at), self.crash_at]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min();
        if let Some((up, down)) = self.flap
            && ready_at <= now
            && self.crash_at.is_none_or(|at| at > now)
        {
            let cycle = (up + down).num_milliseconds().max(1);
            let into = (now - ready_at).num_milliseconds() % cycle;
            let wait = if into < up.num_milliseconds() {
                up.num_milliseconds() - into
            } else {
                cycle - into
            };
            let flip = now + TimeDelta::milliseconds(wait.max(1));
            next = Some(next.map_or(flip, |at| at.min(flip)));
        }
        next
    }
}

/// A ReplicaSet in the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReplicaSet {
    /// Pod-template hash.
    pub revision: String,
    /// Its pods, oldest first.
    pub pods: Vec<SimPod>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The digest of the template it was made from, as the operator annotates it.
    pub template_digest: Option<String>,
}

impl SimReplicaSet {
    /// Desired replicas.
    pub fn replicas(&self) -> i32 {
        i32::try_from(self.pods.len()).unwrap_or(i32::MAX)
    }

    /// Ready pods at `now`.
    pub fn ready(&self, now: DateTime<Utc>) -> i32 {
        let ready = self.pods.iter().filter(|pod| pod.is_ready(now)).count();
        i32::try_from(ready).unwrap_or(i32::MAX)
    }

    /// What the operator would observe of it at `now`.
    pub fn observe(&self, name: &str, now: DateTime<Utc>) -> ObservedReplicaSet {
        ObservedReplicaSet {
            name: name.to_string(),
            revision: self.revision.clone(),
            replicas: self.replicas(),
            ready_replicas: self.ready(now),
            available_replicas: self.ready(now),
            created_at: Some(self.created_at),
            template_digest: self.template_digest.clone(),
            adopting: false,
        }
    }
}

/// A window in which effects of one kind fail (the API refuses them), so that `step` sees
/// the old state again and must try again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailureWindow {
    /// Which effects fail.
    pub kind: EffectKind,
    /// From when.
    pub from: DateTime<Utc>,
    /// Until when (exclusive).
    pub until: DateTime<Utc>,
}

/// A window in which writes of one kind are accepted but show up only `delay` later, as a
/// lagging API cache or a slow controller in front of the route would.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EffectLag {
    /// Which effects lag.
    pub kind: EffectKind,
    /// From when.
    pub from: DateTime<Utc>,
    /// Until when (exclusive).
    pub until: DateTime<Utc>,
    /// How long a write takes to show.
    pub delay: TimeDelta,
}

/// The model cluster.
pub struct World {
    /// Virtual time.
    pub now: DateTime<Utc>,
    /// The Rollout's identity.
    pub rollout: RolloutRef,
    /// ReplicaSets by name.
    pub replica_sets: BTreeMap<String, SimReplicaSet>,
    /// Services by name, with the revision they select.
    pub services: BTreeMap<String, Option<String>>,
    /// The HTTPRoute's managed parts, if the route exists.
    pub route: Option<ObservedHttpRoute>,
    /// Results not yet observed.
    pub pending_results: Vec<MetricResult>,
    /// The request annotation currently on the object.
    pub request: Option<ControlRequest>,
    /// Pod behaviour per revision; `default_pods` for the others.
    pub pods: BTreeMap<String, PodBehaviour>,
    /// Pod behaviour of revisions without an entry in `pods`.
    pub default_pods: PodBehaviour,
    /// Windows in which effects fail.
    pub failures: Vec<FailureWindow>,
    /// Failed effects not yet observed.
    pub pending_errors: Vec<EffectError>,
    /// Windows in which writes lag.
    pub lags: Vec<EffectLag>,
    /// Writes accepted but not yet visible: when they land, and what.
    pub lagging: Vec<(DateTime<Utc>, Effect)>,
    /// Metrics of a revision with no ready pods have no data (no pods, no requests, no
    /// series), as in a real cluster; off by default, where scripts answer regardless.
    pub no_data_without_ready_pods: bool,
    /// ReplicaSets no controller owns, by name, with the pod template they run: observed
    /// while the Rollout owns none, for it to adopt.
    pub orphans: BTreeMap<String, (SimReplicaSet, PodTemplateSpec)>,
    /// The Deployment a `workloadRef` names, if it exists.
    pub workload: Option<ObservedWorkload>,
    metrics: Box<dyn MetricSource>,
}

impl World {
    /// An empty cluster at `now` with the named Services and (optionally) an HTTPRoute that
    /// references the given backends.
    pub fn new(
        now: DateTime<Utc>,
        rollout: RolloutRef,
        services: &[&str],
        route_backends: Option<&[&str]>,
        metrics: impl MetricSource + 'static,
    ) -> Self {
        World {
            now,
            rollout,
            replica_sets: BTreeMap::new(),
            services: services.iter().map(|s| (s.to_string(), None)).collect(),
            route: route_backends.map(|backends| ObservedHttpRoute {
                backends: backends
                    .iter()
                    .map(|service| ObservedBackend {
                        service: service.to_string(),
                        weight: 1,
                    })
                    .collect(),
                header_route: None,
            }),
            pending_results: Vec::new(),
            request: None,
            pods: BTreeMap::new(),
            default_pods: PodBehaviour::ReadyAfter(TimeDelta::seconds(10)),
            failures: Vec::new(),
            pending_errors: Vec::new(),
            lags: Vec::new(),
            lagging: Vec::new(),
            no_data_without_ready_pods: false,
            orphans: BTreeMap::new(),
            workload: None,
            metrics: Box::new(metrics),
        }
    }

    /// Observe the world; metric results are handed over once.
    pub fn observe(&mut self) -> Observations {
        Observations {
            now: self.now,
            rollout: self.rollout.clone(),
            request: self.request.clone(),
            request_error: None,
            cdevents_sink: false,
            cdevents_delivered: Vec::new(),
            replica_sets: self
                .replica_sets
                .iter()
                .map(|(name, rs)| rs.observe(name, self.now))
                .collect(),
            // As the operator does: orphans are looked for only while the Rollout owns none.
            orphans: if self.replica_sets.is_empty() {
                self.orphans
                    .iter()
                    .map(|(name, (rs, template))| ObservedOrphan {
                        replica_set: rs.observe(name, self.now),
                        template: template.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            workload: self.workload.clone(),
            services: self
                .services
                .iter()
                .map(|(name, revision)| ObservedService {
                    name: name.clone(),
                    revision: revision.clone(),
                })
                .collect(),
            http_route: self.route.clone(),
            metric_results: std::mem::take(&mut self.pending_results),
            effect_errors: std::mem::take(&mut self.pending_errors),
            cdevents_environment: None,
        }
    }

    /// Carry out effects, in order, as the interpreter does: the first ordered effect that
    /// fails stops the ordered effects after it. Returns whether any changed the cluster.
    pub fn apply(&mut self, effects: &[Effect]) -> bool {
        let mut changed = false;
        let mut ordered_failed = false;
        for effect in effects {
            if ordered_failed && effect.is_ordered() {
                continue;
            }
            let errors = self.pending_errors.len();
            changed |= self.apply_one(effect);
            ordered_failed |= effect.is_ordered() && self.pending_errors.len() > errors;
        }
        changed
    }

    /// Whether an effect of this kind fails now.
    pub fn fails(&self, kind: EffectKind) -> bool {
        self.failures
            .iter()
            .any(|f| f.kind == kind && f.from <= self.now && self.now < f.until)
    }

    /// How long a write of this kind takes to show now, if it lags.
    pub fn lag(&self, kind: EffectKind) -> Option<TimeDelta> {
        self.lags
            .iter()
            .find(|l| l.kind == kind && l.from <= self.now && self.now < l.until)
            .map(|l| l.delay)
    }

    /// Carry out one effect as the API would; returns whether the cluster changed. A failing
    /// effect leaves an effect error for the next observation.
    pub fn apply_one(&mut self, effect: &Effect) -> bool {
        if self.fails(effect.kind()) {
            self.pending_errors.push(EffectError {
                kind: effect.kind(),
                target: effect.target(),
                cause: ErrorCause::Server,
                message: "the API server refused the write (simulated failure window)".into(),
            });
            return false;
        }
        if effect.is_ordered()
            && let Some(delay) = self.lag(effect.kind())
        {
            // The same write already on its way changes nothing more.
            let pending = self
                .lagging
                .iter()
                .rev()
                .find(|(_, e)| e.kind() == effect.kind());
            if pending.is_some_and(|(_, e)| e == effect) {
                return false;
            }
            self.lagging.push((self.now + delay, effect.clone()));
            return true;
        }
        self.land(effect)
    }

    /// Writes whose lag is over become visible, in the order they were made.
    fn land_lagging(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.lagging)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.lagging = later;
        for (_, effect) in due {
            self.land(&effect);
        }
    }

    fn land(&mut self, effect: &Effect) -> bool {
        let now = self.now;
        match effect {
            Effect::CreateReplicaSet {
                name,
                revision,
                replicas,
                template,
            } => {
                if self.replica_sets.contains_key(name) {
                    return false;
                }
                self.replica_sets.insert(
                    name.clone(),
                    SimReplicaSet {
                        revision: revision.clone(),
                        pods: Vec::new(),
                        created_at: now,
                        template_digest: Some(crate::revision::template_digest(template)),
                    },
                );
                self.scale(name, *replicas);
                true
            }
            Effect::ScaleReplicaSet { name, replicas } => self.scale(name, *replicas),
            Effect::DeleteReplicaSet { name } => self.replica_sets.remove(name).is_some(),
            Effect::AdoptReplicaSet {
                name,
                revision,
                digest,
            } => match self.orphans.remove(name) {
                Some((mut rs, _)) => {
                    rs.revision = revision.clone();
                    rs.template_digest = Some(digest.clone());
                    self.replica_sets.insert(name.clone(), rs);
                    true
                }
                None => false,
            },
            Effect::ScaleDeployment { name, replicas } => match self.workload.as_mut() {
                Some(workload) if workload.name == *name && workload.replicas != *replicas => {
                    workload.replicas = *replicas;
                    true
                }
                _ => false,
            },
            Effect::PointService { service, revision } => match self.services.get_mut(service) {
                Some(current) if current.as_ref() != Some(revision) => {
                    *current = Some(revision.clone());
                    true
                }
                _ => false,
            },
            Effect::SetRouteWeights { stable, canary, .. } => {
                let Some(route) = self.route.as_mut() else {
                    return false;
                };
                let mut changed = false;
                for backend in &mut route.backends {
                    for wanted in [stable, canary] {
                        if backend.service == wanted.service && backend.weight != wanted.weight {
                            backend.weight = wanted.weight;
                            changed = true;
                        }
                    }
                }
                changed
            }
            Effect::SetHeaderRoute { rule, .. } => {
                let Some(route) = self.route.as_mut() else {
                    return false;
                };
                let wanted = rule.as_ref().map(|rule| rule.route.clone());
                let changed = route.header_route != wanted;
                route.header_route = wanted;
                changed
            }
            Effect::QueryMetric(query) => {
                let value =
                    if self.no_data_without_ready_pods && self.ready_of(&query.key.revision) == 0 {
                        MetricValue::Empty
                    } else {
                        self.metrics.value(&query.key, now)
                    };
                self.pending_results.push(MetricResult {
                    key: query.key.clone(),
                    value,
                    time: now,
                });
                true
            }
            Effect::EmitCdEvent(_) | Effect::RecordEvent(_) | Effect::RequeueAfter { .. } => false,
        }
    }

    fn scale(&mut self, name: &str, replicas: i32) -> bool {
        let now = self.now;
        let Some(rs) = self.replica_sets.get_mut(name) else {
            return false;
        };
        let wanted = usize::try_from(replicas).unwrap_or(0);
        if rs.pods.len() == wanted {
            return false;
        }
        let behaviour = self
            .pods
            .get(&rs.revision)
            .unwrap_or(&self.default_pods)
            .clone();
        if wanted > rs.pods.len() {
            let (ready_at, crash_at, flap) = match behaviour {
                PodBehaviour::ReadyAfter(delay) => (Some(now + delay), None, None),
                PodBehaviour::NeverReady => (None, None, None),
                PodBehaviour::CrashAfter { ready, crash } => {
                    (Some(now + ready), Some(now + crash), None)
                }
                PodBehaviour::Flapping { ready, up, down } => {
                    (Some(now + ready), None, Some((up, down)))
                }
            };
            rs.pods.resize(
                wanted,
                SimPod {
                    ready_at,
                    crash_at,
                    flap,
                },
            );
        } else {
            // Unready pods go first, then the newest, as a ReplicaSet controller prefers.
            while rs.pods.len() > wanted {
                let victim = rs
                    .pods
                    .iter()
                    .rposition(|pod| !pod.is_ready(now))
                    .unwrap_or(rs.pods.len() - 1);
                rs.pods.remove(victim);
            }
        }
        true
    }

    /// The next time a pod becomes ready or crashes, if any.
    pub fn next_pod_event(&self) -> Option<DateTime<Utc>> {
        let now = self.now;
        self.replica_sets
            .values()
            .flat_map(|rs| rs.pods.iter())
            .filter_map(|pod| pod.next_change(now))
            .min()
    }

    /// The next time an effect failure or lag window opens or closes, or a lagging write
    /// lands, if any.
    pub fn next_failure_event(&self) -> Option<DateTime<Utc>> {
        let now = self.now;
        self.failures
            .iter()
            .flat_map(|f| [f.from, f.until])
            .chain(self.lags.iter().flat_map(|l| [l.from, l.until]))
            .chain(self.lagging.iter().map(|(at, _)| *at))
            .filter(|at| *at > now)
            .min()
    }

    /// Move virtual time forward; pods become ready and crash on schedule, lagging writes land.
    pub fn advance_to(&mut self, at: DateTime<Utc>) {
        if at > self.now {
            self.now = at;
        }
        self.land_lagging();
    }

    /// Route weight of a Service's backend, if the route references it.
    pub fn weight_of(&self, service: &str) -> Option<i32> {
        self.route.as_ref().and_then(|r| r.weight_of(service))
    }

    /// Ready pods of a revision.
    pub fn ready_of(&self, revision: &str) -> i32 {
        self.replica_sets
            .values()
            .filter(|rs| rs.revision == revision)
            .map(|rs| rs.ready(self.now))
            .sum()
    }
}

/// One call of `step` in a simulation.
#[derive(Clone, Debug)]
pub struct Record {
    /// The spec stepped with.
    pub spec: RolloutSpec,
    /// The status before.
    pub before: RolloutStatus,
    /// What was observed.
    pub observations: Observations,
    /// The status after.
    pub after: RolloutStatus,
    /// The effects returned.
    pub effects: Vec<Effect>,
}

/// Drives `step` against a [`World`] on virtual time.
pub struct Sim {
    /// The spec (tests change it to simulate template edits).
    pub spec: RolloutSpec,
    /// The status as persisted.
    pub status: RolloutStatus,
    /// The cluster.
    pub world: World,
    /// Every step so far.
    pub records: Vec<Record>,
    requeue_at: Option<DateTime<Utc>>,
}

impl Sim {
    /// A simulation with an empty status.
    pub fn new(spec: RolloutSpec, world: World) -> Self {
        Sim {
            spec,
            status: RolloutStatus::default(),
            world,
            records: Vec::new(),
            requeue_at: None,
        }
    }

    /// Observe, step, apply. Returns whether the world changed.
    pub fn step_once(&mut self) -> bool {
        let observations = self.world.observe();
        let (after, effects) = crate::step(&self.spec, &self.status, &observations);
        self.requeue_at = effects.iter().find_map(|effect| match effect {
            Effect::RequeueAfter { after, .. } => TimeDelta::from_std(*after)
                .ok()
                .map(|delta| observations.now + delta),
            _ => None,
        });
        let changed = self.world.apply(&effects);
        let status_changed = after != self.status;
        self.records.push(Record {
            spec: self.spec.clone(),
            before: std::mem::replace(&mut self.status, after.clone()),
            observations,
            after,
            effects,
        });
        changed || status_changed
    }

    /// Step until nothing changes at the current instant (bounded), as watch events would.
    pub fn settle(&mut self) {
        for _ in 0..32 {
            if !self.step_once() {
                return;
            }
        }
    }

    /// Run until virtual time `until`, stepping at every wake-up and pod event.
    /// Returns the number of steps taken; stops after `max_steps`.
    pub fn run_until(&mut self, until: DateTime<Utc>, max_steps: usize) -> usize {
        let start = self.records.len();
        self.settle();
        while self.records.len() - start < max_steps {
            let next = [
                self.requeue_at,
                self.world.next_pod_event(),
                self.world.next_failure_event(),
            ]
            .into_iter()
            .flatten()
            .filter(|at| *at > self.world.now)
            .min();
            match next {
                Some(at) if at <= until => {
                    self.world.advance_to(at);
                    self.settle();
                }
                _ => {
                    self.world.advance_to(until);
                    self.settle();
                    break;
                }
            }
        }
        self.records.len() - start
    }

    /// Run for `seconds` of virtual time.
    pub fn run_for(&mut self, seconds: i64) -> usize {
        let until = self.world.now + TimeDelta::seconds(seconds);
        self.run_until(until, 10_000)
    }

    /// Put a request on the object (as `kulta promote` would) and react to it at once.
    pub fn request(&mut self, request: ControlRequest) {
        self.world.request = Some(request);
        self.settle();
    }

    /// Change the spec (as `kubectl apply` would) and react to it at once.
    pub fn edit(&mut self, edit: impl FnOnce(&mut RolloutSpec)) {
        edit(&mut self.spec);
        self.world.rollout.generation += 1;
        self.settle();
    }

    /// The controller restarts: the status survives (as stored JSON), nothing in memory does:
    /// not the planned wake-up, not metric results that were in flight.
    pub fn restart(&mut self) {
        if let Ok(json) = serde_json::to_string(&self.status)
            && let Ok(status) = serde_json::from_str(&json)
        {
            self.status = status;
        }
        self.requeue_at = None;
        self.world.pending_results.clear();
        self.settle();
    }

    /// A person edits the route's canary weight by hand; the rest goes to stable.
    pub fn drift_route(&mut self, canary_weight: i32) {
        let canary_service = self
            .spec
            .strategy
            .canary
            .as_ref()
            .and_then(|c| c.canary_service.clone());
        if let Some(route) = self.world.route.as_mut() {
            for backend in &mut route.backends {
                backend.weight = if Some(&backend.service) == canary_service.as_ref() {
                    canary_weight
                } else {
                    100 - canary_weight
                };
            }
        }
        self.settle();
    }

    /// Every effect returned so far.
    pub fn effects(&self) -> impl Iterator<Item = &Effect> {
        self.records.iter().flat_map(|record| record.effects.iter())
    }
}
