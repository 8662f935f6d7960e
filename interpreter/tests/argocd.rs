//! The Argo CD health check and actions in `deploy/argocd/argocd-cm.yaml`, run by a real Lua
//! interpreter (Debian's `lua5.4`; `scripts/check` installs it) against a Rollout of every
//! phase. Skipped, with a message, where `lua5.4` is not installed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use kulta::{ControlRequest, RequestAction};
use serde_json::{Value, json};

fn customizations() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/argocd/argocd-cm.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn health_script() -> String {
    customizations()["data"]["resource.customizations.health.kulta.io_Rollout"]
        .as_str()
        .unwrap()
        .to_string()
}

fn actions() -> Value {
    let text = customizations()["data"]["resource.customizations.actions.kulta.io_Rollout"]
        .as_str()
        .unwrap()
        .to_string();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn action_script(name: &str) -> String {
    actions()["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no action {name}"))["action.lua"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A JSON value as a Lua table constructor, as Argo CD hands objects to its scripts.
fn lua(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("\"{escaped}\"")
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua(&Value::String(k.clone())), lua(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Run `script` with `obj` set as Argo CD does, then `report` on its result; the printed lines.
fn run(script: &str, object: &Value, report: &str) -> Option<Vec<String>> {
    let program = format!(
        "obj = {}\nlocal result = (function()\n{script}\nend)()\n{report}\n",
        lua(object)
    );
    let mut child = match Command::new("lua5.4")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(_) => {
            eprintln!("skipped: lua5.4 is not installed");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(program.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "lua failed: {}\n{program}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect(),
    )
}

fn health(object: &Value) -> Option<(String, String)> {
    let lines = run(
        &health_script(),
        object,
        "print(result.status)\nprint(result.message)",
    )?;
    Some((lines[0].clone(), lines[1].clone()))
}

fn rollout(status: Value) -> Value {
    json!({
        "apiVersion": "kulta.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": 3,
                     "annotations": {"team": "payments"}},
        "spec": {"replicas": 4, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
        "status": status,
    })
}

fn blue_green(auto_promotion: bool, status: Value) -> Value {
    let mut object = rollout(status);
    object["spec"]["strategy"] = json!({"blueGreen": {
        "activeService": "checkout", "previewService": "checkout-preview",
        "autoPromotionEnabled": auto_promotion,
    }});
    object
}

fn observed(phase: &str) -> Value {
    json!({"phase": phase, "observedGeneration": 3, "stableRevision": "stable1234",
           "canaryRevision": "canary5678", "currentStepIndex": 1, "currentWeight": 20})
}

#[test]
fn health_follows_the_phase_and_waits_for_the_spec_to_be_observed() {
    let with_message = |phase: &str, message: &str| {
        let mut status = observed(phase);
        status["message"] = message.into();
        rollout(status)
    };
    let invalid = rollout(json!({
        "phase": "Initializing", "observedGeneration": 3,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "InvalidSpec",
                        "message": "spec.strategy: exactly one strategy is required"}],
    }));
    let mut user_paused = observed("Progressing");
    user_paused["pausedByUser"] = true.into();
    let mut stale = observed("Completed");
    stale["observedGeneration"] = 2.into();
    let cases = [
        (
            rollout(Value::Null),
            "Progressing",
            "Waiting for KULTA to reconcile the rollout",
        ),
        (
            rollout(json!({"phase": "Initializing", "observedGeneration": 3})),
            "Progressing",
            "The rollout is starting",
        ),
        (
            invalid,
            "Degraded",
            "spec.strategy: exactly one strategy is required",
        ),
        (
            with_message("Progressing", "step 1: weight 20"),
            "Progressing",
            "step 1: weight 20",
        ),
        (
            rollout(observed("Paused")),
            "Suspended",
            "The rollout is paused: promote or resume it",
        ),
        (
            rollout(user_paused),
            "Suspended",
            "The rollout is paused: promote or resume it",
        ),
        (
            blue_green(false, observed("Preview")),
            "Suspended",
            "The new revision is in preview: promote it",
        ),
        (
            blue_green(true, observed("Preview")),
            "Progressing",
            "The new revision is in preview",
        ),
        (
            with_message("Completed", "canary5678 is stable"),
            "Healthy",
            "canary5678 is stable",
        ),
        (
            rollout(observed("Completed")),
            "Healthy",
            "The rollout is complete",
        ),
        (
            with_message("Failed", "analysis errors failed"),
            "Degraded",
            "analysis errors failed",
        ),
        (
            rollout(stale),
            "Progressing",
            "Waiting for the rollout's spec update to be observed",
        ),
    ];
    for (object, status, message) in cases {
        let Some((got_status, got_message)) = health(&object) else {
            return;
        };
        assert_eq!(
            (got_status.as_str(), got_message.as_str()),
            (status, message),
            "{}",
            object["status"]
        );
    }
}

#[test]
fn the_health_check_knows_every_phase_the_core_has() {
    for phase in kulta::Phase::ALL {
        let Some((status, _)) = health(&rollout(observed(phase.as_str()))) else {
            return;
        };
        let expected = match phase {
            kulta::Phase::Completed => "Healthy",
            kulta::Phase::Failed => "Degraded",
            kulta::Phase::Paused => "Suspended",
            kulta::Phase::Initializing | kulta::Phase::Progressing | kulta::Phase::Preview => {
                "Progressing"
            }
        };
        assert_eq!(status, expected, "{phase:?}");
    }
}

/// Run an action; the request it wrote, parsed as the operator parses it.
fn act(action: RequestAction, object: &Value) -> Option<ControlRequest> {
    let lines = run(
        &action_script(action.as_str()),
        object,
        "print(result.metadata.annotations[\"kulta.io/request\"])\nprint(result.metadata.annotations[\"team\"])\nprint(result.spec.replicas)",
    )?;
    assert_eq!(lines[1], "payments", "other annotations are kept");
    assert_eq!(lines[2], "4", "nothing else changes");
    Some(
        lines[0]
            .parse()
            .unwrap_or_else(|e| panic!("{action}: {}: {e}", lines[0])),
    )
}

#[test]
fn every_action_writes_a_request_with_a_fresh_token_naming_the_revision_in_progress() {
    let definitions: Vec<String> = actions()["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    let all: Vec<&str> = RequestAction::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        definitions, all,
        "an action for every request the operator handles"
    );
    for action in RequestAction::ALL {
        for phase in ["Progressing", "Paused", "Preview"] {
            let mut status = observed(phase);
            status["lastRequestToken"] = "argocd-old".into();
            let mut object = rollout(status);
            object["metadata"]["annotations"]["kulta.io/request"] =
                "pause:argocd-earlier:canary5678".into();
            let Some(first) = act(action, &object) else {
                return;
            };
            assert_eq!(first.action, action);
            assert_eq!(first.revision.as_deref(), Some("canary5678"), "{phase}");
            assert!(first.token.starts_with("argocd-"), "{}", first.token);
            assert!(!["argocd-old", "argocd-earlier"].contains(&first.token.as_str()));
            let second = act(action, &object).unwrap();
            assert_ne!(first.token, second.token, "a token is never reused");
        }
        for status in [observed("Completed"), observed("Failed"), Value::Null] {
            let Some(request) = act(action, &rollout(status)) else {
                return;
            };
            assert_eq!(request.action, action);
            assert_eq!(
                request.revision, None,
                "no revision outside a rollout in progress"
            );
        }
    }
}

#[test]
fn the_actions_differ_only_in_the_request_they_make() {
    let template = action_script("promote");
    for action in RequestAction::ALL {
        let script = action_script(action.as_str());
        let normalized = script.replace(
            &format!("local action = \"{action}\""),
            "local action = \"promote\"",
        );
        let strip = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .map(String::from)
                .collect()
        };
        assert_eq!(strip(&normalized), strip(&template), "{action}");
    }
}

#[test]
fn discovery_offers_the_actions_that_make_sense_in_each_phase() {
    let discovery = actions()["discovery.lua"].as_str().unwrap().to_string();
    let report = "local names = {}\nfor name in pairs(result) do names[#names + 1] = name end\n\
                  table.sort(names)\nfor _, name in ipairs(names) do if not result[name].disabled then print(name) end end";
    let enabled = |status: Value| run(&discovery, &rollout(status), report);
    let Some(progressing) = enabled(observed("Progressing")) else {
        return;
    };
    assert_eq!(progressing, ["abort", "pause", "promote", "promote-full"]);
    assert_eq!(
        enabled(observed("Paused")).unwrap(),
        ["abort", "pause", "promote", "promote-full", "resume"]
    );
    let mut user_paused = observed("Progressing");
    user_paused["pausedByUser"] = true.into();
    assert_eq!(
        enabled(user_paused).unwrap(),
        ["abort", "promote", "promote-full", "resume"]
    );
    assert_eq!(enabled(observed("Failed")).unwrap(), ["retry"]);
    assert!(enabled(observed("Completed")).unwrap().is_empty());
}
