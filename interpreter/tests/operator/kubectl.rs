//! What a person sees with `kubectl` while the operator runs: `kubectl describe rollout` and
//! `kubectl get events` show KULTA's Events (written as `events.k8s.io/v1`, read as
//! `core/v1`), and `kubectl scale rollout` reaches the operator through the `/scale`
//! subresource. Skipped, with a message, where kubectl is not installed.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

struct Kubectl {
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(cluster: &Cluster) -> Option<Self> {
        if Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .is_err()
        {
            eprintln!("skipped: kubectl is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), cluster.sim.kubeconfig()).unwrap();
        Some(Kubectl { dir })
    }

    /// Run kubectl (blocking); stdout and stderr together.
    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("HOME", self.dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "kubectl {args:?} failed:\n{text}");
        text
    }
}

async fn kubectl(kubectl: &std::sync::Arc<Kubectl>, args: &[&str]) -> String {
    let kubectl = std::sync::Arc::clone(kubectl);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl.run(&args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_shows_the_operators_events_and_kubectl_scale_rescales_the_rollout() {
    let cluster = Cluster::start().await;
    let Some(tool) = Kubectl::new(&cluster) else {
        return;
    };
    let tool = std::sync::Arc::new(tool);
    cluster
        .rollout(
            2,
            "web:1",
            json!({"simple": {"maxSurge": 1, "maxUnavailable": 0}}),
        )
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    let settled = cluster.settled().await;
    cluster.event_recorded("InitialRevision").await;

    let described = kubectl(&tool, &["describe", "rollout", "web", "-n", NS]).await;
    let events = described
        .split_once("Events:")
        .map(|(_, events)| events)
        .unwrap_or_else(|| panic!("no Events section:\n{described}"));
    assert!(
        events.contains("Normal") && events.contains("InitialRevision"),
        "{described}"
    );
    let listed = kubectl(&tool, &["get", "events", "-n", NS]).await;
    assert!(listed.contains("InitialRevision"), "{listed}");
    assert!(listed.lines().any(|line| line.contains("web")), "{listed}");

    let stable = settled.stable_revision.unwrap();
    let scaled = kubectl(
        &tool,
        &["scale", "rollout", "web", "-n", NS, "--replicas=4"],
    )
    .await;
    assert!(scaled.contains("rollout.kulta.io/web scaled"), "{scaled}");
    cluster.replicas_become(&[(stable.as_str(), 4)]).await;
    let scale = eventually("the Scale to report 4 replicas", LIMIT, || {
        let tool = std::sync::Arc::clone(&tool);
        async move {
            let raw = kubectl(
                &tool,
                &[
                    "get",
                    "--raw",
                    "/apis/kulta.io/v1alpha1/namespaces/default/rollouts/web/scale",
                ],
            )
            .await;
            let scale: Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
            if scale["status"]["replicas"] == 4 {
                Ok(scale)
            } else {
                Err(raw)
            }
        }
    })
    .await;
    assert_eq!(scale["spec"]["replicas"], 4);
    assert!(
        scale["status"]["selector"]
            .as_str()
            .is_some_and(|s| s.contains("app=web")),
        "{scale}"
    );
    operator.stop().await;
}
