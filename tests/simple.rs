//! Simple rolling update behaviour.

mod support;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kulta::MetricValue;
use kulta::effect::CdEventKind;
use kulta::sim::PodBehaviour;
use kulta::status::{ConditionType, Phase};
use support::*;

fn spec(replicas: i32, surge: i32, unavailable: i32) -> kulta::RolloutSpec {
    let mut spec = Spec::simple().replicas(replicas).build();
    if let Some(simple) = spec.strategy.simple.as_mut() {
        simple.max_surge = Some(IntOrString::Int(surge));
        simple.max_unavailable = Some(IntOrString::Int(unavailable));
    }
    spec
}

#[test]
fn rolling_update_stays_within_max_surge_and_max_unavailable_at_every_step() {
    let mut sim = deployed(spec(10, 2, 1));
    ship_v2(&mut sim);
    sim.run_for(600);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(sim.status.stable_revision, Some(v2()));
    for record in &sim.records {
        let obs = &record.observations;
        let total: i32 = obs.replica_sets.iter().map(|rs| rs.replicas).sum();
        let available: i32 = obs
            .replica_sets
            .iter()
            .map(|rs| rs.available_replicas)
            .sum();
        assert!(total <= 12, "surge exceeded at {}: {total}", obs.now);
        if obs.now > at(60) {
            assert!(
                available >= 9,
                "too few available at {}: {available}",
                obs.now
            );
        }
    }
    let upgrades = cdevent_kinds(&sim)
        .iter()
        .filter(|k| **k == CdEventKind::ServiceUpgraded)
        .count();
    assert!(
        upgrades >= 2,
        "each scale-up of the new revision is a progression"
    );
}

#[test]
fn percentages_resolve_like_a_deployment() {
    let mut spec = Spec::simple().replicas(4).build();
    if let Some(simple) = spec.strategy.simple.as_mut() {
        simple.max_surge = Some(IntOrString::String("50%".into()));
        simple.max_unavailable = Some(IntOrString::String("0%".into()));
    }
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        2
    );
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v1())].replicas(),
        4
    );
    sim.run_for(300);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
}

#[test]
fn failed_background_analysis_rolls_back_to_stable() {
    let spec = {
        let base = spec(4, 1, 0);
        Spec(base).background_analysis(error_rate(0.05)).build()
    };
    let mut sim = deployed_with(spec, |key, _| {
        if key.revision == v2() {
            MetricValue::Sample(1.0)
        } else {
            MetricValue::Sample(0.0)
        }
    });
    ship_v2(&mut sim);
    sim.run_for(300);
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        0
    );
    assert_eq!(sim.world.ready_of(&v1()), 4);
    let failed = sim.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(failed.reason, "AnalysisFailed");
}

#[test]
fn new_pods_that_never_become_ready_fail_at_the_progress_deadline() {
    let mut sim = deployed(spec(4, 1, 0));
    sim.world.pods.insert(v2(), PodBehaviour::NeverReady);
    ship_v2(&mut sim);
    sim.run_for(599);
    assert_eq!(sim.status.phase, Some(Phase::Progressing));
    sim.run_for(1);
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    assert_eq!(
        sim.world.ready_of(&v1()),
        4,
        "maxUnavailable 0 kept every old pod"
    );
}
