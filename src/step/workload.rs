//! Taking over from what ran before the Rollout: the Deployment `spec.workloadRef` names (its
//! pod template is the one shipped; it is scaled down as the Rollout takes over), and a
//! running ReplicaSet no controller owns (adopted as the first revision instead of starting
//! a second copy of it).

use serde_json::Value;

use crate::effect::Effect;
use crate::observations::{Observations, ObservedOrphan};
use crate::revision::FOREIGN_HASH_LABELS;
use crate::spec::{RolloutSpec, ScaleDown, WorkloadRef};
use crate::status::Phase;
use crate::validate::SpecError;

use super::Cx;

/// The spec with the template the `workloadRef` Deployment holds.
pub(crate) fn resolve(
    spec: &RolloutSpec,
    reference: &WorkloadRef,
    obs: &Observations,
) -> Result<RolloutSpec, SpecError> {
    let workload = obs
        .workload
        .as_ref()
        .filter(|workload| workload.name == reference.name)
        .ok_or_else(|| SpecError::WorkloadNotFound {
            name: reference.name.clone(),
            namespace: obs.rollout.namespace.clone(),
        })?;
    let mut resolved = spec.clone();
    resolved.workload_ref = None;
    resolved.template = workload.template.clone();
    Ok(resolved)
}

/// Remember how many pods the Deployment ran when the Rollout first saw it: it is scaled
/// down in proportion to the Rollout's pods that became available, whatever its own count.
pub(crate) fn remember(cx: &mut Cx<'_>) {
    if cx.workload_ref.is_none() || cx.status.workload_replicas.is_some() {
        return;
    }
    cx.status.workload_replicas = cx.obs.workload.as_ref().map(|workload| workload.replicas);
}

/// The fewest pods the Deployment may keep while `available` of the Rollout's `replicas`
/// serve: its pods at takeover, less the same share of them as the Rollout has brought up.
pub(crate) fn deployment_floor(at_takeover: i32, replicas: i32, available: i32) -> i32 {
    if replicas <= 0 {
        return at_takeover.max(0);
    }
    let missing = i64::from(replicas.saturating_sub(available.clamp(0, replicas)));
    let floor =
        (i64::from(at_takeover.max(0)) * missing + i64::from(replicas) - 1) / i64::from(replicas);
    i32::try_from(floor).unwrap_or(i32::MAX)
}

/// The replicas the Deployment should have now, if it should change. It never goes below
/// what the Rollout's available pods leave uncovered: `onsuccess` waits for completion and
/// then for the pods a later replicas raise asks for, `progressively` follows them all along.
pub(crate) fn scale(cx: &Cx<'_>, reference: &WorkloadRef) -> Option<Effect> {
    let workload = cx.obs.workload.as_ref()?;
    let at_takeover = cx.status.workload_replicas.unwrap_or(workload.replicas);
    let stable = cx.status.stable_revision.as_deref();
    let available = cx
        .replica_set(stable)
        .map_or(0, |rs| rs.available_replicas.min(rs.replicas));
    let uncovered = deployment_floor(at_takeover, cx.plan.replicas, available);
    let wanted = match reference.scale_down {
        ScaleDown::Never => return None,
        ScaleDown::OnSuccess => {
            if cx.status.phase != Some(Phase::Completed) {
                return None;
            }
            uncovered
        }
        ScaleDown::Progressively => {
            // Back up only when the Rollout's first revision failed.
            let first_failed =
                cx.phase() == Some(Phase::Failed) && cx.status.canary_revision.is_none();
            if uncovered > workload.replicas && first_failed {
                return Some(Effect::ScaleDeployment {
                    name: workload.name.clone(),
                    replicas: uncovered,
                });
            }
            uncovered
        }
    };
    // Otherwise down only: a Deployment already below the floor is not scaled back up.
    (wanted < workload.replicas).then(|| Effect::ScaleDeployment {
        name: workload.name.clone(),
        replicas: wanted,
    })
}

/// The ReplicaSet to adopt as the template's revision: one no controller owns, running the
/// same pod template, while the Rollout owns no ReplicaSet of that revision and has shipped
/// nothing else. The one with the most available pods, then by name.
pub(crate) fn orphan_to_adopt<'o>(
    spec: &RolloutSpec,
    obs: &'o Observations,
    stable: Option<&str>,
    revision: &str,
) -> Option<&'o ObservedOrphan> {
    if obs.orphans.is_empty()
        || spec.replicas <= 0
        || stable.is_some_and(|stable| stable != revision)
        || obs.replica_sets.iter().any(|rs| rs.revision == revision)
    {
        return None;
    }
    let wanted = serde_json::to_value(&spec.template).ok()?;
    obs.orphans
        .iter()
        .filter(|orphan| orphan.replica_set.replicas > 0)
        .filter(|orphan| runs_template(&wanted, &orphan.template))
        .max_by(|a, b| {
            let (a, b) = (&a.replica_set, &b.replica_set);
            (a.available_replicas, &b.name).cmp(&(b.available_replicas, &a.name))
        })
}

/// Whether a ReplicaSet's pod template (as the API server stored it, with defaults filled in
/// and its controller's hash label) runs the Rollout's template: every field the Rollout sets
/// has the same value there, lists element by element. Fields only the ReplicaSet has are the
/// server's defaults; a template that differs in anything the Rollout says is not adopted.
fn runs_template(wanted: &Value, template: &k8s_openapi::api::core::v1::PodTemplateSpec) -> bool {
    let Ok(mut running) = serde_json::to_value(template) else {
        return false;
    };
    if let Some(labels) = running
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        for label in FOREIGN_HASH_LABELS {
            labels.remove(label);
        }
    }
    covers(wanted, &running)
}

/// Fields the API server fills in a pod template when they are left out (`SetDefaults_PodSpec`,
/// `SetDefaults_Container` and their kin): a running template may have them where the Rollout's
/// does not. Any other field only the running template has is a real difference.
const SERVER_DEFAULTS: [&str; 16] = [
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "dnsPolicy",
    "schedulerName",
    "enableServiceLinks",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "protocol",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
    "defaultMode",
    "apiVersion",
    "creationTimestamp",
];

fn covers(wanted: &Value, running: &Value) -> bool {
    match (wanted, running) {
        (Value::Object(wanted), Value::Object(running)) => {
            let same = wanted
                .iter()
                .all(|(key, value)| running.get(key).is_some_and(|theirs| covers(value, theirs)));
            let only_defaults = running.iter().all(|(key, value)| {
                wanted.contains_key(key)
                    || SERVER_DEFAULTS.contains(&key.as_str())
                    || is_empty(value)
            });
            same && only_defaults
        }
        (Value::Array(wanted), Value::Array(running)) => {
            wanted.len() == running.len() && wanted.iter().zip(running).all(|(a, b)| covers(a, b))
        }
        _ => wanted == running,
    }
}

/// `null`, `{}` or `[]`: what a defaulted but unset field (`securityContext: {}`) looks like.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}
