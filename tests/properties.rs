//! Property tests: the safety invariants hold after every step of arbitrary valid rollouts
//! driven by arbitrary events, and `step` never panics on arbitrary (also invalid) input.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::TimeDelta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kulta::duration::DurationString;
use kulta::effect::{CdEvent, Effect, EffectKind};
use kulta::sim::{
    EffectLag, FailureWindow, PodBehaviour, Sim, SimPod, SimReplicaSet, check_invariants,
};
use kulta::spec::{
    AnalysisSpec, CanaryStep, MetricSpec, PauseStep, PrometheusProvider, RolloutSpec,
    ThresholdRange,
};
use kulta::spec::{ScaleDown, WorkloadApiVersion, WorkloadKind, WorkloadRef};
use kulta::{MetricValue, ObservedWorkload, RequestAction};
use proptest::prelude::*;
use support::*;

#[derive(Clone, Debug)]
enum Outcome {
    Good,
    Bad,
    Empty,
    NaN,
    Error,
}

#[derive(Clone, Debug)]
enum Action {
    Wait(i64),
    Request(RequestAction),
    Template(u8),
    Restart,
    Drift(i32),
    Replicas(i32),
}

fn analysis() -> impl Strategy<Value = AnalysisSpec> {
    (10i64..90, 0i32..3, 0i32..3, 1i32..3).prop_map(|(interval, failures, inconclusives, count)| {
        AnalysisSpec {
            interval: DurationString::new(format!("{interval}s")),
            failure_limit: failures,
            inconclusive_limit: inconclusives,
            count,
            starting_step: None,
            prometheus: PrometheusProvider {
                address: "http://prom:9090".into(),
            },
            metrics: vec![MetricSpec {
                name: "errors".into(),
                query: "errors{rev=\"{{revision}}\"}".into(),
                threshold_range: ThresholdRange {
                    min: None,
                    max: Some(0.05),
                },
                initial_delay: None,
            }],
        }
    })
}

fn canary_step(routed: bool) -> impl Strategy<Value = CanaryStep> {
    let header = if routed {
        prop_oneof![
            Just(header_route("beta", "X-Beta", "1")),
            Just(remove_header_route("beta")),
        ]
        .boxed()
    } else {
        Just(set_weight(10)).boxed()
    };
    prop_oneof![
        4 => (0i32..=100).prop_map(set_weight),
        1 => Just(pause()),
        2 => (0i64..120).prop_map(|s| CanaryStep::Pause(PauseStep {
            duration: Some(DurationString::new(format!("{s}s"))),
        })),
        1 => header,
        1 => analysis().prop_map(CanaryStep::Analysis),
    ]
}

fn spec() -> impl Strategy<Value = RolloutSpec> {
    let canary = (
        0u8..3,
        prop::collection::vec(canary_step(true), 1..6),
        prop::option::of(analysis()),
        0usize..6,
    )
        .prop_map(|(kind, mut steps, background, start)| {
            if kind == 2 {
                for step in &mut steps {
                    if matches!(step, CanaryStep::SetHeaderRoute(_)) {
                        *step = set_weight(30);
                    }
                }
            }
            let mut spec = match kind {
                0 => Spec::canary(steps),
                1 => Spec::canary(steps).dynamic_stable_scale(),
                _ => Spec::canary_without_routing(steps),
            };
            if let Some(mut analysis) = background {
                let len = spec.0.strategy.canary.as_ref().map_or(0, |c| c.steps.len());
                analysis.starting_step = Some(i32::try_from(start.min(len)).unwrap());
                spec = spec.background_analysis(analysis);
            }
            spec
        });
    let blue_green = (
        any::<bool>(),
        0i32..60,
        0i32..60,
        prop::option::of(1i32..4),
        prop::option::of(analysis()),
        prop::option::of(analysis()),
    )
        .prop_map(|(auto, auto_seconds, delay, preview, pre, post)| {
            Spec::blue_green().blue_green_with(|bg| {
                bg.auto_promotion_enabled = auto;
                bg.auto_promotion_seconds = Some(auto_seconds);
                bg.scale_down_delay_seconds = delay;
                bg.preview_replica_count = preview;
                bg.pre_promotion_analysis = pre;
                bg.post_promotion_analysis = post;
            })
        });
    let simple = (0i32..3, 0i32..3, prop::option::of(analysis())).prop_map(
        |(surge, unavailable, analysis)| {
            let mut spec = Spec::simple();
            if let Some(simple) = spec.0.strategy.simple.as_mut() {
                simple.max_surge = Some(IntOrString::Int(surge.max(if unavailable == 0 {
                    1
                } else {
                    0
                })));
                simple.max_unavailable = Some(IntOrString::Int(unavailable));
            }
            match analysis {
                Some(a) => spec.background_analysis(a),
                None => spec,
            }
        },
    );
    (
        prop_oneof![3 => canary, 1 => blue_green, 1 => simple],
        1i32..8,
        30i32..300,
    )
        .prop_map(|(spec, replicas, deadline)| {
            spec.replicas(replicas).progress_deadline(deadline).build()
        })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (1i64..400).prop_map(Action::Wait),
        3 => prop::sample::select(RequestAction::ALL.to_vec()).prop_map(Action::Request),
        2 => (1u8..5).prop_map(Action::Template),
        1 => Just(Action::Restart),
        1 => (0i32..=100).prop_map(Action::Drift),
        1 => (1i32..8).prop_map(Action::Replicas),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        5 => Just(Outcome::Good),
        2 => Just(Outcome::Bad),
        1 => Just(Outcome::Empty),
        1 => Just(Outcome::NaN),
        1 => Just(Outcome::Error),
    ]
}

fn pods() -> impl Strategy<Value = PodBehaviour> {
    prop_oneof![
        5 => (0i64..60).prop_map(|s| PodBehaviour::ReadyAfter(TimeDelta::seconds(s))),
        1 => Just(PodBehaviour::NeverReady),
    ]
}

fn image(version: u8) -> String {
    format!("registry.example.com/shop/web:{version}")
}

fn trace(sim: &Sim) -> String {
    let mut out = String::new();
    for (index, record) in sim.records.iter().enumerate() {
        let _ = writeln!(
            out,
            "#{index} {} phase={:?} step={:?} weight={} effects={}",
            record.observations.now,
            record.after.phase,
            record.after.current_step_index,
            record.after.current_weight,
            serde_json::to_string(&record.effects).unwrap_or_default()
        );
    }
    out
}

/// A window of the run: (start, length) in seconds.
fn window() -> impl Strategy<Value = (i64, i64)> {
    (0i64..900, 1i64..240)
}

/// Cases for the invariant property: 10,000 in CI; `KULTA_PROPTEST_CASES=1000000` for the
/// long run (see README, "Safety").
#[allow(clippy::disallowed_methods)] // a test's case count; the core itself reads no environment
fn invariant_cases() -> u32 {
    std::env::var("KULTA_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: invariant_cases(), max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn safety_invariants_hold_after_every_step(
        spec in spec(),
        script in prop::collection::vec(outcome(), 1..8),
        behaviours in prop::collection::vec(pods(), 4),
        actions in prop::collection::vec(action(), 1..24),
        failing in prop::collection::vec((window(), prop::sample::select(vec![EffectKind::Route, EffectKind::Service, EffectKind::ReplicaSet])), 0..3),
        lagging in prop::collection::vec((window(), 1i64..90), 0..2),
        takeover in 0u8..5,
        scale_down in prop::sample::select(vec![ScaleDown::Never, ScaleDown::OnSuccess, ScaleDown::Progressively]),
    ) {
        let metric_script = script.clone();
        let metrics = move |key: &kulta::MeasurementKey, _now| {
            let salt: u32 = key.revision.bytes().map(u32::from).sum();
            let index = usize::try_from(key.round + salt).unwrap_or(0) % metric_script.len();
            match metric_script[index] {
                Outcome::Good => MetricValue::Sample(0.01),
                Outcome::Bad => MetricValue::Sample(0.5),
                Outcome::Empty => MetricValue::Empty,
                Outcome::NaN => MetricValue::Sample(f64::NAN),
                Outcome::Error => MetricValue::Error("connection refused".into()),
            }
        };
        // What ran before: nothing, a ReplicaSet no controller owns (of the first image, or
        // of another), or a Deployment the Rollout ships through `workloadRef`.
        let mut spec = spec;
        let mut world = world(&spec, metrics);
        match takeover {
            1 | 2 => {
                let running = template(&image(if takeover == 1 { 1 } else { 0 }));
                let ready = SimPod { ready_at: Some(at(0)), crash_at: None, flap: None };
                let pods = vec![ready; usize::try_from(spec.replicas).unwrap_or(0)];
                let rs = SimReplicaSet { revision: "argo".into(), pods, created_at: at(-60), template_digest: None };
                world.orphans.insert("web-argo".into(), (rs, running));
            }
            3 => {
                world.workload = Some(ObservedWorkload { name: "web".into(), replicas: spec.replicas, template: spec.template.clone() });
                spec.template = Default::default();
                spec.workload_ref = Some(WorkloadRef {
                    api_version: WorkloadApiVersion::AppsV1,
                    kind: WorkloadKind::Deployment,
                    name: "web".into(),
                    scale_down,
                });
            }
            _ => {}
        }
        let mut sim = Sim::new(spec.clone(), world);
        for (version, behaviour) in (2u8..).zip(behaviours.iter().skip(1)) {
            sim.world.pods.insert(revision_of(&image(version)), behaviour.clone());
        }
        for ((from, length), kind) in &failing {
            sim.world.failures.push(FailureWindow {
                kind: *kind,
                from: at(*from),
                until: at(from + length),
            });
        }
        for ((from, length), delay) in &lagging {
            sim.world.lags.push(EffectLag {
                kind: EffectKind::Route,
                from: at(*from),
                until: at(from + length),
                delay: TimeDelta::seconds(*delay),
            });
        }
        sim.run_for(60);
        let mut token = 0;
        for action in &actions {
            match action {
                Action::Wait(seconds) => { sim.run_for(*seconds); }
                Action::Request(what) => {
                    token += 1;
                    sim.request(request(*what, &format!("t{token}")));
                }
                Action::Template(version) => {
                    let image = image(*version);
                    match sim.world.workload.as_mut() {
                        Some(workload) => {
                            workload.template = template(&image);
                            sim.settle();
                        }
                        None => sim.edit(|spec| spec.template = template(&image)),
                    }
                }
                Action::Restart => {
                    let json = serde_json::to_string(&sim.status).unwrap();
                    sim.status = serde_json::from_str(&json).unwrap();
                    sim.world.pending_results.clear();
                    sim.settle();
                }
                Action::Drift(weight) => {
                    if let Some(route) = sim.world.route.as_mut() {
                        for backend in &mut route.backends {
                            backend.weight = if backend.service == CANARY_SVC { *weight } else { 100 - weight };
                        }
                    }
                    sim.settle();
                }
                Action::Replicas(replicas) => sim.edit(|spec| spec.replicas = *replicas),
            }
            prop_assert!(sim.records.len() < 50_000, "step cap reached");
        }
        for (index, record) in sim.records.iter().enumerate() {
            if let Err(violation) = check_invariants(record) {
                prop_assert!(false, "step #{index}: {violation}\ntrace:\n{}", trace(&sim));
            }
        }
        // A receiver de-duplicates by id: one id, one body, whatever failed in between.
        let mut bodies: BTreeMap<&str, &CdEvent> = BTreeMap::new();
        for effect in sim.effects() {
            if let Effect::EmitCdEvent(event) = effect
                && let Some(first) = bodies.insert(&event.id, event)
            {
                prop_assert_eq!(first, event, "CDEvent {} decided twice with different bodies\ntrace:\n{}", event.id, trace(&sim));
            }
        }
    }
}

// ---- step never panics, whatever it is given ----

fn arbitrary_json(depth: u32) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e12f64..1e12).prop_map(serde_json::Value::from),
        "[a-z0-9%:-]{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(depth, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Overwrite a field of a JSON object at a path with `value`.
fn poke(target: &mut serde_json::Value, path: &[&str], value: serde_json::Value) {
    let mut node = target;
    for key in &path[..path.len() - 1] {
        node = &mut node[*key];
    }
    node[path[path.len() - 1]] = value;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn step_never_panics_on_arbitrary_input(
        spec in spec(),
        replicas in any::<i32>(),
        weight in any::<i32>(),
        step_index in any::<i32>(),
        attempt in any::<u32>(),
        ready in any::<i32>(),
        desired in any::<i32>(),
        deadline in any::<i32>(),
        history in any::<i32>(),
        duration in "[-0-9a-z ]{0,6}",
        threshold in any::<f64>(),
        phase in prop::sample::select(vec!["Initializing", "Progressing", "Paused", "Preview", "Completed", "Failed"]),
        junk in arbitrary_json(3),
        seconds in any::<i32>(),
    ) {
        let mut spec_json = serde_json::to_value(&spec).unwrap();
        poke(&mut spec_json, &["replicas"], replicas.into());
        poke(&mut spec_json, &["progressDeadlineSeconds"], deadline.into());
        poke(&mut spec_json, &["revisionHistoryLimit"], history.into());
        if spec_json["strategy"]["canary"].is_object() {
            spec_json["strategy"]["canary"]["steps"] = serde_json::json!([
                {"setWeight": weight}, {"pause": {"duration": duration}},
                {"analysis": {"interval": duration, "prometheus": {"address": "x"},
                  "metrics": [{"name": "m", "query": "q", "thresholdRange": {"min": threshold, "max": threshold / 2.0}}]}}
            ]);
        }
        if spec_json["strategy"]["blueGreen"].is_object() {
            poke(&mut spec_json, &["strategy", "blueGreen", "autoPromotionSeconds"], seconds.into());
            poke(&mut spec_json, &["strategy", "blueGreen", "scaleDownDelaySeconds"], seconds.into());
            poke(&mut spec_json, &["strategy", "blueGreen", "previewReplicaCount"], replicas.into());
        }
        if spec_json["strategy"]["simple"].is_object() {
            poke(&mut spec_json, &["strategy", "simple", "maxSurge"], format!("{weight}%").into());
        }
        let Ok(spec) = serde_json::from_value::<RolloutSpec>(spec_json) else { return Ok(()); };
        let status = serde_json::json!({
            "phase": phase,
            "stableRevision": "s1",
            "canaryRevision": revision_of("registry.example.com/shop/web:1"),
            "currentStepIndex": step_index,
            "currentWeight": weight,
            "attempt": attempt,
            "pauseStartTime": "2026-01-01T00:00:00Z",
            "waiting": {"since": "2020-01-01T00:00:00Z", "progress": ready},
            "blueGreen": {"promotedAt": "2026-01-01T00:00:00Z", "promotionRequested": true},
            "gateAnalysis": {"kind": "Step", "stepIndex": step_index, "revision": "x", "round": attempt,
                             "phase": "Running", "metrics": [{"name": "m", "lastRound": attempt,
                             "successes": attempt, "failures": attempt, "inconclusives": attempt}]},
        });
        let status: kulta::RolloutStatus = serde_json::from_value(status).unwrap();
        let mut observations = kulta::sim::World::new(at(0), rollout_ref(), &[STABLE_SVC], Some(&[STABLE_SVC, CANARY_SVC]), healthy).observe();
        observations.replica_sets = vec![
            kulta::ObservedReplicaSet { name: "a".into(), revision: "s1".into(), replicas: desired, ready_replicas: ready, available_replicas: ready, created_at: None, template_digest: None, adopting: false },
            kulta::ObservedReplicaSet { name: "b".into(), revision: revision_of("registry.example.com/shop/web:1"), replicas: i32::MAX, ready_replicas: i32::MAX, available_replicas: desired, created_at: None, template_digest: None, adopting: false },
        ];
        if let Some(route) = observations.http_route.as_mut() {
            route.backends[0].weight = weight;
        }
        let junk_result = serde_json::json!({
            "key": {"analysis": "Step", "stepIndex": step_index, "revision": "x", "round": attempt, "metric": "m"},
            "value": {"sample": threshold}, "time": "2026-01-01T00:00:00Z"
        });
        if let Ok(result) = serde_json::from_value(junk_result) {
            observations.metric_results.push(result);
        }
        let _ = junk;
        let (next, _effects) = kulta::step(&spec, &status, &observations);
        // And once more from where it got to.
        let _ = kulta::step(&spec, &next, &observations);
    }
}
