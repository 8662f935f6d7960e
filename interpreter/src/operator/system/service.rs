//! Services: which revision one selects, as `step` observes it, and pointing its selector at
//! a revision.

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::Patch;
use kulta::{FOREIGN_HASH_LABELS, ObservedService, POD_TEMPLATE_HASH_LABEL};
use serde_json::{Map, Value};

use crate::operator::execute::patch_params;

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
    api.patch(service, &patch_params(), &Patch::Merge(&patch))
        .await
        .map(drop)
}

/// The Service `name` and the revision its selector names, if it exists.
pub async fn read(api: &Api<Service>, name: &str) -> Result<Option<ObservedService>, kube::Error> {
    let found = crate::operator::observe::read(|| api.get_opt(name)).await?;
    Ok(found.map(|found| ObservedService {
        name: name.to_string(),
        revision: found
            .spec
            .and_then(|spec| spec.selector)
            .and_then(|selector| selector.get(POD_TEMPLATE_HASH_LABEL).cloned()),
    }))
}
