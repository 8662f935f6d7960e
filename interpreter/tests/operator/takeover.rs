//! Moving to KULTA without a redeploy: a Rollout that names a Deployment (`workloadRef`) ships
//! the Deployment's template and scales the Deployment down per `scaleDown`; a Rollout created
//! over running ReplicaSets of its template (what an Argo Rollout deleted with
//! `--cascade=orphan` leaves) adopts them instead of starting a copy.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kulta_apisim::faults::{Fault, FaultRule, Verb};
use serde_json::{Value, json};

use crate::support::*;

async fn deployment_replicas(cluster: &Cluster) -> i32 {
    cluster
        .deployments()
        .get("web")
        .await
        .unwrap()
        .spec
        .and_then(|spec| spec.replicas)
        .unwrap_or(1)
}

/// Available pods of the Rollout's ReplicaSets (those carrying its revision label).
async fn rollout_available(cluster: &Cluster) -> i32 {
    cluster
        .replica_sets()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|rs| rs.labels().contains_key(kulta::POD_TEMPLATE_HASH_LABEL))
        .filter_map(|rs| rs.status.as_ref().and_then(|s| s.available_replicas))
        .sum()
}

/// Poll until the Rollout completes; at every poll the Deployment's pods and the Rollout's
/// available ones together cover the 4 replicas wanted.
async fn completes_without_a_gap(cluster: &Cluster) -> Vec<i32> {
    let mut seen = Vec::new();
    for _ in 0..400 {
        let deployment = deployment_replicas(cluster).await;
        let available = rollout_available(cluster).await;
        assert!(
            deployment + available >= 4,
            "the Deployment was scaled to {deployment} with {available} Rollout pods available"
        );
        if seen.last() != Some(&deployment) {
            seen.push(deployment);
        }
        let status = cluster.status().await;
        if status.phase == Some(kulta::Phase::Completed) && deployment == 0 {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the Rollout did not take over within 10 s; Deployment replicas seen: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_ref_rollout_ships_a_new_deployment_template_by_canary_and_scales_the_deployment_down()
 {
    let cluster = Cluster::start().await;
    cluster.sim.set_ready_after(Duration::from_millis(600));
    cluster.canary_services(true).await;
    cluster.deployment(4, "web:1").await;
    cluster
        .rollout_over_deployment(
            4,
            "progressively",
            canary(
                true,
                json!([{"setWeight": 50}, {"pause": {}}]),
                json!({"scaleDownDelaySeconds": 0}),
            ),
        )
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    completes_without_a_gap(&cluster).await;
    let v1 = cluster.status().await.stable_revision.unwrap();
    // The Deployment's template changes: a new revision, through the canary's steps.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
    let changed = cluster
        .deployments()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let v2 = kulta::pod_template_hash(&changed.spec.unwrap().template);
    assert_ne!(v1, v2);
    cluster.weights_become(50, 50).await;
    assert_eq!(
        cluster.selects("web-canary").await.as_deref(),
        Some(v2.as_str())
    );
    promote_at_pause(&cluster).await;
    cluster.stable_on(&v2).await;
    cluster.replicas_become(&[(&v1, 0), (&v2, 4)]).await;
    assert_eq!(
        deployment_replicas(&cluster).await,
        0,
        "the Deployment stays down"
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_on_success_keeps_the_deployment_until_the_rollout_completes() {
    let cluster = Cluster::start().await;
    cluster.sim.set_ready_after(Duration::from_millis(600));
    cluster.deployment(4, "web:1").await;
    cluster
        .rollout_over_deployment(4, "onsuccess", json!({"simple": {}}))
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    let seen = completes_without_a_gap(&cluster).await;
    assert_eq!(seen, [4, 0], "kept at 4, then 0 at once");
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_on_success_keeps_what_a_replicas_raise_leaves_uncovered() {
    let cluster = Cluster::start().await;
    cluster.deployment(1, "web:1").await;
    cluster
        .rollout_over_deployment(1, "onsuccess", json!({"simple": {}}))
        .await;
    // Every write to the Deployment fails: the Rollout completes but cannot scale it down.
    cluster.sim.inject(FaultRule::new(
        Some(Verb::Patch),
        Some("deployments"),
        Fault::Fail(500),
    ));
    let operator = start_operator(&cluster, options(None, None)).await;
    let stable = cluster.settled().await.stable_revision.unwrap();
    eventually("a failed scale-down of the Deployment", LIMIT, || async {
        let failed = cluster
            .sim
            .request_counts()
            .get(&(Verb::Patch, "deployments".to_string(), 500))
            .copied()
            .unwrap_or(0);
        if failed > 0 {
            Ok(())
        } else {
            Err("none yet".into())
        }
    })
    .await;
    assert_eq!(deployment_replicas(&cluster).await, 1);
    // 1 -> 2 while the Deployment still runs its pod; the new pod takes 3 s to be ready.
    cluster.sim.set_ready_after(Duration::from_secs(3));
    let patch = json!({"spec": {"replicas": 2}});
    cluster
        .rollouts()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    cluster.replicas_become(&[(&stable, 2)]).await;
    cluster.sim.clear_faults();
    // From now on the Deployment can be scaled: it keeps its pod while the Rollout has 1 of 2
    // available, and goes to 0 once both are. Bounded: at most 400 polls (10 s and more).
    let mut seen = Vec::new();
    let mut kept_while_uncovered = false;
    for _ in 0..400 {
        let deployment = deployment_replicas(&cluster).await;
        let available = rollout_available(&cluster).await;
        assert!(
            deployment + available >= 2,
            "the Deployment was scaled to {deployment} with {available} of 2 Rollout pods available"
        );
        kept_while_uncovered |= available < 2 && deployment > 0;
        if seen.last() != Some(&deployment) {
            seen.push(deployment);
        }
        if deployment == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        seen,
        [1, 0],
        "kept at 1, then 0 once both pods are available"
    );
    assert!(
        kept_while_uncovered,
        "the check saw the Rollout's second pod not yet available"
    );
    assert_eq!(rollout_available(&cluster).await, 2);
    assert_eq!(cluster.status().await.phase, Some(kulta::Phase::Completed));
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_never_leaves_the_deployment_alone() {
    let cluster = Cluster::start().await;
    cluster.deployment(4, "web:1").await;
    cluster
        .rollout_over_deployment(4, "never", json!({"simple": {}}))
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    cluster.settled().await;
    assert_eq!(deployment_replicas(&cluster).await, 4);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_naming_a_missing_deployment_says_so_and_touches_nothing() {
    let cluster = Cluster::start().await;
    cluster
        .rollout_over_deployment(4, "onsuccess", json!({"simple": {}}))
        .await;
    let operator = start_operator(&cluster, options(None, None)).await;
    let status = cluster
        .status_until("the missing Deployment to be named", LIMIT, |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == kulta::status::ConditionType::InvalidSpec)
        })
        .await;
    let condition = status
        .condition(kulta::status::ConditionType::InvalidSpec)
        .unwrap();
    assert_eq!(
        condition.message,
        format!("spec.workloadRef: Deployment {NS}/web was not found")
    );
    // Created later, it is picked up by the watch.
    cluster.deployment(4, "web:1").await;
    cluster.settled().await;
    operator.stop().await;
}

/// What `kubectl delete rollout.argoproj.io web --cascade=orphan` leaves: Argo's ReplicaSet of
/// `web:1` (4 pods, its hash label, the server's template defaults), two of its pods, and the
/// stable Service still selecting by Argo's hash.
async fn argo_leftovers(cluster: &Cluster) -> String {
    let hash = "6d4f8c9b7";
    let labels = json!({"app": "web", "rollouts-pod-template-hash": hash});
    let replica_set: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("web-{hash}"), "labels": labels},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "web", "image": "web:1",
                                                  "terminationMessagePath": "/dev/termination-log",
                                                  "imagePullPolicy": "IfNotPresent"}],
                                  "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}},
        }
    }))
    .unwrap();
    let created = cluster
        .replica_sets()
        .create(&PostParams::default(), &replica_set)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), NS);
    for index in 0..2 {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("web-{hash}-{index}"), "labels": labels,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": created.name_any(),
                                              "uid": created.uid().unwrap(), "controller": true}]},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let service: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web-stable"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .unwrap();
    cluster
        .services()
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    cluster.service("web-canary").await;
    cluster.route("web").await;
    eventually("Argo's pods to be ready", LIMIT, || async {
        let rs = cluster
            .replica_sets()
            .get(&format!("web-{hash}"))
            .await
            .unwrap();
        match rs.status.and_then(|s| s.ready_replicas) {
            Some(4) => Ok(()),
            ready => Err(format!("{ready:?} ready")),
        }
    })
    .await;
    format!("web-{hash}")
}

/// After adoption: one ReplicaSet (the adopted one, owned, labelled), every pod labelled,
/// the stable Service on the revision without Argo's key, no ReplicaSet ever created.
async fn adopted_cleanly(cluster: &Cluster, adopted: &str, what: &str) {
    let revision = cluster.revision().await;
    let creates = cluster
        .sim
        .request_counts()
        .iter()
        .filter(|((verb, resource, _), _)| *verb == Verb::Create && resource == "replicasets")
        .map(|(_, count)| count)
        .sum::<u64>();
    assert_eq!(
        creates, 1,
        "{what}: only the test's own ReplicaSet was ever created"
    );
    let sets = cluster
        .replica_sets()
        .list(&Default::default())
        .await
        .unwrap();
    assert_eq!(sets.items.len(), 1, "{what}");
    let rs = &sets.items[0];
    assert_eq!(rs.name_any(), adopted, "{what}");
    assert_eq!(
        rs.labels().get(kulta::POD_TEMPLATE_HASH_LABEL),
        Some(&revision),
        "{what}"
    );
    assert!(
        !rs.annotations().contains_key(kulta::ADOPTING_ANNOTATION),
        "{what}: the adoption was finished"
    );
    let owner = &rs.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("Rollout", Some(true)),
        "{what}"
    );
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), NS);
    for pod in pods.list(&Default::default()).await.unwrap() {
        assert_eq!(
            pod.labels().get(kulta::POD_TEMPLATE_HASH_LABEL),
            Some(&revision),
            "{what}: pod {} was not labelled",
            pod.name_any()
        );
    }
    let selector = cluster
        .services()
        .get("web-stable")
        .await
        .unwrap()
        .spec
        .and_then(|spec| spec.selector)
        .unwrap();
    assert_eq!(
        selector.get(kulta::POD_TEMPLATE_HASH_LABEL),
        Some(&revision),
        "{what}"
    );
    assert!(
        !selector.contains_key("rollouts-pod-template-hash"),
        "{what}: {selector:?}"
    );
}

fn adopting_rollout() -> Value {
    canary(true, json!([{"setWeight": 50}, {"pause": {}}]), json!({}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adoption_killed_after_any_write_is_finished_by_the_next_operator() {
    let uninterrupted = Cluster::start().await;
    let adopted = argo_leftovers(&uninterrupted).await;
    let before = uninterrupted.sim.writes();
    uninterrupted.rollout(4, "web:1", adopting_rollout()).await;
    let operator = start_operator(&uninterrupted, options(None, None)).await;
    uninterrupted.settled().await;
    operator.stop().await;
    // The operator's writes: the Rollout's create is the test's.
    let writes = uninterrupted.sim.writes() - before - 1;
    assert!(writes >= 5, "adoption took only {writes} writes");
    for k in 0..writes {
        let what = format!("killed after write {k} of {writes}");
        let cluster = Cluster::start().await;
        argo_leftovers(&cluster).await;
        cluster.rollout(4, "web:1", adopting_rollout()).await;
        cluster.sim.freeze_writes_after(k);
        let doomed = start_operator(&cluster, options(None, None)).await;
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = cluster.sim.writes();
        let mut quiet = std::time::Instant::now();
        while cluster.sim.frozen_writes() == 0
            && quiet.elapsed() < Duration::from_millis(1500)
            && std::time::Instant::now() < give_up
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if cluster.sim.writes() != seen {
                seen = cluster.sim.writes();
                quiet = std::time::Instant::now();
            }
        }
        doomed.kill();
        cluster.sim.clear_faults();
        let successor = start_operator(&cluster, options(None, None)).await;
        cluster.settled().await;
        adopted_cleanly(&cluster, &adopted, &what).await;
        successor.stop().await;
    }
    eprintln!("adoption: killed after each of its {writes} writes, finished cleanly every time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_created_over_running_replica_sets_adopts_them_without_creating_one() {
    let cluster = Cluster::start().await;
    let adopted = argo_leftovers(&cluster).await;
    cluster.rollout(4, "web:1", adopting_rollout()).await;
    let operator = start_operator(&cluster, options(None, None)).await;
    let status = cluster.settled().await;
    let revision = cluster.revision().await;
    assert_eq!(status.stable_revision.as_deref(), Some(revision.as_str()));
    adopted_cleanly(&cluster, &adopted, "uninterrupted").await;
    cluster.event_recorded("ReplicaSetAdopted").await;
    // And the next image ships as usual.
    let v2 = cluster.ship("web:2").await;
    cluster.weights_become(50, 50).await;
    promote_at_pause(&cluster).await;
    cluster.stable_on(&v2).await;
    operator.stop().await;
}
