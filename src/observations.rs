//! Everything `step` knows about the world, gathered by the interpreter before each call.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::effect::{EffectKind, MeasurementKey};
use crate::request::ControlRequest;
use crate::spec::HeaderRoute;

/// The inputs of one `step` besides the spec and the status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Observations {
    /// The current time; the core reads no clock.
    #[serde(with = "crate::time")]
    pub now: DateTime<Utc>,
    /// Identity of the Rollout object.
    pub rollout: RolloutRef,
    /// The control request recorded on the object, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ControlRequest>,
    /// Why the request annotation on the object could not be read (it names the value, cut
    /// short), when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_error: Option<String>,
    /// Every ReplicaSet the Rollout owns.
    #[serde(default)]
    pub replica_sets: Vec<ObservedReplicaSet>,
    /// ReplicaSets in the namespace that no controller owns and whose labels the Rollout's
    /// selector matches, looked for only while the Rollout owns none: what an Argo Rollout or
    /// a Deployment deleted with `--cascade=orphan` left running, for the Rollout to adopt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphans: Vec<ObservedOrphan>,
    /// The Deployment `spec.workloadRef` names, when it is set and the Deployment exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<ObservedWorkload>,
    /// The Services the strategy names, as found (missing ones are absent).
    #[serde(default)]
    pub services: Vec<ObservedService>,
    /// The managed parts of the HTTPRoute, when traffic routing is configured and it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_route: Option<ObservedHttpRoute>,
    /// Metric results that arrived since the last step.
    #[serde(default)]
    pub metric_results: Vec<MetricResult>,
    /// Effects the interpreter could not carry out since the last step (the API refused a
    /// write, a Service or route is missing, the CDEvents sink is unreachable). `step` says
    /// what is wrong in a condition and an Event; the effects themselves are decided again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effect_errors: Vec<EffectError>,
    /// Whether CDEvents go to a sink: only then does the status keep an outbox of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cdevents_sink: bool,
    /// CDEvent ids the sink acknowledged (or that were given up on) since the last step: they
    /// leave the outbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cdevents_delivered: Vec<String>,
    /// CDEvents environment id; the namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdevents_environment: Option<String>,
}

/// Identity of the Rollout object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutRef {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`, part of every CDEvent id.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: i64,
}

/// A ReplicaSet owned by the Rollout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedReplicaSet {
    /// Object name (`<rollout>-<revision>`).
    pub name: String,
    /// The pod-template hash label.
    pub revision: String,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.readyReplicas`.
    #[serde(default)]
    pub ready_replicas: i32,
    /// `status.availableReplicas`.
    #[serde(default)]
    pub available_replicas: i32,
    /// `metadata.creationTimestamp`, to find the oldest for history cleanup.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    pub created_at: Option<DateTime<Utc>>,
    /// The `kulta.io/pod-template-digest` annotation: a strong digest of the template the
    /// ReplicaSet was made from (absent on ReplicaSets made before it was written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_digest: Option<String>,
    /// Adopted, but its running pods may not all carry the revision label yet (the
    /// [`crate::ADOPTING_ANNOTATION`] is on it): none of its pods counts as ready until they do,
    /// as the revision's Services would not select them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopting: bool,
}

/// A ReplicaSet no controller owns, with the pod template it runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedOrphan {
    /// Its counts; `revision` is the hash label its former controller gave it, if any.
    #[serde(flatten)]
    pub replica_set: ObservedReplicaSet,
    /// `spec.template`, as stored (with the server's defaults and its old hash label).
    pub template: k8s_openapi::api::core::v1::PodTemplateSpec,
}

/// The Deployment a Rollout's `workloadRef` names.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedWorkload {
    /// Deployment name.
    pub name: String,
    /// `spec.replicas` (1 when unset, as the API server defaults it).
    pub replicas: i32,
    /// `spec.template`: the pod template the Rollout ships.
    pub template: k8s_openapi::api::core::v1::PodTemplateSpec,
}

/// A Service and the revision its selector names.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedService {
    /// Service name.
    pub name: String,
    /// The pod-template hash in its selector, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The parts of the HTTPRoute KULTA manages.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObservedHttpRoute {
    /// Backends naming the stable or canary Service, with their weights.
    #[serde(default)]
    pub backends: Vec<ObservedBackend>,
    /// The header rule KULTA owns, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_route: Option<HeaderRoute>,
}

/// One backend reference of the HTTPRoute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedBackend {
    /// Service name.
    pub service: String,
    /// Its weight (Gateway API default 1 when unset).
    pub weight: i32,
}

impl ObservedHttpRoute {
    /// The weight of a Service's backend, if referenced.
    pub fn weight_of(&self, service: &str) -> Option<i32> {
        self.backends
            .iter()
            .find(|b| b.service == service)
            .map(|b| b.weight)
    }
}

/// An effect that failed, as the interpreter saw it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EffectError {
    /// What the effect acts on.
    pub kind: EffectKind,
    /// The object or endpoint it acted on (`Service web-canary`, `http://sink:8080`).
    pub target: String,
    /// Why it failed.
    pub cause: ErrorCause,
    /// The error as reported, for a person.
    pub message: String,
}

/// Why an effect failed, in the terms a person acts on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCause {
    /// The object does not exist (404).
    NotFound,
    /// The controller lacks permission (401, 403).
    Forbidden,
    /// The object changed under the write (409).
    Conflict,
    /// The API refused the content (400, 422).
    Invalid,
    /// Nothing answered (connection refused, DNS, TLS).
    Unreachable,
    /// No answer in time.
    Timeout,
    /// The other side failed (5xx, 429, unexpected answers).
    Server,
    /// The name is held by an object that is not the one the effect wanted to create: another
    /// owner's, or a ReplicaSet of another pod template.
    NameTaken,
}

impl ErrorCause {
    /// Whether the failure is likely gone on the next try (the other side was busy, slow, or
    /// raced us), as opposed to one a person must fix (permissions, a missing or refused
    /// object, a taken name).
    pub fn is_transient(self) -> bool {
        match self {
            ErrorCause::Conflict
            | ErrorCause::Unreachable
            | ErrorCause::Timeout
            | ErrorCause::Server => true,
            ErrorCause::NotFound
            | ErrorCause::Forbidden
            | ErrorCause::Invalid
            | ErrorCause::NameTaken => false,
        }
    }

    /// The condition and Event reason for this cause.
    pub fn reason(self) -> &'static str {
        use crate::conditions::reason;
        match self {
            ErrorCause::NotFound => reason::TARGET_NOT_FOUND,
            ErrorCause::Forbidden => reason::FORBIDDEN,
            ErrorCause::Conflict => reason::WRITE_CONFLICT,
            ErrorCause::Invalid => reason::WRITE_REJECTED,
            ErrorCause::Unreachable => reason::UNREACHABLE,
            ErrorCause::Timeout => reason::TIMED_OUT,
            ErrorCause::Server => reason::SERVER_ERROR,
            ErrorCause::NameTaken => reason::NAME_TAKEN,
        }
    }
}

/// The answer to a `QueryMetric` effect.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// The key of the query this answers.
    pub key: MeasurementKey,
    /// What came back.
    pub value: MetricValue,
    /// When it was measured.
    #[serde(with = "crate::time")]
    pub time: DateTime<Utc>,
}

/// What a metric query returned.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum MetricValue {
    /// A sample. Prometheus may return NaN or infinities; they are written as `"NaN"`,
    /// `"+Inf"`, `"-Inf"`.
    Sample(#[serde(with = "sample")] f64),
    /// The query matched no series (for example, no traffic at night).
    Empty,
    /// The query failed.
    Error(String),
}

/// Serde for samples: JSON numbers, or Prometheus' spelling of non-finite values.
mod sample {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value.is_infinite() {
            serializer.serialize_str(if *value > 0.0 { "+Inf" } else { "-Inf" })
        } else {
            serializer.serialize_f64(*value)
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        match Raw::deserialize(deserializer)? {
            Raw::Number(value) => Ok(value),
            Raw::Text(text) => match text.as_str() {
                "NaN" => Ok(f64::NAN),
                "+Inf" | "Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                other => other
                    .parse()
                    .map_err(|_| de::Error::custom(format!("{other:?} is not a sample value"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_samples_round_trip_through_json() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.25] {
            let json = serde_json::to_string(&MetricValue::Sample(value)).unwrap();
            let back: MetricValue = serde_json::from_str(&json).unwrap();
            match back {
                MetricValue::Sample(read) if value.is_nan() => assert!(read.is_nan()),
                MetricValue::Sample(read) => assert_eq!(read, value),
                other => panic!("{other:?}"),
            }
        }
    }
}
