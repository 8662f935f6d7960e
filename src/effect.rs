//! What `step` asks the interpreter to do. Each effect states an end state ("weights 80/20",
//! "3 replicas"), never a delta, so executing one twice is harmless.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::{Deserialize, Serialize};

use crate::status::AnalysisKind;

/// One thing for the interpreter to do, in the order given.
///
/// Two families, and the interpreter treats them differently:
/// - **Ordered** effects change the cluster's workloads or traffic (ReplicaSets, Services, the
///   HTTPRoute). `step` orders them so that each is safe only once the ones before it are done
///   (scale up before pointing a Service, point it before moving traffic). They run in order,
///   and the first failure stops the ordered effects after it: the next `step` decides again
///   from what it observes. See [`Effect::is_ordered`].
/// - **Independent** effects (metric queries, CDEvents, Kubernetes Events, the requeue) report
///   or measure; each runs whatever happened to the others.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum Effect {
    /// Create the ReplicaSet of a revision from the Rollout's template, labelled with
    /// [`crate::POD_TEMPLATE_HASH_LABEL`] and owned by the Rollout. One that already exists as
    /// this revision of this Rollout counts as created; a name held by anything else is a
    /// [`crate::ErrorCause::NameTaken`] failure. Traces before 2026-12 call it
    /// `applyReplicaSet`, and still replay.
    #[serde(alias = "applyReplicaSet")]
    CreateReplicaSet {
        /// `<rollout>-<revision>`.
        name: String,
        /// The pod-template hash.
        revision: String,
        /// Desired replicas.
        replicas: i32,
        /// The pod template, without the hash label.
        template: Box<PodTemplateSpec>,
    },
    /// Set a ReplicaSet's `spec.replicas`.
    ScaleReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// Desired replicas.
        replicas: i32,
    },
    /// Delete an old ReplicaSet beyond the revision history limit.
    DeleteReplicaSet {
        /// ReplicaSet name.
        name: String,
    },
    /// Take over a ReplicaSet no controller owns, as the ReplicaSet of `revision`: the Rollout
    /// becomes its controlling owner, and it, its pod template and its running pods gain the
    /// pod-template hash label and digest. No pod restarts.
    AdoptReplicaSet {
        /// ReplicaSet name (kept: names cannot change).
        name: String,
        /// The revision it becomes.
        revision: String,
        /// [`crate::template_digest`] of the Rollout's template, for the digest annotation.
        digest: String,
    },
    /// Set the `spec.replicas` of the Deployment named by `spec.workloadRef`.
    ScaleDeployment {
        /// Deployment name, in the Rollout's namespace.
        name: String,
        /// Desired replicas.
        replicas: i32,
    },
    /// Make a Service select one revision (its selector gains the pod-template hash).
    PointService {
        /// Service name.
        service: String,
        /// The revision to select.
        revision: String,
    },
    /// Set the weights of the stable and canary backends of the HTTPRoute; nothing else in
    /// the route changes. The weights sum to 100.
    SetRouteWeights {
        /// The route.
        route: RouteRef,
        /// Stable backend.
        stable: BackendWeight,
        /// Canary backend.
        canary: BackendWeight,
    },
    /// Put KULTA's header rule on the HTTPRoute, or remove it when `rule` is unset.
    SetHeaderRoute {
        /// The route.
        route: RouteRef,
        /// The rule: matching requests go to the canary Service.
        rule: Option<HeaderRouteRule>,
        /// The stable Service: the rule is placed by the user's rule that sends to it, whose
        /// matches it extends.
        stable_service: String,
    },
    /// Run a PromQL query; the result comes back as a [`crate::MetricResult`] with this key.
    QueryMetric(MetricQuery),
    /// Send a CDEvent to the configured sink.
    EmitCdEvent(CdEvent),
    /// Record a Kubernetes Event on the Rollout.
    RecordEvent(KubeEvent),
    /// Call `step` again after this long, even if nothing changes.
    RequeueAfter {
        /// How long from `Observations::now`.
        #[serde(with = "crate::duration::human")]
        after: Duration,
        /// What is due then (the earliest of the timers).
        reason: WakeReason,
    },
}

/// Why `step` asks to run again at a given time, so that a trace tells a pause end from an
/// analysis interval or a deadline.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum WakeReason {
    /// A timed pause step ends.
    PauseEnds,
    /// An analysis's next measurement is due.
    AnalysisInterval,
    /// A wait's progress deadline runs out (or its record of a satisfied wait expires).
    ProgressDeadline,
    /// A revision's scale-down delay ends: it may give up the pods for traffic taken from it.
    ScaleDownDelay,
    /// Blue-green: the automatic promotion is due.
    AutoPromotion,
}

impl WakeReason {
    /// In words, for timelines.
    pub fn describe(self) -> &'static str {
        match self {
            WakeReason::PauseEnds => "pause ends",
            WakeReason::AnalysisInterval => "next measurement",
            WakeReason::ProgressDeadline => "progress deadline",
            WakeReason::ScaleDownDelay => "scale-down delay ends",
            WakeReason::AutoPromotion => "automatic promotion",
        }
    }
}

/// An HTTPRoute by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RouteRef {
    /// Route name.
    pub name: String,
    /// Route namespace.
    pub namespace: String,
}

/// A backend Service and its weight.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BackendWeight {
    /// Service name.
    pub service: String,
    /// Weight, 0..=100.
    pub weight: i32,
}

/// KULTA's header rule: requests matching `route` go to `service`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRouteRule {
    /// The header route from the step.
    pub route: crate::spec::HeaderRoute,
    /// The canary Service.
    pub service: String,
}

/// Identifies one measurement of one metric; results are matched to queries by it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementKey {
    /// Which analysis.
    pub analysis: AnalysisKind,
    /// Canary analysis step index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<i32>,
    /// Revision measured.
    pub revision: String,
    /// Measurement round, from 1.
    pub round: u32,
    /// Metric name.
    pub metric: String,
}

/// A PromQL query to run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MetricQuery {
    /// Echoed back with the result.
    pub key: MeasurementKey,
    /// Prometheus base URL.
    pub address: String,
    /// The query, placeholders already substituted.
    pub query: String,
}

/// A CDEvent (spec 0.5.1) to emit; the interpreter turns it into a CloudEvent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CdEvent {
    /// Deterministic id, so receivers can de-duplicate after a controller restart.
    pub id: String,
    /// Event type.
    pub kind: CdEventKind,
    /// `<namespace>/<rollout>`.
    pub subject_id: String,
    /// Environment id.
    pub environment: String,
    /// Package URL of the container image.
    pub artifact_id: String,
    /// Revision the event is about.
    pub revision: String,
    /// When it happened (`Observations::now`).
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub timestamp: DateTime<Utc>,
}

/// CDEvents service event types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CdEventKind {
    /// `dev.cdevents.service.deployed`: a new revision starts.
    ServiceDeployed,
    /// `dev.cdevents.service.upgraded`: a step progressed.
    ServiceUpgraded,
    /// `dev.cdevents.service.rolledback`: analysis failure, abort, deadline or revert.
    ServiceRolledback,
    /// `dev.cdevents.service.published`: the revision is stable.
    ServicePublished,
}

/// A Kubernetes Event on the Rollout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KubeEvent {
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub type_: EventType,
    /// From [`crate::conditions::reason`].
    pub reason: String,
    /// What happened.
    pub message: String,
}

/// Kubernetes Event types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Expected transitions.
    Normal,
    /// Failures and rollbacks.
    Warning,
}

/// What an effect acts on: for counting effects and for failing them in simulations.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum EffectKind {
    /// ReplicaSet create, scale, delete, adopt.
    ReplicaSet,
    /// The Deployment named by `workloadRef`: its replicas.
    Deployment,
    /// Service selector.
    Service,
    /// HTTPRoute weights and header rule.
    Route,
    /// Prometheus query.
    Metric,
    /// CDEvent emission.
    CdEvent,
    /// Kubernetes Event.
    Event,
    /// Requeue.
    Requeue,
}

impl EffectKind {
    /// A short lowercase name, for metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EffectKind::ReplicaSet => "replicaset",
            EffectKind::Deployment => "deployment",
            EffectKind::Service => "service",
            EffectKind::Route => "route",
            EffectKind::Metric => "metric",
            EffectKind::CdEvent => "cdevent",
            EffectKind::Event => "event",
            EffectKind::Requeue => "requeue",
        }
    }
}

impl Effect {
    /// What this effect acts on.
    pub fn kind(&self) -> EffectKind {
        match self {
            Effect::CreateReplicaSet { .. }
            | Effect::ScaleReplicaSet { .. }
            | Effect::DeleteReplicaSet { .. }
            | Effect::AdoptReplicaSet { .. } => EffectKind::ReplicaSet,
            Effect::ScaleDeployment { .. } => EffectKind::Deployment,
            Effect::PointService { .. } => EffectKind::Service,
            Effect::SetRouteWeights { .. } | Effect::SetHeaderRoute { .. } => EffectKind::Route,
            Effect::QueryMetric(_) => EffectKind::Metric,
            Effect::EmitCdEvent(_) => EffectKind::CdEvent,
            Effect::RecordEvent(_) => EffectKind::Event,
            Effect::RequeueAfter { .. } => EffectKind::Requeue,
        }
    }

    /// What the effect acts on, for a person: `ReplicaSet web-6f9c`, `Service web-canary`,
    /// `HTTPRoute shop/web`, `Prometheus http://prometheus:9090`.
    pub fn target(&self) -> String {
        match self {
            Effect::CreateReplicaSet { name, .. }
            | Effect::ScaleReplicaSet { name, .. }
            | Effect::DeleteReplicaSet { name }
            | Effect::AdoptReplicaSet { name, .. } => format!("ReplicaSet {name}"),
            Effect::ScaleDeployment { name, .. } => format!("Deployment {name}"),
            Effect::PointService { service, .. } => format!("Service {service}"),
            Effect::SetRouteWeights { route, .. } | Effect::SetHeaderRoute { route, .. } => {
                format!("HTTPRoute {}/{}", route.namespace, route.name)
            }
            Effect::QueryMetric(query) => format!("Prometheus {}", query.address),
            Effect::EmitCdEvent(_) => "CDEvents sink".to_string(),
            Effect::RecordEvent(_) => "Event".to_string(),
            Effect::RequeueAfter { .. } => "requeue".to_string(),
        }
    }

    /// Whether this effect changes the cluster's workloads or traffic (as opposed to querying,
    /// reporting or scheduling). These are the ordered effects: once one of them fails, the
    /// ordered effects after it in the same batch must not run (they may depend on it: a route
    /// write on the Service pointed just before, a scale-down on traffic moved just before).
    pub fn is_ordered(&self) -> bool {
        matches!(
            self,
            Effect::CreateReplicaSet { .. }
                | Effect::ScaleReplicaSet { .. }
                | Effect::DeleteReplicaSet { .. }
                | Effect::AdoptReplicaSet { .. }
                | Effect::ScaleDeployment { .. }
                | Effect::PointService { .. }
                | Effect::SetRouteWeights { .. }
                | Effect::SetHeaderRoute { .. }
        )
    }
}
