//! CDEvents delivery: CloudEvents in structured JSON mode, POSTed to the sink by a worker of
//! its own, so a slow or dead sink never holds a rollout up. Deliveries keep their order; each
//! is retried with exponential backoff, and the last failure is reported back to `step` as an
//! effect error until a later delivery succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kulta::ErrorCause;
use tokio::sync::{mpsc, watch};

use crate::operator::error::Failure;
use crate::operator::telemetry::{Outcome, Telemetry};

/// Events waiting for the sink; beyond this, new ones are refused (and reported).
const QUEUE: usize = 1024;

/// How deliveries are retried.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Attempts per event, the first included.
    pub attempts: u32,
    /// Wait after the first failure; doubled after each next one.
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Give up once this long has passed since the first attempt, whatever the count
    /// (`--cdevents-retry-for`); unset: only the count bounds the retries.
    pub horizon: Option<Duration>,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 6,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            horizon: None,
        }
    }
}

/// How long a stopping controller keeps delivering what is queued.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// One serialized CloudEvent and what names it in logs.
pub struct Delivery {
    /// The CDEvent id.
    pub id: String,
    /// The CDEvent type.
    pub kind: String,
    /// `<namespace>/<rollout>`.
    pub rollout: String,
    /// The CloudEvent as JSON.
    pub body: Vec<u8>,
}

/// Which outbox events are on their way, and which are settled (delivered or given up) but
/// not yet seen by their rollout's `step`.
#[derive(Default)]
struct Ledger {
    in_flight: BTreeSet<String>,
    settled: BTreeMap<(String, String), Vec<String>>,
}

/// The handle reconciles use.
#[derive(Clone)]
pub struct Sink {
    url: String,
    queue: mpsc::Sender<Delivery>,
    failure: Arc<Mutex<Option<Failure>>>,
    telemetry: Arc<Telemetry>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Sink {
    /// Start the delivery worker; when `shutdown` fires it delivers what is queued, for up to
    /// [`DRAIN_GRACE`], and ends.
    pub fn start(
        url: String,
        http: reqwest::Client,
        retry: Retry,
        telemetry: Arc<Telemetry>,
        shutdown: watch::Receiver<bool>,
        wake: tokio::sync::broadcast::Sender<(String, String)>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, pending) = mpsc::channel(QUEUE);
        let failure = Arc::new(Mutex::new(None));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let worker = Worker {
            url: url.clone(),
            http,
            retry,
            telemetry: telemetry.clone(),
            failure: failure.clone(),
            ledger: ledger.clone(),
            wake,
        };
        let handle = tokio::spawn(worker.run(pending, shutdown));
        let sink = Sink {
            url,
            queue,
            failure,
            telemetry,
            ledger,
        };
        (sink, handle)
    }

    /// The sink's address, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queue a serialized CloudEvent; fails only when the queue is full (the event is
    /// dropped, counted and logged with its id).
    pub fn send(&self, delivery: Delivery) -> Result<(), Failure> {
        self.queue.try_send(delivery).map_err(|error| {
            let delivery = error.into_inner();
            gave_up(&self.telemetry, &self.url, &delivery, "the queue is full");
            Failure {
                cause: ErrorCause::Server,
                message: format!(
                    "{QUEUE} events already wait for the sink; {} {} was dropped",
                    delivery.kind, delivery.id
                ),
            }
        })
    }

    /// Send the outbox events of a rollout that are not on their way or settled already:
    /// the outbox is the source of what is owed, so after a restart everything in it goes out
    /// again, byte for byte. `outbox` is the stored one: settled ids it no longer holds are
    /// forgotten, the others stay known until a stored status has dropped them.
    pub fn offer(
        &self,
        namespace: &str,
        name: &str,
        outbox: &[kulta::CdEvent],
        build: impl Fn(&kulta::CdEvent) -> Option<Vec<u8>>,
    ) {
        if let Ok(mut ledger) = self.ledger.lock() {
            let key = (namespace.to_string(), name.to_string());
            if let Some(ids) = ledger.settled.get_mut(&key) {
                ids.retain(|id| outbox.iter().any(|event| &event.id == id));
                if ids.is_empty() {
                    ledger.settled.remove(&key);
                }
            }
        }
        for event in outbox {
            let fresh = self.ledger.lock().is_ok_and(|mut ledger| {
                let settled = ledger
                    .settled
                    .get(&(namespace.to_string(), name.to_string()))
                    .is_some_and(|ids| ids.contains(&event.id));
                !settled && ledger.in_flight.insert(event.id.clone())
            });
            if !fresh {
                continue;
            }
            let Some(body) = build(event) else {
                self.settle(namespace, name, &event.id);
                continue;
            };
            let delivery = Delivery {
                id: event.id.clone(),
                kind: super::event::type_name(event.kind).to_string(),
                rollout: format!("{namespace}/{name}"),
                body,
            };
            if self.send(delivery).is_err() {
                self.settle(namespace, name, &event.id);
            }
        }
    }

    /// Outbox ids settled (delivered or given up) that the rollout's stored outbox may still
    /// hold. They are kept until a stored status has dropped them, so a status write that
    /// fails does not make them owed again.
    pub fn settled(&self, namespace: &str, name: &str) -> Vec<String> {
        self.ledger
            .lock()
            .ok()
            .and_then(|ledger| {
                ledger
                    .settled
                    .get(&(namespace.to_string(), name.to_string()))
                    .cloned()
            })
            .unwrap_or_default()
    }

    /// A Rollout is gone: forget what was settled for it.
    pub fn forget(&self, namespace: &str, name: &str) {
        if let Ok(mut ledger) = self.ledger.lock() {
            ledger
                .settled
                .remove(&(namespace.to_string(), name.to_string()));
        }
    }

    fn settle(&self, namespace: &str, name: &str, id: &str) {
        settle(&self.ledger, namespace, name, id);
    }

    /// The last delivery failure, if no delivery succeeded since.
    pub fn failure(&self) -> Option<Failure> {
        self.failure.lock().ok().and_then(|guard| guard.clone())
    }
}

/// An outbox event is settled: no longer on its way, to be dropped from the outbox.
fn settle(ledger: &Mutex<Ledger>, namespace: &str, name: &str, id: &str) {
    if let Ok(mut ledger) = ledger.lock() {
        ledger.in_flight.remove(id);
        ledger
            .settled
            .entry((namespace.to_string(), name.to_string()))
            .or_default()
            .push(id.to_string());
    }
}

/// A delivery is given up on: counted, and logged with what names it.
fn gave_up(telemetry: &Telemetry, sink: &str, delivery: &Delivery, why: &str) {
    telemetry.cdevent(Outcome::Error);
    tracing::warn!(
        id = %delivery.id,
        kind = %delivery.kind,
        rollout = %delivery.rollout,
        %sink,
        error = %why,
        "gave up delivering a CDEvent"
    );
}

struct Worker {
    url: String,
    http: reqwest::Client,
    retry: Retry,
    telemetry: Arc<Telemetry>,
    failure: Arc<Mutex<Option<Failure>>>,
    ledger: Arc<Mutex<Ledger>>,
    wake: tokio::sync::broadcast::Sender<(String, String)>,
}

impl Worker {
    async fn run(self, mut pending: mpsc::Receiver<Delivery>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let delivery = tokio::select! {
                delivery = pending.recv() => match delivery {
                    Some(delivery) => delivery,
                    None => return,
                },
                _ = shutdown.changed() => break,
            };
            self.deliver_one(delivery, &mut shutdown).await;
        }
        // Stopping: what is queued still goes out, for up to a grace period, one attempt each.
        let started = tokio::time::Instant::now();
        let mut drained = 0u32;
        while started.elapsed() < DRAIN_GRACE {
            let Ok(delivery) = pending.try_recv() else {
                break;
            };
            let left = DRAIN_GRACE.saturating_sub(started.elapsed());
            let outcome = tokio::time::timeout(left, self.attempt(delivery.body.clone())).await;
            match outcome {
                Ok(Ok(())) => {
                    drained += 1;
                    self.telemetry.cdevent(Outcome::Ok);
                }
                _ => self.gave_up(&delivery, "the controller stopped before it was delivered"),
            }
        }
        let mut left = 0u32;
        while let Ok(delivery) = pending.try_recv() {
            left += 1;
            self.gave_up(&delivery, "the controller stopped before it was delivered");
        }
        tracing::info!(drained, left, sink = %self.url, "CDEvents queue closed");
    }

    async fn deliver_one(&self, delivery: Delivery, shutdown: &mut watch::Receiver<bool>) {
        let outcome = self.deliver(&delivery.body, shutdown).await;
        match &outcome {
            Ok(()) => self.telemetry.cdevent(Outcome::Ok),
            Err(failure) => self.gave_up(&delivery, &failure.message),
        }
        // Delivered or given up: the event leaves its rollout's outbox at the next step.
        if let Some((namespace, name)) = delivery.rollout.split_once('/') {
            settle(&self.ledger, namespace, name, &delivery.id);
            let _ = self.wake.send((namespace.to_string(), name.to_string()));
        }
        if let Ok(mut guard) = self.failure.lock() {
            *guard = outcome.err();
        }
    }

    fn gave_up(&self, delivery: &Delivery, why: &str) {
        gave_up(&self.telemetry, &self.url, delivery, why);
    }

    async fn deliver(
        &self,
        body: &[u8],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Failure> {
        let mut backoff = self.retry.first_backoff;
        let mut last = None;
        let started = tokio::time::Instant::now();
        let past_horizon = || {
            self.retry
                .horizon
                .is_some_and(|horizon| started.elapsed() >= horizon)
        };
        for attempt in 1..=self.retry.attempts.max(1) {
            match self.attempt(body.to_vec()).await {
                Ok(()) => return Ok(()),
                Err(failure) => {
                    tracing::debug!(attempt, sink = %self.url, error = %failure.message, "CDEvent delivery failed");
                    last = Some(failure);
                }
            }
            if attempt == self.retry.attempts || past_horizon() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => break,
            }
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
        Err(last.unwrap_or(Failure {
            cause: ErrorCause::Server,
            message: "not attempted".into(),
        }))
    }

    async fn attempt(&self, body: Vec<u8>) -> Result<(), Failure> {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/cloudevents+json")
            .timeout(self.retry.timeout)
            .body(body)
            .send()
            .await
            .map_err(|error| Failure::unanswered(&error))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure {
                cause: ErrorCause::Server,
                message: format!("the sink answered {status}"),
            })
        }
    }
}
