//! The `kulta` binary's offline commands, run as a person would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kulta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kulta"))
        .args(args)
        .output()
        .expect("run kulta")
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/scenarios")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kulta-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn record(name: &str) -> PathBuf {
    let trace = scratch(&format!("{name}.jsonl"));
    let path = scenario(name);
    let output = kulta(&[
        "simulate",
        path.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    trace
}

#[test]
fn a_simulated_run_replays_with_verify_and_no_divergence() {
    let trace = record("canary-error-rate-goes-bad-and-traffic-returns-to-stable.yaml");
    let output = kulta(&["replay", trace.to_str().unwrap(), "--verify"]);
    assert!(output.status.success(), "{}", text(&output));
    let out = text(&output);
    assert!(out.contains("no divergence"), "{out}");
    assert!(
        out.contains("AnalysisFailed"),
        "the timeline is printed: {out}"
    );
}

#[test]
fn editing_one_recorded_output_makes_verify_fail_at_that_line() {
    let trace = record("canary-completes-over-http-route.yaml");
    let original = std::fs::read_to_string(&trace).unwrap();
    let mut lines: Vec<String> = original.lines().map(String::from).collect();
    let target = lines
        .iter()
        .position(|l| l.contains(r#""weight":20}"#) && l.contains("setRouteWeights"))
        .expect("a line that sets the canary to 20");
    lines[target] = lines[target].replace(r#""weight":20}"#, r#""weight":25}"#);
    let edited = scratch("edited.jsonl");
    std::fs::write(&edited, lines.join("\n") + "\n").unwrap();
    let output = kulta(&["replay", edited.to_str().unwrap(), "--verify"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let out = text(&output);
    assert!(out.contains(&format!("line {}", target + 1)), "{out}");
    assert!(out.contains("recorded 25, replayed 20"), "{out}");
}

#[test]
fn replay_json_prints_one_object_per_step() {
    let trace = record("canary-route-drift-is-repaired.yaml");
    let output = kulta(&["replay", trace.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(objects.len() > 3);
    assert!(
        objects
            .iter()
            .all(|o| o["phase"].is_string() && o["line"].is_u64())
    );
}

#[test]
fn a_trace_from_a_future_format_version_is_refused() {
    let path = scratch("future.jsonl");
    std::fs::write(&path, "{\"v\":7,\"seq\":1,\"somethingNew\":{}}\n").unwrap();
    let output = kulta(&["replay", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let out = text(&output);
    assert!(out.contains("future.jsonl"), "{out}");
    assert!(
        out.contains("line 1: trace format version 7 is newer"),
        "{out}"
    );
}

#[test]
fn a_malformed_trace_names_file_line_and_field() {
    let trace = record("canary-route-drift-is-repaired.yaml");
    let original = std::fs::read_to_string(&trace).unwrap();
    let mut lines: Vec<String> = original.lines().map(String::from).collect();
    lines[2] = lines[2].replacen(r#""now":"2026"#, r#""now":"yesterday-2026"#, 1);
    let broken = scratch("broken.jsonl");
    std::fs::write(&broken, lines.join("\n") + "\n").unwrap();
    let output = kulta(&["replay", broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let out = text(&output);
    assert!(
        out.contains("broken.jsonl: line 3: field observations.now"),
        "{out}"
    );
}

#[test]
fn a_malformed_scenario_names_file_line_and_field() {
    let path = scratch("bad-scenario.yaml");
    std::fs::write(
        &path,
        "image: web:1\nrollout:\n  strategy:\n    canary:\n      steps:\n        - setWeight: lots\nuntil: 1m\n",
    )
    .unwrap();
    let output = kulta(&["simulate", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let out = text(&output);
    assert!(out.contains("bad-scenario.yaml"), "{out}");
    assert!(out.contains("line 6"), "{out}");
    assert!(out.contains("setWeight"), "{out}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let output = kulta(&["replay", "/nonexistent/trace.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("/nonexistent/trace.jsonl"));
}

#[test]
fn crd_prints_the_committed_crd() {
    let output = kulta(&["crd"]);
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/crd.yaml"))
            .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

/// The elements of an SVG with this `data-series`.
fn series<'a>(svg: &'a roxmltree::Document<'a>, name: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    svg.descendants()
        .filter(|node| node.attribute("data-series") == Some(name))
        .collect()
}

#[test]
fn simulate_svg_draws_weights_steps_measurements_bounds_and_the_rollback() {
    let path = scenario("canary-error-rate-goes-bad-and-traffic-returns-to-stable.yaml");
    let svg_path = scratch("rollback.svg");
    let output = kulta(&[
        "simulate",
        path.to_str().unwrap(),
        "--svg",
        svg_path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let text = std::fs::read_to_string(&svg_path).unwrap();
    let svg = roxmltree::Document::parse(&text).expect("well-formed XML");
    assert_eq!(svg.root_element().tag_name().name(), "svg");
    let weights = series(&svg, "weight");
    assert_eq!(weights.len(), 2, "one line per revision (stable, canary)");
    for line in &weights {
        let points = line.attribute("points").unwrap();
        assert!(points.split(' ').count() >= 2, "{points}");
    }
    assert!(!series(&svg, "step").is_empty(), "steps are marked");
    assert!(!series(&svg, "pause").is_empty(), "the pause is shaded");
    let measurements = series(&svg, "measurement");
    assert!(!measurements.is_empty(), "measurements are drawn");
    assert!(
        measurements
            .iter()
            .all(|m| m.attribute("data-metric") == Some("error-rate")),
    );
    let bounds = series(&svg, "bound");
    assert_eq!(bounds.len(), 1, "the error-rate bound");
    let rollback = series(&svg, "rollback");
    assert_eq!(rollback.len(), 1, "the rollback moment");
    assert!(text.contains("rollback: AnalysisFailed"), "{text}");
    // A failed measurement is drawn outside the bound (a cross), a passing one inside (a dot).
    assert!(measurements.iter().any(|m| m.tag_name().name() == "path"));
}

#[test]
fn replay_svg_draws_the_recorded_run() {
    let trace = record("canary-error-rate-goes-bad-and-traffic-returns-to-stable.yaml");
    let svg_path = scratch("replayed.svg");
    let output = kulta(&[
        "replay",
        trace.to_str().unwrap(),
        "--quiet",
        "--svg",
        svg_path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let text = std::fs::read_to_string(&svg_path).unwrap();
    let svg = roxmltree::Document::parse(&text).expect("well-formed XML");
    assert_eq!(series(&svg, "weight").len(), 2);
    assert_eq!(series(&svg, "rollback").len(), 1);
    assert!(!series(&svg, "measurement").is_empty());
}

#[test]
fn the_committed_example_svg_shows_a_rollback() {
    // Drawn by: kulta simulate examples/scenarios/canary-error-rate-goes-bad-at-night.yaml
    //           --svg docs/canary-rollback.svg
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/canary-rollback.svg");
    let text = std::fs::read_to_string(path).unwrap();
    let svg = roxmltree::Document::parse(&text).expect("well-formed XML");
    assert_eq!(series(&svg, "weight").len(), 2);
    assert_eq!(series(&svg, "rollback").len(), 1);
    assert!(!series(&svg, "measurement").is_empty());
}
