//! `promote [--full]`, `abort`, `retry`, `pause`, `resume` with `--wait`, and `status --wait`
//! on the states they lead to, against the real operator.

use kulta::{ControlRequest, Phase, REQUEST_ANNOTATION};
use serde_json::json;

use crate::harness::Kubeconfig;
use crate::support::*;

/// The request annotation on `web` now.
async fn annotation(cluster: &Cluster) -> ControlRequest {
    let rollout = cluster.rollouts().get("web").await.unwrap();
    rollout.metadata.annotations.unwrap()[REQUEST_ANNOTATION]
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_waits_for_its_token_and_says_what_step_did() {
    let cluster = Cluster::start().await;
    cluster.canary_services(false).await;
    cluster
        .rollout(
            2,
            "web:1",
            canary(false, json!([{"setWeight": 50}, {"pause": {}}]), json!({})),
        )
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    let v1 = cluster.revision().await;
    cluster.settled().await;
    let kubeconfig = Kubeconfig::for_sim(&cluster.sim, NS);

    // A promote on a finished rollout is ignored: exit 1 with step's reason.
    let ran = kubeconfig.kulta(&["promote", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(ran.stdout.contains("requested promote:"), "{}", ran.text());
    assert!(
        ran.stdout
            .contains("rollout default/web: promote was ignored: the rollout is not in progress"),
        "{}",
        ran.text()
    );
    let request = annotation(&cluster).await;
    assert_eq!(
        request.revision.as_deref(),
        Some(v1.as_str()),
        "the request names the revision"
    );
    assert_eq!(
        cluster.status().await.last_request_token.as_deref(),
        Some(request.token.as_str())
    );

    // An indefinite pause needs a person: status --wait exits 3.
    let v2 = cluster.ship("web:2").await;
    cluster
        .status_until("the canary paused", LIMIT, |s| {
            s.phase == Some(Phase::Paused)
        })
        .await;
    let ran = kubeconfig
        .kulta(&["status", "web", "--wait", "--timeout", "30s"])
        .await;
    assert_eq!(ran.code, Some(3), "{}", ran.text());
    assert!(ran.stdout.contains("Phase:     Paused"), "{}", ran.text());
    assert!(ran.stdout.contains("needs a person"), "{}", ran.text());

    // pause and resume: carried out, and the status says so.
    let ran = kubeconfig.kulta(&["pause", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains("pause was carried out"),
        "{}",
        ran.text()
    );
    assert!(cluster.status().await.paused_by_user);
    let ran = kubeconfig.kulta(&["resume", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains("resume was carried out"),
        "{}",
        ran.text()
    );
    assert!(!cluster.status().await.paused_by_user);

    // abort rolls back; status --wait on it exits 1 with the reason.
    let ran = kubeconfig.kulta(&["abort", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains("abort was carried out"),
        "{}",
        ran.text()
    );
    let ran = kubeconfig.kulta(&["status", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.stdout.contains("rolled back: Aborted"),
        "{}",
        ran.text()
    );
    assert_eq!(cluster.status().await.phase, Some(Phase::Failed));

    // retry starts again from the first step.
    let ran = kubeconfig.kulta(&["retry", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    cluster
        .status_until("the retried canary paused", LIMIT, |s| {
            s.phase == Some(Phase::Paused) && s.canary_revision.as_deref() == Some(v2.as_str())
        })
        .await;

    // promote --full ships it; status --wait then returns at once with 0.
    let ran = kubeconfig
        .kulta(&["promote", "web", "--full", "--wait"])
        .await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains("requested promote-full:"),
        "{}",
        ran.text()
    );
    cluster.stable_on(&v2).await;
    let ran = kubeconfig.kulta(&["status", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(ran.stdout.contains("completed"), "{}", ran.text());
    assert!(
        ran.took < std::time::Duration::from_secs(5),
        "an already-finished rollout returns at once: {:?}",
        ran.took
    );
    operator.stop().await;
}
