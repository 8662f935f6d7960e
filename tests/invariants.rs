//! The invariant checker catches what it is meant to catch.

mod support;

use kulta::effect::{BackendWeight, Effect, RouteRef};
use kulta::sim::check_invariants;
use support::*;

fn paused_canary() -> kulta::sim::Sim {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    sim
}

fn route(stable: i32, canary: i32) -> Effect {
    Effect::SetRouteWeights {
        route: RouteRef {
            name: ROUTE.into(),
            namespace: "shop".into(),
        },
        stable: BackendWeight {
            service: STABLE_SVC.into(),
            weight: stable,
        },
        canary: BackendWeight {
            service: CANARY_SVC.into(),
            weight: canary,
        },
    }
}

#[test]
fn weights_that_do_not_sum_to_one_hundred_are_caught() {
    let sim = paused_canary();
    let mut record = sim.records.last().unwrap().clone();
    record.effects = vec![route(70, 20)];
    let violation = check_invariants(&record).unwrap_err();
    assert_eq!(violation.invariant, "route weights sum to 100");
}

#[test]
fn traffic_moved_onto_a_revision_without_ready_pods_is_caught() {
    let sim = paused_canary();
    let mut record = sim.records.last().unwrap().clone();
    for rs in &mut record.observations.replica_sets {
        if rs.revision == v2() {
            rs.ready_replicas = 0;
        }
    }
    record.effects = vec![route(50, 50)];
    let violation = check_invariants(&record).unwrap_err();
    assert_eq!(
        violation.invariant,
        "no traffic to a revision without ready pods"
    );
}

#[test]
fn leaving_a_terminal_phase_without_cause_is_caught() {
    let sim = deployed(Spec::canary(vec![set_weight(20)]).build());
    let mut record = sim.records.last().unwrap().clone();
    record.after.phase = Some(kulta::Phase::Progressing);
    let violation = check_invariants(&record).unwrap_err();
    assert_eq!(
        violation.invariant,
        "terminal phases are left only by a new revision or a request"
    );
}

#[test]
fn a_waiting_status_past_its_deadline_is_caught() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    sim.world
        .pods
        .insert(v2(), kulta::sim::PodBehaviour::NeverReady);
    ship_v2(&mut sim);
    let mut record = sim.records.last().unwrap().clone();
    record.observations.now += chrono::TimeDelta::seconds(601);
    let violation = check_invariants(&record).unwrap_err();
    assert_eq!(violation.invariant, "progress deadline enforced");
}

#[test]
fn switching_the_active_service_to_a_revision_without_ready_pods_is_caught() {
    let mut sim = deployed(
        Spec::blue_green()
            .blue_green_with(|bg| bg.auto_promotion_enabled = false)
            .build(),
    );
    ship_v2(&mut sim);
    let mut record = sim.records.last().unwrap().clone();
    record.effects = vec![Effect::PointService {
        service: ACTIVE_SVC.into(),
        revision: v2(),
    }];
    let violation = check_invariants(&record).unwrap_err();
    assert_eq!(
        violation.invariant,
        "no traffic to a revision without ready pods"
    );
}
