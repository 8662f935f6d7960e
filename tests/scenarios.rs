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

fn run(path: &Path) -> Snapshot {
    let text = std::fs::read_to_string(path).unwrap();
    let scenario = Scenario::from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let run = scenario
        .run()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Snapshot {
        description: scenario.description.clone(),
        timeline: run.timeline(),
    }
}

#[test]
fn scenarios() {
    insta::glob!("scenarios/*.yaml", |path| {
        let snapshot = run(path);
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_yaml_snapshot!(snapshot);
        });
    });
}

#[test]
fn example_scenarios() {
    insta::glob!("../examples/scenarios", "*.yaml", |path| {
        let snapshot = run(path);
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_yaml_snapshot!(snapshot);
        });
    });
}
