//! ReplicaSets: create a revision's from the Rollout's template, adopt a running one, scale,
//! delete.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use kulta::{POD_TEMPLATE_DIGEST_ANNOTATION, POD_TEMPLATE_HASH_LABEL, Rollout};
use serde_json::json;

use crate::operator::error::{is_conflict, is_not_found};

use kulta::ErrorCause;

use super::{EffectFailure, FIELD_MANAGER};

/// Create the ReplicaSet of `revision`, labelled with its hash, annotated with the template's
/// digest and owned by the Rollout. An existing one of this revision, template and Rollout is
/// left alone (`step` scales it if its size is wrong); one that only has the name (another
/// owner, another revision, another template under a colliding hash) is never adopted: the
/// failure says the name is taken, and `step` renames the revision.
pub async fn apply(
    api: &Api<ReplicaSet>,
    rollout: &Rollout,
    name: &str,
    revision: &str,
    replicas: i32,
    template: &PodTemplateSpec,
) -> Result<(), EffectFailure> {
    let digest = kulta::template_digest(template);
    let mut template = template.clone();
    let metadata = template.metadata.get_or_insert_with(ObjectMeta::default);
    let labels = metadata.labels.get_or_insert_with(Default::default);
    labels.insert(POD_TEMPLATE_HASH_LABEL.to_string(), revision.to_string());
    let labels = labels.clone();
    let mut selector = rollout.spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH_LABEL.to_string(), revision.to_string());
    let replica_set = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: rollout.namespace(),
            labels: Some(labels),
            annotations: Some(
                [(POD_TEMPLATE_DIGEST_ANNOTATION.to_string(), digest.clone())].into(),
            ),
            owner_references: rollout.controller_owner_ref(&()).map(|owner| vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector,
            template: Some(template),
            ..ReplicaSetSpec::default()
        }),
        status: None,
    };
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    match api.create(&params, &replica_set).await {
        Ok(_) => Ok(()),
        Err(error) if is_conflict(&error) => {
            let existing = api.get(name).await?;
            let ours = existing.owner_references().iter().any(|owner| {
                owner.controller == Some(true) && Some(&owner.uid) == rollout.uid().as_ref()
            });
            let same = existing
                .labels()
                .get(POD_TEMPLATE_HASH_LABEL)
                .map(String::as_str)
                == Some(revision)
                && existing
                    .annotations()
                    .get(POD_TEMPLATE_DIGEST_ANNOTATION)
                    .is_none_or(|held| *held == digest);
            if ours && same {
                return Ok(());
            }
            Err(EffectFailure {
                cause: ErrorCause::NameTaken,
                message: format!(
                    "ReplicaSet {name} already exists and is not revision {revision} of Rollout \
                     {}; it is left alone, never adopted",
                    rollout.name_any()
                ),
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// Set `spec.replicas`.
pub async fn scale<K>(api: &Api<K>, name: &str, replicas: i32) -> Result<(), kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"spec": {"replicas": replicas}});
    api.patch(name, &patch_params(), &Patch::Merge(&patch))
        .await
        .map(drop)
}

/// Delete; one already gone is fine.
pub async fn delete(api: &Api<ReplicaSet>, name: &str) -> Result<(), kube::Error> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(error) if is_not_found(&error) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Take over a ReplicaSet no controller owns as the ReplicaSet of `revision`: the Rollout
/// becomes its controller, and it, its pod template and its running pods gain the revision's
/// label (its selector cannot change and need not: the pods keep every label it selects by).
/// The write carries the resourceVersion read, so a controller adopting it at the same moment
/// makes this one fail rather than both own it.
pub async fn adopt(
    api: &Api<ReplicaSet>,
    pods: &Api<Pod>,
    rollout: &Rollout,
    name: &str,
    revision: &str,
    digest: &str,
) -> Result<(), EffectFailure> {
    let existing = api.get(name).await?;
    let controller = existing
        .owner_references()
        .iter()
        .find(|owner| owner.controller == Some(true));
    match controller {
        Some(owner) if Some(&owner.uid) == rollout.uid().as_ref() => {}
        Some(owner) => {
            return Err(EffectFailure {
                cause: ErrorCause::NameTaken,
                message: format!(
                    "ReplicaSet {name} is controlled by {} {} now; it is not adopted",
                    owner.kind, owner.name
                ),
            });
        }
        None => {
            let owner = rollout
                .controller_owner_ref(&())
                .ok_or_else(|| EffectFailure {
                    cause: ErrorCause::Invalid,
                    message: format!("Rollout {} has no uid yet", rollout.name_any()),
                })?;
            let patch = json!({
                "metadata": {
                    "resourceVersion": existing.resource_version(),
                    "ownerReferences": [owner],
                    "labels": {POD_TEMPLATE_HASH_LABEL: revision},
                    "annotations": {POD_TEMPLATE_DIGEST_ANNOTATION: digest},
                },
                "spec": {"template": {"metadata": {"labels": {POD_TEMPLATE_HASH_LABEL: revision}}}},
            });
            api.patch(name, &patch_params(), &Patch::Merge(&patch))
                .await?;
        }
    }
    // Pods the ReplicaSet runs now; ones it starts later take the label from its template.
    let uid = existing.uid().unwrap_or_default();
    let selector = existing
        .spec
        .as_ref()
        .map(|spec| kulta::validate::selector_string(&spec.selector))
        .unwrap_or_default();
    let running = pods.list(&ListParams::default().labels(&selector)).await?;
    let label = json!({"metadata": {"labels": {POD_TEMPLATE_HASH_LABEL: revision}}});
    for pod in running.items.iter().filter(|pod| {
        pod.owner_references().iter().any(|owner| owner.uid == uid)
            && pod
                .labels()
                .get(POD_TEMPLATE_HASH_LABEL)
                .map(String::as_str)
                != Some(revision)
    }) {
        match pods
            .patch(&pod.name_any(), &patch_params(), &Patch::Merge(&label))
            .await
        {
            Ok(_) => {}
            // A pod that went away meanwhile needs no label.
            Err(error) if is_not_found(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}
