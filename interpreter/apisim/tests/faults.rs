//! Fault injection and request accounting, seen through the kube-rs client.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams, PostParams, WatchParams};
use kube::{Api, Client, ResourceExt};
use kulta_apisim::ApiSim;
use kulta_apisim::faults::{Fault, FaultRule, Verb};
use serde_json::json;

async fn services(sim: &ApiSim) -> Api<Service> {
    let client = Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    Api::namespaced(client, "default")
}

fn service(name: &str) -> Service {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}})).unwrap()
}

fn code(error: kube::Error) -> u16 {
    match error {
        kube::Error::Api(status) => status.code,
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_counted_fault_fails_exactly_that_many_requests() {
    let sim = ApiSim::start().await.unwrap();
    let api = services(&sim).await;
    api.create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    sim.inject(FaultRule::new(Some(Verb::Patch), Some("services"), Fault::Fail(500)).times(2));
    let patch = Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}}));
    assert_eq!(
        code(
            api.patch("web", &PatchParams::default(), &patch)
                .await
                .unwrap_err()
        ),
        500
    );
    assert_eq!(
        code(
            api.patch("web", &PatchParams::default(), &patch)
                .await
                .unwrap_err()
        ),
        500
    );
    api.patch("web", &PatchParams::default(), &patch)
        .await
        .unwrap();
    let counts = sim.request_counts();
    assert_eq!(counts[&(Verb::Patch, "services".to_string(), 500)], 2);
    assert_eq!(counts[&(Verb::Patch, "services".to_string(), 200)], 1);
    assert_eq!(counts[&(Verb::Create, "services".to_string(), 201)], 1);
    assert_eq!(sim.writes(), 4);
}

#[tokio::test]
async fn a_share_of_requests_can_be_throttled_or_conflicted() {
    let sim = ApiSim::start().await.unwrap();
    let api = services(&sim).await;
    api.create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    sim.inject(FaultRule::new(Some(Verb::Get), None, Fault::Fail(500)).every(2));
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(api.get("web").await.map(|_| 200).unwrap_or_else(code));
    }
    assert_eq!(outcomes, [200, 500, 200, 500]);
    sim.clear_faults();
    // kube-rs retries throttled requests itself: the caller succeeds, the server saw 429s.
    sim.inject(FaultRule::new(Some(Verb::Get), None, Fault::Fail(429)).every(2));
    for _ in 0..4 {
        api.get("web").await.unwrap();
    }
    let throttled = sim.request_counts()[&(Verb::Get, "services".to_string(), 429)];
    assert!(throttled >= 2, "{throttled}");
    sim.clear_faults();
    sim.inject(FaultRule::new(Some(Verb::Update), Some("services"), Fault::Fail(409)).times(1));
    let current = api.get("web").await.unwrap();
    assert_eq!(
        code(
            api.replace("web", &PostParams::default(), &current)
                .await
                .unwrap_err()
        ),
        409
    );
}

#[tokio::test]
async fn latency_delays_and_a_timeout_outlasts_the_client() {
    let sim = ApiSim::start().await.unwrap();
    let api = services(&sim).await;
    sim.inject(
        FaultRule::new(
            Some(Verb::List),
            None,
            Fault::Latency(Duration::from_millis(300)),
        )
        .times(1),
    );
    let started = Instant::now();
    api.list(&Default::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.inject(
        FaultRule::new(
            Some(Verb::Get),
            None,
            Fault::Timeout(Duration::from_secs(5)),
        )
        .times(1),
    );
    let waited = tokio::time::timeout(Duration::from_millis(500), api.get_opt("web")).await;
    assert!(waited.is_err(), "the client gives up first");
}

#[tokio::test]
async fn cutting_watches_ends_open_streams_and_a_watch_can_resume() {
    let sim = ApiSim::start().await.unwrap();
    let api = services(&sim).await;
    let first = api
        .create(&PostParams::default(), &service("a"))
        .await
        .unwrap();
    let stream = api
        .watch(
            &WatchParams::default().timeout(60),
            &first.resource_version().unwrap(),
        )
        .await
        .unwrap();
    let collected = tokio::spawn(async move { stream.try_collect::<Vec<_>>().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.cut_watches();
    let ended = tokio::time::timeout(Duration::from_secs(5), collected).await;
    assert!(
        ended.is_ok(),
        "the stream ended long before its 60s timeout"
    );
}
