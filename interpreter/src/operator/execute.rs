//! Carrying out `step`'s effects, in order, each under a timeout and counted by kind and
//! outcome. The cluster writes are ordered (`Effect::is_ordered`): the first one that fails
//! stops the writes after it, because `step` made each safe only on the ones before (a route
//! write after the Service it names was pointed, a scale-down after traffic moved); the failure
//! is handed back to the next `step` as an effect error and the next reconcile decides again
//! from what it observes. Queries, CDEvents and Events are independent and always run.
//! Leadership is checked before every effect: a controller that lost its lease stops at once.

use std::time::Duration;

use gateway_api::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::{Api, ResourceExt};
use std::sync::Arc;

use kulta::{Effect, EffectError, ErrorCause, Rollout};

use super::cache::Expect;
use super::context::Context;
use super::error::Failure;
use super::system::{cdevents, deployment, events, httproute, prometheus, replicaset, service};
use super::telemetry::Outcome;

/// The field manager of every write KULTA makes.
pub const FIELD_MANAGER: &str = "kulta";

/// Create and replace options naming [`FIELD_MANAGER`]: every write says it is KULTA's.
pub fn post_params() -> kube::api::PostParams {
    kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PostParams::default()
    }
}

/// Patch options naming [`FIELD_MANAGER`].
pub fn patch_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PatchParams::default()
    }
}

/// What executing one `step`'s effects produced.
#[derive(Debug, Default)]
pub struct Executed {
    /// When `step` wants to run again.
    pub requeue: Option<Duration>,
    /// Failed effects for the next `step`.
    pub errors: Vec<EffectError>,
    /// Leadership was lost part-way: nothing more may be written.
    pub stopped: bool,
}

/// Execute `effects` in order for `rollout`.
pub async fn all(ctx: &Arc<Context>, rollout: &Rollout, effects: &[Effect]) -> Executed {
    let mut executed = Executed::default();
    let mut ordered_failed = false;
    for effect in effects {
        if let Effect::RequeueAfter { after, .. } = effect {
            executed.requeue = Some(executed.requeue.map_or(*after, |r| r.min(*after)));
            continue;
        }
        if !ctx.leader.acting() {
            ctx.telemetry.effect(effect.kind(), Outcome::Skipped);
            executed.stopped = true;
            continue;
        }
        if let Effect::QueryMetric(query) = effect {
            // Off the critical path: answered beside this reconcile, never delaying an abort,
            // a rollback or another rollout; the answer wakes the rollout.
            prometheus::spawn(ctx, rollout, query.clone());
            continue;
        }
        if ordered_failed && effect.is_ordered() {
            tracing::debug!(
                rollout = %rollout.name_any(),
                target = %effect.target(),
                "skipped: an earlier write of this batch failed"
            );
            ctx.telemetry.effect(effect.kind(), Outcome::Skipped);
            continue;
        }
        let outcome = tokio::time::timeout(ctx.settings.effect_timeout, one(ctx, rollout, effect))
            .await
            .unwrap_or_else(|_| {
                Err(Failure {
                    cause: ErrorCause::Timeout,
                    message: format!("no answer within {:?}", ctx.settings.effect_timeout),
                })
            });
        match outcome {
            Ok(()) => {
                ctx.telemetry.effect(effect.kind(), Outcome::Ok);
                remember_write(ctx, rollout, effect);
            }
            Err(failure) => {
                ordered_failed |= effect.is_ordered();
                ctx.telemetry.effect(effect.kind(), Outcome::Error);
                tracing::warn!(
                    rollout = %rollout.name_any(),
                    target = %effect.target(),
                    error = %failure.message,
                    "effect failed"
                );
                executed.errors.push(EffectError {
                    kind: effect.kind(),
                    target: effect.target(),
                    cause: failure.cause,
                    message: failure.message,
                });
            }
        }
    }
    executed
}

/// Remember what a successful ReplicaSet or Service write must look like in the next
/// observation.
fn remember_write(ctx: &Context, rollout: &Rollout, effect: &Effect) {
    let namespace = rollout.namespace().unwrap_or_default();
    let name = rollout.name_any();
    if let Effect::PointService { service, revision } = effect {
        let seen = service::Seen::Selects(Some(revision.clone()));
        ctx.expect_service(&namespace, &name, service, seen);
        return;
    }
    let (replica_set, write) = match effect {
        Effect::CreateReplicaSet { name, replicas, .. }
        | Effect::ScaleReplicaSet { name, replicas } => (name, Expect::Replicas(*replicas)),
        Effect::DeleteReplicaSet { name } => (name, Expect::Deleted),
        Effect::AdoptReplicaSet { name, .. } => (name, Expect::Present),
        _ => return,
    };
    ctx.expect_write(&namespace, &name, replica_set, write);
}

async fn one(ctx: &Context, rollout: &Rollout, effect: &Effect) -> Result<(), Failure> {
    let namespace = rollout.namespace().unwrap_or_default();
    let replica_sets = || -> Api<ReplicaSet> { Api::namespaced(ctx.client.clone(), &namespace) };
    match effect {
        Effect::CreateReplicaSet {
            name,
            revision,
            replicas,
            template,
        } => {
            replicaset::create(
                &replica_sets(),
                rollout,
                name,
                revision,
                *replicas,
                template,
            )
            .await
        }
        Effect::ScaleReplicaSet { name, replicas } => {
            Ok(replicaset::scale(&replica_sets(), name, *replicas).await?)
        }
        Effect::DeleteReplicaSet { name } => Ok(replicaset::delete(&replica_sets(), name).await?),
        Effect::AdoptReplicaSet {
            name,
            revision,
            digest,
        } => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
            replicaset::adopt(&replica_sets(), &pods, rollout, name, revision, digest).await
        }
        Effect::ScaleDeployment { name, replicas } => {
            let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
            Ok(deployment::scale(&api, name, *replicas).await?)
        }
        Effect::PointService { service, revision } => {
            let api: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
            Ok(service::point(&api, service, revision).await?)
        }
        Effect::SetRouteWeights {
            route,
            stable,
            canary,
        } => {
            let api: Api<HttpRoute> = Api::namespaced(ctx.client.clone(), &route.namespace);
            httproute::set_weights(&api, &route.name, stable, canary).await
        }
        Effect::SetHeaderRoute {
            route,
            rule,
            stable_service,
        } => {
            let api: Api<HttpRoute> = Api::namespaced(ctx.client.clone(), &route.namespace);
            httproute::set_header_rule(&api, &route.name, rule.as_ref(), stable_service).await
        }
        // Spawned by `all`, never awaited here.
        Effect::QueryMetric(_) => Ok(()),
        Effect::EmitCdEvent(event) => cdevents::emit(ctx, event),
        Effect::RecordEvent(event) => events::record(ctx, rollout, event).await,
        Effect::RequeueAfter { .. } => Ok(()),
    }
}
