//! An in-process Kubernetes API server simulator that real clients — the kube-rs client and
//! `kubectl` — use unchanged, on 127.0.0.1.
//!
//! It keeps every object in memory with one resourceVersion counter, serves discovery, the
//! built-in kinds KULTA touches and every kind a CustomResourceDefinition declares, and
//! implements get, list (selectors, pagination), watch (resume, bookmarks, 410 Gone), create,
//! update with optimistic concurrency, patch, delete with owner-reference garbage collection,
//! and the `/status` and `/scale` subresources, answering errors with `Status` objects.
//!
//! Where a real API server refuses or warns, so does the simulator: `dryRun=All` keeps
//! nothing, `fieldValidation=Strict|Warn` names unknown fields, a 422 lists its causes by field
//! path, annotations are capped at 256 KiB, names, labels and `int32` fields have their limits.
//! Events are readable in both `events.k8s.io/v1` and `core/v1`, and `/openapi/v3` describes
//! every served kind, so that `kubectl apply` validates as it would against a cluster.
//!
//! The same port answers a control endpoint under `/kulta-apisim/` (see [`control`]): faults,
//! cut watches, the workload model, a request log and request counts, for shells and scripts.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let sim = kulta_apisim::ApiSim::start().await?;
//! println!("{}", sim.url());              // http://127.0.0.1:PORT
//! std::fs::write("kubeconfig", sim.kubeconfig())?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod control;
pub mod duration;
pub mod error;
pub mod events;
pub mod faults;
pub mod fields;
pub mod openapi;
pub mod ownership;
pub mod requests;
pub mod resource;
pub mod scale;
pub mod schema;
pub mod selector;
pub mod server;
pub mod store;
pub mod strategic;
pub mod table;
pub mod validation;
pub mod workload;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use store::Store;

/// How often the workload model brings ReplicaSet status up to date.
pub const WORKLOAD_TICK: std::time::Duration = std::time::Duration::from_millis(20);

/// Changes kept for watches to resume from; older resourceVersions answer 410 Gone.
pub const DEFAULT_HISTORY: usize = 10_000;

/// A running simulator. Dropping it stops the server.
pub struct ApiSim {
    address: SocketAddr,
    store: Arc<Mutex<Store>>,
    faults: Arc<Mutex<faults::Faults>>,
    cuts: Arc<tokio::sync::watch::Sender<u64>>,
    requests: Arc<Mutex<requests::Requests>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ApiSim {
    /// Start on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Start on `address`.
    pub async fn bind(address: SocketAddr) -> std::io::Result<Self> {
        Self::bind_with(address, requests::DEFAULT_LOG).await
    }

    /// Start on `address`, keeping the last `request_log` requests in the request log.
    pub async fn bind_with(address: SocketAddr, request_log: usize) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let store = Arc::new(Mutex::new(Store::new(DEFAULT_HISTORY)));
        let faults = Arc::new(Mutex::new(faults::Faults::default()));
        let (cuts, _) = tokio::sync::watch::channel(0u64);
        let cuts = Arc::new(cuts);
        let requests = Arc::new(Mutex::new(requests::Requests::with_capacity(request_log)));
        let shared = server::Shared {
            requests: Arc::clone(&requests),
            store: Arc::clone(&store),
            address: address.to_string(),
            faults: Arc::clone(&faults),
            cuts: Arc::clone(&cuts),
        };
        let (stop, mut stopped) = oneshot::channel();
        let model = Arc::clone(&store);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(WORKLOAD_TICK);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticks.tick() => {
                        if let Ok(mut store) = model.lock() {
                            store.converge(std::time::Instant::now());
                        }
                    }
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        // As Go servers do: no Nagle delay on small responses.
                        let _ = stream.set_nodelay(true);
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |request| server::handle(shared.clone(), request));
                            let connection = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service);
                            if let Err(error) = connection.await {
                                tracing::debug!(%error, "connection ended");
                            }
                        });
                    }
                }
            }
        });
        Ok(ApiSim {
            address,
            store,
            faults,
            cuts,
            requests,
            stop: Some(stop),
            task,
        })
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A kubeconfig that kube-rs and kubectl accept.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: apisim\n  cluster:\n    server: {url}\nusers:\n- name: apisim\n  user:\n    token: apisim\ncontexts:\n- name: apisim\n  context:\n    cluster: apisim\n    user: apisim\n    namespace: default\ncurrent-context: apisim\n",
            url = self.url()
        )
    }

    /// Set how long pods take to become ready after a ReplicaSet's spec changes.
    pub fn set_ready_after(&self, delay: std::time::Duration) {
        if let Ok(mut store) = self.store.lock() {
            store.workload.ready_after = delay;
        }
    }

    /// Set how the pods of an image behave.
    pub fn set_image_behaviour(&self, image: &str, behaviour: workload::ImageBehaviour) {
        if let Ok(mut store) = self.store.lock() {
            store.workload.images.insert(image.to_string(), behaviour);
        }
    }

    /// Inject a fault.
    pub fn inject(&self, rule: faults::FaultRule) {
        if let Ok(mut faults) = self.faults.lock() {
            faults.add(rule);
        }
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        if let Ok(mut faults) = self.faults.lock() {
            faults.clear();
        }
    }

    /// Let `writes` more writes through, then hang every write until [`ApiSim::clear_faults`]
    /// (a hung write ends in a 504 without acting): the cluster as a controller killed right
    /// after that write left it.
    pub fn freeze_writes_after(&self, writes: u64) {
        if let Ok(mut faults) = self.faults.lock() {
            faults.freeze_writes_after(writes);
        }
    }

    /// Writes that met a freeze so far.
    pub fn frozen_writes(&self) -> u64 {
        self.faults
            .lock()
            .map(|faults| faults.frozen())
            .unwrap_or(0)
    }

    /// End every open watch stream, as a dropped connection or an API server restart would.
    pub fn cut_watches(&self) {
        self.cuts.send_modify(|generation| *generation += 1);
    }

    /// Request counts by (verb, resource, status code).
    pub fn request_counts(&self) -> std::collections::BTreeMap<(faults::Verb, String, u16), u64> {
        self.faults
            .lock()
            .map(|faults| faults.counts().clone())
            .unwrap_or_default()
    }

    /// Writes (create, update, patch, delete) served so far, any outcome.
    pub fn writes(&self) -> u64 {
        self.faults
            .lock()
            .map(|faults| faults.writes())
            .unwrap_or(0)
    }

    /// Request counts by client, verb, resource and code, as the control endpoint serves them.
    pub fn requests(&self) -> requests::Counts {
        self.requests
            .lock()
            .map(|requests| requests.counts())
            .unwrap_or_default()
    }

    /// The requests in the log, oldest first (at most the log's capacity).
    pub fn request_log(&self) -> Vec<requests::Request> {
        self.requests
            .lock()
            .map(|requests| requests.log(0, usize::MAX).cloned().collect())
            .unwrap_or_default()
    }

    /// The store, for tests that need to reach behind the API (compaction, counts).
    pub fn store(&self) -> Arc<Mutex<Store>> {
        Arc::clone(&self.store)
    }
}

impl Drop for ApiSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}
