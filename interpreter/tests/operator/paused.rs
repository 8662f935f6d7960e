//! A leader that is stopped (SIGSTOP: a long GC pause, a frozen VM, a node under memory
//! pressure) for longer than its lease: a standby takes over and finishes the rollout; when the
//! stopped one resumes, with timers due and a stale view of the cluster, it writes nothing.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kulta_apisim::faults::Verb;
use serde_json::json;

use crate::support::*;

/// A `kulta run` process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kulta_run(kubeconfig: &std::path::Path, identity: &str) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_kulta"))
        .args([
            "run",
            "--namespace=default",
            "--lease-namespace=default",
            &format!("--identity={identity}"),
            "--listen=127.0.0.1:0",
            "--lease-duration=3s",
            "--renew-deadline=2s",
            "--retry-period=300ms",
        ])
        .env("KUBECONFIG", kubeconfig)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Process(child)
}

fn signal(process: &Process, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal}");
}

/// Writes to anything but the Lease, any outcome.
fn writes_besides_the_lease(cluster: &Cluster) -> u64 {
    cluster
        .sim
        .request_counts()
        .iter()
        .filter(|((verb, resource, _), _)| verb.is_write() && resource != "leases")
        .map(|(_, n)| n)
        .sum()
}

async fn holder_becomes(leases: &Api<Lease>, identity: &str) {
    eventually(&format!("{identity} to hold the lease"), LIMIT, || async {
        let lease = leases
            .get("kulta-controller")
            .await
            .map_err(|e| e.to_string())?;
        let holder = lease.spec.and_then(|spec| spec.holder_identity);
        if holder.as_deref() == Some(identity) {
            Ok(())
        } else {
            Err(format!("{holder:?}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_longer_than_its_lease_resumes_and_writes_nothing() {
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    cluster
        .rollout(
            2,
            "web:1",
            canary(
                true,
                json!([{"setWeight": 50}, {"pause": {"duration": "4s"}}, {"setWeight": 80}]),
                json!({}),
            ),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.sim.kubeconfig()).unwrap();
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), NS);

    let first = kulta_run(&kubeconfig, "first");
    holder_becomes(&leases, "first").await;
    cluster.settled().await;
    let v1 = cluster.revision().await;
    let second = kulta_run(&kubeconfig, "second");
    let v2 = cluster.ship("web:2").await;
    // Stopped in the middle of the timed pause: its timer is due while it is stopped.
    cluster
        .status_until("the canary in its timed pause", LIMIT, |s| {
            s.current_step_index == Some(1) && s.pause_start_time.is_some()
        })
        .await;
    signal(&first, "-STOP");
    holder_becomes(&leases, "second").await;
    cluster.stable_on(&v2).await;
    cluster.replicas_become(&[(&v1, 0), (&v2, 2)]).await;
    // At rest (3 s without a write, longer than the 2 s scale-down delay): the
    // standby-turned-leader has nothing left to write.
    let mut before = writes_besides_the_lease(&cluster);
    let mut quiet = 0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = writes_besides_the_lease(&cluster);
        quiet = if now == before { quiet + 1 } else { 0 };
        before = now;
        if quiet == 6 {
            break;
        }
    }
    assert_eq!(quiet, 6, "the new leader never came to rest");
    signal(&first, "-CONT");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = writes_besides_the_lease(&cluster);
    let counts: Vec<_> = cluster
        .sim
        .request_counts()
        .into_iter()
        .filter(|((verb, _, _), _)| *verb != Verb::Get && *verb != Verb::List)
        .collect();
    assert_eq!(
        after, before,
        "the resumed leader wrote after losing its lease: {counts:?}"
    );
    let mut first = first;
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "the resumed controller is still running, as a standby"
    );
    holder_becomes(&leases, "second").await;
    let status = cluster.status().await;
    assert_eq!(status.stable_revision.as_deref(), Some(v2.as_str()));
    drop(second);
}
