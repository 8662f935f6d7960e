//! CDEvents delivery: CloudEvents in structured JSON mode, POSTed to the sink by a worker of
//! its own, so a slow or dead sink never holds a rollout up. Deliveries keep their order; each
//! is retried with exponential backoff, and the last failure is reported back to `step` as an
//! effect error until a later delivery succeeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kulta::ErrorCause;
use tokio::sync::{mpsc, watch};

use super::error::Failure;
use super::telemetry::{Outcome, Telemetry};

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
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 6,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The handle reconciles use.
#[derive(Clone)]
pub struct Sink {
    url: String,
    queue: mpsc::Sender<Vec<u8>>,
    failure: Arc<Mutex<Option<Failure>>>,
}

impl Sink {
    /// Start the delivery worker; it ends when `shutdown` fires, after the event in flight.
    pub fn start(
        url: String,
        http: reqwest::Client,
        retry: Retry,
        telemetry: Arc<Telemetry>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        let failure = Arc::new(Mutex::new(None));
        let worker = Worker {
            url: url.clone(),
            http,
            retry,
            telemetry,
            failure: failure.clone(),
        };
        tokio::spawn(worker.run(pending, shutdown));
        Sink {
            url,
            queue,
            failure,
        }
    }

    /// The sink's address, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queue a serialized CloudEvent; fails only when the queue is full.
    pub fn send(&self, body: Vec<u8>) -> Result<(), Failure> {
        self.queue.try_send(body).map_err(|_| Failure {
            cause: ErrorCause::Server,
            message: format!("{QUEUE} events already wait for the sink; this one was dropped"),
        })
    }

    /// The last delivery failure, if no delivery succeeded since.
    pub fn failure(&self) -> Option<Failure> {
        self.failure.lock().ok().and_then(|guard| guard.clone())
    }
}

struct Worker {
    url: String,
    http: reqwest::Client,
    retry: Retry,
    telemetry: Arc<Telemetry>,
    failure: Arc<Mutex<Option<Failure>>>,
}

impl Worker {
    async fn run(self, mut pending: mpsc::Receiver<Vec<u8>>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let body = tokio::select! {
                body = pending.recv() => match body {
                    Some(body) => body,
                    None => return,
                },
                _ = shutdown.changed() => return,
            };
            let outcome = self.deliver(body, &mut shutdown).await;
            self.telemetry.cdevent(match outcome {
                Ok(()) => Outcome::Ok,
                Err(_) => Outcome::Error,
            });
            if let Ok(mut guard) = self.failure.lock() {
                *guard = outcome.err();
            }
        }
    }

    async fn deliver(
        &self,
        body: Vec<u8>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Failure> {
        let mut backoff = self.retry.first_backoff;
        let mut last = None;
        for attempt in 1..=self.retry.attempts.max(1) {
            match self.attempt(body.clone()).await {
                Ok(()) => return Ok(()),
                Err(failure) => {
                    tracing::debug!(attempt, sink = %self.url, error = %failure.message, "CDEvent delivery failed");
                    last = Some(failure);
                }
            }
            if attempt == self.retry.attempts {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => break,
            }
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
        let failure = last.unwrap_or(Failure {
            cause: ErrorCause::Server,
            message: "not attempted".into(),
        });
        tracing::warn!(sink = %self.url, error = %failure.message, "gave up delivering a CDEvent");
        Err(failure)
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
