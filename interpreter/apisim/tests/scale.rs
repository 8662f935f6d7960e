//! The simulator holds 10,000 Rollouts and 20,000 ReplicaSets and serves full lists of them.
//! (Timings are measured by `examples/scale.rs`; see BENCHMARKS.md.)

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client, CustomResourceExt};
use kulta::Rollout;
use kulta_apisim::ApiSim;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rollouts_and_twenty_thousand_replica_sets_list_in_full() {
    let sim = ApiSim::start().await.unwrap();
    {
        let store = sim.store();
        let mut store = store.lock().unwrap();
        let crds = store
            .resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap();
        store
            .create(&crds, "", serde_json::to_value(Rollout::crd()).unwrap())
            .unwrap();
        let rollouts = store.resource("kulta.io", "v1alpha1", "rollouts").unwrap();
        let sets = store.resource("apps", "v1", "replicasets").unwrap();
        for i in 0..10_000 {
            let rollout = json!({"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "metadata": {"name": format!("app-{i}")},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": format!("a:{i}")}]}},
                    "strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {}}]}}}});
            store.create(&rollouts, "default", rollout).unwrap();
        }
        for i in 0..20_000 {
            let set = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": format!("app-{i}")},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": "a:1"}]}}}});
            store.create(&sets, "default", set).unwrap();
        }
    }
    let client = Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let rollouts: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &kube::api::ApiResource::erase::<Rollout>(&()),
    );
    assert_eq!(
        rollouts
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        10_000
    );
    let sets: Api<ReplicaSet> = Api::all(client);
    assert_eq!(
        sets.list(&ListParams::default()).await.unwrap().items.len(),
        20_000
    );
}
