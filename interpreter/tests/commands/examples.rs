//! Every `examples/*.yaml` applies to the API simulator with the CRD schemas enforced, and the
//! canary example carries its Services and HTTPRoute.

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::discovery::pinned_kind;
use kube::{Api, Client, CustomResourceExt};
use kulta_apisim::ApiSim;
use serde::Deserialize;

/// A simulator with the Rollout CRD and the vendored HTTPRoute CRD (the one users install).
async fn cluster() -> (ApiSim, Client) {
    let sim = ApiSim::start().await.unwrap();
    let client = Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let httproute = kulta_interpreter::cli::crds::httproute_crd().unwrap();
    for crd in [kulta::Rollout::crd(), httproute] {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    (sim, client)
}

/// Create each document of `file` as `kubectl create -f` would; returns the kinds created, or
/// the first refusal.
async fn apply(client: &Client, file: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file).unwrap();
    let documents: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| serde_json::Value::deserialize(document).unwrap())
        .collect();
    let mut kinds = Vec::new();
    for value in documents {
        let api_version = value["apiVersion"].as_str().unwrap().to_string();
        let kind = value["kind"].as_str().unwrap().to_string();
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let (resource, capabilities) =
            pinned_kind(client, &GroupVersionKind::gvk(group, version, &kind))
                .await
                .map_err(|e| format!("{}: {kind} is not served: {e}", file.display()))?;
        let object: DynamicObject = serde_json::from_value(value.clone()).unwrap();
        let api: Api<DynamicObject> = match (capabilities.scope, &object.metadata.namespace) {
            (kube::discovery::Scope::Namespaced, Some(namespace)) => {
                ensure_namespace(client, namespace).await;
                Api::namespaced_with(client.clone(), namespace, &resource)
            }
            _ => Api::all_with(client.clone(), &resource),
        };
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => {}
            // A Namespace another example already created.
            Err(kube::Error::Api(status)) if status.code == 409 && kind == "Namespace" => {}
            Err(error) => return Err(format!("{}: {kind} was refused: {error}", file.display())),
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

async fn ensure_namespace(client: &Client, namespace: &str) {
    let resource = ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&());
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let object: DynamicObject = serde_json::from_value(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .unwrap();
    let _ = api.create(&PostParams::default(), &object).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_applies_with_the_crd_schemas_enforced() {
    let (_sim, client) = cluster().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut applied = Vec::new();
    for file in &files {
        let kinds = apply(&client, file).await.unwrap();
        applied.push((
            file.file_name().unwrap().to_string_lossy().into_owned(),
            kinds,
        ));
    }
    let canary = applied
        .iter()
        .find(|(name, _)| name == "canary.yaml")
        .map(|(_, kinds)| kinds.clone())
        .unwrap();
    assert_eq!(
        canary,
        ["Namespace", "Service", "Service", "HTTPRoute", "Rollout"],
        "the canary example is complete"
    );
    assert!(applied.len() >= 3, "{applied:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_enforced_so_a_broken_example_would_be_refused() {
    let (_sim, client) = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    let canary = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/canary.yaml"),
    )
    .unwrap();
    std::fs::write(&file, canary.replace("replicas: 6", "replicas: lots")).unwrap();
    let refused = apply(&client, &file).await.unwrap_err();
    assert!(
        refused.contains("Rollout was refused") && refused.contains("422"),
        "{refused}"
    );
}

#[test]
fn the_vendored_httproute_crd_is_the_generated_one() {
    let generated = kulta_interpreter::cli::crds::httproute_crd_yaml().unwrap();
    assert_eq!(
        kulta_interpreter::cli::crds::HTTPROUTE_CRD_YAML,
        generated,
        "regenerate with: cargo run -q -p kulta-interpreter --bin kulta -- crd --httproute > deploy/gateway-api/httproute-crd.yaml"
    );
}
