//! The `kulta run` binary with JSON logs, the `kubectl-kulta` plugin commands, and a graceful
//! shutdown on SIGTERM that hands the lease back.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kulta::Phase;
use serde_json::{Value, json};

use crate::support::*;

fn plugin(kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-kulta"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl-kulta {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kulta_run_logs_json_obeys_the_plugin_and_hands_the_lease_back_on_sigterm() {
    let cluster = Cluster::start().await;
    cluster.canary_services(false).await;
    cluster
        .rollout(
            2,
            "web:1",
            canary(false, json!([{"setWeight": 50}, {"pause": {}}]), json!({})),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.sim.kubeconfig()).unwrap();
    // A token with a value no log may carry (debug logs on, to look hard).
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken-that-must-not-leak\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kulta"))
        .args([
            "run",
            "--namespace=default",
            "--lease-namespace=default",
            "--identity=binary",
            "--listen=127.0.0.1:0",
            "--log-format=json",
            "--lease-duration=3s",
            "--renew-deadline=2s",
            "--retry-period=300ms",
            &format!("--prometheus-token-file={}", token.display()),
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, logged) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    cluster.settled().await;
    let listed = plugin(&kubeconfig, &["get", "-n", "default"]);
    assert!(
        listed.contains("web") && listed.contains("Completed"),
        "{listed}"
    );

    let v2 = cluster.ship("web:2").await;
    cluster
        .status_until("the canary paused", LIMIT, |s| {
            s.phase == Some(Phase::Paused)
        })
        .await;
    let described = plugin(&kubeconfig, &["status", "web", "-n", "default"]);
    assert!(described.contains("Phase:     Paused"), "{described}");
    assert!(
        described.contains(&format!("Canary:    {v2}")),
        "{described}"
    );
    let said = plugin(&kubeconfig, &["promote", "web", "-n", "default"]);
    assert!(said.contains("requested promote:"), "{said}");
    cluster.stable_on(&v2).await;

    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), NS);
    let held = leases.get("kulta-controller").await.unwrap();
    assert_eq!(
        held.spec.unwrap().holder_identity.as_deref(),
        Some("binary")
    );
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let exit = eventually("kulta run to exit", Duration::from_secs(15), || {
        let status = child.try_wait().unwrap();
        async move { status.ok_or_else(|| "still running".to_string()) }
    })
    .await;
    assert!(exit.success(), "{exit:?}");
    let released = leases.get("kulta-controller").await.unwrap();
    assert_eq!(released.spec.unwrap().holder_identity, None, "handed back");

    let logs: Vec<String> = logged.try_iter().collect();
    assert!(!logs.is_empty());
    for line in &logs {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
        assert!(
            parsed["level"].is_string() && parsed["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        logs.iter().any(|l| l.contains("released the lease")),
        "{logs:#?}"
    );
    assert!(
        logs.iter().all(|l| !l.contains("t0ken-that-must-not-leak")),
        "the Prometheus token leaked into the logs"
    );
}
