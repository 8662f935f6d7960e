//! Traces: what is written reads back exactly, whatever a line leaves out.

use std::path::Path;

use kulta::sim::scenario::Scenario;
use kulta::trace::{Replayer, TraceDecoder, TraceEncoder, parse_line};

fn round_trip(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(file);
    let scenario = Scenario::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
    let run = scenario.run().unwrap();
    let mut encoder = TraceEncoder::new();
    let mut decoder = TraceDecoder::new();
    let mut replayer = Replayer::new();
    for (index, record) in run.records.iter().enumerate() {
        let line = encoder
            .encode(
                &record.spec,
                &record.before,
                &record.observations,
                &record.after,
                &record.effects,
            )
            .unwrap();
        assert!(line.starts_with("{\"v\":1,"), "{line}");
        let step = decoder.decode(&line).unwrap();
        assert_eq!(*step.spec, record.spec);
        assert_eq!(*step.before, record.before);
        assert_eq!(step.observations, record.observations);
        assert_eq!(*step.after, record.after);
        assert_eq!(step.effects().unwrap(), record.effects);
        let replayed = replayer
            .replay(parse_line(&line, index + 1).unwrap())
            .unwrap();
        assert_eq!(replayed.divergence, None);
        assert_eq!(*replayed.after, record.after);
    }
}

#[test]
fn a_canary_with_analysis_restart_and_template_changes_reads_back_exactly() {
    round_trip("canary-second-revision-during-rollout-starts-over.yaml");
    round_trip("canary-header-route-kept-after-controller-restart.yaml");
    round_trip("canary-error-rate-goes-bad-and-traffic-returns-to-stable.yaml");
}

#[test]
fn fields_set_back_to_unset_read_back_as_unset() {
    // Pauses start and end, analyses come and go, requests are recorded.
    round_trip("canary-retry-after-abort-starts-from-step-zero.yaml");
    round_trip("blue-green-post-promotion-analysis-fails-and-active-switches-back.yaml");
    round_trip("invalid-spec-edit-changes-nothing.yaml");
}

#[test]
fn an_unchanged_status_writes_no_next_and_an_unchanged_spec_no_spec() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios/canary-route-drift-is-repaired.yaml");
    let run = Scenario::from_yaml(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .run()
        .unwrap();
    let mut encoder = TraceEncoder::new();
    let lines: Vec<String> = run
        .records
        .iter()
        .map(|r| {
            encoder
                .encode(&r.spec, &r.before, &r.observations, &r.after, &r.effects)
                .unwrap()
        })
        .collect();
    assert!(lines[0].contains("\"spec\":"));
    assert!(lines[0].contains("\"status\":"));
    let quiet = run
        .records
        .iter()
        .position(|r| r.before == r.after)
        .unwrap();
    assert!(!lines[quiet].contains("\"next\""), "{}", lines[quiet]);
    assert!(
        lines
            .iter()
            .skip(1)
            .filter(|l| l.contains("\"spec\":"))
            .count()
            <= 1
    );
}
