//! How long one `step` takes, in the states a controller sees most.

use criterion::{Criterion, criterion_group, criterion_main};
use kulta::sim::scenario::Scenario;
use kulta::step;

const PAUSED_CANARY: &str = r#"
image: registry.example.com/web:1
rollout:
  replicas: 10
  strategy:
    canary:
      stableService: stable
      canaryService: canary
      trafficRouting: {gatewayAPI: {httpRoute: route}}
      steps: [{setWeight: 20}, {pause: {}}]
script:
  - {at: 1m, image: registry.example.com/web:2}
until: 3m
"#;

fn bench(c: &mut Criterion) {
    let run = Scenario::from_yaml(PAUSED_CANARY)
        .expect("scenario")
        .run()
        .expect("run");
    let last = run.records.last().expect("a step");
    c.bench_function("step/canary paused, nothing to do", |b| {
        b.iter(|| step(&last.spec, &last.after, &last.observations))
    });
    let moving = run
        .records
        .iter()
        .find(|r| r.after.current_weight != r.before.current_weight)
        .expect("a weight change");
    c.bench_function("step/canary weight change", |b| {
        b.iter(|| step(&moving.spec, &moving.before, &moving.observations))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
