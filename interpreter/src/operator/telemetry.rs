//! The operator's Prometheus metrics: rollout phase and weight, reconcile duration, effects by
//! kind and outcome, analysis measurements, leadership and CDEvent deliveries.
//!
//! Series are bounded by what operators need, not by how many rollouts there are: one
//! `rollout_info` series per rollout (its phase as a label, as Argo Rollouts' `rollout_info`),
//! a `rollout_weight` series only while a rollout is shipping, and every other family by kind
//! or outcome (analysis by metric name), never by rollout.

use kulta::status::MeasurementOutcome;
use kulta::{EffectKind, Phase, RolloutStatus};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming one rollout.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    /// Namespace.
    pub namespace: String,
    /// Rollout name.
    pub rollout: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    namespace: String,
    rollout: String,
    phase: &'static str,
}

/// How an effect or a delivery ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Failed (reported back to `step`).
    Error,
    /// Not attempted: this controller stopped being the leader.
    Skipped,
}

impl Outcome {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EffectLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnalysisLabels {
    metric: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    outcome: &'static str,
}

/// Where a reconcile read its Rollout or its ReplicaSets from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    /// The watch-fed cache or index.
    Index,
    /// The API (the cache had not caught up with what this controller knows).
    Api,
}

impl ReadFrom {
    fn label(self) -> &'static str {
        match self {
            ReadFrom::Index => "index",
            ReadFrom::Api => "api",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    source: &'static str,
}

/// Every metric the operator exports, registered once.
pub struct Telemetry {
    registry: Registry,
    phase: Family<PhaseLabels, Gauge>,
    weight: Family<RolloutLabels, Gauge>,
    reconcile_duration: Histogram,
    reconcile_errors: Family<ErrorLabels, Counter>,
    effects: Family<EffectLabels, Counter>,
    analysis: Family<AnalysisLabels, Counter>,
    leader: Gauge,
    cdevents: Family<DeliveryLabels, Counter>,
    cdevents_dropped: Counter,
    replica_set_reads: Family<ReadLabels, Counter>,
    rollout_reads: Family<ReadLabels, Counter>,
}

impl Telemetry {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kulta");
        let phase = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "rollout_info",
            "One series per rollout, always 1; its phase is a label",
            phase.clone(),
        );
        let weight = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_weight",
            "Traffic percentage the route was observed giving the canary, while a rollout ships",
            weight.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "Time of one observe, step, execute, write round",
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that could not observe or write, by error",
            reconcile_errors.clone(),
        );
        let effects = Family::<EffectLabels, Counter>::default();
        registry.register(
            "effects",
            "Effects executed, by kind and outcome",
            effects.clone(),
        );
        let analysis = Family::<AnalysisLabels, Counter>::default();
        registry.register(
            "analysis_measurements",
            "Analysis measurements judged, by metric and outcome",
            analysis.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this controller holds the lease",
            leader.clone(),
        );
        let cdevents = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "cdevents_deliveries",
            "CDEvents delivered to the sink or given up on",
            cdevents.clone(),
        );
        let cdevents_dropped = Counter::default();
        registry.register(
            "cdevents_dropped",
            "CDEvents given up on after their retries, or refused by a full queue",
            cdevents_dropped.clone(),
        );
        let replica_set_reads = Family::<ReadLabels, Counter>::default();
        registry.register(
            "replicaset_reads",
            "Reconciles by where they read their ReplicaSets: the index or the API",
            replica_set_reads.clone(),
        );
        let rollout_reads = Family::<ReadLabels, Counter>::default();
        registry.register(
            "rollout_reads",
            "Reconciles by where they read their Rollout: the cache (the newest version known) or the API",
            rollout_reads.clone(),
        );
        Telemetry {
            registry,
            replica_set_reads,
            rollout_reads,
            phase,
            weight,
            reconcile_duration,
            reconcile_errors,
            effects,
            analysis,
            leader,
            cdevents,
            cdevents_dropped,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// One reconcile took this long.
    pub fn reconciled(&self, seconds: f64) {
        self.reconcile_duration.observe(seconds);
    }

    /// A reconcile failed before it could finish.
    pub fn reconcile_failed(&self, label: &'static str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels { error: label })
            .inc();
    }

    /// An effect ended.
    pub fn effect(&self, kind: EffectKind, outcome: Outcome) {
        self.effects
            .get_or_create(&EffectLabels {
                kind: kind.as_str(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A reconcile read its ReplicaSets.
    pub fn replica_set_read(&self, from: ReadFrom) {
        let source = from.label();
        self.replica_set_reads
            .get_or_create(&ReadLabels { source })
            .inc();
    }

    /// A reconcile read its Rollout.
    pub fn rollout_read(&self, from: ReadFrom) {
        let source = from.label();
        self.rollout_reads
            .get_or_create(&ReadLabels { source })
            .inc();
    }

    /// Leadership changed.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// A CDEvent was delivered (ok) or given up on (error).
    pub fn cdevent(&self, outcome: Outcome) {
        self.cdevents
            .get_or_create(&DeliveryLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        if outcome == Outcome::Error {
            self.cdevents_dropped.inc();
        }
    }

    /// Publish a rollout's phase and weight, and count the measurements judged between two
    /// statuses.
    pub fn rollout(&self, labels: &RolloutLabels, before: &RolloutStatus, after: &RolloutStatus) {
        let current = after.phase.map(|phase| PhaseLabels {
            namespace: labels.namespace.clone(),
            rollout: labels.rollout.clone(),
            phase: phase.as_str(),
        });
        let published = current
            .as_ref()
            .is_some_and(|current| self.phase.get(current).is_some());
        if !published {
            // A new phase (or a restart): the rollout's one series moves to it.
            self.forget_phase(labels);
            if let Some(current) = &current {
                self.phase.get_or_create(current).set(1);
            }
        }
        // What requests see: the weight the route was observed carrying, while shipping.
        let shipping = matches!(after.phase, Some(Phase::Progressing | Phase::Paused))
            && after.canary_revision.is_some();
        match after.observed_weight {
            Some(weight) if shipping => {
                self.weight.get_or_create(labels).set(i64::from(weight));
            }
            _ => {
                self.weight.remove(labels);
            }
        }
        for (metric, outcome) in after.measurements_judged_since(before) {
            self.analysis
                .get_or_create(&AnalysisLabels {
                    metric: metric.to_string(),
                    outcome: outcome_name(outcome),
                })
                .inc();
        }
    }

    /// Forget a deleted rollout's series.
    pub fn forget(&self, labels: &RolloutLabels) {
        self.forget_phase(labels);
        self.weight.remove(labels);
    }

    fn forget_phase(&self, labels: &RolloutLabels) {
        for phase in Phase::ALL {
            self.phase.remove(&PhaseLabels {
                namespace: labels.namespace.clone(),
                rollout: labels.rollout.clone(),
                phase: phase.as_str(),
            });
        }
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

fn outcome_name(outcome: MeasurementOutcome) -> &'static str {
    match outcome {
        MeasurementOutcome::Success => "success",
        MeasurementOutcome::Failure => "failure",
        MeasurementOutcome::Inconclusive => "inconclusive",
    }
}
