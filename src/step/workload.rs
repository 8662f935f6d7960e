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

/// The spec with the template the `workloadRef` Deployment holds, or `None` when the spec
/// carries its own template.
pub(crate) fn resolve(
    spec: &RolloutSpec,
    obs: &Observations,
) -> Result<Option<RolloutSpec>, SpecError> {
    let Some(reference) = &spec.workload_ref else {
        return Ok(None);
    };
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
    Ok(Some(resolved))
}

/// The replicas the Deployment should have now, if it should change.
pub(crate) fn scale(cx: &Cx<'_>, reference: &WorkloadRef) -> Option<Effect> {
    let workload = cx.obs.workload.as_ref()?;
    let wanted = match reference.scale_down {
        ScaleDown::Never => return None,
        ScaleDown::OnSuccess => {
            if cx.status.phase != Some(Phase::Completed) {
                return None;
            }
            0
        }
        ScaleDown::Progressively => {
            let stable = cx.status.stable_revision.as_deref();
            let available = cx
                .replica_set(stable)
                .map_or(0, |rs| rs.available_replicas.min(rs.replicas).max(0));
            let wanted = cx.plan.replicas.saturating_sub(available).max(0);
            // Down as the Rollout's pods come up; back up only when its first revision failed.
            let first_failed =
                cx.phase() == Some(Phase::Failed) && cx.status.canary_revision.is_none();
            if wanted > workload.replicas && !first_failed {
                return None;
            }
            wanted
        }
    };
    (wanted != workload.replicas).then(|| Effect::ScaleDeployment {
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

fn covers(wanted: &Value, running: &Value) -> bool {
    match (wanted, running) {
        (Value::Object(wanted), Value::Object(running)) => wanted
            .iter()
            .all(|(key, value)| running.get(key).is_some_and(|theirs| covers(value, theirs))),
        (Value::Array(wanted), Value::Array(running)) => {
            wanted.len() == running.len() && wanted.iter().zip(running).all(|(a, b)| covers(a, b))
        }
        _ => wanted == running,
    }
}
