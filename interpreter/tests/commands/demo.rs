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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_keep_leaves_a_cluster_that_kulta_and_the_plugin_reach_with_the_printed_kubeconfig() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_kulta"))
        .args(["demo", "--keep"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut kubeconfig = None;
    while std::time::Instant::now() < deadline {
        match seen.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                if let Some(path) = line.trim().strip_prefix("export KUBECONFIG=") {
                    kubeconfig = Some(std::path::PathBuf::from(path));
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let Some(kubeconfig) = kubeconfig else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("kulta demo --keep printed no KUBECONFIG");
    };
    let listed = run(
        env!("CARGO_BIN_EXE_kulta"),
        Some(kubeconfig.clone()),
        &["get"],
    )
    .await;
    let tree = run(
        env!("CARGO_BIN_EXE_kubectl-kulta"),
        Some(kubeconfig.clone()),
        &["get", "rollout", "web"],
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(listed.code, Some(0), "{}", listed.text());
    assert!(
        listed.stdout.contains("web") && listed.stdout.contains("Failed"),
        "the demo's namespace is the context's: {}",
        listed.text()
    );
    assert!(tree.stdout.contains("Namespace:   demo"), "{}", tree.text());
}

#[test]
fn the_readme_gives_the_demo_and_the_test_command_as_these_tests_run_them() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    // The demo test above runs the binary this command builds, with the same argument.
    assert!(
        readme.contains("```sh\ncargo run -q -p kulta-interpreter --bin kulta -- demo\n```"),
        "the README's demo command"
    );
    assert!(
        readme.contains("```sh\n./scripts/check\n```"),
        "the README's test command"
    );
    assert!(
        readme.contains("](docs/canary-rollback.svg)"),
        "the SVG is shown"
    );
}
