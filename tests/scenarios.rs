//! Every scenario under `tests/scenarios/` and `examples/scenarios/` runs with the safety
//! invariants checked after every step, and its timeline is pinned in `snapshots/`.

use std::path::Path;

use kulta::sim::scenario::Scenario;
use serde::Serialize;

#[derive(Serialize)]
struct Snapshot {
    description: String,
    timeline: Vec<kulta::sim::timeline::TimelineEntry>,
}

/// Run one scenario file and pin its timeline.
fn pin(name: &str, path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let scenario = Scenario::from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let run = scenario
        .run()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let snapshot = Snapshot {
        description: scenario.description.clone(),
        timeline: run.timeline(),
    };
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_yaml_snapshot!(name, snapshot);
    });
}

#[test]
fn scenarios() {
    insta::glob!("scenarios/*.yaml", |path| pin("scenarios", path));
}

#[test]
fn example_scenarios() {
    insta::glob!("../examples/scenarios", "*.yaml", |path| {
        pin("example_scenarios", path)
    });
}
