//! `kulta convert`: the peers' documented examples become KULTA Rollouts that pass `kulta
//! lint`; what cannot be carried over is commented and fails `--strict`.

use super::offline::{arg, data, file_with, kulta, kulta_in, kulta_with_stdin, yaml_files};

fn convert_fixture(name: &str, extra: &[&str]) -> super::harness::Ran {
    let path = data(&format!("convert/{name}"));
    let mut args = vec!["convert"];
    args.extend_from_slice(extra);
    args.push(arg(&path));
    kulta(&args)
}

#[test]
fn every_peer_example_converts_and_the_result_passes_kulta_lint() {
    let fixtures = yaml_files(&data("convert"));
    assert!(fixtures.len() >= 6, "{fixtures:?}");
    for fixture in fixtures {
        let name = fixture.file_name().unwrap().to_str().unwrap().to_string();
        let ran = kulta_in(&data("convert"), &["convert", &name]);
        assert_eq!(ran.code, Some(0), "{name}: {}", ran.text());
        assert!(
            ran.stdout.contains("kind: Rollout\n"),
            "{name}: {}",
            ran.text()
        );
        let (_dir, converted) = file_with("converted.yaml", &ran.stdout);
        let linted = kulta(&["lint", arg(&converted)]);
        assert_eq!(
            linted.code,
            Some(0),
            "{name}: {}\n{}",
            linted.text(),
            ran.stdout
        );
        insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_suffix => name.trim_end_matches(".yaml") }, {
            insta::assert_snapshot!("converted", ran.stdout);
        });
    }
}

#[test]
fn a_dropped_field_is_commented_where_it_was_and_strict_exits_non_zero() {
    let ran = convert_fixture("argo-canary-with-fields-kulta-lacks.yaml", &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    for comment in [
        "    # not carried over: spec.strategy.canary.antiAffinity: KULTA does not spread canary pods away from stable ones\n",
        "    # not carried over: spec.strategy.canary.trafficRouting.istio: KULTA routes traffic through a Gateway API HTTPRoute only",
        "        # not carried over: spec.strategy.canary.steps[1].experiment: KULTA runs no experiments\n",
        "# not carried over: spec.minReadySeconds:",
    ] {
        assert!(ran.stdout.contains(comment), "{comment}\n{}", ran.text());
    }
    assert!(
        ran.stderr
            .contains("Rollout shop/search: 6 fields were not carried over (see the comments)"),
        "{}",
        ran.text()
    );
    let strict = convert_fixture("argo-canary-with-fields-kulta-lacks.yaml", &["--strict"]);
    assert_eq!(strict.code, Some(1), "{}", strict.text());
    assert_eq!(
        strict.stdout, ran.stdout,
        "--strict prints the same conversion"
    );
}

#[test]
fn a_conversion_that_drops_nothing_passes_strict() {
    let ran = convert_fixture("argo-header-routing.yaml", &["--strict"]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(!ran.stdout.contains("not carried over"), "{}", ran.text());
    assert!(ran.stderr.is_empty(), "{}", ran.text());
}

#[test]
fn an_unconvertible_success_condition_is_refused_with_the_expression_and_the_reason() {
    let ran = convert_fixture("argo-unconvertible-success-condition.yaml", &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains(
            "# not carried over: AnalysisTemplate shop/checks: spec.metrics[1]: metric has-traffic: successCondition \"len(result) > 0 && result[0] > 10\" cannot be converted: len(result) counts the series a query returns; KULTA compares one value"
        ),
        "{}",
        ran.text()
    );
    assert!(
        ran.stdout.contains("- name: error-rate") && ran.stdout.contains("max: 0.01"),
        "the convertible metric of the same template is kept: {}",
        ran.text()
    );
    let strict = convert_fixture("argo-unconvertible-success-condition.yaml", &["--strict"]);
    assert_eq!(strict.code, Some(1), "{}", strict.text());
}

#[test]
fn template_args_are_substituted_and_pod_template_hashes_become_kulta_variables() {
    let ran = convert_fixture("argo-canary-with-steps-and-analysis.yaml", &[]);
    assert!(!ran.stdout.contains("{{args."), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("service=\"web-canary\",pod_template_hash=\"{{revision}}\",code!~\"5..\""),
        "{}",
        ran.stdout
    );
    // Argo counts 5 measurements with 1 failure allowed: 4 successes pass.
    assert!(
        ran.stdout.contains("            count: 4\n"),
        "{}",
        ran.stdout
    );
    // startingStep 2 in Argo's numbering is step 2 here too (no step was dropped).
    assert!(
        ran.stdout.contains("        startingStep: 2\n"),
        "{}",
        ran.stdout
    );
    let blue_green = convert_fixture(
        "argo-blue-green-with-pre-and-post-analysis.yaml",
        &["--strict"],
    );
    assert_eq!(blue_green.code, Some(0), "{}", blue_green.text());
    assert!(
        blue_green
            .stdout
            .contains("namespace=\"{{namespace}}\",rollouts_pod_template_hash=\"{{revision}}\""),
        "{}",
        blue_green.stdout
    );
}

#[test]
fn a_flagger_canary_becomes_weighted_steps_with_its_services_and_route() {
    let ran = convert_fixture("flagger-canary-with-metric-templates.yaml", &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let steps: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("- setWeight:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        steps,
        [
            "- setWeight: 10",
            "- setWeight: 20",
            "- setWeight: 30",
            "- setWeight: 40",
            "- setWeight: 50"
        ]
    );
    // threshold 5: the fifth failed check rolls back, four are tolerated.
    assert!(
        ran.stdout.contains("        failureLimit: 4\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("app=\"podinfo\",route=\"/api/info\"}[30s]"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("kind: HTTPRoute\n"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("  name: podinfo-primary\n"),
        "{}",
        ran.stdout
    );
    let ab = convert_fixture(
        "flagger-ab-testing-with-builtin-metrics.yaml",
        &["--strict"],
    );
    assert_eq!(ab.code, Some(1), "{}", ab.text());
    assert!(
        ab.stdout.contains("metric request-success-rate: Flagger's built-in request-success-rate is a query its mesh provider defines"),
        "{}",
        ab.stdout
    );
    assert!(
        ab.stdout.contains("            duration: 10m\n"),
        "{}",
        ab.stdout
    );
}

#[test]
fn files_without_a_peer_rollout_are_a_usage_error() {
    let (_dir, path) = file_with(
        "empty.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    let ran = kulta(&["convert", arg(&path)]);
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stderr.contains("no Argo Rollouts Rollout"),
        "{}",
        ran.text()
    );
}

#[test]
fn a_background_analysis_starts_at_the_same_step_when_earlier_steps_are_dropped() {
    let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: errors, namespace: shop}
spec:
  metrics:
    - name: errors
      interval: 1m
      successCondition: result[0] < 0.01
      provider:
        prometheus:
          address: http://prometheus:9090
          query: sum(rate(errors_total[1m]))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1}]}
  strategy:
    canary:
      analysis:
        templates: [{templateName: errors}]
        startingStep: 3
      steps:
        - setWeight: 10
        - experiment: {duration: 5m}
        - setMirrorRoute: {name: mirror, percentage: 50}
        - setWeight: 50
        - pause: {}
"#;
    let (_dir, path) = file_with("rollout.yaml", text);
    let ran = kulta(&["convert", arg(&path)]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    // Argo's step 3 (setWeight 50) is KULTA's step 1 once the two steps KULTA lacks are gone.
    assert!(
        ran.stdout.contains("        startingStep: 1\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("KULTA runs no experiments"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("KULTA does not mirror traffic"),
        "{}",
        ran.stdout
    );
    let (_dir, converted) = file_with("converted.yaml", &ran.stdout);
    let linted = kulta(&["lint", arg(&converted)]);
    assert_eq!(linted.code, Some(0), "{}", linted.text());
}

#[test]
fn flagger_step_weights_become_steps_and_a_template_variable_without_a_value_is_refused() {
    let text = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: ns}
spec:
  replicas: 4
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec: {containers: [{name: app, image: app:1}]}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: ns}
spec:
  provider: {type: prometheus, address: "http://prometheus:9090"}
  query: sum(rate(errors_total{route="{{ variables.route }}"}[{{ interval }}]))
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: app, namespace: ns}
spec:
  provider: gatewayapi:v1beta1
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: app}
  service: {port: 80}
  analysis:
    interval: 2m
    threshold: 1
    stepWeights: [5, 25, 75]
    metrics:
      - name: errors
        templateRef: {name: errors}
        thresholdRange: {max: 2}
"#;
    let (_dir, path) = file_with("canary.yaml", text);
    let ran = kulta(&["convert", arg(&path)]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let weights: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("- setWeight:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        weights,
        ["- setWeight: 5", "- setWeight: 25", "- setWeight: 75"]
    );
    assert!(
        ran.stdout.contains("            duration: 2m\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("metric errors: MetricTemplate ns/errors uses {{ variables.route }}, which has no value here"),
        "{}",
        ran.stdout
    );
    assert!(
        !ran.stdout.contains("      analysis:\n"),
        "with no metric left there is no analysis: {}",
        ran.stdout
    );
}

#[test]
fn convert_pipes_into_lint() {
    let ran = convert_fixture("argo-blue-green-with-pre-and-post-analysis.yaml", &[]);
    let linted = kulta_with_stdin(&["lint", "-"], &ran.stdout);
    assert_eq!(linted.code, Some(0), "{}", linted.text());
    assert!(
        linted.stdout.contains("-: Rollout shop/storefront: ok\n"),
        "{}",
        linted.text()
    );
}
