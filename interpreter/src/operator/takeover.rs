//! What ran before the Rollout, read for `step`: the Deployment `spec.workloadRef` names, and
//! ReplicaSets no controller owns that the Rollout could adopt. Nothing is decided here.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use kulta::{FOREIGN_HASH_LABELS, ObservedOrphan, ObservedReplicaSet, ObservedWorkload, Rollout};

use super::context::Context;
use super::lease::from_timestamp;
use super::observe::read;

/// The Deployment the Rollout's `workloadRef` names, if it is set and the Deployment exists.
pub async fn workload(
    ctx: &Context,
    rollout: &Rollout,
    namespace: &str,
) -> Result<Option<ObservedWorkload>, kube::Error> {
    let Some(reference) = &rollout.spec.workload_ref else {
        return Ok(None);
    };
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    let found = read(|| api.get_opt(&reference.name)).await?;
    Ok(found.map(|deployment| {
        let spec = deployment.spec.unwrap_or_default();
        ObservedWorkload {
            name: reference.name.clone(),
            // The API server defaults an unset count to 1.
            replicas: spec.replicas.unwrap_or(1),
            template: spec.template,
        }
    }))
}

/// ReplicaSets in the namespace that the Rollout's selector matches and no controller owns.
pub async fn orphans(
    ctx: &Context,
    rollout: &Rollout,
    namespace: &str,
) -> Result<Vec<ObservedOrphan>, kube::Error> {
    let selector = kulta::validate::selector_string(&rollout.spec.selector);
    if selector.is_empty() {
        return Ok(Vec::new());
    }
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), namespace);
    let params = ListParams::default().labels(&selector);
    let listed = read(|| api.list(&params)).await?;
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
    let spec = rs.spec.clone().unwrap_or_default();
    let status = rs.status.clone().unwrap_or_default();
    let labels = rs.labels();
    let revision = FOREIGN_HASH_LABELS
        .iter()
        .find_map(|label| labels.get(*label))
        .cloned()
        .unwrap_or_default();
    ObservedOrphan {
        replica_set: ObservedReplicaSet {
            name: rs.name_any(),
            revision,
            replicas: spec.replicas.unwrap_or(1),
            ready_replicas: status.ready_replicas.unwrap_or(0),
            available_replicas: status.available_replicas.unwrap_or(0),
            created_at: rs
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|time| from_timestamp(time.0)),
            template_digest: None,
        },
        template: spec.template.unwrap_or_default(),
    }
}
