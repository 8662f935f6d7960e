//! What KULTA writes back: the Rollout's status. It is the only memory the core has, so every
//! wait, timer and handled request lives here and survives a controller restart.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Rollout's status subresource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Where the rollout stands; unset until the first reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pod-template hash of the revision serving production traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<String>,
    /// Pod-template hash of the revision being rolled out (or rolled back, or drained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<String>,
    /// Canary: index of the step being run; equal to the number of steps once all are done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Canary: percentage of traffic decided for the canary revision (the route is written to
    /// carry it once the canary's pods are ready).
    #[serde(default)]
    pub current_weight: i32,
    /// Canary: percentage of traffic the canary was last *observed* receiving: the canary
    /// backend's weight in the HTTPRoute, or without traffic routing the canary's share of the
    /// ready pods. This is what requests see; it lags `currentWeight` while a write is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_weight: Option<i32>,
    /// When the current pause step began.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub pause_start_time: Option<DateTime<Utc>>,
    /// A person paused the rollout; nothing advances until resumed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused_by_user: bool,
    /// Steps and analyses are skipped: promoted with `--full`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub full_promotion: bool,
    /// Since when the rollout has been waiting for pods, for the progress deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Blue-green promotion state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStatus>,
    /// The background analysis of the current revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_analysis: Option<AnalysisRun>,
    /// The gating analysis of the current step (canary) or promotion stage (blue-green).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_analysis: Option<AnalysisRun>,
    /// Token of the last control request handled, so each is handled exactly once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_token: Option<String>,
    /// CDEvents decided but not yet acknowledged by the sink (an outbox): they survive a
    /// controller restart, are re-sent byte for byte, and leave once delivered or given up.
    /// Kept only when a sink is configured; at most [`OUTBOX_LIMIT`], the oldest dropped first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cdevents_outbox: Vec<crate::effect::CdEvent>,
    /// Traffic each revision was observed carrying, for the scale-down delay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<RevisionTraffic>,
    /// Why the request with `lastRequestToken` was ignored; absent when it was carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_ignored: Option<String>,
    /// How many times this revision was retried; part of the CDEvent ids.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// Revisions shipped so far (first revisions, new revisions, retries); never reset, so
    /// CDEvent ids stay unique when the same revision ships again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shipments: u32,
    /// How many times a revision's name was found taken (by a ReplicaSet of another template,
    /// or by an object that is not the Rollout's); hashed into every revision name from then
    /// on, as a Deployment's `collisionCount` is. Never decreases.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub collision_count: u32,
    /// `workloadRef`: the Deployment's replicas when the Rollout first saw it; it is scaled
    /// down in proportion to the Rollout's pods that became available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_replicas: Option<i32>,
    /// Transitions of the current shipment already announced by a CDEvent, as
    /// `<revision>/<transition>` (`…/deployed`, `…/step-2`, `…/replicas-3`, `…/rolledback`). A transition decided again, after its write
    /// failed or by a second failure, is not announced again: one id never goes out with two
    /// bodies. Cleared when a shipment starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announced: Vec<String>,
    /// Pods owned by the rollout (desired, all revisions), for `kubectl` and the scale
    /// subresource.
    #[serde(default)]
    pub replicas: i32,
    /// Ready pods, all revisions.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Pods of the revision being rolled out (the stable one when none is).
    #[serde(default)]
    pub updated_replicas: i32,
    /// Label selector as a string, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Human-readable summary of the latest transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Standard conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// The most CDEvents the outbox keeps; beyond, the oldest are dropped.
pub const OUTBOX_LIMIT: usize = 64;

/// Where a rollout stands.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum Phase {
    /// Not yet started: nothing has been deployed (for example, the spec is invalid).
    Initializing,
    /// A new revision is being shipped.
    Progressing,
    /// Waiting for a person: an indefinite pause step, a user pause, or inconclusive analysis.
    Paused,
    /// Blue-green: the new revision is up behind the preview Service, not yet promoted.
    Preview,
    /// The template's revision is stable and serves all traffic.
    Completed,
    /// The new revision was rolled back; a new template or a retry starts again.
    Failed,
}

impl Phase {
    /// Every phase, in declaration order.
    pub const ALL: [Phase; 6] = [
        Phase::Initializing,
        Phase::Progressing,
        Phase::Paused,
        Phase::Preview,
        Phase::Completed,
        Phase::Failed,
    ];

    /// The name as written in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Initializing => "Initializing",
            Phase::Progressing => "Progressing",
            Phase::Paused => "Paused",
            Phase::Preview => "Preview",
            Phase::Completed => "Completed",
            Phase::Failed => "Failed",
        }
    }

    /// Completed and Failed end a rollout; only a new revision or a request leaves them.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Completed | Phase::Failed)
    }
}

/// The rollout is waiting on the cluster (pods, or a write to be observed); the progress
/// deadline counts from `since`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    /// When the wait began, or when it last made forward progress.
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub since: DateTime<Utc>,
    /// The most progress seen in this wait (for example ready pods). Only a count above it
    /// restarts the deadline: pods that flap between ready and crashed do not postpone it.
    pub progress: i32,
    /// What is awaited; a different wait starts its own deadline.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub what: String,
    /// When the wait was last satisfied. The record is kept for one deadline after that, so a
    /// relapse (pods that flap between ready and crashed) resumes the same deadline instead of
    /// starting a new one; the deadline is not enforced while the wait is satisfied.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// How much traffic a revision was observed carrying, remembered so that its pods stay up
/// until data planes have converged after the route took traffic away from it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTraffic {
    /// Pod-template hash.
    pub revision: String,
    /// Share of traffic (percent) observed now.
    pub share: i32,
    /// The highest share it was observed carrying before the last drop.
    pub peak: i32,
    /// Until when `peak` still counts (the last drop plus the scale-down delay).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub peak_until: Option<DateTime<Utc>>,
}

/// Blue-green promotion state of the preview revision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    /// When the preview became ready and passed pre-promotion analysis.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub promotable_since: Option<DateTime<Utc>>,
    /// Promotion was asked for (by a person or automatically); scale to full, then switch.
    #[serde(default, skip_serializing_if = "is_false")]
    pub promotion_requested: bool,
    /// When KULTA switched the active Service to the new revision.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub promoted_at: Option<DateTime<Utc>>,
    /// When the active Service was first observed selecting the new revision; the scale-down
    /// delay and post-promotion analysis count from here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub switched_at: Option<DateTime<Utc>>,
}

/// One analysis of one revision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRun {
    /// Which analysis of the spec this is.
    pub kind: AnalysisKind,
    /// Canary `analysis` step: its index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<i32>,
    /// The revision measured.
    pub revision: String,
    /// When the measured revision was first seen serving its traffic in this run; initial
    /// delays count from here. Unset until then, and no round is issued before.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub serving_since: Option<DateTime<Utc>>,
    /// Measurement rounds issued so far.
    pub round: u32,
    /// When the next round is due; unset once the run has ended.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub next_measurement_time: Option<DateTime<Utc>>,
    /// Outcome so far.
    pub phase: AnalysisPhase,
    /// Per-metric state.
    pub metrics: Vec<MetricStatus>,
}

impl AnalysisRun {
    /// Whether `other` is the same run: the same analysis of the spec, for the same revision.
    pub fn same_run(&self, other: &AnalysisRun) -> bool {
        self.kind == other.kind
            && self.step_index == other.step_index
            && self.revision == other.revision
    }
}

impl RolloutStatus {
    /// The measurements judged between `before` and this status, by metric name and outcome,
    /// for telemetry: a metric whose last judged round moved on in the same run counts once.
    pub fn measurements_judged_since(
        &self,
        before: &RolloutStatus,
    ) -> Vec<(&str, MeasurementOutcome)> {
        let mut judged = Vec::new();
        for run in [&self.gate_analysis, &self.background_analysis]
            .into_iter()
            .flatten()
        {
            let earlier = [&before.gate_analysis, &before.background_analysis]
                .into_iter()
                .flatten()
                .find(|old| old.same_run(run));
            for metric in &run.metrics {
                let judged_before = earlier
                    .and_then(|old| old.metrics.iter().find(|m| m.name == metric.name))
                    .map_or(0, |m| m.last_round);
                if let Some(outcome) = metric.last_outcome
                    && metric.last_round > judged_before
                {
                    judged.push((metric.name.as_str(), outcome));
                }
            }
        }
        judged
    }
}

/// Which analysis of the spec a run belongs to.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum AnalysisKind {
    /// Canary or simple `analysis`, running in the background.
    Background,
    /// A canary `analysis` step.
    Step,
    /// Blue-green `prePromotionAnalysis`.
    PrePromotion,
    /// Blue-green `postPromotionAnalysis`.
    PostPromotion,
}

/// Outcome of an analysis run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AnalysisPhase {
    /// Measuring.
    Running,
    /// Every metric reached its successful count (gating analyses only).
    Successful,
    /// A metric failed more than `failureLimit` times over the run.
    Failed,
    /// A metric was inconclusive more than `inconclusiveLimit` times over the run; a person
    /// decides.
    Inconclusive,
}

/// The state of one metric within a run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// Metric name.
    pub name: String,
    /// The last value measured, as Prometheus writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<String>,
    /// How the last measurement was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<MeasurementOutcome>,
    /// The round of the last measurement judged; each round is judged once.
    #[serde(default)]
    pub last_round: u32,
    /// Successful measurements.
    #[serde(default)]
    pub successes: u32,
    /// Failed measurements over the run (a success does not reset them).
    #[serde(default)]
    pub failures: u32,
    /// Inconclusive measurements over the run (no data, NaN, ±Inf, a query error, no answer);
    /// a person's `resume` or `promote` accepts those seen so far.
    #[serde(default)]
    pub inconclusives: u32,
    /// The last round in which this metric was queried (rounds before its initial delay are
    /// not queried and not counted).
    #[serde(default)]
    pub queried_round: u32,
    /// Why the last measurement was not a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How one measurement was judged.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MeasurementOutcome {
    /// Inside the threshold range.
    Success,
    /// Outside the threshold range.
    Failure,
    /// No usable value: empty result, NaN, query error or no answer.
    Inconclusive,
}

/// A standard Kubernetes condition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// What the condition is about.
    #[serde(rename = "type")]
    pub type_: ConditionType,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// One CamelCase word, from [`crate::conditions::reason`].
    pub reason: String,
    /// What happened, for a person.
    pub message: String,
    /// When `status` last changed.
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub last_transition_time: DateTime<Utc>,
}

/// The conditions KULTA sets.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum ConditionType {
    /// A new revision is moving forward (False once it failed).
    Progressing,
    /// The rollout waits for a person or a timer.
    Paused,
    /// The template's revision is stable.
    Completed,
    /// Enough ready pods serve the rollout.
    Available,
    /// The spec cannot be acted on; the message names the field.
    InvalidSpec,
    /// Effects failed at the last attempt; the message names each target and error.
    ReconcileError,
    /// The `kulta.io/request` annotation cannot be read; the message says why.
    InvalidRequest,
}

/// Whether a condition holds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    /// It holds.
    True,
    /// It does not.
    False,
    /// Not known.
    Unknown,
}

impl RolloutStatus {
    /// The condition of this type, if set.
    pub fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Set a condition; its transition time moves only when its status changes. Nothing is
    /// allocated when it already says this.
    pub fn set_condition(
        &mut self,
        type_: ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        now: DateTime<Utc>,
    ) {
        match self.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(existing) => {
                if existing.status != status {
                    existing.last_transition_time = now;
                    existing.status = status;
                }
                if existing.reason != reason {
                    existing.reason = reason.to_string();
                }
                if existing.message != message {
                    existing.message = message.to_string();
                }
            }
            None => {
                self.conditions.push(Condition {
                    type_,
                    status,
                    reason: reason.to_string(),
                    message: message.to_string(),
                    last_transition_time: now,
                });
                self.conditions.sort_by_key(|c| c.type_);
            }
        }
    }

    /// Remove a condition.
    pub fn clear_condition(&mut self, type_: ConditionType) {
        self.conditions.retain(|c| c.type_ != type_);
    }

    /// Waiting for a person because an analysis was inconclusive.
    pub fn analysis_inconclusive(&self) -> bool {
        [&self.gate_analysis, &self.background_analysis]
            .into_iter()
            .flatten()
            .any(|run| run.phase == AnalysisPhase::Inconclusive)
    }
}
