//! The README's demo command, run as written: it finishes on its own, well under a minute,
//! and its output shows the canary completing and the rollback with its reason.

use std::time::Duration;

use crate::harness::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ships_a_canary_then_rolls_back_a_bad_one_within_a_minute() {
    let ran = tokio::time::timeout(
        Duration::from_secs(180),
        run(env!("CARGO_BIN_EXE_kulta"), None, &["demo"]),
    )
    .await
    .expect("the demo finishes on its own");
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let out = &ran.stdout;
    for expected in [
        "Metrics are SIMULATED",
        "✔ the first revision: Completed",
        "step 1/5 weight 25%",
        "step 3/5 weight 50%",
        "Analysis:      Step of",
        "✔ the good canary: Completed",
        "✖ the bad canary: rolled back, reason AnalysisFailed: metric \"error-rate\" value",
        "is above max 0.05",
        "Status:      Failed (AnalysisFailed)",
        "HTTPRoute:     web  web-stable 100 / web-canary 0",
        "Done in",
    ] {
        assert!(out.contains(expected), "{expected:?} in\n{}", ran.text());
    }
    assert!(!out.contains('\x1b'), "plain when piped");
    assert!(
        ran.took < Duration::from_secs(60),
        "the demo took {:?}",
        ran.took
    );
}
