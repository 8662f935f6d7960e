//! Durations as people write them (`200ms`, `5s`, `1m`), for the control endpoint's JSON and
//! the command line.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Read `200ms`, `5s`, `1m30s`; the error is a sentence naming the text.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|error| format!("{text:?} is not a duration such as 200ms, 5s or 1m ({error})"))
}

/// The duration as `parse` reads it back.
pub fn show(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// For `#[serde(with = "crate::duration")]`.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&show(*duration))
}

/// For `#[serde(with = "crate::duration")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}
