//! The simulator driven by the real `kubectl`: apply (validated, as written, no
//! `--validate=false`), get with printer columns, patch, watch, delete, scale; and the answers
//! a real API server gives that kubectl shows: server dry runs, strict field validation, field
//! paths of schema violations, and the limits on annotations and names. Skipped, with a
//! message, where kubectl is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kulta_apisim::ApiSim;

struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
}

/// Its home (kubeconfig and discovery cache) goes with it, also when a test fails.
impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // kubectl caches discovery under $HOME/.kube/cache; each test gets its own.
            .env("HOME", &self.home);
        command
    }

    /// Run kubectl, which must fail; its output.
    fn fails(&self, args: &[&str]) -> String {
        let output: Output = self.command(args).output().expect("run kubectl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !output.status.success(),
            "kubectl {args:?} succeeded:\n{text}"
        );
        text
    }

    fn run(&self, args: &[&str]) -> String {
        let output: Output = self.command(args).output().expect("run kubectl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "kubectl {args:?} failed:\n{text}");
        text
    }
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_gets_patches_watches_and_deletes() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("skipped: kubectl is not installed");
        return;
    }
    let sim = ApiSim::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("kulta-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig()).unwrap();
    let namespace = dir.join("namespace.yaml");
    std::fs::write(
        &namespace,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    )
    .unwrap();
    let kubectl = Kubectl {
        kubeconfig,
        home: dir.clone(),
    };
    let (crd, example) = (repo("deploy/crd.yaml"), repo("examples/canary.yaml"));
    // The canary example carries its HTTPRoute, whose CRD KULTA vendors.
    let route_crd = repo("deploy/gateway-api/httproute-crd.yaml");
    let namespace = namespace.to_string_lossy().into_owned();
    tokio::task::spawn_blocking(move || {
        kubectl.run(&["apply", "-f", &namespace]);
        kubectl.run(&["apply", "-f", &crd]);
        kubectl.run(&["apply", "-f", &route_crd]);
        let applied = kubectl.run(&["apply", "-f", &example]);
        assert!(
            applied.contains("rollout.kulta.io/checkout created"),
            "{applied}"
        );

        let status =
            r#"{"status":{"phase":"Progressing","currentWeight":20,"observedWeight":20,"currentStepIndex":1}}"#;
        kubectl.run(&[
            "patch",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ]);
        let table = kubectl.run(&["get", "rollouts", "-n", "shop"]);
        let lines: Vec<&str> = table.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            header,
            ["NAME", "PHASE", "WEIGHT", "STEP", "AGE"],
            "{table}"
        );
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(row[..4], ["checkout", "Progressing", "20", "1"], "{table}");

        let mut watch = kubectl
            .command(&["get", "ro", "-n", "shop", "--watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        kubectl.run(&[
            "patch",
            "ro",
            "checkout",
            "-n",
            "shop",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"currentWeight":50,"observedWeight":50}}"#,
        ]);
        std::thread::sleep(Duration::from_millis(700));
        let _ = watch.kill();
        let watched = watch.wait_with_output().unwrap();
        let watched = String::from_utf8_lossy(&watched.stdout).into_owned();
        let weights: Vec<&str> = watched
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(2))
            .collect();
        assert_eq!(weights, ["20", "50"], "{watched}");

        let deleted = kubectl.run(&["delete", "rollout", "checkout", "-n", "shop"]);
        assert!(deleted.contains("deleted"), "{deleted}");
        let empty = kubectl.run(&["get", "rollouts", "-n", "shop"]);
        assert!(empty.contains("No resources found"), "{empty}");
    })
    .await
    .unwrap();
    drop(sim);
    let _ = std::fs::remove_dir_all(dir);
}

fn kubectl_installed() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok();
    if !found {
        eprintln!("skipped: kubectl is not installed");
    }
    found
}

/// A simulator, and kubectl pointed at it with its own home; `files` are written there.
async fn setup(test: &str, files: &[(&str, &str)]) -> (ApiSim, Kubectl, PathBuf) {
    let sim = ApiSim::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("kulta-kubectl-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kubeconfig"), sim.kubeconfig()).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let kubectl = Kubectl {
        kubeconfig: dir.join("kubeconfig"),
        home: dir.clone(),
    };
    (sim, kubectl, dir)
}

const SHOP: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
/// The Prometheus Operator's ServiceMonitor CRD, reduced to what the simulator serves it by.
const SERVICE_MONITOR_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, plural: servicemonitors, singular: servicemonitor, listKind: ServiceMonitorList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-preserve-unknown-fields: true
";

/// The namespaces of the examples.
const NAMESPACES: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: jobs\n";

/// `examples/canary.yaml` with `extra` (YAML) added under the Rollout's spec.
fn canary_with(extra: &str) -> String {
    let example = std::fs::read_to_string(repo("examples/canary.yaml")).unwrap();
    let rollout = example.find("kind: Rollout").unwrap();
    let (before, after) = example.split_at(rollout);
    format!(
        "{before}{}",
        after.replacen("\nspec:\n", &format!("\nspec:\n{extra}"), 1)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_kustomization_applies_as_written_and_reapplies_unchanged() {
    if !kubectl_installed() {
        return;
    }
    // What `deploy/crd.yaml` was before its pod template lost its descriptions.
    let untrimmed =
        serde_yaml_ng::to_string(&<kulta::Rollout as kube::CustomResourceExt>::crd()).unwrap();
    let (sim, kubectl, dir) = setup(
        "install",
        &[
            ("untrimmed.yaml", &untrimmed),
            ("shop.yaml", NAMESPACES),
            ("servicemonitor-crd.yaml", SERVICE_MONITOR_CRD),
        ],
    )
    .await;
    let (deploy, monitoring) = (repo("deploy"), repo("deploy/monitoring"));
    let route_crd = repo("deploy/gateway-api/httproute-crd.yaml");
    tokio::task::spawn_blocking(move || {
        let applied = kubectl.run(&["apply", "-k", &deploy]);
        for created in [
            "namespace/kulta-system created",
            "customresourcedefinition.apiextensions.k8s.io/rollouts.kulta.io created",
            "serviceaccount/kulta created",
            "clusterrole.rbac.authorization.k8s.io/kulta created",
            "deployment.apps/kulta created",
            "service/kulta-metrics created",
            "poddisruptionbudget.policy/kulta created",
        ] {
            assert!(applied.contains(created), "{created}:\n{applied}");
        }
        let again = kubectl.run(&["apply", "-k", &deploy]);
        assert!(again.contains("deployment.apps/kulta unchanged"), "{again}");
        assert!(
            again.contains(
                "customresourcedefinition.apiextensions.k8s.io/rollouts.kulta.io unchanged"
            ),
            "{again}"
        );
        let deployment = kubectl.run(&[
            "get",
            "deployment",
            "kulta",
            "-n",
            "kulta-system",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ]);
        assert_eq!(deployment, "ghcr.io/kulta/kulta:0.1.0");

        kubectl.run(&["apply", "-f", &dir.join("shop.yaml").to_string_lossy()]);
        kubectl.run(&["apply", "-f", &route_crd]);
        for example in [
            "examples/canary.yaml",
            "examples/blue-green.yaml",
            "examples/simple.yaml",
        ] {
            kubectl.run(&["apply", "-f", &repo(example)]);
        }
        // The monitoring add-on, where the Prometheus Operator's ServiceMonitor CRD is installed.
        let missing = kubectl.fails(&["apply", "-k", &monitoring]);
        assert!(
            missing.contains(
                "no matches for kind \"ServiceMonitor\" in version \"monitoring.coreos.com/v1\""
            ),
            "{missing}"
        );
        kubectl.run(&[
            "apply",
            "-f",
            &dir.join("servicemonitor-crd.yaml").to_string_lossy(),
        ]);
        let monitored = kubectl.run(&["apply", "-k", &monitoring]);
        assert!(
            monitored.contains("servicemonitor.monitoring.coreos.com/kulta created")
                // Created by the first attempt, which stopped at the ServiceMonitor.
                && monitored.contains("configmap/kulta-grafana-dashboard unchanged"),
            "{monitored}"
        );
        // The CRD as it was: its last-applied-configuration would be over 256 KiB.
        kubectl.run(&["delete", "crd", "rollouts.kulta.io"]);
        let refused =
            kubectl.fails(&["apply", "-f", &dir.join("untrimmed.yaml").to_string_lossy()]);
        assert!(
            refused.contains("metadata.annotations: Too long: must have at most 262144 bytes"),
            "{refused}"
        );
    })
    .await
    .unwrap();
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dry_run_creates_nothing() {
    if !kubectl_installed() {
        return;
    }
    let (sim, kubectl, dir) = setup("dry-run", &[("shop.yaml", SHOP)]).await;
    let (crd, example) = (repo("deploy/crd.yaml"), repo("examples/canary.yaml"));
    let route_crd = repo("deploy/gateway-api/httproute-crd.yaml");
    tokio::task::spawn_blocking(move || {
        kubectl.run(&["apply", "-f", &dir.join("shop.yaml").to_string_lossy()]);
        kubectl.run(&["apply", "-f", &crd]);
        kubectl.run(&["apply", "-f", &route_crd]);
        let dry = kubectl.run(&["apply", "--dry-run=server", "-f", &example]);
        assert!(
            dry.contains("rollout.kulta.io/checkout created (server dry run)"),
            "{dry}"
        );
        let missing = kubectl.fails(&["get", "rollout", "checkout", "-n", "shop"]);
        assert!(missing.contains("NotFound"), "{missing}");
        kubectl.run(&["apply", "-f", &example]);
        let deleted = kubectl.run(&[
            "delete",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "--dry-run=server",
        ]);
        assert!(deleted.contains("(server dry run)"), "{deleted}");
        kubectl.run(&["get", "rollout", "checkout", "-n", "shop"]);
    })
    .await
    .unwrap();
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_field_validation_names_the_unknown_field_and_warn_lets_it_through() {
    if !kubectl_installed() {
        return;
    }
    let bogus = canary_with("  bogus: 1\n");
    let (sim, kubectl, dir) = setup("strict", &[("shop.yaml", SHOP), ("bogus.yaml", &bogus)]).await;
    let crd = repo("deploy/crd.yaml");
    let route_crd = repo("deploy/gateway-api/httproute-crd.yaml");
    tokio::task::spawn_blocking(move || {
        kubectl.run(&["apply", "-f", &dir.join("shop.yaml").to_string_lossy()]);
        kubectl.run(&["apply", "-f", &crd]);
        kubectl.run(&["apply", "-f", &route_crd]);
        let file = dir.join("bogus.yaml").to_string_lossy().into_owned();
        let refused = kubectl.fails(&["apply", "-f", &file]);
        assert!(
            refused.contains("strict decoding error: unknown field \"spec.bogus\""),
            "{refused}"
        );
        let warned = kubectl.run(&["apply", "--validate=warn", "-f", &file]);
        assert!(
            warned.contains("Warning: unknown field \"spec.bogus\""),
            "{warned}"
        );
        assert!(
            warned.contains("rollout.kulta.io/checkout created"),
            "{warned}"
        );
    })
    .await
    .unwrap();
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_prints_the_field_path_of_a_violation() {
    if !kubectl_installed() {
        return;
    }
    let long_name = format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: {}\n  namespace: shop\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers: [{{name: web, image: web}}]\n",
        "w".repeat(264)
    );
    let (sim, kubectl, dir) = setup(
        "field-path",
        &[("shop.yaml", SHOP), ("long.yaml", &long_name)],
    )
    .await;
    let (crd, example) = (repo("deploy/crd.yaml"), repo("examples/canary.yaml"));
    let route_crd = repo("deploy/gateway-api/httproute-crd.yaml");
    tokio::task::spawn_blocking(move || {
        kubectl.run(&["apply", "-f", &dir.join("shop.yaml").to_string_lossy()]);
        kubectl.run(&["apply", "-f", &crd]);
        kubectl.run(&["apply", "-f", &route_crd]);
        kubectl.run(&["apply", "-f", &example]);
        // `kubectl patch` reports a 422 from its causes alone.
        let refused = kubectl.fails(&[
            "patch",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":"two"}}"#,
        ]);
        assert!(
            refused.contains("spec.replicas: Invalid value: \"two\": must be of type integer"),
            "{refused}"
        );
        let refused = kubectl.fails(&[
            "patch",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":3000000000}}"#,
        ]);
        assert!(
            refused.contains("spec.replicas: Invalid value: 3000000000: must be of type int32"),
            "{refused}"
        );
        // (`kubectl label` checks label syntax itself; a patch leaves it to the server.)
        let refused = kubectl.fails(&[
            "patch",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"tier":"front end"}}}"#,
        ]);
        assert!(
            refused.contains("metadata.labels: Invalid value: \"front end\""),
            "{refused}"
        );
        let refused = kubectl.fails(&["apply", "-f", &dir.join("long.yaml").to_string_lossy()]);
        assert!(
            refused.contains("metadata.name: Invalid value"),
            "{refused}"
        );
        assert!(
            refused.contains("must be no more than 253 characters"),
            "{refused}"
        );
    })
    .await
    .unwrap();
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_rollout_sets_its_replicas() {
    if !kubectl_installed() {
        return;
    }
    let (sim, kubectl, dir) = setup("scale", &[("shop.yaml", SHOP)]).await;
    let (crd, example) = (repo("deploy/crd.yaml"), repo("examples/canary.yaml"));
    let route_crd = repo("deploy/gateway-api/httproute-crd.yaml");
    tokio::task::spawn_blocking(move || {
        kubectl.run(&["apply", "-f", &dir.join("shop.yaml").to_string_lossy()]);
        kubectl.run(&["apply", "-f", &crd]);
        kubectl.run(&["apply", "-f", &route_crd]);
        kubectl.run(&["apply", "-f", &example]);
        let scaled = kubectl.run(&["scale", "rollout", "checkout", "-n", "shop", "--replicas=9"]);
        assert!(
            scaled.contains("rollout.kulta.io/checkout scaled"),
            "{scaled}"
        );
        let replicas = kubectl.run(&[
            "get",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}",
        ]);
        assert_eq!(replicas, "9");
        let refused = kubectl.fails(&[
            "scale",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "--replicas=5",
            "--current-replicas=4",
        ]);
        // The precondition is checked against the Scale kubectl reads.
        assert!(
            refused.contains("Expected replicas to be 4, was 9"),
            "{refused}"
        );
        kubectl.run(&[
            "scale",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "--replicas=5",
            "--current-replicas=9",
        ]);
        let replicas = kubectl.run(&[
            "get",
            "rollout",
            "checkout",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}",
        ]);
        assert_eq!(replicas, "5");
    })
    .await
    .unwrap();
    drop(sim);
}
