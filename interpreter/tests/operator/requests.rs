//! Requests through the annotation (what `kulta abort` and friends write), and a template
//! change mid-rollout.

use kulta::{Phase, RequestAction};
use kulta_interpreter::cli::control;
use kulta_interpreter::operator::Options;
use serde_json::json;

use crate::support::*;

async fn canary_paused_at_half(cluster: &Cluster, revision: &str) {
    cluster
        .status_until("the canary paused at 50%", LIMIT, |s| {
            s.phase == Some(Phase::Paused)
                && s.current_weight == 50
                && s.canary_revision.as_deref() == Some(revision)
        })
        .await;
    cluster.weights_become(50, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_rolls_back_and_retry_starts_again_from_the_first_step() {
    let cluster = paused_canary_cluster().await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
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
    cluster.weights_become(100, 0).await;

    control::request(cluster.client.clone(), NS, "web", RequestAction::Retry)
        .await
        .unwrap();
    canary_paused_at_half(&cluster, &v2).await;
    control::request(cluster.client.clone(), NS, "web", RequestAction::Promote)
        .await
        .unwrap();
    cluster.stable_on(&v2).await;
    assert_eq!(cluster.weights().await.0, (Some(100), Some(0)));
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_change_mid_rollout_abandons_the_canary_and_starts_the_new_one() {
    let cluster = paused_canary_cluster().await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let v1 = cluster.revision().await;
    let v2 = cluster.ship("web:2").await;
    canary_paused_at_half(&cluster, &v2).await;
    let v3 = cluster.ship("web:3").await;
    canary_paused_at_half(&cluster, &v3).await;
    let status = cluster.status().await;
    assert_eq!(status.stable_revision, Some(v1.clone()));
    cluster.replicas_become(&[(&v2, 0), (&v1, 4)]).await;
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_is_a_condition_and_a_warning_and_changes_nothing() {
    use kube::api::{Patch, PatchParams};
    let cluster = paused_canary_cluster().await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    canary_paused_at_half(&cluster, &v2).await;
    let patch = json!({"metadata": {"annotations": {kulta::REQUEST_ANNOTATION: "launch:1"}}});
    cluster
        .rollouts()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let status = cluster
        .status_until("the malformed request reported", LIMIT, |s| {
            s.condition(kulta::status::ConditionType::InvalidRequest)
                .is_some()
        })
        .await;
    let condition = status
        .condition(kulta::status::ConditionType::InvalidRequest)
        .unwrap();
    assert!(
        condition.message.contains("\"launch\""),
        "{}",
        condition.message
    );
    assert_eq!(status.phase, Some(Phase::Paused), "nothing was done");
    cluster.event_recorded("InvalidRequest").await;
    // A valid request clears it.
    control::request(cluster.client.clone(), NS, "web", RequestAction::Promote)
        .await
        .unwrap();
    cluster
        .status_until("the condition cleared", LIMIT, |s| {
            s.condition(kulta::status::ConditionType::InvalidRequest)
                .is_none()
        })
        .await;
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_names_its_field_manager() {
    use kulta_apisim::faults::Verb;
    let cluster = paused_canary_cluster().await;
    let operator = start_operator(
        &cluster,
        Options {
            lease: Some(lease("a")),
            ..options(None, None)
        },
    )
    .await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    promote_at_pause(&cluster).await;
    cluster.stable_on(&v2).await;
    operator.stop().await;

    let log = cluster.sim.request_log();
    let writes: Vec<_> = log
        .iter()
        .filter(|r| matches!(r.verb, Verb::Create | Verb::Update | Verb::Patch))
        .collect();
    // The test itself creates the Services, the route and the Rollout and ships by patching the
    // Rollout, with no manager; everything the operator writes is its own, on every kind.
    let by_operator = |r: &&&kulta_apisim::requests::Request| match r.resource.as_str() {
        "replicasets" | "events" | "leases" | "deployments" => true,
        "rollouts" => r.subresource.as_deref() == Some("status"),
        "services" | "httproutes" => r.verb != Verb::Create,
        _ => false,
    };
    let operator_writes: Vec<_> = writes.iter().filter(by_operator).collect();
    for kind in [
        "replicasets",
        "events",
        "leases",
        "rollouts",
        "services",
        "httproutes",
    ] {
        assert!(
            operator_writes.iter().any(|r| r.resource == kind),
            "the operator wrote no {kind}: {operator_writes:#?}"
        );
    }
    let unnamed: Vec<_> = operator_writes
        .iter()
        .filter(|r| r.field_manager.as_deref() != Some("kulta"))
        .collect();
    assert!(unnamed.is_empty(), "writes not named kulta's: {unnamed:#?}");
    // `kulta promote` names itself too.
    let cli: Vec<_> = writes
        .iter()
        .filter(|r| r.resource == "rollouts" && r.subresource.is_none())
        .filter_map(|r| r.field_manager.as_deref())
        .collect();
    assert_eq!(cli, ["kulta-cli"], "the CLI's writes: {cli:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_cache_drops_is_never_written_back() {
    use kube::ResourceExt;
    use kube::api::{Patch, PatchParams};
    const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
    let cluster = paused_canary_cluster().await;
    // As `kubectl apply` leaves it: a copy of the applied object in an annotation.
    let patch = json!({"metadata": {"annotations": {LAST_APPLIED: "{\"kind\":\"Rollout\"}"}}});
    cluster
        .rollouts()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    promote_at_pause(&cluster).await;
    cluster.stable_on(&v2).await;
    operator.stop().await;
    let stored = cluster.rollouts().get("web").await.unwrap();
    assert_eq!(
        stored.annotations().get(LAST_APPLIED).map(String::as_str),
        Some("{\"kind\":\"Rollout\"}")
    );
}

/// A reconcile decides from the cached Rollout when it is the very version the operator last
/// read or wrote, and reads Services from their watch-fed index once it shows the operator's
/// own writes: a settled canary's resyncs read neither (its route is read: one read per
/// resync), while a change someone else made (a new template) is read afresh and shipped,
/// Services pointed along the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_at_rest_reads_no_rollout_nor_service_and_a_change_is_read_afresh() {
    use kulta_apisim::faults::Verb;
    use std::time::Duration;
    let cluster = paused_canary_cluster().await;
    let mut options = options(None, None);
    options.settings.resync = Duration::from_millis(400);
    let operator = start_operator(&cluster, options).await;
    cluster.settled().await;
    let reads_since = |since: u64, resource: &str| {
        cluster
            .sim
            .request_log()
            .iter()
            .filter(|r| r.seq > since && r.verb == Verb::Get && r.resource == resource)
            .count()
    };
    let cached = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find(|line| line.starts_with("kulta_rollout_reads_total{source=\"index\"}"))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    // Let the echo of the last status write reach the cache, then watch the resyncs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = cluster.sim.request_log().last().map_or(0, |r| r.seq);
    let from_cache = cached(&operator.telemetry.encode().unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resyncs = cached(&operator.telemetry.encode().unwrap()) - from_cache;
    assert!(resyncs >= 5, "{resyncs} reconciles from the cache in 3 s");
    assert_eq!(reads_since(since, "rollouts"), 0, "Rollout reads at rest");
    assert_eq!(reads_since(since, "services"), 0, "Service reads at rest");
    let routes = reads_since(since, "httproutes") as u64;
    assert!(
        routes <= resyncs + 1,
        "{routes} route reads in {resyncs} resyncs"
    );

    let v2 = cluster.ship("web:2").await;
    promote_at_pause(&cluster).await;
    cluster.stable_on(&v2).await;
    assert_eq!(
        cluster.selects("web-stable").await.as_deref(),
        Some(v2.as_str())
    );
    assert_eq!(
        cluster.selects("web-canary").await.as_deref(),
        Some(v2.as_str())
    );
    operator.stop().await;
}
