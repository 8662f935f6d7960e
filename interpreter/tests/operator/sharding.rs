//! Sharding: controllers with different label selectors split the rollouts between them.

use std::time::Duration;

use kulta::Phase;
use serde_json::json;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

async fn phase_of(cluster: &Cluster, name: &str) -> Option<Phase> {
    cluster
        .rollouts()
        .get_status(name)
        .await
        .unwrap()
        .status
        .and_then(|s| s.phase)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_acts_only_on_the_rollouts_its_selector_picks() {
    let cluster = Cluster::start().await;
    let simple = json!({"simple": {"maxSurge": 1, "maxUnavailable": 0}});
    cluster
        .rollout_with("alpha", json!({"shard": "a"}), 1, "alpha:1", simple.clone())
        .await;
    cluster
        .rollout_with("beta", json!({"shard": "b"}), 1, "beta:1", simple)
        .await;
    let mut shard_a = options(None, None);
    shard_a.selector = Some("shard=a".into());
    let a = start_operator(&cluster, shard_a).await;
    eventually("alpha completed by shard a", LIMIT, || async {
        match phase_of(&cluster, "alpha").await {
            Some(Phase::Completed) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(phase_of(&cluster, "beta").await, None, "not shard a's");

    let mut shard_b = options(None, None);
    shard_b.selector = Some("shard=b".into());
    let b = start_operator(&cluster, shard_b).await;
    eventually("beta completed by shard b", LIMIT, || async {
        match phase_of(&cluster, "beta").await {
            Some(Phase::Completed) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    a.stop().await;
    b.stop().await;
}
