//! `kulta status NAME --wait`: a rollback by analysis, an already-finished rollout, a
//! timeout, and bad input.

use kulta::Phase;
use kulta_interpreter::cli::demo::metrics::ScriptedPrometheus;
use serde_json::json;

use crate::harness::Kubeconfig;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_wait_follows_a_canary_to_its_rollback_and_exits_1_with_the_reason() {
    let metrics = ScriptedPrometheus::start().await.unwrap();
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    cluster
        .rollout(
            2,
            "web:1",
            canary(
                true,
                json!([{"setWeight": 50}, {"pause": {"duration": "30s"}}]),
                json!({"analysis": error_rate_analysis(&metrics.url(), json!({"failureLimit": 1}))}),
            ),
        )
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let kubeconfig = Kubeconfig::for_sim(&cluster.sim, NS);

    let v2 = cluster.revision_for("web:2").await;
    metrics.mark_bad(&v2);
    cluster.ship("web:2").await;
    let ran = kubeconfig
        .kulta(&[
            "status",
            "web",
            "-n",
            "default",
            "--wait",
            "--timeout",
            "50s",
        ])
        .await;
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.stdout.starts_with("Name:      default/web"),
        "printed at once: {}",
        ran.text()
    );
    assert!(ran.stdout.contains("Progressing"), "{}", ran.text());
    assert!(
        ran.stdout
            .contains("rolled back: AnalysisFailed: metric \"error-rate\""),
        "{}",
        ran.text()
    );
    assert_eq!(cluster.status().await.phase, Some(Phase::Failed));

    // Already finished: answers at once, with the same exit code.
    let ran = kubeconfig.kulta(&["status", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.took < std::time::Duration::from_secs(5),
        "{:?}",
        ran.took
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_wait_times_out_with_124_and_bad_input_exits_2() {
    let cluster = Cluster::start().await;
    cluster
        .rollout(
            1,
            "web:1",
            canary(false, json!([{"setWeight": 50}]), json!({})),
        )
        .await;
    let kubeconfig = Kubeconfig::for_sim(&cluster.sim, NS);
    // No operator: the rollout never moves.
    let ran = kubeconfig
        .kulta(&["status", "web", "--wait", "--timeout", "1s"])
        .await;
    assert_eq!(ran.code, Some(124), "{}", ran.text());
    assert!(
        ran.stdout.contains("is still in progress after 1s"),
        "{}",
        ran.text()
    );

    let ran = kubeconfig
        .kulta(&["status", "web", "--wait", "--timeout", "soon"])
        .await;
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stderr.contains("--timeout \"soon\" is not a duration"),
        "{}",
        ran.text()
    );

    // Without --wait, status prints and exits 0 whatever the state.
    let ran = kubeconfig.kulta(&["status", "web"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains("Name:      default/web"),
        "{}",
        ran.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_wait_on_a_workload_ref_rollout_waits_for_the_deployments_new_template() {
    use kube::api::{Patch, PatchParams};

    let cluster = Cluster::start().await;
    let deployments = cluster.deployments();
    cluster.deployment(2, "web:1").await;
    cluster
        .rollout_over_deployment(2, "never", json!({"simple": {}}))
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    operator.stop().await;
    let kubeconfig = Kubeconfig::for_sim(&cluster.sim, NS);
    // The Deployment changes; the Rollout's generation does not. With no operator to act, the
    // old revision's Completed must not answer for the new template.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
    let changed = deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let v2 = kulta::pod_template_hash(&changed.spec.unwrap().template);
    let ran = kubeconfig
        .kulta(&["status", "web", "--wait", "--timeout", "2s"])
        .await;
    assert_eq!(ran.code, Some(124), "{}", ran.text());
    let operator = start_operator(&cluster, options(None, None)).await;
    let ran = kubeconfig
        .kulta(&["status", "web", "--wait", "--timeout", "50s"])
        .await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert_eq!(
        cluster.status().await.stable_revision.as_deref(),
        Some(v2.as_str())
    );
    operator.stop().await;
}
