//! The Gateway API HTTPRoute CRD that KULTA edits, vendored in `deploy/gateway-api/` (the
//! demo installs it on its simulated cluster; a real cluster needs it too).
//!
//! It is generated from the `gateway-api` crate's standard-channel types (themselves
//! generated from the upstream CRDs); a test keeps the committed file equal to
//! [`httproute_crd_yaml`].

use gateway_api::httproutes::HttpRoute;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// `deploy/gateway-api/httproute-crd.yaml`, as committed.
pub const HTTPROUTE_CRD_YAML: &str = include_str!("../../../deploy/gateway-api/httproute-crd.yaml");

/// The HTTPRoute CRD as YAML, generated from the `gateway-api` crate's types.
pub fn httproute_crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    let yaml = serde_yaml_ng::to_string(&HttpRoute::crd())?;
    Ok(format!(
        "# Gateway API HTTPRoute CRD (standard channel), generated from the `gateway-api` crate's\n\
         # types by `kulta_interpreter::cli::crds::httproute_crd_yaml`; see README.md beside it.\n---\n{yaml}"
    ))
}

/// The committed HTTPRoute CRD.
pub fn httproute_crd() -> Result<CustomResourceDefinition, serde_yaml_ng::Error> {
    serde_yaml_ng::from_str(HTTPROUTE_CRD_YAML)
}
