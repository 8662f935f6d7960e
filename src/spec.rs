//! The `Rollout` custom resource (`kulta.io/v1alpha1`): what a user writes.
//!
//! Field names, defaults and meanings follow Argo Rollouts where the two overlap, so that a
//! `Rollout` written for one reads naturally to users of the other.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::DurationString;
use crate::status::RolloutStatus;

/// A `Deployment` replacement that ships each new pod template by canary, blue-green or a
/// simple rolling update, gated by metrics.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kulta.io",
    version = "v1alpha1",
    kind = "Rollout",
    namespaced,
    status = "RolloutStatus",
    shortname = "ro",
    category = "all",
    scale = r#"{"specReplicasPath":".spec.replicas","statusReplicasPath":".status.replicas","labelSelectorPath":".status.selector"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","description":"Canary traffic share the route was observed carrying","jsonPath":".status.observedWeight"}"#,
    printcolumn = r#"{"name":"Step","type":"integer","jsonPath":".status.currentStepIndex"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Desired number of pods, as in a Deployment.
    #[serde(default = "default_replicas")]
    pub replicas: i32,
    /// Label selector for the pods; must match the template's labels.
    pub selector: LabelSelector,
    /// The pod template; each distinct template is one revision. Exactly one of `template`
    /// and `workloadRef`.
    #[serde(default, skip_serializing_if = "is_unset_template")]
    pub template: PodTemplateSpec,
    /// Instead of `template`: an existing Deployment whose pod template is shipped, scaled
    /// down as the Rollout takes over (as Argo Rollouts' `workloadRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<WorkloadRef>,
    /// Old ReplicaSets kept at zero replicas; older ones are deleted.
    #[serde(default = "default_revision_history_limit")]
    pub revision_history_limit: i32,
    /// Seconds a step may wait for pods to become ready before the rollout fails and rolls back.
    #[serde(default = "default_progress_deadline_seconds")]
    pub progress_deadline_seconds: i32,
    /// How new revisions are shipped: exactly one of `canary`, `blueGreen`, `simple`.
    pub strategy: Strategy,
}

/// Whether a template was left out (`spec.workloadRef` names the template instead).
pub fn is_unset_template(template: &PodTemplateSpec) -> bool {
    template.metadata.is_none() && template.spec.is_none()
}

/// An existing workload whose pod template the Rollout ships.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// The workload's API version: `apps/v1`.
    pub api_version: WorkloadApiVersion,
    /// The workload's kind: `Deployment`.
    pub kind: WorkloadKind,
    /// The workload's name, in the Rollout's namespace.
    pub name: String,
    /// When the Deployment is scaled down (default `never`).
    #[serde(default)]
    pub scale_down: ScaleDown,
}

/// The API versions a `workloadRef` may name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WorkloadApiVersion {
    /// `apps/v1`.
    #[serde(rename = "apps/v1")]
    AppsV1,
}

/// The kinds a `workloadRef` may name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WorkloadKind {
    /// An `apps/v1` Deployment.
    Deployment,
}

/// When the referenced Deployment is scaled down, as Argo Rollouts' `workloadRef.scaleDown`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScaleDown {
    /// Never: the Deployment keeps its replicas (scale it down yourself).
    #[default]
    Never,
    /// To zero once the Rollout has completed its revision.
    OnSuccess,
    /// Step by step as the Rollout's stable pods become available: the Deployment keeps the
    /// share of the pods it ran that the Rollout does not serve yet (back up if the Rollout's
    /// first revision fails).
    Progressively,
}

pub(crate) fn default_replicas() -> i32 {
    1
}

pub(crate) fn default_revision_history_limit() -> i32 {
    2
}

pub(crate) fn default_progress_deadline_seconds() -> i32 {
    600
}

/// How new revisions are shipped. Exactly one field must be set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    /// Stepwise traffic shifting to the new revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    /// Full preview of the new revision, then an instant cutover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
    /// A rolling update within surge and unavailability limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simple: Option<SimpleStrategy>,
}

/// Canary: the new revision receives a growing share of traffic, step by step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Service that selects the stable revision (required with traffic routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_service: Option<String>,
    /// Service that selects the canary revision (required with traffic routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_service: Option<String>,
    /// Where traffic weights are set; without it, weights are approximated by replica counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    /// The steps, run in order; after the last one the canary becomes stable.
    #[serde(default)]
    pub steps: Vec<CanaryStep>,
    /// Background analysis, run from `startingStep` until the rollout ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
    /// Scale the stable ReplicaSet down as traffic leaves it (only with traffic routing).
    #[serde(default)]
    pub dynamic_stable_scale: bool,
    /// Seconds a ReplicaSet keeps the pods for a share of traffic after the route is observed
    /// to have taken that share away, so that data planes converge before pods go (default 30,
    /// as in Argo Rollouts).
    #[serde(default = "default_scale_down_delay_seconds")]
    pub scale_down_delay_seconds: i32,
    /// The same delay after a rollback (abort, failed analysis, progress deadline; default 30).
    #[serde(default = "default_scale_down_delay_seconds")]
    pub abort_scale_down_delay_seconds: i32,
}

/// Where canary traffic weights are applied.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    /// A Gateway API `HTTPRoute` whose backend weights KULTA sets.
    #[serde(rename = "gatewayAPI")]
    pub gateway_api: GatewayApiRouting,
}

/// The user-owned `HTTPRoute` KULTA edits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayApiRouting {
    /// Name of the `HTTPRoute`.
    pub http_route: String,
    /// Its namespace, when not the Rollout's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One canary step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CanaryStep {
    /// Send this percentage of traffic to the canary, once enough canary pods are ready.
    SetWeight(i32),
    /// Wait: for `duration`, or until promoted when no duration is given.
    Pause(PauseStep),
    /// Send requests matching headers to the canary (A/B); an empty `match` removes the route.
    SetHeaderRoute(HeaderRoute),
    /// Run the metrics now and go on only when they pass.
    Analysis(AnalysisSpec),
}

/// A pause step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PauseStep {
    /// How long to wait; without it, wait until promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationString>,
}

/// Requests whose headers match go to the canary, whatever the weights.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRoute {
    /// Name of the rule KULTA adds to the `HTTPRoute`.
    pub name: String,
    /// All must match; empty removes the rule.
    #[serde(default, rename = "match")]
    pub matches: Vec<HeaderMatch>,
}

/// One header condition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatch {
    /// Header name, such as `X-Canary`.
    pub header_name: String,
    /// How its value must match.
    pub header_value: HeaderValueMatch,
}

/// How a header value matches.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum HeaderValueMatch {
    /// Exactly this value.
    Exact(String),
    /// A regular expression (Gateway API `RegularExpression`).
    Regex(String),
}

/// Blue-green: a full preview of the new revision, then an instant cutover.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// Service that carries production traffic.
    pub active_service: String,
    /// Service that selects the new revision before promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
    /// Promote without a person once the preview is ready and analysis passed.
    #[serde(default = "default_true")]
    pub auto_promotion_enabled: bool,
    /// Seconds to wait, once promotable, before automatic promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<i32>,
    /// Seconds the old revision stays up after the cutover, for a quick switch back.
    #[serde(default = "default_scale_down_delay_seconds")]
    pub scale_down_delay_seconds: i32,
    /// Seconds the new revision keeps its pods after a rollback moved traffic away from it
    /// (default 30, as in Argo Rollouts).
    #[serde(default = "default_scale_down_delay_seconds")]
    pub abort_scale_down_delay_seconds: i32,
    /// Pods of the new revision during preview; `replicas` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_replica_count: Option<i32>,
    /// Analysis that must pass before promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<AnalysisSpec>,
    /// Analysis after the cutover; on failure the active Service switches back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<AnalysisSpec>,
}

fn default_true() -> bool {
    true
}

fn default_scale_down_delay_seconds() -> i32 {
    30
}

/// A rolling update within surge and unavailability limits, as a Deployment does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SimpleStrategy {
    /// Pods above `replicas` allowed during the update (int or percent, default 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Pods below `replicas` allowed during the update (int or percent, default 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Background analysis while the update runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
}

/// Metrics measured against thresholds.
///
/// A gating analysis (canary `analysis` step, blue-green pre- and post-promotion) passes once
/// every metric has `count` successful measurements. Background analysis runs until the rollout
/// ends. Failures and inconclusive results are counted over the whole run of the analysis for
/// the revision (as Argo Rollouts and Flagger count them), never reset by a success: the
/// analysis fails when a metric has failed more than `failureLimit` times, and pauses for a
/// person when a metric was inconclusive more than `inconclusiveLimit` times.
///
/// Measurements start only once the canary serves the traffic it was given (its pods ready and
/// the route observed carrying its weight), and for each metric after its `initialDelay`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSpec {
    /// Time between measurements (default 1m).
    #[serde(default = "default_interval")]
    pub interval: DurationString,
    /// Failed measurements of one metric tolerated over the run; one more fails the analysis.
    #[serde(default)]
    pub failure_limit: i32,
    /// Inconclusive measurements of one metric (no data, NaN, ±Inf, a query error) tolerated
    /// over the run; one more pauses the rollout for a person.
    #[serde(default)]
    pub inconclusive_limit: i32,
    /// Successful measurements per metric a gating analysis needs (default 1).
    #[serde(default = "default_count")]
    pub count: i32,
    /// Canary background analysis only: the step index from which it runs (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
    /// The Prometheus server to query.
    pub prometheus: PrometheusProvider,
    /// The metrics.
    pub metrics: Vec<MetricSpec>,
}

fn default_interval() -> DurationString {
    DurationString::new("1m")
}

fn default_count() -> i32 {
    1
}

/// A Prometheus server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusProvider {
    /// Base URL, such as `http://prometheus.monitoring:9090`.
    pub address: String,
}

/// One metric: a PromQL query and the range its value must stay in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricSpec {
    /// Name, unique within the analysis.
    pub name: String,
    /// PromQL; `{{namespace}}`, `{{name}}`, `{{revision}}` and `{{stableRevision}}` are
    /// substituted.
    pub query: String,
    /// The range a successful value lies in.
    pub threshold_range: ThresholdRange,
    /// How long after the canary starts serving before this metric is first measured (for
    /// example `2m`, so that a rate over a window has data); default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<DurationString>,
}

/// Inclusive bounds; at least one is required.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdRange {
    /// Lowest successful value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest successful value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}
