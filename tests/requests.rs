//! Manual control: every request type, each handled exactly once.

mod support;

use kulta::effect::Effect;
use kulta::status::{ConditionType, Phase};
use kulta::{MetricValue, RequestAction};
use support::*;

fn paused_canary() -> kulta::sim::Sim {
    let mut sim =
        deployed(Spec::canary(vec![set_weight(20), pause(), set_weight(50), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    sim
}

#[test]
fn promote_advances_past_the_current_pause_once() {
    let mut sim = paused_canary();
    sim.request(request(RequestAction::Promote, "p1"));
    sim.run_for(60);
    assert_eq!(sim.status.current_step_index, Some(3));
    assert_eq!(sim.status.last_request_token.as_deref(), Some("p1"));
    // The same annotation seen again does nothing: it was handled.
    sim.settle();
    sim.run_for(600);
    assert_eq!(sim.status.current_step_index, Some(3));
    assert_eq!(sim.status.phase, Some(Phase::Paused));
}

#[test]
fn promote_full_skips_every_remaining_step() {
    let mut sim = paused_canary();
    sim.request(request(RequestAction::PromoteFull, "full"));
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(sim.status.stable_revision, Some(v2()));
}

#[test]
fn abort_rolls_back_like_a_failed_analysis_with_reason_aborted() {
    let mut sim = paused_canary();
    sim.request(request(RequestAction::Abort, "a1"));
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    assert_eq!(sim.world.weight_of(CANARY_SVC), Some(0));
    let condition = sim.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(condition.reason, "Aborted");
    sim.run_for(3600);
    assert_eq!(
        sim.status.phase,
        Some(Phase::Failed),
        "stays failed without a request"
    );
}

#[test]
fn retry_restarts_a_failed_rollout_from_step_zero() {
    let mut sim = paused_canary();
    sim.request(request(RequestAction::Abort, "a1"));
    sim.run_for(30);
    sim.request(request(RequestAction::Retry, "r1"));
    assert_eq!(sim.status.phase, Some(Phase::Progressing));
    assert_eq!(sim.status.current_step_index, Some(0));
    assert_eq!(sim.status.attempt, 1);
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    assert_eq!(sim.status.current_weight, 20);
}

#[test]
fn pause_holds_a_timed_pause_and_resume_releases_it() {
    let mut sim = deployed(
        Spec::canary(vec![
            set_weight(20),
            pause_for("1m"),
            set_weight(50),
            pause(),
        ])
        .build(),
    );
    ship_v2(&mut sim);
    sim.run_for(15);
    sim.request(request(RequestAction::Pause, "hold"));
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    assert!(sim.status.paused_by_user);
    sim.run_for(600);
    assert_eq!(sim.status.current_step_index, Some(1), "held by the person");
    let paused = sim.status.condition(ConditionType::Paused).unwrap();
    assert_eq!(paused.reason, "PausedByUser");
    sim.request(request(RequestAction::Resume, "go"));
    sim.run_for(60);
    assert_eq!(sim.status.current_step_index, Some(3));
}

#[test]
fn resume_measures_an_inconclusive_analysis_again() {
    let mut nights = 0;
    let spec = Spec::canary(vec![
        set_weight(20),
        analysis_step(error_rate(0.05)),
        set_weight(100),
    ])
    .build();
    let mut sim = deployed_with(spec, move |_, _| {
        nights += 1;
        if nights <= 2 {
            MetricValue::Empty
        } else {
            MetricValue::Sample(0.01)
        }
    });
    ship_v2(&mut sim);
    sim.run_for(300);
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    sim.request(request(RequestAction::Resume, "again"));
    sim.run_for(120);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
}

#[test]
fn requests_that_do_not_apply_are_recorded_as_ignored() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    for (action, token) in [
        (RequestAction::Promote, "1"),
        (RequestAction::Abort, "2"),
        (RequestAction::Retry, "3"),
        (RequestAction::Resume, "4"),
        (RequestAction::Pause, "5"),
    ] {
        let before = sim.status.clone();
        sim.request(request(action, token));
        assert_eq!(sim.status.phase, before.phase);
        let last = sim
            .records
            .iter()
            .find(|r| {
                r.after.last_request_token.as_deref() == Some(token)
                    && r.before.last_request_token.as_deref() != Some(token)
            })
            .unwrap();
        assert!(
            last.effects
                .iter()
                .any(|e| matches!(e, Effect::RecordEvent(ev) if ev.reason == "RequestIgnored")),
            "{action}: {:#?}",
            last.effects
        );
        assert!(!last.effects.iter().any(Effect::is_ordered));
    }
}

#[test]
fn a_request_is_handled_exactly_once_across_a_controller_restart() {
    let mut sim = paused_canary();
    sim.request(request(RequestAction::Promote, "once"));
    let index = sim.status.current_step_index;
    let json = serde_json::to_string(&sim.status).unwrap();
    sim.status = serde_json::from_str(&json).unwrap();
    sim.settle();
    assert_eq!(sim.status.current_step_index, index);
}
