//! Crash anywhere, lose nothing; fail a share of requests, still arrive. Each scenario is run
//! with the real operator against the API simulator:
//!
//! - once uninterrupted, which gives the final state it must reach and the number of writes it
//!   takes;
//! - once per write `k`: the cluster lets `k` writes through and then hangs every write, the
//!   operator is killed there (nothing in memory survives), and a fresh one finishes the job;
//! - once with about a sixth of all API requests failing (500, 409, 429, hung 2 s) and every
//!   watch cut each second.
//!
//! Every run must end in the uninterrupted run's final state (ReplicaSets, Service selectors,
//! route weights, status), with each CDEvent of it received (the same id always with the same
//! bytes), and with no Service carrying traffic to a revision without ready pods at any moment
//! a poller looked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use kube::api::{Patch, PatchParams};
use kulta::status::ConditionStatus;
use kulta::{Phase, RolloutStatus};
use kulta_apisim::faults::{Fault, FaultRule};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::*;

/// Kill points run side by side: each is mostly waiting on pods and timers.
const PARALLEL: usize = 6;

/// How long a run may take to finish after its kill.
const FINISH: Duration = Duration::from_secs(45);

/// How long without a write means a run without faults has settled.
const SETTLED: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// Canary over the route: 25%, 50%, 75%, done.
    CanarySteps,
    /// Canary over the route with a timed pause between two weights.
    CanaryTimedPause,
    /// Canary without traffic routing: the weight is a share of the pods.
    CanaryReplicaShare,
    /// Canary over the route with stable scaled down as traffic leaves it.
    CanaryDynamicStableScale,
    /// Canary with a header route first, then a weight.
    CanaryHeaderRoute,
    /// Canary gated by a metric that stays good.
    CanaryAnalysisPasses,
    /// Canary gated by a metric that is bad: rolled back.
    CanaryAnalysisFails,
    /// Canary whose new pods never become ready: the progress deadline rolls it back.
    CanaryProgressDeadline,
    /// Blue-green promoted automatically.
    BlueGreenAutomatic,
    /// Blue-green promoted by a person.
    BlueGreenManual,
    /// Simple rolling update.
    SimpleRolling,
}

impl Scenario {
    /// The final phase of the shipped revision.
    fn outcome(self) -> Phase {
        match self {
            Scenario::CanaryAnalysisFails | Scenario::CanaryProgressDeadline => Phase::Failed,
            _ => Phase::Completed,
        }
    }

    fn routed(self) -> bool {
        matches!(
            self,
            Scenario::CanarySteps
                | Scenario::CanaryTimedPause
                | Scenario::CanaryDynamicStableScale
                | Scenario::CanaryHeaderRoute
                | Scenario::CanaryAnalysisPasses
                | Scenario::CanaryAnalysisFails
                | Scenario::CanaryProgressDeadline
        )
    }

    /// The Services that carry traffic when there is no route to say so.
    fn live_services(self) -> &'static [&'static str] {
        match self {
            Scenario::BlueGreenAutomatic | Scenario::BlueGreenManual => &["web-active"],
            Scenario::CanaryReplicaShare => &["web-stable"],
            _ => &[],
        }
    }

    fn error_rate(self) -> Option<f64> {
        match self {
            Scenario::CanaryAnalysisPasses => Some(0.01),
            Scenario::CanaryAnalysisFails => Some(0.5),
            _ => None,
        }
    }

    fn strategy(self, prometheus: Option<&str>) -> Value {
        let analysis = |prometheus: Option<&str>| {
            prometheus.map(|address| {
                json!({"analysis": error_rate_analysis(address, json!({"inconclusiveLimit": 5}))})
            })
        };
        match self {
            Scenario::CanarySteps => canary(
                true,
                json!([{"setWeight": 25}, {"setWeight": 50}, {"setWeight": 75}]),
                json!({}),
            ),
            Scenario::CanaryTimedPause => canary(
                true,
                json!([{"setWeight": 30}, {"pause": {"duration": "1s"}}, {"setWeight": 60}]),
                json!({}),
            ),
            Scenario::CanaryReplicaShare => canary(false, json!([{"setWeight": 50}]), json!({})),
            Scenario::CanaryDynamicStableScale => canary(
                true,
                json!([{"setWeight": 50}]),
                json!({"dynamicStableScale": true}),
            ),
            Scenario::CanaryHeaderRoute => canary(
                true,
                json!([
                    {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
                    {"setWeight": 50}
                ]),
                json!({}),
            ),
            Scenario::CanaryAnalysisPasses => canary(
                true,
                json!([{"setWeight": 50}, {"pause": {"duration": "2s"}}]),
                analysis(prometheus).unwrap_or_else(|| json!({})),
            ),
            // The first measurement fails, and ends the run: the pause outlasts it even when
            // failed requests and cut watches delay it by seconds, so every run fails at the
            // same step.
            Scenario::CanaryAnalysisFails => canary(
                true,
                json!([{"setWeight": 50}, {"pause": {"duration": "60s"}}]),
                analysis(prometheus).unwrap_or_else(|| json!({})),
            ),
            Scenario::CanaryProgressDeadline => canary(true, json!([{"setWeight": 50}]), json!({})),
            Scenario::BlueGreenAutomatic => json!({"blueGreen": {
                "activeService": "web-active", "previewService": "web-preview",
                "autoPromotionSeconds": 1, "scaleDownDelaySeconds": 1
            }}),
            Scenario::BlueGreenManual => json!({"blueGreen": {
                "activeService": "web-active", "previewService": "web-preview",
                "autoPromotionEnabled": false, "scaleDownDelaySeconds": 1
            }}),
            Scenario::SimpleRolling => json!({"simple": {"maxSurge": 1, "maxUnavailable": 0}}),
        }
    }

    async fn services(self, cluster: &Cluster) {
        match self {
            Scenario::BlueGreenAutomatic | Scenario::BlueGreenManual => {
                cluster.service("web-active").await;
                cluster.service("web-preview").await;
            }
            Scenario::SimpleRolling => {}
            _ => cluster.canary_services(self.routed()).await,
        }
    }
}

/// A CDEvents sink that keeps every body by id.
type Received = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

/// One scenario's world: the cluster, a fake Prometheus when it analyses, a sink.
struct Stage {
    scenario: Scenario,
    cluster: Cluster,
    sink: String,
    received: Received,
    /// Set when a poller saw traffic on a revision without ready pods.
    violations: Arc<Mutex<Vec<String>>>,
    watching: Arc<AtomicBool>,
}

/// (stable, canary) weights of the route's first rule, and its number of rules.
type Weights = ((Option<i32>, Option<i32>), usize);

/// What a run ends with; equal across runs of a scenario.
#[derive(Debug, PartialEq)]
struct Final {
    phase: Option<Phase>,
    stable: Option<String>,
    canary: Option<String>,
    step: Option<i32>,
    weight: i32,
    observed_weight: Option<i32>,
    conditions: Vec<(String, ConditionStatus, String)>,
    /// Replicas by revision, for revisions that have pods: a revision scaled to zero and one
    /// never created serve the same (a rollback whose canary could not be created before the
    /// deadline, because requests failed, leaves none).
    replica_sets: BTreeMap<String, i32>,
    /// Revision selected by each Service.
    services: BTreeMap<String, Option<String>>,
    /// (stable, canary) weights and the number of rules, when routed.
    route: Option<Weights>,
    /// The types of the CDEvents received.
    cdevents: BTreeSet<String>,
}

impl Stage {
    /// A cluster whose first revision is deployed by an operator that then stops cleanly.
    async fn prepare(scenario: Scenario) -> Stage {
        let received: Received = Arc::default();
        let log = Arc::clone(&received);
        let sink = serve(move |_, body| {
            let text = String::from_utf8_lossy(&body).to_string();
            if let Ok(event) = serde_json::from_str::<Value>(&text) {
                let id = event["id"].as_str().unwrap_or_default().to_string();
                log.lock().unwrap().entry(id).or_default().push(text);
            }
            (StatusCode::ACCEPTED, String::new())
        })
        .await;
        let prometheus = match scenario.error_rate() {
            Some(rate) => {
                let answer = format!(
                    r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1,"{rate}"]}}]}}}}"#
                );
                let address = serve(move |_, _| (StatusCode::OK, answer.clone())).await;
                Some(format!("http://{address}"))
            }
            None => None,
        };
        let cluster = Cluster::start().await;
        if matches!(scenario, Scenario::CanaryProgressDeadline) {
            cluster
                .sim
                .set_image_behaviour("web:2", kulta_apisim::workload::ImageBehaviour::NeverReady);
        }
        scenario.services(&cluster).await;
        cluster
            .rollout(3, "web:1", scenario.strategy(prometheus.as_deref()))
            .await;
        if matches!(scenario, Scenario::CanaryProgressDeadline) {
            let deadline = json!({"spec": {"progressDeadlineSeconds": 3}});
            cluster
                .rollouts()
                .patch("web", &PatchParams::default(), &Patch::Merge(&deadline))
                .await
                .unwrap();
        }
        let sink = format!("http://{sink}/events");
        let first = start_operator(&cluster, options(None, Some(sink.clone()))).await;
        cluster.settled().await;
        cluster
            .status_until("the first revision's CDEvents delivered", LIMIT, |s| {
                s.cdevents_outbox.is_empty()
            })
            .await;
        first.stop().await;
        let stage = Stage {
            scenario,
            cluster,
            sink,
            received,
            violations: Arc::default(),
            watching: Arc::new(AtomicBool::new(true)),
        };
        stage.watch_traffic();
        stage
    }

    /// Poll the store until the stage is dropped: any Service carrying traffic to a revision
    /// without ready pods is a violation.
    fn watch_traffic(&self) {
        let store = self.cluster.sim.store();
        let violations = Arc::clone(&self.violations);
        let watching = Arc::clone(&self.watching);
        let live = self.scenario.live_services();
        tokio::spawn(async move {
            // Bounded by the test: at most 10 minutes of polling.
            let until = Instant::now() + Duration::from_secs(600);
            while watching.load(Ordering::Relaxed) && Instant::now() < until {
                let problems = stranded(&store, live);
                if !problems.is_empty() {
                    violations.lock().unwrap().extend(problems);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }

    /// Ship `web:2`, trying again while requests fail (bounded).
    async fn ship(&self) {
        let shipped = self.cluster.ship_despite_faults("web:2").await;
        assert_eq!(shipped, *V2);
    }

    async fn operator(&self) -> kulta_interpreter::operator::Running {
        start_operator(&self.cluster, options(None, Some(self.sink.clone()))).await
    }

    /// Drive to the end with a running operator: promote when a person would, and wait until
    /// the rollout is terminal, the old pods are gone and every CDEvent is delivered.
    async fn finish(&self, what: &str) -> RolloutStatus {
        let wanted = self.scenario.outcome();
        let manual = matches!(self.scenario, Scenario::BlueGreenManual);
        let rollouts = self.cluster.rollouts();
        let deadline = Instant::now() + FINISH;
        let mut promoted = false;
        let mut last = String::new();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let read = tokio::time::timeout(Duration::from_secs(3), rollouts.get_status("web"));
            let Ok(Ok(rollout)) = read.await else {
                continue;
            };
            let status = rollout.status.unwrap_or_default();
            if manual && !promoted && status.phase == Some(Phase::Preview) {
                let request = kulta_interpreter::cli::control::request(
                    self.cluster.client.clone(),
                    NS,
                    "web",
                    kulta::RequestAction::Promote,
                );
                promoted = matches!(
                    tokio::time::timeout(Duration::from_secs(3), request).await,
                    Ok(Ok(_))
                );
            }
            last = format!(
                "phase {:?} step {:?} weight {} outbox {} message {:?}",
                status.phase,
                status.current_step_index,
                status.current_weight,
                status.cdevents_outbox.len(),
                status.message
            );
            let shipped = if wanted == Phase::Completed {
                status.stable_revision.as_deref()
            } else {
                status.canary_revision.as_deref()
            };
            if status.phase != Some(wanted)
                || shipped != Some(V2.as_str())
                || !status.cdevents_outbox.is_empty()
            {
                continue;
            }
            let Ok(Ok(sets)) = tokio::time::timeout(
                Duration::from_secs(3),
                self.cluster.replica_sets().list(&Default::default()),
            )
            .await
            else {
                continue;
            };
            let keep = status.stable_revision.clone().unwrap_or_default();
            let drained = sets.items.iter().all(|rs| {
                let revision = rs
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(kulta::POD_TEMPLATE_HASH_LABEL))
                    .cloned()
                    .unwrap_or_default();
                revision == keep || rs.spec.as_ref().and_then(|s| s.replicas) == Some(0)
            });
            if drained {
                return status;
            }
            last = format!("{last}; old pods still up");
        }
        panic!(
            "{:?} {what}: not finished within {FINISH:?}; last seen: {last}",
            self.scenario
        );
    }

    /// The final state, once no write came for `quiet` (longer than any retry the operator
    /// may still have pending).
    async fn final_state(&self, quiet: Duration) -> Final {
        let mut writes = self.cluster.sim.writes();
        // Bounded: at most 40 quiet periods.
        for _ in 0..40 {
            tokio::time::sleep(quiet).await;
            let now = self.cluster.sim.writes();
            if now == writes {
                break;
            }
            writes = now;
        }
        let status = self.cluster.status().await;
        let mut services = BTreeMap::new();
        for name in ["web-stable", "web-canary", "web-active", "web-preview"] {
            if self
                .cluster
                .services()
                .get_opt(name)
                .await
                .unwrap()
                .is_some()
            {
                services.insert(name.to_string(), self.cluster.selects(name).await);
            }
        }
        let route = if self.scenario.routed() {
            Some(self.cluster.weights().await)
        } else {
            None
        };
        // The kinds, not how many of each: a rolling update's number of progress steps
        // depends on when pods turned ready. Each transition's own event is still owed.
        let cdevents: BTreeSet<String> = self
            .received
            .lock()
            .unwrap()
            .values()
            .filter_map(|bodies| {
                let event: Value = serde_json::from_str(bodies.first()?).ok()?;
                Some(event["type"].as_str()?.to_string())
            })
            .collect();
        Final {
            phase: status.phase,
            stable: status.stable_revision.clone(),
            canary: status.canary_revision.clone(),
            step: status.current_step_index,
            weight: status.current_weight,
            observed_weight: status.observed_weight,
            conditions: status
                .conditions
                .iter()
                .map(|c| (format!("{:?}", c.type_), c.status, c.reason.clone()))
                .collect(),
            replica_sets: self
                .cluster
                .replicas()
                .await
                .into_iter()
                .filter(|(_, replicas)| *replicas > 0)
                .collect(),
            services,
            route,
            cdevents,
        }
    }

    /// What must hold at the end of every run: no traffic to pods that cannot serve it, and
    /// every re-sent CDEvent byte-identical to its first sending.
    fn check(&self, what: &str) {
        self.watching.store(false, Ordering::Relaxed);
        let violations = self.violations.lock().unwrap();
        assert!(
            violations.is_empty(),
            "{:?} {what}: traffic reached pods that cannot serve it: {:?}",
            self.scenario,
            violations.iter().collect::<BTreeSet<_>>()
        );
        for (id, bodies) in self.received.lock().unwrap().iter() {
            assert!(
                bodies.windows(2).all(|pair| pair[0] == pair[1]),
                "{:?} {what}: CDEvent {id} was re-sent with different bytes",
                self.scenario
            );
        }
    }
}

static V2: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let template: k8s_openapi::api::core::v1::PodTemplateSpec = serde_json::from_value(json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:2"}]}
    }))
    .unwrap();
    kulta::pod_template_hash(&template)
});

/// The uninterrupted run: its final state and the writes the shipment took.
async fn uninterrupted(scenario: Scenario) -> (Final, u64) {
    let stage = Stage::prepare(scenario).await;
    let before = stage.cluster.sim.writes();
    stage.ship().await;
    let operator = stage.operator().await;
    stage.finish("uninterrupted").await;
    let end = stage.final_state(SETTLED).await;
    operator.stop().await;
    stage.check("uninterrupted");
    let writes = stage.cluster.sim.writes() - before;
    (end, writes)
}

/// Kill the operator right after the cluster let `k` of its writes through.
async fn killed_after(scenario: Scenario, k: u64, expected: &Final) {
    let what = format!("killed after write {k}");
    let stage = Stage::prepare(scenario).await;
    stage.ship().await;
    stage.cluster.sim.freeze_writes_after(k);
    let doomed = stage.operator().await;
    // Until a write meets the freeze, or the operator has nothing left to write.
    let mut writes = stage.cluster.sim.writes();
    let mut quiet_since = Instant::now();
    let give_up = Instant::now() + FINISH;
    while stage.cluster.sim.frozen_writes() == 0
        && quiet_since.elapsed() < Duration::from_millis(1500)
        && Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = stage.cluster.sim.writes();
        if now != writes {
            writes = now;
            quiet_since = Instant::now();
        }
    }
    doomed.kill();
    stage.cluster.sim.clear_faults();
    let successor = stage.operator().await;
    stage.finish(&what).await;
    let end = stage.final_state(SETTLED).await;
    successor.stop().await;
    stage.check(&what);
    assert_eq!(&end, expected, "{scenario:?} {what}");
}

/// Every kill point of one scenario.
async fn survives_a_kill_after_any_write(scenario: Scenario) {
    let (expected, writes) = uninterrupted(scenario).await;
    assert_eq!(
        expected.phase,
        Some(scenario.outcome()),
        "{scenario:?}: {expected:?}"
    );
    assert!(writes > 0, "{scenario:?} took no writes");
    let slots = Arc::new(Semaphore::new(PARALLEL));
    let expected = Arc::new(expected);
    let mut runs = tokio::task::JoinSet::new();
    for k in 0..writes {
        let slots = Arc::clone(&slots);
        let expected = Arc::clone(&expected);
        runs.spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            killed_after(scenario, k, &expected).await;
        });
    }
    while let Some(run) = runs.join_next().await {
        if let Err(error) = run {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    eprintln!("{scenario:?}: killed after each of its {writes} writes, survived every time");
}

/// The faulty run of one scenario, against the uninterrupted run's final state.
async fn arrives_while_requests_fail(scenario: Scenario) {
    let (expected, _) = uninterrupted(scenario).await;
    under_faults(scenario, &expected).await;
}

/// About a sixth of all requests fail (500, 409, 429, hung 2 s then 504), and every watch is cut
/// each second, from the shipment to the end.
async fn under_faults(scenario: Scenario, expected: &Final) {
    let stage = Stage::prepare(scenario).await;
    let operator = stage.operator().await;
    let sim = &stage.cluster.sim;
    sim.inject(FaultRule::new(None, None, Fault::Fail(500)).every(13));
    sim.inject(FaultRule::new(None, None, Fault::Fail(409)).every(17));
    sim.inject(FaultRule::new(None, None, Fault::Fail(429)).every(19));
    sim.inject(FaultRule::new(None, None, Fault::Timeout(Duration::from_secs(2))).every(23));
    stage.ship().await;
    let cutting = AtomicBool::new(true);
    let finish = async {
        stage.finish("under faults").await;
        cutting.store(false, Ordering::Relaxed);
    };
    let cut = async {
        // Bounded: at most 120 cuts, one a second, until the run finished.
        for _ in 0..120 {
            if !cutting.load(Ordering::Relaxed) {
                break;
            }
            sim.cut_watches();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::join!(finish, cut);
    sim.clear_faults();
    // The last failed effects are retried once the faults are gone; the condition that named
    // them clears.
    stage
        .cluster
        .status_until("the reconcile errors cleared", LIMIT, |s| {
            s.condition(kulta::status::ConditionType::ReconcileError)
                .is_none()
        })
        .await;
    // A reconcile whose status write failed retries after its backoff (at most 5 s).
    let end = stage.final_state(Duration::from_secs(6)).await;
    operator.stop().await;
    stage.check("under faults");
    assert_eq!(&end, expected, "{scenario:?} under faults");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_over_the_route_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::CanarySteps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_over_the_route_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::CanarySteps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_a_timed_pause_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::CanaryTimedPause).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_a_timed_pause_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::CanaryTimedPause).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_by_pod_share_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::CanaryReplicaShare).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_by_pod_share_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::CanaryReplicaShare).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_dynamic_stable_scale_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::CanaryDynamicStableScale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_dynamic_stable_scale_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::CanaryDynamicStableScale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_a_header_route_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::CanaryHeaderRoute).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_a_header_route_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::CanaryHeaderRoute).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_analysis_passes_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::CanaryAnalysisPasses).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_analysis_passes_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::CanaryAnalysisPasses).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_rolled_back_by_analysis_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::CanaryAnalysisFails).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_rolled_back_by_analysis_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::CanaryAnalysisFails).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_past_its_deadline_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::CanaryProgressDeadline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_past_its_deadline_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::CanaryProgressDeadline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_blue_green_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::BlueGreenAutomatic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_blue_green_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::BlueGreenAutomatic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_blue_green_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::BlueGreenManual).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_blue_green_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::BlueGreenManual).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_rolling_update_survives_a_kill_after_any_write() {
    survives_a_kill_after_any_write(Scenario::SimpleRolling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_rolling_update_arrives_while_a_sixth_of_requests_fail() {
    arrives_while_requests_fail(Scenario::SimpleRolling).await;
}

/// A killed operator is gone at once: no reconcile it had started goes on after it. (One that
/// did would not be a crash, and would fight the next operator with what it decided before.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_operator_leaves_no_reconcile_writing() {
    let cluster = Cluster::start().await;
    cluster
        .rollout(
            4,
            "web:1",
            canary(false, json!([{"setWeight": 50}]), json!({})),
        )
        .await;
    cluster.sim.freeze_writes_after(1);
    let doomed = start_operator(&cluster, options(None, None)).await;
    eventually("a write to meet the freeze", LIMIT, || async {
        match cluster.sim.frozen_writes() {
            0 => Err("none yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    doomed.kill();
    cluster.sim.clear_faults();
    let writes = cluster.sim.writes();
    // The frozen write's caller gives up after 3 s; a reconcile still running goes on then.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        cluster.sim.writes(),
        writes,
        "writes arrived after the operator was killed"
    );
}
