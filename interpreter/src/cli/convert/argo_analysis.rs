//! Argo Rollouts analysis (`templates` + `args`, resolved against the AnalysisTemplates and
//! ClusterAnalysisTemplates in the files) as a KULTA `AnalysisSpec`.
//!
//! Argo sets interval and limits per metric; KULTA per analysis. The shortest interval and the
//! strictest limits win, and a metric that differs says so in a comment. A gating analysis
//! that takes `count` measurements and tolerates `failureLimit` failures passes exactly when
//! `count − failureLimit` of them succeed, which is KULTA's `count`.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use super::condition::{self, Role};
use super::emit::{OutPath, Seg};
use super::source::{Notes, Obj};
use super::{Index, put};

/// How the analysis is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Runs beside the rollout until it ends.
    Background,
    /// Gates a step or a promotion.
    Gate,
}

/// One metric, converted, with the per-metric settings KULTA keeps per analysis.
struct Metric {
    spec: Mapping,
    interval: Option<String>,
    failure_limit: i64,
    inconclusive_limit: i64,
    count: Option<i64>,
    address: String,
    origin: String,
}

/// Convert the Argo analysis reference `reference` (in Rollout `namespace`); `None` when no
/// metric could be carried over (then the whole analysis is dropped, and said so).
pub fn convert(
    reference: &Obj<'_>,
    namespace: Option<&str>,
    usage: Use,
    at: &OutPath,
    index: &Index<'_>,
    notes: &mut Notes,
) -> Option<Mapping> {
    let mut given: BTreeMap<String, Result<String, String>> = BTreeMap::new();
    for (position, arg) in reference.list("args").iter().enumerate() {
        let arg = Obj::new(arg, format!("{}[{position}]", reference.at("args")));
        if let Some(name) = arg.text("name") {
            given.insert(name.to_string(), arg_value(&arg, notes, at));
        }
    }
    let mut metrics: Vec<Metric> = Vec::new();
    for (position, template) in reference.list("templates").iter().enumerate() {
        let template = Obj::new(
            template,
            format!("{}[{position}]", reference.at("templates")),
        );
        let Some(name) = template.text("templateName") else {
            notes.drop(
                at,
                template.path.clone(),
                "a template reference without templateName",
            );
            continue;
        };
        let cluster = template.flag("clusterScope").unwrap_or(false);
        notes.drop_unread(&template, at, |_| None);
        let found = if cluster {
            index.find("argoproj.io", "ClusterAnalysisTemplate", None, name, false)
        } else {
            index.find("argoproj.io", "AnalysisTemplate", namespace, name, true)
        };
        let kind = if cluster {
            "ClusterAnalysisTemplate"
        } else {
            "AnalysisTemplate"
        };
        let Some(document) = found else {
            notes.drop(
                at,
                format!("{}.templateName", template.path),
                format!("{kind} {name} is not in the files given to kulta convert; add it to convert its metrics"),
            );
            continue;
        };
        let who = document.who();
        let spec = Obj::new(&document.value["spec"], "spec");
        let mut args = given.clone();
        for (position, arg) in spec.list("args").iter().enumerate() {
            let arg = Obj::new(arg, format!("{who}: spec.args[{position}]"));
            if let Some(name) = arg.text("name") {
                if !args.contains_key(name) {
                    let value = if arg.get("value").is_some() || arg.get("valueFrom").is_some() {
                        arg_value(&arg, notes, at)
                    } else {
                        Err(format!(
                            "argument {name} has no value in the Rollout or the template"
                        ))
                    };
                    args.insert(name.to_string(), value);
                } else {
                    arg.skip("value");
                    arg.skip("valueFrom");
                }
            }
        }
        for (position, metric) in spec.list("metrics").iter().enumerate() {
            let metric = Obj::new(metric, format!("spec.metrics[{position}]"));
            let origin = format!("{who}: {}", metric.path);
            if let Some(converted) = convert_metric(&metric, &origin, &args, usage, at, notes) {
                if metrics
                    .iter()
                    .any(|m| m.spec.get("name") == converted.spec.get("name"))
                {
                    notes.drop(
                        at,
                        origin,
                        "a metric of the same name is already in this analysis",
                    );
                } else {
                    metrics.push(converted);
                }
            }
        }
        for (path, _) in spec.unread() {
            let key = path.rsplit('.').next().unwrap_or_default();
            let reason = match key {
                "dryRun" => "KULTA has no dry-run metrics; every metric gates",
                "measurementRetention" => {
                    "KULTA keeps the last measurement per metric in the status"
                }
                _ => "KULTA has no such field",
            };
            notes.drop(at, format!("{who}: {path}"), reason);
        }
    }
    for (path, _) in reference.unread() {
        let key = path.rsplit('.').next().unwrap_or_default();
        let reason = match key {
            "dryRun" => "KULTA has no dry-run metrics; every metric gates",
            "measurementRetention" => "KULTA keeps the last measurement per metric in the status",
            "analysisRunMetadata" => "KULTA creates no AnalysisRun objects",
            "startingStep" => "only a canary's background analysis has a starting step",
            _ => "KULTA has no such field",
        };
        notes.drop(at, path, reason);
    }
    let first = metrics.first()?;
    let address = first.address.clone();
    let mut kept: Vec<Metric> = Vec::new();
    for metric in metrics {
        if metric.address != address {
            notes.drop(
                at,
                metric.origin.clone(),
                format!(
                    "it queries {}; a KULTA analysis queries one Prometheus ({address})",
                    metric.address
                ),
            );
        } else {
            kept.push(metric);
        }
    }
    let interval = kept
        .iter()
        .filter_map(|m| {
            let text = m.interval.as_ref()?;
            let parsed = kulta::duration::DurationString::new(text.clone())
                .parse()
                .ok()?;
            Some((parsed, text.clone()))
        })
        .min_by_key(|(parsed, _)| *parsed)
        .map(|(_, text)| text);
    let failure_limit = kept.iter().map(|m| m.failure_limit).min().unwrap_or(0);
    let inconclusive_limit = kept.iter().map(|m| m.inconclusive_limit).min().unwrap_or(0);
    let count = kept.iter().filter_map(|m| m.count).max();
    for metric in &kept {
        if metric.interval.is_some() && metric.interval != interval {
            notes.drop(
                at,
                format!("{}.interval", metric.origin),
                format!(
                    "KULTA measures every metric of an analysis at one interval: {}",
                    interval.as_deref().unwrap_or("1m")
                ),
            );
        }
        if metric.failure_limit != failure_limit {
            notes.drop(
                at,
                format!("{}.failureLimit", metric.origin),
                format!("KULTA has one failureLimit per analysis, the strictest: {failure_limit}"),
            );
        }
        if metric.inconclusive_limit != inconclusive_limit {
            notes.drop(
                at,
                format!("{}.inconclusiveLimit", metric.origin),
                format!(
                    "KULTA has one inconclusiveLimit per analysis, the strictest: {inconclusive_limit}"
                ),
            );
        }
    }
    let mut analysis = Mapping::new();
    if let Some(interval) = interval {
        put(&mut analysis, "interval", Value::from(interval));
    }
    if failure_limit > 0 {
        put(&mut analysis, "failureLimit", Value::from(failure_limit));
    }
    if inconclusive_limit > 0 {
        put(
            &mut analysis,
            "inconclusiveLimit",
            Value::from(inconclusive_limit),
        );
    }
    if let (Use::Gate, Some(count)) = (usage, count) {
        let successes = (count - failure_limit).max(1);
        if successes > 1 {
            put(&mut analysis, "count", Value::from(successes));
        }
    }
    let mut prometheus = Mapping::new();
    put(&mut prometheus, "address", Value::from(address));
    put(&mut analysis, "prometheus", Value::Mapping(prometheus));
    put(
        &mut analysis,
        "metrics",
        Value::Sequence(kept.into_iter().map(|m| Value::Mapping(m.spec)).collect()),
    );
    Some(analysis)
}

/// An argument's value, as KULTA query text: literal, or the KULTA variable that stands for
/// the same thing.
fn arg_value(arg: &Obj<'_>, notes: &mut Notes, at: &OutPath) -> Result<String, String> {
    let name = arg.text("name").unwrap_or_default().to_string();
    if let Some(value) = arg.get("value") {
        arg.skip("valueFrom");
        return match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(flag) => Ok(flag.to_string()),
            _ => Err(format!("argument {name} has a value that is not text")),
        };
    }
    let Some(from) = arg.obj("valueFrom") else {
        return Err(format!("argument {name} has no value"));
    };
    let result = if let Some(hash) = from.text("podTemplateHashValue") {
        match hash {
            "Latest" => Ok("{{revision}}".to_string()),
            "Stable" => Ok("{{stableRevision}}".to_string()),
            other => Err(format!(
                "argument {name}: podTemplateHashValue {other:?} is neither Latest nor Stable"
            )),
        }
    } else if let Some(field) = from.obj("fieldRef") {
        match field.text("fieldPath") {
            Some("metadata.name") => Ok("{{name}}".to_string()),
            Some("metadata.namespace") => Ok("{{namespace}}".to_string()),
            other => Err(format!(
                "argument {name}: fieldRef {} has no KULTA variable (only metadata.name and metadata.namespace do)",
                other.unwrap_or_default()
            )),
        }
    } else if from.get("secretKeyRef").is_some() {
        Err(format!(
            "argument {name} comes from a Secret; KULTA puts no Secret into a query"
        ))
    } else {
        Err(format!(
            "argument {name}: valueFrom names no source KULTA knows"
        ))
    };
    notes.drop_unread(&from, at, |_| None);
    result
}

/// Replace `{{args.NAME}}` (spaces allowed) with the argument's value.
fn substitute(
    text: &str,
    args: &BTreeMap<String, Result<String, String>>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        let inside = rest[open + 2..open + close].trim();
        out.push_str(&rest[..open]);
        match inside.strip_prefix("args.") {
            Some(name) => match args.get(name) {
                Some(Ok(value)) => out.push_str(value),
                Some(Err(why)) => return Err(why.clone()),
                None => return Err(format!("argument {name} is not declared")),
            },
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn convert_metric(
    metric: &Obj<'_>,
    origin: &str,
    args: &BTreeMap<String, Result<String, String>>,
    usage: Use,
    at: &OutPath,
    notes: &mut Notes,
) -> Option<Metric> {
    let name = metric.text("name").unwrap_or("metric").to_string();
    let refuse = |notes: &mut Notes, reason: String| {
        notes.drop(at, origin.to_string(), format!("metric {name}: {reason}"));
        None
    };
    let who = origin.split(": ").next().unwrap_or(origin);
    let Some(provider) = metric.obj("provider") else {
        return refuse(notes, "it has no provider".into());
    };
    let Some(prometheus) = provider.obj("prometheus") else {
        let kinds: Vec<String> = provider
            .unread()
            .into_iter()
            .map(|(path, _)| path.rsplit('.').next().unwrap_or_default().to_string())
            .collect();
        return refuse(
            notes,
            format!(
                "its provider is {}; KULTA measures with Prometheus only",
                kinds.join(", ")
            ),
        );
    };
    // Conditions may take their bounds from arguments (`result[0] <= {{args.max}}`).
    let condition = |key: &str| -> Result<Option<String>, String> {
        metric
            .text(key)
            .map(|text| substitute(text, args))
            .transpose()
    };
    let (success, failure) = match (condition("successCondition"), condition("failureCondition")) {
        (Ok(success), Ok(failure)) => (success, failure),
        (Err(why), _) | (_, Err(why)) => return refuse(notes, why),
    };
    let range = match (success.as_deref(), failure.as_deref()) {
        (Some(success), failure) => {
            let range = condition::to_range(success, Role::Success);
            if let (Ok(_), Some(failure)) = (&range, failure) {
                notes.drop(
                    at,
                    format!("{origin}.failureCondition"),
                    format!(
                        "{failure:?}: KULTA has one range per metric, taken from successCondition"
                    ),
                );
            }
            range.map_err(|refused| format!("successCondition {refused}"))
        }
        (None, Some(failure)) => condition::to_range(failure, Role::Failure)
            .map_err(|refused| format!("failureCondition {refused}")),
        (None, None) => {
            Err("it has no successCondition or failureCondition; KULTA needs a range".into())
        }
    };
    let range = match range {
        Ok(range) => range,
        Err(reason) => return refuse(notes, reason),
    };
    let query = prometheus.text("query").unwrap_or_default();
    let address = prometheus.text("address").unwrap_or_default();
    let (query, address) = match (substitute(query, args), substitute(address, args)) {
        (Ok(query), Ok(address)) => (query, address),
        (Err(why), _) | (_, Err(why)) => return refuse(notes, why),
    };
    if address.is_empty() {
        return refuse(notes, "its Prometheus has no address".into());
    }
    for (path, _) in prometheus.unread() {
        let key = path.rsplit('.').next().unwrap_or_default();
        let reason = match key {
            "timeout" => "KULTA's query timeout is the operator's, not per metric",
            "headers" | "authentication" => {
                "KULTA authenticates to Prometheus with the operator's token (kulta run --prometheus-token-file)"
            }
            "insecure" => "KULTA verifies Prometheus's certificate",
            _ => "KULTA has no such field",
        };
        notes.drop(at, format!("{who}: {path}"), reason);
    }
    let mut spec = Mapping::new();
    put(&mut spec, "name", Value::from(name.clone()));
    put(&mut spec, "query", Value::from(query));
    let mut threshold = Mapping::new();
    if let Some(min) = range.min {
        put(&mut threshold, "min", Value::from(min));
    }
    if let Some(max) = range.max {
        put(&mut threshold, "max", Value::from(max));
    }
    put(&mut spec, "thresholdRange", Value::Mapping(threshold));
    if let Some(delay) = metric.read("initialDelay", duration_text) {
        put(&mut spec, "initialDelay", Value::from(delay));
    }
    let interval = metric.read("interval", duration_text);
    let count = metric.int("count");
    let failure_limit = metric.int("failureLimit").unwrap_or(0).max(0);
    let inconclusive_limit = metric.int("inconclusiveLimit").unwrap_or(0).max(0);
    if usage == Use::Background && count.is_some() {
        notes.drop(
            at,
            format!("{origin}.count"),
            "a KULTA background analysis measures until the rollout ends",
        );
    }
    for (path, _) in metric.unread() {
        let key = path.rsplit('.').next().unwrap_or_default();
        let reason = match key {
            "consecutiveErrorLimit" => {
                "KULTA counts a query error as inconclusive (inconclusiveLimit)"
            }
            "consecutiveSuccessLimit" => "KULTA counts successes with count, not consecutively",
            _ => "KULTA has no such field",
        };
        notes.drop(at, format!("{who}: {path}"), reason);
    }
    Some(Metric {
        spec,
        interval,
        failure_limit,
        inconclusive_limit,
        count,
        address,
        origin: origin.to_string(),
    })
}

/// An Argo duration: text as written, or a number of seconds.
pub fn duration_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => number.as_i64().map(|seconds| format!("{seconds}s")),
        _ => None,
    }
}

/// The output path of a canary step.
pub fn step_path(base: &OutPath, index: usize) -> OutPath {
    let mut path = base.clone();
    path.push(Seg::Index(index));
    path
}
