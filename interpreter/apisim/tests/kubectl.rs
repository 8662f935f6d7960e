//! The simulator driven by the real `kubectl`: apply, get with printer columns, patch, watch,
//! delete. Skipped, with a message, where kubectl is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kulta_apisim::ApiSim;

struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
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
        // Without /openapi, kubectl validates nothing client-side: the server does.
        kubectl.run(&["apply", "--validate=false", "-f", &namespace]);
        kubectl.run(&["apply", "--validate=false", "-f", &crd]);
        kubectl.run(&["apply", "--validate=false", "-f", &route_crd]);
        let applied = kubectl.run(&["apply", "--validate=false", "-f", &example]);
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
