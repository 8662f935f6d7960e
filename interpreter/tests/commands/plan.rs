//! `kulta plan`: a manifest's timeline on the simulated cluster, the time to full promotion
//! and the worst-case time to a rollback.

use super::offline::{arg, data, examples, file_with, kulta};

#[test]
fn every_example_plans_a_timeline_to_full_promotion() {
    for example in examples() {
        let ran = kulta(&["plan", arg(&example)]);
        assert_eq!(ran.code, Some(0), "{}", ran.text());
        assert!(ran.stdout.contains("        0s  "), "{}", ran.text());
        assert!(
            ran.stdout.contains("- create ReplicaSet new with"),
            "{}",
            ran.text()
        );
        assert!(
            ran.stdout.contains("\nfull promotion after "),
            "{}",
            ran.text()
        );
        assert!(
            ran.stdout
                .contains("\nrollback when the new pods never become ready: after "),
            "{}",
            ran.text()
        );
    }
}

/// 4 pods, pods ready 20s after they are created, route on the Gateway API:
/// - 0s the canary gets ceil(4 × 25%) = 1 pod, ready at 20s: weight 25, then the 2m pause;
/// - 2m20s: ceil(4 × 50%) = 2 pods, the new one ready at 2m40s: weight 50, then the 3m pause;
/// - 5m40s: the last step is done, the canary scales to 4, ready at 6m: 100%, Completed.
///
/// Total 20s + 2m + 20s + 3m + 20s = 6m.
///
/// The background analysis measures at 20s and every minute after (1m20s … 5m20s) and
/// tolerates no failure: a metric that goes bad just after the 4m20s measurement is caught at
/// 5m20s, the last measurement before promotion at 6m — the latest rollback. Pods that never
/// become ready fail after progressDeadlineSeconds (600s).
#[test]
fn the_totals_of_a_known_canary_add_up() {
    let manifest = data("plan/canary-two-timed-steps.yaml");
    let ran = kulta(&["plan", "--pods-ready-after", "20s", arg(&manifest)]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let lines: Vec<&str> = ran.stdout.lines().collect();
    for expected in [
        "       20s  Progressing step 0  weight  25  pods: old 4/4, new 1/1  route: pay-stable=100 pay-canary=0",
        "    2m 40s  Progressing step 2  weight  50  pods: old 4/4, new 2/2  route: pay-stable=75 pay-canary=25",
        "        6m  Completed   step 4  weight   0  pods: old 4/4, new 4/4  route: pay-stable=0 pay-canary=100",
        "full promotion after 6m",
        "worst-case rollback on metrics: after 5m 20s, when the metrics go bad at 4m 21s (59s to notice)",
    ] {
        assert!(lines.contains(&expected), "{expected}\n{}", ran.text());
    }
    assert!(
        ran.stdout.contains(
            "rollback when the new pods never become ready: after 10m (ProgressDeadlineExceeded"
        ),
        "{}",
        ran.text()
    );
}

#[test]
fn an_indefinite_pause_is_promoted_at_once_and_said_so() {
    let canary = examples()
        .into_iter()
        .find(|path| path.ends_with("canary.yaml"))
        .unwrap();
    let ran = kulta(&["plan", arg(&canary)]);
    assert!(
        ran.stdout
            .contains("- event Normal RolloutPromoted: promoted by request"),
        "{}",
        ran.text()
    );
    assert!(
        ran.stdout
            .contains("(a person promotes at 7m, as soon as asked)"),
        "{}",
        ran.text()
    );
}

#[test]
fn a_metric_given_a_bad_value_plans_a_rollback_and_exits_1() {
    let canary = examples()
        .into_iter()
        .find(|path| path.ends_with("canary.yaml"))
        .unwrap();
    let ran = kulta(&["plan", "--metric", "error-rate=0.2", arg(&canary)]);
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.stdout
            .contains("# metric error-rate answers 0.2 for the new revision (threshold <= 0.01)"),
        "{}",
        ran.text()
    );
    assert!(
        ran.stdout.contains("\nrolled back after "),
        "{}",
        ran.text()
    );
    let unknown = kulta(&["plan", "--metric", "latency=1", arg(&canary)]);
    assert_eq!(unknown.code, Some(2), "{}", unknown.text());
    assert!(
        unknown
            .stderr
            .contains("--metric latency: Rollout shop/checkout has no metric of that name"),
        "{}",
        unknown.text()
    );
}

#[test]
fn the_plan_is_drawn_as_svg_and_an_invalid_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("plan.svg");
    let manifest = data("plan/canary-two-timed-steps.yaml");
    let ran = kulta(&["plan", arg(&manifest), "--svg", arg(&svg)]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.starts_with("<svg") && drawn.contains("data-series"),
        "{drawn}"
    );
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("setWeight: 50", "setWeight: 150");
    let (_dir, invalid) = file_with("invalid.yaml", &text);
    let ran = kulta(&["plan", arg(&invalid)]);
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stdout.contains(
            "Rollout shop/pay: spec.strategy.canary.steps[2].setWeight: 150 is outside 0..=100"
        ),
        "{}",
        ran.text()
    );
}

#[test]
fn a_peer_manifest_is_pointed_to_kulta_convert() {
    let argo = data("convert/argo-header-routing.yaml");
    let ran = kulta(&["plan", arg(&argo)]);
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stdout
            .contains("no kulta.io Rollout in the file; `kulta convert` turns"),
        "{}",
        ran.text()
    );
}
