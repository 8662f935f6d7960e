//! Canary end to end: traffic over the user's HTTPRoute, gated by a real Prometheus.

use kulta::status::ConditionType;
use serde_json::json;

use crate::support::*;

async fn canary_cluster(prometheus: &str) -> Cluster {
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    cluster
        .rollout(
            4,
            "web:1",
            canary(
                true,
                json!([
                    {"setWeight": 25},
                    {"pause": {"duration": "1s"}},
                    {"analysis": error_rate_analysis(prometheus, json!({"count": 2}))},
                    {"setWeight": 75}
                ]),
                json!({}),
            ),
        )
        .await;
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_gated_by_prometheus_completes_emits_valid_cdevents_and_replays() {
    let (exporter, target) = Exporter::start().await;
    let prometheus = Prometheus::start(target).await;
    let (sink, sink_url) = SinkLog::start().await;
    let record = tempfile::tempdir().unwrap();
    let cluster = canary_cluster(&prometheus.url).await;
    let operator = start_operator(&cluster, options(Some(record.path()), Some(sink_url))).await;
    let v1 = cluster.revision().await;
    cluster.settled().await;
    assert_eq!(cluster.selects("web-stable").await, Some(v1.clone()));

    let v2 = cluster.revision_for("web:2").await;
    exporter.error_rates(&[(&v2, 0.01)]);
    assert_eq!(cluster.ship("web:2").await, v2);
    cluster
        .status_until("the canary at 25%", LIMIT, |s| s.current_weight == 25)
        .await;
    let ((stable, canary), rules) = cluster.weights().await;
    assert_eq!((stable, canary), (Some(75), Some(25)));
    assert_eq!(rules, 2, "the user's other rule is kept");
    let done = cluster.stable_on(&v2).await;
    assert!(done.condition(ConditionType::ReconcileError).is_none());
    assert_eq!(cluster.weights().await.0, (Some(100), Some(0)));
    assert_eq!(cluster.selects("web-stable").await, Some(v2.clone()));
    // The old revision keeps its pods for the scale-down delay after traffic left it.
    cluster.replicas_become(&[(&v2, 4), (&v1, 0)]).await;

    // CDEvents: deployed and published for each revision, upgraded per step; all valid.
    let events = eventually(
        "the sink to receive v2's published event",
        LIMIT,
        || async {
            let types = sink.types();
            if types
                .iter()
                .filter(|t| t.contains("service.published"))
                .count()
                >= 2
            {
                Ok(sink.events())
            } else {
                Err(format!("{types:?}"))
            }
        },
    )
    .await;
    for event in &events {
        if let Err(errors) = validate_cdevent(event) {
            panic!("{event:#}\n{errors:#?}");
        }
        assert_eq!(event["data"]["subject"]["id"], "default/web");
        if !event["type"].as_str().unwrap().contains(".published.") {
            let artifact = event["data"]["subject"]["content"]["artifactId"].as_str();
            assert!(
                artifact.is_some_and(|a| a.starts_with("pkg:oci/web")),
                "{event:#}"
            );
        }
    }
    let types = sink.types();
    assert!(
        types
            .iter()
            .any(|t| t.starts_with("dev.cdevents.service.upgraded.")),
        "{types:?}"
    );

    // Metrics: phase, weight, reconcile histogram, effects, analysis, leader.
    let metrics = reqwest::get(format!("http://{}/metrics", operator.health.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for wanted in [
        "kulta_rollout_info{namespace=\"default\",rollout=\"web\",phase=\"Completed\"} 1",
        "kulta_reconcile_duration_seconds_count",
        "kulta_effects_total{kind=\"replicaset\",outcome=\"ok\"}",
        "kulta_effects_total{kind=\"route\",outcome=\"ok\"}",
        "kulta_analysis_measurements_total{metric=\"error-rate\",outcome=\"success\"}",
        "kulta_leader 1",
    ] {
        assert!(metrics.contains(wanted), "{wanted} missing from\n{metrics}");
    }
    // One series per rollout for its state; its weight only while it ships.
    let web = "rollout=\"web\"";
    assert_eq!(
        metrics
            .lines()
            .filter(|l| l.starts_with("kulta_rollout_info") && l.contains(web))
            .count(),
        1,
        "{metrics}"
    );
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("kulta_rollout_weight{") && l.contains(web)),
        "a completed rollout keeps no weight series: {metrics}"
    );
    let ready = reqwest::get(format!("http://{}/readyz", operator.health.unwrap()))
        .await
        .unwrap();
    assert!(ready.status().is_success());
    operator.stop().await;

    // The recorded trace replays with every decision identical.
    let trace = record.path().join("default.web.jsonl");
    let replay = std::process::Command::new(env!("CARGO_BIN_EXE_kulta"))
        .args(["replay", "--verify", "--quiet"])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&replay.stdout),
        String::from_utf8_lossy(&replay.stderr)
    );
    drop(prometheus);
}
