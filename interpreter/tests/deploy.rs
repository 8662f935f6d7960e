//! The manifests in `deploy/`: least-privilege RBAC that grants exactly what the operator
//! uses, and a hardened Deployment.

use std::collections::BTreeSet;
use std::path::Path;

use kulta_interpreter::operator::PERMISSIONS;
use serde::Deserialize;
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file);
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|document| !document.is_null())
        .collect()
}

fn of_kind<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn rbac_grants_exactly_the_calls_the_operator_makes() {
    let rbac = documents("rbac.yaml");
    let mut granted = BTreeSet::new();
    for role in of_kind(&rbac, "ClusterRole")
        .into_iter()
        .chain(of_kind(&rbac, "Role"))
    {
        for rule in role["rules"].as_array().unwrap() {
            for group in rule["apiGroups"].as_array().unwrap() {
                for resource in rule["resources"].as_array().unwrap() {
                    for verb in rule["verbs"].as_array().unwrap() {
                        granted.insert((
                            group.as_str().unwrap().to_string(),
                            resource.as_str().unwrap().to_string(),
                            verb.as_str().unwrap().to_string(),
                        ));
                    }
                }
            }
        }
    }
    let needed: BTreeSet<(String, String, String)> = PERMISSIONS
        .iter()
        .flat_map(|(group, resource, verbs)| {
            verbs
                .iter()
                .map(move |verb| (group.to_string(), resource.to_string(), verb.to_string()))
        })
        .collect();
    assert_eq!(granted, needed);
    let leases = of_kind(&rbac, "Role");
    assert_eq!(leases.len(), 1);
    assert_eq!(
        leases[0]["rules"][0]["resources"][0], "leases",
        "leases are granted in the controller's namespace only"
    );
    assert!(
        !granted.iter().any(|(_, resource, _)| resource == "secrets"),
        "no Secret access by default"
    );
}

#[test]
fn the_controller_runs_non_root_read_only_with_probes_and_limits() {
    let operator = documents("operator.yaml");
    let deployment = of_kind(&operator, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["serviceAccountName"], "kulta");
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert!(container["resources"]["limits"]["cpu"].is_string());
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "run");
    assert!(args.contains(&"--lease-namespace=kulta-system"));
}

/// What a client-side `kubectl apply -f` stores: the object as compact JSON, in an annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[test]
fn the_crd_with_its_last_applied_annotation_fits_the_api_servers_annotation_limit() {
    let printed = kulta_interpreter::crd_yaml().unwrap();
    let crd: Value = serde_yaml_ng::from_str(&printed).unwrap();
    let last_applied = serde_json::to_string(&crd).unwrap();
    let mut applied = crd.clone();
    applied["metadata"]["annotations"] = serde_json::json!({ LAST_APPLIED: last_applied });
    let total: usize = applied["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| key.len() + value.as_str().unwrap().len())
        .sum();
    assert!(
        total < kulta_interpreter::ANNOTATIONS_LIMIT,
        "the CRD's annotations would be {total} bytes; the API server refuses more than {}",
        kulta_interpreter::ANNOTATIONS_LIMIT
    );
    // The trimming keeps every validation keyword: the pod template still has its schema.
    let template = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["template"];
    let containers = &template["properties"]["spec"]["properties"]["containers"];
    assert_eq!(containers["type"], "array");
    assert_eq!(containers["items"]["required"], serde_json::json!(["name"]));
    assert!(containers.get("description").is_none());
    assert!(template["description"].is_string());
}
