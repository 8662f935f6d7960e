//! Canary behaviour, one test per behaviour.

mod support;

use kulta::effect::{CdEventKind, Effect, EventType};
use kulta::sim::PodBehaviour;
use kulta::status::{ConditionStatus, ConditionType, Phase};
use kulta::{MetricValue, RequestAction};
use support::*;

#[test]
fn first_revision_goes_straight_to_full_scale_and_completed() {
    let sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    assert_eq!(sim.status.stable_revision, Some(v1()));
    assert_eq!(sim.status.canary_revision, None);
    assert_eq!(sim.world.ready_of(&v1()), 4);
    assert_eq!(sim.world.services.get(STABLE_SVC), Some(&Some(v1())));
    assert_eq!(sim.world.services.get(CANARY_SVC), Some(&Some(v1())));
    assert_eq!(sim.world.weight_of(STABLE_SVC), Some(100));
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    assert_eq!(
        cdevent_kinds(&sim),
        vec![CdEventKind::ServiceDeployed, CdEventKind::ServicePublished]
    );
}

#[test]
fn set_weight_scales_canary_first_and_moves_traffic_only_once_it_is_ready() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    ship_v2(&mut sim);
    assert_eq!(sim.status.phase, Some(Phase::Progressing));
    assert_eq!(sim.status.canary_revision, Some(v2()));
    let canary = sim
        .world
        .replica_sets
        .get(&format!("web-{}", v2()))
        .unwrap();
    assert_eq!(canary.replicas(), 1, "ceil(4 * 20%) = 1");
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0), "not ready yet");
    sim.run_for(9);
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    sim.run_for(1);
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(20));
    assert_eq!(sim.world.weight_of(STABLE_SVC), Some(80));
    assert_eq!(sim.status.current_weight, 20);
    assert_eq!(sim.status.current_step_index, Some(1));
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    assert_eq!(sim.world.ready_of(&v1()), 4, "stable stays at full scale");
}

#[test]
fn indefinite_pause_holds_until_promoted() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause(), set_weight(60)]).build());
    ship_v2(&mut sim);
    sim.run_for(3600);
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    assert_eq!(sim.status.current_step_index, Some(1));
    let paused = sim.status.condition(ConditionType::Paused).unwrap();
    assert_eq!(paused.status, ConditionStatus::True);
    assert_eq!(paused.reason, "PausedByStep");
    sim.request(request(RequestAction::Promote, "p1"));
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(sim.status.stable_revision, Some(v2()));
    // All traffic reaches the canary (0/100) before the stable Service switches to it and
    // the weights reset to 100/0.
    assert_eq!(
        weight_history(&sim),
        vec![(100, 0), (80, 20), (40, 60), (0, 100), (100, 0)]
    );
}

#[test]
fn timed_pause_advances_at_pause_start_plus_duration() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause_for("30s"), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(10);
    let started = sim.status.pause_start_time.expect("pause started");
    assert_eq!(sim.status.current_step_index, Some(1));
    assert_eq!(sim.status.phase, Some(Phase::Progressing));
    let requeue = sim
        .records
        .last()
        .unwrap()
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::RequeueAfter { after, .. } => Some(*after),
            _ => None,
        });
    assert_eq!(requeue, Some(std::time::Duration::from_secs(30)));
    sim.run_until(started + chrono::TimeDelta::seconds(29), 100);
    assert_eq!(sim.status.current_step_index, Some(1));
    sim.run_until(started + chrono::TimeDelta::seconds(30), 100);
    assert_eq!(sim.status.current_step_index, Some(2));
    assert_eq!(sim.status.phase, Some(Phase::Paused));
}

#[test]
fn after_the_last_step_the_canary_becomes_stable_and_the_old_replica_set_scales_down() {
    let mut sim = deployed(Spec::canary(vec![set_weight(50)]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(sim.status.stable_revision, Some(v2()));
    assert_eq!(sim.status.canary_revision, None);
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v1())].replicas(),
        0
    );
    assert_eq!(sim.world.ready_of(&v2()), 4);
    assert_eq!(sim.world.services.get(STABLE_SVC), Some(&Some(v2())));
    assert_eq!(sim.world.weight_of(STABLE_SVC), Some(100));
    assert_eq!(
        cdevent_kinds(&sim)[2..],
        [
            CdEventKind::ServiceDeployed,
            CdEventKind::ServiceUpgraded,
            CdEventKind::ServicePublished
        ]
    );
}

#[test]
fn completion_points_stable_service_at_the_new_revision_before_resetting_weights() {
    let mut sim = deployed(Spec::canary(vec![set_weight(50)]).build());
    ship_v2(&mut sim);
    sim.run_for(120);
    let completing = sim
        .records
        .iter()
        .find(|r| {
            r.after.phase == Some(Phase::Completed)
                && r.before.phase != Some(Phase::Completed)
                && r.before.canary_revision == Some(v2())
        })
        .unwrap();
    let point = completing
        .effects
        .iter()
        .position(|e| matches!(e, Effect::PointService { service, .. } if service == STABLE_SVC))
        .unwrap();
    let weights = completing
        .effects
        .iter()
        .position(|e| matches!(e, Effect::SetRouteWeights { .. }))
        .unwrap();
    assert!(point < weights, "{:#?}", completing.effects);
}

#[test]
fn without_traffic_routing_weight_is_approximated_by_replica_counts() {
    let mut sim = deployed(Spec::canary_without_routing(vec![set_weight(25), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    assert_eq!(sim.status.current_weight, 25);
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        1
    );
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v1())].replicas(),
        3
    );
    assert!(
        sim.effects()
            .all(|e| !matches!(e, Effect::SetRouteWeights { .. }))
    );
}

#[test]
fn dynamic_stable_scale_scales_stable_down_only_after_traffic_left_it() {
    let spec = Spec::canary(vec![set_weight(50), pause()])
        .dynamic_stable_scale()
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    sim.run_for(20);
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(50));
    let stable = format!("web-{}", v1());
    assert_eq!(
        sim.world.replica_sets[&stable].replicas(),
        4,
        "stable keeps its pods until the route has been observed at 50/50 for the delay"
    );
    let moved = sim
        .records
        .iter()
        .position(|r| r.after.current_weight == 50 && r.before.current_weight == 0)
        .unwrap();
    let scaled_down = sim.records.iter().position(|r| {
        r.effects
            .iter()
            .any(|e| matches!(e, Effect::ScaleReplicaSet { name, replicas: 2 } if *name == stable))
    });
    assert!(
        scaled_down.is_none(),
        "nothing scaled down in the batch that moved the traffic"
    );
    sim.run_for(60);
    assert_eq!(sim.world.replica_sets[&stable].replicas(), 2);
    let scaled_down = sim
        .records
        .iter()
        .position(|r| {
            r.effects.iter().any(
                |e| matches!(e, Effect::ScaleReplicaSet { name, replicas: 2 } if *name == stable),
            )
        })
        .unwrap();
    assert!(scaled_down > moved);
    assert!(
        sim.records[scaled_down].observations.now
            >= sim.records[moved].observations.now + chrono::TimeDelta::seconds(30)
    );
}

#[test]
fn abort_with_dynamic_stable_scale_scales_stable_up_before_traffic_returns() {
    let spec = Spec::canary(vec![set_weight(75), pause()])
        .dynamic_stable_scale()
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    sim.run_for(60);
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v1())].replicas(),
        1
    );
    sim.request(request(RequestAction::Abort, "a1"));
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v1())].replicas(),
        4
    );
    assert_eq!(
        sim.world.weight_of(CANARY_SVC),
        Some(75),
        "stable not ready yet"
    );
    sim.run_for(60);
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        0
    );
    let aborted = sim.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(aborted.reason, "Aborted");
}

#[test]
fn set_header_route_sends_matching_requests_to_the_canary_and_is_removed_at_the_end() {
    let steps = vec![header_route("beta", "X-Beta", "1"), pause(), set_weight(50)];
    let mut sim = deployed(Spec::canary(steps).build());
    ship_v2(&mut sim);
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        1
    );
    assert!(
        sim.world.route.as_ref().unwrap().header_route.is_none(),
        "no ready pod yet"
    );
    sim.run_for(60);
    let header = sim
        .world
        .route
        .as_ref()
        .unwrap()
        .header_route
        .clone()
        .unwrap();
    assert_eq!(header.name, "beta");
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    sim.request(request(RequestAction::Promote, "p1"));
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert!(sim.world.route.as_ref().unwrap().header_route.is_none());
}

#[test]
fn template_change_mid_rollout_abandons_the_canary_and_starts_again_from_step_zero() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause(), set_weight(50)]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    assert_eq!(sim.status.current_weight, 20);
    sim.edit(|spec| spec.template = template("registry.example.com/shop/web:3"));
    let v3 = revision_of("registry.example.com/shop/web:3");
    assert_eq!(sim.status.canary_revision, Some(v3.clone()));
    assert_eq!(sim.status.current_step_index, Some(0));
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    let selected = sim.world.services[CANARY_SVC].clone().unwrap_or_default();
    assert_ne!(
        selected, v3,
        "the canary Service waits for v3 to have ready pods"
    );
    assert!(sim.world.ready_of(&selected) > 0);
    assert!(sim.world.replica_sets[&format!("web-{}", v2())].replicas() > 0);
    sim.run_for(60);
    assert_eq!(sim.world.services.get(CANARY_SVC), Some(&Some(v3.clone())));
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        0
    );
    assert_eq!(sim.status.current_weight, 20);
    assert_eq!(sim.world.ready_of(&v3), 1);
}

#[test]
fn second_revision_with_dynamic_stable_scale_returns_traffic_before_starting() {
    let spec = Spec::canary(vec![set_weight(75), pause()])
        .dynamic_stable_scale()
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    sim.run_for(60);
    sim.edit(|spec| spec.template = template("registry.example.com/shop/web:3"));
    let v3 = revision_of("registry.example.com/shop/web:3");
    assert_eq!(sim.status.canary_revision, Some(v2()), "still draining v2");
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(75));
    sim.run_for(60);
    assert_eq!(sim.status.canary_revision, Some(v3.clone()));
    assert_eq!(sim.status.current_weight, 75);
    assert_eq!(sim.world.services.get(CANARY_SVC), Some(&Some(v3)));
}

#[test]
fn reverting_to_the_stable_template_completes_at_once_without_running_steps() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause(), set_weight(50)]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    sim.edit(|spec| spec.template = template("registry.example.com/shop/web:1"));
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(sim.status.stable_revision, Some(v1()));
    sim.run_for(60);
    assert_eq!(sim.status.canary_revision, None);
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        0
    );
    assert_eq!(
        cdevent_kinds(&sim).last(),
        Some(&CdEventKind::ServiceRolledback)
    );
}

#[test]
fn canary_pods_never_ready_fail_the_rollout_at_the_progress_deadline() {
    let mut sim = deployed(
        Spec::canary(vec![set_weight(20), pause()])
            .progress_deadline(120)
            .build(),
    );
    sim.world.pods.insert(v2(), PodBehaviour::NeverReady);
    ship_v2(&mut sim);
    let started = sim.world.now;
    sim.run_for(119);
    assert_eq!(sim.status.phase, Some(Phase::Progressing));
    sim.run_for(1);
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    let condition = sim.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(condition.reason, "ProgressDeadlineExceeded");
    assert_eq!(
        condition.last_transition_time,
        started + chrono::TimeDelta::seconds(120)
    );
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        0
    );
    assert_eq!(
        cdevent_kinds(&sim).last(),
        Some(&CdEventKind::ServiceRolledback)
    );
}

#[test]
fn progress_deadline_survives_a_controller_restart() {
    let mut sim = deployed(
        Spec::canary(vec![set_weight(20), pause()])
            .progress_deadline(120)
            .build(),
    );
    sim.world.pods.insert(v2(), PodBehaviour::NeverReady);
    ship_v2(&mut sim);
    let since = sim.status.waiting.clone().unwrap().since;
    sim.run_for(100);
    // A restart loses everything but the status: round-trip it through JSON.
    let json = serde_json::to_string(&sim.status).unwrap();
    sim.status = serde_json::from_str(&json).unwrap();
    sim.run_for(20);
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    assert_eq!(sim.world.now, since + chrono::TimeDelta::seconds(120));
}

#[test]
fn analysis_step_gates_progress_until_enough_successes() {
    let steps = vec![
        set_weight(20),
        analysis_step(error_rate(0.05)),
        set_weight(60),
        pause(),
    ];
    let mut sim = deployed(Spec::canary(steps).build());
    ship_v2(&mut sim);
    sim.run_for(10);
    assert_eq!(sim.status.current_step_index, Some(1));
    sim.run_for(29);
    assert_eq!(sim.status.current_step_index, Some(1), "one success of two");
    sim.run_for(60);
    assert_eq!(sim.status.current_step_index, Some(3));
    assert_eq!(sim.status.current_weight, 60);
    let queries = sim
        .effects()
        .filter(|e| matches!(e, Effect::QueryMetric(_)))
        .count();
    assert_eq!(queries, 2);
}

#[test]
fn failed_analysis_mid_canary_restores_stable_weights_first() {
    let steps = vec![set_weight(40), pause()];
    let spec = Spec::canary(steps)
        .background_analysis(error_rate(0.05))
        .build();
    let mut sim = deployed_with(spec, |key, now| {
        if key.revision == v2() && now >= at(260) {
            MetricValue::Sample(0.12)
        } else {
            MetricValue::Sample(0.01)
        }
    });
    ship_v2(&mut sim);
    sim.run_for(190);
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    sim.run_for(120);
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v2())].replicas(),
        0
    );
    let condition = sim.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(condition.status, ConditionStatus::False);
    assert_eq!(condition.reason, "AnalysisFailed");
    assert_eq!(
        condition.message,
        "metric \"error-rate\" value 0.12 is above max 0.05"
    );
    let failing = sim
        .records
        .iter()
        .find(|r| r.after.phase == Some(Phase::Failed))
        .unwrap();
    // Traffic goes back to stable (the canary Service too), and nothing is scaled down in the
    // same batch: the canary keeps its pods until the route was observed without it.
    assert!(
        failing
            .effects
            .iter()
            .any(|e| matches!(e, Effect::SetRouteWeights { canary, .. } if canary.weight == 0)),
        "{:#?}",
        failing.effects
    );
    assert!(
        !failing
            .effects
            .iter()
            .any(|e| matches!(e, Effect::ScaleReplicaSet { .. })),
        "{:#?}",
        failing.effects
    );
}

#[test]
fn background_analysis_starts_at_its_starting_step() {
    let mut analysis = error_rate(0.05);
    analysis.starting_step = Some(2);
    let steps = vec![set_weight(20), pause_for("5m"), set_weight(50), pause()];
    let spec = Spec::canary(steps).background_analysis(analysis).build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    sim.run_for(200);
    assert_eq!(sim.status.current_step_index, Some(1));
    assert!(sim.effects().all(|e| !matches!(e, Effect::QueryMetric(_))));
    sim.run_for(200);
    assert_eq!(sim.status.current_step_index, Some(3));
    assert!(sim.effects().any(|e| matches!(e, Effect::QueryMetric(_))));
}

#[test]
fn metrics_missing_at_night_pause_for_a_person_instead_of_promoting_or_failing() {
    let spec = Spec::canary(vec![
        set_weight(20),
        analysis_step(error_rate(0.05)),
        set_weight(100),
    ])
    .build();
    let mut sim = deployed_with(spec, |_, _| MetricValue::Empty);
    ship_v2(&mut sim);
    sim.run_for(600);
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    assert_eq!(sim.status.current_step_index, Some(1));
    let paused = sim.status.condition(ConditionType::Paused).unwrap();
    assert_eq!(paused.reason, "AnalysisInconclusive");
    assert_eq!(
        sim.world.weight_of(CANARY_SVC),
        Some(20),
        "traffic held, not rolled back"
    );
    sim.request(request(RequestAction::Promote, "accept"));
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
}

#[test]
fn nan_from_division_by_zero_is_inconclusive_not_a_success() {
    let spec = Spec::canary(vec![
        set_weight(20),
        analysis_step(error_rate(0.05)),
        set_weight(100),
    ])
    .build();
    let mut sim = deployed_with(spec, |_, _| MetricValue::Sample(f64::NAN));
    ship_v2(&mut sim);
    sim.run_for(600);
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    assert_eq!(sim.status.stable_revision, Some(v1()));
    let run = sim.status.gate_analysis.as_ref().unwrap();
    assert_eq!(run.metrics[0].successes, 0);
    assert_eq!(run.metrics[0].last_value.as_deref(), Some("NaN"));
}

#[test]
fn revision_history_limit_deletes_older_replica_sets() {
    let mut sim = deployed(Spec::canary(vec![set_weight(100)]).build());
    for version in 2..=5 {
        sim.edit(|spec| {
            spec.template = template(&format!("registry.example.com/shop/web:{version}"))
        });
        sim.run_for(60);
        assert_eq!(sim.status.phase, Some(Phase::Completed));
    }
    let names: Vec<_> = sim.world.replica_sets.keys().cloned().collect();
    assert_eq!(names.len(), 3, "stable plus two old: {names:?}");
    for version in 3..=5 {
        let revision = revision_of(&format!("registry.example.com/shop/web:{version}"));
        assert!(names.contains(&format!("web-{revision}")), "{names:?}");
    }
    assert!(
        sim.effects()
            .any(|e| matches!(e, Effect::DeleteReplicaSet { .. }))
    );
}

#[test]
fn a_step_does_not_advance_until_the_route_really_carries_its_weight() {
    let mut sim =
        deployed(Spec::canary(vec![set_weight(20), pause_for("1m"), set_weight(100)]).build());
    sim.world.failures.push(kulta::sim::FailureWindow {
        kind: kulta::EffectKind::Route,
        from: at(0),
        until: at(300),
    });
    ship_v2(&mut sim);
    sim.run_for(200);
    assert_eq!(
        sim.status.current_step_index,
        Some(0),
        "the pause has not started"
    );
    assert_eq!(sim.status.pause_start_time, None);
    sim.run_for(40);
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(20));
    assert_eq!(sim.status.pause_start_time, Some(at(300)));
}

#[test]
fn the_old_stable_keeps_its_pods_until_the_stable_service_has_switched() {
    let mut sim = deployed(Spec::canary(vec![set_weight(100)]).build());
    ship_v2(&mut sim);
    // Service writes fail: no Service moves, so traffic cannot move either.
    sim.world.failures.push(kulta::sim::FailureWindow {
        kind: kulta::EffectKind::Service,
        from: sim.world.now,
        until: sim.world.now + chrono::TimeDelta::seconds(120),
    });
    sim.run_for(60);
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    assert_eq!(sim.world.services.get(STABLE_SVC), Some(&Some(v1())));
    assert_eq!(
        sim.world.ready_of(&v1()),
        4,
        "v1 still serves the stable Service"
    );
    sim.run_for(180);
    assert_eq!(sim.world.services.get(STABLE_SVC), Some(&Some(v2())));
    assert_eq!(
        sim.world.replica_sets[&format!("web-{}", v1())].replicas(),
        0
    );
}

#[test]
fn weights_applied_to_the_route_are_reasserted_after_drift() {
    let mut sim = deployed(Spec::canary(vec![set_weight(30), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    for backend in &mut sim.world.route.as_mut().unwrap().backends {
        backend.weight = 50;
    }
    sim.settle();
    assert_eq!(sim.world.weight_of(STABLE_SVC), Some(70));
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(30));
}

#[test]
fn each_decision_tells_its_transitions_in_one_normal_event_named_after_the_weightiest() {
    let mut sim = deployed(
        Spec::canary_without_routing(vec![set_weight(25), pause(), set_weight(50), pause()])
            .replicas(2)
            .build(),
    );
    ship_v2(&mut sim);
    sim.run_for(60);
    assert_eq!(sim.status.current_weight, 25);
    let promoted_at = sim.records.len();
    sim.request(request(RequestAction::Promote, "p1"));
    sim.run_for(60);
    assert_eq!(sim.status.current_weight, 50);
    assert_eq!(sim.status.current_step_index, Some(3));
    for record in &sim.records {
        let normal = record
            .effects
            .iter()
            .filter(|e| matches!(e, Effect::RecordEvent(ev) if ev.type_ == EventType::Normal))
            .count();
        assert!(
            normal <= 1,
            "one Normal Event per decision: {:?}",
            record.effects
        );
    }
    // The weight step (25 -> 50, with its pods already ready) is one decision: the promote,
    // the pause completed, the weight moved, the step completed and the next pause, in order,
    // under the request's reason.
    let told: Vec<_> = sim.records[promoted_at..]
        .iter()
        .flat_map(|record| &record.effects)
        .filter_map(|effect| match effect {
            Effect::RecordEvent(event) => Some((event.reason.as_str(), event.message.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        told,
        vec![(
            "RolloutPromoted",
            "promoted by request; step 1 (pause) completed; canary weight 25 -> 50; \
             step 2 (setWeight 50) completed; paused at step 3 until promoted"
        )]
    );
}
