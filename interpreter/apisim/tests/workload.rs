//! The ReplicaSet workload model: status converges to spec after a delay; per-image behaviour.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kulta_apisim::ApiSim;
use kulta_apisim::workload::ImageBehaviour;
use serde_json::json;

async fn sets(sim: &ApiSim) -> Api<ReplicaSet> {
    let client = Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    Api::namespaced(client, "default")
}

fn replica_set(name: &str, image: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}}
    }))
    .unwrap()
}

/// Ready replicas once the model has had time to act (bounded: two seconds at most).
async fn ready_after_settling(api: &Api<ReplicaSet>, name: &str, want: i32) -> i32 {
    let mut ready = -1;
    for _ in 0..100 {
        let status = api
            .get_status(name)
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        ready = status.ready_replicas.unwrap_or(0);
        if ready == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ready
}

#[tokio::test]
async fn status_converges_to_spec_after_the_ready_delay() {
    let sim = ApiSim::start().await.unwrap();
    sim.set_ready_after(Duration::from_millis(300));
    let api = sets(&sim).await;
    api.create(&PostParams::default(), &replica_set("web", "web:1", 3))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let early = api
        .get_status("web")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    assert_eq!(
        early.ready_replicas.unwrap_or(0),
        0,
        "not ready before the delay"
    );
    assert_eq!(ready_after_settling(&api, "web", 3).await, 3);
    let status = api.get_status("web").await.unwrap().status.unwrap();
    assert_eq!(
        (
            status.replicas,
            status.available_replicas,
            status.observed_generation
        ),
        (3, Some(3), Some(1))
    );
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    assert_eq!(
        ready_after_settling(&api, "web", 1).await,
        1,
        "scale-down is immediate"
    );
    let status = api.get_status("web").await.unwrap().status.unwrap();
    assert_eq!(status.observed_generation, Some(2));
}

#[tokio::test]
async fn pods_of_a_never_ready_image_stay_unready() {
    let sim = ApiSim::start().await.unwrap();
    sim.set_ready_after(Duration::from_millis(50));
    sim.set_image_behaviour("web:broken", ImageBehaviour::NeverReady);
    let api = sets(&sim).await;
    api.create(&PostParams::default(), &replica_set("web", "web:broken", 2))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = api.get_status("web").await.unwrap().status.unwrap();
    assert_eq!(
        (status.replicas, status.ready_replicas.unwrap_or(0)),
        (2, 0)
    );
}

#[tokio::test]
async fn pods_of_a_crashing_image_become_ready_then_unready() {
    let sim = ApiSim::start().await.unwrap();
    sim.set_ready_after(Duration::from_millis(50));
    sim.set_image_behaviour(
        "web:leaky",
        ImageBehaviour::CrashAfter(Duration::from_millis(400)),
    );
    let api = sets(&sim).await;
    api.create(&PostParams::default(), &replica_set("web", "web:leaky", 2))
        .await
        .unwrap();
    assert_eq!(ready_after_settling(&api, "web", 2).await, 2);
    assert_eq!(ready_after_settling(&api, "web", 0).await, 0);
}
