//! Services: point the selector at a revision.

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kulta::POD_TEMPLATE_HASH_LABEL;
use serde_json::json;

/// Add (or change) the pod-template hash in the Service's selector; the user's other selector
/// keys stay. A merge patch never creates: a missing Service is a 404 for `step` to report.
pub async fn point(api: &Api<Service>, service: &str, revision: &str) -> Result<(), kube::Error> {
    let patch = json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: revision}}});
    api.patch(service, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(drop)
}
