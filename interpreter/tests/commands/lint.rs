//! `kulta lint`: the schema with unknown fields refused, `validate`'s own messages, and the
//! Services and HTTPRoute a Rollout names.

use super::offline::{arg, examples, file_with, kulta};

fn canary_example() -> String {
    let path = examples()
        .into_iter()
        .find(|path| path.ends_with("canary.yaml"))
        .unwrap();
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn every_example_passes_alone_and_together() {
    let files = examples();
    assert!(files.len() >= 3);
    for file in &files {
        let ran = kulta(&["lint", arg(file)]);
        assert_eq!(ran.code, Some(0), "{}", ran.text());
        assert!(ran.stdout.contains(": ok\n"), "{}", ran.text());
    }
    let mut args = vec!["lint"];
    args.extend(files.iter().map(|file| arg(file)));
    let ran = kulta(&args);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.ends_with("4 Rollouts checked, no problems\n"),
        "{}",
        ran.text()
    );
}

#[test]
fn a_misspelt_field_is_refused_with_its_path_and_the_field_it_was_meant_to_be() {
    let text = canary_example().replace("      trafficRouting:\n", "      trafficRoutng:\n");
    let (_dir, path) = file_with("typo.yaml", &text);
    let ran = kulta(&["lint", arg(&path)]);
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.stdout.contains(
            "Rollout shop/checkout: spec.strategy.canary.trafficRoutng: unknown field; did you mean trafficRouting?\n"
        ),
        "{}",
        ran.text()
    );
    let text = canary_example().replace("        - setWeight: 10\n", "        - setWieght: 10\n");
    let (_dir, path) = file_with("typo.yaml", &text);
    let ran = kulta(&["lint", arg(&path)]);
    assert!(
        ran.stdout.contains(
            "spec.strategy.canary.steps[0].setWieght: unknown field; did you mean setWeight?"
        ),
        "{}",
        ran.text()
    );
}

#[test]
fn an_invalid_spec_is_refused_with_the_message_step_would_give() {
    let text = canary_example().replace("        - setWeight: 50\n", "        - setWeight: 150\n");
    let (_dir, path) = file_with("invalid.yaml", &text);
    let ran = kulta(&["lint", arg(&path)]);
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.stdout.contains("Rollout shop/checkout: spec.strategy.canary.steps[3].setWeight: 150 is outside 0..=100\n"),
        "{}",
        ran.text()
    );
    let text = canary_example().replace("  replicas: 6\n", "  replicas: six\n");
    let (_dir, path) = file_with("schema.yaml", &text);
    let ran = kulta(&["lint", arg(&path)]);
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.stdout.contains(
            "Rollout shop/checkout: spec.replicas: Invalid value: \"six\": must be of type integer"
        ),
        "{}",
        ran.text()
    );
}

#[test]
fn the_services_and_route_a_rollout_names_are_cross_checked() {
    let missing_service = canary_example().replacen(
        "  name: checkout-canary\n",
        "  name: checkout-canary-old\n",
        1,
    );
    let (_dir, path) = file_with("services.yaml", &missing_service);
    let ran = kulta(&["lint", arg(&path)]);
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.stdout.contains(
            "spec.strategy.canary.canaryService: Service shop/checkout-canary is not in the files"
        ),
        "{}",
        ran.text()
    );
    let no_stable_backend = canary_example().replace(
        "        - name: checkout-stable\n          port: 80\n",
        "        - name: checkout-old\n          port: 80\n",
    );
    let (_dir, path) = file_with("route.yaml", &no_stable_backend);
    let ran = kulta(&["lint", arg(&path)]);
    assert!(
        ran.stdout.contains(
            "HTTPRoute shop/checkout has no backendRef naming the stable Service checkout-stable"
        ),
        "{}",
        ran.text()
    );
    let wrong_port = canary_example().replace(
        "        - name: checkout-canary\n          port: 80\n",
        "        - name: checkout-canary\n          port: 8080\n",
    );
    let (_dir, path) = file_with("port.yaml", &wrong_port);
    let ran = kulta(&["lint", arg(&path)]);
    assert!(
        ran.stdout.contains("sends the canary Service's traffic to port 8080, which Service shop/checkout-canary does not have (it has 80)"),
        "{}",
        ran.text()
    );
    // Services in a file of their own are the Rollout's neighbours too.
    let (rollout_part, _) = canary_example()
        .split_once("apiVersion: kulta.io")
        .map(|(head, tail)| (format!("apiVersion: kulta.io{tail}"), head.to_string()))
        .unwrap();
    let (_dir, rollout_only) = file_with("rollout.yaml", &rollout_part);
    let services_part = missing_service
        .split("apiVersion: kulta.io")
        .next()
        .unwrap();
    let (_other, services) = file_with("services.yaml", services_part);
    let ran = kulta(&["lint", arg(&rollout_only), arg(&services)]);
    assert!(
        ran.stdout
            .contains("Service shop/checkout-canary is not in the files"),
        "{}",
        ran.text()
    );
}

#[test]
fn a_peer_rollout_is_pointed_to_kulta_convert() {
    let (_dir, path) = file_with(
        "argo.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web, namespace: shop}\nspec: {}\n",
    );
    let ran = kulta(&["lint", arg(&path)]);
    assert_eq!(ran.code, Some(1), "{}", ran.text());
    assert!(
        ran.stdout.contains(
            "Rollout shop/web: an Argo Rollouts Rollout; `kulta convert` turns it into a KULTA one"
        ),
        "{}",
        ran.text()
    );
}
