//! Control requests (`promote`, `abort`, …): recorded on the Rollout as the
//! [`REQUEST_ANNOTATION`] with a fresh token and the revision they were made for, for `step`
//! to handle exactly once.

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Patch;
use kulta::{ControlRequest, REQUEST_ANNOTATION, RequestAction, Rollout};
use serde_json::json;

use super::cluster::{ControlError, Session, rollout_name};
use super::wait;

/// A token unique enough for one person's requests: the clock's nanoseconds and the process.
fn token() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}-{:x}", std::process::id())
}

/// Record `action` on the Rollout for the revision its template has now, through `client`;
/// returns the request written.
pub async fn request(
    client: kube::Client,
    namespace: &str,
    name: &str,
    action: RequestAction,
) -> Result<ControlRequest, ControlError> {
    request_in(&Session::from_client(client), namespace, name, action).await
}

/// Record `action` on the Rollout for the revision its template has now; returns the request
/// written.
pub async fn request_in(
    session: &Session,
    namespace: &str,
    name: &str,
    action: RequestAction,
) -> Result<ControlRequest, ControlError> {
    let rollout = wait::read(session, namespace, name).await?;
    let request = ControlRequest {
        action,
        token: token(),
        revision: template_revision(session, namespace, &rollout).await,
    };
    let patch = json!({"metadata": {"annotations": {REQUEST_ANNOTATION: request.to_string()}}});
    if let Err(error) = session
        .rollouts(namespace)
        .patch(name, &super::patch_params(), &Patch::Merge(&patch))
        .await
    {
        return Err(session
            .explain("annotate", rollout_name(namespace, name), error)
            .await);
    }
    Ok(request)
}

/// The revision the Rollout's template ships as now: its own template's, or the `workloadRef`
/// Deployment's. When the Deployment cannot be read, the revision the status says is shipping
/// (a request must name some revision, or a stale one would apply to whatever ships next).
pub(crate) async fn template_revision(
    session: &Session,
    namespace: &str,
    rollout: &Rollout,
) -> Option<String> {
    let Some(reference) = &rollout.spec.workload_ref else {
        return Some(rollout.template_revision());
    };
    let status = rollout.status.clone().unwrap_or_default();
    let api: kube::Api<Deployment> = kube::Api::namespaced(session.client.clone(), namespace);
    match api.get(&reference.name).await {
        Ok(deployment) => deployment
            .spec
            .map(|spec| kulta::template_revision(&spec.template, status.collision_count)),
        Err(error) => {
            tracing::debug!(%error, deployment = %reference.name, "reading the workloadRef Deployment");
            status.canary_revision.or(status.stable_revision)
        }
    }
}
