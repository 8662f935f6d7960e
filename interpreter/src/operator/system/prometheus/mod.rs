//! Prometheus: one instant query through `/api/v1/query`. Whatever happens, an answer goes
//! back to `step` as a [`MetricValue`]; a query that could not be made is also reported as an
//! effect error, so the condition says what is wrong before the analysis gives up.

pub mod answer;

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kulta::{EffectError, EffectKind, ErrorCause, MetricQuery, MetricResult, MetricValue};

use crate::operator::telemetry::Outcome;

use crate::operator::context::{Context, TokenSource};
use crate::operator::error::describe;

use crate::operator::error::Failure;

/// Run the query in its own task, under its own timeout, and deliver the answer to the
/// rollout's next `step`.
pub fn spawn(ctx: &std::sync::Arc<Context>, rollout: &kulta::Rollout, query: MetricQuery) {
    use kube::ResourceExt;
    let ctx = std::sync::Arc::clone(ctx);
    let namespace = rollout.namespace().unwrap_or_default();
    let name = rollout.name_any();
    tokio::spawn(async move {
        let timeout = ctx.settings.effect_timeout;
        let (result, failure) = match tokio::time::timeout(timeout, query_once(&ctx, &query)).await
        {
            Ok(answered) => answered,
            Err(_) => {
                let message = format!("Prometheus gave no answer within {timeout:?}");
                let result = MetricResult {
                    key: query.key.clone(),
                    value: MetricValue::Error(message.clone()),
                    time: Utc::now(),
                };
                let failure = Failure {
                    cause: ErrorCause::Timeout,
                    message,
                };
                (result, Some(failure))
            }
        };
        let outcome = if failure.is_some() {
            Outcome::Error
        } else {
            Outcome::Ok
        };
        ctx.telemetry.effect(EffectKind::Metric, outcome);
        let error = failure.map(|failure| EffectError {
            kind: EffectKind::Metric,
            target: format!("Prometheus {}", query.address),
            cause: failure.cause,
            message: failure.message,
        });
        ctx.deliver(&namespace, &name, result, error);
    });
}

/// Run the query; the result is always returned, the failure only when the query could not
/// be made or answered.
async fn query_once(ctx: &Context, query: &MetricQuery) -> (MetricResult, Option<Failure>) {
    let (value, failure) = match ask(ctx, query).await {
        Ok(value) => (value, None),
        Err(failure) => (MetricValue::Error(failure.message.clone()), Some(failure)),
    };
    let result = MetricResult {
        key: query.key.clone(),
        value,
        time: Utc::now(),
    };
    (result, failure)
}

async fn ask(ctx: &Context, query: &MetricQuery) -> Result<MetricValue, Failure> {
    let url = format!("{}/api/v1/query", query.address.trim_end_matches('/'));
    let mut request = ctx
        .http
        .post(&url)
        .form(&[("query", query.query.as_str())])
        .timeout(ctx.settings.effect_timeout);
    if let Some(source) = &ctx.settings.prometheus_token {
        request = request.bearer_auth(token(ctx, source).await?);
    }
    let response = request
        .send()
        .await
        .map_err(|error| Failure::unanswered(&error))?;
    let status = response.status();
    let Some(body) = read_capped(response).await? else {
        // Too big to be one instant sample: inconclusive, and said why.
        return Ok(MetricValue::Error(format!(
            "the answer is larger than {} KiB, more than an instant query of one series \
             returns; it was not read",
            MAX_ANSWER_BYTES / 1024
        )));
    };
    // Prometheus explains a bad query (400, 422) in the same JSON shape as an answer.
    if status.is_success() || status.as_u16() == 400 || status.as_u16() == 422 {
        return Ok(answer::read_answer(&body));
    }
    Err(Failure {
        cause: match status.as_u16() {
            401 | 403 => ErrorCause::Forbidden,
            404 => ErrorCause::NotFound,
            _ => ErrorCause::Server,
        },
        message: format!("Prometheus answered {status}"),
    })
}

/// The most of an answer that is read: one sample is a few hundred bytes, so this leaves room
/// for long label sets while a hostile or mistaken answer cannot exhaust memory.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The body, or `None` when it is larger than [`MAX_ANSWER_BYTES`] (read no further).
async fn read_capped(mut response: reqwest::Response) -> Result<Option<bytes::Bytes>, Failure> {
    let too_big = |length: u64| usize::try_from(length).map_or(true, |l| l > MAX_ANSWER_BYTES);
    if response.content_length().is_some_and(too_big) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| Failure {
        cause: ErrorCause::Server,
        message: describe(&error),
    })? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.into()))
}

async fn token(ctx: &Context, source: &TokenSource) -> Result<String, Failure> {
    let text = match source {
        TokenSource::File(path) => std::fs::read_to_string(path).map_err(|error| Failure {
            cause: ErrorCause::NotFound,
            message: format!("reading the Prometheus token {}: {error}", path.display()),
        })?,
        TokenSource::Secret {
            namespace,
            name,
            key,
        } => {
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
            let secret = api.get(name).await?;
            let bytes = secret
                .data
                .and_then(|mut data| data.remove(key))
                .ok_or_else(|| Failure {
                    cause: ErrorCause::NotFound,
                    message: format!("Secret {namespace}/{name} has no key {key}"),
                })?;
            String::from_utf8(bytes.0).map_err(|_| Failure {
                cause: ErrorCause::Invalid,
                message: format!("Secret {namespace}/{name} key {key} is not UTF-8"),
            })?
        }
    };
    Ok(text.trim().to_string())
}
