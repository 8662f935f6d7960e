//! Invalid specs: a typed error naming the field, the InvalidSpec condition, and no effect
//! that touches traffic or scale.

mod support;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kulta::duration::DurationString;
use kulta::spec::{CanaryStep, PauseStep, ThresholdRange};
use kulta::status::{ConditionStatus, ConditionType, Phase, RolloutStatus};
use kulta::{Observations, RolloutSpec, SpecError, step, validate};
use support::*;

fn observations() -> Observations {
    kulta::sim::World::new(t0(), rollout_ref(), &[], None, healthy).observe()
}

fn assert_invalid(spec: RolloutSpec, field: &str) {
    let error = validate(&spec).expect_err("spec should be invalid");
    assert!(
        error.to_string().starts_with(field),
        "{error} should name {field}"
    );
    let (status, effects) = step(&spec, &RolloutStatus::default(), &observations());
    let condition = status
        .condition(ConditionType::InvalidSpec)
        .expect("condition");
    assert_eq!(condition.status, ConditionStatus::True);
    assert_eq!(condition.message, error.to_string());
    assert_eq!(status.phase, Some(Phase::Initializing));
    assert!(
        !effects.iter().any(kulta::Effect::is_ordered),
        "{effects:#?}"
    );
}

#[test]
fn weight_outside_zero_to_one_hundred_is_invalid() {
    assert_invalid(
        Spec::canary(vec![set_weight(101)]).build(),
        "spec.strategy.canary.steps[0].setWeight",
    );
    assert_invalid(
        Spec::canary(vec![set_weight(-1)]).build(),
        "spec.strategy.canary.steps[0].setWeight",
    );
}

#[test]
fn empty_canary_steps_are_invalid() {
    assert_invalid(Spec::canary(vec![]).build(), "spec.strategy.canary.steps");
}

#[test]
fn traffic_routing_without_services_is_invalid() {
    let mut spec = Spec::canary(vec![set_weight(10)]).build();
    spec.strategy.canary.as_mut().unwrap().canary_service = None;
    assert_invalid(spec, "spec.strategy.canary.canaryService");
}

#[test]
fn negative_or_unparsable_durations_are_invalid() {
    for text in ["-30s", "soon", ""] {
        let spec = Spec::canary(vec![CanaryStep::Pause(PauseStep {
            duration: Some(DurationString::new(text)),
        })])
        .build();
        assert_invalid(spec, "spec.strategy.canary.steps[0].pause.duration");
    }
}

#[test]
fn threshold_range_with_min_above_max_is_invalid() {
    let mut analysis = error_rate(0.1);
    analysis.metrics[0].threshold_range = ThresholdRange {
        min: Some(2.0),
        max: Some(1.0),
    };
    let spec = Spec::canary(vec![set_weight(10), analysis_step(analysis)]).build();
    assert_invalid(
        spec,
        "spec.strategy.canary.steps[1].analysis.metrics[0].thresholdRange",
    );
}

#[test]
fn negative_replicas_are_invalid_and_zero_scales_to_nothing() {
    assert_invalid(Spec::simple().replicas(-3).build(), "spec.replicas");
    assert!(validate(&Spec::simple().replicas(0).build()).is_ok());
    assert!(validate(&Spec::canary(vec![set_weight(50)]).replicas(0).build()).is_ok());
    assert!(validate(&Spec::blue_green().replicas(0).build()).is_ok());
}

#[test]
fn two_strategies_at_once_are_invalid() {
    let mut spec = Spec::simple().build();
    spec.strategy.blue_green = Spec::blue_green().build().strategy.blue_green;
    assert_eq!(validate(&spec), Err(SpecError::StrategyCount(2)));
    assert_invalid(spec, "spec.strategy");
}

#[test]
fn no_strategy_is_invalid() {
    let mut spec = Spec::simple().build();
    spec.strategy.simple = None;
    assert_eq!(validate(&spec), Err(SpecError::StrategyCount(0)));
}

#[test]
fn surge_and_unavailability_both_zero_is_invalid() {
    let mut spec = Spec::simple().build();
    let simple = spec.strategy.simple.as_mut().unwrap();
    simple.max_surge = Some(IntOrString::Int(0));
    simple.max_unavailable = Some(IntOrString::String("0%".into()));
    assert_invalid(spec, "spec.strategy.simple");
}

#[test]
fn header_route_without_traffic_routing_is_invalid() {
    let spec = Spec::canary_without_routing(vec![header_route("beta", "X-Beta", "1")]).build();
    assert_invalid(spec, "spec.strategy.canary.steps[0]");
}

#[test]
fn selector_that_misses_the_template_is_invalid() {
    let mut spec = Spec::simple().build();
    spec.selector.match_labels = Some([("app".to_string(), "other".to_string())].into());
    assert_invalid(spec, "spec.selector");
}

#[test]
fn an_invalid_edit_keeps_the_running_state_and_changes_nothing() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    let before = sim.status.clone();
    let world_before = sim.world.replica_sets.clone();
    sim.edit(|spec| spec.replicas = -1);
    assert_eq!(sim.status.phase, before.phase);
    assert_eq!(sim.status.current_weight, before.current_weight);
    assert_eq!(sim.status.canary_revision, before.canary_revision);
    assert_eq!(sim.world.replica_sets, world_before);
    assert!(sim.status.condition(ConditionType::InvalidSpec).is_some());
    // The invalid-spec warning is recorded once, not on every reconcile.
    sim.settle();
    let warnings = sim
        .effects()
        .filter(|e| matches!(e, kulta::Effect::RecordEvent(ev) if ev.reason == "InvalidSpec"))
        .count();
    assert_eq!(warnings, 1);
    sim.edit(|spec| spec.replicas = 4);
    assert!(sim.status.condition(ConditionType::InvalidSpec).is_none());
    assert_eq!(sim.status.phase, Some(Phase::Paused));
}
