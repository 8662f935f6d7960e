//! Replay throughput: decoding trace lines and running `step` again over them.
//!
//! The trace comes from `benches/soak.yaml` (about 100,000 steps of a canary under 1-second
//! background analysis), recorded in memory first.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kulta::sim::scenario::Scenario;
use kulta::trace::{Replayer, TraceDecoder, TraceEncoder, parse_line};

fn soak_trace() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/soak.yaml"))
        .expect("benches/soak.yaml");
    let run = Scenario::from_yaml(&text)
        .expect("scenario")
        .run()
        .expect("run");
    let mut encoder = TraceEncoder::new();
    run.records
        .iter()
        .map(|r| {
            encoder
                .encode(&r.spec, &r.before, &r.observations, &r.after, &r.effects)
                .expect("encode")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let lines = soak_trace();
    let count = lines.len() as u64;
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(count));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut decoder = TraceDecoder::new();
            for line in &lines {
                decoder.decode(line).expect("decode");
            }
        })
    });
    group.bench_function("parse and replay with verify", |b| {
        b.iter(|| {
            let mut replayer = Replayer::new();
            for (index, line) in lines.iter().enumerate() {
                let parsed = parse_line(line, index + 1).expect("parse");
                let replayed = replayer.replay(parsed).expect("replay");
                assert!(replayed.divergence.is_none());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
