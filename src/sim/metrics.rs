//! Metric values scripted over time, per metric and per image, for simulations.
//!
//! Noise is drawn from a seeded generator keyed by the measurement itself, so a value depends
//! only on what is measured and when, never on how many queries came before it.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::DurationString;
use crate::effect::MeasurementKey;
use crate::observations::MetricValue;

use super::MetricSource;

/// How one metric's value evolves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum MetricScript {
    /// Always this value.
    Constant(f64),
    /// No series (no traffic).
    Missing,
    /// Not a number (0/0 in PromQL).
    #[serde(rename = "nan")]
    NaN,
    /// The query fails with this message.
    Error(String),
    /// `mean ± spread`, uniformly, from a seed.
    Noisy {
        /// Centre.
        mean: f64,
        /// Half-width.
        spread: f64,
        /// Seed.
        seed: u64,
    },
    /// A different script from each time on (offsets from the start of the simulation).
    Steps(Vec<MetricPhase>),
}

/// One phase of a stepped script.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricPhase {
    /// From this offset on.
    pub from: DurationString,
    /// This script applies.
    pub value: MetricScript,
}

/// Scripts for every metric: a default, and per-revision overrides.
#[derive(Clone, Debug, Default)]
pub struct MetricTable {
    /// When the simulation started; `from` offsets count from here.
    pub start: DateTime<Utc>,
    /// Script per metric name when no override applies.
    pub defaults: BTreeMap<String, MetricScript>,
    /// Script per (metric name, revision).
    pub overrides: BTreeMap<(String, String), MetricScript>,
    /// What a metric with no script returns.
    pub fallback: Option<MetricScript>,
}

impl MetricSource for MetricTable {
    fn value(&mut self, key: &MeasurementKey, now: DateTime<Utc>) -> MetricValue {
        let script = self
            .overrides
            .get(&(key.metric.clone(), key.revision.clone()))
            .or_else(|| self.defaults.get(&key.metric))
            .or(self.fallback.as_ref());
        match script {
            Some(script) => evaluate(script, key, now - self.start),
            None => MetricValue::Error(format!("no script for metric {:?}", key.metric)),
        }
    }
}

/// The value of `script` at `offset` from the start.
pub fn evaluate(script: &MetricScript, key: &MeasurementKey, offset: TimeDelta) -> MetricValue {
    match script {
        MetricScript::Constant(value) => MetricValue::Sample(*value),
        MetricScript::Missing => MetricValue::Empty,
        MetricScript::NaN => MetricValue::Sample(f64::NAN),
        MetricScript::Error(message) => MetricValue::Error(message.clone()),
        MetricScript::Noisy { mean, spread, seed } => {
            let unit = unit_interval(*seed, key);
            MetricValue::Sample(mean + spread * (2.0 * unit - 1.0))
        }
        MetricScript::Steps(phases) => {
            let current = phases
                .iter()
                .rev()
                .find(|phase| phase.from.parse().is_ok_and(|from| from <= offset));
            match current {
                Some(phase) => evaluate(&phase.value, key, offset),
                None => MetricValue::Empty,
            }
        }
    }
}

/// A number in [0, 1) determined by the seed and the measurement.
fn unit_interval(seed: u64, key: &MeasurementKey) -> f64 {
    let mut state = seed;
    for byte in key.metric.bytes().chain(key.revision.bytes()) {
        state = splitmix64(state ^ u64::from(byte));
    }
    state = splitmix64(state ^ u64::from(key.round));
    // The top 53 bits make an exactly representable fraction.
    (state >> 11) as f64 / (1u64 << 53) as f64
}

/// SplitMix64: a tiny, well-known deterministic mixer (not a source of entropy).
fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::AnalysisKind;

    fn key(round: u32) -> MeasurementKey {
        MeasurementKey {
            analysis: AnalysisKind::Background,
            step_index: None,
            revision: "r1".into(),
            round,
            metric: "errors".into(),
        }
    }

    #[test]
    fn noise_is_reproducible_and_stays_within_its_spread() {
        let script = MetricScript::Noisy {
            mean: 1.0,
            spread: 0.5,
            seed: 42,
        };
        let mut seen = Vec::new();
        for round in 1..200 {
            let MetricValue::Sample(value) = evaluate(&script, &key(round), TimeDelta::zero())
            else {
                panic!("a sample");
            };
            assert!((0.5..=1.5).contains(&value), "{value}");
            assert_eq!(
                evaluate(&script, &key(round), TimeDelta::zero()),
                MetricValue::Sample(value)
            );
            seen.push(value);
        }
        seen.dedup();
        assert!(seen.len() > 150, "noise varies");
    }

    #[test]
    fn steps_switch_script_at_their_offset() {
        let script = MetricScript::Steps(vec![
            MetricPhase {
                from: DurationString::new("0s"),
                value: MetricScript::Constant(0.01),
            },
            MetricPhase {
                from: DurationString::new("5m"),
                value: MetricScript::NaN,
            },
        ]);
        assert_eq!(
            evaluate(&script, &key(1), TimeDelta::minutes(4)),
            MetricValue::Sample(0.01)
        );
        let MetricValue::Sample(late) = evaluate(&script, &key(1), TimeDelta::minutes(5)) else {
            panic!("a sample");
        };
        assert!(late.is_nan());
    }
}
