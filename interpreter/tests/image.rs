//! The operator image's Dockerfile (no Docker engine runs in CI, so its shape is checked here
//! and `hadolint` lints it in `scripts/check`): a build stage, a static non-root final stage,
//! and an entrypoint that is the `kulta` binary the Deployment runs.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One instruction: its keyword (upper case) and its arguments, continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .map(|line| {
            let (keyword, rest) = line.split_once(' ').unwrap_or((&line, ""));
            (keyword.to_uppercase(), rest.trim().to_string())
        })
        .collect()
}

/// Instructions grouped by stage: the `FROM` arguments, then what follows.
fn stages(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut stages: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (keyword, rest) in instructions(text) {
        if keyword == "FROM" {
            stages.push((rest, Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push((keyword, rest));
        }
    }
    stages
}

fn last<'a>(body: &'a [(String, String)], keyword: &str) -> Option<&'a str> {
    body.iter()
        .rev()
        .find(|(k, _)| k == keyword)
        .map(|(_, rest)| rest.as_str())
}

fn operator_container() -> Value {
    let text = repo("deploy/operator.yaml");
    let deployment = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .find(|document| document["kind"] == "Deployment")
        .unwrap();
    deployment["spec"]["template"]["spec"]["containers"][0].clone()
}

#[test]
fn the_image_builds_kulta_in_one_stage_and_runs_it_static_and_non_root_in_another() {
    let dockerfile = repo("Dockerfile");
    let stages = stages(&dockerfile);
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let (build_from, build) = &stages[0];
    assert!(build_from.ends_with(" AS build"), "{build_from}");
    let compile = build
        .iter()
        .filter(|(k, _)| k == "RUN")
        .find(|(_, rest)| rest.contains("cargo build"))
        .map(|(_, rest)| rest.as_str())
        .expect("the build stage runs cargo build");
    for wanted in [
        "--release",
        "--locked",
        "-p kulta-interpreter",
        "--bin kulta",
    ] {
        assert!(compile.contains(wanted), "{wanted} missing from: {compile}");
    }

    let (runtime_from, runtime) = &stages[1];
    assert!(
        runtime_from.starts_with("gcr.io/distroless/static") || runtime_from.starts_with("scratch"),
        "the final stage has no shell or libc: {runtime_from}"
    );
    let copied: Vec<&str> = runtime
        .iter()
        .filter(|(k, _)| k == "COPY")
        .map(|(_, rest)| rest.as_str())
        .collect();
    assert_eq!(copied, ["--from=build /kulta /usr/local/bin/kulta"]);

    let user = last(runtime, "USER").expect("the final stage names its user");
    let uid = user.split(':').next().unwrap();
    let uid: u32 = uid
        .parse()
        .expect("a numeric user, so runAsNonRoot can check it");
    assert_ne!(uid, 0, "not root");
    let container = operator_container();
    let operator = repo("deploy/operator.yaml");
    assert!(
        operator.contains(&format!("runAsUser: {uid}")),
        "the pod runs as the image's user"
    );

    let entrypoint: Vec<String> =
        serde_json::from_str(last(runtime, "ENTRYPOINT").expect("an ENTRYPOINT")).unwrap();
    assert_eq!(
        entrypoint,
        ["/usr/local/bin/kulta"],
        "exec form, the binary itself"
    );
    let cmd: Vec<String> = serde_json::from_str(last(runtime, "CMD").expect("a CMD")).unwrap();
    assert_eq!(cmd, ["run"]);
    assert_eq!(container["args"][0], "run");
}

#[test]
fn the_deployment_runs_the_image_the_readme_builds_at_the_workspace_version() {
    let image = operator_container()["image"].as_str().unwrap().to_string();
    let (repository, tag) = image.rsplit_once(':').unwrap();
    assert_eq!(tag, env!("CARGO_PKG_VERSION"));
    assert_eq!(repository, "ghcr.io/kulta/kulta");
    let build = format!("docker build -t {image} .");
    assert!(repo("deploy/README.md").contains(&build), "{build}");
    assert!(repo("Dockerfile").contains(&build), "{build}");
}

#[test]
fn the_build_context_holds_only_the_workspace_sources() {
    let ignored = repo(".dockerignore");
    let kept: Vec<&str> = ignored
        .lines()
        .filter_map(|line| line.strip_prefix('!'))
        .collect();
    assert_eq!(
        kept,
        [
            "Cargo.toml",
            "Cargo.lock",
            "src/",
            "benches/",
            "interpreter/"
        ]
    );
    assert!(ignored.lines().any(|line| line == "*"));
    assert!(ignored.lines().any(|line| line == "**/target/"));
    // Everything the build stage copies is in the context.
    for (keyword, rest) in &stages(&repo("Dockerfile"))[0].1 {
        if keyword == "COPY" {
            let sources: Vec<&str> = rest.split_whitespace().collect();
            for source in &sources[..sources.len() - 1] {
                let source = source.trim_end_matches('/');
                assert!(
                    kept.iter().any(|k| k.trim_end_matches('/') == source),
                    "{source} is copied but not in the build context"
                );
            }
        }
    }
}
