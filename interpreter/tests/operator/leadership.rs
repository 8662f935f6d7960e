//! Two operators, one Lease: only the leader writes; when it dies the standby takes over
//! within the lease duration and finishes the rollout.

use std::time::{Duration, Instant};

use kulta_interpreter::operator::Running;
use serde_json::json;

use crate::support::*;

/// Wait until `operator` acts (or stops acting) as leader.
async fn acting_becomes(operator: &Running, acting: bool, what: &str, limit: Duration) {
    eventually(what, limit, || async {
        if operator.leader.acting() == acting {
            Ok(())
        } else {
            Err(format!("acting is still {}", !acting))
        }
    })
    .await;
}

async fn scrape(operator: &Running) -> String {
    reqwest::get(format!("http://{}/metrics", operator.health.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_standby_takes_over_when_it_dies() {
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    cluster
        .rollout(
            4,
            "web:1",
            canary(
                true,
                json!([{"setWeight": 25}, {"pause": {"duration": "2s"}},
                          {"setWeight": 50}, {"pause": {"duration": "2s"}}]),
                json!({}),
            ),
        )
        .await;
    let with_lease = |identity: &str| {
        let mut options = options(None, None);
        options.lease = Some(lease(identity));
        options
    };
    let first = start_operator(&cluster, with_lease("first")).await;
    acting_becomes(&first, true, "the first to lead", LIMIT).await;
    let second = start_operator(&cluster, with_lease("second")).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    cluster
        .status_until("the canary at 25%", LIMIT, |s| s.current_weight == 25)
        .await;

    assert!(!second.leader.acting());
    let standby = scrape(&second).await;
    assert!(standby.contains("kulta_leader 0"), "{standby}");
    assert!(
        !standby.contains("kulta_effects_total{"),
        "the standby executed effects:\n{standby}"
    );
    assert!(
        scrape(&first)
            .await
            .contains("kulta_effects_total{kind=\"route\",outcome=\"ok\"}")
    );

    let killed = Instant::now();
    first.kill();
    acting_becomes(
        &second,
        true,
        "the standby to take over",
        Duration::from_secs(10),
    )
    .await;
    let handover = killed.elapsed();
    eprintln!("handover took {handover:?}");
    assert!(
        handover <= Duration::from_secs(3) + Duration::from_millis(900),
        "took {handover:?}; the lease lasts 3 s and standbys retry every 300 ms"
    );
    cluster.stable_on(&v2).await;
    assert_eq!(cluster.weights().await.0, (Some(100), Some(0)));
    assert!(scrape(&second).await.contains("kulta_leader 1"));
    second.stop().await;
    // A graceful stop hands the lease back at once.
    let lease: k8s_openapi::api::coordination::v1::Lease =
        kube::Api::namespaced(cluster.client.clone(), NS)
            .get("kulta-controller")
            .await
            .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_acting_within_the_renew_deadline() {
    use kulta_apisim::faults::{Fault, FaultRule, Verb};
    let cluster = Cluster::start().await;
    let mut options = options(None, None);
    options.lease = Some(lease("lonely"));
    let operator = start_operator(&cluster, options).await;
    acting_becomes(&operator, true, "it leads", LIMIT).await;
    cluster.sim.inject(FaultRule::new(
        Some(Verb::Update),
        Some("leases"),
        Fault::Fail(500),
    ));
    let refused = Instant::now();
    acting_becomes(&operator, false, "it stops acting", Duration::from_secs(5)).await;
    let stopped = refused.elapsed();
    assert!(
        stopped <= Duration::from_secs(2) + Duration::from_millis(400),
        "renew deadline 2 s, stopped after {stopped:?}"
    );
    cluster.sim.clear_faults();
    acting_becomes(&operator, true, "it leads again", LIMIT).await;
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_timings_that_could_elect_two_leaders_are_refused_at_start() {
    let cluster = Cluster::start().await;
    let mut settings = lease("a");
    settings.config.renew_deadline = settings.config.lease_duration;
    let mut options = options(None, None);
    options.lease = Some(settings);
    let error = match kulta_interpreter::operator::start(cluster.client.clone(), options).await {
        Ok(_) => panic!("an operator started with a renew deadline equal to the lease duration"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("renew deadline (3s) must be shorter than the lease duration (3s)"),
        "{error}"
    );
}
