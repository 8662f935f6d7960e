//! The Deployment a Rollout's `workloadRef` names: its template and replicas as `step`
//! observes them, and scaling it down as the Rollout takes over.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::Patch;
use kulta::{ObservedWorkload, Rollout};
use serde_json::json;

use crate::operator::context::Context;
use crate::operator::execute::patch_params;
use crate::operator::observe::read as read_again;

/// The Deployment the Rollout's `workloadRef` names, if it is set and the Deployment exists.
pub async fn read(
    ctx: &Context,
    rollout: &Rollout,
    namespace: &str,
) -> Result<Option<ObservedWorkload>, kube::Error> {
    let Some(reference) = &rollout.spec.workload_ref else {
        return Ok(None);
    };
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    let found = read_again(|| api.get_opt(&reference.name)).await?;
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

/// Set `spec.replicas`.
pub async fn scale(api: &Api<Deployment>, name: &str, replicas: i32) -> Result<(), kube::Error> {
    let patch = json!({"spec": {"replicas": replicas}});
    api.patch(name, &patch_params(), &Patch::Merge(&patch))
        .await
        .map(drop)
}
