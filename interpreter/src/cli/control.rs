//! The commands for people (`kulta` or `kubectl kulta`): look at rollouts, and record control
//! requests on them for `step` to handle exactly once.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use kulta::{REQUEST_ANNOTATION, RequestAction, Rollout, RolloutStatus};
use serde_json::json;

/// Why a control command failed.
#[derive(thiserror::Error, Debug)]
pub enum ControlError {
    /// No cluster configuration.
    #[error("kubernetes configuration: {0}")]
    Config(String),
    /// The API refused or failed.
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// Output could not be written.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// A watch failed.
    #[error("watch: {0}")]
    Watch(#[from] watcher::Error),
}

/// A client from the kubeconfig or the cluster.
pub async fn client() -> Result<Client, ControlError> {
    Client::try_default()
        .await
        .map_err(|error| ControlError::Config(error.to_string()))
}

/// A token unique enough for one person's requests: the clock's nanoseconds and the process.
fn token() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}-{:x}", std::process::id())
}

/// Record `action` on the Rollout; returns the annotation written.
pub async fn request(
    client: Client,
    namespace: &str,
    name: &str,
    action: RequestAction,
) -> Result<String, ControlError> {
    let api: Api<Rollout> = Api::namespaced(client, namespace);
    let value = format!("{action}:{}", token());
    let patch = json!({"metadata": {"annotations": {REQUEST_ANNOTATION: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(value)
}

/// One line per rollout: name, phase, step, weight, revisions.
pub async fn get(
    client: Client,
    namespace: Option<&str>,
    out: &mut impl Write,
) -> Result<(), ControlError> {
    let api: Api<Rollout> = match namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    let rollouts = api.list(&ListParams::default()).await?;
    writeln!(
        out,
        "{:<16} {:<28} {:<12} {:>4} {:>6}  {:<12} {:<12}",
        "NAMESPACE", "NAME", "PHASE", "STEP", "WEIGHT", "STABLE", "CANARY"
    )?;
    for rollout in rollouts.items {
        let status = rollout.status.clone().unwrap_or_default();
        writeln!(
            out,
            "{:<16} {:<28} {:<12} {:>4} {:>6}  {:<12} {:<12}",
            rollout.namespace().unwrap_or_default(),
            rollout.name_any(),
            phase_text(&status),
            step_text(&status),
            status.current_weight,
            status.stable_revision.as_deref().unwrap_or("-"),
            status.canary_revision.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(())
}

/// A rollout's status; with `watch`, a line at every change until it completes or fails.
pub async fn status(
    client: Client,
    namespace: &str,
    name: &str,
    watch: bool,
    out: &mut impl Write,
) -> Result<(), ControlError> {
    let api: Api<Rollout> = Api::namespaced(client, namespace);
    let rollout = api.get(name).await?;
    describe(&rollout, out)?;
    if !watch {
        return Ok(());
    }
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut changes = std::pin::pin!(watcher(api, config).applied_objects());
    let mut last = rollout.status.clone();
    while let Some(rollout) = changes.next().await {
        let rollout = rollout?;
        if rollout.status == last {
            continue;
        }
        last = rollout.status.clone();
        let status = rollout.status.clone().unwrap_or_default();
        writeln!(
            out,
            "{} phase={} step={} weight={} {}",
            chrono::Utc::now().format("%H:%M:%S"),
            phase_text(&status),
            step_text(&status),
            status.current_weight,
            status.message.as_deref().unwrap_or(""),
        )?;
        out.flush()?;
        if status.phase.is_some_and(|phase| phase.is_terminal()) && status.canary_revision.is_none()
        {
            break;
        }
    }
    Ok(())
}

fn describe(rollout: &Rollout, out: &mut impl Write) -> Result<(), ControlError> {
    let status = rollout.status.clone().unwrap_or_default();
    writeln!(
        out,
        "Name:      {}/{}",
        rollout.namespace().unwrap_or_default(),
        rollout.name_any()
    )?;
    writeln!(out, "Phase:     {}", phase_text(&status))?;
    if let Some(step) = status.current_step_index {
        writeln!(out, "Step:      {step}")?;
    }
    writeln!(out, "Weight:    {}", status.current_weight)?;
    writeln!(
        out,
        "Stable:    {}",
        status.stable_revision.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "Canary:    {}",
        status.canary_revision.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "Replicas:  {} desired, {} ready",
        status.replicas, status.ready_replicas
    )?;
    if let Some(message) = &status.message {
        writeln!(out, "Message:   {message}")?;
    }
    writeln!(out, "Conditions:")?;
    for condition in &status.conditions {
        writeln!(
            out,
            "  {:?}={:?} {} {}",
            condition.type_, condition.status, condition.reason, condition.message
        )?;
    }
    Ok(())
}

fn phase_text(status: &RolloutStatus) -> &'static str {
    status.phase.map_or("-", |phase| phase.as_str())
}

fn step_text(status: &RolloutStatus) -> String {
    status
        .current_step_index
        .map_or_else(|| "-".to_string(), |step| step.to_string())
}
