//! The fault matrix, end to end: the real operator against the API simulator while a share of
//! every API request fails (500, 409, 429, timeouts) and watches are cut.

use std::time::Duration;

use kulta::Phase;
use kulta_apisim::faults::{Fault, FaultRule};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_completes_while_a_share_of_api_requests_fail_and_watches_are_cut() {
    let cluster = paused_canary_cluster().await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    // About 17 % of all requests fail: every 13th a 500, every 17th a 409, every 19th a 429,
    // every 23rd hangs 2 s and then answers 504.
    cluster
        .sim
        .inject(FaultRule::new(None, None, Fault::Fail(500)).every(13));
    cluster
        .sim
        .inject(FaultRule::new(None, None, Fault::Fail(409)).every(17));
    cluster
        .sim
        .inject(FaultRule::new(None, None, Fault::Fail(429)).every(19));
    let hang = Fault::Timeout(Duration::from_secs(2));
    cluster
        .sim
        .inject(FaultRule::new(None, None, hang).every(23));
    let v2 = cluster.ship_despite_faults("web:2").await;
    // The canary comes up while the faults go on and watches are cut every second (bounded:
    // at most 60 s; the test's own reads may fail too and are simply tried again).
    let mut reached = None;
    let rollouts = cluster.rollouts();
    for second in 0..60 {
        cluster.sim.cut_watches();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let read = tokio::time::timeout(Duration::from_secs(3), rollouts.get_status("web"));
        if let Ok(Ok(rollout)) = read.await
            && let Some(status) = rollout.status
            && status.phase == Some(Phase::Paused)
            && status.canary_revision.as_deref() == Some(v2.as_str())
            && status.observed_weight == Some(50)
        {
            reached = Some(second);
            break;
        }
    }
    let reached = reached.expect("the canary reached 50% while a sixth of requests failed");
    cluster.sim.clear_faults();
    let status = cluster.status().await;
    assert_eq!(status.current_weight, 50, "reached after {reached} s");
    cluster.weights_become(50, 50).await;
    promote(&cluster).await;
    cluster.stable_on(&v2).await;
    assert_eq!(cluster.weights().await.0, (Some(100), Some(0)));
    let replicas = cluster.replicas().await;
    assert!(replicas.contains(&(v2.clone(), 4)), "{replicas:?}");
    operator.stop().await;
}
