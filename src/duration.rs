//! Durations as users write them (`30s`, `5m`, `1h`), kept as text in the spec so that a bad
//! value becomes a status condition instead of an object the controller cannot read.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as text, such as `30s`, `5m`, `1h` or `1h30m`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct DurationString(pub String);

/// Why a duration could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// The text starts with a minus sign.
    #[error("{0:?} is negative")]
    Negative(String),
    /// The text is not a duration at all.
    #[error("{value:?} is not a duration like 30s, 5m or 1h ({reason})")]
    Unparsable {
        /// The text as written.
        value: String,
        /// What the parser said.
        reason: String,
    },
}

impl DurationString {
    /// Wrap a text without checking it.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Read the text as a duration.
    pub fn parse(&self) -> Result<TimeDelta, DurationError> {
        let text = self.0.trim();
        if text.starts_with('-') {
            return Err(DurationError::Negative(self.0.clone()));
        }
        let std = humantime::parse_duration(text).map_err(|err| DurationError::Unparsable {
            value: self.0.clone(),
            reason: err.to_string(),
        })?;
        TimeDelta::from_std(std).map_err(|err| DurationError::Unparsable {
            value: self.0.clone(),
            reason: err.to_string(),
        })
    }
}

impl fmt::Display for DurationString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serde for a [`Duration`] as human-readable text (`1m 30s`), used by effects so that traces
/// and snapshots read naturally.
pub mod human {
    use super::*;

    /// Write a duration as text.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*value))
    }

    /// Read a duration from text.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// `at + delta`, saturating at the end of representable time instead of overflowing: a
/// duration of a thousand years is odd, but must not crash the controller.
pub(crate) fn after(at: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    at.checked_add_signed(delta)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The non-negative span from `delta`, for effects that only make sense forwards in time.
pub(crate) fn to_std(delta: TimeDelta) -> Duration {
    delta.to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_seconds_minutes_and_hours() {
        assert_eq!(
            DurationString::new("30s").parse(),
            Ok(TimeDelta::seconds(30))
        );
        assert_eq!(DurationString::new("5m").parse(), Ok(TimeDelta::minutes(5)));
        assert_eq!(DurationString::new("1h").parse(), Ok(TimeDelta::hours(1)));
        assert_eq!(
            DurationString::new("1h30m").parse(),
            Ok(TimeDelta::minutes(90))
        );
    }

    #[test]
    fn refuses_negative_and_garbage_with_the_value_in_the_message() {
        let err = DurationString::new("-5s").parse().unwrap_err();
        assert_eq!(err, DurationError::Negative("-5s".into()));
        let err = DurationString::new("soon").parse().unwrap_err();
        assert!(err.to_string().contains("\"soon\""), "{err}");
    }
}
