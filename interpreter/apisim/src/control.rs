//! The control endpoint, under `/kulta-apisim/` on the simulator's own port (127.0.0.1 only):
//! what the library API lets tests do — faults, cut watches, the workload model — plus the
//! request log and counts, for people and scripts driving the binary from a shell.
//!
//! | method and path | what it does |
//! |---|---|
//! | `GET /kulta-apisim/requests` | counts by client, verb, resource and code, with totals (JSON) |
//! | `GET /kulta-apisim/requests/log?since=SEQ&limit=N` | the request log, oldest first (JSON lines) |
//! | `DELETE /kulta-apisim/requests` | forget the log and the counts |
//! | `GET /kulta-apisim/faults` | the fault rules, with how often each applied (JSON) |
//! | `POST /kulta-apisim/faults` | add a rule (JSON, or the `--fault` form `verb=patch,fail=500`) |
//! | `DELETE /kulta-apisim/faults` | remove every rule |
//! | `POST /kulta-apisim/cut-watches` | end every open watch stream |
//! | `GET /kulta-apisim/workload` | pod ready delay and per-image behaviour (JSON) |
//! | `PATCH /kulta-apisim/workload` | change them (JSON; absent fields stay, `null` clears an image) |
//!
//! These requests are neither counted, logged nor subject to faults.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::faults::FaultRule;
use crate::server::{Body, Shared, json_response};
use crate::workload::WorkloadSettings;

/// Where the control endpoint's paths begin.
pub const PREFIX: &str = "/kulta-apisim/";

/// The most log lines one answer carries unless `limit` says fewer.
const MAX_LOG_LINES: usize = 100_000;

/// Answer one control request; `rest` is the path after [`PREFIX`].
pub fn handle(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &BTreeMap<String, String>,
    body: &Bytes,
) -> Response<Body> {
    let answer = match (method, rest.trim_end_matches('/')) {
        (&Method::GET, "requests") => counts(shared),
        (&Method::GET, "requests/log") => log(shared, query),
        (&Method::DELETE, "requests") => with_lock(&shared.requests, |requests| {
            requests.clear();
            json!({"cleared": true})
        }),
        (&Method::GET, "faults") => rules(shared),
        (&Method::POST, "faults") => add_rule(shared, body),
        (&Method::DELETE, "faults") => with_lock(&shared.faults, |faults| {
            faults.clear();
            json!({"cleared": true})
        }),
        (&Method::POST, "cut-watches") => {
            shared.cuts.send_modify(|generation| *generation += 1);
            Ok(json_response(
                StatusCode::OK,
                &json!({"cut": *shared.cuts.borrow()}),
            ))
        }
        (&Method::GET, "workload") => {
            with_lock(&shared.store, |store| settings(&store.workload.settings()))
        }
        (&Method::PATCH | &Method::PUT | &Method::POST, "workload") => {
            change_workload(shared, body)
        }
        (_, "requests" | "requests/log" | "faults" | "cut-watches" | "workload") => Err(problem(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {PREFIX}{rest}"),
        )),
        _ => Err(problem(
            StatusCode::NOT_FOUND,
            format!(
                "{PREFIX}{rest} is not a control path; see requests, requests/log, faults, cut-watches, workload"
            ),
        )),
    };
    answer.unwrap_or_else(|problem| json_response(problem.code, &json!({"error": problem.message})))
}

/// A control request that cannot be answered: its status code and a sentence saying why,
/// answered as `{"error": sentence}`.
#[derive(thiserror::Error, Debug)]
#[error("{message}")]
pub struct Problem {
    code: StatusCode,
    message: String,
}

type Answer = Result<Response<Body>, Problem>;

fn problem(code: StatusCode, message: String) -> Problem {
    Problem { code, message }
}

fn with_lock<T>(mutex: &std::sync::Mutex<T>, run: impl FnOnce(&mut T) -> Value) -> Answer {
    let mut guard = mutex.lock().map_err(|_| {
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the simulator's state is poisoned by an earlier panic".into(),
        )
    })?;
    Ok(json_response(StatusCode::OK, &run(&mut guard)))
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn counts(shared: &Shared) -> Answer {
    with_lock(&shared.requests, |requests| to_json(&requests.counts()))
}

fn log(shared: &Shared, query: &BTreeMap<String, String>) -> Answer {
    let number = |key: &str, default: u64| -> Result<u64, Problem> {
        match query.get(key) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                problem(
                    StatusCode::BAD_REQUEST,
                    format!("{key}={text:?} is not a whole number"),
                )
            }),
        }
    };
    let since = number("since", 0)?;
    let limit = usize::try_from(number("limit", MAX_LOG_LINES as u64)?)
        .unwrap_or(MAX_LOG_LINES)
        .min(MAX_LOG_LINES);
    let requests = shared.requests.lock().map_err(|_| {
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request log is poisoned by an earlier panic".into(),
        )
    })?;
    let mut text = String::new();
    for request in requests.log(since, limit) {
        if let Ok(line) = serde_json::to_string(request) {
            let _ = writeln!(text, "{line}");
        }
    }
    drop(requests);
    let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/jsonl"),
    );
    Ok(response)
}

fn rules(shared: &Shared) -> Answer {
    with_lock(&shared.faults, |faults| to_json(&faults.rules()))
}

/// A rule from JSON (`{"verb": "patch", "fault": {"fail": 500}}`) or the `--fault` form.
fn add_rule(shared: &Shared, body: &Bytes) -> Answer {
    let text = std::str::from_utf8(body)
        .map_err(|_| problem(StatusCode::BAD_REQUEST, "the rule is not UTF-8 text".into()))?
        .trim();
    let rule: FaultRule = if text.starts_with('{') {
        serde_json::from_str(text).map_err(|error| {
            problem(
                StatusCode::BAD_REQUEST,
                format!("the rule is not a fault rule in JSON: {error}"),
            )
        })?
    } else {
        text.parse().map_err(|error: crate::faults::RuleError| {
            problem(StatusCode::BAD_REQUEST, error.to_string())
        })?
    };
    let shown = to_json(&rule);
    with_lock(&shared.faults, |faults| {
        faults.add(rule);
        shown
    })
    .map(|mut response| {
        *response.status_mut() = StatusCode::CREATED;
        response
    })
}

fn settings(settings: &WorkloadSettings) -> Value {
    to_json(settings)
}

fn change_workload(shared: &Shared, body: &Bytes) -> Answer {
    let change: WorkloadSettings = serde_json::from_slice(body).map_err(|error| {
        problem(
            StatusCode::BAD_REQUEST,
            format!(
                "the body is not workload settings such as {{\"readyAfter\": \"1s\", \"images\": {{\"web:bad\": \"neverReady\"}}}}: {error}"
            ),
        )
    })?;
    with_lock(&shared.store, |store| {
        store.workload.change(change);
        settings(&store.workload.settings())
    })
}
