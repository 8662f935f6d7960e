//! Taking over from what ran before: a `workloadRef` Deployment (its template shipped, itself
//! scaled down per `scaleDown`) and a running ReplicaSet no controller owns (adopted, not
//! copied).

mod support;

use std::collections::BTreeMap;

use kulta::effect::Effect;
use kulta::sim::{Sim, SimPod, SimReplicaSet};
use kulta::spec::{ScaleDown, WorkloadApiVersion, WorkloadKind, WorkloadRef};
use kulta::status::{ConditionStatus, ConditionType, Phase};
use kulta::{ObservedWorkload, RolloutSpec, pod_template_hash, step};
use support::*;

const DEPLOYMENT: &str = "web";

fn referencing(spec: RolloutSpec, scale_down: ScaleDown) -> RolloutSpec {
    let mut spec = spec;
    spec.template = Default::default();
    spec.workload_ref = Some(WorkloadRef {
        api_version: WorkloadApiVersion::AppsV1,
        kind: WorkloadKind::Deployment,
        name: DEPLOYMENT.into(),
        scale_down,
    });
    spec
}

/// A Rollout over a Deployment of `:1` with 4 running pods.
fn over_deployment(spec: RolloutSpec) -> Sim {
    let mut world = world(&spec, healthy);
    world.workload = Some(ObservedWorkload {
        name: DEPLOYMENT.into(),
        replicas: 4,
        template: template("registry.example.com/shop/web:1"),
    });
    Sim::new(spec, world)
}

fn deployment_replicas(sim: &Sim) -> i32 {
    sim.world.workload.as_ref().map_or(-1, |w| w.replicas)
}

fn created(sim: &Sim) -> Vec<String> {
    sim.effects()
        .filter_map(|effect| match effect {
            Effect::CreateReplicaSet { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn images(sim: &Sim) -> Vec<String> {
    sim.effects()
        .filter_map(|effect| match effect {
            Effect::CreateReplicaSet { template, .. } => template
                .spec
                .as_ref()
                .and_then(|pod| pod.containers[0].image.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_workload_ref_rollout_ships_the_deployments_template_and_its_changes_by_canary() {
    let spec = referencing(
        Spec::canary(vec![set_weight(25), pause_for("1m")]).build(),
        ScaleDown::Never,
    );
    let mut sim = over_deployment(spec);
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(images(&sim), ["registry.example.com/shop/web:1"]);
    if let Some(workload) = sim.world.workload.as_mut() {
        workload.template = template("registry.example.com/shop/web:2");
    }
    sim.run_for(20);
    assert_eq!(
        sim.status.current_step_index,
        Some(1),
        "the new template runs the steps"
    );
    assert_eq!(sim.status.current_weight, 25);
    sim.run_for(120);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(
        images(&sim),
        [
            "registry.example.com/shop/web:1",
            "registry.example.com/shop/web:2"
        ]
    );
    assert_eq!(
        deployment_replicas(&sim),
        4,
        "scaleDown: never leaves it alone"
    );
}

#[test]
fn scale_down_progressively_hands_pods_over_as_the_rollouts_become_available() {
    let spec = referencing(Spec::simple().build(), ScaleDown::Progressively);
    let mut sim = over_deployment(spec);
    sim.step_once();
    assert_eq!(
        deployment_replicas(&sim),
        4,
        "nothing of the Rollout is up yet"
    );
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(deployment_replicas(&sim), 0);
    // Never below what the Rollout's available pods leave uncovered, after any step.
    for record in &sim.records {
        let available: i32 = record
            .observations
            .replica_sets
            .iter()
            .map(|rs| rs.available_replicas)
            .sum();
        for effect in &record.effects {
            if let Effect::ScaleDeployment { replicas, .. } = effect {
                assert!(
                    replicas + available >= 4,
                    "Deployment scaled to {replicas} with {available} Rollout pods available"
                );
            }
        }
    }
}

#[test]
fn scale_down_on_success_waits_for_completion_and_never_leaves_it_alone() {
    let spec = referencing(Spec::simple().build(), ScaleDown::OnSuccess);
    let mut sim = over_deployment(spec);
    sim.run_for(5);
    assert_eq!(sim.status.phase, Some(Phase::Progressing));
    assert_eq!(deployment_replicas(&sim), 4);
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(deployment_replicas(&sim), 0);
}

#[test]
fn scale_down_on_success_keeps_what_a_replicas_raise_leaves_uncovered() {
    let spec = referencing(Spec::simple().replicas(4).build(), ScaleDown::OnSuccess);
    let mut sim = over_deployment(spec);
    // The Deployment cannot be scaled until the Rollout has completed and been raised.
    sim.world.failures.push(kulta::sim::FailureWindow {
        kind: kulta::EffectKind::Deployment,
        from: sim.world.now,
        until: sim.world.now + chrono::TimeDelta::seconds(60),
    });
    sim.run_for(50);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(deployment_replicas(&sim), 4);
    sim.world.default_pods = kulta::sim::PodBehaviour::ReadyAfter(chrono::TimeDelta::seconds(30));
    sim.edit(|spec| spec.replicas = 8);
    sim.run_for(20);
    // 4 of 8 Rollout pods may be ready; the Deployment keeps its share of the other 4.
    for record in &sim.records {
        let ready: i32 = record
            .observations
            .replica_sets
            .iter()
            .map(|rs| rs.ready_replicas.min(rs.replicas))
            .sum();
        let wanted = record.spec.replicas.max(1);
        for effect in &record.effects {
            if let Effect::ScaleDeployment { replicas, .. } = effect {
                assert!(
                    i64::from(*replicas) * i64::from(wanted)
                        >= 4 * i64::from(wanted - ready.min(wanted)),
                    "Deployment scaled to {replicas} with {ready} of {wanted} Rollout pods ready"
                );
            }
        }
    }
    sim.run_for(60);
    assert_eq!(deployment_replicas(&sim), 0, "down once all 8 are ready");
}

#[test]
fn a_missing_deployment_is_an_invalid_spec_naming_it_and_changes_nothing() {
    let spec = referencing(Spec::simple().build(), ScaleDown::OnSuccess);
    let obs = world(&spec, healthy).observe();
    let (status, effects) = step(&spec, &Default::default(), &obs);
    let condition = status.condition(ConditionType::InvalidSpec).unwrap();
    assert_eq!(condition.status, ConditionStatus::True);
    assert_eq!(
        condition.message,
        "spec.workloadRef: Deployment shop/web was not found"
    );
    assert!(
        effects
            .iter()
            .all(|effect| matches!(effect, Effect::RecordEvent(_))),
        "{effects:?}"
    );
}

#[test]
fn a_template_and_a_workload_ref_together_are_refused() {
    let mut spec = referencing(Spec::simple().build(), ScaleDown::Never);
    spec.template = template("registry.example.com/shop/web:1");
    let mut sim = over_deployment(spec.clone());
    let (status, _) = step(&spec, &Default::default(), &sim.world.observe());
    assert_eq!(
        status
            .condition(ConditionType::InvalidSpec)
            .unwrap()
            .message,
        "spec: template and workloadRef are both set; set exactly one"
    );
}

/// What an Argo Rollout deleted with `--cascade=orphan` leaves: its ReplicaSet of `image`,
/// with the API server's defaults in the template and Argo's hash label, 4 pods ready.
fn argo_leftover(sim: &mut Sim, image: &str) {
    argo_leftover_running(sim, template(image));
}

fn argo_leftover_running(sim: &mut Sim, mut running: k8s_openapi::api::core::v1::PodTemplateSpec) {
    if let Some(meta) = running.metadata.as_mut() {
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .insert("rollouts-pod-template-hash".into(), "6d4f8c9b7".into());
    }
    if let Some(pod) = running.spec.as_mut() {
        pod.restart_policy = Some("Always".into());
        pod.dns_policy = Some("ClusterFirst".into());
        pod.containers[0].termination_message_path = Some("/dev/termination-log".into());
    }
    let ready = SimPod {
        ready_at: Some(t0()),
        crash_at: None,
        flap: None,
    };
    sim.world.orphans.insert(
        "web-6d4f8c9b7".into(),
        (
            SimReplicaSet {
                revision: "6d4f8c9b7".into(),
                pods: vec![ready; 4],
                created_at: at(-3600),
                template_digest: None,
            },
            running,
        ),
    );
}

#[test]
fn a_rollout_created_over_a_running_replica_set_of_its_template_adopts_it() {
    let spec = Spec::canary(vec![set_weight(25), pause()]).build();
    let mut sim = Sim::new(spec.clone(), world(&spec, healthy));
    argo_leftover(&mut sim, "registry.example.com/shop/web:1");
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert!(
        created(&sim).is_empty(),
        "nothing created: {:?}",
        created(&sim)
    );
    let revision = pod_template_hash(&template("registry.example.com/shop/web:1"));
    assert_eq!(
        sim.status.stable_revision.as_deref(),
        Some(revision.as_str())
    );
    let adopted = &sim.world.replica_sets["web-6d4f8c9b7"];
    assert_eq!(adopted.revision, revision);
    assert_eq!(adopted.replicas(), 4);
    assert!(event_reasons(&sim).contains(&"ReplicaSetAdopted".to_string()));
    assert_eq!(
        sim.world.services[STABLE_SVC].as_deref(),
        Some(revision.as_str())
    );
    for record in &sim.records {
        kulta::sim::check_invariants(record).unwrap();
    }
}

#[test]
fn a_running_replica_set_of_another_template_is_left_alone() {
    let spec = Spec::canary(vec![set_weight(25), pause()]).build();
    let mut sim = Sim::new(spec.clone(), world(&spec, healthy));
    argo_leftover(&mut sim, "registry.example.com/shop/web:0");
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(created(&sim).len(), 1);
    assert!(sim.world.orphans.contains_key("web-6d4f8c9b7"));
    assert!(!event_reasons(&sim).contains(&"ReplicaSetAdopted".to_string()));
}

#[test]
fn a_running_replica_set_that_sets_what_the_rollout_does_not_is_left_alone() {
    let spec = Spec::canary(vec![set_weight(25), pause()]).build();
    let mut sim = Sim::new(spec.clone(), world(&spec, healthy));
    let mut running = template("registry.example.com/shop/web:1");
    if let Some(pod) = running.spec.as_mut() {
        pod.containers[0].command = Some(vec!["/bin/old-entrypoint".into()]);
    }
    argo_leftover_running(&mut sim, running);
    sim.run_for(60);
    assert_eq!(
        created(&sim).len(),
        1,
        "a copy of the template is made instead"
    );
    assert!(sim.world.orphans.contains_key("web-6d4f8c9b7"));
}

#[test]
fn scale_down_progressively_keeps_the_deployments_share_when_it_ran_more_pods() {
    let spec = referencing(Spec::simple().replicas(2).build(), ScaleDown::Progressively);
    let mut sim = over_deployment(spec);
    if let Some(workload) = sim.world.workload.as_mut() {
        workload.replicas = 20;
    }
    sim.run_for(60);
    assert_eq!(sim.status.workload_replicas, Some(20));
    let scaled: Vec<i32> = sim
        .effects()
        .filter_map(|effect| match effect {
            Effect::ScaleDeployment { replicas, .. } => Some(*replicas),
            _ => None,
        })
        .collect();
    assert_eq!(scaled.last(), Some(&0), "{scaled:?}");
    assert!(
        scaled.iter().all(|r| *r == 0 || *r >= 10),
        "never below its share while the Rollout's pods come up: {scaled:?}"
    );
}
