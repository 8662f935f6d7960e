//! Effects the interpreter could not carry out come back as observations; `step` says what is
//! wrong in a condition and an Event, and decides the effects again.

mod support;

use chrono::TimeDelta;
use kulta::effect::{Effect, EffectKind};
use kulta::sim::FailureWindow;
use kulta::status::{ConditionStatus, ConditionType, Phase};
use kulta::{EffectError, ErrorCause, step};
use support::*;

#[test]
fn refused_route_writes_name_the_route_in_a_condition_and_retry_until_they_land() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    let from = sim.world.now;
    sim.world.failures.push(FailureWindow {
        kind: EffectKind::Route,
        from,
        until: from + TimeDelta::seconds(30),
    });
    ship_v2(&mut sim);
    sim.run_for(20);
    let condition = sim
        .status
        .condition(ConditionType::ReconcileError)
        .expect("a failed route write is reported");
    assert_eq!(condition.status, ConditionStatus::True);
    assert_eq!(condition.reason, "ServerError");
    assert!(
        condition.message.contains("HTTPRoute shop/web-route"),
        "{}",
        condition.message
    );
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    sim.run_for(30);
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(20), "retried");
    assert!(
        sim.status
            .condition(ConditionType::ReconcileError)
            .is_none()
    );
    let reasons = event_reasons(&sim);
    let warnings = reasons.iter().filter(|r| *r == "ServerError").count();
    assert_eq!(
        warnings, 1,
        "one Event per story, not per retry: {reasons:?}"
    );
    assert!(reasons.iter().any(|r| r == "ReconcileRecovered"));
    assert_eq!(sim.status.phase, Some(Phase::Paused));
}

#[test]
fn a_missing_service_is_reported_with_the_not_found_reason() {
    let spec = Spec::canary(vec![set_weight(20), pause()]).build();
    let mut sim = deployed(spec.clone());
    // The Service was deleted and created again: it selects no revision, and the write that
    // points it again is refused.
    sim.world.services.insert(CANARY_SVC.to_string(), None);
    let mut observations = sim.world.observe();
    observations.effect_errors.push(EffectError {
        kind: EffectKind::Service,
        target: "Service web-canary".into(),
        cause: ErrorCause::NotFound,
        message: "services \"web-canary\" not found".into(),
    });
    let (status, effects) = step(&spec, &sim.status, &observations);
    let condition = status.condition(ConditionType::ReconcileError).unwrap();
    assert_eq!(condition.reason, "TargetNotFound");
    assert_eq!(
        condition.message,
        "Service web-canary: services \"web-canary\" not found"
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::RecordEvent(event) if event.reason == "TargetNotFound"
    )));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::PointService { service, .. } if service == CANARY_SVC)),
        "the write is decided again"
    );
}
