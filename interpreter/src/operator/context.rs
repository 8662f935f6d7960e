//! What every reconcile shares: the client, the configuration, leadership, metrics, and the
//! results of effects that come back as observations on the next `step`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::Recorder as EventRecorder;
use kulta::{EffectError, MetricResult};

use super::cache::{Expect, ReplicaSetIndex};
use super::lease::Leader;
use super::record::Recorder;
use super::sink::Sink;
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

/// Results of the last execution of a rollout's effects, for its next `step`.
#[derive(Default)]
pub struct Pending {
    /// Metric answers.
    pub results: Vec<MetricResult>,
    /// Failed effects.
    pub errors: Vec<EffectError>,
    /// Reconciles in a row with failed effects or failed observations, for backoff.
    pub failures_in_a_row: u32,
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
    pub events: EventRecorder,
    /// CDEvents delivery, when a sink is configured.
    pub sink: Option<Sink>,
    /// Trace recording, when asked for.
    pub recorder: Option<Recorder>,
    /// Owned ReplicaSets by watched scope (`None`: all namespaces).
    pub indexes: BTreeMap<Option<String>, Arc<ReplicaSetIndex>>,
    pending: Mutex<BTreeMap<(String, String), Pending>>,
    expectations: Mutex<BTreeMap<(String, String), BTreeMap<String, Expect>>>,
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
        events: EventRecorder,
        sink: Option<Sink>,
        recorder: Option<Recorder>,
        indexes: BTreeMap<Option<String>, Arc<ReplicaSetIndex>>,
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
            indexes,
            pending: Mutex::new(BTreeMap::new()),
            expectations: Mutex::new(BTreeMap::new()),
        }
    }

    /// The ReplicaSet index that covers a namespace.
    pub fn index_for(&self, namespace: &str) -> Option<&Arc<ReplicaSetIndex>> {
        self.indexes
            .get(&Some(namespace.to_string()))
            .or_else(|| self.indexes.get(&None))
    }

    /// After a ReplicaSet write: the next observation must show it.
    pub fn expect(&self, namespace: &str, rollout: &str, replica_set: &str, expect: Expect) {
        if let Ok(mut expectations) = self.expectations.lock() {
            expectations
                .entry((namespace.to_string(), rollout.to_string()))
                .or_default()
                .insert(replica_set.to_string(), expect);
        }
    }

    /// What the next observation of this rollout's ReplicaSets must show.
    pub fn expectations(&self, namespace: &str, rollout: &str) -> BTreeMap<String, Expect> {
        self.expectations
            .lock()
            .ok()
            .and_then(|expectations| {
                expectations
                    .get(&(namespace.to_string(), rollout.to_string()))
                    .cloned()
            })
            .unwrap_or_default()
    }

    /// The ReplicaSets were observed fresh: nothing more to wait for.
    pub fn expectations_met(&self, namespace: &str, rollout: &str) {
        if let Ok(mut expectations) = self.expectations.lock() {
            expectations.remove(&(namespace.to_string(), rollout.to_string()));
        }
    }

    /// Take what the last execution left for this rollout.
    pub fn take_pending(
        &self,
        namespace: &str,
        name: &str,
    ) -> (Vec<MetricResult>, Vec<EffectError>) {
        let Ok(mut pending) = self.pending.lock() else {
            return (Vec::new(), Vec::new());
        };
        let entry = pending
            .entry((namespace.to_string(), name.to_string()))
            .or_default();
        (
            std::mem::take(&mut entry.results),
            std::mem::take(&mut entry.errors),
        )
    }

    /// Leave results and errors for this rollout's next `step`; returns how many reconciles
    /// in a row have failed (0 when this one went well).
    pub fn leave_pending(
        &self,
        namespace: &str,
        name: &str,
        results: Vec<MetricResult>,
        errors: Vec<EffectError>,
    ) -> u32 {
        let Ok(mut pending) = self.pending.lock() else {
            return 0;
        };
        let entry = pending
            .entry((namespace.to_string(), name.to_string()))
            .or_default();
        entry.failures_in_a_row = if errors.is_empty() {
            0
        } else {
            entry.failures_in_a_row.saturating_add(1)
        };
        entry.results.extend(results);
        entry.errors.extend(errors);
        entry.failures_in_a_row
    }

    /// Count a reconcile that could not observe or write; returns how many in a row.
    pub fn failed_reconcile(&self, namespace: &str, name: &str) -> u32 {
        let Ok(mut pending) = self.pending.lock() else {
            return 1;
        };
        let entry = pending
            .entry((namespace.to_string(), name.to_string()))
            .or_default();
        entry.failures_in_a_row = entry.failures_in_a_row.saturating_add(1);
        entry.failures_in_a_row
    }

    /// Forget a deleted rollout.
    pub fn forget(&self, namespace: &str, name: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&(namespace.to_string(), name.to_string()));
        }
        self.expectations_met(namespace, name);
    }
}

/// Exponential backoff for retries: 1 s, 2 s, 4 s, … at most 5 minutes.
pub fn backoff(failures_in_a_row: u32) -> Duration {
    let exponent = failures_in_a_row.saturating_sub(1).min(9);
    Duration::from_secs(1u64 << exponent).min(Duration::from_secs(300))
}
