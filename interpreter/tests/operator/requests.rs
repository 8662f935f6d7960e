//! Requests through the annotation (what `kulta abort` and friends write), and a template
//! change mid-rollout.

use std::time::Duration;

use kulta::{Phase, RequestAction};
use kulta_interpreter::cli::control;
use serde_json::json;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

async fn paused_canary_cluster() -> Cluster {
    let cluster = Cluster::start().await;
    cluster.service("web-stable").await;
    cluster.service("web-canary").await;
    cluster.route("web").await;
    cluster
        .rollout(
            4,
            "web:1",
            json!({"canary": {
                "stableService": "web-stable",
                "canaryService": "web-canary",
                "trafficRouting": {"gatewayAPI": {"httpRoute": "web"}},
                "steps": [{"setWeight": 50}, {"pause": {}}]
            }}),
        )
        .await;
    cluster
}

async fn canary_paused_at_half(cluster: &Cluster, revision: &str) {
    cluster
        .status_until("the canary paused at 50%", LIMIT, |s| {
            s.phase == Some(Phase::Paused)
                && s.current_weight == 50
                && s.canary_revision.as_deref() == Some(revision)
        })
        .await;
    eventually("the route at 50/50", LIMIT, || async {
        match cluster.weights().await.0 {
            (Some(50), Some(50)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_rolls_back_and_retry_starts_again_from_the_first_step() {
    let cluster = paused_canary_cluster().await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster
        .status_until("v1 to be stable", LIMIT, |s| {
            s.phase == Some(Phase::Completed)
        })
        .await;
    let v2 = cluster.ship("web:2").await;
    canary_paused_at_half(&cluster, &v2).await;

    control::request(cluster.client.clone(), NS, "web", RequestAction::Abort)
        .await
        .unwrap();
    let aborted = cluster
        .status_until("the abort", LIMIT, |s| s.phase == Some(Phase::Failed))
        .await;
    assert!(
        aborted.conditions.iter().any(|c| c.reason == "Aborted"),
        "{:?}",
        aborted.conditions
    );
    eventually("traffic back on stable", LIMIT, || async {
        match cluster.weights().await.0 {
            (Some(100), Some(0)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    control::request(cluster.client.clone(), NS, "web", RequestAction::Retry)
        .await
        .unwrap();
    canary_paused_at_half(&cluster, &v2).await;
    control::request(cluster.client.clone(), NS, "web", RequestAction::Promote)
        .await
        .unwrap();
    cluster
        .status_until("v2 to be stable", LIMIT, |s| {
            s.phase == Some(Phase::Completed) && s.stable_revision.as_deref() == Some(v2.as_str())
        })
        .await;
    assert_eq!(cluster.weights().await.0, (Some(100), Some(0)));
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_change_mid_rollout_abandons_the_canary_and_starts_the_new_one() {
    let cluster = paused_canary_cluster().await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster
        .status_until("v1 to be stable", LIMIT, |s| {
            s.phase == Some(Phase::Completed)
        })
        .await;
    let v1 = cluster.revision().await;
    let v2 = cluster.ship("web:2").await;
    canary_paused_at_half(&cluster, &v2).await;
    let v3 = cluster.ship("web:3").await;
    canary_paused_at_half(&cluster, &v3).await;
    let status = cluster
        .rollouts()
        .get_status("web")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(status.stable_revision, Some(v1.clone()));
    eventually("the abandoned canary scaled to zero", LIMIT, || async {
        let replicas = cluster.replicas().await;
        if replicas.contains(&(v2.clone(), 0)) && replicas.contains(&(v1.clone(), 4)) {
            Ok(())
        } else {
            Err(format!("{replicas:?}"))
        }
    })
    .await;
    operator.stop().await;
}
