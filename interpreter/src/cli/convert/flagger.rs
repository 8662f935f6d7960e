//! Flagger `Canary` (flagger.app/v1beta1) → KULTA `Rollout`, with the Services and (for the
//! Gateway API provider) the HTTPRoute that Flagger used to generate from `spec.service`.
//!
//! Flagger's analysis becomes steps: progressive traffic shifting (`stepWeight` up to
//! `maxWeight`, or `stepWeights`) is a `setWeight` then a `pause` of one `interval` per
//! weight; A/B testing (`iterations` with `match`) is a header route held for `iterations ×
//! interval`; Blue/Green (`iterations` alone) is a blue-green strategy whose pre-promotion
//! analysis needs `iterations` successes. `threshold` failed checks roll back, so KULTA
//! tolerates `threshold − 1` (`failureLimit`). Metrics come from MetricTemplates (Prometheus);
//! Flagger's built-in `request-success-rate` and `request-duration` are refused: their queries
//! depend on Flagger's mesh provider, so write them as a MetricTemplate first.

use serde_yaml_ng::{Mapping, Value};

use super::emit::{OutPath, Seg, keys};
use super::source::{Notes, Obj};
use super::{Converted, Index, Workload, put, rollout_head, workload};
use crate::cli::manifest::Document;

/// How the Canary's analysis ships a revision.
enum Mode {
    /// Traffic shifting by weights.
    Canary(Vec<i64>),
    /// A/B testing: header-matched requests go to the canary for a while.
    HeaderTest(i64),
    /// Blue/Green: the canary is tested for a number of iterations, then switched to.
    BlueGreen(i64),
}

/// Convert one Flagger Canary.
pub fn convert(document: &Document, index: &Index<'_>) -> Converted {
    let mut notes = Notes::default();
    let namespace = document.namespace();
    let name = document.name().unwrap_or("canary").to_string();
    let root = Obj::new(&document.value, "");
    let mut rollout = rollout_head(&root, &mut notes);
    let spec_at = keys(&["spec"]);
    let empty = Value::Null;
    let source = root.obj("spec").unwrap_or_else(|| Obj::new(&empty, "spec"));
    let mut spec = Mapping::new();
    let target = source
        .obj("targetRef")
        .map(|target| {
            let name = target
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string);
            workload(
                &mut spec,
                &target,
                namespace,
                Workload::FlaggerTargetRef,
                index,
                &spec_at,
                &mut notes,
            );
            name
        })
        .unwrap_or_default()
        .unwrap_or_else(|| name.clone());
    if let Some(deadline) = source.get("progressDeadlineSeconds") {
        put(&mut spec, "progressDeadlineSeconds", deadline.clone());
    }
    let service = source.obj("service");
    let service_name = service
        .as_ref()
        .and_then(|s| s.text("name"))
        .unwrap_or(&target)
        .to_string();
    let provider = source.text("provider").unwrap_or_default().to_string();
    let gateway = provider.starts_with("gatewayapi");
    if !gateway && !provider.is_empty() && provider != "kubernetes" {
        notes.drop(
            &spec_at,
            "spec.provider",
            format!(
                "{provider:?}: KULTA routes traffic through a Gateway API HTTPRoute only; without it, canary weights follow replica counts"
            ),
        );
    }
    if provider.is_empty() {
        notes.drop(
            &spec_at,
            "spec.provider",
            "not set, so Flagger's --mesh-provider flag decides; routing is left out (set trafficRouting by hand for a Gateway API)",
        );
    }
    let analysis = source.obj("analysis");
    let interval = analysis
        .as_ref()
        .and_then(|a| a.text("interval"))
        .unwrap_or("1m")
        .to_string();
    let mode = analysis
        .as_ref()
        .map_or(Mode::Canary(vec![100]), |analysis| {
            mode(analysis, &spec_at, &mut notes)
        });
    let failure_limit = analysis
        .as_ref()
        .and_then(|a| a.int("threshold"))
        .map_or(0, |threshold| (threshold - 1).max(0));
    let mut documents = Vec::new();
    let selector = spec
        .get("selector")
        .and_then(|selector| selector.get("matchLabels"))
        .cloned()
        .unwrap_or_else(|| {
            let mut labels = Mapping::new();
            put(&mut labels, "app", Value::from(target.clone()));
            Value::Mapping(labels)
        });
    let strategy_at = keys(&["spec", "strategy"]);
    let mut strategy = Mapping::new();
    let (roles, strategy_key): (Vec<String>, &str) = match &mode {
        Mode::BlueGreen(_) => (
            vec![service_name.clone(), format!("{service_name}-canary")],
            "blueGreen",
        ),
        _ => (
            vec![
                format!("{service_name}-primary"),
                format!("{service_name}-canary"),
            ],
            "canary",
        ),
    };
    let at = {
        let mut path = strategy_at.clone();
        path.push(Seg::Key(strategy_key.into()));
        path
    };
    let metrics = analysis
        .as_ref()
        .map(|analysis| {
            metrics(
                analysis,
                &interval,
                namespace,
                &target,
                &service_name,
                index,
                &at,
                &mut notes,
            )
        })
        .unwrap_or_default();
    let analysis_spec = metrics.map(|(address, metrics)| {
        let mut spec = Mapping::new();
        put(&mut spec, "interval", Value::from(interval.clone()));
        if failure_limit > 0 {
            put(&mut spec, "failureLimit", Value::from(failure_limit));
        }
        if let Mode::BlueGreen(iterations) = mode {
            put(&mut spec, "count", Value::from(iterations.max(1)));
        }
        let mut prometheus = Mapping::new();
        put(&mut prometheus, "address", Value::from(address));
        put(&mut spec, "prometheus", Value::Mapping(prometheus));
        put(&mut spec, "metrics", Value::Sequence(metrics));
        spec
    });
    match &mode {
        Mode::BlueGreen(_) => {
            let mut blue_green = Mapping::new();
            put(
                &mut blue_green,
                "activeService",
                Value::from(roles[0].clone()),
            );
            put(
                &mut blue_green,
                "previewService",
                Value::from(roles[1].clone()),
            );
            if let Some(analysis) = analysis_spec {
                put(
                    &mut blue_green,
                    "prePromotionAnalysis",
                    Value::Mapping(analysis),
                );
            }
            put(&mut strategy, "blueGreen", Value::Mapping(blue_green));
        }
        Mode::Canary(weights) => {
            let mut canary = Mapping::new();
            put(&mut canary, "stableService", Value::from(roles[0].clone()));
            put(&mut canary, "canaryService", Value::from(roles[1].clone()));
            if gateway {
                put(&mut canary, "trafficRouting", route_ref(&service_name));
            }
            let mut steps = Vec::new();
            for weight in weights {
                steps.push(single("setWeight", Value::from(*weight)));
                steps.push(single(
                    "pause",
                    single("duration", Value::from(interval.clone())),
                ));
            }
            put(&mut canary, "steps", Value::Sequence(steps));
            if let Some(analysis) = analysis_spec {
                put(&mut canary, "analysis", Value::Mapping(analysis));
            }
            put(&mut strategy, "canary", Value::Mapping(canary));
        }
        Mode::HeaderTest(iterations) => {
            let mut canary = Mapping::new();
            put(&mut canary, "stableService", Value::from(roles[0].clone()));
            put(&mut canary, "canaryService", Value::from(roles[1].clone()));
            let matches = analysis
                .as_ref()
                .map(|analysis| header_matches(analysis, &at, &mut notes))
                .unwrap_or_default();
            let mut steps = Vec::new();
            if gateway {
                put(&mut canary, "trafficRouting", route_ref(&service_name));
                let mut route = Mapping::new();
                put(&mut route, "name", Value::from("flagger-match"));
                put(&mut route, "match", Value::Sequence(matches));
                steps.push(single("setHeaderRoute", Value::Mapping(route)));
            } else {
                notes.drop(
                    &at,
                    "spec.analysis.match",
                    "a header route needs a Gateway API HTTPRoute (provider gatewayapi)",
                );
            }
            let total = kulta::duration::DurationString::new(interval.clone())
                .parse()
                .map(|each| each * i32::try_from(*iterations).unwrap_or(1))
                .map(|total| {
                    humantime::format_duration(total.to_std().unwrap_or_default())
                        .to_string()
                        .replace(' ', "")
                })
                .unwrap_or_else(|_| interval.clone());
            steps.push(single("pause", single("duration", Value::from(total))));
            put(&mut canary, "steps", Value::Sequence(steps));
            if let Some(analysis) = analysis_spec {
                put(&mut canary, "analysis", Value::Mapping(analysis));
            }
            put(&mut strategy, "canary", Value::Mapping(canary));
        }
    }
    if let Some(service) = &service {
        documents.extend(generated(
            service,
            &roles,
            &service_name,
            namespace,
            &selector,
            gateway && !matches!(mode, Mode::BlueGreen(_)),
            &spec_at,
            &mut notes,
        ));
    }
    put(&mut spec, "strategy", Value::Mapping(strategy));
    if let Some(analysis) = &analysis {
        notes.drop_unread(analysis, &at, |key| match key {
            "webhooks" => Some(
                "KULTA calls no webhooks; a manual gate is a `pause: {}` step, a load test runs beside the rollout",
            ),
            "mirror" | "mirrorWeight" => Some("KULTA does not mirror traffic"),
            "alerts" => Some("KULTA sends CDEvents (--cdevents-sink) instead of alerts"),
            "primaryReadyThreshold" | "canaryReadyThreshold" => {
                Some("KULTA waits for every pod a step asks for")
            }
            "stepWeightPromotion" => Some("KULTA promotes in one step after the last one"),
            "sessionAffinity" => Some("KULTA has no cookie-based session affinity"),
            _ => None,
        });
    }
    source.skip("provider");
    notes.drop_unread(&source, &spec_at, |key| match key {
        "autoscalerRef" => Some(
            "KULTA scales its own ReplicaSets; point the HorizontalPodAutoscaler at the Rollout (it has the scale subresource)",
        ),
        "skipAnalysis" => Some("KULTA always runs the analysis; promote with `kulta promote --full`"),
        "revertOnDeletion" => Some("KULTA does not restore the Deployment when the Rollout is deleted"),
        "suspend" => Some("pause a KULTA rollout with `kulta pause`"),
        "ingressRef" | "upstreamRef" | "routeRef" => {
            Some("KULTA routes traffic through a Gateway API HTTPRoute only")
        }
        _ => None,
    });
    notes.drop_unread(&root, &Vec::new(), |_| None);
    put(&mut rollout, "spec", Value::Mapping(spec));
    documents.push(Value::Mapping(rollout));
    Converted {
        source: document.who(),
        documents,
        notes,
    }
}

/// `{key: value}`.
fn single(key: &str, value: Value) -> Value {
    let mut map = Mapping::new();
    put(&mut map, key, value);
    Value::Mapping(map)
}

fn route_ref(route: &str) -> Value {
    single("gatewayAPI", single("httpRoute", Value::from(route)))
}

fn mode(analysis: &Obj<'_>, at: &OutPath, notes: &mut Notes) -> Mode {
    let iterations = analysis.int("iterations");
    let has_match = !analysis.list("match").is_empty();
    if let Some(iterations) = iterations {
        analysis.skip("maxWeight");
        analysis.skip("stepWeight");
        analysis.skip("stepWeights");
        return if has_match {
            Mode::HeaderTest(iterations)
        } else {
            Mode::BlueGreen(iterations)
        };
    }
    let weights: Vec<i64> = analysis
        .list("stepWeights")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let max = analysis.int("maxWeight").unwrap_or(100).clamp(1, 100);
    let step = analysis.int("stepWeight");
    if !weights.is_empty() {
        analysis.skip("maxWeight");
        analysis.skip("stepWeight");
        return Mode::Canary(weights);
    }
    match step {
        Some(step) if step > 0 => {
            let mut weights = Vec::new();
            let mut weight = step;
            while weight < max {
                weights.push(weight);
                weight += step;
            }
            weights.push(max);
            Mode::Canary(weights)
        }
        _ => {
            notes.drop(at, "spec.analysis", "no stepWeight, stepWeights or iterations; the canary goes to maxWeight in one step");
            Mode::Canary(vec![max])
        }
    }
}

/// The first `match` entry's headers (all must match); Flagger's other entries are
/// alternatives, which KULTA's one header rule cannot express.
fn header_matches(analysis: &Obj<'_>, at: &OutPath, notes: &mut Notes) -> Vec<Value> {
    let entries = analysis.list("match");
    let mut out = Vec::new();
    for (position, entry) in entries.iter().enumerate() {
        let path = format!("spec.analysis.match[{position}]");
        if position > 0 {
            notes.drop(at, path, "KULTA's header route is one set of headers that must all match; Flagger's further match entries are alternatives");
            continue;
        }
        let entry = Obj::new(entry, path);
        if let Some(headers) = entry.obj("headers") {
            for (header, _) in headers.unread() {
                let name = header.rsplit('.').next().unwrap_or_default().to_string();
                let Some(rule) = headers.obj(&name) else {
                    continue;
                };
                let value = if let Some(exact) = rule.text("exact") {
                    Some(("exact", exact.to_string()))
                } else if let Some(regex) = rule.text("regex") {
                    Some(("regex", regex.to_string()))
                } else {
                    rule.text("prefix")
                        .map(|prefix| ("regex", format!("^{prefix}")))
                };
                match value {
                    Some((how, text)) => {
                        let mut header = Mapping::new();
                        put(&mut header, "headerName", Value::from(name));
                        put(&mut header, "headerValue", single(how, Value::from(text)));
                        out.push(Value::Mapping(header));
                    }
                    None => notes.drop(
                        at,
                        rule.path.clone(),
                        "a header match needs an exact, regex or prefix value",
                    ),
                }
                notes.drop_unread(&rule, at, |_| None);
            }
        }
        notes.drop_unread(&entry, at, |_| {
            Some("KULTA's header route matches headers only")
        });
    }
    out
}

/// The analysis metrics, with the Prometheus address they share.
#[allow(clippy::too_many_arguments)]
fn metrics(
    analysis: &Obj<'_>,
    interval: &str,
    namespace: Option<&str>,
    target: &str,
    service: &str,
    index: &Index<'_>,
    at: &OutPath,
    notes: &mut Notes,
) -> Option<(String, Vec<Value>)> {
    let mut address: Option<String> = None;
    let mut converted = Vec::new();
    for (position, metric) in analysis.list("metrics").iter().enumerate() {
        let metric = Obj::new(metric, format!("spec.analysis.metrics[{position}]"));
        let metric_name = metric.text("name").unwrap_or("metric").to_string();
        let refuse = |notes: &mut Notes, reason: String| {
            notes.drop(
                at,
                metric.path.clone(),
                format!("metric {metric_name}: {reason}"),
            );
        };
        let range = metric.obj("thresholdRange");
        let min = range
            .as_ref()
            .and_then(|r| r.get("min"))
            .and_then(Value::as_f64);
        let max = range
            .as_ref()
            .and_then(|r| r.get("max"))
            .and_then(Value::as_f64);
        let window = metric.text("interval").unwrap_or(interval).to_string();
        let Some(reference) = metric.obj("templateRef") else {
            metric.skip("query");
            metric.skip("templateVariables");
            let reason = match metric_name.as_str() {
                "request-success-rate" | "request-duration" => format!(
                    "Flagger's built-in {metric_name} is a query its mesh provider defines; write it as a MetricTemplate (or a KULTA metric) and convert again"
                ),
                _ => "a metric without templateRef uses Flagger's --metrics-server; move its query to a MetricTemplate".into(),
            };
            refuse(notes, reason);
            continue;
        };
        if min.is_none() && max.is_none() {
            refuse(
                notes,
                "it has no thresholdRange; KULTA needs a range".into(),
            );
            continue;
        }
        let template_name = reference.text("name").unwrap_or_default();
        let template_namespace = reference.text("namespace").or(namespace);
        let Some(template) = index.find(
            "flagger.app",
            "MetricTemplate",
            template_namespace,
            template_name,
            true,
        ) else {
            refuse(
                notes,
                format!(
                    "MetricTemplate {template_name} is not in the files given to kulta convert; add it to convert this metric"
                ),
            );
            continue;
        };
        let who = template.who();
        let spec = Obj::new(&template.value["spec"], "spec");
        let provider = spec.obj("provider");
        let kind = provider
            .as_ref()
            .and_then(|p| p.text("type"))
            .unwrap_or("prometheus");
        if kind != "prometheus" {
            refuse(
                notes,
                format!("{who} queries {kind}; KULTA measures with Prometheus only"),
            );
            continue;
        }
        let Some(template_address) = provider.as_ref().and_then(|p| p.text("address")) else {
            refuse(notes, format!("{who} names no Prometheus address"));
            continue;
        };
        let variables = metric.obj("templateVariables");
        let query = spec.text("query").unwrap_or_default();
        let query = match substitute(query, |variable| match variable {
            "namespace" => Some("{{namespace}}".to_string()),
            "name" => Some("{{name}}".to_string()),
            "target" => Some(target.to_string()),
            "service" => Some(service.to_string()),
            "interval" => Some(window.clone()),
            other => other.strip_prefix("variables.").and_then(|key| {
                variables.as_ref()?.get(key).and_then(|v| match v {
                    Value::String(text) => Some(text.clone()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                })
            }),
        }) {
            Ok(query) => query,
            Err(variable) => {
                refuse(
                    notes,
                    format!("{who} uses {{{{ {variable} }}}}, which has no value here"),
                );
                continue;
            }
        };
        if let Some(provider) = &provider {
            notes.drop_unread(provider, at, |key| match key {
                "secretRef" => Some("KULTA authenticates to Prometheus with the operator's token (kulta run --prometheus-token-file)"),
                "insecureSkipVerify" => Some("KULTA verifies Prometheus's certificate"),
                _ => None,
            });
        }
        match &address {
            Some(shared) if shared != template_address => {
                refuse(
                    notes,
                    format!(
                        "it queries {template_address}; a KULTA analysis queries one Prometheus ({shared})"
                    ),
                );
                continue;
            }
            _ => address = Some(template_address.to_string()),
        }
        let mut out = Mapping::new();
        put(&mut out, "name", Value::from(metric_name.clone()));
        put(&mut out, "query", Value::from(query));
        let mut threshold = Mapping::new();
        if let Some(min) = min {
            put(&mut threshold, "min", Value::from(min));
        }
        if let Some(max) = max {
            put(&mut threshold, "max", Value::from(max));
        }
        put(&mut out, "thresholdRange", Value::Mapping(threshold));
        converted.push(Value::Mapping(out));
        notes.drop_unread(&metric, at, |_| None);
    }
    Some((address?, converted))
}

/// Replace Flagger's `{{ variable }}` placeholders; the error names one with no value.
fn substitute(text: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        let variable = rest[open + 2..open + close].trim();
        out.push_str(&rest[..open]);
        out.push_str(&value(variable).ok_or_else(|| variable.to_string())?);
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The Services (and HTTPRoute) Flagger generated from `spec.service`, as objects the user
/// now owns.
#[allow(clippy::too_many_arguments)]
fn generated(
    service: &Obj<'_>,
    roles: &[String],
    route_name: &str,
    namespace: Option<&str>,
    selector: &Value,
    with_route: bool,
    at: &OutPath,
    notes: &mut Notes,
) -> Vec<Value> {
    service.skip("name");
    let Some(port) = service.int("port") else {
        notes.drop(
            at,
            "spec.service",
            "it names no port, so no Service could be written",
        );
        return Vec::new();
    };
    let target_port = service
        .get("targetPort")
        .cloned()
        .unwrap_or(Value::from(port));
    let port_name = service.text("portName").unwrap_or("http").to_string();
    let meta = |name: &str| {
        let mut meta = Mapping::new();
        put(&mut meta, "name", Value::from(name));
        if let Some(namespace) = namespace {
            put(&mut meta, "namespace", Value::from(namespace));
        }
        Value::Mapping(meta)
    };
    let mut documents = Vec::new();
    for role in roles {
        let mut port_spec = Mapping::new();
        put(&mut port_spec, "name", Value::from(port_name.clone()));
        put(&mut port_spec, "port", Value::from(port));
        put(&mut port_spec, "targetPort", target_port.clone());
        let mut spec = Mapping::new();
        put(&mut spec, "selector", selector.clone());
        put(
            &mut spec,
            "ports",
            Value::Sequence(vec![Value::Mapping(port_spec)]),
        );
        let mut object = Mapping::new();
        put(&mut object, "apiVersion", Value::from("v1"));
        put(&mut object, "kind", Value::from("Service"));
        put(&mut object, "metadata", meta(role));
        put(&mut object, "spec", Value::Mapping(spec));
        documents.push(Value::Mapping(object));
    }
    if with_route {
        let mut spec = Mapping::new();
        let parents: Vec<Value> = service.list("gatewayRefs").to_vec();
        put(&mut spec, "parentRefs", Value::Sequence(parents));
        let hosts = service.list("hosts");
        if !hosts.is_empty() {
            put(&mut spec, "hostnames", Value::Sequence(hosts.to_vec()));
        }
        let backend = |name: &String, weight: i64| {
            let mut backend = Mapping::new();
            put(&mut backend, "name", Value::from(name.clone()));
            put(&mut backend, "port", Value::from(port));
            put(&mut backend, "weight", Value::from(weight));
            Value::Mapping(backend)
        };
        let backends = vec![backend(&roles[0], 100), backend(&roles[1], 0)];
        put(
            &mut spec,
            "rules",
            Value::Sequence(vec![single("backendRefs", Value::Sequence(backends))]),
        );
        let mut object = Mapping::new();
        put(
            &mut object,
            "apiVersion",
            Value::from("gateway.networking.k8s.io/v1"),
        );
        put(&mut object, "kind", Value::from("HTTPRoute"));
        put(&mut object, "metadata", meta(route_name));
        put(&mut object, "spec", Value::Mapping(spec));
        documents.push(Value::Mapping(object));
    }
    notes.drop_unread(service, at, |key| match key {
        "portDiscovery" | "appProtocol" => Some("the generated Services carry one port"),
        _ => Some("KULTA does not generate routing configuration beyond the Services and the HTTPRoute's backends"),
    });
    documents
}
