//! Revision names: a template ships under its hash unless that name is held by another
//! template or another owner; then the collision count goes up and the revision is renamed.

mod support;

use kulta::effect::{Effect, EffectKind};
use kulta::sim::SimReplicaSet;
use kulta::status::Phase;
use kulta::{EffectError, ErrorCause, template_revision};
use support::*;

fn v2_template() -> k8s_openapi::api::core::v1::PodTemplateSpec {
    template("registry.example.com/shop/web:2")
}

/// An owned ReplicaSet under `revision`'s name that was made from another template.
fn plant(sim: &mut kulta::sim::Sim, revision: &str) {
    sim.world.replica_sets.insert(
        format!("web-{revision}"),
        SimReplicaSet {
            revision: revision.to_string(),
            pods: Vec::new(),
            created_at: sim.world.now,
            template_digest: Some("0".repeat(32)),
        },
    );
}

/// The canary's pods at 50%.
fn half(sim: &kulta::sim::Sim) -> i32 {
    (sim.spec.replicas + 1) / 2
}

fn created(sim: &kulta::sim::Sim) -> Vec<String> {
    sim.effects()
        .filter_map(|effect| match effect {
            Effect::CreateReplicaSet { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_template_whose_name_holds_another_template_ships_under_a_renamed_revision() {
    let mut sim = deployed(Spec::canary(vec![set_weight(50), pause()]).build());
    plant(&mut sim, &v2());
    ship_v2(&mut sim);
    sim.run_for(60);
    let renamed = template_revision(&v2_template(), 1);
    assert_eq!(sim.status.collision_count, 1);
    assert_eq!(
        sim.status.canary_revision.as_deref(),
        Some(renamed.as_str())
    );
    assert_eq!(sim.status.phase, Some(Phase::Paused));
    assert_eq!(
        sim.world.ready_of(&renamed),
        half(&sim),
        "the new template's pods run"
    );
    assert!(
        created(&sim).contains(&format!("web-{renamed}")),
        "{:?}",
        created(&sim)
    );
    assert!(!created(&sim).contains(&format!("web-{}", v2())));
    assert!(
        event_reasons(&sim).contains(&"RevisionNameCollision".to_string()),
        "{:?}",
        event_reasons(&sim)
    );
}

#[test]
fn a_template_colliding_with_the_stable_revision_is_shipped_not_taken_for_stable() {
    // The attack: a new template whose short hash equals the stable one's. Modelled by the
    // stable ReplicaSet holding another template under the same name; the spec changes.
    let mut sim = deployed(Spec::canary(vec![set_weight(50), pause()]).build());
    let stable = format!("web-{}", v1());
    if let Some(rs) = sim.world.replica_sets.get_mut(&stable) {
        rs.template_digest = Some("0".repeat(32));
    }
    sim.edit(|_| {});
    sim.run_for(60);
    let renamed = template_revision(&template("registry.example.com/shop/web:1"), 1);
    assert_eq!(sim.status.collision_count, 1);
    assert_eq!(
        sim.status.canary_revision.as_deref(),
        Some(renamed.as_str())
    );
    assert_eq!(
        sim.status.phase,
        Some(Phase::Paused),
        "not Completed at once"
    );
    assert_eq!(sim.status.stable_revision, Some(v1()));
}

#[test]
fn a_create_refused_because_the_name_is_taken_renames_the_revision_once() {
    let mut sim = deployed(Spec::canary(vec![set_weight(50), pause()]).build());
    ship_v2(&mut sim);
    // The first create met a foreign object under the name (the simulator has no such thing,
    // so the refusal is handed in as the operator reports it).
    sim.world.pending_errors.push(EffectError {
        kind: EffectKind::ReplicaSet,
        target: format!("ReplicaSet web-{}", v2()),
        cause: ErrorCause::NameTaken,
        message: "ReplicaSet is held by another owner".into(),
    });
    sim.run_for(60);
    let renamed = template_revision(&v2_template(), 1);
    assert_eq!(
        sim.status.collision_count, 1,
        "renamed once, not per reconcile"
    );
    assert_eq!(
        sim.status.canary_revision.as_deref(),
        Some(renamed.as_str())
    );
    assert_eq!(sim.world.ready_of(&renamed), half(&sim));
}

#[test]
fn a_rollout_that_never_collided_keeps_its_names_and_writes_no_count() {
    let mut sim = deployed(Spec::canary(vec![set_weight(50), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(60);
    assert_eq!(sim.status.collision_count, 0);
    assert_eq!(sim.status.canary_revision, Some(v2()));
    let json = serde_json::to_value(&sim.status).unwrap();
    assert!(json.get("collisionCount").is_none());
}
