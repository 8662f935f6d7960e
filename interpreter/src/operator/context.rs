//! What every reconcile shares: the client, the configuration, leadership, metrics, and the
//! results of effects that come back as observations on the next `step`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kulta::{EffectError, MetricResult, ObservedReplicaSet};

use super::cache::{Expect, ReplicaSetIndex};
use super::record::Recorder;
use super::system::cdevents::sink::Sink;
use super::system::events::Events;
use super::system::lease::Leader;
use super::system::service::{Seen, ServiceIndex};
use super::telemetry::Telemetry;

/// Where the bearer token for Prometheus comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// A file, read at every query (so a rotated token is picked up).
    File(PathBuf),
    /// A key of a Secret, read at every query.
    Secret {
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Key in `data`.
        key: String,
    },
}

/// Settings of the reconcile loop.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Timeout of each effect.
    pub effect_timeout: Duration,
    /// Reconcile every rollout at least this often.
    pub resync: Duration,
    /// Bearer token for Prometheus queries.
    pub prometheus_token: Option<TokenSource>,
    /// CDEvents environment id (the namespace when unset).
    pub cdevents_environment: Option<String>,
    /// CloudEvents `source` of emitted events.
    pub cdevents_source: String,
}

/// What one reconcile of a rollout leaves for the next.
#[derive(Default)]
struct Pending {
    /// Metric answers, for the next `step`.
    results: Vec<MetricResult>,
    /// Failed effects, for the next `step`.
    errors: Vec<EffectError>,
    /// Reconciles in a row with failed effects or failed observations, for backoff.
    failures_in_a_row: u32,
    /// ReplicaSet writes the next observation must show, by ReplicaSet name.
    expected: BTreeMap<String, Expect>,
    /// What the Service index must show before it is trusted, by Service name: what this
    /// controller last wrote, or what the API showed when the index had not caught up.
    services: BTreeMap<String, Seen>,
    /// The newest version of the Rollout this controller has read or written, with the term
    /// of leadership it was learnt in: (term, `resourceVersion`).
    newest: Option<(u64, String)>,
}

/// The reconcile context.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// HTTP client for Prometheus.
    pub http: reqwest::Client,
    /// Settings.
    pub settings: Settings,
    /// Leadership.
    pub leader: Leader,
    /// Metrics.
    pub telemetry: Arc<Telemetry>,
    /// Kubernetes Events.
    pub events: Arc<Events>,
    /// CDEvents delivery, when a sink is configured.
    pub sink: Option<Sink>,
    /// Trace recording, when asked for.
    pub recorder: Option<Recorder>,
    /// Owned ReplicaSets by watched scope (`None`: all namespaces).
    pub indexes: BTreeMap<Option<String>, Arc<ReplicaSetIndex>>,
    /// Services by watched scope, as their watch shows them.
    pub service_indexes: BTreeMap<Option<String>, Arc<ServiceIndex>>,
    /// Reconciles that may run at once, across every watched namespace: `--workers` bounds
    /// the whole process, however many namespaces it watches.
    pub workers: Arc<tokio::sync::Semaphore>,
    pending: Mutex<BTreeMap<(String, String), Pending>>,
    /// Rollouts to reconcile again because something arrived for them (a metric answer).
    wake: tokio::sync::broadcast::Sender<(String, String)>,
}

impl Context {
    /// A context from its parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        http: reqwest::Client,
        settings: Settings,
        leader: Leader,
        telemetry: Arc<Telemetry>,
        events: Arc<Events>,
        sink: Option<Sink>,
        recorder: Option<Recorder>,
        indexes: BTreeMap<Option<String>, Arc<ReplicaSetIndex>>,
        wake: tokio::sync::broadcast::Sender<(String, String)>,
        workers: u16,
    ) -> Self {
        Context {
            client,
            http,
            settings,
            leader,
            telemetry,
            events,
            sink,
            recorder,
            service_indexes: indexes
                .keys()
                .map(|scope| (scope.clone(), Arc::default()))
                .collect(),
            indexes,
            workers: Arc::new(tokio::sync::Semaphore::new(usize::from(workers))),
            pending: Mutex::new(BTreeMap::new()),
            wake,
        }
    }

    /// The ReplicaSet index that covers a namespace.
    pub fn index_for(&self, namespace: &str) -> Option<&Arc<ReplicaSetIndex>> {
        covering(&self.indexes, namespace)
    }

    /// The Service index that covers a namespace.
    pub fn service_index_for(&self, namespace: &str) -> Option<&Arc<ServiceIndex>> {
        covering(&self.service_indexes, namespace)
    }

    /// Work on a rollout's entry under the lock; `fallback` if the lock is poisoned.
    fn with_pending<T>(
        &self,
        namespace: &str,
        name: &str,
        fallback: T,
        work: impl FnOnce(&mut Pending) -> T,
    ) -> T {
        match self.pending.lock() {
            Ok(mut pending) => work(
                pending
                    .entry((namespace.to_string(), name.to_string()))
                    .or_default(),
            ),
            Err(_) => fallback,
        }
    }

    /// After a ReplicaSet write: the next observation must show it.
    pub fn expect_write(&self, namespace: &str, rollout: &str, replica_set: &str, write: Expect) {
        self.with_pending(namespace, rollout, (), |entry| {
            entry.expected.insert(replica_set.to_string(), write);
        });
    }

    /// What the next observation of this rollout's ReplicaSets must show.
    pub fn expected_writes(&self, namespace: &str, rollout: &str) -> BTreeMap<String, Expect> {
        self.with_pending(namespace, rollout, BTreeMap::new(), |entry| {
            entry.expected.clone()
        })
    }

    /// The ReplicaSets were observed showing every write: nothing more to wait for.
    pub fn writes_seen(&self, namespace: &str, rollout: &str) {
        self.with_pending(namespace, rollout, (), |entry| entry.expected.clear());
    }

    /// The ReplicaSets were listed because the index had not shown every write: it must show
    /// them as listed before it is trusted again (see [`super::cache::confirmed`]).
    pub fn writes_listed(&self, namespace: &str, rollout: &str, listed: &[ObservedReplicaSet]) {
        self.with_pending(namespace, rollout, (), |entry| {
            entry.expected = super::cache::confirmed(&entry.expected, listed);
        });
    }

    /// After a Service write (or a read of the API because the index had not caught up): the
    /// index must show the Service so before it is trusted for it.
    pub fn expect_service(&self, namespace: &str, rollout: &str, service: &str, seen: Seen) {
        self.with_pending(namespace, rollout, (), |entry| {
            entry.services.insert(service.to_string(), seen);
        });
    }

    /// What the Service index must show for one of this rollout's Services, if anything.
    pub fn expected_service(&self, namespace: &str, rollout: &str, service: &str) -> Option<Seen> {
        self.with_pending(namespace, rollout, None, |entry| {
            entry.services.get(service).cloned()
        })
    }

    /// The index showed this Service as expected: nothing more to wait for.
    pub fn service_seen(&self, namespace: &str, rollout: &str, service: &str) {
        self.with_pending(namespace, rollout, (), |entry| {
            entry.services.remove(service);
            if entry.services.is_empty() {
                // An emptied map keeps its node (half a KiB); a settled rollout keeps none.
                entry.services = BTreeMap::new();
            }
        });
    }

    /// Remember the newest version of a Rollout known (read from the API, or returned by
    /// this controller's own status write) in the current term of leadership.
    pub fn newest_is(&self, namespace: &str, name: &str, resource_version: Option<&str>) {
        let known = self.leader.term().zip(resource_version.map(String::from));
        self.with_pending(namespace, name, (), |entry| entry.newest = known);
    }

    /// Whether a version of a Rollout is the newest this controller knows in the current term
    /// of leadership: a cached object that is cannot be behind this controller's own last
    /// status write, and what someone else wrote since would have changed its version. With
    /// nothing known (a new term, a restart, a write whose answer was lost) it is not.
    pub fn is_newest(&self, namespace: &str, name: &str, resource_version: Option<&str>) -> bool {
        let (Some(term), Some(version)) = (self.leader.term(), resource_version) else {
            return false;
        };
        self.with_pending(namespace, name, false, |entry| {
            entry
                .newest
                .as_ref()
                .is_some_and(|(known_term, known)| *known_term == term && known == version)
        })
    }

    /// Take what the last execution left for this rollout's `step`.
    pub fn take_pending(
        &self,
        namespace: &str,
        name: &str,
    ) -> (Vec<MetricResult>, Vec<EffectError>) {
        self.with_pending(namespace, name, (Vec::new(), Vec::new()), |entry| {
            (
                std::mem::take(&mut entry.results),
                std::mem::take(&mut entry.errors),
            )
        })
    }

    /// Leave results and errors for this rollout's next `step`; returns how many reconciles
    /// in a row have failed (0 when this one went well) and whether this one's failures are
    /// all transient.
    pub fn leave_pending(
        &self,
        namespace: &str,
        name: &str,
        results: Vec<MetricResult>,
        errors: Vec<EffectError>,
    ) -> (u32, bool) {
        let transient = errors.iter().all(|error| error.cause.is_transient());
        let failures = self.with_pending(namespace, name, 0, |entry| {
            entry.failures_in_a_row = if errors.is_empty() {
                0
            } else {
                entry.failures_in_a_row.saturating_add(1)
            };
            entry.results.extend(results);
            entry.errors.extend(errors);
            entry.failures_in_a_row
        });
        (failures, transient)
    }

    /// The rollout moved forward (its status changed and was written): failures before it no
    /// longer count towards the backoff, so a flaky API slows a rollout down but never
    /// stalls it.
    pub fn made_progress(&self, namespace: &str, name: &str) {
        self.with_pending(namespace, name, (), |entry| {
            entry.failures_in_a_row = 0;
        });
    }

    /// Count a reconcile that could not observe or write; returns how many in a row.
    pub fn failed_reconcile(&self, namespace: &str, name: &str) -> u32 {
        self.with_pending(namespace, name, 1, |entry| {
            entry.failures_in_a_row = entry.failures_in_a_row.saturating_add(1);
            entry.failures_in_a_row
        })
    }

    /// Hand a metric answer (and the query's failure, if any) to this rollout's next `step`,
    /// and wake it: queries run beside reconciles, never inside them.
    pub fn deliver(
        &self,
        namespace: &str,
        name: &str,
        result: MetricResult,
        failure: Option<EffectError>,
    ) {
        self.with_pending(namespace, name, (), |entry| {
            entry.results.push(result);
            entry.errors.extend(failure);
        });
        let _ = self.wake.send((namespace.to_string(), name.to_string()));
    }

    /// Rollouts to reconcile again, as they are woken.
    pub fn wakes(&self) -> tokio::sync::broadcast::Receiver<(String, String)> {
        self.wake.subscribe()
    }

    /// Forget a deleted rollout.
    pub fn forget(&self, namespace: &str, name: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&(namespace.to_string(), name.to_string()));
        }
    }

    /// A Rollout is gone: release everything kept for it (pending results and errors, its
    /// metric series, its open trace file).
    pub fn forget_rollout(&self, namespace: &str, name: &str) {
        self.forget(namespace, name);
        self.telemetry.forget(&super::telemetry::RolloutLabels {
            namespace: namespace.to_string(),
            rollout: name.to_string(),
        });
        if let Some(recorder) = &self.recorder {
            recorder.close(namespace, name);
        }
        if let Some(sink) = &self.sink {
            sink.forget(namespace, name);
        }
    }
}

/// The entry of a per-scope map that covers a namespace: its own scope, else all namespaces.
fn covering<'a, T>(by_scope: &'a BTreeMap<Option<String>, T>, namespace: &str) -> Option<&'a T> {
    by_scope
        .get(&Some(namespace.to_string()))
        .or_else(|| by_scope.get(&None))
}

/// Exponential backoff for retries. Transient failures (an API that is busy, slow or raced
/// us) start at 250 ms and wait at most 5 s, so a flaky API slows a rollout down but never
/// stalls it; failures a person must fix (forbidden, missing, refused) start at 1 s and wait
/// at most 5 minutes.
pub fn backoff(failures_in_a_row: u32, transient: bool) -> Duration {
    let exponent = failures_in_a_row.saturating_sub(1).min(10);
    let (first, cap) = if transient {
        (Duration::from_millis(250), Duration::from_secs(5))
    } else {
        (Duration::from_secs(1), Duration::from_secs(300))
    };
    (first * (1u32 << exponent)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_back_off_to_five_seconds_and_lasting_ones_to_five_minutes() {
        let waits = |transient| -> Vec<u128> {
            [1, 2, 3, 4, 5, 6, 12, u32::MAX]
                .into_iter()
                .map(|n| backoff(n, transient).as_millis())
                .collect()
        };
        assert_eq!(waits(true), [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(
            waits(false),
            [1000, 2000, 4000, 8000, 16000, 32000, 300_000, 300_000]
        );
    }
}
