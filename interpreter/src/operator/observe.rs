//! Gathering [`kulta::Observations`]: the only place besides the lease loop that reads the
//! clock. Nothing here decides anything; a Service or route that does not exist is simply
//! absent, and `step` makes of it what it will.

use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use gateway_api::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::{Api, ResourceExt};
use kulta::{
    ControlRequest, Observations, ObservedReplicaSet, REQUEST_ANNOTATION, Rollout, RolloutRef,
    validate,
};

use super::context::Context;
use super::error::{OperatorError, kube_cause};
use super::system::{deployment, httproute, replicaset, service};
use super::telemetry::ReadFrom;

/// Everything `step` needs to know about one rollout now.
pub async fn gather(ctx: &Context, rollout: &Rollout) -> Result<Observations, OperatorError> {
    let namespace = rollout
        .namespace()
        .ok_or(OperatorError::Missing("metadata.namespace"))?;
    let name = rollout.name_any();
    let uid = rollout
        .uid()
        .ok_or(OperatorError::Missing("metadata.uid"))?;
    let mut request_error = None;
    let request = rollout
        .annotations()
        .get(REQUEST_ANNOTATION)
        .and_then(|text| match ControlRequest::from_str(&shorten(text, 200)) {
            Ok(request) => Some(request),
            Err(error) => {
                let error = format!("annotation {REQUEST_ANNOTATION}: {error}");
                tracing::warn!(%namespace, rollout = %name, %error, "ignoring a malformed request annotation");
                request_error = Some(error);
                None
            }
        });
    let replica_sets = replica_sets(ctx, rollout, &namespace, &name, &uid).await?;
    let workload = deployment::read(ctx, rollout, &namespace).await?;
    // A Rollout that owns nothing yet looks for what it could take over.
    let orphans = if replica_sets.is_empty() {
        let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
        replicaset::orphans(&api, rollout).await?
    } else {
        Vec::new()
    };
    let mut services = Vec::new();
    let mut http_route = None;
    if let Ok(plan) = validate(&rollout.spec) {
        for service in plan.service_names() {
            let seen = self::service(ctx, &namespace, &name, service).await?;
            services.extend(seen.observed(service));
        }
        if let Some(routing) = plan.routing() {
            let route_namespace = routing.namespace.unwrap_or(&namespace);
            let api: Api<HttpRoute> = Api::namespaced(ctx.client.clone(), route_namespace);
            http_route = httproute::read(
                &api,
                routing.route,
                routing.stable_service,
                routing.canary_service,
            )
            .await?;
        }
    }
    let (metric_results, mut effect_errors) = ctx.take_pending(&namespace, &name);
    let cdevents_delivered = ctx
        .sink
        .as_ref()
        .map(|sink| sink.settled(&namespace, &name))
        .unwrap_or_default();
    if let Some(sink) = &ctx.sink
        && let Some(failure) = sink.failure()
    {
        effect_errors.push(kulta::EffectError {
            kind: kulta::EffectKind::CdEvent,
            target: format!("CDEvents sink {}", sink.url()),
            cause: failure.cause,
            message: failure.message,
        });
    }
    Ok(Observations {
        request_error,
        now: Utc::now(),
        rollout: RolloutRef {
            name,
            namespace,
            uid,
            generation: rollout.metadata.generation.unwrap_or(0),
        },
        request,
        replica_sets,
        orphans,
        workload,
        services,
        http_route,
        metric_results,
        effect_errors,
        cdevents_environment: ctx.settings.cdevents_environment.clone(),
        cdevents_sink: ctx.sink.is_some(),
        cdevents_delivered,
    })
}

/// How long a reconcile waits for the index to show its own last writes before it lists.
const INDEX_PATIENCE: Duration = Duration::from_millis(500);

/// The rollout's ReplicaSets: from the index when it shows this rollout's last writes, else
/// listed from the API.
async fn replica_sets(
    ctx: &Context,
    rollout: &Rollout,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<Vec<ObservedReplicaSet>, OperatorError> {
    let expected = ctx.expected_writes(namespace, name);
    if let Some(index) = ctx.index_for(namespace)
        && let Some(sets) = index.owned(uid, &expected, INDEX_PATIENCE).await
    {
        ctx.writes_seen(namespace, name);
        ctx.telemetry.replica_set_read(ReadFrom::Index);
        return Ok(sets);
    }
    tracing::debug!(%namespace, rollout = %name, ?expected, "the index has not caught up; listing");
    let selector = kulta::validate::selector_string(&rollout.spec.selector);
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), namespace);
    let sets = replicaset::owned(&api, &selector, uid).await?;
    ctx.writes_listed(namespace, name, &sets);
    ctx.telemetry.replica_set_read(ReadFrom::Api);
    Ok(sets)
}

/// One Service: from the index when it shows what this controller last wrote there (or has
/// no expectation), else read from the API; the index must then show what the API showed.
async fn service(
    ctx: &Context,
    namespace: &str,
    rollout: &str,
    service: &str,
) -> Result<service::Seen, OperatorError> {
    let expected = ctx.expected_service(namespace, rollout, service);
    if let Some(index) = ctx.service_index_for(namespace)
        && let Some(seen) = index.seen(namespace, service, expected.as_ref())
    {
        if expected.is_some() {
            ctx.service_seen(namespace, rollout, service);
        }
        return Ok(seen);
    }
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), namespace);
    let seen = service::read(&api, service).await?;
    if expected.is_some() {
        ctx.expect_service(namespace, rollout, service, seen.clone());
    }
    Ok(seen)
}

/// Reads tried again at once on a transient failure: a read changes nothing, and one
/// failed read should not cost the whole reconcile its turn (the backoff after it is longer
/// than these retries). A refusal a person must fix is returned at once.
pub(crate) async fn read<T, F, Fut>(mut attempt: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut pause = READ_RETRY_PAUSE;
    for _ in 1..READ_ATTEMPTS {
        match attempt().await {
            Err(error) if kube_cause(&error).is_transient() => {
                tracing::debug!(%error, "read failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            done => return done,
        }
    }
    attempt().await
}

/// Attempts per read.
const READ_ATTEMPTS: u32 = 3;

/// The pause before the second attempt of a read; doubled before each further one.
const READ_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A value as it may be shown: at most `limit` characters, marked when cut.
fn shorten(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}
