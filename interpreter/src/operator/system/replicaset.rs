//! ReplicaSets: what `step` observes of them (owned ones, and ones no controller owns that it
//! could adopt), and the writes: create a revision's from the Rollout's template, adopt a
//! running one, scale, delete.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch};
use kube::{Api, Resource, ResourceExt};
use kulta::{
    ADOPTING_ANNOTATION, ErrorCause, FOREIGN_HASH_LABELS, ObservedOrphan, ObservedReplicaSet,
    POD_TEMPLATE_DIGEST_ANNOTATION, POD_TEMPLATE_HASH_LABEL, Rollout,
};
use serde_json::json;

use crate::operator::error::{is_conflict, is_not_found};
use crate::operator::time::from_timestamp;

use crate::operator::error::Failure;
use crate::operator::execute::{patch_params, post_params};

/// Create the ReplicaSet of `revision`, labelled with its hash, annotated with the template's
/// digest and owned by the Rollout. An existing one of this revision, template and Rollout is
/// left alone (`step` scales it if its size is wrong); one that only has the name (another
/// owner, another revision, another template under a colliding hash) is never adopted: the
/// failure says the name is taken, and `step` renames the revision.
pub async fn create(
    api: &Api<ReplicaSet>,
    rollout: &Rollout,
    name: &str,
    revision: &str,
    replicas: i32,
    template: &PodTemplateSpec,
) -> Result<(), Failure> {
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
    match api.create(&post_params(), &replica_set).await {
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
            Err(Failure {
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
pub async fn scale(api: &Api<ReplicaSet>, name: &str, replicas: i32) -> Result<(), kube::Error> {
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
) -> Result<(), Failure> {
    let existing = api.get(name).await?;
    let controller = existing
        .owner_references()
        .iter()
        .find(|owner| owner.controller == Some(true));
    match controller {
        Some(owner) if Some(&owner.uid) == rollout.uid().as_ref() => {}
        Some(owner) => {
            return Err(Failure {
                cause: ErrorCause::NameTaken,
                message: format!(
                    "ReplicaSet {name} is controlled by {} {} now; it is not adopted",
                    owner.kind, owner.name
                ),
            });
        }
        None => {
            let owner = rollout.controller_owner_ref(&()).ok_or_else(|| Failure {
                cause: ErrorCause::Invalid,
                message: format!("Rollout {} has no uid yet", rollout.name_any()),
            })?;
            let patch = json!({
                "metadata": {
                    "resourceVersion": existing.resource_version(),
                    "ownerReferences": [owner],
                    "labels": {POD_TEMPLATE_HASH_LABEL: revision},
                    "annotations": {POD_TEMPLATE_DIGEST_ANNOTATION: digest, ADOPTING_ANNOTATION: "true"},
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
    // Every running pod carries the label: the revision's Services may select them now.
    let done = json!({"metadata": {"annotations": {ADOPTING_ANNOTATION: null}}});
    api.patch(name, &patch_params(), &Patch::Merge(&done))
        .await?;
    Ok(())
}

/// The ReplicaSets the Rollout with `uid` owns, listed from the API. The Rollout's own selector
/// narrows the list to its pods' ReplicaSets; the owner reference decides.
pub async fn owned(
    api: &Api<ReplicaSet>,
    selector: &str,
    uid: &str,
) -> Result<Vec<ObservedReplicaSet>, kube::Error> {
    let labels = if selector.is_empty() {
        POD_TEMPLATE_HASH_LABEL.to_string()
    } else {
        format!("{selector},{POD_TEMPLATE_HASH_LABEL}")
    };
    let params = ListParams::default().labels(&labels);
    let listed = crate::operator::observe::read(|| api.list(&params)).await?;
    let mut owned: Vec<ObservedReplicaSet> = listed
        .items
        .iter()
        .filter(|rs| rs.owner_references().iter().any(|owner| owner.uid == uid))
        .filter_map(observed)
        .collect();
    owned.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(owned)
}

/// ReplicaSets in the namespace that the Rollout's selector matches and no controller owns.
pub async fn orphans(
    api: &Api<ReplicaSet>,
    rollout: &Rollout,
) -> Result<Vec<ObservedOrphan>, kube::Error> {
    let selector = kulta::validate::selector_string(&rollout.spec.selector);
    if selector.is_empty() {
        return Ok(Vec::new());
    }
    let params = ListParams::default().labels(&selector);
    let listed = crate::operator::observe::read(|| api.list(&params)).await?;
    let mut orphans: Vec<ObservedOrphan> = listed
        .items
        .iter()
        .filter(|rs| {
            rs.metadata.deletion_timestamp.is_none()
                && !rs
                    .owner_references()
                    .iter()
                    .any(|owner| owner.controller == Some(true))
        })
        .map(orphan)
        .collect();
    orphans.sort_by(|a, b| a.replica_set.name.cmp(&b.replica_set.name));
    Ok(orphans)
}

fn orphan(rs: &ReplicaSet) -> ObservedOrphan {
    let labels = rs.labels();
    let revision = FOREIGN_HASH_LABELS
        .iter()
        .find_map(|label| labels.get(*label))
        .cloned()
        .unwrap_or_default();
    ObservedOrphan {
        replica_set: counted(rs, revision),
        template: rs
            .spec
            .as_ref()
            .and_then(|spec| spec.template.clone())
            .unwrap_or_default(),
    }
}

/// A ReplicaSet as `step` sees it, if it carries a revision label.
pub fn observed(rs: &ReplicaSet) -> Option<ObservedReplicaSet> {
    let revision = rs.labels().get(POD_TEMPLATE_HASH_LABEL)?.clone();
    Some(counted(rs, revision))
}

/// A ReplicaSet's name, counts, age and template digest, under `revision`.
pub fn counted(rs: &ReplicaSet, revision: String) -> ObservedReplicaSet {
    let status = rs.status.clone().unwrap_or_default();
    // Pods of a ReplicaSet still being adopted may lack the revision label: none counts.
    let adopting = rs.annotations().contains_key(ADOPTING_ANNOTATION);
    let counts = |count: Option<i32>| if adopting { 0 } else { count.unwrap_or(0) };
    ObservedReplicaSet {
        adopting,
        name: rs.name_any(),
        revision,
        replicas: rs.spec.as_ref().and_then(|spec| spec.replicas).unwrap_or(1),
        ready_replicas: counts(status.ready_replicas),
        available_replicas: counts(status.available_replicas),
        created_at: rs
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|time| from_timestamp(time.0)),
        template_digest: rs
            .annotations()
            .get(POD_TEMPLATE_DIGEST_ANNOTATION)
            .cloned(),
    }
}
