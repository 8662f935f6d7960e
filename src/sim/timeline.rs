//! A timeline a person can read: for each step that decided something, what was seen and
//! what was done. Revision hashes are shown by their image when known.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::effect::{CdEventKind, Effect, EventType};
use crate::observations::Observations;
use crate::status::{ConditionStatus, RolloutStatus};

use super::Record;

/// One step that decided something.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Time since the start (or the absolute time, for traces).
    pub t: String,
    /// Phase after the step.
    pub phase: String,
    /// Canary step index after the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<i32>,
    /// Canary weight after the step.
    pub weight: i32,
    /// Pods as observed: `image desired/ready`.
    pub pods: String,
    /// Route weights as observed, when there is a route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// What the step did.
    pub actions: Vec<String>,
    /// Conditions that changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

/// The inputs and outputs of one step, borrowed.
pub struct StepView<'a> {
    /// Status before.
    pub before: &'a RolloutStatus,
    /// Observations.
    pub observations: &'a Observations,
    /// Status after.
    pub after: &'a RolloutStatus,
    /// Effects.
    pub effects: &'a [Effect],
}

/// The timeline of simulation records; times are offsets from `start`.
pub fn timeline(
    records: &[Record],
    start: DateTime<Utc>,
    aliases: &BTreeMap<String, String>,
    rollout: &str,
) -> Vec<TimelineEntry> {
    records
        .iter()
        .filter_map(|record| {
            let view = StepView {
                before: &record.before,
                observations: &record.observations,
                after: &record.after,
                effects: &record.effects,
            };
            let offset = record.observations.now - start;
            let t = humantime::format_duration(crate::duration::to_std(offset)).to_string();
            entry(&view, t, aliases, rollout)
        })
        .collect()
}

/// The entry for one step, or `None` if it decided nothing.
pub fn entry(
    view: &StepView<'_>,
    t: String,
    aliases: &BTreeMap<String, String>,
    rollout: &str,
) -> Option<TimelineEntry> {
    let decided = decisions_differ(view.before, view.after)
        || view
            .effects
            .iter()
            .any(|e| !matches!(e, Effect::RequeueAfter { .. }));
    if !decided {
        return None;
    }
    let alias = |text: &str| alias_text(text, aliases);
    let obs = view.observations;
    let mut pods: Vec<String> = obs
        .replica_sets
        .iter()
        .filter(|rs| rs.replicas > 0 || rs.ready_replicas > 0)
        .map(|rs| {
            format!(
                "{} {}/{}",
                alias(&rs.revision),
                rs.ready_replicas,
                rs.replicas
            )
        })
        .collect();
    if pods.is_empty() {
        pods.push("none".into());
    }
    let route = obs.http_route.as_ref().map(|route| {
        route
            .backends
            .iter()
            .map(|b| format!("{}={}", b.service, b.weight))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let prefix = format!("{rollout}-");
    let actions = view
        .effects
        .iter()
        .map(|effect| alias(&describe(effect, &prefix)))
        .collect();
    let removed = view
        .before
        .conditions
        .iter()
        .filter(|old| !view.after.conditions.iter().any(|c| c.type_ == old.type_))
        .map(|old| format!("{:?} cleared", old.type_));
    let conditions = view
        .after
        .conditions
        .iter()
        .filter(|c| {
            let old = view.before.conditions.iter().find(|o| o.type_ == c.type_);
            old.is_none_or(|o| o.status != c.status || o.reason != c.reason)
        })
        .map(|c| {
            let status = match c.status {
                ConditionStatus::True => "True",
                ConditionStatus::False => "False",
                ConditionStatus::Unknown => "Unknown",
            };
            format!("{:?}={status} {}", c.type_, c.reason)
        })
        .chain(removed)
        .collect();
    Some(TimelineEntry {
        t,
        phase: view
            .after
            .phase
            .map_or_else(|| "-".to_string(), |p| format!("{p:?}")),
        step: view.after.current_step_index,
        weight: view.after.current_weight,
        pods: pods.join(", "),
        route,
        actions,
        conditions,
    })
}

/// Whether two statuses differ in anything but the pod counts they report (the counts, and
/// the Available condition's message, follow the pods; they are not decisions).
fn decisions_differ(before: &RolloutStatus, after: &RolloutStatus) -> bool {
    let strip = |status: &RolloutStatus| {
        let mut stripped = RolloutStatus {
            replicas: 0,
            ready_replicas: 0,
            updated_replicas: 0,
            ..status.clone()
        };
        for condition in &mut stripped.conditions {
            if condition.type_ == crate::status::ConditionType::Available {
                condition.message.clear();
            }
        }
        stripped
    };
    strip(before) != strip(after)
}

/// One effect in words.
pub fn describe(effect: &Effect, replica_set_prefix: &str) -> String {
    let short = |name: &str| {
        name.strip_prefix(replica_set_prefix)
            .unwrap_or(name)
            .to_string()
    };
    match effect {
        Effect::CreateReplicaSet {
            revision, replicas, ..
        } => format!("create ReplicaSet {revision} with {replicas} pods"),
        Effect::ScaleReplicaSet { name, replicas } => {
            format!("scale {} to {replicas}", short(name))
        }
        Effect::DeleteReplicaSet { name } => format!("delete ReplicaSet {}", short(name)),
        Effect::AdoptReplicaSet { name, revision, .. } => {
            format!("adopt ReplicaSet {name} as {revision}")
        }
        Effect::ScaleDeployment { name, replicas } => {
            format!("scale Deployment {name} to {replicas}")
        }
        Effect::PointService { service, revision } => format!("point {service} at {revision}"),
        Effect::SetRouteWeights { stable, canary, .. } => format!(
            "route {}={} {}={}",
            stable.service, stable.weight, canary.service, canary.weight
        ),
        Effect::SetHeaderRoute { rule: None, .. } => "remove header route".into(),
        Effect::SetHeaderRoute {
            rule: Some(rule), ..
        } => {
            let matches: Vec<String> = rule
                .route
                .matches
                .iter()
                .map(|m| {
                    let value = match &m.header_value {
                        crate::spec::HeaderValueMatch::Exact(v) => format!("={v}"),
                        crate::spec::HeaderValueMatch::Regex(v) => format!("~{v}"),
                    };
                    format!("{}{value}", m.header_name)
                })
                .collect();
            format!(
                "header route {} ({}) to {}",
                rule.route.name,
                matches.join(", "),
                rule.service
            )
        }
        Effect::QueryMetric(query) => format!(
            "query {} round {} of {}",
            query.key.metric, query.key.round, query.key.revision
        ),
        Effect::EmitCdEvent(event) => {
            let kind = match event.kind {
                CdEventKind::ServiceDeployed => "service.deployed",
                CdEventKind::ServiceUpgraded => "service.upgraded",
                CdEventKind::ServiceRolledback => "service.rolledback",
                CdEventKind::ServicePublished => "service.published",
            };
            format!("cdevent {kind} {}", event.revision)
        }
        Effect::RecordEvent(event) => {
            let kind = match event.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            };
            format!("event {kind} {}: {}", event.reason, event.message)
        }
        Effect::RequeueAfter { after, reason } => format!(
            "wake in {} ({})",
            humantime::format_duration(*after),
            reason.describe()
        ),
    }
}

/// Replace every revision hash in `text` with its image.
pub fn alias_text(text: &str, aliases: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (revision, image) in aliases {
        if out.contains(revision.as_str()) {
            out = out.replace(revision.as_str(), image);
        }
    }
    out
}

/// The timeline as plain text, one block per entry.
pub fn render_text(entries: &[TimelineEntry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let step = entry
            .step
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        let _ = write!(
            out,
            "{:>10}  {:<11} step {:<2} weight {:>3}  pods: {}",
            entry.t, entry.phase, step, entry.weight, entry.pods
        );
        if let Some(route) = &entry.route {
            let _ = write!(out, "  route: {route}");
        }
        out.push('\n');
        for action in &entry.actions {
            let _ = writeln!(out, "{:>14}{action}", "- ");
        }
        for condition in &entry.conditions {
            let _ = writeln!(out, "{:>14}{condition}", "~ ");
        }
    }
    out
}
