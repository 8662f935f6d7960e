//! Traffic follows what is observed, end to end: the real operator against the API simulator,
//! with route writes refused while a second revision arrives mid-canary. A poller reads the
//! simulator's store (one consistent snapshot each time) and checks that no Service carrying
//! weight ever selects a revision without ready pods.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kulta::Phase;
use kulta_apisim::faults::{Fault, FaultRule, Verb};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_revision_mid_canary_never_sends_traffic_to_unready_pods_while_route_writes_fail()
{
    let cluster = paused_canary_cluster().await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    cluster
        .status_until("the canary paused at 50%", LIMIT, |s| {
            s.phase == Some(Phase::Paused) && s.canary_revision.as_deref() == Some(v2.as_str())
        })
        .await;
    cluster.weights_become(50, 50).await;

    // The poller: every 5 ms until told to stop, at most two minutes.
    let stop = Arc::new(AtomicBool::new(false));
    let store = cluster.sim.store();
    let watching = Arc::clone(&stop);
    let poller = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut looks = 0u32;
        for _ in 0..24_000 {
            if watching.load(Ordering::Relaxed) {
                break;
            }
            looks += 1;
            for problem in stranded(&store, &[]) {
                if !seen.contains(&problem) {
                    seen.push(problem);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (looks, seen)
    });

    // Route writes are refused for ten seconds, starting as the third image arrives.
    for verb in [Verb::Update, Verb::Patch] {
        cluster.sim.inject(FaultRule::new(
            Some(verb),
            Some("httproutes"),
            Fault::Fail(500),
        ));
    }
    let v3 = cluster.ship("web:3").await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = cluster.status().await;
    assert_eq!(
        during.canary_revision.as_deref(),
        Some(v2.as_str()),
        "v3 must not start while the route still sends traffic to v2"
    );
    assert_eq!(cluster.weights().await.0, (Some(50), Some(50)));
    // The canary Service's 50% goes to pods that are ready (v2's, or stable's once the
    // canary Service is handed back), never to v3's.
    assert_ne!(cluster.selects("web-canary").await, Some(v3.clone()));
    cluster.sim.clear_faults();

    cluster
        .status_until("v3 paused at 50%", LIMIT, |s| {
            s.phase == Some(Phase::Paused) && s.canary_revision.as_deref() == Some(v3.as_str())
        })
        .await;
    cluster.weights_become(50, 50).await;
    promote(&cluster).await;
    cluster.stable_on(&v3).await;
    stop.store(true, Ordering::Relaxed);
    let (looks, problems) = poller.await.unwrap();
    assert!(looks > 100, "the poller looked only {looks} times");
    assert!(problems.is_empty(), "after {looks} looks: {problems:#?}");

    // Each distinct message is an Event of its own (kube-runtime's recorder folded them); a
    // decision's transitions are told in one Event, separated by "; ".
    let notes = cluster.event_notes().await;
    for note in [
        "canary weight 0 -> 50",
        "canary weight 50 -> 0",
        "canary weight 50 -> 100",
    ] {
        assert!(
            notes.iter().any(|n| n.split("; ").any(|told| told == note)),
            "{note:?} not in {notes:#?}"
        );
    }
    operator.stop().await;
}
