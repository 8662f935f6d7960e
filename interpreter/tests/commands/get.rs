//! `kulta get` (list, `-o json|yaml|wide`, `-A`) and `kulta get rollout NAME [-w]`, in the
//! kubeconfig context's namespace unless `-n` says otherwise; and a request sent there.

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kulta::{ControlRequest, REQUEST_ANNOTATION, Rollout};
use serde_json::json;

use crate::harness::Kubeconfig;
use crate::support::*;

/// A Rollout `web` in namespace `shop` whose status says its spec is invalid, and one named
/// `other` in `default`.
async fn two_namespaces(cluster: &Cluster) {
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let shop: Namespace = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .unwrap();
    namespaces
        .create(&PostParams::default(), &shop)
        .await
        .unwrap();
    let rollout = |name: &str, namespace: &str| -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": canary(false, json!([{"setWeight": 20}, {"pause": {}}]), json!({})),
            }
        }))
        .unwrap()
    };
    let in_shop: Api<Rollout> = Api::namespaced(cluster.client.clone(), "shop");
    in_shop
        .create(&PostParams::default(), &rollout("web", "shop"))
        .await
        .unwrap();
    cluster
        .rollouts()
        .create(&PostParams::default(), &rollout("other", NS))
        .await
        .unwrap();
    let status = json!({"status": {
        "phase": "Initializing",
        "observedGeneration": 1,
        "currentWeight": 0,
        "message": "spec.strategy.canary.steps[0].setWeight: 120 is not in 0..=100",
        "conditions": [{"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec",
                        "message": "spec.strategy.canary.steps[0].setWeight: 120 is not in 0..=100",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    }});
    in_shop
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_lists_the_context_namespace_with_age_and_reason_in_every_format() {
    let cluster = Cluster::start().await;
    two_namespaces(&cluster).await;
    let kubeconfig = Kubeconfig::for_sim(&cluster.sim, "shop");

    let ran = kubeconfig.kulta(&["get"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines[0].contains("NAME") && lines[0].contains("REASON") && lines[0].contains("AGE"),
        "{}",
        ran.text()
    );
    assert!(!lines[0].contains("NAMESPACE"), "{}", ran.text());
    assert_eq!(
        lines.len(),
        2,
        "only the context's namespace: {}",
        ran.text()
    );
    assert!(
        lines[1].contains("web") && lines[1].contains("InvalidSpec"),
        "{}",
        ran.text()
    );
    assert!(
        lines[1].split_whitespace().last().unwrap().ends_with('s'),
        "an age: {}",
        ran.text()
    );

    // The plugin, as kubectl runs it, honours the context too; -n overrides it.
    let ran = kubeconfig.plugin(&["get", "rollouts"]).await;
    assert!(
        ran.stdout.contains("web") && !ran.stdout.contains("other"),
        "{}",
        ran.text()
    );
    let ran = kubeconfig.plugin(&["get", "-n", "default"]).await;
    assert!(
        ran.stdout.contains("other") && !ran.stdout.contains("web "),
        "{}",
        ran.text()
    );

    let ran = kubeconfig.kulta(&["get", "-A"]).await;
    assert!(ran.stdout.starts_with("NAMESPACE"), "{}", ran.text());
    assert!(
        ran.stdout.contains("shop") && ran.stdout.contains("other"),
        "{}",
        ran.text()
    );

    let ran = kubeconfig.kulta(&["get", "-o", "wide"]).await;
    assert!(
        ran.stdout.contains("MESSAGE") && ran.stdout.contains("setWeight: 120"),
        "{}",
        ran.text()
    );

    let ran = kubeconfig.kulta(&["get", "-o", "json"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let list: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["metadata"]["name"], "web");
    assert_eq!(
        list["items"][0]["status"]["conditions"][0]["reason"],
        "InvalidSpec"
    );

    let ran = kubeconfig.kulta(&["get", "-o", "yaml"]).await;
    let list: serde_json::Value = serde_yaml_ng::from_str(&ran.stdout).unwrap();
    assert_eq!(list["items"][0]["metadata"]["namespace"], "shop");

    // A rollout whose spec is invalid cannot finish: status --wait says so with exit 2.
    let ran = kubeconfig.kulta(&["status", "web", "--wait"]).await;
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stdout
            .contains("rollout shop/web cannot proceed: its spec is invalid: spec.strategy"),
        "{}",
        ran.text()
    );

    let ran = kubeconfig.kulta(&["get", "-o", "toml"]).await;
    assert_eq!(ran.code, Some(2), "{}", ran.text());

    // A request without -n goes to the context's namespace.
    let ran = kubeconfig.kulta(&["pause", "web"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains("rollout shop/web: requested pause:"),
        "{}",
        ran.text()
    );
    let in_shop: Api<Rollout> = Api::namespaced(cluster.client.clone(), "shop");
    let rollout = in_shop.get("web").await.unwrap();
    let request: ControlRequest = rollout.metadata.annotations.unwrap()[REQUEST_ANNOTATION]
        .parse()
        .unwrap();
    assert_eq!(request.action, kulta::RequestAction::Pause);
    assert_eq!(
        request.revision,
        Some(kulta::pod_template_hash(&rollout.spec.template))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_rollout_draws_the_tree_and_watch_redraws_it_as_the_rollout_moves() {
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    cluster
        .rollout(
            2,
            "web:1",
            canary(true, json!([{"setWeight": 50}, {"pause": {}}]), json!({})),
        )
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    let v1 = cluster.revision().await;
    cluster.settled().await;
    let kubeconfig = Kubeconfig::for_sim(&cluster.sim, NS);
    let v2 = cluster.ship("web:2").await;
    cluster
        .status_until("the canary paused", LIMIT, |s| {
            s.phase == Some(kulta::Phase::Paused)
        })
        .await;

    let ran = kubeconfig.plugin(&["get", "rollout", "web"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let tree = &ran.stdout;
    for expected in [
        "Name:        web",
        "Status:      Paused (PausedByStep)",
        "Strategy:    Canary",
        "✔ 0 setWeight 50",
        "▶ 1 pause (until promoted)",
        "Weight:      50% decided",
        &format!("{v2:<12} canary  web:2  ReplicaSet web-{v2}  1/1 ready"),
        &format!("{v1:<12} stable  web:1  ReplicaSet web-{v1}  2/2 ready"),
        &format!("web-canary               → revision {v2}"),
        &format!("web-stable               → revision {v1}"),
        "HTTPRoute:     web  web-stable 50 / web-canary 50",
        "Conditions:",
        "Events:",
        "NewRevision",
    ] {
        assert!(tree.contains(expected), "{expected:?} in\n{tree}");
    }
    assert!(!tree.contains('\x1b'), "no colour when piped:\n{tree}");

    // --watch prints a new frame when the rollout moves, and stops at --timeout.
    let watching = tokio::spawn({
        let path = kubeconfig.path.clone();
        async move {
            crate::harness::run(
                env!("CARGO_BIN_EXE_kulta"),
                Some(path),
                &["get", "rollout", "web", "-w", "--timeout", "6s"],
            )
            .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    kulta_interpreter::cli::control::request(
        cluster.client.clone(),
        NS,
        "web",
        kulta::RequestAction::Promote,
    )
    .await
    .unwrap();
    let ran = watching.await.unwrap();
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let frames = ran.stdout.matches("Name:        web").count();
    assert!(frames >= 2, "a frame per change: {}", ran.text());
    assert!(
        ran.stdout.contains("Status:      Completed"),
        "{}",
        ran.text()
    );
    operator.stop().await;
}
