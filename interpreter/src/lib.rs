//! KULTA's interpreter: the IO side that gathers observations, calls the pure
//! [`kulta::step`], and carries out its effects; and the offline commands of the `kulta`
//! binary.

#![warn(missing_docs)]

pub mod cli;
pub mod operator;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

/// The largest total size of an object's annotations the API server accepts (256 KiB).
pub const ANNOTATIONS_LIMIT: usize = 256 * 1024;

/// The Rollout CRD, as installed: the embedded pod template's schema keeps all of its
/// validation but none of its descriptions.
///
/// A client-side `kubectl apply` stores the whole object as JSON in an annotation, and the API
/// server refuses annotations over [`ANNOTATIONS_LIMIT`]; the pod template's descriptions alone
/// are over that (Argo CD, and Argo Rollouts until recently, drop CRD descriptions for the same
/// reason). `kubectl explain deployment.spec.template` describes the same fields.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = kulta::Rollout::crd();
    for version in &mut crd.spec.versions {
        let template = version
            .schema
            .as_mut()
            .and_then(|schema| schema.open_api_v3_schema.as_mut())
            .and_then(|root| root.properties.as_mut())
            .and_then(|root| root.get_mut("spec"))
            .and_then(|spec| spec.properties.as_mut())
            .and_then(|spec| spec.get_mut("template"));
        if let Some(template) = template {
            let own = template.description.take();
            strip_descriptions(template);
            template.description = own;
        }
    }
    crd
}

/// Remove the description of `schema` and of every schema nested in it.
fn strip_descriptions(schema: &mut JSONSchemaProps) {
    schema.description = None;
    for child in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        strip_descriptions(child);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => strip_descriptions(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            items.iter_mut().for_each(strip_descriptions)
        }
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        strip_descriptions(extra);
    }
    for branch in [&mut schema.all_of, &mut schema.any_of, &mut schema.one_of]
        .into_iter()
        .flatten()
        .flatten()
    {
        strip_descriptions(branch);
    }
    if let Some(not) = schema.not.as_mut() {
        strip_descriptions(not);
    }
}

/// The Rollout CRD as YAML, exactly as committed in `deploy/crd.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    let yaml = serde_yaml_ng::to_string(&crd())?;
    Ok(format!(
        "# Generated from the Rust types by `kulta crd`; do not edit.\n---\n{yaml}"
    ))
}
