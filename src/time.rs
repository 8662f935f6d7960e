//! Serde for timestamps: written exactly as chrono writes them, read with a fast path for the
//! canonical UTC form (`2026-01-01T00:00:00Z`, optionally with a fraction) that every KULTA
//! writer and the Kubernetes API produce, and chrono's full RFC 3339 parser for anything else.
//! Replaying a trace reads several timestamps per line, so this matters.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Write a timestamp (chrono's own format).
pub fn serialize<S: Serializer>(value: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    value.serialize(serializer)
}

/// Read a timestamp.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Parse an RFC 3339 timestamp.
pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    if let Some(fast) = parse_canonical(text.as_bytes()) {
        return Ok(fast);
    }
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

fn parse_canonical(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let (month, day) = (number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let nanos = match b.len() {
        20 => 0,
        n if b[19] == b'.' && n > 21 && n - 21 <= 9 => {
            let digits = n - 21;
            number(20..n - 1)? * 10u32.pow(u32::try_from(9 - digits).ok()?)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    Some(
        date.and_hms_nano_opt(hour, minute, second, nanos)?
            .and_utc(),
    )
}

/// The same for optional timestamps.
pub mod option {
    use super::*;

    /// Write an optional timestamp.
    pub fn serialize<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    /// Read an optional timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(deserializer)?;
        text.map(|text| parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_fast_path_agrees_with_chrono() {
        for text in [
            "2026-01-01T00:00:00Z",
            "2026-02-28T23:59:59.5Z",
            "2026-11-25T20:10:35.123456789Z",
            "1999-12-31T12:00:00.000001Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_canonical(text.as_bytes()), Some(chrono), "{text}");
        }
    }

    #[test]
    fn other_forms_fall_back_to_chrono_and_garbage_is_an_error() {
        let with_offset = parse("2026-01-01T02:00:00+02:00").unwrap();
        assert_eq!(
            with_offset,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
        );
        assert!(parse("2026-13-01T00:00:00Z").is_err());
        assert!(parse("yesterday").is_err());
        assert!(parse("2026-01-01T00:00:00.Z").is_err());
    }

    #[test]
    fn what_is_written_reads_back() {
        let t = Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap()
            + chrono::TimeDelta::milliseconds(250);
        let json = serde_json::to_string(&t).unwrap();
        let mut de = serde_json::Deserializer::from_str(&json);
        assert_eq!(deserialize(&mut de).unwrap(), t);
    }
}
