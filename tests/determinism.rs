//! Same input, byte-identical output.

mod support;

use kulta::sim::Sim;
use kulta::{MetricValue, RequestAction, step};
use support::*;

fn run() -> Vec<String> {
    let steps = vec![
        set_weight(20),
        header_route("beta", "X-Beta", "1"),
        pause_for("1m"),
        analysis_step(error_rate(0.05)),
        set_weight(60),
        pause(),
    ];
    let spec = Spec::canary(steps)
        .dynamic_stable_scale()
        .background_analysis(error_rate(0.5))
        .build();
    let mut sim: Sim = deployed_with(spec, |key, now| {
        MetricValue::Sample(f64::from(key.round) / 100.0 + (now.timestamp() % 7) as f64 / 1000.0)
    });
    ship_v2(&mut sim);
    sim.run_for(600);
    sim.request(request(RequestAction::Promote, "go"));
    sim.run_for(600);
    sim.records
        .iter()
        .map(|r| {
            serde_json::to_string(&(&r.before, &r.observations, &r.after, &r.effects)).unwrap()
        })
        .collect()
}

#[test]
fn step_twice_on_the_same_inputs_gives_byte_identical_outputs() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(5);
    let spec = sim.spec.clone();
    let status = sim.status.clone();
    let observations = sim.world.observe();
    let first = serde_json::to_vec(&step(&spec, &status, &observations)).unwrap();
    let second = serde_json::to_vec(&step(&spec, &status, &observations)).unwrap();
    assert_eq!(first, second);
}

#[test]
fn a_whole_simulated_rollout_is_reproducible_byte_for_byte() {
    let first = run();
    let second = run();
    assert!(first.len() > 20, "{} steps", first.len());
    assert_eq!(first, second);
}

#[test]
fn recorded_inputs_replay_to_the_recorded_outputs() {
    let mut sim = deployed(Spec::blue_green().build());
    ship_v2(&mut sim);
    sim.run_for(120);
    for record in &sim.records {
        let json = serde_json::to_string(&(&record.before, &record.observations)).unwrap();
        let (before, observations): (kulta::RolloutStatus, kulta::Observations) =
            serde_json::from_str(&json).unwrap();
        let (after, effects) = step(&record.spec, &before, &observations);
        assert_eq!(after, record.after);
        assert_eq!(effects, record.effects);
    }
}
