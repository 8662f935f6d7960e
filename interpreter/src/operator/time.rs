//! The API's time types (k8s-openapi's jiff `Timestamp` and `MicroTime`) and chrono, which
//! the core and the rest of the operator use.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;

/// A chrono time as the API's microsecond time.
pub fn micro(at: DateTime<Utc>) -> MicroTime {
    MicroTime(to_timestamp(at))
}

/// chrono → jiff (k8s-openapi's time type), to the microsecond.
pub fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    let micros = at.timestamp_micros();
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// jiff → chrono.
pub fn from_timestamp(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.as_microsecond()).unwrap_or_default()
}
