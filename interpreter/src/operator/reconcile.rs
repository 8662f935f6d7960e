//! One reconcile: observe → `step` → record → execute → write the status (only when it
//! changed) → requeue at the time `step` asked for. No decision is made here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use kulta::{Rollout, RolloutStatus};

use super::cached::CachedRollout;
use super::context::{Context, backoff};
use super::error::{OperatorError, is_conflict};
use super::execute;
use super::observe;
use super::telemetry::{ReadFrom, RolloutLabels};

/// How often a rollout that waits on the cluster is looked at, as a safety net for watches.
const WAITING_RECHECK: Duration = Duration::from_secs(5);

/// How soon to decide again after a status write conflicted.
const AGAIN_SOON: Duration = Duration::from_millis(10);

/// Reconcile one Rollout on a task of its own: kube-runtime drives every reconcile future
/// from one task, so without this all reconciles (and the watches feeding the index) would
/// share one core. The task lives no longer than the controller that waits for it: an
/// operator that is killed (its controller task aborted) leaves no reconcile running on.
pub async fn reconcile(
    object: Arc<CachedRollout>,
    ctx: Arc<Context>,
) -> Result<Action, OperatorError> {
    let mut task = AbortOnDrop(tokio::spawn(reconcile_here(object, ctx)));
    (&mut task.0)
        .await
        .map_err(|error| OperatorError::Task(error.to_string()))?
}

/// A spawned task aborted when whoever waits for it stops waiting.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn reconcile_here(
    object: Arc<CachedRollout>,
    ctx: Arc<Context>,
) -> Result<Action, OperatorError> {
    if !ctx.leader.acting() {
        return Ok(Action::await_change());
    }
    // Each namespace's controller runs up to `--workers` reconciles; together they share the
    // same number of slots.
    let _slot = ctx
        .workers
        .acquire()
        .await
        .map_err(|error| OperatorError::Task(error.to_string()))?;
    let started = Instant::now();
    let namespace = object
        .namespace()
        .ok_or(OperatorError::Missing("metadata.namespace"))?;
    let name = object.name_any();
    let labels = RolloutLabels {
        namespace: namespace.clone(),
        rollout: name.clone(),
    };
    // The cache may lag our own last status write, and deciding from a stale status could
    // undo a step: the cached Rollout is used only when it is the very version this
    // controller last read or wrote in this term of leadership (a resync at rest reads
    // nothing); otherwise it is read afresh.
    let api: Api<Rollout> = Api::namespaced(ctx.client.clone(), &namespace);
    let cached = ctx
        .is_newest(&namespace, &name, object.resource_version().as_deref())
        .then(|| object.rollout())
        .flatten();
    let rollout = if let Some(rollout) = cached {
        ctx.telemetry.rollout_read(ReadFrom::Index);
        Arc::new(rollout)
    } else {
        let Some(rollout) = super::observe::read(|| api.get_opt(&name)).await? else {
            ctx.forget_rollout(&namespace, &name);
            return Ok(Action::await_change());
        };
        ctx.telemetry.rollout_read(ReadFrom::Api);
        ctx.newest_is(&namespace, &name, rollout.resource_version().as_deref());
        Arc::new(rollout)
    };
    if rollout.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let observations = observe::gather(&ctx, &rollout).await?;
    let before = rollout.status.clone().unwrap_or_default();
    let (after, effects) = kulta::step(&rollout.spec, &before, &observations);
    if let Some(recorder) = &ctx.recorder
        && let Err(error) = recorder.record(&rollout.spec, &before, &observations, &after, &effects)
    {
        tracing::warn!(%namespace, rollout = %name, %error, "could not record the trace line");
    }
    let executed = execute::all(&ctx, &rollout, &effects).await;
    let (mut failures, transient) =
        ctx.leave_pending(&namespace, &name, Vec::new(), executed.errors);
    if executed.stopped {
        tracing::info!(%namespace, rollout = %name, "lost the lease mid-reconcile; stopped writing");
        return Ok(Action::await_change());
    }
    if after != before {
        if !ctx.leader.acting() {
            tracing::info!(%namespace, rollout = %name, "lost the lease before the status write; not writing");
            return Ok(Action::await_change());
        }
        let written = write_status(&api, &rollout, &after).await;
        // A write that failed may still have been stored (its answer lost): the next
        // reconcile reads the Rollout afresh.
        let version = written.as_ref().ok().and_then(|w| w.resource_version());
        ctx.newest_is(&namespace, &name, version.as_deref());
        match written {
            Ok(_) => {}
            Err(OperatorError::Kube(error)) if is_conflict(&error) => {
                // Someone wrote the Rollout since we read it: decide again from what they wrote.
                tracing::debug!(%namespace, rollout = %name, "status write conflicted; reconciling again");
                return Ok(Action::requeue(AGAIN_SOON));
            }
            Err(error) => return Err(error),
        }
        // Forward: retry what failed soon, without the backoff of the failures before.
        ctx.made_progress(&namespace, &name);
        failures = failures.min(1);
    }
    // The transition is stored: what it owes the sink goes out (again, after a restart).
    super::system::cdevents::offer(&ctx, &namespace, &name, &after.cdevents_outbox);
    ctx.telemetry.rollout(&labels, &before, &after);
    ctx.telemetry.reconciled(started.elapsed().as_secs_f64());
    tracing::debug!(
        %namespace,
        rollout = %name,
        phase = ?after.phase,
        weight = after.current_weight,
        effects = effects.len(),
        "reconciled"
    );
    // The resync (operator/resync.rs) comes back to every rollout; a timer is kept only for
    // what `step` asked for, a retry and a rollout waiting on the cluster.
    let mut requeue = executed.requeue;
    if failures > 0 {
        requeue = sooner(requeue, backoff(failures, transient));
    }
    // A rollout waiting on the cluster is looked at again soon even if no watch event comes
    // (watches break; a blip at a step boundary must not cost minutes).
    if after
        .waiting
        .as_ref()
        .is_some_and(|w| w.resolved_at.is_none())
    {
        requeue = sooner(requeue, WAITING_RECHECK);
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// The earlier of a wake-up, if any, and `after`.
fn sooner(requeue: Option<Duration>, after: Duration) -> Option<Duration> {
    Some(requeue.map_or(after, |r| r.min(after)))
}

/// Write the whole status with the `resourceVersion` it was decided from; the Rollout as
/// stored after the write.
async fn write_status(
    api: &Api<Rollout>,
    rollout: &Rollout,
    status: &RolloutStatus,
) -> Result<Rollout, OperatorError> {
    let mut updated = rollout.clone();
    updated.status = Some(status.clone());
    Ok(api
        .replace_status(&rollout.name_any(), &execute::post_params(), &updated)
        .await?)
}

/// A reconcile that could not observe or write: count it, say so on the Rollout, and retry
/// with exponential backoff.
pub fn error_policy(
    object: Arc<CachedRollout>,
    error: &OperatorError,
    ctx: Arc<Context>,
) -> Action {
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    ctx.telemetry.reconcile_failed(error.metric_label());
    let failures = ctx.failed_reconcile(&namespace, &name);
    let transient = match error {
        OperatorError::Kube(error) => super::error::kube_cause(error).is_transient(),
        _ => false,
    };
    let retry = backoff(failures, transient);
    tracing::warn!(%namespace, rollout = %name, %error, failures, retry_in = ?retry, "reconcile failed");
    if ctx.leader.acting() {
        let reason = reason_of(error);
        let note = format!("reconcile failed, retrying in {retry:?}: {error}");
        let events = ctx.events.clone();
        let reference = object.object_ref(&());
        tokio::spawn(async move {
            let kind = super::system::events::EventKind::Warning;
            if let Err(error) = events.publish(&reference, kind, reason, &note).await {
                tracing::debug!(%error, "could not record the failure Event");
            }
        });
    }
    Action::requeue(retry)
}

fn reason_of(error: &OperatorError) -> &'static str {
    match error {
        OperatorError::Kube(error) => super::error::kube_cause(error).reason(),
        _ => "ReconcileFailed",
    }
}
