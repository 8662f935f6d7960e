//! `kulta replay --verify` over a trace the real operator recorded: the trace format and what
//! `step` decides are pinned against drift.

use super::offline::{arg, data, kulta};

#[test]
fn a_recorded_operator_trace_replays_without_divergence() {
    let trace = data("traces/canary-over-route.jsonl");
    let ran = kulta(&["replay", "--verify", arg(&trace)]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.ends_with("37 steps, no divergence\n"),
        "{}",
        ran.text()
    );
    // The story it tells: the first revision, the canary's steps, the promotion, completion.
    for line in [
        "- create ReplicaSet",
        "- route web-stable=75 web-canary=25",
        "- header route testers (x-tester=yes) to web-canary",
        "(pause ends)",
        "- event Normal RolloutPromoted: promoted by request",
        "- cdevent service.published",
    ] {
        assert!(
            ran.stdout.contains(line),
            "{line:?} missing:\n{}",
            ran.stdout
        );
    }
}

#[test]
fn a_trace_whose_decisions_were_altered_is_caught_at_the_first_divergence() {
    let text = std::fs::read_to_string(data("traces/canary-over-route.jsonl")).unwrap();
    // What step returned at some line no longer matches what it decides now.
    let altered = text.replacen(
        "web-canary\",\"weight\":25",
        "web-canary\",\"weight\":26",
        1,
    );
    assert_ne!(altered, text, "the fixture has a 25% step");
    let (_dir, path) = super::offline::file_with("altered.jsonl", &altered);
    let ran = kulta(&["replay", "--verify", arg(&path)]);
    assert_ne!(ran.code, Some(0), "{}", ran.text());
}
