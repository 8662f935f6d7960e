//! Waits a pipeline can rely on: `kulta status NAME --wait` and the `--wait` of requests.
//! What a state means for a waiting pipeline is decided by one function, [`verdict`].

use std::io::Write;
use std::time::Duration;

use kulta::spec::CanaryStep;
use kulta::{ControlRequest, Phase, REQUEST_ANNOTATION, Rollout};

use super::Outcome;
use super::cluster::{ControlError, Session, rollout_name};

/// How often a wait reads the rollout again.
const POLL: Duration = Duration::from_millis(250);

/// What a rollout's state means to someone waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The template's revision is stable.
    Completed,
    /// The revision was rolled back (failed analysis, abort, progress deadline); the reason.
    Failed(String),
    /// Nothing moves until a person promotes, resumes or aborts; why.
    NeedsPerson(String),
    /// The spec cannot be acted on until it is fixed; the field and the problem.
    InvalidSpec(String),
    /// Still moving (or the operator has not seen the latest spec or request yet).
    Pending,
}

/// Judge a rollout's state.
pub fn verdict(rollout: &Rollout) -> Verdict {
    let status = rollout.status.clone().unwrap_or_default();
    let generation = rollout.metadata.generation.unwrap_or_default();
    if status
        .observed_generation
        .is_none_or(|seen| seen < generation)
    {
        return Verdict::Pending;
    }
    if let Some(request) = pending_request(rollout)
        && status.last_request_token.as_deref() != Some(request.token.as_str())
    {
        return Verdict::Pending;
    }
    let explained = || explain(&status);
    if let Some(invalid) = status
        .condition(kulta::status::ConditionType::InvalidSpec)
        .filter(|c| c.status == kulta::status::ConditionStatus::True)
    {
        return Verdict::InvalidSpec(invalid.message.clone());
    }
    match status.phase {
        Some(Phase::Completed) => Verdict::Completed,
        Some(Phase::Failed) => Verdict::Failed(explained()),
        Some(Phase::Paused) => {
            if status.paused_by_user
                || status.analysis_inconclusive()
                || at_indefinite_pause(rollout)
            {
                Verdict::NeedsPerson(explained())
            } else {
                Verdict::Pending
            }
        }
        Some(Phase::Preview) => {
            let manual = rollout
                .spec
                .strategy
                .blue_green
                .as_ref()
                .is_some_and(|bg| !bg.auto_promotion_enabled);
            let ready = status
                .blue_green
                .as_ref()
                .is_some_and(|bg| bg.promotable_since.is_some() && !bg.promotion_requested);
            if manual && ready {
                Verdict::NeedsPerson(explained())
            } else {
                Verdict::Pending
            }
        }
        Some(Phase::Progressing | Phase::Initializing) | None => Verdict::Pending,
    }
}

/// The reason and what it means: a failed or paused rollout's condition message says which
/// metric, value and bound, or what waits; otherwise the latest transition's message.
pub fn explain(status: &kulta::RolloutStatus) -> String {
    use kulta::status::{ConditionStatus, ConditionType};
    let reason = super::view::reason(status);
    let condition = [ConditionType::Paused, ConditionType::Progressing]
        .into_iter()
        .filter_map(|type_| status.condition(type_))
        .find(|c| c.reason == reason && !c.message.is_empty())
        .filter(|c| c.type_ != ConditionType::Paused || c.status == ConditionStatus::True);
    let message = condition
        .map(|c| c.message.clone())
        .or_else(|| status.message.clone());
    match message {
        Some(message) if !reason.is_empty() => format!("{reason}: {message}"),
        Some(message) => message,
        None => reason,
    }
}

/// The request recorded on the rollout, when there is a readable one.
fn pending_request(rollout: &Rollout) -> Option<ControlRequest> {
    rollout
        .metadata
        .annotations
        .as_ref()?
        .get(REQUEST_ANNOTATION)?
        .parse()
        .ok()
}

fn at_indefinite_pause(rollout: &Rollout) -> bool {
    let status = rollout.status.as_ref();
    let index = status
        .and_then(|s| s.current_step_index)
        .and_then(|i| usize::try_from(i).ok());
    let steps = rollout.spec.strategy.canary.as_ref().map(|c| &c.steps);
    matches!(
        (index, steps),
        (Some(i), Some(steps)) if matches!(steps.get(i), Some(CanaryStep::Pause(p)) if p.duration.is_none())
    )
}

/// One line of state: phase, step, weights, message.
pub fn state_line(rollout: &Rollout) -> String {
    let status = rollout.status.clone().unwrap_or_default();
    let mut line = format!(
        "{} {}",
        rollout_name(
            &rollout.metadata.namespace.clone().unwrap_or_default(),
            &rollout.metadata.name.clone().unwrap_or_default()
        ),
        status.phase.map_or("NotYetReconciled", Phase::as_str)
    );
    let reason = super::view::reason(&status);
    if !reason.is_empty() {
        line.push_str(&format!(" ({reason})"));
    }
    if let Some(step) = status.current_step_index {
        let steps = rollout
            .spec
            .strategy
            .canary
            .as_ref()
            .map_or(0, |c| c.steps.len());
        line.push_str(&format!(" step {step}/{steps}"));
    }
    if rollout.spec.strategy.canary.is_some() {
        line.push_str(&format!(" weight {}%", status.current_weight));
        if let Some(observed) = status.observed_weight {
            line.push_str(&format!(" (observed {observed}%)"));
        }
    }
    if let Some(message) = &status.message {
        line.push_str(&format!(": {message}"));
    }
    line
}

/// `kulta status NAME [--watch | --wait]`: print the state at once; with `follow`, a line at
/// every change until the rollout finishes or needs a person (or `timeout` passes).
pub async fn status(
    session: &Session,
    namespace: &str,
    name: &str,
    follow: bool,
    timeout: Duration,
    out: &mut impl Write,
) -> Result<Outcome, ControlError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let rollout = read(session, namespace, name).await?;
    describe(&rollout, out)?;
    out.flush()?;
    if !follow {
        return Ok(Outcome::Ok);
    }
    let mut last = String::new();
    let mut first = Some(rollout);
    loop {
        let rollout = match first.take() {
            Some(rollout) => rollout,
            None => read(session, namespace, name).await?,
        };
        let line = state_line(&rollout);
        if line != last {
            writeln!(out, "{} {line}", chrono::Utc::now().format("%H:%M:%S"))?;
            out.flush()?;
            last = line;
        }
        // A `workloadRef` Rollout's template changes with its Deployment, not its generation:
        // the status must be about the Deployment's template before it means anything.
        let shipping = match rollout.spec.workload_ref {
            Some(_) => super::control::template_revision(session, namespace, &rollout).await,
            None => None,
        };
        let behind = shipping.is_some_and(|revision| {
            let status = rollout.status.as_ref();
            let about = |of: Option<&String>| of == Some(&revision);
            !status.is_some_and(|s| {
                about(s.stable_revision.as_ref()) || about(s.canary_revision.as_ref())
            })
        });
        let judged = if behind {
            Verdict::Pending
        } else {
            verdict(&rollout)
        };
        match judged {
            Verdict::Completed => {
                writeln!(out, "{} completed", rollout_name(namespace, name))?;
                return Ok(Outcome::Ok);
            }
            Verdict::Failed(why) => {
                writeln!(out, "{} rolled back: {why}", rollout_name(namespace, name))?;
                return Ok(Outcome::Failed);
            }
            Verdict::NeedsPerson(why) => {
                writeln!(
                    out,
                    "{} needs a person (promote, resume or abort): {why}",
                    rollout_name(namespace, name)
                )?;
                return Ok(Outcome::NeedsPerson);
            }
            Verdict::InvalidSpec(why) => {
                writeln!(
                    out,
                    "{} cannot proceed: its spec is invalid: {why}",
                    rollout_name(namespace, name)
                )?;
                return Ok(Outcome::BadInput);
            }
            Verdict::Pending => {}
        }
        if tokio::time::Instant::now() + POLL > deadline {
            writeln!(
                out,
                "{} is still in progress after {}",
                rollout_name(namespace, name),
                humantime::format_duration(timeout)
            )?;
            return Ok(Outcome::TimedOut);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Read a rollout, explaining a failure.
pub async fn read(session: &Session, namespace: &str, name: &str) -> Result<Rollout, ControlError> {
    match session.rollouts(namespace).get(name).await {
        Ok(rollout) => Ok(rollout),
        Err(error) => Err(session
            .explain("get", rollout_name(namespace, name), error)
            .await),
    }
}

/// Wait until `step` handled the request with `token`; say what happened.
pub async fn request_handled(
    session: &Session,
    namespace: &str,
    name: &str,
    request: &ControlRequest,
    timeout: Duration,
    out: &mut impl Write,
) -> Result<Outcome, ControlError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let object = rollout_name(namespace, name);
    loop {
        let rollout = read(session, namespace, name).await?;
        let status = rollout.status.clone().unwrap_or_default();
        if status.last_request_token.as_deref() == Some(request.token.as_str()) {
            return Ok(match &status.last_request_ignored {
                Some(why) => {
                    writeln!(out, "{object}: {} was ignored: {why}", request.action)?;
                    Outcome::Failed
                }
                None => {
                    writeln!(out, "{object}: {} was carried out", request.action)?;
                    writeln!(out, "{}", state_line(&rollout))?;
                    Outcome::Ok
                }
            });
        }
        if let Some(other) = pending_request(&rollout)
            && other.token != request.token
        {
            writeln!(
                out,
                "{object}: {} was replaced by another request ({}) before it was handled",
                request.action, other
            )?;
            return Ok(Outcome::Failed);
        }
        if tokio::time::Instant::now() + POLL > deadline {
            writeln!(
                out,
                "{object}: {} was not handled within {}; is the operator running?",
                request.action,
                humantime::format_duration(timeout)
            )?;
            return Ok(Outcome::TimedOut);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The state as a block: name, phase, step, weights, revisions, replicas, conditions.
pub fn describe(rollout: &Rollout, out: &mut impl Write) -> Result<(), ControlError> {
    let status = rollout.status.clone().unwrap_or_default();
    writeln!(
        out,
        "Name:      {}/{}",
        rollout.metadata.namespace.clone().unwrap_or_default(),
        rollout.metadata.name.clone().unwrap_or_default()
    )?;
    writeln!(
        out,
        "Phase:     {}",
        status.phase.map_or("-", Phase::as_str)
    )?;
    let reason = super::view::reason(&status);
    if !reason.is_empty() {
        writeln!(out, "Reason:    {reason}")?;
    }
    if let Some(step) = status.current_step_index {
        writeln!(out, "Step:      {step}")?;
    }
    let observed = status
        .observed_weight
        .map_or_else(|| "-".to_string(), |w| w.to_string());
    writeln!(
        out,
        "Weight:    {} (observed {observed})",
        status.current_weight
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A canary rollout at generation 2 with this status, steps `[setWeight 50, pause {}]`,
    /// `[pause 1m]` at index 2.
    fn rollout(status: serde_json::Value, annotations: serde_json::Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop", "generation": 2,
                         "annotations": annotations},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"canary": {"steps": [
                    {"setWeight": 50}, {"pause": {}}, {"pause": {"duration": "1m"}}
                ]}}
            },
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn a_finished_rollout_is_judged_only_once_the_operator_saw_its_spec_and_request() {
        let done = json!({"phase": "Completed", "observedGeneration": 2});
        assert_eq!(
            verdict(&rollout(done.clone(), json!({}))),
            Verdict::Completed
        );
        let stale = json!({"phase": "Completed", "observedGeneration": 1});
        assert_eq!(verdict(&rollout(stale, json!({}))), Verdict::Pending);
        let asked = json!({REQUEST_ANNOTATION: "retry:t-2:abc"});
        assert_eq!(verdict(&rollout(done, asked)), Verdict::Pending);
        let handled = json!({"phase": "Failed", "observedGeneration": 2, "lastRequestToken": "t-2",
                             "message": "aborted"});
        assert!(matches!(
            verdict(&rollout(
                handled,
                json!({REQUEST_ANNOTATION: "abort:t-2:abc"})
            )),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn only_pauses_that_wait_for_a_person_need_one() {
        let at = |step: i32, by_user: bool| {
            json!({"phase": "Paused", "observedGeneration": 2, "currentStepIndex": step,
                   "pausedByUser": by_user})
        };
        assert!(matches!(
            verdict(&rollout(at(1, false), json!({}))),
            Verdict::NeedsPerson(_)
        ));
        assert_eq!(verdict(&rollout(at(2, false), json!({}))), Verdict::Pending);
        assert!(matches!(
            verdict(&rollout(at(2, true), json!({}))),
            Verdict::NeedsPerson(_)
        ));
    }

    #[test]
    fn an_invalid_spec_is_bad_input_with_the_field() {
        let invalid = json!({"phase": "Initializing", "observedGeneration": 2, "conditions": [
            {"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec",
             "message": "spec.replicas: -1 is negative", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        ]});
        assert_eq!(
            verdict(&rollout(invalid, json!({}))),
            Verdict::InvalidSpec("spec.replicas: -1 is negative".into())
        );
    }
}
