//! How long one `step` takes, in the states a controller sees most.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kulta::sim::{Sim, World};
use kulta::spec::{
    CanaryStep, CanaryStrategy, GatewayApiRouting, PauseStep, RolloutSpec, Strategy, TrafficRouting,
};
use kulta::{MetricValue, RolloutRef, step};

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".into(), "web".into())])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

fn paused_canary() -> Sim {
    let spec = RolloutSpec {
        replicas: 10,
        selector: LabelSelector {
            match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
            match_expressions: None,
        },
        template: template("registry.example.com/web:1"),
        revision_history_limit: 2,
        progress_deadline_seconds: 600,
        strategy: Strategy {
            canary: Some(CanaryStrategy {
                stable_service: Some("stable".into()),
                canary_service: Some("canary".into()),
                traffic_routing: Some(TrafficRouting {
                    gateway_api: GatewayApiRouting {
                        http_route: "route".into(),
                        namespace: None,
                    },
                }),
                steps: vec![
                    CanaryStep::SetWeight(20),
                    CanaryStep::Pause(PauseStep::default()),
                ],
                analysis: None,
                dynamic_stable_scale: false,
            }),
            ..Default::default()
        },
    };
    let rollout = RolloutRef {
        name: "web".into(),
        namespace: "shop".into(),
        uid: "uid".into(),
        generation: 1,
    };
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let world = World::new(
        start,
        rollout,
        &["stable", "canary"],
        Some(&["stable", "canary"]),
        |_: &kulta::MeasurementKey, _| MetricValue::Sample(0.0),
    );
    let mut sim = Sim::new(spec, world);
    sim.run_for(60);
    sim.edit(|spec| spec.template = template("registry.example.com/web:2"));
    sim.run_for(60);
    sim
}

fn bench(c: &mut Criterion) {
    let mut sim = paused_canary();
    let observations = sim.world.observe();
    c.bench_function("step/canary paused, nothing to do", |b| {
        b.iter(|| step(&sim.spec, &sim.status, &observations))
    });
    let record = sim
        .records
        .iter()
        .find(|r| r.after.current_weight != r.before.current_weight)
        .cloned()
        .expect("a weight change");
    c.bench_function("step/canary weight change", |b| {
        b.iter(|| step(&record.spec, &record.before, &record.observations))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
