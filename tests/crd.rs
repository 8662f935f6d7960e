//! The committed CRD matches the Rust types, and every example parses and validates.

use std::path::Path;

use kube::CustomResourceExt;
use kulta::Rollout;

#[test]
fn committed_crd_matches_the_types() {
    // The installed CRD is the generated one with the pod template's descriptions trimmed
    // (`kulta_interpreter::crd`), so that a client-side apply fits the annotation limit.
    let mut generated = serde_json::to_value(Rollout::crd()).unwrap();
    let template = &mut generated["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        ["spec"]["properties"]["template"];
    let own = template["description"].take();
    strip_descriptions(template);
    template["description"] = own;
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/crd.yaml"))
            .expect("deploy/crd.yaml");
    let committed: serde_json::Value = serde_yaml_ng::from_str(&committed).unwrap();
    assert!(
        committed == generated,
        "deploy/crd.yaml is out of date: run `cargo run -q -p kulta-interpreter --bin kulta -- crd > deploy/crd.yaml`"
    );
}

/// Remove the `description` of a schema and of every schema nested in it.
fn strip_descriptions(schema: &mut serde_json::Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    map.remove("description");
    for (keyword, child) in map.iter_mut() {
        match keyword.as_str() {
            "properties" => child
                .as_object_mut()
                .into_iter()
                .flat_map(|p| p.values_mut())
                .for_each(strip_descriptions),
            "items" | "additionalProperties" | "not" => strip_descriptions(child),
            "allOf" | "anyOf" | "oneOf" => child
                .as_array_mut()
                .into_iter()
                .flatten()
                .for_each(strip_descriptions),
            _ => {}
        }
    }
}

#[test]
fn crd_has_status_subresource_and_printer_columns() {
    let crd = Rollout::crd();
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let subresources = version.subresources.as_ref().unwrap();
    assert!(subresources.status.is_some());
    assert!(subresources.scale.is_some());
    let columns: Vec<_> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Phase", "Weight", "Step", "Age"]);
}

#[test]
fn every_example_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // An example may hold the objects around its Rollout (Services, an HTTPRoute) as more
        // YAML documents; the Rollouts among them are checked here.
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            // As kubectl does: YAML to JSON, then the typed object (serde YAML crates only
            // read enum variants written as YAML tags).
            let value = <serde_json::Value as serde::Deserialize>::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if value["kind"] != "Rollout" {
                continue;
            }
            let rollout: Rollout =
                serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let plan = kulta::validate(&rollout.spec)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen.push(match plan.strategy {
                kulta::validate::StrategyPlan::Canary(_) => "canary",
                kulta::validate::StrategyPlan::BlueGreen(_) => "blueGreen",
                kulta::validate::StrategyPlan::Simple(_) => "simple",
            });
        }
    }
    seen.sort();
    assert_eq!(seen, ["blueGreen", "canary", "canary", "simple"]);
}
