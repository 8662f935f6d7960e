//! The bearer token for Prometheus, from a Secret or a file, read at every query.

use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use kulta::{Phase, RequestAction};
use kulta_interpreter::cli::control;
use kulta_interpreter::operator::TokenSource;
use serde_json::json;

use crate::support::*;

/// A Prometheus stand-in that answers a healthy sample only to `Bearer <token>`, and keeps
/// every Authorization header it saw.
async fn guarded_prometheus(token: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let wanted = format!("Bearer {token}");
    let address = serve(move |head, _| {
        let given = head
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        kept.lock().unwrap().push(given.clone());
        if head.uri.path() != "/api/v1/query" {
            return (StatusCode::NOT_FOUND, String::new());
        }
        if given != wanted {
            return (StatusCode::UNAUTHORIZED, "unauthorized".into());
        }
        let answer = json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {}, "value": [1.0, "0.01"]}]}});
        (StatusCode::OK, answer.to_string())
    })
    .await;
    (format!("http://{address}"), seen)
}

async fn analysed_canary(cluster: &Cluster, prometheus: &str) {
    cluster.canary_services(false).await;
    cluster
        .rollout(
            2,
            "web:1",
            canary(
                false,
                json!([{"setWeight": 50},
                          {"analysis": error_rate_analysis(prometheus, json!({"count": 2, "inconclusiveLimit": 1}))}]),
                json!({}),
            ),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_comes_from_a_secret_and_a_wrong_one_is_reported_as_forbidden() {
    let (prometheus, seen) = guarded_prometheus("s3cret").await;
    let cluster = Cluster::start().await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), NS);
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "prometheus"},
        "data": {"token": "d3JvbmcK"}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    analysed_canary(&cluster, &prometheus).await;
    let mut options = options(None, None);
    options.settings.prometheus_token = Some(TokenSource::Secret {
        namespace: NS.into(),
        name: "prometheus".into(),
        key: "token".into(),
    });
    let operator = start_operator(&cluster, options).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    // Refused queries are inconclusive, never a success: the analysis pauses for a person, and
    // both the Event and the pause message say what Prometheus answered.
    let refused = cluster
        .status_until("the analysis paused", LIMIT, |s| {
            s.phase == Some(Phase::Paused)
        })
        .await;
    let message = refused.message.unwrap_or_default();
    assert!(message.contains("401"), "{message}");
    cluster.event_recorded("Forbidden").await;
    // Rotate the Secret: the next query uses the new token.
    let rotated = json!({"data": {"token": "czNjcmV0"}});
    secrets
        .patch(
            "prometheus",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&rotated),
        )
        .await
        .unwrap();
    control::request(cluster.client.clone(), NS, "web", RequestAction::Resume)
        .await
        .unwrap();
    cluster.stable_on(&v2).await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&"Bearer wrong".to_string()),
        "trimmed: {seen:?}"
    );
    assert!(seen.contains(&"Bearer s3cret".to_string()), "{seen:?}");
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_comes_from_a_file() {
    let (prometheus, seen) = guarded_prometheus("from-file").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "from-file\n").unwrap();
    let cluster = Cluster::start().await;
    analysed_canary(&cluster, &prometheus).await;
    let traces = tempfile::tempdir().unwrap();
    let mut options = options(Some(traces.path()), None);
    options.settings.prometheus_token = Some(TokenSource::File(path));
    let operator = start_operator(&cluster, options).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    let done = cluster.stable_on(&v2).await;
    assert!(seen.lock().unwrap().iter().all(|h| h == "Bearer from-file"));
    // The token appears nowhere KULTA writes: not in the trace, the status or any Event.
    for entry in std::fs::read_dir(traces.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.is_empty());
        assert!(!text.contains("from-file"), "the token leaked into a trace");
    }
    let status = serde_json::to_string(&done).unwrap();
    assert!(
        !status.contains("from-file"),
        "the token leaked into the status"
    );
    for event in cluster.events().await {
        let text = serde_json::to_string(&event).unwrap();
        assert!(
            !text.contains("from-file"),
            "the token leaked into an Event: {text}"
        );
    }
    operator.stop().await;
}
