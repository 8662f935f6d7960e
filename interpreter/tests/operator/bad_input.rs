//! Bad input: what is wrong shows up as a condition and an Event, the operator retries with
//! backoff, and nothing panics or is lost.

use hyper::StatusCode;
use kube::ResourceExt;
use kulta::Phase;
use kulta::status::{ConditionStatus, ConditionType, RolloutStatus};
use kulta_apisim::faults::{Fault, FaultRule, Verb};
use serde_json::json;

use crate::support::*;

fn reconcile_error(status: &RolloutStatus) -> Option<(String, String)> {
    status
        .condition(ConditionType::ReconcileError)
        .filter(|c| c.status == ConditionStatus::True)
        .map(|c| (c.reason.clone(), c.message.clone()))
}

async fn half_canary(cluster: &Cluster, analysis: Option<serde_json::Value>) {
    let mut steps = vec![json!({"setWeight": 50})];
    if let Some(analysis) = analysis {
        steps.push(json!({"analysis": analysis}));
    }
    cluster
        .rollout(2, "web:1", canary(true, json!(steps), json!({})))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_canary_service_is_named_until_it_appears() {
    let cluster = Cluster::start().await;
    cluster.service("web-stable").await;
    cluster.route("web").await;
    half_canary(&cluster, None).await;
    let operator = start_operator(&cluster, options(None, None)).await;
    let status = cluster
        .status_until("the missing Service reported", LIMIT, |s| {
            reconcile_error(s).is_some_and(|(reason, message)| {
                reason == "TargetNotFound" && message.contains("Service web-canary")
            })
        })
        .await;
    assert_eq!(
        status.stable_revision,
        Some(cluster.revision().await),
        "state kept"
    );
    cluster.event_recorded("TargetNotFound").await;
    cluster.service("web-canary").await;
    let done = cluster
        .status_until("recovery", LIMIT, |s| {
            s.phase == Some(Phase::Completed) && reconcile_error(s).is_none()
        })
        .await;
    assert!(done.condition(ConditionType::ReconcileError).is_none());
    cluster.event_recorded("ReconcileRecovered").await;
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_httproute_holds_traffic_and_is_named_until_it_appears() {
    let cluster = Cluster::start().await;
    cluster.canary_services(false).await;
    half_canary(&cluster, None).await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster
        .status_until("the missing route reported", LIMIT, |s| {
            reconcile_error(s).is_some_and(|(reason, message)| {
                reason == "TargetNotFound" && message.contains("HTTPRoute default/web")
            })
        })
        .await;
    cluster.route("web").await;
    cluster
        .status_until("v1 stable once the route exists", LIMIT, |s| {
            s.phase == Some(Phase::Completed) && reconcile_error(s).is_none()
        })
        .await;
    let v2 = cluster.ship("web:2").await;
    cluster.stable_on(&v2).await;
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_writes_and_reads_are_reported_and_retried_until_allowed() {
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    // RBAC-style: the controller may not create ReplicaSets.
    cluster.sim.inject(FaultRule::new(
        Some(Verb::Create),
        Some("replicasets"),
        Fault::Fail(403),
    ));
    half_canary(&cluster, None).await;
    let operator = start_operator(&cluster, options(None, None)).await;
    let status = cluster
        .status_until("the refused create reported", LIMIT, |s| {
            reconcile_error(s).is_some_and(|(reason, _)| reason == "Forbidden")
        })
        .await;
    let (_, message) = reconcile_error(&status).unwrap();
    assert!(message.starts_with("ReplicaSet web-"), "{message}");
    cluster.event_recorded("Forbidden").await;
    cluster.sim.clear_faults();
    cluster
        .status_until("v1 stable once allowed", LIMIT, |s| {
            s.phase == Some(Phase::Completed) && reconcile_error(s).is_none()
        })
        .await;

    // Reads refused: nothing can be decided, so nothing is written; an Event says why. (The
    // route is read at every reconcile; Services and the Rollout come from watch-fed caches.)
    cluster.sim.inject(FaultRule::new(
        Some(Verb::Get),
        Some("httproutes"),
        Fault::Fail(403),
    ));
    let v2 = cluster.ship("web:2").await;
    eventually("the refused list counted", LIMIT, || async {
        let metrics = reqwest::get(format!("http://{}/metrics", operator.health.unwrap()))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if metrics.contains("kulta_reconcile_errors_total{error=\"kube\"}") {
            Ok(())
        } else {
            Err(metrics)
        }
    })
    .await;
    let held = cluster.status().await;
    assert_eq!(
        held.phase,
        Some(Phase::Completed),
        "no decision without observations"
    );
    assert_ne!(held.stable_revision.as_deref(), Some(v2.as_str()));
    cluster.sim.clear_faults();
    cluster.stable_on(&v2).await;
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_prometheus_is_named_and_the_analysis_pauses_for_a_person() {
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    let nobody = "http://127.0.0.1:1";
    half_canary(
        &cluster,
        Some(error_rate_analysis(
            nobody,
            json!({"count": 2, "inconclusiveLimit": 1}),
        )),
    )
    .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    cluster.ship("web:2").await;
    let paused = cluster
        .status_until("the analysis paused as inconclusive", LIMIT, |s| {
            s.phase == Some(Phase::Paused)
        })
        .await;
    let message = paused.message.clone().unwrap_or_default();
    assert!(
        message.contains("error-rate") && message.contains("Connection refused"),
        "names the metric and the error: {message}"
    );
    assert_eq!(paused.current_weight, 50, "never promoted on no data");
    // The failed query was also reported as it happened.
    cluster.event_recorded("Unreachable").await;
    let why = paused.condition(ConditionType::Paused).unwrap();
    assert_eq!(why.reason, "AnalysisInconclusive");
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cdevents_sink_is_named_but_never_holds_the_rollout_up() {
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    half_canary(&cluster, None).await;
    let sink = "http://127.0.0.1:1/events".to_string();
    let operator = start_operator(&cluster, options(None, Some(sink))).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    let status = cluster
        .status_until("v2 stable with the sink reported", LIMIT, |s| {
            s.stable_revision.as_deref() == Some(v2.as_str())
                && reconcile_error(s).is_some_and(|(reason, message)| {
                    reason == "Unreachable" && message.contains("CDEvents sink http://127.0.0.1:1")
                })
        })
        .await;
    assert_eq!(status.phase, Some(Phase::Completed));
    // Every event given up on is counted.
    cdevents_dropped_reach(&operator, 1.0).await;
    operator.stop().await;
}

/// A stopping controller delivers what is queued for the sink before it exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_controller_delivers_the_queued_cdevents() {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = std::sync::Arc::clone(&received);
    // A slow sink: each delivery takes 300 ms, so events queue up behind each other.
    let sink = serve(move |_, body| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        if let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) {
            log.lock()
                .unwrap()
                .push(event["id"].as_str().unwrap_or_default().to_string());
        }
        (StatusCode::ACCEPTED, String::new())
    })
    .await;
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    half_canary(&cluster, None).await;
    let operator = start_operator(
        &cluster,
        options(None, Some(format!("http://{sink}/events"))),
    )
    .await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    cluster.stable_on(&v2).await;
    // deployed + published for v1, deployed + upgraded + published for v2.
    operator.stop().await;
    let got = received.lock().unwrap().len();
    assert!(
        got >= 5,
        "{got} CDEvents delivered before the controller stopped"
    );
}

/// A Prometheus that answers each query with something no measurement is: huge, infinite,
/// a matrix, a string, garbage. None of it may promote the canary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_prometheus_never_promotes_the_canary() {
    let answers = [
        // 2 MiB of one sample's labels: refused unread, past the answer cap.
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"x":"{}"}},"value":[1,"0.01"]}}]}}}}"#,
            "a".repeat(2 * 1024 * 1024)
        ),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"-Inf"]}]}}"#.to_string(),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1e999"]}]}}"#.to_string(),
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"0.01"]]}]}}"#.to_string(),
        r#"{"status":"success","data":{"resultType":"string","result":[1,"0.01"]}}"#.to_string(),
        "<html>not prometheus</html>".to_string(),
    ];
    for (index, answer) in answers.into_iter().enumerate() {
        let cluster = Cluster::start().await;
        cluster.canary_services(true).await;
        let address = serve(move |_, _| (StatusCode::OK, answer.clone())).await;
        half_canary(
            &cluster,
            Some(error_rate_analysis(
                &format!("http://{address}"),
                json!({"inconclusiveLimit": 1}),
            )),
        )
        .await;
        let operator = start_operator(&cluster, options(None, None)).await;
        cluster.settled().await;
        cluster.ship("web:2").await;
        let paused = cluster
            .status_until(
                &format!("answer #{index} paused as inconclusive"),
                LIMIT,
                |s| s.phase == Some(Phase::Paused),
            )
            .await;
        let why = paused.condition(ConditionType::Paused).unwrap();
        assert_eq!(why.reason, "AnalysisInconclusive", "answer #{index}");
        assert_eq!(paused.current_weight, 50, "answer #{index} never promotes");
        if index == 0 {
            let message = paused.message.clone().unwrap_or_default();
            assert!(message.contains("larger than 256 KiB"), "{message}");
        }
        operator.stop().await;
    }
}

/// A Prometheus that accepts connections and never answers. Queries run beside the reconciles,
/// each under its own timeout: an abort is carried out at once, not after the queries give up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_prometheus_never_delays_an_abort() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hanging = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: at most 1,000 connections, each held open until the test ends.
        for _ in 0..1_000 {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            held.push(stream);
        }
    });
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    let mut analysis = error_rate_analysis(&format!("http://{address}"), json!({}));
    let metric = analysis["metrics"][0].clone();
    analysis["metrics"] = json!([metric.clone(), metric.clone(), metric]);
    for (index, name) in ["errors-a", "errors-b", "errors-c"].into_iter().enumerate() {
        analysis["metrics"][index]["name"] = json!(name);
    }
    cluster
        .rollout(
            2,
            "web:1",
            canary(
                true,
                json!([{"setWeight": 50}, {"pause": {}}]),
                json!({"analysis": analysis}),
            ),
        )
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    cluster
        .status_until("the canary at 50% and measuring", LIMIT, |s| {
            s.current_weight == 50
                && s.canary_revision.as_deref() == Some(v2.as_str())
                && s.background_analysis
                    .as_ref()
                    .is_some_and(|run| run.round > 0)
        })
        .await;
    let asked = std::time::Instant::now();
    kulta_interpreter::cli::control::request(
        cluster.client.clone(),
        NS,
        "web",
        kulta::RequestAction::Abort,
    )
    .await
    .unwrap();
    cluster
        .status_until("the abort", LIMIT, |s| s.phase == Some(Phase::Failed))
        .await;
    let took = asked.elapsed();
    // Three queries hang for the 3 s effect timeout each; the abort waits for none of them.
    assert!(
        took < std::time::Duration::from_secs(2),
        "the abort took {took:?}"
    );
    cluster.weights_become(100, 0).await;
    operator.stop().await;
    hanging.abort();
}

/// The template `web:2` and the revision it hashes to before any collision.
async fn next_template(cluster: &Cluster) -> (k8s_openapi::api::core::v1::PodTemplateSpec, String) {
    let mut next = cluster.rollouts().get("web").await.unwrap().spec.template;
    if let Some(spec) = next.spec.as_mut() {
        spec.containers[0].image = Some("web:2".into());
    }
    let revision = kulta::pod_template_hash(&next);
    (next, revision)
}

/// The image of the pods of the ReplicaSet `name`.
async fn image_of(cluster: &Cluster, name: &str) -> Option<String> {
    let rs = cluster.replica_sets().get(name).await.unwrap();
    rs.spec?.template?.spec?.containers.first()?.image.clone()
}

/// A ReplicaSet that squats the name of the next revision's (not owned by the Rollout) is
/// never adopted: the collision count goes up, the revision ships under a new name, an Event
/// says so, and the squatter is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_replica_set_with_the_revisions_name_is_never_adopted_and_the_revision_renamed() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use kube::api::PostParams;
    let cluster = Cluster::start().await;
    cluster.rollout(2, "web:1", json!({"simple": {}})).await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let (next, v2) = next_template(&cluster).await;
    let name = kulta::replica_set_name("web", &v2);
    let squatter: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "other"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "other"}},
                 "template": {"metadata": {"labels": {"app": "other"}},
                              "spec": {"containers": [{"name": "other", "image": "other:1"}]}}}
    }))
    .unwrap();
    cluster
        .replica_sets()
        .create(&PostParams::default(), &squatter)
        .await
        .unwrap();
    assert_eq!(cluster.ship("web:2").await, v2);
    let renamed = kulta::template_revision(&next, 1);
    let status = cluster.stable_on(&renamed).await;
    assert_eq!(status.collision_count, 1);
    cluster.event_recorded("RevisionNameCollision").await;
    let notes = cluster.event_notes().await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains(&name) && n.contains(&renamed)),
        "{notes:?}"
    );
    let ours = kulta::replica_set_name("web", &renamed);
    assert_eq!(image_of(&cluster, &ours).await.as_deref(), Some("web:2"));
    let kept = cluster.replica_sets().get(&name).await.unwrap();
    assert_eq!(kept.labels().get("app").map(String::as_str), Some("other"));
    assert!(kept.owner_references().is_empty(), "not adopted");
    assert_eq!(kept.spec.unwrap().replicas, Some(1), "left as it was");
    operator.stop().await;
}

/// A crafted collision: the Rollout's own ReplicaSet under the next revision's name holds
/// another pod template (its short hash collides). The template digest tells them apart: the
/// new template ships under a renamed revision instead of being taken for the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_replica_set_of_another_template_under_the_revisions_name_is_not_taken_for_it() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use kube::api::PostParams;
    let cluster = Cluster::start().await;
    cluster.rollout(2, "web:1", json!({"simple": {}})).await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let rollout = cluster.rollouts().get("web").await.unwrap();
    let uid = rollout.metadata.uid.clone().unwrap();
    let (next, v2) = next_template(&cluster).await;
    let name = kulta::replica_set_name("web", &v2);
    let impostor: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": name, "namespace": NS,
            "labels": {"app": "web", kulta::POD_TEMPLATE_HASH_LABEL: v2},
            "annotations": {kulta::POD_TEMPLATE_DIGEST_ANNOTATION: "0".repeat(32)},
            "ownerReferences": [{"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
                                 "name": "web", "uid": uid, "controller": true}]
        },
        "spec": {"replicas": 2,
                 "selector": {"matchLabels": {"app": "web", kulta::POD_TEMPLATE_HASH_LABEL: v2}},
                 "template": {"metadata": {"labels": {"app": "web", kulta::POD_TEMPLATE_HASH_LABEL: v2}},
                              "spec": {"containers": [{"name": "web", "image": "web:evil"}]}}}
    }))
    .unwrap();
    cluster
        .replica_sets()
        .create(&PostParams::default(), &impostor)
        .await
        .unwrap();
    assert_eq!(cluster.ship("web:2").await, v2);
    let renamed = kulta::template_revision(&next, 1);
    let status = cluster.stable_on(&renamed).await;
    assert_eq!(status.collision_count, 1);
    let ours = kulta::replica_set_name("web", &renamed);
    assert_eq!(image_of(&cluster, &ours).await.as_deref(), Some("web:2"));
    cluster.replicas_become(&[(&renamed, 2), (&v2, 0)]).await;
    cluster.event_recorded("RevisionNameCollision").await;
    operator.stop().await;
}

/// `--cdevents-retry-for`: retries stop at the horizon, however many attempts that leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdevent_retries_stop_at_their_horizon() {
    let cluster = Cluster::start().await;
    let mut options = options(None, Some("http://127.0.0.1:1/events".into()));
    options.sink_retry.attempts = u32::MAX;
    options.sink_retry.horizon = Some(std::time::Duration::from_millis(600));
    let operator = start_operator(&cluster, options).await;
    cluster.rollout(1, "web:1", json!({"simple": {}})).await;
    cluster.settled().await;
    // The first revision owes two events; each is given up on after about 0.6 s.
    cdevents_dropped_reach(&operator, 2.0).await;
    operator.stop().await;
}

/// Wait until `kulta_cdevents_dropped_total` reaches `at_least`.
async fn cdevents_dropped_reach(operator: &kulta_interpreter::operator::Running, at_least: f64) {
    let metrics = format!("http://{}/metrics", operator.health.unwrap());
    eventually("the dropped CDEvents counted", LIMIT, || async {
        let text = metrics_text(&metrics).await?;
        let dropped = text
            .lines()
            .find_map(|line| line.strip_prefix("kulta_cdevents_dropped_total "))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if dropped >= at_least {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;
}
