//! Argo Rollouts `Rollout` (argoproj.io/v1alpha1) → KULTA `Rollout`.

use serde_yaml_ng::{Mapping, Value};

use super::argo_analysis::{self, Use, duration_text, step_path};
use super::emit::{OutPath, Seg, keys};
use super::source::{Notes, Obj};
use super::{Converted, Index, Workload, put, rollout_head, workload};
use crate::cli::manifest::Document;

/// The Gateway API plugin of Argo Rollouts.
const GATEWAY_PLUGIN: &str = "argoproj-labs/gatewayAPI";

/// Convert one Argo Rollout.
pub fn convert(document: &Document, index: &Index<'_>) -> Converted {
    let mut notes = Notes::default();
    let namespace = document.namespace();
    let root = Obj::new(&document.value, "");
    let mut rollout = rollout_head(&root, &mut notes);
    let spec_at = keys(&["spec"]);
    let mut spec = Mapping::new();
    let source = Obj::new(&Value::Null, "spec");
    let source = root.obj("spec").unwrap_or(source);
    if let Some(replicas) = source.get("replicas") {
        put(&mut spec, "replicas", replicas.clone());
    }
    let from_deployment = source.obj("workloadRef");
    match from_deployment {
        Some(reference) => {
            if let Some(selector) = source.get("selector") {
                put(&mut spec, "selector", selector.clone());
            }
            workload(
                &mut spec,
                &reference,
                namespace,
                Workload::ArgoWorkloadRef,
                index,
                &spec_at,
                &mut notes,
            );
        }
        None => {
            for key in ["selector", "template"] {
                if let Some(value) = source.get(key) {
                    put(&mut spec, key, value.clone());
                }
            }
        }
    }
    for key in ["revisionHistoryLimit", "progressDeadlineSeconds"] {
        if let Some(value) = source.get(key) {
            put(&mut spec, key, value.clone());
        }
    }
    let strategy_at = keys(&["spec", "strategy"]);
    let mut strategy = Mapping::new();
    if let Some(source_strategy) = source.obj("strategy") {
        if let Some(canary) = source_strategy.obj("canary") {
            let (name, converted) = convert_canary(&canary, namespace, index, &mut notes);
            put(&mut strategy, name, Value::Mapping(converted));
        }
        if let Some(blue_green) = source_strategy.obj("blueGreen") {
            let converted = convert_blue_green(&blue_green, namespace, index, &mut notes);
            put(&mut strategy, "blueGreen", Value::Mapping(converted));
        }
        notes.drop_unread(&source_strategy, &strategy_at, |_| None);
    }
    put(&mut spec, "strategy", Value::Mapping(strategy));
    notes.drop_unread(&source, &spec_at, |key| match key {
        "minReadySeconds" => Some("KULTA counts a pod as available when it is ready"),
        "paused" => Some("pause a KULTA rollout with `kulta pause`"),
        "progressDeadlineAbort" => {
            Some("KULTA always rolls back when the progress deadline passes")
        }
        "restartAt" => Some("KULTA does not restart pods on a schedule"),
        "rollbackWindow" => Some("KULTA rolls back to the stable revision only"),
        "analysis" => Some("KULTA keeps no AnalysisRun history"),
        _ => None,
    });
    notes.drop_unread(&root, &Vec::new(), |_| None);
    put(&mut rollout, "spec", Value::Mapping(spec));
    Converted {
        source: document.who(),
        documents: vec![Value::Mapping(rollout)],
        notes,
    }
}

/// The canary strategy; a canary without steps becomes `simple`, as Argo Rollouts then does a
/// rolling update.
fn convert_canary(
    canary: &Obj<'_>,
    namespace: Option<&str>,
    index: &Index<'_>,
    notes: &mut Notes,
) -> (&'static str, Mapping) {
    let steps = canary.list("steps");
    if steps.is_empty() {
        let at = keys(&["spec", "strategy", "simple"]);
        let mut simple = Mapping::new();
        for key in ["maxSurge", "maxUnavailable"] {
            if let Some(value) = canary.get(key) {
                put(&mut simple, key, value.clone());
            }
        }
        if let Some(analysis) = canary.obj("analysis") {
            analysis.skip("startingStep");
            let analysis_at = keys(&["spec", "strategy", "simple", "analysis"]);
            if let Some(converted) = argo_analysis::convert(
                &analysis,
                namespace,
                Use::Background,
                &analysis_at,
                index,
                notes,
            ) {
                put(&mut simple, "analysis", Value::Mapping(converted));
            }
        }
        notes.drop(
            &at,
            canary.at("steps"),
            "a canary without steps is a rolling update in Argo Rollouts; it became strategy.simple",
        );
        notes.drop_unread(canary, &at, canary_reason);
        return ("simple", simple);
    }
    let at = keys(&["spec", "strategy", "canary"]);
    let mut out = Mapping::new();
    for key in ["stableService", "canaryService"] {
        if let Some(value) = canary.get(key) {
            put(&mut out, key, value.clone());
        }
    }
    let routed = match canary.obj("trafficRouting") {
        Some(routing) => {
            let converted = traffic_routing(&routing, &at, notes);
            let routed = converted.is_some();
            if let Some(converted) = converted {
                put(&mut out, "trafficRouting", Value::Mapping(converted));
            }
            routed
        }
        None => false,
    };
    let steps_at = {
        let mut path = at.clone();
        path.push(Seg::Key("steps".into()));
        path
    };
    let mut converted_steps = Vec::new();
    // Where each Argo step landed among the KULTA steps (for `startingStep`).
    let mut landed = Vec::new();
    for (position, step) in steps.iter().enumerate() {
        landed.push(converted_steps.len());
        let step = Obj::new(step, format!("{}[{position}]", canary.at("steps")));
        let here = step_path(&steps_at, converted_steps.len());
        if let Some(converted) = convert_step(&step, routed, namespace, &here, index, notes) {
            converted_steps.push(Value::Mapping(converted));
        }
    }
    if let Some(analysis) = canary.obj("analysis") {
        let analysis_at = {
            let mut path = at.clone();
            path.push(Seg::Key("analysis".into()));
            path
        };
        let starting = analysis.int("startingStep");
        if let Some(mut converted) = argo_analysis::convert(
            &analysis,
            namespace,
            Use::Background,
            &analysis_at,
            index,
            notes,
        ) {
            if let Some(starting) = starting.filter(|s| *s > 0) {
                let start = usize::try_from(starting)
                    .ok()
                    .and_then(|s| landed.get(s).copied())
                    .unwrap_or(converted_steps.len());
                put(&mut converted, "startingStep", Value::from(start as u64));
            }
            put(&mut out, "analysis", Value::Mapping(converted));
        } else {
            notes.drop(
                &at,
                analysis.path.clone(),
                "no metric of the background analysis could be carried over",
            );
        }
    }
    if converted_steps.is_empty() {
        notes.drop(
            &at,
            canary.at("steps"),
            "no step could be carried over; the canary goes to 100% at once",
        );
        let mut full = Mapping::new();
        put(&mut full, "setWeight", Value::from(100));
        converted_steps.push(Value::Mapping(full));
    }
    put(&mut out, "steps", Value::Sequence(converted_steps));
    for key in [
        "dynamicStableScale",
        "scaleDownDelaySeconds",
        "abortScaleDownDelaySeconds",
    ] {
        if let Some(value) = canary.get(key) {
            put(&mut out, key, value.clone());
        }
    }
    notes.drop_unread(canary, &at, canary_reason);
    ("canary", out)
}

fn canary_reason(key: &str) -> Option<&'static str> {
    match key {
        "maxSurge" | "maxUnavailable" => Some(
            "a KULTA canary sizes the canary from the step's weight (ceil(replicas × weight / 100))",
        ),
        "antiAffinity" => Some("KULTA does not spread canary pods away from stable ones"),
        "canaryMetadata" | "stableMetadata" => {
            Some("KULTA adds no per-role labels or annotations to pods")
        }
        "minPodsPerReplicaSet" => Some("KULTA runs at least one canary pod for any weight above 0"),
        "scaleDownDelayRevisionLimit" => {
            Some("KULTA scales every older revision down after scaleDownDelaySeconds")
        }
        "pingPong" => Some("KULTA uses a stable and a canary Service, not ping-pong Services"),
        "replicaProgressThreshold" => Some("KULTA waits for every pod a step asks for"),
        _ => None,
    }
}

/// The Gateway API plugin's route; any other router is dropped (weights then follow replica
/// counts).
fn traffic_routing(routing: &Obj<'_>, at: &OutPath, notes: &mut Notes) -> Option<Mapping> {
    let mut converted = None;
    if let Some(plugins) = routing.obj("plugins") {
        if let Some(gateway) = plugins.obj(GATEWAY_PLUGIN) {
            let route = gateway.text("httpRoute").map(str::to_string).or_else(|| {
                let routes = gateway.list("httpRoutes");
                let first = routes.first()?.get("name")?.as_str()?.to_string();
                if routes.len() > 1 {
                    notes.drop(
                        at,
                        gateway.at("httpRoutes"),
                        format!("KULTA edits one HTTPRoute; kept the first, {first}"),
                    );
                }
                Some(first)
            });
            if let Some(route) = route {
                let mut api = Mapping::new();
                put(&mut api, "httpRoute", Value::from(route));
                if let Some(namespace) = gateway.text("namespace") {
                    put(&mut api, "namespace", Value::from(namespace));
                }
                let mut out = Mapping::new();
                put(&mut out, "gatewayAPI", Value::Mapping(api));
                converted = Some(out);
            }
            gateway.skip("useHeaderRoutes");
            notes.drop_unread(&gateway, at, |key| match key {
                "grpcRoute" | "grpcRoutes" | "tcpRoute" | "tcpRoutes" => {
                    Some("KULTA shifts HTTPRoute traffic only")
                }
                "configMap" => Some("KULTA keeps no route state in a ConfigMap"),
                _ => None,
            });
        }
        notes.drop_unread(&plugins, at, |_| {
            Some("KULTA routes traffic through a Gateway API HTTPRoute only")
        });
    }
    // Argo needs the header routes declared; KULTA owns its one header rule without that.
    routing.skip("managedRoutes");
    notes.drop_unread(routing, at, |key| match key {
        "maxTrafficWeight" => Some("KULTA weights are percentages"),
        _ => Some(
            "KULTA routes traffic through a Gateway API HTTPRoute only (Argo's argoproj-labs/gatewayAPI plugin); without it, canary weights follow replica counts",
        ),
    });
    converted
}

fn convert_step(
    step: &Obj<'_>,
    routed: bool,
    namespace: Option<&str>,
    at: &OutPath,
    index: &Index<'_>,
    notes: &mut Notes,
) -> Option<Mapping> {
    let mut out = Mapping::new();
    if let Some(weight) = step.get("setWeight") {
        put(&mut out, "setWeight", weight.clone());
    } else if let Some(pause) = step.read("pause", |value| {
        (value.is_mapping() || value.is_null()).then(|| Obj::new(value, step.at("pause")))
    }) {
        let mut converted = Mapping::new();
        if let Some(duration) = pause.read("duration", duration_text) {
            put(&mut converted, "duration", Value::from(duration));
        }
        notes.drop_unread(&pause, at, |_| None);
        put(&mut out, "pause", Value::Mapping(converted));
    } else if let Some(route) = step.obj("setHeaderRoute") {
        if !routed {
            notes.drop(
                at,
                step.path.clone(),
                "a header route needs trafficRouting through a Gateway API HTTPRoute",
            );
            return None;
        }
        let mut converted = Mapping::new();
        put(
            &mut converted,
            "name",
            Value::from(route.text("name").unwrap_or("header-route")),
        );
        let mut matches = Vec::new();
        for (position, rule) in route.list("match").iter().enumerate() {
            let rule = Obj::new(rule, format!("{}[{position}]", route.at("match")));
            let name = rule.text("headerName");
            let value = rule.obj("headerValue");
            let matched = value.as_ref().and_then(|value| {
                if let Some(exact) = value.text("exact") {
                    Some(("exact", exact.to_string()))
                } else if let Some(regex) = value.text("regex") {
                    Some(("regex", regex.to_string()))
                } else {
                    value
                        .text("prefix")
                        .map(|prefix| ("regex", format!("^{}", regex_escape(prefix))))
                }
            });
            match (name, matched) {
                (Some(name), Some((how, text))) => {
                    let mut header_value = Mapping::new();
                    put(&mut header_value, how, Value::from(text));
                    let mut header = Mapping::new();
                    put(&mut header, "headerName", Value::from(name));
                    put(&mut header, "headerValue", Value::Mapping(header_value));
                    matches.push(Value::Mapping(header));
                }
                _ => notes.drop(
                    at,
                    rule.path.clone(),
                    "a header match needs headerName and an exact, regex or prefix value",
                ),
            }
            if let Some(value) = &value {
                notes.drop_unread(value, at, |_| None);
            }
            notes.drop_unread(&rule, at, |_| None);
        }
        put(&mut converted, "match", Value::Sequence(matches));
        notes.drop_unread(&route, at, |_| None);
        put(&mut out, "setHeaderRoute", Value::Mapping(converted));
    } else if let Some(analysis) = step.obj("analysis") {
        let mut analysis_at = at.clone();
        analysis_at.push(Seg::Key("analysis".into()));
        match argo_analysis::convert(&analysis, namespace, Use::Gate, &analysis_at, index, notes) {
            Some(converted) => put(&mut out, "analysis", Value::Mapping(converted)),
            None => {
                notes.drop(
                    at,
                    step.path.clone(),
                    "no metric of this analysis step could be carried over",
                );
                return None;
            }
        }
    }
    notes.drop_unread(step, at, |key| match key {
        "experiment" => Some("KULTA runs no experiments"),
        "setCanaryScale" => Some("KULTA sizes the canary from the weight"),
        "setMirrorRoute" => Some("KULTA does not mirror traffic"),
        "plugin" => Some("KULTA has no step plugins"),
        _ => None,
    });
    if out.is_empty() { None } else { Some(out) }
}

/// `text` as a regular expression that matches it literally.
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn convert_blue_green(
    blue_green: &Obj<'_>,
    namespace: Option<&str>,
    index: &Index<'_>,
    notes: &mut Notes,
) -> Mapping {
    let at = keys(&["spec", "strategy", "blueGreen"]);
    let mut out = Mapping::new();
    for key in [
        "activeService",
        "previewService",
        "autoPromotionEnabled",
        "autoPromotionSeconds",
        "scaleDownDelaySeconds",
        "abortScaleDownDelaySeconds",
        "previewReplicaCount",
    ] {
        if let Some(value) = blue_green.get(key) {
            put(&mut out, key, value.clone());
        }
    }
    for key in ["prePromotionAnalysis", "postPromotionAnalysis"] {
        if let Some(analysis) = blue_green.obj(key) {
            let mut analysis_at = at.clone();
            analysis_at.push(Seg::Key(key.into()));
            match argo_analysis::convert(
                &analysis,
                namespace,
                Use::Gate,
                &analysis_at,
                index,
                notes,
            ) {
                Some(converted) => put(&mut out, key, Value::Mapping(converted)),
                None => notes.drop(
                    &at,
                    analysis.path.clone(),
                    "no metric of this analysis could be carried over",
                ),
            }
        }
    }
    notes.drop_unread(blue_green, &at, |key| match key {
        "antiAffinity" => Some("KULTA does not spread preview pods away from active ones"),
        "previewMetadata" | "activeMetadata" => {
            Some("KULTA adds no per-role labels or annotations to pods")
        }
        "scaleDownDelayRevisionLimit" => {
            Some("KULTA scales every older revision down after scaleDownDelaySeconds")
        }
        "maxUnavailable" => Some("KULTA switches the active Service in one write"),
        _ => None,
    });
    out
}
