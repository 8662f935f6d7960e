//! CDEvent effects: mapping of transitions, subject, environment, artifact and stable ids.

mod support;

use kulta::RequestAction;
use kulta::effect::{CdEvent, CdEventKind, Effect};
use kulta::sim::Sim;
use support::*;

fn events(sim: &Sim) -> Vec<CdEvent> {
    sim.effects()
        .filter_map(|e| match e {
            Effect::EmitCdEvent(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_canary_emits_deployed_upgraded_per_step_and_published() {
    let mut sim =
        deployed(Spec::canary(vec![set_weight(20), pause_for("1m"), set_weight(100)]).build());
    ship_v2(&mut sim);
    sim.run_for(300);
    let kinds: Vec<_> = events(&sim).iter().skip(2).map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            CdEventKind::ServiceDeployed,
            CdEventKind::ServiceUpgraded,
            CdEventKind::ServiceUpgraded,
            CdEventKind::ServiceUpgraded,
            CdEventKind::ServicePublished,
        ]
    );
    let event = &events(&sim)[2];
    assert_eq!(event.subject_id, "shop/web");
    assert_eq!(event.environment, "shop");
    assert_eq!(event.revision, v2());
    assert_eq!(
        event.artifact_id,
        "pkg:oci/web?repository_url=registry.example.com/shop/web&tag=2"
    );
}

#[test]
fn an_abort_emits_rolledback() {
    let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
    ship_v2(&mut sim);
    sim.run_for(30);
    sim.request(request(RequestAction::Abort, "a"));
    assert_eq!(
        events(&sim).last().unwrap().kind,
        CdEventKind::ServiceRolledback
    );
}

#[test]
fn event_ids_are_unique_within_a_run_and_identical_across_runs() {
    let run = || {
        let mut sim = deployed(Spec::canary(vec![set_weight(20), pause()]).build());
        ship_v2(&mut sim);
        sim.run_for(30);
        sim.request(request(RequestAction::Abort, "a"));
        sim.request(request(RequestAction::Retry, "r"));
        sim.run_for(30);
        events(&sim).into_iter().map(|e| e.id).collect::<Vec<_>>()
    };
    let ids = run();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a retry's events get new ids: {ids:?}"
    );
    assert_eq!(ids, run());
}

#[test]
fn shipping_a_revision_again_gives_its_events_new_ids() {
    let mut sim = deployed(Spec::canary(vec![set_weight(100)]).build());
    ship_v2(&mut sim);
    sim.run_for(120);
    sim.edit(|spec| spec.template = template("registry.example.com/shop/web:1"));
    sim.run_for(120);
    ship_v2(&mut sim);
    sim.run_for(120);
    let ids: Vec<String> = events(&sim).into_iter().map(|e| e.id).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert!(ids.len() >= 8, "{ids:?}");
    assert_eq!(
        unique.len(),
        ids.len(),
        "1 -> 2 -> 1 -> 2 reuses no id: {ids:?}"
    );
}
