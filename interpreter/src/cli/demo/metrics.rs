//! The demo's metrics: a Prometheus-compatible `/api/v1/query` endpoint on 127.0.0.1 that
//! answers every query with a scripted, simulated error rate for the revision the query names
//! (`revision="<hash>"`, as KULTA substitutes `{{revision}}`).
//!
//! A revision marked bad answers a rate that climbs with each query; any other answers a
//! steady low rate. Nothing here pretends to be real traffic: the demo says so when it starts.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The error rate of a healthy revision.
pub const GOOD_RATE: f64 = 0.01;
/// A bad revision's first answer.
pub const BAD_START: f64 = 0.04;
/// How much a bad revision's rate climbs per query.
pub const BAD_CLIMB: f64 = 0.05;

/// Which revisions are bad, and how often each was asked about.
#[derive(Default)]
struct Script {
    bad: BTreeSet<String>,
    asked: BTreeMap<String, u32>,
}

/// A running scripted endpoint. Dropping it stops the server.
pub struct ScriptedPrometheus {
    address: SocketAddr,
    script: Arc<Mutex<Script>>,
    _stop: watch::Sender<bool>,
}

impl ScriptedPrometheus {
    /// Serve on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?;
        let script = Arc::new(Mutex::new(Script::default()));
        let (stop, mut stopped) = watch::channel(false);
        let served = Arc::clone(&script);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let script = Arc::clone(&served);
                        tokio::spawn(async move {
                            let service = service_fn(move |request| {
                                answer(Arc::clone(&script), request)
                            });
                            if let Err(error) = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                            {
                                tracing::debug!(%error, "demo metrics connection ended");
                            }
                        });
                    }
                }
            }
        });
        Ok(ScriptedPrometheus {
            address,
            script,
            _stop: stop,
        })
    }

    /// The base URL, as a Rollout's `prometheus.address`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// From now on, `revision`'s error rate climbs.
    pub fn mark_bad(&self, revision: &str) {
        if let Ok(mut script) = self.script.lock() {
            script.bad.insert(revision.to_string());
        }
    }
}

/// The value answered for the `n`th query (from 1) about a revision.
pub fn rate(bad: bool, n: u32) -> f64 {
    if bad {
        BAD_START + BAD_CLIMB * f64::from(n.saturating_sub(1))
    } else {
        GOOD_RATE
    }
}

/// The revision a query names: the value of its `revision="…"` matcher.
pub fn revision_of(query: &str) -> Option<&str> {
    let start = query.find("revision=\"")? + "revision=\"".len();
    let rest = &query[start..];
    Some(&rest[..rest.find('"')?])
}

async fn answer(
    script: Arc<Mutex<Script>>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (head, body) = request.into_parts();
    if head.uri.path() != "/api/v1/query" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            r#"{"status":"error","errorType":"not_found","error":"only /api/v1/query is simulated"}"#.into(),
        ));
    }
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let from_url = head.uri.query().unwrap_or_default().as_bytes().to_vec();
    let query = [from_url.as_slice(), body.as_ref()]
        .into_iter()
        .flat_map(form_urlencoded::parse)
        .find(|(key, _)| key == "query")
        .map(|(_, value)| value.into_owned());
    let Some(query) = query else {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            r#"{"status":"error","errorType":"bad_data","error":"no query"}"#.into(),
        ));
    };
    let revision = revision_of(&query).unwrap_or_default().to_string();
    let value = match script.lock() {
        Ok(mut script) => {
            let bad = script.bad.contains(&revision);
            let asked = script.asked.entry(revision.clone()).or_default();
            *asked += 1;
            rate(bad, *asked)
        }
        Err(_) => GOOD_RATE,
    };
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let answer = serde_json::json!({
        "status": "success",
        "data": {"resultType": "vector", "result": [
            {"metric": {"revision": revision, "simulated": "true"}, "value": [now, format!("{value}")]}
        ]}
    });
    Ok(reply(StatusCode::OK, answer.to_string()))
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_is_read_from_the_query() {
        let query =
            r#"sum(rate(http_requests_total{namespace="demo",revision="5d8f9c",code=~"5.."}[1m]))"#;
        assert_eq!(revision_of(query), Some("5d8f9c"));
        assert_eq!(revision_of("up"), None);
    }

    #[test]
    fn a_bad_revision_climbs_and_a_good_one_stays_low() {
        assert_eq!(rate(false, 7), GOOD_RATE);
        assert!(rate(true, 1) < rate(true, 2));
        assert!(rate(true, 2) > 0.05);
    }
}
