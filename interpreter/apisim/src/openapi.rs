//! `/openapi/v3`: one OpenAPI document per served group-version, as kubectl reads them. Its
//! paths say that every kind accepts `fieldValidation` (so `kubectl apply` leaves validation to
//! the server instead of needing `--validate=false`), and its schemas are the CRDs' own.
//!
//! `/openapi/v2` is served empty: kubectl falls back to it for a kind the v3 documents do not
//! have (one whose CRD is not installed), and an empty document lets kubectl go on to say
//! "no matches for kind ... ensure CRDs are installed first", as it does against a cluster.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use crate::resource::ResourceType;

/// The media type kubectl asks for the OpenAPI v2 document in: protobuf.
const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The same media type as the API server answers it (`@` is not allowed in a Content-Type).
const V2_PROTOBUF_ANSWER: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2`: a document with no definitions, as protobuf (an empty message encodes as no
/// bytes) or JSON, whichever the client accepts.
pub fn v2(
    accept: &str,
) -> hyper::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>> {
    use http_body_util::{BodyExt, Full};
    let (media, body) = if accept.contains(V2_PROTOBUF) {
        (V2_PROTOBUF_ANSWER, bytes::Bytes::new())
    } else {
        let document = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.34.0"}, "paths": {}});
        ("application/json", bytes::Bytes::from(document.to_string()))
    };
    let mut response = hyper::Response::new(Full::new(body).boxed());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(media),
    );
    response
}

/// The query parameters of a write, as the API server declares them.
fn write_parameters() -> Value {
    json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true},
         "description": "When present, indicates that modifications should not be persisted."},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true},
         "description": "How the server treats unknown fields: Ignore, Warn or Strict."},
    ])
}

/// `apis/<group>/<version>`, or `api/v1` for the core group.
fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The component name of a kind's schema: the reversed group, version and kind, as the API
/// server names CRD schemas (`io.kulta.v1alpha1.Rollout`).
fn schema_name(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        rt.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", rt.version, rt.kind)
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn response(reference: &str) -> Value {
    json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": reference}}}}})
}

/// The operations on one object path: read, replace, patch (with `fieldValidation`), and
/// delete when `delete`.
fn object_operations(gvk: &Value, reference: &str, delete: bool) -> Value {
    let mut operations = json!({
        "get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk,
                "responses": response(reference)},
        "put": {"x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk,
                "parameters": write_parameters(),
                "requestBody": {"content": {"*/*": {"schema": {"$ref": reference}}}},
                "responses": response(reference)},
        "patch": {"x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
                  "parameters": write_parameters(),
                  "requestBody": {"content": {
                      "application/apply-patch+yaml": {"schema": {"type": "object"}},
                      "application/json-patch+json": {"schema": {"type": "object"}},
                      "application/merge-patch+json": {"schema": {"type": "object"}},
                  }},
                  "responses": response(reference)},
    });
    if delete {
        operations["delete"] = json!({"x-kubernetes-action": "delete",
            "x-kubernetes-group-version-kind": gvk, "parameters": write_parameters(),
            "responses": response(reference)});
    }
    operations
}

/// The schema of a kind: a CRD's `openAPIV3Schema`; for the built-in kinds, an object whose
/// fields the server checks itself.
fn kind_schema(rt: &ResourceType) -> Value {
    let mut schema = match &rt.schema {
        Some(schema) => Value::clone(schema),
        None => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    };
    schema["x-kubernetes-group-version-kind"] = json!([gvk(&rt.group, &rt.version, &rt.kind)]);
    schema
}

/// The document of one group-version, if it is served.
pub fn group_version(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = BTreeMap::new();
    let mut schemas = BTreeMap::new();
    let base = format!("/{}", prefix(group, version));
    for rt in served {
        let name = schema_name(rt);
        let reference = format!("#/components/schemas/{name}");
        let kind = gvk(&rt.group, &rt.version, &rt.kind);
        let collection = if rt.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{base}/{}", rt.plural)
        };
        paths.insert(
            collection.clone(),
            json!({
                "get": {"x-kubernetes-action": "list", "x-kubernetes-group-version-kind": kind,
                        "responses": {"200": {"description": "OK"}}},
                "post": {"x-kubernetes-action": "post", "x-kubernetes-group-version-kind": kind,
                         "parameters": write_parameters(),
                         "requestBody": {"content": {"*/*": {"schema": {"$ref": reference}}}},
                         "responses": response(&reference)},
            }),
        );
        let object = format!("{collection}/{{name}}");
        paths.insert(object.clone(), object_operations(&kind, &reference, true));
        if rt.status_subresource {
            paths.insert(
                format!("{object}/status"),
                object_operations(&kind, &reference, false),
            );
        }
        if rt.scale.is_some() {
            let scale = gvk("autoscaling", "v1", "Scale");
            paths.insert(
                format!("{object}/scale"),
                object_operations(
                    &scale,
                    "#/components/schemas/io.k8s.api.autoscaling.v1.Scale",
                    false,
                ),
            );
            schemas.insert(
                "io.k8s.api.autoscaling.v1.Scale".to_string(),
                json!({"type": "object", "x-kubernetes-group-version-kind": [scale],
                       "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32"}}}}}),
            );
        }
        schemas.insert(name, kind_schema(rt));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v3`: each group-version's document, under a URL that changes with its content
/// (kubectl caches them by that URL).
pub fn root(types: &[ResourceType]) -> Value {
    let mut versions: Vec<(&str, &str)> = types
        .iter()
        .map(|t| (t.group.as_str(), t.version.as_str()))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    let mut paths = BTreeMap::new();
    for (group, version) in versions {
        let Some(document) = group_version(types, group, version) else {
            continue;
        };
        let mut hasher = DefaultHasher::new();
        document.to_string().hash(&mut hasher);
        let path = prefix(group, version);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", hasher.finish())}),
        );
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::builtins;

    #[test]
    fn every_served_group_version_has_a_document_whose_patches_take_field_validation() {
        let types = builtins();
        let root = root(&types);
        let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
        assert!(root["paths"]["api/v1"].is_object());
        let apps = group_version(&types, "apps", "v1").unwrap();
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/replicasets/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "version": "v1", "kind": "ReplicaSet"})
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        assert!(
            apps["paths"]["/apis/apps/v1/namespaces/{namespace}/replicasets/{name}/scale"]
                .is_object()
        );
        assert!(group_version(&types, "nothing.example", "v1").is_none());
    }
}
