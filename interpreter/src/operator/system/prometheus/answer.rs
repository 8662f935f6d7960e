//! Reading a Prometheus `/api/v1/query` answer as the core's [`MetricValue`].
//!
//! A query must yield one number. No series is `Empty` (inconclusive: no traffic is not good
//! news); several series, an error answer or an unreadable body is an `Error` saying why.

use kulta::MetricValue;
use serde::Deserialize;

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Series>),
    Scalar((f64, String)),
    Matrix(Vec<serde_json::Value>),
    String((f64, String)),
}

#[derive(Deserialize)]
struct Series {
    value: (f64, String),
}

/// The value of an instant query's answer.
pub fn read_answer(body: &[u8]) -> MetricValue {
    let answer: Answer = match serde_json::from_slice(body) {
        Ok(answer) => answer,
        Err(error) => return MetricValue::Error(format!("unreadable Prometheus answer: {error}")),
    };
    if answer.status != "success" {
        let kind = answer.error_type.unwrap_or_else(|| "error".into());
        let message = answer.error.unwrap_or_default();
        return MetricValue::Error(format!("{kind}: {message}"));
    }
    match answer.data {
        Some(Data::Vector(series)) => match series.as_slice() {
            [] => MetricValue::Empty,
            [one] => sample(&one.value.1),
            many => MetricValue::Error(format!(
                "the query returned {} series; it must return one (aggregate it, e.g. with sum)",
                many.len()
            )),
        },
        Some(Data::Scalar((_, value))) => sample(&value),
        Some(Data::Matrix(series)) => MetricValue::Error(format!(
            "the query returned a range vector ({} series); use an instant query",
            series.len()
        )),
        Some(Data::String((_, text))) => MetricValue::Error(format!(
            "the query returned a string ({text:?}), not a number"
        )),
        None => MetricValue::Error("the Prometheus answer has no data".into()),
    }
}

/// Prometheus writes sample values as text: numbers, `NaN`, `+Inf`, `-Inf`.
fn sample(text: &str) -> MetricValue {
    match text {
        "NaN" => MetricValue::Sample(f64::NAN),
        "+Inf" | "Inf" => MetricValue::Sample(f64::INFINITY),
        "-Inf" => MetricValue::Sample(f64::NEG_INFINITY),
        other => match other.parse::<f64>() {
            Ok(value) => MetricValue::Sample(value),
            Err(_) => MetricValue::Error(format!("sample {other:?} is not a number")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(values: &[&str]) -> Vec<u8> {
        let result: Vec<serde_json::Value> = values
            .iter()
            .map(|v| serde_json::json!({"metric": {"job": "web"}, "value": [1767225600.123, v]}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})).unwrap()
    }

    #[test]
    fn one_series_is_its_value() {
        assert_eq!(
            read_answer(&vector(&["0.0125"])),
            MetricValue::Sample(0.0125)
        );
        let scalar =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1767225600,"3"]}}"#;
        assert_eq!(read_answer(scalar), MetricValue::Sample(3.0));
    }

    #[test]
    fn no_series_is_empty_and_nan_stays_nan() {
        assert_eq!(read_answer(&vector(&[])), MetricValue::Empty);
        assert!(matches!(read_answer(&vector(&["NaN"])), MetricValue::Sample(v) if v.is_nan()));
        assert_eq!(
            read_answer(&vector(&["+Inf"])),
            MetricValue::Sample(f64::INFINITY)
        );
    }

    #[test]
    fn several_series_errors_and_garbage_are_errors_that_say_why() {
        let many = read_answer(&vector(&["1", "2"]));
        assert!(
            matches!(&many, MetricValue::Error(m) if m.contains("2 series")),
            "{many:?}"
        );
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(
            read_answer(bad),
            MetricValue::Error("bad_data: parse error at char 5".into())
        );
        assert!(
            matches!(read_answer(b"<html>"), MetricValue::Error(m) if m.contains("unreadable"))
        );
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(read_answer(matrix), MetricValue::Error(m) if m.contains("range vector")));
    }
}
