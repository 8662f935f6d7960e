//! `workloadRef` through the offline commands: `convert` carries Argo's over (and turns a
//! Flagger target into one), `lint` checks the named Deployment's template when it is in the
//! files, and `plan` runs the Rollout with that template.

use super::offline::{arg, file_with, kulta};

const ARGO_OVER_DEPLOYMENT: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: progressively}
  strategy:
    canary:
      steps: [{setWeight: 25}, {pause: {duration: 1m}}]
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: LABEL}}
    spec: {containers: [{name: web, image: "registry.example.com/web:1"}]}
"#;

fn rollout_over_deployment() -> String {
    r#"
apiVersion: kulta.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: onsuccess}
  strategy:
    canary:
      steps: [{setWeight: 25}, {pause: {duration: 1m}}]
"#
    .to_string()
}

#[test]
fn an_argo_workload_ref_converts_to_a_kulta_one_that_lints_without_the_deployment() {
    let (_dir, path) = file_with("rollout.yaml", ARGO_OVER_DEPLOYMENT);
    let ran = kulta(&["convert", "--strict", arg(&path)]);
    assert_eq!(ran.code, Some(0), "nothing dropped: {}", ran.text());
    assert!(
        ran.stdout.contains(
            "  workloadRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n    scaleDown: progressively\n"
        ),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("template:"), "{}", ran.stdout);
    let (_dir, converted) = file_with("converted.yaml", &ran.stdout);
    let linted = kulta(&["lint", arg(&converted)]);
    assert_eq!(linted.code, Some(0), "{}", linted.text());
}

#[test]
fn lint_checks_the_named_deployments_template_against_the_selector() {
    let text = format!(
        "{}---{}",
        rollout_over_deployment(),
        DEPLOYMENT.replace("LABEL", "shop")
    );
    let (_dir, path) = file_with("rollout.yaml", &text);
    let ran = kulta(&["lint", arg(&path)]);
    assert_ne!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains(
            "spec.workloadRef: Deployment web: spec.selector: does not match spec.template.metadata.labels"
        ),
        "{}",
        ran.text()
    );
    let good = format!(
        "{}---{}",
        rollout_over_deployment(),
        DEPLOYMENT.replace("LABEL", "web")
    );
    let (_dir, path) = file_with("rollout.yaml", &good);
    let ran = kulta(&["lint", arg(&path)]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
}

#[test]
fn plan_runs_a_workload_ref_rollout_with_the_deployments_template() {
    let text = format!(
        "{}---{}",
        rollout_over_deployment(),
        DEPLOYMENT.replace("LABEL", "web")
    );
    let (_dir, path) = file_with("rollout.yaml", &text);
    let ran = kulta(&["plan", arg(&path)]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains("- create ReplicaSet new with 1 pods"),
        "{}",
        ran.text()
    );
    assert!(
        ran.stdout.contains("\nfull promotion after "),
        "{}",
        ran.text()
    );
    let (_dir, alone) = file_with("rollout.yaml", &rollout_over_deployment());
    let ran = kulta(&["plan", arg(&alone)]);
    assert_ne!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains(
            "spec.workloadRef names Deployment web, which is not in the file; plan needs its pod template"
        ),
        "{}",
        ran.text()
    );
}
