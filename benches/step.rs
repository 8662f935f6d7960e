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

/// The case issue 15 sets its goal on: a 10-step canary over a route with 3 metrics in
/// background analysis.
const TEN_STEPS_THREE_METRICS: &str = r#"
image: registry.example.com/web:1
rollout:
  replicas: 10
  strategy:
    canary:
      stableService: stable
      canaryService: canary
      trafficRouting: {gatewayAPI: {httpRoute: route}}
      analysis:
        interval: 1m
        prometheus: {address: "http://prometheus:9090"}
        metrics:
          - {name: error-rate, query: "sum(rate(errors{revision=\"{{revision}}\"}[1m]))", thresholdRange: {max: 0.05}}
          - {name: latency-p99, query: "histogram_quantile(0.99, rate(latency_bucket[1m]))", thresholdRange: {max: 0.5}}
          - {name: saturation, query: "avg(cpu{revision=\"{{revision}}\"})", thresholdRange: {max: 0.9}}
      steps:
        - {setWeight: 10}
        - {pause: {duration: 2m}}
        - {setWeight: 20}
        - {pause: {duration: 2m}}
        - {setWeight: 40}
        - {pause: {duration: 2m}}
        - {setWeight: 60}
        - {pause: {duration: 2m}}
        - {setWeight: 80}
        - {pause: {}}
world:
  metrics:
    error-rate: {default: {constant: 0.01}}
    latency-p99: {default: {constant: 0.2}}
    saturation: {default: {constant: 0.5}}
script:
  - {at: 1m, image: registry.example.com/web:2}
until: 14m
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

/// The 10-step canary with 3 metrics: paused at its last step (measurements still arriving) and
/// moving its weight.
fn bench_ten_steps(c: &mut Criterion) {
    let run = Scenario::from_yaml(TEN_STEPS_THREE_METRICS)
        .expect("scenario")
        .run()
        .expect("run");
    let paused = run
        .records
        .iter()
        .rev()
        .find(|r| r.after == r.before)
        .expect("a step that changes nothing");
    c.bench_function("step/10-step canary, 3 metrics, nothing to do", |b| {
        b.iter(|| step(&paused.spec, &paused.before, &paused.observations))
    });
    // The floor under any `step` that returns the status it was given, changed or not: one
    // clone of that status and its drop.
    c.bench_function(
        "step/10-step canary, 3 metrics, status clone and drop",
        |b| b.iter(|| paused.before.clone()),
    );
    let moving = run
        .records
        .iter()
        .rev()
        .find(|r| r.after.current_weight > r.before.current_weight && r.before.current_weight > 0)
        .expect("a weight change");
    c.bench_function("step/10-step canary, 3 metrics, weight change", |b| {
        b.iter(|| step(&moving.spec, &moving.before, &moving.observations))
    });
}

criterion_group!(benches, bench, bench_ten_steps);
criterion_main!(benches);
