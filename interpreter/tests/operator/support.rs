//! The end-to-end harness: an API simulator with the CRDs installed, a real Prometheus
//! scraping an exporter the test controls, a CDEvents sink that keeps what it receives, and
//! operators started in-process.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway_api::httproutes::HttpRoute;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use kulta::{LeaseConfig, Rollout, RolloutStatus};
use kulta_apisim::ApiSim;
use kulta_apisim::selector::Selector;
use kulta_apisim::store::Store;
use kulta_interpreter::operator::{self, LeaseSettings, Options, Retry, Running, Settings};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const NS: &str = "default";

/// How long any one wait may take.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A canary strategy over `web-stable` / `web-canary`, through the HTTPRoute `web` when
/// `routed`, with these steps; `extra` fields are added to it.
pub fn canary(routed: bool, steps: Value, extra: Value) -> Value {
    // Short scale-down delays keep the tests quick; the default (30 s) is tested in the core.
    let mut strategy = json!({
        "stableService": "web-stable",
        "canaryService": "web-canary",
        "steps": steps,
        "scaleDownDelaySeconds": 2,
        "abortScaleDownDelaySeconds": 2,
    });
    if routed {
        strategy["trafficRouting"] = json!({"gatewayAPI": {"httpRoute": "web"}});
    }
    if let (Some(strategy), Some(extra)) = (strategy.as_object_mut(), extra.as_object()) {
        strategy.extend(extra.clone());
    }
    json!({"canary": strategy})
}

/// A bounded wait: polls `check` every 50 ms until it returns `Some`, or panics with `what`
/// and the last thing seen.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        match check().await {
            Ok(value) => return value,
            Err(seen) => last = seen,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}; last seen: {last}");
}

/// The simulated cluster.
pub struct Cluster {
    pub sim: ApiSim,
    pub client: Client,
}

impl Cluster {
    /// A cluster with the Rollout and HTTPRoute CRDs installed; pods are ready 200 ms after
    /// their ReplicaSet is scaled.
    pub async fn start() -> Self {
        let sim = ApiSim::start().await.unwrap();
        sim.set_ready_after(Duration::from_millis(200));
        let client = Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in [Rollout::crd(), HttpRoute::crd()] {
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
        Cluster { sim, client }
    }

    pub fn rollouts(&self) -> Api<Rollout> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn replica_sets(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn routes(&self) -> Api<HttpRoute> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// A Service selecting `app: web`.
    pub async fn service(&self, name: &str) {
        let service: Service = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        }))
        .unwrap();
        self.services()
            .create(&PostParams::default(), &service)
            .await
            .unwrap();
    }

    /// The user's HTTPRoute: a rule to stable (and canary at 0) plus one unrelated rule that
    /// must survive every edit.
    pub async fn route(&self, name: &str) {
        let route: HttpRoute = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name},
            "spec": {"parentRefs": [{"name": "gateway"}], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                                 {"name": "web-canary", "port": 80, "weight": 0}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
                 "backendRefs": [{"name": "assets", "port": 80}]}
            ]}
        }))
        .unwrap();
        self.routes()
            .create(&PostParams::default(), &route)
            .await
            .unwrap();
    }

    pub fn deployments(&self) -> Api<k8s_openapi::api::apps::v1::Deployment> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// The user's Deployment `web`: `replicas` pods of `image`.
    pub async fn deployment(&self, replicas: i32, image: &str) {
        let deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": image}]}},
            }
        }))
        .unwrap();
        self.deployments()
            .create(&PostParams::default(), &deployment)
            .await
            .unwrap();
    }

    /// A Rollout `web` with no template of its own: it ships the Deployment `web`'s.
    pub async fn rollout_over_deployment(&self, replicas: i32, scale_down: &str, strategy: Value) {
        let rollout: Rollout = serde_json::from_value(json!({
            "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                "scaleDown": scale_down},
                "strategy": strategy,
            }
        }))
        .unwrap();
        self.create_rollout(&rollout).await;
    }

    /// Create this Rollout.
    pub async fn create_rollout(&self, rollout: &Rollout) {
        self.rollouts()
            .create(&PostParams::default(), rollout)
            .await
            .unwrap();
    }

    /// Create a Rollout named `web` with this strategy and image.
    pub async fn rollout(&self, replicas: i32, image: &str, strategy: Value) {
        self.rollout_with("web", json!({}), replicas, image, strategy)
            .await;
    }

    /// Create a Rollout with this name and these labels.
    pub async fn rollout_with(
        &self,
        name: &str,
        labels: Value,
        replicas: i32,
        image: &str,
        strategy: Value,
    ) {
        let rollout: Rollout = serde_json::from_value(json!({
            "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": image}]}},
                "strategy": strategy,
            }
        }))
        .unwrap();
        self.create_rollout(&rollout).await;
    }

    /// Ship a new image; returns the new revision's hash.
    pub async fn ship(&self, image: &str) -> String {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
        let rollout = self
            .rollouts()
            .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        rollout.template_revision()
    }

    /// Ship an image through requests that may fail: try until the patch lands (bounded).
    pub async fn ship_despite_faults(&self, image: &str) -> String {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
        let rollouts = self.rollouts();
        let params = PatchParams::default();
        let patch = Patch::Merge(&patch);
        for _ in 0..50 {
            let attempt = rollouts.patch("web", &params, &patch);
            if let Ok(Ok(rollout)) = tokio::time::timeout(Duration::from_secs(5), attempt).await {
                return rollout.template_revision();
            }
        }
        panic!("{image} could not be shipped in 50 attempts");
    }

    /// The revision the Rollout's template has now.
    pub async fn revision(&self) -> String {
        let rollout = self.rollouts().get("web").await.unwrap();
        rollout.template_revision()
    }

    /// The canary's Services and, when `routed`, the user's HTTPRoute `web`.
    pub async fn canary_services(&self, routed: bool) {
        self.service("web-stable").await;
        self.service("web-canary").await;
        if routed {
            self.route("web").await;
        }
    }

    /// The revision the template would have with this image.
    pub async fn revision_for(&self, image: &str) -> String {
        let mut template = self.rollouts().get("web").await.unwrap().spec.template;
        template.spec.as_mut().unwrap().containers[0].image = Some(image.into());
        kulta::pod_template_hash(&template)
    }

    /// Wait until the first revision is stable.
    pub async fn settled(&self) -> RolloutStatus {
        self.status_until("the first revision to be stable", LIMIT, |s| {
            s.phase == Some(kulta::Phase::Completed)
        })
        .await
    }

    /// Wait until `revision` is stable.
    pub async fn stable_on(&self, revision: &str) -> RolloutStatus {
        self.status_until(&format!("{revision} to be stable"), LIMIT, |s| {
            s.phase == Some(kulta::Phase::Completed)
                && s.stable_revision.as_deref() == Some(revision)
        })
        .await
    }

    /// Wait until the route carries (stable, canary).
    pub async fn weights_become(&self, stable: i32, canary: i32) {
        eventually(
            &format!("the route at {stable}/{canary}"),
            LIMIT,
            || async {
                match self.weights().await.0 {
                    (Some(s), Some(c)) if (s, c) == (stable, canary) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    }

    /// Wait until these revisions have these desired replicas.
    pub async fn replicas_become(&self, wanted: &[(&str, i32)]) {
        eventually(&format!("replicas {wanted:?}"), LIMIT, || async {
            let replicas = self.replicas().await;
            let all = wanted
                .iter()
                .all(|(revision, n)| replicas.contains(&(revision.to_string(), *n)));
            if all {
                Ok(())
            } else {
                Err(format!("{replicas:?}"))
            }
        })
        .await;
    }

    /// The Rollout `web`'s status now.
    pub async fn status(&self) -> RolloutStatus {
        self.rollouts()
            .get_status("web")
            .await
            .unwrap()
            .status
            .unwrap_or_default()
    }

    /// Wait until an Event with this reason is recorded.
    pub async fn event_recorded(&self, reason: &str) {
        eventually(&format!("an Event {reason}"), LIMIT, || async {
            let reasons = self.event_reasons().await;
            if reasons.iter().any(|r| r == reason) {
                Ok(())
            } else {
                Err(format!("{reasons:?}"))
            }
        })
        .await;
    }

    /// Wait until the status satisfies `check`.
    pub async fn status_until(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&RolloutStatus) -> bool,
    ) -> RolloutStatus {
        let api = self.rollouts();
        eventually(what, limit, || {
            let api = api.clone();
            let check = &check;
            async move {
                let status = api
                    .get_status("web")
                    .await
                    .map_err(|e| e.to_string())?
                    .status
                    .unwrap_or_default();
                if check(&status) {
                    Ok(status)
                } else {
                    Err(format!(
                        "phase {:?} step {:?} weight {} message {:?} conditions {:?}",
                        status.phase,
                        status.current_step_index,
                        status.current_weight,
                        status.message,
                        status.conditions
                    ))
                }
            }
        })
        .await
    }

    /// (stable, canary) weights in the first route rule, and the number of rules.
    pub async fn weights(&self) -> ((Option<i32>, Option<i32>), usize) {
        let route = self.routes().get("web").await.unwrap();
        let rules = route.spec.rules.unwrap_or_default();
        let backends = rules[0].backend_refs.clone().unwrap_or_default();
        let weight = |name: &str| {
            backends
                .iter()
                .find(|b| b.name == name)
                .and_then(|b| b.weight)
        };
        ((weight("web-stable"), weight("web-canary")), rules.len())
    }

    /// Replicas of each owned ReplicaSet, by revision.
    pub async fn replicas(&self) -> Vec<(String, i32)> {
        let mut sets: Vec<(String, i32)> = self
            .replica_sets()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|rs| {
                (
                    rs.metadata.labels.unwrap_or_default()[kulta::POD_TEMPLATE_HASH_LABEL].clone(),
                    rs.spec.and_then(|s| s.replicas).unwrap_or(0),
                )
            })
            .collect();
        sets.sort();
        sets
    }

    /// The revision a Service selects.
    pub async fn selects(&self, service: &str) -> Option<String> {
        self.services()
            .get(service)
            .await
            .unwrap()
            .spec
            .and_then(|s| s.selector)
            .and_then(|s| s.get(kulta::POD_TEMPLATE_HASH_LABEL).cloned())
    }

    /// The Events recorded in the namespace.
    pub async fn events(&self) -> Vec<k8s_openapi::api::events::v1::Event> {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), NS);
        events.list(&ListParams::default()).await.unwrap().items
    }

    /// Reasons of the Events recorded on the Rollout.
    pub async fn event_reasons(&self) -> Vec<String> {
        self.events()
            .await
            .into_iter()
            .filter_map(|e| e.reason)
            .collect()
    }

    /// Notes of the Events recorded on the Rollout, one per Event object.
    pub async fn event_notes(&self) -> Vec<String> {
        self.events()
            .await
            .into_iter()
            .filter_map(|e| e.note)
            .collect()
    }
}

/// Options for an in-process operator: fast timings, probes on a free port.
pub fn options(record: Option<&Path>, sink: Option<String>) -> Options {
    Options {
        namespaces: vec![NS.to_string()],
        selector: None,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        record: record.map(Path::to_path_buf),
        cdevents_sink: sink,
        sink_retry: Retry {
            attempts: 3,
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
            horizon: None,
        },
        lease: None,
        workers: 32,
        settings: Settings {
            effect_timeout: Duration::from_secs(3),
            resync: Duration::from_secs(10),
            prometheus_token: None,
            cdevents_environment: None,
            cdevents_source: "/kulta/e2e".into(),
        },
    }
}

/// Lease settings for a handover test: a 3 s lease.
pub fn lease(identity: &str) -> LeaseSettings {
    LeaseSettings {
        namespace: NS.into(),
        name: "kulta-controller".into(),
        config: LeaseConfig {
            identity: identity.into(),
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(300),
        },
    }
}

pub async fn start_operator(cluster: &Cluster, options: Options) -> Running {
    // `KULTA_TEST_LOG=kulta=debug` shows the operators' logs of a failing test.
    if let Ok(filter) = std::env::var("KULTA_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    operator::start(cluster.client.clone(), options)
        .await
        .unwrap()
}

/// A tiny HTTP server on 127.0.0.1: `answer` gets each request's head and body.
pub async fn serve<F>(answer: F) -> SocketAddr
where
    F: Fn(&hyper::http::request::Parts, Bytes) -> (StatusCode, String) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let answer = answer.clone();
                    async move {
                        let (head, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let (status, text) = answer(&head, body);
                        let mut response = Response::new(Full::new(Bytes::from(text)));
                        *response.status_mut() = status;
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

/// A CDEvents sink that keeps every CloudEvent it receives.
#[derive(Clone, Default)]
pub struct SinkLog(pub Arc<Mutex<Vec<Value>>>);

impl SinkLog {
    pub async fn start() -> (Self, String) {
        let log = SinkLog::default();
        let kept = log.clone();
        let address = serve(
            move |_, body| match serde_json::from_slice::<Value>(&body) {
                Ok(event) => {
                    kept.0.lock().unwrap().push(event);
                    (StatusCode::ACCEPTED, String::new())
                }
                Err(error) => (StatusCode::BAD_REQUEST, error.to_string()),
            },
        )
        .await;
        (log, format!("http://{address}/events"))
    }

    pub fn events(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    pub fn types(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Metrics the test sets, served in the Prometheus text format.
#[derive(Clone, Default)]
pub struct Exporter(Arc<Mutex<String>>);

impl Exporter {
    pub async fn start() -> (Self, SocketAddr) {
        let exporter = Exporter::default();
        let text = exporter.0.clone();
        let address = serve(move |_, _| (StatusCode::OK, text.lock().unwrap().clone())).await;
        (exporter, address)
    }

    /// Set `error_rate{revision=...}` for each revision given.
    pub fn error_rates(&self, rates: &[(&str, f64)]) {
        let mut text = String::from("# TYPE error_rate gauge\n");
        for (revision, rate) in rates {
            text.push_str(&format!("error_rate{{revision=\"{revision}\"}} {rate}\n"));
        }
        *self.0.lock().unwrap() = text;
    }
}

/// A real Prometheus (Debian's package) scraping one target every second.
pub struct Prometheus {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Start it and wait until the target's first sample is queryable.
    pub async fn start(target: SocketAddr) -> Self {
        let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("prometheus is not installed: apt-get install -y prometheus (.ci/run does)");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 scrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{target}']}}]\n"
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let query = format!(
            "{}/api/v1/query?query=up%7Bjob%3D%22app%22%7D%3D%3D1",
            prometheus.url
        );
        eventually(
            "prometheus to scrape its target",
            Duration::from_secs(40),
            || {
                let http = http.clone();
                let query = query.clone();
                async move {
                    let body = http
                        .get(&query)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?
                        .text()
                        .await
                        .map_err(|e| e.to_string())?;
                    if body.contains("\"value\"") {
                        Ok(())
                    } else {
                        Err(body)
                    }
                }
            },
        )
        .await;
        prometheus
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A canary analysis of `error_rate` for the revision under test.
pub fn error_rate_analysis(prometheus: &str, extra: Value) -> Value {
    let mut analysis = json!({
        "interval": "1s",
        "failureLimit": 0,
        "inconclusiveLimit": 20,
        "prometheus": {"address": prometheus},
        "metrics": [{
            "name": "error-rate",
            "query": "error_rate{revision=\"{{revision}}\"}",
            "thresholdRange": {"max": 0.05}
        }]
    });
    if let (Some(analysis), Some(extra)) = (analysis.as_object_mut(), extra.as_object()) {
        analysis.extend(extra.clone());
    }
    analysis
}

/// Check a received CloudEvent's CDEvent (`data`) against the official schema of its type.
pub fn validate_cdevent(cloud_event: &Value) -> Result<(), Vec<String>> {
    let data = |path: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/cdevents")
            .join(path)
    };
    let load = |path: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let kind = cloud_event["type"].as_str().unwrap_or_default();
    let file = ["deployed", "upgraded", "rolledback", "published"]
        .into_iter()
        .find(|verb| kind.starts_with(&format!("dev.cdevents.service.{verb}.")))
        .map(|verb| format!("service{verb}.json"))
        .ok_or_else(|| vec![format!("unexpected CloudEvent type {kind:?}")])?;
    let mut options = jsonschema::options();
    for entry in std::fs::read_dir(data("links")).unwrap() {
        let schema = load(&entry.unwrap().path());
        let uri = schema["$id"].as_str().unwrap().to_string();
        options = options.with_resource(uri, jsonschema::Resource::from_contents(schema).unwrap());
    }
    let validator = options.build(&load(&data(&file))).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&cloud_event["data"])
        .map(|e| e.to_string())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A canary of 4 pods over the route `web`: 50%, then a pause until promoted.
pub async fn paused_canary_cluster() -> Cluster {
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    cluster
        .rollout(
            4,
            "web:1",
            canary(true, json!([{"setWeight": 50}, {"pause": {}}]), json!({})),
        )
        .await;
    cluster
}

/// Record a promote request on the Rollout `web`, as `kulta promote` does.
/// Promote once the rollout waits for a person (an indefinite pause step).
pub async fn promote_at_pause(cluster: &Cluster) {
    cluster
        .status_until("the pause for a person", LIMIT, |s| {
            s.phase == Some(kulta::Phase::Paused)
        })
        .await;
    promote(cluster).await;
}

pub async fn promote(cluster: &Cluster) {
    kulta_interpreter::cli::control::request(
        cluster.client.clone(),
        NS,
        "web",
        kulta::RequestAction::Promote,
    )
    .await
    .unwrap();
}

/// The text of the operator's `/metrics`.
pub async fn metrics_text(url: &str) -> Result<String, String> {
    reqwest::get(url)
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
}

/// One look at the store: Services carrying traffic whose revision has no ready pods. Traffic
/// is what the route `web` gives weight to, plus the `live` Services (those that carry traffic
/// without a route). One lock, so one consistent snapshot.
pub fn stranded(store: &Mutex<Store>, live: &[&str]) -> Vec<String> {
    let Ok(store) = store.lock() else {
        return vec!["the store lock is poisoned".into()];
    };
    let (Some(services), Some(sets)) = (
        store.resource("", "v1", "services"),
        store.resource("apps", "v1", "replicasets"),
    ) else {
        return Vec::new();
    };
    let Ok(replica_sets) = store.list(&sets, Some(NS), &Selector::default(), None, None) else {
        return Vec::new();
    };
    let ready = |revision: &str| -> i64 {
        replica_sets
            .items
            .iter()
            .filter(|rs| rs["metadata"]["labels"][kulta::POD_TEMPLATE_HASH_LABEL] == revision)
            .map(|rs| rs["status"]["readyReplicas"].as_i64().unwrap_or(0))
            .sum()
    };
    // (Service, weight) pairs that carry traffic.
    let mut carrying: Vec<(String, i64)> =
        live.iter().map(|name| (name.to_string(), 100)).collect();
    let route = store
        .resource("gateway.networking.k8s.io", "v1", "httproutes")
        .and_then(|routes| store.get(&routes, NS, "web").ok());
    if let Some(route) = route {
        let rules = route["spec"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for backend in rules
            .iter()
            .flat_map(|rule| rule["backendRefs"].as_array().cloned().unwrap_or_default())
        {
            let weight = backend["weight"].as_i64().unwrap_or(1);
            if let Some(name) = backend["name"].as_str()
                && weight > 0
            {
                carrying.push((name.to_string(), weight));
            }
        }
    }
    let mut problems = Vec::new();
    for (name, weight) in carrying {
        let Ok(service) = store.get(&services, NS, &name) else {
            continue;
        };
        let selected: &Value = &service["spec"]["selector"][kulta::POD_TEMPLATE_HASH_LABEL];
        let Some(revision) = selected.as_str() else {
            continue;
        };
        if ready(revision) == 0 {
            problems.push(format!(
                "{name} carries weight {weight} and selects {revision}, which has no ready pods"
            ));
        }
    }
    problems
}
