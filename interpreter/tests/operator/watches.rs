//! A change to an object a Rollout names (its Services, its route) wakes that Rollout at once:
//! the operator puts back what someone else changed without waiting for the resync.

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use kulta::Phase;
use serde_json::json;

use crate::support::*;

/// Well under the resync (a minute here): only the watch can have woken the Rollout.
const PROMPTLY: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_or_route_changed_by_someone_else_is_put_back_at_once() {
    let cluster = paused_canary_cluster().await;
    let mut options = options(None, None);
    options.settings.resync = Duration::from_secs(60);
    let operator = start_operator(&cluster, options).await;
    cluster.settled().await;
    let v1 = cluster.revision().await;
    let v2 = cluster.ship("web:2").await;
    cluster
        .status_until("the canary paused at 50%", LIMIT, |s| {
            s.phase == Some(Phase::Paused) && s.current_weight == 50
        })
        .await;
    cluster.weights_become(50, 50).await;
    assert_eq!(cluster.selects("web-canary").await, Some(v2.clone()));

    // Someone points the canary Service at stable's pods.
    let selector = json!({"spec": {"selector": {kulta::POD_TEMPLATE_HASH_LABEL: v1}}});
    let started = Instant::now();
    cluster
        .services()
        .patch(
            "web-canary",
            &PatchParams::default(),
            &Patch::Merge(&selector),
        )
        .await
        .unwrap();
    eventually("the canary Service put back", PROMPTLY, || async {
        let selected = cluster.selects("web-canary").await;
        if selected == Some(v2.clone()) {
            Ok(())
        } else {
            Err(format!("it selects {selected:?}"))
        }
    })
    .await;
    eprintln!("Service put back in {:?}", started.elapsed());

    // Someone sends all traffic to stable by hand.
    let mut route = cluster.routes().get("web").await.unwrap();
    let rules = route.spec.rules.as_mut().unwrap();
    for backend in rules[0].backend_refs.as_mut().unwrap() {
        backend.weight = Some(if backend.name == "web-stable" { 100 } else { 0 });
    }
    route.metadata.managed_fields = None;
    let started = Instant::now();
    cluster
        .routes()
        .replace("web", &Default::default(), &route)
        .await
        .unwrap();
    eventually("the route's weights put back", PROMPTLY, || async {
        let weights = cluster.weights().await.0;
        if weights == (Some(50), Some(50)) {
            Ok(())
        } else {
            Err(format!("weights {weights:?}"))
        }
    })
    .await;
    eprintln!("route put back in {:?}", started.elapsed());
    operator.stop().await;
}
