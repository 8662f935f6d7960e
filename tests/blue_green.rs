//! Blue-green behaviour.

mod support;

use kulta::MetricValue;
use kulta::RequestAction;
use kulta::effect::{CdEventKind, Effect};
use kulta::status::{ConditionType, Phase};
use support::*;

fn rs_replicas(sim: &kulta::sim::Sim, revision: &str) -> i32 {
    sim.world.replica_sets[&format!("web-{revision}")].replicas()
}

#[test]
fn a_new_revision_comes_up_behind_the_preview_service_while_active_stays() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| bg.auto_promotion_enabled = false)
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    assert_eq!(sim.status.phase, Some(Phase::Preview));
    assert_eq!(rs_replicas(&sim, &v2()), 4);
    assert_eq!(
        sim.world.services[PREVIEW_SVC],
        Some(v1()),
        "the preview Service keeps serving from v1 until v2 has ready pods"
    );
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v1()));
    sim.run_for(30);
    assert_eq!(sim.world.services[PREVIEW_SVC], Some(v2()));
    sim.run_for(3600);
    assert_eq!(sim.status.phase, Some(Phase::Preview));
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v1()));
}

#[test]
fn manual_promotion_switches_the_active_service_in_one_write() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| bg.auto_promotion_enabled = false)
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    sim.run_for(60);
    sim.request(request(RequestAction::Promote, "p1"));
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v2()));
    let switches = sim
        .effects()
        .filter(|e| matches!(e, Effect::PointService { service, revision } if service == ACTIVE_SVC && *revision == v2()))
        .count();
    assert_eq!(switches, 1);
    assert_eq!(sim.status.phase, Some(Phase::Progressing));
}

#[test]
fn auto_promotion_waits_auto_promotion_seconds_after_the_preview_is_ready() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| bg.auto_promotion_seconds = Some(120))
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    sim.run_for(10);
    let ready_at = sim.world.now;
    assert_eq!(
        sim.status.blue_green.as_ref().unwrap().promotable_since,
        Some(ready_at)
    );
    sim.run_for(119);
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v1()));
    sim.run_for(1);
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v2()));
}

#[test]
fn the_old_revision_stays_up_for_the_scale_down_delay_then_completes() {
    let mut sim = deployed(Spec::blue_green().build());
    ship_v2(&mut sim);
    sim.run_for(10);
    let promoted = sim.status.blue_green.as_ref().unwrap().promoted_at.unwrap();
    sim.run_until(promoted + chrono::TimeDelta::seconds(29), 100);
    assert_eq!(rs_replicas(&sim, &v1()), 4);
    assert_eq!(sim.status.phase, Some(Phase::Progressing));
    sim.run_until(promoted + chrono::TimeDelta::seconds(30), 100);
    assert_eq!(rs_replicas(&sim, &v1()), 0);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(sim.status.stable_revision, Some(v2()));
    assert_eq!(
        cdevent_kinds(&sim)[2..],
        [
            CdEventKind::ServiceDeployed,
            CdEventKind::ServiceUpgraded,
            CdEventKind::ServicePublished
        ]
    );
}

#[test]
fn a_smaller_preview_is_scaled_to_full_before_the_switch() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| bg.preview_replica_count = Some(1))
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    assert_eq!(rs_replicas(&sim, &v2()), 1);
    sim.run_for(10);
    assert_eq!(rs_replicas(&sim, &v2()), 4, "promotion asks for full scale");
    assert_eq!(
        sim.world.services[ACTIVE_SVC],
        Some(v1()),
        "not ready at full scale yet"
    );
    sim.run_for(10);
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v2()));
}

#[test]
fn pre_promotion_analysis_must_pass_before_promotion() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| bg.pre_promotion_analysis = Some(error_rate(0.05)))
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    sim.run_for(20);
    assert_eq!(
        sim.world.services[ACTIVE_SVC],
        Some(v1()),
        "one success of two"
    );
    sim.run_for(30);
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v2()));
}

#[test]
fn failed_pre_promotion_analysis_scales_the_preview_down_and_never_switches() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| bg.pre_promotion_analysis = Some(error_rate(0.05)))
        .build();
    let mut sim = deployed_with(spec, |_, _| MetricValue::Sample(0.5));
    ship_v2(&mut sim);
    sim.run_for(120);
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    assert_eq!(rs_replicas(&sim, &v2()), 0);
    assert_eq!(sim.world.services[PREVIEW_SVC], Some(v1()));
    assert!(
        sim.effects()
            .all(|e| !matches!(e, Effect::PointService { service, revision } if service == ACTIVE_SVC && *revision == v2()))
    );
}

#[test]
fn failed_post_promotion_analysis_switches_the_active_service_back() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| {
            bg.post_promotion_analysis = Some(error_rate(0.05));
            bg.scale_down_delay_seconds = 600;
        })
        .build();
    let mut sim = deployed_with(spec, |key, _| {
        if key.revision == v2() {
            MetricValue::Sample(0.3)
        } else {
            MetricValue::Sample(0.0)
        }
    });
    ship_v2(&mut sim);
    sim.run_for(10);
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v2()));
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Failed));
    assert_eq!(sim.world.services[ACTIVE_SVC], Some(v1()));
    assert_eq!(rs_replicas(&sim, &v1()), 4, "the old revision was still up");
    assert_eq!(rs_replicas(&sim, &v2()), 0);
    let failed = sim.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(failed.reason, "AnalysisFailed");
    assert!(
        failed.message.contains("0.3 is above max 0.05"),
        "{}",
        failed.message
    );
}

#[test]
fn a_template_revert_during_preview_completes_at_once() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| bg.auto_promotion_enabled = false)
        .build();
    let mut sim = deployed(spec);
    ship_v2(&mut sim);
    sim.run_for(30);
    sim.edit(|spec| spec.template = template("registry.example.com/shop/web:1"));
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(sim.status.canary_revision, None);
    assert_eq!(sim.world.services[PREVIEW_SVC], Some(v1()));
    assert_eq!(
        rs_replicas(&sim, &v2()),
        1,
        "v2 keeps a pod for the preview traffic until the scale-down delay has passed"
    );
    sim.run_for(31);
    assert_eq!(rs_replicas(&sim, &v2()), 0);
}

#[test]
fn promote_full_skips_the_analyses() {
    let spec = Spec::blue_green()
        .blue_green_with(|bg| {
            bg.auto_promotion_enabled = false;
            bg.pre_promotion_analysis = Some(error_rate(0.05));
            bg.post_promotion_analysis = Some(error_rate(0.05));
        })
        .build();
    let mut sim = deployed_with(spec, |_, _| MetricValue::Empty);
    ship_v2(&mut sim);
    sim.run_for(10);
    sim.request(request(RequestAction::PromoteFull, "full"));
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    assert_eq!(sim.status.stable_revision, Some(v2()));
}
