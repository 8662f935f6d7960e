//! `kulta run`: the operator. A kube-runtime controller per watched namespace feeds Rollouts
//! to [`reconcile::reconcile`], which observes, calls the pure [`kulta::step`], and executes
//! the effects; a lease loop drives [`kulta::lease_step`] so that only the leader acts.

pub mod cache;
pub mod cached;
pub mod context;
pub mod error;
pub mod execute;
pub mod health;
pub mod observe;
pub mod reconcile;
pub mod record;
pub mod references;
pub mod resync;
pub mod system;
pub mod telemetry;
pub mod time;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use gateway_api::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use kulta::{POD_TEMPLATE_HASH_LABEL, Rollout};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::WatchStream;

pub use context::{Settings, TokenSource};
pub use error::OperatorError;
pub use system::cdevents::sink::Retry;
pub use system::lease::{Leader, LeaseSettings};
pub use telemetry::Telemetry;

use context::Context;
use health::Probes;
use references::{Kind, References};

/// Every API call the operator makes, as RBAC sees it: (API group, resource, verbs).
/// `deploy/rbac.yaml` grants exactly these; a test keeps the two in step.
pub const PERMISSIONS: &[(&str, &str, &[&str])] = &[
    // Watched by the controller; read afresh when the cache may be behind what it knows.
    ("kulta.io", "rollouts", &["get", "list", "watch"]),
    // The status, written with the resourceVersion it was decided from.
    ("kulta.io", "rollouts/status", &["update"]),
    // Listed per reconcile, watched as owned objects; created, scaled, deleted by effects.
    // A ReplicaSet whose create met one of that name is read back before adoption or refusal.
    (
        "apps",
        "replicasets",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    // The Deployment a `workloadRef` names: read per reconcile, watched, scaled down.
    ("apps", "deployments", &["get", "list", "watch", "patch"]),
    // The running pods of an adopted ReplicaSet gain the revision's label (no restart).
    ("", "pods", &["list", "patch"]),
    // Watched into an index (read directly while the index is behind the controller's own
    // writes), pointed at a revision by a merge patch.
    ("", "services", &["get", "list", "watch", "patch"]),
    // Read per reconcile, watched, rewritten with its resourceVersion.
    (
        "gateway.networking.k8s.io",
        "httproutes",
        &["get", "list", "watch", "update"],
    ),
    // Kubernetes Events, one per distinct message (a repeat is read back after a restart).
    ("events.k8s.io", "events", &["create", "get", "patch"]),
    // Leader election, in the controller's own namespace only.
    (
        "coordination.k8s.io",
        "leases",
        &["get", "create", "update"],
    ),
];

/// Everything `kulta run` is told.
#[derive(Clone, Debug)]
pub struct Options {
    /// Namespaces to watch; all when empty.
    pub namespaces: Vec<String>,
    /// Only Rollouts matching this label selector (sharding).
    pub selector: Option<String>,
    /// Where `/healthz`, `/readyz` and `/metrics` listen.
    pub listen: Option<SocketAddr>,
    /// Record every reconcile here.
    pub record: Option<PathBuf>,
    /// CloudEvents sink for CDEvents.
    pub cdevents_sink: Option<String>,
    /// How CDEvent deliveries are retried.
    pub sink_retry: Retry,
    /// Leader election; without it this controller always acts.
    pub lease: Option<LeaseSettings>,
    /// Reconciles running at once across every watched namespace (kube-runtime's default is
    /// unbounded, which floods the API server with thousands of requests at once).
    pub workers: u16,
    /// Reconcile settings.
    pub settings: Settings,
}

/// How long a graceful stop waits for the reconciles in flight.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A started operator.
pub struct Running {
    /// Where the probes and metrics are served.
    pub health: Option<SocketAddr>,
    /// Its metrics.
    pub telemetry: Arc<Telemetry>,
    /// Its leadership.
    pub leader: Leader,
    shutdown: watch::Sender<bool>,
    controllers: JoinHandle<()>,
    lease: Option<JoinHandle<()>>,
    /// Stops the CDEvents worker once the reconciles are done, and the worker itself.
    sink: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl Running {
    /// Stop gracefully: finish the reconciles in flight, then release the lease.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        // A reconcile stuck past the grace is cut short, as a crash would (each step is safe
        // to be interrupted): a stop never waits forever.
        match tokio::time::timeout(STOP_GRACE, &mut self.controllers).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "controller task ended abnormally"),
            Err(_) => {
                tracing::warn!(grace = ?STOP_GRACE, "reconciles still running after the stop grace; cut short");
                self.controllers.abort();
            }
        }
        // The reconciles are done: deliver what they queued, within the drain grace.
        if let Some((stop, worker)) = self.sink {
            let _ = stop.send(true);
            if let Err(error) = worker.await {
                tracing::warn!(%error, "CDEvents worker ended abnormally");
            }
        }
        if let Some(lease) = self.lease
            && let Err(error) = lease.await
        {
            tracing::warn!(%error, "lease task ended abnormally");
        }
    }

    /// Stop at once, releasing nothing: what a crash looks like to the others.
    pub fn kill(self) {
        self.controllers.abort();
        if let Some((_, worker)) = self.sink {
            worker.abort();
        }
        if let Some(lease) = self.lease {
            lease.abort();
        }
        // The sink worker and the probe server stop when the shutdown sender goes away.
        drop(self.shutdown);
    }
}

/// Start the operator on `client`.
pub async fn start(client: Client, options: Options) -> Result<Running, OperatorError> {
    // Timings that could elect two leaders are refused before anything runs.
    if let Some(lease) = &options.lease {
        lease.config.check()?;
    }
    let telemetry = Arc::new(Telemetry::new());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let probes = Arc::new(Probes {
        ready: false.into(),
        telemetry: telemetry.clone(),
    });
    let health = match options.listen {
        Some(address) => Some(health::serve(address, probes.clone(), shutdown_rx.clone()).await?),
        None => None,
    };
    let http = reqwest::Client::builder()
        .build()
        .map_err(|error| OperatorError::Config(error.to_string()))?;
    // Wakes a rollout when something arrives for it (a metric answer, a CDEvent delivered).
    let wake = tokio::sync::broadcast::channel(1024).0;
    let (sink, sink_worker) = match options.cdevents_sink.clone() {
        Some(url) => {
            let (stop, stopped) = watch::channel(false);
            let (sink, worker) = system::cdevents::sink::Sink::start(
                url,
                http.clone(),
                options.sink_retry,
                telemetry.clone(),
                stopped,
                wake.clone(),
            );
            (Some(sink), Some((stop, worker)))
        }
        None => (None, None),
    };
    let recorder = options
        .record
        .as_deref()
        .map(record::Recorder::new)
        .transpose()?;
    let identity = options
        .lease
        .as_ref()
        .map_or_else(|| "kulta".to_string(), |l| l.config.identity.clone());
    let events = Arc::new(system::events::Events::new(
        client.clone(),
        "kulta",
        &identity,
    ));
    let (leader, lease) = match options.lease.clone() {
        Some(settings) => {
            let leader = Leader::new();
            let task = tokio::spawn(system::lease::run(
                client.clone(),
                settings,
                leader.clone(),
                telemetry.clone(),
                shutdown_rx.clone(),
            ));
            (leader, Some(task))
        }
        None => {
            telemetry.set_leader(true);
            (Leader::always(), None)
        }
    };
    let scopes: Vec<Option<String>> = if options.namespaces.is_empty() {
        vec![None]
    } else {
        options.namespaces.iter().cloned().map(Some).collect()
    };
    let indexes = scopes
        .iter()
        .map(|scope| (scope.clone(), Arc::new(cache::ReplicaSetIndex::default())))
        .collect();
    let ctx = Arc::new(Context::new(
        client.clone(),
        http,
        options.settings.clone(),
        leader.clone(),
        telemetry.clone(),
        events,
        sink,
        recorder,
        indexes,
        wake,
        options.workers,
    ));
    let controllers = tokio::spawn(run_controllers(
        client,
        scopes,
        options.selector,
        options.workers,
        ctx,
        probes,
        shutdown_rx,
    ));
    Ok(Running {
        health,
        telemetry,
        leader,
        shutdown,
        controllers,
        sink: sink_worker,
        lease,
    })
}

/// Wait for the Rollout API to answer (readiness), then run one controller per namespace.
async fn run_controllers(
    client: Client,
    scopes: Vec<Option<String>>,
    selector: Option<String>,
    workers: u16,
    ctx: Arc<Context>,
    probes: Arc<Probes>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Readiness: every watched scope lists Rollouts (the CRD is installed, RBAC allows it).
    let mut routes_served = false;
    for attempt in 0u32.. {
        let mut ok = true;
        for scope in &scopes {
            let api: Api<Rollout> = scoped(&client, scope.as_deref());
            if let Err(error) = api.list(&ListParams::default().limit(1)).await {
                tracing::warn!(%error, namespace = ?scope, "cannot list Rollouts yet");
                ok = false;
            }
        }
        if ok {
            let api: Api<HttpRoute> = scoped(&client, scopes[0].as_deref());
            routes_served = api.list(&ListParams::default().limit(1)).await.is_ok();
            break;
        }
        let wait = context::backoff(attempt.saturating_add(1), false).min(Duration::from_secs(30));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
    if !routes_served {
        tracing::info!(
            "the HTTPRoute API is not served; routes are read at every reconcile but not watched"
        );
    }
    probes.ready.store(true, Ordering::Relaxed);
    let runs = scopes.into_iter().map(|scope| {
        controller(
            client.clone(),
            scope,
            selector.clone(),
            workers,
            routes_served,
            ctx.clone(),
            shutdown.clone(),
        )
    });
    futures_util::future::join_all(runs).await;
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// A watch whose every event feeds an index before the objects it touched go on to wake
/// their Rollouts, so that a reconcile woken by a change already finds it in the index.
fn feeding<K>(
    api: Api<K>,
    config: watcher::Config,
    index: impl Fn(&watcher::Event<K>) + Send + 'static,
) -> impl futures_util::Stream<Item = Result<K, watcher::Error>> + Send
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(api, config)
        .default_backoff()
        .inspect(move |event| {
            if let Ok(event) = event {
                index(event);
            }
        })
        .touched_objects()
}

async fn controller(
    client: Client,
    namespace: Option<String>,
    selector: Option<String>,
    workers: u16,
    watch_routes: bool,
    ctx: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) {
    let scope = namespace.as_deref();
    let mut rollouts = watcher::Config::default();
    if let Some(selector) = &selector {
        rollouts = rollouts.labels(selector);
    }
    // One watch of ReplicaSets feeds the index first, then wakes the owner.
    let index = ctx.indexes.get(&namespace).cloned().unwrap_or_default();
    let replica_sets = feeding(
        scoped::<ReplicaSet>(&client, scope),
        watcher::Config::default().labels(POD_TEMPLATE_HASH_LABEL),
        move |event| index.apply(event),
    );
    // The Rollout watch is the controller's own, trimmed of what no decision reads (the
    // cache holds every Rollout), and seen here first so that the objects each Rollout names
    // are indexed, and a deleted Rollout's per-rollout state (metric series, trace file,
    // pending results) is released at once.
    let (store, writer) = reflector::store();
    let references = Arc::new(References::default());
    let indexing = Arc::clone(&references);
    let forgetting = Arc::clone(&ctx);
    let watched = watcher::watcher(scoped::<Rollout>(&client, scope), rollouts)
        .inspect(move |event| {
            let Ok(event) = event else { return };
            indexing.apply(event);
            if let watcher::Event::Delete(rollout) = event {
                forgetting.forget_rollout(
                    &rollout.namespace().unwrap_or_default(),
                    &rollout.name_any(),
                );
            }
        })
        .map(|event| event.map(cached::compact));
    let rollout_events = reflector(writer, watched)
        .default_backoff()
        .applied_objects();
    let resyncs = resync::resyncs(store.clone(), ctx.settings.resync);
    let mut controller = Controller::for_stream(rollout_events, store)
        .owns_stream(replica_sets)
        .reconcile_on(resyncs);
    // An object a Rollout names wakes that Rollout.
    let naming = |kind: Kind| {
        let references = Arc::clone(&references);
        move |namespace: Option<String>, name: String| {
            references.naming(kind, &namespace.unwrap_or_default(), &name)
        }
    };
    // Services feed their index first (reconciles read them there), then wake their Rollouts.
    let services = naming(Kind::Service);
    let service_index = ctx
        .service_indexes
        .get(&namespace)
        .cloned()
        .unwrap_or_default();
    let service_events = feeding(
        scoped::<Service>(&client, scope),
        watcher::Config::default(),
        move |event| service_index.apply(event),
    );
    controller = controller.watches_stream(service_events, move |service: Service| {
        services(service.namespace(), service.name_any())
    });
    // A change to a `workloadRef` Deployment's template is a new revision of its Rollouts.
    let deployments = naming(Kind::Deployment);
    controller = controller.watches(
        scoped::<Deployment>(&client, scope),
        watcher::Config::default(),
        move |deployment: Deployment| deployments(deployment.namespace(), deployment.name_any()),
    );
    if watch_routes {
        let routes = naming(Kind::HttpRoute);
        controller = controller.watches(
            scoped::<HttpRoute>(&client, scope),
            watcher::Config::default(),
            move |route: HttpRoute| routes(route.namespace(), route.name_any()),
        );
    }
    // A rollout whose metric answer arrived is reconciled again at once.
    let scope_namespace = namespace.clone();
    let answered =
        tokio_stream::wrappers::BroadcastStream::new(ctx.wakes()).filter_map(move |woken| {
            let within = match (&woken, &scope_namespace) {
                (Ok((ns, _)), Some(scope)) => ns == scope,
                (Ok(_), None) => true,
                (Err(_), _) => false,
            };
            std::future::ready(match woken {
                Ok((ns, name)) if within => {
                    Some(ObjectRef::<cached::CachedRollout>::new(&name).within(&ns))
                }
                _ => None,
            })
        });
    controller = controller.reconcile_on(answered);
    let gained = WatchStream::new(ctx.leader.subscribe())
        .filter(|leading| std::future::ready(*leading))
        .map(|_| ());
    let stop = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    controller
        .with_config(kube::runtime::controller::Config::default().concurrency(workers))
        .reconcile_all_on(gained)
        .graceful_shutdown_on(stop)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|outcome| async move {
            if let Err(error) = outcome {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
}
