//! Traces: one JSON line per `step` call, with its inputs and outputs, so any rollout can be
//! replayed offline and checked for divergence.
//!
//! A line always carries the observations and the effects. To keep lines small, the spec is
//! written only when it changed since the previous line, the input status only when it is not
//! the previous line's output, and the output status as `next`: only the status fields that
//! changed (a field set back to unset is written as `null`).
//! Every line starts with the format version, `{"v":1,...}`; a newer version is refused.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::effect::Effect;
use crate::observations::Observations;
use crate::spec::RolloutSpec;
use crate::status::RolloutStatus;

/// The trace format this build writes and reads.
pub const TRACE_VERSION: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineOut<'a> {
    v: u32,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<&'a RolloutSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a RolloutStatus>,
    observations: &'a Observations,
    #[serde(skip_serializing_if = "StatusChangesOut::is_empty")]
    next: StatusChangesOut<'a>,
    effects: &'a [Effect],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LineIn {
    #[serde(rename = "v")]
    _version: u32,
    seq: u64,
    #[serde(default)]
    spec: Option<RolloutSpec>,
    #[serde(default)]
    status: Option<RolloutStatus>,
    observations: Observations,
    #[serde(default)]
    next: StatusChanges,
    /// Kept as text: verifying compares it with the replayed effects' text.
    effects: Box<serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct VersionProbe {
    v: Option<u32>,
}

/// Declares the status fields once; generates the changed-fields types from them. A field
/// added to `RolloutStatus` but not listed here fails to compile (`exhaustive`).
macro_rules! status_changes {
    ($($field:ident: $type:ty),* $(,)?) => {
        /// The status fields that changed, borrowed, for writing.
        #[derive(Serialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct StatusChangesOut<'a> {
            $(
                #[serde(skip_serializing_if = "Option::is_none")]
                $field: Option<&'a $type>,
            )*
        }

        impl<'a> StatusChangesOut<'a> {
            fn between(before: &'a RolloutStatus, after: &'a RolloutStatus) -> Self {
                StatusChangesOut {
                    $($field: (before.$field != after.$field).then_some(&after.$field),)*
                }
            }

            fn is_empty(&self) -> bool {
                true $(&& self.$field.is_none())*
            }
        }

        /// The status fields that changed, read back.
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct StatusChanges {
            $(
                #[serde(default, deserialize_with = "present")]
                $field: Option<$type>,
            )*
        }

        impl StatusChanges {
            fn is_empty(&self) -> bool {
                true $(&& self.$field.is_none())*
            }

            /// Whether `after` is `before` with exactly these changes.
            fn matches(&self, before: &RolloutStatus, after: &RolloutStatus) -> bool {
                true $(&& match &self.$field {
                    Some(value) => *value == after.$field,
                    None => before.$field == after.$field,
                })*
            }

            fn apply_to(self, status: &mut RolloutStatus) {
                $(if let Some(value) = self.$field { status.$field = value; })*
            }
        }

        #[allow(dead_code)]
        fn exhaustive(status: &RolloutStatus) {
            let RolloutStatus { $($field: _,)* } = status;
        }
    };
}

status_changes! {
    phase: Option<crate::status::Phase>,
    observed_generation: Option<i64>,
    stable_revision: Option<String>,
    canary_revision: Option<String>,
    current_step_index: Option<i32>,
    current_weight: i32,
    observed_weight: Option<i32>,
    pause_start_time: Option<chrono::DateTime<chrono::Utc>>,
    paused_by_user: bool,
    full_promotion: bool,
    waiting: Option<crate::status::Waiting>,
    blue_green: Option<crate::status::BlueGreenStatus>,
    background_analysis: Option<crate::status::AnalysisRun>,
    gate_analysis: Option<crate::status::AnalysisRun>,
    last_request_token: Option<String>,
    cdevents_outbox: Vec<crate::effect::CdEvent>,
    traffic: Vec<crate::status::RevisionTraffic>,
    last_request_ignored: Option<String>,
    attempt: u32,
    shipments: u32,
    collision_count: u32,
    workload_replicas: Option<i32>,
    announced: Vec<String>,
    replicas: i32,
    ready_replicas: i32,
    updated_replicas: i32,
    selector: Option<String>,
    message: Option<String>,
    conditions: Vec<crate::status::Condition>,
}

/// A field that is present is `Some`, even when it is `null` (which sets it back to unset).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Writes trace lines, remembering what the previous line said.
#[derive(Default)]
pub struct TraceEncoder {
    seq: u64,
    spec: Option<RolloutSpec>,
    status: Option<RolloutStatus>,
}

impl TraceEncoder {
    /// A new encoder; its first line carries the spec and the status in full.
    pub fn new() -> Self {
        Self::default()
    }

    /// The line for one `step` call (without a trailing newline).
    pub fn encode(
        &mut self,
        spec: &RolloutSpec,
        before: &RolloutStatus,
        observations: &Observations,
        after: &RolloutStatus,
        effects: &[Effect],
    ) -> Result<String, serde_json::Error> {
        self.seq += 1;
        let line = LineOut {
            v: TRACE_VERSION,
            seq: self.seq,
            spec: (self.spec.as_ref() != Some(spec)).then_some(spec),
            status: (self.status.as_ref() != Some(before)).then_some(before),
            observations,
            next: StatusChangesOut::between(before, after),
            effects,
        };
        let text = serde_json::to_string(&line)?;
        if line.spec.is_some() {
            self.spec = Some(spec.clone());
        }
        if self.status.as_ref() != Some(after) {
            self.status = Some(after.clone());
        }
        Ok(text)
    }
}

/// One `step` call read back from a trace, with everything needed to run it again.
#[derive(Clone, Debug)]
pub struct TraceStep {
    /// 1-based line number in the file.
    pub line: usize,
    /// Sequence number written by the encoder.
    pub seq: u64,
    /// The spec.
    pub spec: Arc<RolloutSpec>,
    /// The status before (shared with the previous line's output when it is the same).
    pub before: Arc<RolloutStatus>,
    /// The observations.
    pub observations: Observations,
    /// The status `step` returned.
    pub after: Arc<RolloutStatus>,
    /// The effects `step` returned, as recorded (compact JSON); see [`TraceStep::effects`].
    pub recorded_effects: Box<serde_json::value::RawValue>,
}

impl TraceStep {
    /// The recorded effects, parsed.
    pub fn effects(&self) -> Result<Vec<Effect>, TraceError> {
        serde_json::from_str(self.recorded_effects.get()).map_err(|error| TraceError::Malformed {
            line: self.line,
            path: format!("effects (line {}, column {})", error.line(), error.column()),
            message: error.to_string(),
        })
    }
}

/// Why a trace line could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TraceError {
    /// The line was written by a newer KULTA.
    #[error(
        "line {line}: trace format version {found} is newer than this kulta reads ({TRACE_VERSION}); use a newer kulta to replay it"
    )]
    FutureVersion {
        /// Line number.
        line: usize,
        /// Version found.
        found: u32,
    },
    /// The line has no version.
    #[error("line {line}: not a KULTA trace line (no \"v\" version field)")]
    NoVersion {
        /// Line number.
        line: usize,
    },
    /// The line is not valid for this format.
    #[error("line {line}: field {path}: {message}")]
    Malformed {
        /// Line number.
        line: usize,
        /// Path of the offending field (`.` for the whole line).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A line relies on an earlier one that is missing.
    #[error("line {line}: no {what} here and no earlier line to take it from")]
    Missing {
        /// Line number.
        line: usize,
        /// `spec` or `status`.
        what: &'static str,
    },
}

/// What the previous lines said, for the lines that leave it out.
#[derive(Default)]
struct Carry {
    spec: Option<Arc<RolloutSpec>>,
    status: Option<Arc<RolloutStatus>>,
}

impl Carry {
    /// The spec and input status of a line: its own, or those carried from earlier lines.
    fn inputs(
        &mut self,
        line: usize,
        spec: Option<RolloutSpec>,
        status: Option<RolloutStatus>,
    ) -> Result<(Arc<RolloutSpec>, Arc<RolloutStatus>), TraceError> {
        let spec = match spec {
            Some(spec) => Arc::new(spec),
            None => self
                .spec
                .clone()
                .ok_or(TraceError::Missing { line, what: "spec" })?,
        };
        self.spec = Some(Arc::clone(&spec));
        let status = match status {
            Some(status) => Arc::new(status),
            None => self.status.take().ok_or(TraceError::Missing {
                line,
                what: "status",
            })?,
        };
        Ok((spec, status))
    }
}

/// Reads trace lines in order, filling in what a line leaves out from the ones before.
#[derive(Default)]
pub struct TraceDecoder {
    line: usize,
    carry: Carry,
}

impl TraceDecoder {
    /// A decoder at the start of a trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read the next line. Blank lines are counted but must not be passed here.
    pub fn decode(&mut self, text: &str) -> Result<TraceStep, TraceError> {
        self.line += 1;
        let parsed = parse_line(text, self.line)?;
        self.resolve(parsed)
    }

    /// Complete a parsed line with what earlier lines said. Lines must be resolved in order.
    pub fn resolve(&mut self, parsed: ParsedLine) -> Result<TraceStep, TraceError> {
        let line = parsed.line;
        self.line = line;
        let inner = parsed.inner;
        let (spec, before) = self.carry.inputs(line, inner.spec, inner.status)?;
        let after = if inner.next.is_empty() {
            Arc::clone(&before)
        } else {
            let mut after = RolloutStatus::clone(&before);
            inner.next.apply_to(&mut after);
            Arc::new(after)
        };
        self.carry.status = Some(Arc::clone(&after));
        Ok(TraceStep {
            line,
            seq: inner.seq,
            spec,
            before,
            observations: inner.observations,
            after,
            recorded_effects: inner.effects,
        })
    }

    /// Count a line that holds nothing (blank), so later line numbers stay right.
    pub fn skip_blank(&mut self) {
        self.line += 1;
    }
}

/// A trace line parsed on its own; [`TraceDecoder::resolve`] fills in what it left out.
/// Parsing needs no other line, so many lines can be parsed at once.
pub struct ParsedLine {
    line: usize,
    inner: LineIn,
}

/// Parse line number `line` of a trace.
pub fn parse_line(text: &str, line: usize) -> Result<ParsedLine, TraceError> {
    check_version(text, line)?;
    let inner: LineIn = serde_json::from_str(text).map_err(|_| malformed(text, line))?;
    Ok(ParsedLine { line, inner })
}

fn check_version(text: &str, line: usize) -> Result<(), TraceError> {
    if text.starts_with("{\"v\":1,") {
        return Ok(());
    }
    let probe: VersionProbe = serde_json::from_str(text).map_err(|_| malformed(text, line))?;
    match probe.v {
        None => Err(TraceError::NoVersion { line }),
        Some(found) if found > TRACE_VERSION => Err(TraceError::FutureVersion { line, found }),
        Some(found) if found != TRACE_VERSION => Err(TraceError::Malformed {
            line,
            path: "v".into(),
            message: format!("unknown trace format version {found}"),
        }),
        Some(_) => Ok(()),
    }
}

/// Parse again, slowly, to say which field is wrong.
fn malformed(text: &str, line: usize) -> TraceError {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, LineIn>(&mut deserializer) {
        Ok(_) => TraceError::Malformed {
            line,
            path: ".".into(),
            message: "unreadable line".into(),
        },
        Err(error) => TraceError::Malformed {
            line,
            path: error.path().to_string(),
            message: error.inner().to_string(),
        },
    }
}

/// Where a replay first differs from the recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Line number.
    pub line: usize,
    /// Sequence number.
    pub seq: u64,
    /// The differences, one per JSON path (`status.currentWeight: recorded 20, replayed 30`).
    pub differences: Vec<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "line {} (seq {}): replay differs from the recording",
            self.line, self.seq
        )?;
        for difference in &self.differences {
            writeln!(f, "  {difference}")?;
        }
        Ok(())
    }
}

/// One line run again.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// Line number.
    pub line: usize,
    /// Sequence number.
    pub seq: u64,
    /// The status before.
    pub before: Arc<RolloutStatus>,
    /// The observations.
    pub observations: Observations,
    /// The status `step` returned now.
    pub after: Arc<RolloutStatus>,
    /// The effects `step` returned now.
    pub effects: Vec<Effect>,
    /// Where this differs from the recording, if it does.
    pub divergence: Option<Divergence>,
}

/// Runs `step` again over parsed lines, in order, comparing with what was recorded.
///
/// When a line's replay matches its recording, the replayed status (equal to the recorded one)
/// is what the next line starts from, so the recorded status is never rebuilt; after a
/// divergence, the recorded status is rebuilt so that later lines still replay their own
/// recorded inputs.
#[derive(Default)]
pub struct Replayer {
    carry: Carry,
}

impl Replayer {
    /// A replayer at the start of a trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run the next line again.
    pub fn replay(&mut self, parsed: ParsedLine) -> Result<Replayed, TraceError> {
        let line = parsed.line;
        let inner = parsed.inner;
        let (spec, before) = self.carry.inputs(line, inner.spec, inner.status)?;
        let (after, effects) = crate::step(&spec, &before, &inner.observations);
        let after = Arc::new(after);
        let recorded = &inner.effects;
        let parse_recorded = || {
            serde_json::from_str::<Vec<Effect>>(recorded.get()).map_err(|error| {
                TraceError::Malformed {
                    line,
                    path: format!("effects (column {})", error.column()),
                    message: error.to_string(),
                }
            })
        };
        // The encoder writes effects as compact JSON, so equal effects are equal text; only
        // when the text differs (another writer, or a real difference) are they parsed.
        let same_effects = serde_json::to_string(&effects).is_ok_and(|text| text == recorded.get())
            || parse_recorded()? == effects;
        let divergence = if same_effects && inner.next.matches(&before, &after) {
            self.carry.status = Some(Arc::clone(&after));
            None
        } else {
            let mut recorded_after = RolloutStatus::clone(&before);
            inner.next.apply_to(&mut recorded_after);
            let mut differences = Vec::new();
            let recorded =
                serde_json::json!({"status": recorded_after, "effects": parse_recorded()?});
            let replayed = serde_json::json!({"status": *after, "effects": effects});
            diff_values("", &recorded, &replayed, &mut differences);
            self.carry.status = Some(Arc::new(recorded_after));
            Some(Divergence {
                line,
                seq: inner.seq,
                differences,
            })
        };
        Ok(Replayed {
            line,
            seq: inner.seq,
            before,
            observations: inner.observations,
            after,
            effects,
            divergence,
        })
    }
}

const MAX_DIFFERENCES: usize = 20;

fn diff_values(
    path: &str,
    recorded: &serde_json::Value,
    replayed: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    if out.len() >= MAX_DIFFERENCES || recorded == replayed {
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (recorded, replayed) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let left = a.get(key).unwrap_or(&Value::Null);
                let right = b.get(key).unwrap_or(&Value::Null);
                diff_values(&join(key), left, right, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (left, right)) in a.iter().zip(b).enumerate() {
                diff_values(&format!("{path}[{index}]"), left, right, out);
            }
        }
        _ => out.push(format!("{path}: recorded {recorded}, replayed {replayed}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_from_a_newer_format_is_refused_with_its_version() {
        let text = r#"{"v":2,"seq":1,"anything":true}"#;
        let error = TraceDecoder::new().decode(text).unwrap_err();
        assert_eq!(error, TraceError::FutureVersion { line: 1, found: 2 });
        assert!(error.to_string().contains("newer"), "{error}");
    }

    #[test]
    fn a_line_without_a_version_is_not_a_trace_line() {
        let error = TraceDecoder::new().decode(r#"{"seq":1}"#).unwrap_err();
        assert_eq!(error, TraceError::NoVersion { line: 1 });
    }

    #[test]
    fn a_bad_field_is_named_by_its_path() {
        let text = r#"{"v":1,"seq":1,"observations":{"now":"yesterday"},"effects":[]}"#;
        let error = TraceDecoder::new().decode(text).unwrap_err();
        match error {
            TraceError::Malformed { line, path, .. } => {
                assert_eq!(line, 1);
                assert_eq!(path, "observations.now");
            }
            other => panic!("{other:?}"),
        }
    }
}
