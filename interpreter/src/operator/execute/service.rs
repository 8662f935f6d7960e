//! Services: point the selector at a revision.

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kulta::{FOREIGN_HASH_LABELS, POD_TEMPLATE_HASH_LABEL};
use serde_json::{Map, Value};

use super::FIELD_MANAGER;

/// Add (or change) the pod-template hash in the Service's selector; the user's other selector
/// keys stay, but a hash key a former controller left (an Argo Rollout's, a Deployment's) goes:
/// it would narrow the Service to that controller's pods only. A merge patch never creates: a
/// missing Service is a 404 for `step` to report.
pub async fn point(api: &Api<Service>, service: &str, revision: &str) -> Result<(), kube::Error> {
    let mut selector = Map::new();
    for label in FOREIGN_HASH_LABELS {
        selector.insert(label.to_string(), Value::Null);
    }
    selector.insert(
        POD_TEMPLATE_HASH_LABEL.to_string(),
        Value::String(revision.to_string()),
    );
    let patch = serde_json::json!({"spec": {"selector": selector}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    api.patch(service, &params, &Patch::Merge(&patch))
        .await
        .map(drop)
}
