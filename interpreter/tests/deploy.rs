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
