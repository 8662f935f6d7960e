//! The manifests in `deploy/`: least-privilege RBAC that grants exactly what the operator
//! uses, and a hardened Deployment.

use std::collections::{BTreeMap, BTreeSet};
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

fn kubectl_kustomize(dir: &str) -> Option<Vec<Value>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(dir);
    let output = match std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            eprintln!("skipped: kubectl is not installed");
            return None;
        }
    };
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "kubectl kustomize {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        serde_yaml_ng::Deserializer::from_str(&text)
            .map(|document| Value::deserialize(document).unwrap())
            .filter(|document| !document.is_null())
            .collect(),
    )
}

fn kinds(documents: &[Value]) -> BTreeSet<(String, String)> {
    documents
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn kustomize_builds_the_install_and_the_monitoring_addon() {
    let Some(install) = kubectl_kustomize(".") else {
        return;
    };
    let expected: BTreeSet<(String, String)> = [
        ("CustomResourceDefinition", "rollouts.kulta.io"),
        ("Namespace", "kulta-system"),
        ("ServiceAccount", "kulta"),
        ("ClusterRole", "kulta"),
        ("ClusterRoleBinding", "kulta"),
        ("Role", "kulta-leader-election"),
        ("RoleBinding", "kulta-leader-election"),
        ("Deployment", "kulta"),
        ("Service", "kulta-metrics"),
        ("PodDisruptionBudget", "kulta"),
    ]
    .into_iter()
    .map(|(kind, name)| (kind.to_string(), name.to_string()))
    .collect();
    assert_eq!(kinds(&install), expected);
    assert!(
        !install.iter().any(|d| d["apiVersion"]
            .as_str()
            .unwrap()
            .starts_with("gateway.networking.k8s.io")),
        "the Gateway API CRDs are the cluster's, not KULTA's install"
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/README.md"))
            .unwrap();
    assert!(
        readme.contains("httproutes.gateway.networking.k8s.io"),
        "the README states the HTTPRoute CRD requirement"
    );
    let deployment = of_kind(&install, "Deployment")[0];
    let pods = &deployment["spec"]["selector"]["matchLabels"];
    let pdb = of_kind(&install, "PodDisruptionBudget")[0];
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], pods);
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert!(deployment["spec"]["replicas"].as_i64().unwrap() > 1);

    let monitoring = kubectl_kustomize("monitoring").unwrap();
    let service = of_kind(&install, "Service")[0];
    let monitor = of_kind(&monitoring, "ServiceMonitor")[0];
    assert_eq!(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    );
    let port = &monitor["spec"]["endpoints"][0];
    assert_eq!(port["path"], "/metrics");
    assert_eq!(port["port"], service["spec"]["ports"][0]["name"]);
    let dashboard = of_kind(&monitoring, "ConfigMap")[0];
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value =
        serde_json::from_str(dashboard["data"]["kulta.json"].as_str().unwrap()).unwrap();
    assert_eq!(json, grafana_dashboard());
}

fn grafana_dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/kulta.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every PromQL query of the dashboard: panel targets and template variables.
fn queries(dashboard: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = panels.pop() {
        panels.extend(panel["panels"].as_array().into_iter().flatten());
        for target in panel["targets"].as_array().into_iter().flatten() {
            found.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            found.push(variable["query"]["query"].as_str().unwrap().to_string());
        }
    }
    found
}

/// The series names the operator exports, from its own registry: a family `x` of type
/// counter is scraped as `x_total`, a histogram as `x_bucket`, `x_sum` and `x_count`.
fn exported() -> BTreeMap<String, String> {
    // A family shows in the text only once it has a series: give every one a sample.
    let telemetry = kulta_interpreter::operator::Telemetry::new();
    let labels = kulta_interpreter::operator::telemetry::RolloutLabels {
        namespace: "shop".into(),
        rollout: "checkout".into(),
    };
    let measured: kulta::RolloutStatus = serde_json::from_value(serde_json::json!({
        "phase": "Progressing",
        "canaryRevision": "abc",
        "currentWeight": 20,
        "observedWeight": 20,
        "backgroundAnalysis": {
            "kind": "Background", "revision": "abc", "round": 1, "phase": "Running",
            "metrics": [{"name": "errors", "lastOutcome": "Success", "lastRound": 1}]
        }
    }))
    .unwrap();
    telemetry.rollout(&labels, &kulta::RolloutStatus::default(), &measured);
    telemetry.reconciled(0.01);
    telemetry.reconcile_failed("observe");
    telemetry.effect(
        kulta::EffectKind::Route,
        kulta_interpreter::operator::telemetry::Outcome::Ok,
    );
    telemetry.set_leader(true);
    telemetry.cdevent(kulta_interpreter::operator::telemetry::Outcome::Ok);
    telemetry.replica_set_read(kulta_interpreter::operator::telemetry::ReadFrom::Index);
    let text = telemetry.encode().unwrap();
    let mut series = BTreeMap::new();
    for line in text.lines() {
        let Some(declared) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (family, kind) = declared.split_once(' ').unwrap();
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "gauge" => &[""],
            other => panic!("a {other} metric: teach this test its series"),
        };
        for suffix in suffixes {
            series.insert(format!("{family}{suffix}"), family.to_string());
        }
    }
    series
}

/// Names in a PromQL expression that look like KULTA's series.
fn series_named(query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("kulta_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_dashboard_query_names_a_series_the_operator_exports_and_every_metric_is_shown() {
    let dashboard = grafana_dashboard();
    let exported = exported();
    assert!(exported.contains_key("kulta_rollout_info"), "{exported:?}");
    let queries = queries(&dashboard);
    assert!(queries.len() >= 10, "{queries:?}");
    let mut shown = BTreeSet::new();
    for query in &queries {
        let named = series_named(query);
        assert!(!named.is_empty(), "a query of no KULTA metric: {query}");
        for name in named {
            let family = exported.get(&name).unwrap_or_else(|| {
                panic!(
                    "{query}\n  names {name}, which the operator does not export; it exports {:?}",
                    exported.keys()
                )
            });
            shown.insert(family.clone());
        }
    }
    let families: BTreeSet<String> = exported.values().cloned().collect();
    assert_eq!(
        shown, families,
        "every metric the operator exports has a panel"
    );
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    // Grafana places panels on a 24-column grid; ids must be unique and panels must not overlap.
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "{}",
            panel["title"]
        );
        let grid = &panel["gridPos"];
        let at = |key: &str| grid[key].as_i64().unwrap();
        assert!(at("x") + at("w") <= 24, "{}", panel["title"]);
        for x in at("x")..at("x") + at("w") {
            for y in at("y")..at("y") + at("h") {
                assert!(
                    cells.insert((x, y)),
                    "{} overlaps another panel",
                    panel["title"]
                );
            }
        }
    }
    for wanted in [
        "Rollouts by phase",
        "Canary weight",
        "Reconcile latency",
        "Effects by kind and outcome",
        "Analysis results",
        "CDEvent deliveries",
        "Leaders",
    ] {
        assert!(titles.contains(&wanted), "{wanted} missing from {titles:?}");
    }
}
