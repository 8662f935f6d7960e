//! The `/scale` subresource: an object's replicas read and written as an `autoscaling/v1`
//! `Scale`, at the paths its kind declares (`kubectl scale` uses it).

use serde_json::{Value, json};

use crate::error::{ApiError, Cause, CauseReason};
use crate::resource::ResourceType;

/// A JSON path as CRDs write them (`.spec.replicas`), as keys.
fn path_keys(path: &str) -> impl Iterator<Item = &str> {
    path.split('.').filter(|key| !key.is_empty())
}

/// The `autoscaling/v1` `Scale` of an object.
pub fn scale_of(rt: &ResourceType, object: &Value) -> Result<Value, ApiError> {
    let paths = rt
        .scale
        .as_ref()
        .ok_or_else(|| ApiError::no_route(&format!("{}/scale", rt.plural)))?;
    let read = |path: &str| {
        path_keys(path)
            .try_fold(object, |at, key| at.get(key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let metadata = &object["metadata"];
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata["name"], "namespace": metadata["namespace"], "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {"replicas": read(&paths.spec_replicas)},
        "status": {"replicas": read(&paths.status_replicas).as_i64().unwrap_or(0)},
    });
    if let Some(selector) = &paths.label_selector
        && let Some(selector) = read(selector).as_str()
    {
        scale["status"]["selector"] = selector.into();
    }
    Ok(scale)
}

/// `object` with the replicas a written `Scale` asks for (and its resourceVersion, so the
/// write is conditional on it as a Scale update is).
pub fn scaled(rt: &ResourceType, mut object: Value, scale: &Value) -> Result<Value, ApiError> {
    let paths = rt
        .scale
        .as_ref()
        .ok_or_else(|| ApiError::no_route(&format!("{}/scale", rt.plural)))?;
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid_fields(
            "Scale",
            "autoscaling",
            &name,
            vec![Cause::new(
                CauseReason::Required,
                "spec.replicas",
                "Required value: an integer is required",
            )],
        )
    })?;
    if replicas < 0 {
        return Err(ApiError::invalid_fields(
            "Scale",
            "autoscaling",
            &name,
            vec![Cause::new(
                CauseReason::Invalid,
                "spec.replicas",
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    let keys: Vec<&str> = path_keys(&paths.spec_replicas).collect();
    let Some((last, parents)) = keys.split_last() else {
        return Err(ApiError::internal(
            "the scale subresource has no replicas path",
        ));
    };
    let mut at = &mut object;
    for key in parents {
        if at.get(*key).is_none_or(|v| !v.is_object()) {
            at[*key] = json!({});
        }
        at = &mut at[*key];
    }
    at[*last] = replicas.into();
    match scale["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() => object["metadata"]["resourceVersion"] = rv.into(),
        _ => {
            if let Some(metadata) = object["metadata"].as_object_mut() {
                metadata.remove("resourceVersion");
            }
        }
    }
    Ok(object)
}
