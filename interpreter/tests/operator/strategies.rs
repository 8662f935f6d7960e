//! Blue-green with manual promotion, a simple rolling update, a canary rolled back by a bad
//! metric.

use std::time::Duration;

use kulta::status::ConditionStatus;
use kulta::{Phase, RequestAction};
use kulta_interpreter::cli::control;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_waits_in_preview_until_a_person_promotes_it() {
    let cluster = Cluster::start().await;
    cluster.service("web-active").await;
    cluster.service("web-preview").await;
    cluster
        .rollout(
            3,
            "web:1",
            json!({"blueGreen": {
                "activeService": "web-active",
                "previewService": "web-preview",
                "autoPromotionEnabled": false,
                "scaleDownDelaySeconds": 1
            }}),
        )
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let v1 = cluster.revision().await;
    let v2 = cluster.ship("web:2").await;
    cluster
        .status_until("the preview", LIMIT, |s| s.phase == Some(Phase::Preview))
        .await;
    eventually("v2 behind the preview Service", LIMIT, || async {
        match cluster.selects("web-preview").await {
            Some(r) if r == v2 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = cluster.status().await;
    assert_eq!(
        waiting.phase,
        Some(Phase::Preview),
        "no automatic promotion"
    );
    assert_eq!(cluster.selects("web-active").await, Some(v1.clone()));

    control::request(cluster.client.clone(), NS, "web", RequestAction::Promote)
        .await
        .unwrap();
    cluster.stable_on(&v2).await;
    assert_eq!(cluster.selects("web-active").await, Some(v2.clone()));
    eventually(
        "the old revision scaled down after the delay",
        LIMIT,
        || async {
            let replicas = cluster.replicas().await;
            if replicas.contains(&(v1.clone(), 0)) && replicas.contains(&(v2.clone(), 3)) {
                Ok(())
            } else {
                Err(format!("{replicas:?}"))
            }
        },
    )
    .await;
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_rolling_update_replaces_every_pod() {
    let cluster = Cluster::start().await;
    cluster
        .rollout(
            3,
            "web:1",
            json!({"simple": {"maxSurge": 1, "maxUnavailable": 0}}),
        )
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let v1 = cluster.revision().await;
    let v2 = cluster.ship("web:2").await;
    cluster.stable_on(&v2).await;
    let replicas = cluster.replicas().await;
    assert!(
        replicas.contains(&(v2, 3)) && replicas.contains(&(v1, 0)),
        "{replicas:?}"
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_error_rate_goes_bad_is_rolled_back_and_says_why() {
    let (exporter, target) = Exporter::start().await;
    let prometheus = Prometheus::start(target).await;
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    cluster
        .rollout(
            4,
            "web:1",
            canary(true, json!([{"setWeight": 50}, {"pause": {}}]), json!({"analysis": error_rate_analysis(&prometheus.url, json!({"startingStep": 1}))})),
        )
        .await;
    let (sink, sink_url) = SinkLog::start().await;
    let operator = start_operator(&cluster, options(None, Some(sink_url))).await;
    cluster.settled().await;
    let v1 = cluster.revision().await;
    let v2 = cluster.revision_for("web:2").await;
    exporter.error_rates(&[(&v2, 0.5)]);
    cluster.ship("web:2").await;
    let failed = cluster
        .status_until("the rollback", LIMIT, |s| s.phase == Some(Phase::Failed))
        .await;
    let why = failed
        .conditions
        .iter()
        .find(|c| c.reason == "AnalysisFailed")
        .unwrap_or_else(|| panic!("{:?}", failed.conditions));
    assert_eq!(why.status, ConditionStatus::False);
    assert!(
        why.message.contains("error-rate")
            && why.message.contains("0.5")
            && why.message.contains("0.05"),
        "names metric, value and bound: {}",
        why.message
    );
    cluster.weights_become(100, 0).await;
    assert_eq!(cluster.selects("web-stable").await, Some(v1.clone()));
    cluster.replicas_become(&[(&v2, 0), (&v1, 4)]).await;
    let reasons = cluster.event_reasons().await;
    assert!(reasons.iter().any(|r| r == "AnalysisFailed"), "{reasons:?}");
    // The rollback is announced, and the event is valid CDEvents.
    let rolledback = eventually("the rolledback CDEvent", LIMIT, || async {
        let events = sink.events();
        events
            .iter()
            .find(|e| {
                e["type"]
                    .as_str()
                    .is_some_and(|t| t.contains(".rolledback."))
            })
            .cloned()
            .ok_or_else(|| format!("{:?}", sink.types()))
    })
    .await;
    if let Err(errors) = validate_cdevent(&rolledback) {
        panic!("{rolledback:#}\n{errors:#?}");
    }
    operator.stop().await;
}
