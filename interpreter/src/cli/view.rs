//! The live view of one rollout (`kulta get rollout NAME [--watch]`): everything a person
//! asks while a rollout runs, read from the cluster and drawn as a tree.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};
use gateway_api::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use kulta::spec::{AnalysisSpec, CanaryStep, ThresholdRange};
use kulta::status::{AnalysisKind, AnalysisRun, ConditionStatus, MeasurementOutcome};
use kulta::{POD_TEMPLATE_HASH_LABEL, Phase, Rollout, RolloutStatus};

use super::cluster::{ControlError, Session, rollout_name};

/// Events shown at the bottom of the tree.
const EVENTS_SHOWN: usize = 6;

/// One reading of a rollout and the objects around it.
pub struct Snapshot {
    /// The Rollout.
    pub rollout: Rollout,
    /// ReplicaSets it owns, newest first.
    pub replica_sets: Vec<ReplicaSet>,
    /// The Services its strategy names that exist, in the strategy's order.
    pub services: Vec<Service>,
    /// The HTTPRoute its canary routes through, when it exists.
    pub route: Option<HttpRoute>,
    /// The last Events about it, oldest first.
    pub events: Vec<Event>,
}

impl Snapshot {
    /// Read the rollout `namespace/name` and what it owns and names.
    pub async fn read(
        session: &Session,
        namespace: &str,
        name: &str,
    ) -> Result<Self, ControlError> {
        let object = rollout_name(namespace, name);
        let rollout = match session.rollouts(namespace).get(name).await {
            Ok(rollout) => rollout,
            Err(error) => return Err(session.explain("get", object, error).await),
        };
        let uid = rollout.uid().unwrap_or_default();
        let client = session.client.clone();
        let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
        let mut replica_sets: Vec<ReplicaSet> = match sets.list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .into_iter()
                .filter(|rs| rs.owner_references().iter().any(|o| o.uid == uid))
                .collect(),
            Err(error) => {
                return Err(session
                    .explain("list", format!("the ReplicaSets of {object}"), error)
                    .await);
            }
        };
        replica_sets.sort_by_key(|rs| std::cmp::Reverse(rs.creation_timestamp()));
        let services_api: Api<Service> = Api::namespaced(client.clone(), namespace);
        let mut services = Vec::new();
        for service in service_names(&rollout) {
            // A Service that does not exist yet is shown as missing, not as an error.
            if let Ok(Some(found)) = services_api.get_opt(&service).await {
                services.push(found);
            }
        }
        let route = match route_ref(&rollout, namespace) {
            Some((route_namespace, route_name)) => {
                let routes: Api<HttpRoute> = Api::namespaced(client.clone(), &route_namespace);
                routes.get_opt(&route_name).await.ok().flatten()
            }
            None => None,
        };
        let events_api: Api<Event> = Api::namespaced(client, namespace);
        let mut events: Vec<Event> = events_api
            .list(&ListParams::default())
            .await
            .map(|list| list.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|event| {
                event.regarding.as_ref().is_some_and(|regarding| {
                    regarding.kind.as_deref() == Some("Rollout")
                        && regarding.name.as_deref() == Some(name)
                })
            })
            .collect();
        events.sort_by_key(event_time);
        let skip = events.len().saturating_sub(EVENTS_SHOWN);
        let events = events.split_off(skip);
        Ok(Snapshot {
            rollout,
            replica_sets,
            services,
            route,
            events,
        })
    }
}

/// The Services a rollout's strategy names.
pub fn service_names(rollout: &Rollout) -> Vec<String> {
    let strategy = &rollout.spec.strategy;
    let mut names = Vec::new();
    if let Some(canary) = &strategy.canary {
        names.extend(canary.stable_service.clone());
        names.extend(canary.canary_service.clone());
    }
    if let Some(blue_green) = &strategy.blue_green {
        names.push(blue_green.active_service.clone());
        names.extend(blue_green.preview_service.clone());
    }
    names
}

/// (namespace, name) of the HTTPRoute a canary routes through.
fn route_ref(rollout: &Rollout, namespace: &str) -> Option<(String, String)> {
    let routing = rollout
        .spec
        .strategy
        .canary
        .as_ref()?
        .traffic_routing
        .as_ref()?;
    let route_namespace = routing
        .gateway_api
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.to_string());
    Some((route_namespace, routing.gateway_api.http_route.clone()))
}

fn event_time(event: &Event) -> Option<DateTime<Utc>> {
    event
        .series
        .as_ref()
        .map(|series| series.last_observed_time.0)
        .or_else(|| event.event_time.as_ref().map(|time| time.0))
        .or_else(|| event.deprecated_last_timestamp.as_ref().map(|time| time.0))
        .or_else(|| {
            event
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|time| time.0)
        })
        .and_then(chrono_time)
}

/// An API timestamp as a chrono time.
pub fn chrono_time(time: k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.as_second(), time.subsec_nanosecond().unsigned_abs())
}

/// The analysis spec an analysis run measures.
pub fn analysis_spec(
    spec: &kulta::RolloutSpec,
    kind: AnalysisKind,
    step_index: Option<i32>,
) -> Option<&AnalysisSpec> {
    let strategy = &spec.strategy;
    match kind {
        AnalysisKind::Background => strategy
            .canary
            .as_ref()
            .and_then(|canary| canary.analysis.as_ref())
            .or_else(|| strategy.simple.as_ref().and_then(|s| s.analysis.as_ref())),
        AnalysisKind::Step => {
            let index = usize::try_from(step_index?).ok()?;
            match strategy.canary.as_ref()?.steps.get(index)? {
                CanaryStep::Analysis(analysis) => Some(analysis),
                _ => None,
            }
        }
        AnalysisKind::PrePromotion => strategy
            .blue_green
            .as_ref()?
            .pre_promotion_analysis
            .as_ref(),
        AnalysisKind::PostPromotion => strategy
            .blue_green
            .as_ref()?
            .post_promotion_analysis
            .as_ref(),
    }
}

/// `≤ 0.05`, `≥ 1`, `0.5..2`.
pub fn bound_text(range: &ThresholdRange) -> String {
    match (range.min, range.max) {
        (Some(min), Some(max)) => format!("{min}..{max}"),
        (Some(min), None) => format!(">= {min}"),
        (None, Some(max)) => format!("<= {max}"),
        (None, None) => "-".to_string(),
    }
}

/// A step as a person reads it.
pub fn step_text(step: &CanaryStep) -> String {
    match step {
        CanaryStep::SetWeight(weight) => format!("setWeight {weight}"),
        CanaryStep::Pause(pause) => match &pause.duration {
            Some(duration) => format!("pause {}", duration.0),
            None => "pause (until promoted)".to_string(),
        },
        CanaryStep::SetHeaderRoute(route) => format!("setHeaderRoute {}", route.name),
        CanaryStep::Analysis(analysis) => {
            let names: Vec<&str> = analysis.metrics.iter().map(|m| m.name.as_str()).collect();
            format!("analysis {}", names.join(", "))
        }
    }
}

/// The style of a phase.
fn phase_style(phase: Option<Phase>) -> Style {
    let colour = match phase {
        Some(Phase::Completed) => AnsiColor::Green,
        Some(Phase::Failed) => AnsiColor::Red,
        Some(Phase::Paused | Phase::Preview) => AnsiColor::Yellow,
        Some(Phase::Progressing) => AnsiColor::Cyan,
        Some(Phase::Initializing) | None => AnsiColor::White,
    };
    Style::new().fg_color(Some(colour.into())).bold()
}

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

fn dim(text: &str) -> String {
    paint(Style::new().dimmed(), text)
}

/// Age as kubectl shows it: `45s`, `3m`, `2h`, `4d`.
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - since).num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

/// The reason shown for a rollout: a failing condition first (`InvalidSpec`,
/// `ReconcileError`; the conditions say more), else the Paused or Progressing condition's.
pub fn reason(status: &RolloutStatus) -> String {
    use kulta::status::ConditionType as T;
    let holds = |type_| {
        status
            .condition(type_)
            .filter(|c| c.status == ConditionStatus::True)
            .map(|c| c.reason.clone())
    };
    holds(T::InvalidSpec)
        .map(|_| kulta::conditions::reason::INVALID_SPEC.to_string())
        .or_else(|| holds(T::ReconcileError).map(|_| "ReconcileError".to_string()))
        .or_else(|| holds(T::InvalidRequest).map(|_| "InvalidRequest".to_string()))
        .or_else(|| holds(T::Paused))
        .or_else(|| status.condition(T::Progressing).map(|c| c.reason.clone()))
        .or_else(|| holds(T::Completed))
        .unwrap_or_default()
}

/// Draw the tree.
pub fn render(snapshot: &Snapshot, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = draw(&mut out, snapshot, now);
    out
}

fn draw(out: &mut String, snapshot: &Snapshot, now: DateTime<Utc>) -> std::fmt::Result {
    let rollout = &snapshot.rollout;
    let status = rollout.status.clone().unwrap_or_default();
    let spec = &rollout.spec;
    let label = |text: &str| paint(Style::new().bold(), &format!("{text:<13}"));
    writeln!(out, "{}{}", label("Name:"), rollout.name_any())?;
    writeln!(
        out,
        "{}{}",
        label("Namespace:"),
        rollout.namespace().unwrap_or_default()
    )?;
    let phase = status.phase.map_or("NotYetReconciled", Phase::as_str);
    let why = reason(&status);
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    writeln!(
        out,
        "{}{}{}",
        label("Status:"),
        paint(phase_style(status.phase), phase),
        why
    )?;
    if let Some(message) = &status.message {
        writeln!(out, "{}{}", label("Message:"), message)?;
    }
    let generation = rollout.metadata.generation.unwrap_or_default();
    if status
        .observed_generation
        .is_some_and(|seen| seen < generation)
    {
        writeln!(
            out,
            "{}the operator has not yet seen the latest spec",
            label("Pending:")
        )?;
    }
    if let Some(token) = &status.last_request_token {
        match &status.last_request_ignored {
            Some(why) => writeln!(out, "{}{token} ignored: {why}", label("Request:"))?,
            None => writeln!(out, "{}{token} handled", label("Request:"))?,
        }
    }
    let strategy = &spec.strategy;
    if let Some(canary) = &strategy.canary {
        writeln!(out, "{}Canary", label("Strategy:"))?;
        let steps = canary.steps.len();
        let current = status
            .current_step_index
            .and_then(|i| usize::try_from(i).ok());
        if let Some(index) = current {
            writeln!(out, "  {}{}/{steps}", label("Step:"), index.min(steps))?;
        }
        let observed = status
            .observed_weight
            .map_or_else(|| "-".to_string(), |w| w.to_string());
        writeln!(
            out,
            "  {}{}% decided, {}% observed",
            label("Weight:"),
            status.current_weight,
            observed
        )?;
        writeln!(out, "  Steps:")?;
        for (i, step) in canary.steps.iter().enumerate() {
            let (mark, text) = match current {
                Some(at) if i < at => (paint(green(), "✔"), dim(&step_text(step))),
                Some(at) if i == at => (
                    paint(Style::new().fg_color(Some(AnsiColor::Cyan.into())), "▶"),
                    paint(Style::new().bold(), &step_text(step)),
                ),
                _ => ("·".to_string(), step_text(step)),
            };
            writeln!(out, "    {mark} {i} {text}")?;
        }
    } else if let Some(blue_green) = &strategy.blue_green {
        writeln!(out, "{}BlueGreen", label("Strategy:"))?;
        writeln!(
            out,
            "  {}{}",
            label("Auto-promote:"),
            if blue_green.auto_promotion_enabled {
                "yes"
            } else {
                "no (promote by hand)"
            }
        )?;
    } else if strategy.simple.is_some() {
        writeln!(out, "{}Simple (rolling update)", label("Strategy:"))?;
    }
    draw_revisions(out, snapshot, &status)?;
    draw_services(out, snapshot)?;
    draw_route(out, snapshot)?;
    for run in [&status.gate_analysis, &status.background_analysis]
        .into_iter()
        .flatten()
    {
        draw_analysis(out, spec, run)?;
    }
    if !status.conditions.is_empty() {
        writeln!(out, "Conditions:")?;
        for condition in &status.conditions {
            let holds = match condition.status {
                ConditionStatus::True => "True",
                ConditionStatus::False => "False",
                ConditionStatus::Unknown => "Unknown",
            };
            writeln!(
                out,
                "  {:<15} {:<6} {:<26} {}",
                format!("{:?}", condition.type_),
                holds,
                condition.reason,
                condition.message
            )?;
        }
    }
    if !snapshot.events.is_empty() {
        writeln!(out, "Events:")?;
        for event in &snapshot.events {
            let when = event_time(event).map_or_else(|| "-".to_string(), |t| age(t, now));
            let warning = event.type_.as_deref() == Some("Warning");
            let kind = if warning {
                paint(
                    Style::new().fg_color(Some(AnsiColor::Red.into())),
                    "Warning",
                )
            } else {
                "Normal ".to_string()
            };
            writeln!(
                out,
                "  {when:>4}  {kind} {:<24} {}",
                event.reason.as_deref().unwrap_or(""),
                event.note.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(())
}

fn green() -> Style {
    Style::new().fg_color(Some(AnsiColor::Green.into()))
}

fn draw_revisions(
    out: &mut String,
    snapshot: &Snapshot,
    status: &RolloutStatus,
) -> std::fmt::Result {
    if snapshot.replica_sets.is_empty() {
        return Ok(());
    }
    writeln!(out, "Revisions:")?;
    let count = snapshot.replica_sets.len();
    let mut sets: Vec<&ReplicaSet> = snapshot.replica_sets.iter().collect();
    let revision_of = |rs: &ReplicaSet| {
        rs.labels()
            .get(POD_TEMPLATE_HASH_LABEL)
            .cloned()
            .unwrap_or_default()
    };
    // Canary first, then stable, then the old ones newest first (the list's order).
    sets.sort_by_key(|rs| role_of(status, &revision_of(rs)));
    for (i, rs) in sets.into_iter().enumerate() {
        let revision = rs
            .labels()
            .get(POD_TEMPLATE_HASH_LABEL)
            .cloned()
            .unwrap_or_default();
        let role = match role_of(status, &revision) {
            Role::Canary => paint(
                Style::new().fg_color(Some(AnsiColor::Cyan.into())),
                "canary",
            ),
            Role::Stable => paint(green(), "stable"),
            Role::Old => dim("old   "),
        };
        let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let ready = rs
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        let image = rs
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.spec.as_ref())
            .and_then(|p| p.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let branch = if i + 1 == count { "└─" } else { "├─" };
        writeln!(
            out,
            "  {branch} {revision:<12} {role}  {image}  ReplicaSet {}  {ready}/{desired} ready",
            rs.name_any()
        )?;
    }
    Ok(())
}

/// What a revision is to the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Canary,
    Stable,
    Old,
}

fn role_of(status: &RolloutStatus, revision: &str) -> Role {
    if status.canary_revision.as_deref() == Some(revision) {
        Role::Canary
    } else if status.stable_revision.as_deref() == Some(revision) {
        Role::Stable
    } else {
        Role::Old
    }
}

fn draw_services(out: &mut String, snapshot: &Snapshot) -> std::fmt::Result {
    let names = service_names(&snapshot.rollout);
    if names.is_empty() {
        return Ok(());
    }
    writeln!(out, "Services:")?;
    for name in names {
        let found = snapshot.services.iter().find(|s| s.name_any() == name);
        let selects = match found {
            None => paint(
                Style::new().fg_color(Some(AnsiColor::Red.into())),
                "missing",
            ),
            Some(service) => service
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL).cloned())
                .map_or_else(|| "all revisions".to_string(), |r| format!("revision {r}")),
        };
        writeln!(out, "  {name:<24} → {selects}")?;
    }
    Ok(())
}

fn draw_route(out: &mut String, snapshot: &Snapshot) -> std::fmt::Result {
    let Some(route) = &snapshot.route else {
        if let Some((namespace, name)) = route_ref(&snapshot.rollout, "") {
            let at = if namespace.is_empty() {
                name
            } else {
                format!("{namespace}/{name}")
            };
            writeln!(out, "HTTPRoute:     {at} (missing)")?;
        }
        return Ok(());
    };
    let names = service_names(&snapshot.rollout);
    let weights: Vec<String> = route
        .spec
        .rules
        .iter()
        .flatten()
        .flat_map(|rule| rule.backend_refs.iter().flatten())
        .filter(|backend| names.contains(&backend.name))
        .map(|backend| format!("{} {}", backend.name, backend.weight.unwrap_or(1)))
        .collect();
    writeln!(
        out,
        "HTTPRoute:     {}  {}",
        route.name_any(),
        weights.join(" / ")
    )
}

fn draw_analysis(
    out: &mut String,
    spec: &kulta::RolloutSpec,
    run: &AnalysisRun,
) -> std::fmt::Result {
    let analysis = analysis_spec(spec, run.kind, run.step_index);
    writeln!(
        out,
        "Analysis:      {:?} of {}, round {}, {:?}",
        run.kind, run.revision, run.round, run.phase
    )?;
    for metric in &run.metrics {
        let bound = analysis
            .and_then(|a| a.metrics.iter().find(|m| m.name == metric.name))
            .map_or_else(|| "-".to_string(), |m| bound_text(&m.threshold_range));
        let outcome = match metric.last_outcome {
            Some(MeasurementOutcome::Success) => paint(green(), "✔"),
            Some(MeasurementOutcome::Failure) => {
                paint(Style::new().fg_color(Some(AnsiColor::Red.into())), "✖")
            }
            Some(MeasurementOutcome::Inconclusive) => {
                paint(Style::new().fg_color(Some(AnsiColor::Yellow.into())), "?")
            }
            None => "·".to_string(),
        };
        writeln!(
            out,
            "  {outcome} {:<20} last {:<10} bound {:<10} successes {}  failures {}  inconclusive {}",
            metric.name,
            metric.last_value.as_deref().unwrap_or("-"),
            bound,
            metric.successes,
            metric.failures,
            metric.inconclusives
        )?;
        if let Some(message) = &metric.message {
            writeln!(out, "      {}", dim(message))?;
        }
    }
    Ok(())
}
