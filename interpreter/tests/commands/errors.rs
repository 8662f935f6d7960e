//! Errors are sentences naming the object and the server; a missing CRD says how to install
//! it; the plugin's help describes the plugin.

use kulta_apisim::ApiSim;

use crate::harness::{Kubeconfig, run};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_crd_says_how_to_install_it() {
    let sim = ApiSim::start().await.unwrap();
    let kubeconfig = Kubeconfig::for_sim(&sim, "default");
    let ran = kubeconfig.kulta(&["get"]).await;
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stderr.contains(&format!(
            "the Rollout kind (kulta.io/v1alpha1) is not installed on {}; install it with `kulta crd | kubectl apply -f -`",
            sim.url()
        )),
        "{}",
        ran.text()
    );
    let ran = kubeconfig.kulta(&["promote", "web"]).await;
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stderr.contains("kulta crd | kubectl apply -f -"),
        "{}",
        ran.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_rollout_and_an_unreachable_server_are_sentences() {
    let cluster = Cluster::start().await;
    let kubeconfig = Kubeconfig::for_sim(&cluster.sim, NS);
    let ran = kubeconfig.kulta(&["status", "nope", "--wait"]).await;
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert_eq!(
        ran.stderr.trim(),
        format!(
            "kulta: rollout default/nope was not found on {}",
            cluster.sim.url()
        )
    );
    let ran = kubeconfig
        .kulta(&["get", "rollout", "nope", "-n", "shop"])
        .await;
    assert!(
        ran.stderr.contains("rollout shop/nope was not found"),
        "{}",
        ran.text()
    );

    // A server that is gone: the sentence names it and the object, without Debug dumps.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let gone = Kubeconfig::with_text(
        &cluster
            .sim
            .kubeconfig()
            .replace(&cluster.sim.url(), &format!("http://127.0.0.1:{port}")),
    );
    let ran = gone.kulta(&["abort", "web"]).await;
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stderr.starts_with(&format!(
            "kulta: could not get rollout default/web on http://127.0.0.1:{port}: "
        )),
        "{}",
        ran.text()
    );
    for dump in ["ApiError", "Error {", "Status {", "kind:"] {
        assert!(!ran.stderr.contains(dump), "{dump} in {}", ran.text());
    }
}

#[tokio::test]
async fn the_plugin_help_describes_the_plugin() {
    let ran = run(env!("CARGO_BIN_EXE_kubectl-kulta"), None, &["--help"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(ran.stdout.contains("as a kubectl plugin"), "{}", ran.text());
    assert!(
        ran.stdout.contains("Usage: kubectl kulta"),
        "{}",
        ran.text()
    );
    let ran = run(env!("CARGO_BIN_EXE_kulta"), None, &["--help"]).await;
    assert!(ran.stdout.contains("Usage: kulta"), "{}", ran.text());
}
