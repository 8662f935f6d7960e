//! Scenario files: a Rollout, a world and a script, run on virtual time.
//!
//! ```yaml
//! description: The canary's error rate goes bad at 5 minutes; traffic returns to stable.
//! image: shop/web:1
//! rollout:
//!   replicas: 4
//!   strategy:
//!     canary:
//!       stableService: web-stable
//!       canaryService: web-canary
//!       trafficRouting: {gatewayAPI: {httpRoute: web}}
//!       steps: [{setWeight: 20}, {pause: {}}]
//! world:
//!   podsReadyAfter: 10s
//!   metrics:
//!     error-rate:
//!       default: {constant: 0.01}
//!       images: {"shop/web:2": {constant: 0.3}}
//! script:
//!   - {at: 1m, image: shop/web:2}
//!   - {at: 3m, request: promote}
//! until: 20m
//! ```
//!
//! Times in a scenario are offsets from its start. The run checks the safety invariants after
//! every step and fails, with the trace, at the first broken one.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Deserialize;

use crate::duration::DurationString;
use crate::effect::EffectKind;
use crate::observations::RolloutRef;
use crate::request::{ControlRequest, RequestAction};
use crate::revision::pod_template_hash;
use crate::spec::{RolloutSpec, Strategy};

use super::metrics::{MetricScript, MetricTable};
use super::timeline::{self, TimelineEntry};
use super::{
    EffectLag, FailureWindow, PodBehaviour, Record, Sim, Violation, World, check_invariants,
};

/// A scenario as written.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The image of the first revision.
    pub image: String,
    /// The Rollout, without selector and template (made from `image`).
    pub rollout: ScenarioRollout,
    /// The model cluster.
    #[serde(default)]
    pub world: ScenarioWorld,
    /// What happens, and when.
    #[serde(default)]
    pub script: Vec<ScriptEvent>,
    /// How long to run.
    pub until: DurationString,
    /// Step cap.
    #[serde(default = "default_max_steps")]
    pub max_steps: usize,
}

fn default_max_steps() -> usize {
    5_000
}

/// The Rollout spec of a scenario.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioRollout {
    /// Desired pods (default 4, unlike a Rollout's 1, so that weights show).
    #[serde(default = "default_replicas")]
    pub replicas: i32,
    /// Old ReplicaSets kept.
    #[serde(default = "crate::spec::default_revision_history_limit")]
    pub revision_history_limit: i32,
    /// Progress deadline.
    #[serde(default = "crate::spec::default_progress_deadline_seconds")]
    pub progress_deadline_seconds: i32,
    /// The strategy.
    pub strategy: Strategy,
}

fn default_replicas() -> i32 {
    4
}

/// The model cluster of a scenario.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioWorld {
    /// How long new pods take to become ready.
    #[serde(default = "default_ready_after")]
    pub pods_ready_after: DurationString,
    /// Pod behaviour per image.
    #[serde(default)]
    pub pods: BTreeMap<String, ScenarioPods>,
    /// Metric scripts per metric name.
    #[serde(default)]
    pub metrics: BTreeMap<String, ScenarioMetric>,
    /// Windows in which effects of a kind fail.
    #[serde(default)]
    pub failing_effects: Vec<ScenarioFailure>,
    /// Windows in which writes of a kind are accepted but show up only after a delay.
    #[serde(default)]
    pub lagging_effects: Vec<ScenarioLag>,
    /// A revision with no ready pods has no metric data (as in a real cluster); by default
    /// metric scripts answer whatever the pods do.
    #[serde(default)]
    pub no_data_without_ready_pods: bool,
}

impl Default for ScenarioWorld {
    fn default() -> Self {
        ScenarioWorld {
            pods_ready_after: default_ready_after(),
            pods: BTreeMap::new(),
            metrics: BTreeMap::new(),
            failing_effects: Vec::new(),
            lagging_effects: Vec::new(),
            no_data_without_ready_pods: false,
        }
    }
}

fn default_ready_after() -> DurationString {
    DurationString::new("10s")
}

/// How an image's pods behave.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum ScenarioPods {
    /// Ready after this long.
    ReadyAfter(DurationString),
    /// Never ready.
    NeverReady,
    /// Ready, then crash.
    CrashAfter {
        /// Time to ready.
        ready: DurationString,
        /// Time to crash, from creation.
        crash: DurationString,
    },
    /// Ready, then alternately unready and ready again.
    Flapping {
        /// Time to first ready.
        ready: DurationString,
        /// Each ready spell.
        up: DurationString,
        /// Each unready spell.
        down: DurationString,
    },
}

/// One metric's scripts.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioMetric {
    /// For every revision without an override.
    pub default: MetricScript,
    /// Per image.
    #[serde(default)]
    pub images: BTreeMap<String, MetricScript>,
}

/// Effects of a kind fail in a window.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioFailure {
    /// Which effects.
    pub kind: EffectKind,
    /// From.
    pub from: DurationString,
    /// Until.
    pub until: DurationString,
}

/// Writes of a kind lag in a window.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioLag {
    /// Which effects.
    pub kind: EffectKind,
    /// From.
    pub from: DurationString,
    /// Until.
    pub until: DurationString,
    /// How long a write takes to show.
    pub delay: DurationString,
}

/// One scripted event.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScriptEvent {
    /// When, from the start.
    pub at: DurationString,
    /// What.
    #[serde(flatten)]
    pub action: ScriptAction,
}

/// What a scripted event does.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum ScriptAction {
    /// A person applies a new image (a new revision, or a revert).
    Image(String),
    /// A person records a control request, aimed at the revision the spec ships now.
    Request(RequestAction),
    /// A request aimed at the revision shipped before the last image change: one sent while
    /// the controller was down, or that crossed the image change.
    StaleRequest(RequestAction),
    /// The controller restarts: the status survives, nothing in memory does.
    Restart(bool),
    /// A person changes `replicas`.
    Replicas(i32),
    /// A person edits the route's canary weight by hand (the rest goes to stable).
    DriftRoute(i32),
}

/// Why a scenario could not be read or run.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum ScenarioError {
    /// The YAML does not describe a scenario; the message gives line, column and field.
    #[error("{0}")]
    Parse(String),
    /// A duration in the scenario cannot be read.
    #[error("{field}: {message}")]
    Duration {
        /// Where.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The run took more steps than allowed.
    #[error("step cap of {0} reached")]
    StepCap(usize),
    /// A safety invariant broke.
    #[error("step #{index}: {violation}\n{trace}")]
    Invariant {
        /// Index of the step.
        index: usize,
        /// What broke.
        violation: Violation,
        /// The timeline up to that step.
        trace: String,
    },
}

/// The outcome of a run.
pub struct ScenarioRun {
    /// Every step.
    pub records: Vec<Record>,
    /// Revision hash to image, for readable timelines.
    pub aliases: BTreeMap<String, String>,
    /// When the run started.
    pub start: DateTime<Utc>,
    /// The rollout's name (for ReplicaSet names).
    pub rollout: String,
}

impl ScenarioRun {
    /// The timeline of the run.
    pub fn timeline(&self) -> Vec<TimelineEntry> {
        timeline::timeline(&self.records, self.start, &self.aliases, &self.rollout)
    }
}

/// When every scenario starts.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

const ROLLOUT: &str = "app";

impl Scenario {
    /// Read a scenario from YAML.
    pub fn from_yaml(text: &str) -> Result<Scenario, ScenarioError> {
        serde_saphyr::from_str(text).map_err(|error| ScenarioError::Parse(error.to_string()))
    }

    /// The Rollout spec with `image` as its template.
    pub fn spec(&self, image: &str) -> RolloutSpec {
        let labels = BTreeMap::from([("app".to_string(), ROLLOUT.to_string())]);
        RolloutSpec {
            replicas: self.rollout.replicas,
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            },
            template: template(image),
            workload_ref: None,
            revision_history_limit: self.rollout.revision_history_limit,
            progress_deadline_seconds: self.rollout.progress_deadline_seconds,
            strategy: self.rollout.strategy.clone(),
        }
    }

    /// Every image the scenario uses, first one first.
    pub fn images(&self) -> Vec<String> {
        let mut images = vec![self.image.clone()];
        for event in &self.script {
            if let ScriptAction::Image(image) = &event.action
                && !images.contains(image)
            {
                images.push(image.clone());
            }
        }
        images
    }

    /// Run the scenario, checking the safety invariants after every step.
    pub fn run(&self) -> Result<ScenarioRun, ScenarioError> {
        let start = start_time();
        let aliases: BTreeMap<String, String> = self
            .images()
            .into_iter()
            .map(|image| (pod_template_hash(&template(&image)), image))
            .collect();
        let revision_of = |image: &str| pod_template_hash(&template(image));
        let spec = self.spec(&self.image);
        let mut metrics = MetricTable {
            start,
            fallback: Some(MetricScript::Constant(0.0)),
            ..MetricTable::default()
        };
        for (name, metric) in &self.world.metrics {
            metrics
                .defaults
                .insert(name.clone(), metric.default.clone());
            for (image, script) in &metric.images {
                metrics
                    .overrides
                    .insert((name.clone(), revision_of(image)), script.clone());
            }
        }
        let (services, route) = named_services(&spec.strategy);
        let service_names: Vec<&str> = services.iter().map(String::as_str).collect();
        let route_names: Option<Vec<&str>> = route
            .as_ref()
            .map(|names| names.iter().map(String::as_str).collect());
        let rollout = RolloutRef {
            name: ROLLOUT.into(),
            namespace: "demo".into(),
            uid: "5c3e1d2a-7b4f-4e0a-9c1d-000000000001".into(),
            generation: 1,
        };
        let mut world = World::new(
            start,
            rollout,
            &service_names,
            route_names.as_deref(),
            metrics,
        );
        world.default_pods = PodBehaviour::ReadyAfter(duration(
            "world.podsReadyAfter",
            &self.world.pods_ready_after,
        )?);
        for (image, pods) in &self.world.pods {
            let field = format!("world.pods.{image}");
            let behaviour = match pods {
                ScenarioPods::ReadyAfter(after) => {
                    PodBehaviour::ReadyAfter(duration(&field, after)?)
                }
                ScenarioPods::NeverReady => PodBehaviour::NeverReady,
                ScenarioPods::CrashAfter { ready, crash } => PodBehaviour::CrashAfter {
                    ready: duration(&field, ready)?,
                    crash: duration(&field, crash)?,
                },
                ScenarioPods::Flapping { ready, up, down } => PodBehaviour::Flapping {
                    ready: duration(&field, ready)?,
                    up: duration(&field, up)?,
                    down: duration(&field, down)?,
                },
            };
            world.pods.insert(revision_of(image), behaviour);
        }
        for (index, failure) in self.world.failing_effects.iter().enumerate() {
            let field = format!("world.failingEffects[{index}]");
            world.failures.push(FailureWindow {
                kind: failure.kind,
                from: start + duration(&field, &failure.from)?,
                until: start + duration(&field, &failure.until)?,
            });
        }
        for (index, lag) in self.world.lagging_effects.iter().enumerate() {
            let field = format!("world.laggingEffects[{index}]");
            world.lags.push(EffectLag {
                kind: lag.kind,
                from: start + duration(&field, &lag.from)?,
                until: start + duration(&field, &lag.until)?,
                delay: duration(&field, &lag.delay)?,
            });
        }
        world.no_data_without_ready_pods = self.world.no_data_without_ready_pods;
        let until = start + duration("until", &self.until)?;
        let mut events = Vec::new();
        for (index, event) in self.script.iter().enumerate() {
            let at = duration(&format!("script[{index}].at"), &event.at)?;
            events.push((start + at, index, &event.action));
        }
        events.sort_by_key(|(at, index, _)| (*at, *index));

        let mut sim = Sim::new(spec, world);
        let mut token = 0;
        let mut previous_revision = None;
        for (at, _, event) in events.into_iter().filter(|(at, _, _)| *at <= until) {
            sim.run_until(at, self.max_steps.saturating_sub(sim.records.len()));
            check_cap(&sim, self.max_steps)?;
            match event {
                ScriptAction::Image(image) => {
                    previous_revision = Some(pod_template_hash(&sim.spec.template));
                    let template = template(image);
                    sim.edit(|spec| spec.template = template);
                }
                ScriptAction::Request(action) | ScriptAction::StaleRequest(action) => {
                    token += 1;
                    // As the CLI does: aimed at the revision the person sees in the spec (or
                    // saw, for a stale one).
                    let current = pod_template_hash(&sim.spec.template);
                    let revision = match event {
                        ScriptAction::StaleRequest(_) => {
                            previous_revision.clone().unwrap_or(current)
                        }
                        _ => current,
                    };
                    sim.request(ControlRequest {
                        action: *action,
                        token: format!("{action}-{token}"),
                        revision: Some(revision),
                    });
                }
                ScriptAction::Restart(_) => sim.restart(),
                ScriptAction::Replicas(replicas) => sim.edit(|spec| spec.replicas = *replicas),
                ScriptAction::DriftRoute(weight) => sim.drift_route(*weight),
            }
        }
        sim.run_until(until, self.max_steps.saturating_sub(sim.records.len()));
        check_cap(&sim, self.max_steps)?;
        let run = ScenarioRun {
            records: sim.records,
            aliases,
            start,
            rollout: ROLLOUT.into(),
        };
        for (index, record) in run.records.iter().enumerate() {
            if let Err(violation) = check_invariants(record) {
                let upto = &run.records[..=index];
                let trace = timeline::render_text(&timeline::timeline(
                    upto,
                    run.start,
                    &run.aliases,
                    &run.rollout,
                ));
                return Err(ScenarioError::Invariant {
                    index,
                    violation,
                    trace,
                });
            }
        }
        Ok(run)
    }
}

fn check_cap(sim: &Sim, max_steps: usize) -> Result<(), ScenarioError> {
    if sim.records.len() >= max_steps {
        return Err(ScenarioError::StepCap(max_steps));
    }
    Ok(())
}

fn duration(field: &str, value: &DurationString) -> Result<TimeDelta, ScenarioError> {
    value.parse().map_err(|error| ScenarioError::Duration {
        field: field.to_string(),
        message: error.to_string(),
    })
}

/// The pod template of a scenario revision.
pub fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), ROLLOUT.to_string())])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: ROLLOUT.into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

/// The Services a strategy names, and the route's backends if it routes traffic.
fn named_services(strategy: &Strategy) -> (Vec<String>, Option<Vec<String>>) {
    let mut services = Vec::new();
    let mut route = None;
    if let Some(canary) = &strategy.canary {
        services.extend(canary.stable_service.clone());
        services.extend(canary.canary_service.clone());
        if canary.traffic_routing.is_some() {
            route = Some(services.clone());
        }
    }
    if let Some(blue_green) = &strategy.blue_green {
        services.push(blue_green.active_service.clone());
        services.extend(blue_green.preview_service.clone());
    }
    (services, route)
}

impl fmt::Display for ScenarioRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&timeline::render_text(&self.timeline()))
    }
}
