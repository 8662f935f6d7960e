//! Turning a [`RolloutSpec`] into a [`Plan`]: every check and every parse happens here, once,
//! so the strategies work on values that are known to be good.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::duration::{DurationError, DurationString};
use crate::spec::{AnalysisSpec, CanaryStep, HeaderRoute, MetricSpec, RolloutSpec};

/// Why a spec cannot be acted on. Each message starts with the field's path.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum SpecError {
    /// A count that must be positive is not.
    #[error("{field}: must be at least {min}, got {value}")]
    TooSmall {
        /// Field path.
        field: String,
        /// Smallest allowed.
        min: i64,
        /// Value given.
        value: i64,
    },
    /// A percentage outside 0..=100.
    #[error("{field}: {value} is outside 0..=100")]
    Percent {
        /// Field path.
        field: String,
        /// Value given.
        value: i64,
    },
    /// Zero or several strategies.
    #[error("spec.strategy: exactly one of canary, blueGreen, simple is required, got {0}")]
    StrategyCount(usize),
    /// A list that must not be empty is.
    #[error("{0}: must not be empty")]
    Empty(String),
    /// A field required by another.
    #[error("{field}: required {because}")]
    Required {
        /// Field path.
        field: String,
        /// Why it is required.
        because: &'static str,
    },
    /// A duration that cannot be read.
    #[error("{field}: {source}")]
    Duration {
        /// Field path.
        field: String,
        /// What is wrong.
        source: DurationError,
    },
    /// A threshold range that no value satisfies.
    #[error("{field}: min {min} is greater than max {max}")]
    ThresholdRange {
        /// Field path.
        field: String,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// A threshold that is not a number.
    #[error("{field}: bound is not a finite number")]
    ThresholdNotFinite {
        /// Field path.
        field: String,
    },
    /// A name used twice.
    #[error("{field}: {name:?} is used twice")]
    Duplicate {
        /// Field path.
        field: String,
        /// The repeated name.
        name: String,
    },
    /// Two fields that must differ are equal.
    #[error("{field}: must differ from {other}")]
    SameAs {
        /// Field path.
        field: String,
        /// The field it equals.
        other: &'static str,
    },
    /// An int-or-string that is neither a count nor a percentage.
    #[error("{field}: {value:?} is neither an integer nor a percentage like 25%")]
    IntOrPercent {
        /// Field path.
        field: String,
        /// Value given.
        value: String,
    },
    /// Surge and unavailability both zero: nothing could ever move.
    #[error("spec.strategy.simple: maxSurge and maxUnavailable cannot both be 0")]
    NoRoomToMove,
    /// The selector does not select the template's pods.
    #[error("spec.selector: does not match spec.template.metadata.labels")]
    SelectorMismatch,
    /// A setHeaderRoute step without traffic routing.
    #[error("{0}: setHeaderRoute needs spec.strategy.canary.trafficRouting")]
    HeaderRouteWithoutRouting(String),
    /// A `startingStep` beyond the steps.
    #[error("spec.strategy.canary.analysis.startingStep: {value} is beyond the {steps} steps")]
    StartingStep {
        /// Value given.
        value: i32,
        /// Number of steps.
        steps: usize,
    },
}

/// A checked spec, with durations parsed and defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Desired pods.
    pub replicas: i32,
    /// Old ReplicaSets kept.
    pub revision_history_limit: usize,
    /// How long a wait for pods may last.
    pub progress_deadline: TimeDelta,
    /// The strategy.
    pub strategy: StrategyPlan,
}

/// The one strategy of a checked spec.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyPlan {
    /// Canary.
    Canary(CanaryPlan),
    /// Blue-green.
    BlueGreen(BlueGreenPlan),
    /// Simple rolling update.
    Simple(SimplePlan),
}

/// A checked canary strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryPlan {
    /// Stable Service.
    pub stable_service: Option<String>,
    /// Canary Service.
    pub canary_service: Option<String>,
    /// Traffic routing, when configured.
    pub routing: Option<RoutingPlan>,
    /// Steps.
    pub steps: Vec<StepPlan>,
    /// Background analysis and the step it starts at.
    pub analysis: Option<(usize, AnalysisPlan)>,
    /// Scale stable down as traffic leaves it.
    pub dynamic_stable_scale: bool,
}

/// Traffic routing through an HTTPRoute, with both Services known.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingPlan {
    /// Route name.
    pub route: String,
    /// Route namespace override.
    pub namespace: Option<String>,
    /// Stable Service.
    pub stable_service: String,
    /// Canary Service.
    pub canary_service: String,
}

/// A checked canary step.
#[derive(Clone, Debug, PartialEq)]
pub enum StepPlan {
    /// Move traffic to this weight.
    SetWeight(i32),
    /// Pause, for a while or until promoted.
    Pause(Option<TimeDelta>),
    /// Add, replace or (with no matches) remove the header rule.
    SetHeaderRoute(HeaderRoute),
    /// Run a gating analysis.
    Analysis(AnalysisPlan),
}

/// A checked blue-green strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct BlueGreenPlan {
    /// Active Service.
    pub active_service: String,
    /// Preview Service.
    pub preview_service: Option<String>,
    /// Promote automatically.
    pub auto_promotion_enabled: bool,
    /// Delay before automatic promotion.
    pub auto_promotion_delay: TimeDelta,
    /// Old revision kept up this long after the switch.
    pub scale_down_delay: TimeDelta,
    /// Preview pods.
    pub preview_replicas: i32,
    /// Gate before promotion.
    pub pre_promotion_analysis: Option<AnalysisPlan>,
    /// Gate after promotion.
    pub post_promotion_analysis: Option<AnalysisPlan>,
}

/// A checked simple strategy, with surge and unavailability resolved to pod counts.
#[derive(Clone, Debug, PartialEq)]
pub struct SimplePlan {
    /// Extra pods allowed.
    pub max_surge: i32,
    /// Missing pods allowed.
    pub max_unavailable: i32,
    /// Background analysis.
    pub analysis: Option<AnalysisPlan>,
}

/// A checked analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisPlan {
    /// Time between rounds.
    pub interval: TimeDelta,
    /// Consecutive failures tolerated.
    pub failure_limit: u32,
    /// Consecutive inconclusives tolerated.
    pub inconclusive_limit: u32,
    /// Successes needed to pass a gate.
    pub count: u32,
    /// Prometheus base URL.
    pub address: String,
    /// Metrics.
    pub metrics: Vec<MetricSpec>,
}

/// Check a spec and resolve it into a [`Plan`].
pub fn validate(spec: &RolloutSpec) -> Result<Plan, SpecError> {
    at_least("spec.replicas", spec.replicas, 1)?;
    at_least("spec.revisionHistoryLimit", spec.revision_history_limit, 0)?;
    at_least(
        "spec.progressDeadlineSeconds",
        spec.progress_deadline_seconds,
        1,
    )?;
    let has_containers = spec
        .template
        .spec
        .as_ref()
        .is_some_and(|pod| !pod.containers.is_empty());
    if !has_containers {
        return Err(SpecError::Empty("spec.template.spec.containers".into()));
    }
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|meta| meta.labels.clone())
        .unwrap_or_default();
    if !selector_matches(&spec.selector, &labels) {
        return Err(SpecError::SelectorMismatch);
    }
    let strategy = &spec.strategy;
    let count = [
        strategy.canary.is_some(),
        strategy.blue_green.is_some(),
        strategy.simple.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count();
    let strategy = match (&strategy.canary, &strategy.blue_green, &strategy.simple) {
        (Some(canary), None, None) => StrategyPlan::Canary(canary_plan(canary)?),
        (None, Some(blue_green), None) => {
            StrategyPlan::BlueGreen(blue_green_plan(blue_green, spec.replicas)?)
        }
        (None, None, Some(simple)) => StrategyPlan::Simple(simple_plan(simple, spec.replicas)?),
        _ => return Err(SpecError::StrategyCount(count)),
    };
    Ok(Plan {
        replicas: spec.replicas,
        revision_history_limit: usize::try_from(spec.revision_history_limit).unwrap_or(0),
        progress_deadline: TimeDelta::seconds(i64::from(spec.progress_deadline_seconds)),
        strategy,
    })
}

fn canary_plan(canary: &crate::spec::CanaryStrategy) -> Result<CanaryPlan, SpecError> {
    const AT: &str = "spec.strategy.canary";
    if canary.steps.is_empty() {
        return Err(SpecError::Empty(format!("{AT}.steps")));
    }
    let routing = match &canary.traffic_routing {
        None => None,
        Some(routing) => {
            let gateway = &routing.gateway_api;
            non_empty(
                &format!("{AT}.trafficRouting.gatewayAPI.httpRoute"),
                &gateway.http_route,
            )?;
            let because = "when trafficRouting is set";
            let stable_service = canary.stable_service.clone().ok_or(SpecError::Required {
                field: format!("{AT}.stableService"),
                because,
            })?;
            let canary_service = canary.canary_service.clone().ok_or(SpecError::Required {
                field: format!("{AT}.canaryService"),
                because,
            })?;
            Some(RoutingPlan {
                route: gateway.http_route.clone(),
                namespace: gateway.namespace.clone(),
                stable_service,
                canary_service,
            })
        }
    };
    if canary.dynamic_stable_scale && routing.is_none() {
        return Err(SpecError::Required {
            field: format!("{AT}.trafficRouting"),
            because: "when dynamicStableScale is true",
        });
    }
    if let Some(stable) = &canary.stable_service {
        non_empty(&format!("{AT}.stableService"), stable)?;
    }
    if let Some(canary_service) = &canary.canary_service {
        non_empty(&format!("{AT}.canaryService"), canary_service)?;
        if canary.stable_service.as_ref() == Some(canary_service) {
            return Err(SpecError::SameAs {
                field: format!("{AT}.canaryService"),
                other: "stableService",
            });
        }
    }
    let steps = canary
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let field = format!("{AT}.steps[{index}]");
            Ok(match step {
                CanaryStep::SetWeight(weight) => {
                    percent(&format!("{field}.setWeight"), i64::from(*weight))?;
                    StepPlan::SetWeight(*weight)
                }
                CanaryStep::Pause(pause) => StepPlan::Pause(
                    pause
                        .duration
                        .as_ref()
                        .map(|d| duration(&format!("{field}.pause.duration"), d))
                        .transpose()?,
                ),
                CanaryStep::SetHeaderRoute(route) => {
                    if routing.is_none() {
                        return Err(SpecError::HeaderRouteWithoutRouting(field));
                    }
                    non_empty(&format!("{field}.setHeaderRoute.name"), &route.name)?;
                    for (m, header) in route.matches.iter().enumerate() {
                        non_empty(
                            &format!("{field}.setHeaderRoute.match[{m}].headerName"),
                            &header.header_name,
                        )?;
                    }
                    StepPlan::SetHeaderRoute(route.clone())
                }
                CanaryStep::Analysis(analysis) => {
                    StepPlan::Analysis(analysis_plan(&format!("{field}.analysis"), analysis)?)
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let analysis = match &canary.analysis {
        None => None,
        Some(analysis) => {
            let plan = analysis_plan(&format!("{AT}.analysis"), analysis)?;
            let start = analysis.starting_step.unwrap_or(0);
            at_least(&format!("{AT}.analysis.startingStep"), start, 0)?;
            let start_index = usize::try_from(start).unwrap_or(0);
            if start_index > steps.len() {
                return Err(SpecError::StartingStep {
                    value: start,
                    steps: steps.len(),
                });
            }
            Some((start_index, plan))
        }
    };
    Ok(CanaryPlan {
        stable_service: canary.stable_service.clone(),
        canary_service: canary.canary_service.clone(),
        dynamic_stable_scale: canary.dynamic_stable_scale,
        routing,
        steps,
        analysis,
    })
}

fn blue_green_plan(
    blue_green: &crate::spec::BlueGreenStrategy,
    replicas: i32,
) -> Result<BlueGreenPlan, SpecError> {
    const AT: &str = "spec.strategy.blueGreen";
    non_empty(&format!("{AT}.activeService"), &blue_green.active_service)?;
    if let Some(preview) = &blue_green.preview_service {
        non_empty(&format!("{AT}.previewService"), preview)?;
        if *preview == blue_green.active_service {
            return Err(SpecError::SameAs {
                field: format!("{AT}.previewService"),
                other: "activeService",
            });
        }
    }
    let auto_seconds = blue_green.auto_promotion_seconds.unwrap_or(0);
    at_least(&format!("{AT}.autoPromotionSeconds"), auto_seconds, 0)?;
    at_least(
        &format!("{AT}.scaleDownDelaySeconds"),
        blue_green.scale_down_delay_seconds,
        0,
    )?;
    let preview_replicas = blue_green.preview_replica_count.unwrap_or(replicas);
    at_least(&format!("{AT}.previewReplicaCount"), preview_replicas, 1)?;
    let gate = |name: &str, analysis: &Option<AnalysisSpec>| {
        analysis
            .as_ref()
            .map(|a| analysis_plan(&format!("{AT}.{name}"), a))
            .transpose()
    };
    Ok(BlueGreenPlan {
        active_service: blue_green.active_service.clone(),
        preview_service: blue_green.preview_service.clone(),
        auto_promotion_enabled: blue_green.auto_promotion_enabled,
        auto_promotion_delay: TimeDelta::seconds(i64::from(auto_seconds)),
        scale_down_delay: TimeDelta::seconds(i64::from(blue_green.scale_down_delay_seconds)),
        preview_replicas: preview_replicas.min(replicas),
        pre_promotion_analysis: gate("prePromotionAnalysis", &blue_green.pre_promotion_analysis)?,
        post_promotion_analysis: gate(
            "postPromotionAnalysis",
            &blue_green.post_promotion_analysis,
        )?,
    })
}

fn simple_plan(
    simple: &crate::spec::SimpleStrategy,
    replicas: i32,
) -> Result<SimplePlan, SpecError> {
    const AT: &str = "spec.strategy.simple";
    let quarter = IntOrString::String("25%".into());
    // As a Deployment does: surge rounds up, unavailability rounds down.
    let max_surge = scaled(
        &format!("{AT}.maxSurge"),
        simple.max_surge.as_ref().unwrap_or(&quarter),
        replicas,
        true,
    )?;
    let max_unavailable = scaled(
        &format!("{AT}.maxUnavailable"),
        simple.max_unavailable.as_ref().unwrap_or(&quarter),
        replicas,
        false,
    )?;
    if max_surge == 0 && max_unavailable == 0 {
        return Err(SpecError::NoRoomToMove);
    }
    Ok(SimplePlan {
        max_surge,
        max_unavailable,
        analysis: simple
            .analysis
            .as_ref()
            .map(|a| analysis_plan(&format!("{AT}.analysis"), a))
            .transpose()?,
    })
}

fn analysis_plan(field: &str, analysis: &AnalysisSpec) -> Result<AnalysisPlan, SpecError> {
    let interval = duration(&format!("{field}.interval"), &analysis.interval)?;
    if interval <= TimeDelta::zero() {
        return Err(SpecError::TooSmall {
            field: format!("{field}.interval"),
            min: 1,
            value: interval.num_seconds(),
        });
    }
    at_least(&format!("{field}.failureLimit"), analysis.failure_limit, 0)?;
    at_least(
        &format!("{field}.inconclusiveLimit"),
        analysis.inconclusive_limit,
        0,
    )?;
    at_least(&format!("{field}.count"), analysis.count, 1)?;
    non_empty(
        &format!("{field}.prometheus.address"),
        &analysis.prometheus.address,
    )?;
    if analysis.metrics.is_empty() {
        return Err(SpecError::Empty(format!("{field}.metrics")));
    }
    let mut names = BTreeSet::new();
    for (index, metric) in analysis.metrics.iter().enumerate() {
        let at = format!("{field}.metrics[{index}]");
        non_empty(&format!("{at}.name"), &metric.name)?;
        non_empty(&format!("{at}.query"), &metric.query)?;
        if !names.insert(metric.name.as_str()) {
            return Err(SpecError::Duplicate {
                field: format!("{at}.name"),
                name: metric.name.clone(),
            });
        }
        let range = metric.threshold_range;
        let bounds = [range.min, range.max];
        if bounds.iter().flatten().any(|bound| !bound.is_finite()) {
            return Err(SpecError::ThresholdNotFinite {
                field: format!("{at}.thresholdRange"),
            });
        }
        match (range.min, range.max) {
            (None, None) => {
                return Err(SpecError::Required {
                    field: format!("{at}.thresholdRange"),
                    because: "with a min or a max",
                });
            }
            (Some(min), Some(max)) if min > max => {
                return Err(SpecError::ThresholdRange {
                    field: format!("{at}.thresholdRange"),
                    min,
                    max,
                });
            }
            _ => {}
        }
    }
    Ok(AnalysisPlan {
        interval,
        failure_limit: u32::try_from(analysis.failure_limit).unwrap_or(0),
        inconclusive_limit: u32::try_from(analysis.inconclusive_limit).unwrap_or(0),
        count: u32::try_from(analysis.count).unwrap_or(1),
        address: analysis.prometheus.address.clone(),
        metrics: analysis.metrics.clone(),
    })
}

fn at_least(field: &str, value: i32, min: i32) -> Result<(), SpecError> {
    if value < min {
        return Err(SpecError::TooSmall {
            field: field.to_string(),
            min: i64::from(min),
            value: i64::from(value),
        });
    }
    Ok(())
}

fn percent(field: &str, value: i64) -> Result<(), SpecError> {
    if !(0..=100).contains(&value) {
        return Err(SpecError::Percent {
            field: field.to_string(),
            value,
        });
    }
    Ok(())
}

fn non_empty(field: &str, value: &str) -> Result<(), SpecError> {
    if value.trim().is_empty() {
        return Err(SpecError::Empty(field.to_string()));
    }
    Ok(())
}

fn duration(field: &str, value: &DurationString) -> Result<TimeDelta, SpecError> {
    value.parse().map_err(|source| SpecError::Duration {
        field: field.to_string(),
        source,
    })
}

/// An int-or-percent as a pod count out of `total`.
fn scaled(field: &str, value: &IntOrString, total: i32, round_up: bool) -> Result<i32, SpecError> {
    match value {
        IntOrString::Int(count) => {
            at_least(field, *count, 0)?;
            Ok(*count)
        }
        IntOrString::String(text) => {
            let bad = || SpecError::IntOrPercent {
                field: field.to_string(),
                value: text.clone(),
            };
            let number = text.strip_suffix('%').ok_or_else(bad)?;
            let pct: i64 = number.trim().parse().map_err(|_| bad())?;
            percent(field, pct)?;
            let scaled = i64::from(total) * pct;
            let count = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            Ok(i32::try_from(count).unwrap_or(i32::MAX))
        }
    }
}

/// Whether a label selector selects pods carrying `labels`.
pub(crate) fn selector_matches(
    selector: &LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let match_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let match_expressions = selector.match_expressions.iter().flatten().all(|expr| {
        let values = expr.values.as_deref().unwrap_or_default();
        let value = labels.get(&expr.key);
        match expr.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    match_labels && match_expressions
}

/// A label selector in the string form of the scale subresource (`a=b,c in (d)`).
pub(crate) fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or_default().join(",");
        parts.push(match expr.operator.as_str() {
            "In" => format!("{} in ({values})", expr.key),
            "NotIn" => format!("{} notin ({values})", expr.key),
            "DoesNotExist" => format!("!{}", expr.key),
            _ => expr.key.clone(),
        });
    }
    parts.join(",")
}
