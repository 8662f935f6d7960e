//! Turning a [`RolloutSpec`] into a [`Plan`]: every check and every parse happens here, once,
//! so the strategies work on values that are known to be good.

use std::fmt;

use chrono::TimeDelta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::duration::{DurationError, DurationString};
use crate::spec::{
    AnalysisSpec, CanaryStep, HeaderRoute, MetricSpec, RolloutSpec, is_unset_template,
};

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
    /// Both a template and a workloadRef.
    #[error("spec: template and workloadRef are both set; set exactly one")]
    TemplateOrWorkloadRef,
    /// The Deployment `workloadRef` names does not exist.
    #[error("spec.workloadRef: Deployment {namespace}/{name} was not found")]
    WorkloadNotFound {
        /// Deployment name.
        name: String,
        /// The Rollout's namespace.
        namespace: String,
    },
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

/// A checked spec, with durations parsed and defaults resolved. It borrows names, queries
/// and header rules from the spec rather than copying them: `step` builds one on every call.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan<'a> {
    /// Desired pods.
    pub replicas: i32,
    /// Old ReplicaSets kept.
    pub revision_history_limit: usize,
    /// How long a wait for pods may last.
    pub progress_deadline: TimeDelta,
    /// The strategy.
    pub strategy: StrategyPlan<'a>,
}

impl Plan<'_> {
    /// The Services the strategy names, in the order the spec gives them: these are what the
    /// interpreter observes as [`crate::Observations::services`].
    pub fn service_names(&self) -> Vec<&str> {
        match &self.strategy {
            StrategyPlan::Canary(canary) => canary
                .stable_service
                .into_iter()
                .chain(canary.canary_service)
                .collect(),
            StrategyPlan::BlueGreen(blue_green) => std::iter::once(blue_green.active_service)
                .chain(blue_green.preview_service)
                .collect(),
            StrategyPlan::Simple(_) => Vec::new(),
        }
    }

    /// The HTTPRoute traffic routing goes through, if any.
    pub fn routing(&self) -> Option<&RoutingPlan<'_>> {
        match &self.strategy {
            StrategyPlan::Canary(canary) => canary.routing.as_ref(),
            _ => None,
        }
    }
}

/// The one strategy of a checked spec.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyPlan<'a> {
    /// Canary.
    Canary(CanaryPlan<'a>),
    /// Blue-green.
    BlueGreen(BlueGreenPlan<'a>),
    /// Simple rolling update.
    Simple(SimplePlan<'a>),
}

/// A checked canary strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryPlan<'a> {
    /// Stable Service.
    pub stable_service: Option<&'a str>,
    /// Canary Service.
    pub canary_service: Option<&'a str>,
    /// Traffic routing, when configured.
    pub routing: Option<RoutingPlan<'a>>,
    /// Steps.
    pub steps: Vec<StepPlan<'a>>,
    /// Background analysis and the step it starts at.
    pub analysis: Option<(usize, AnalysisPlan<'a>)>,
    /// Scale stable down as traffic leaves it.
    pub dynamic_stable_scale: bool,
    /// Pods keep a share of traffic this long after the route is observed without it.
    pub scale_down_delay: TimeDelta,
    /// The same after a rollback.
    pub abort_scale_down_delay: TimeDelta,
}

/// Traffic routing through an HTTPRoute, with both Services known.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingPlan<'a> {
    /// Route name.
    pub route: &'a str,
    /// Route namespace override.
    pub namespace: Option<&'a str>,
    /// Stable Service.
    pub stable_service: &'a str,
    /// Canary Service.
    pub canary_service: &'a str,
}

/// A checked canary step.
#[derive(Clone, Debug, PartialEq)]
pub enum StepPlan<'a> {
    /// Move traffic to this weight.
    SetWeight(i32),
    /// Pause, for a while or until promoted.
    Pause(Option<TimeDelta>),
    /// Add, replace or (with no matches) remove the header rule.
    SetHeaderRoute(&'a HeaderRoute),
    /// Run a gating analysis.
    Analysis(AnalysisPlan<'a>),
}

/// A checked blue-green strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct BlueGreenPlan<'a> {
    /// Active Service.
    pub active_service: &'a str,
    /// Preview Service.
    pub preview_service: Option<&'a str>,
    /// Promote automatically.
    pub auto_promotion_enabled: bool,
    /// Delay before automatic promotion.
    pub auto_promotion_delay: TimeDelta,
    /// Old revision kept up this long after the switch.
    pub scale_down_delay: TimeDelta,
    /// The new revision kept up this long after a rollback switched away from it.
    pub abort_scale_down_delay: TimeDelta,
    /// Preview pods.
    pub preview_replicas: i32,
    /// Gate before promotion.
    pub pre_promotion_analysis: Option<AnalysisPlan<'a>>,
    /// Gate after promotion.
    pub post_promotion_analysis: Option<AnalysisPlan<'a>>,
}

/// A checked simple strategy, with surge and unavailability resolved to pod counts.
#[derive(Clone, Debug, PartialEq)]
pub struct SimplePlan<'a> {
    /// Extra pods allowed.
    pub max_surge: i32,
    /// Missing pods allowed.
    pub max_unavailable: i32,
    /// Background analysis.
    pub analysis: Option<AnalysisPlan<'a>>,
}

/// A checked analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisPlan<'a> {
    /// Time between rounds.
    pub interval: TimeDelta,
    /// Failures per metric tolerated over the run.
    pub failure_limit: u32,
    /// Inconclusive results per metric tolerated over the run.
    pub inconclusive_limit: u32,
    /// Successes needed to pass a gate.
    pub count: u32,
    /// Prometheus base URL.
    pub address: &'a str,
    /// Metrics.
    pub metrics: &'a [MetricSpec],
    /// Each metric's initial delay, by index.
    pub initial_delays: Vec<TimeDelta>,
}

/// The path of a spec field, formatted only when an error needs it.
#[derive(Clone, Copy)]
enum Field<'p> {
    Root(&'static str),
    Key(&'p Field<'p>, &'static str),
    Index(&'p Field<'p>, usize),
}

impl<'p> Field<'p> {
    fn key(&'p self, key: &'static str) -> Field<'p> {
        Field::Key(self, key)
    }

    fn index(&'p self, index: usize) -> Field<'p> {
        Field::Index(self, index)
    }
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Root(name) => f.write_str(name),
            Field::Key(parent, key) => write!(f, "{parent}.{key}"),
            Field::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// The template has containers and the selector selects its pods.
fn template(spec: &RolloutSpec) -> Result<(), SpecError> {
    let has_containers = spec
        .template
        .spec
        .as_ref()
        .is_some_and(|pod| !pod.containers.is_empty());
    if !has_containers {
        return Err(SpecError::Empty("spec.template.spec.containers".into()));
    }
    let no_labels = std::collections::BTreeMap::new();
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|meta| meta.labels.as_ref())
        .unwrap_or(&no_labels);
    if !selector_matches(&spec.selector, labels) {
        return Err(SpecError::SelectorMismatch);
    }
    Ok(())
}

/// Check a spec and resolve it into a [`Plan`].
pub fn validate(spec: &RolloutSpec) -> Result<Plan<'_>, SpecError> {
    let root = Field::Root("spec");
    // Zero is allowed, as for a Deployment: the rollout scales to nothing.
    at_least(&root.key("replicas"), spec.replicas, 0)?;
    at_least(
        &root.key("revisionHistoryLimit"),
        spec.revision_history_limit,
        0,
    )?;
    at_least(
        &root.key("progressDeadlineSeconds"),
        spec.progress_deadline_seconds,
        1,
    )?;
    match &spec.workload_ref {
        // The template is the Deployment's: `step` checks it once it is read.
        Some(reference) if is_unset_template(&spec.template) => {
            if reference.name.is_empty() {
                return Err(SpecError::Empty("spec.workloadRef.name".into()));
            }
        }
        Some(_) => return Err(SpecError::TemplateOrWorkloadRef),
        None => template(spec)?,
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
    let field = root.key("strategy");
    let strategy = match (&strategy.canary, &strategy.blue_green, &strategy.simple) {
        (Some(canary), None, None) => {
            StrategyPlan::Canary(canary_plan(&field.key("canary"), canary)?)
        }
        (None, Some(blue_green), None) => StrategyPlan::BlueGreen(blue_green_plan(
            &field.key("blueGreen"),
            blue_green,
            spec.replicas,
        )?),
        (None, None, Some(simple)) => {
            StrategyPlan::Simple(simple_plan(&field.key("simple"), simple, spec.replicas)?)
        }
        _ => return Err(SpecError::StrategyCount(count)),
    };
    Ok(Plan {
        replicas: spec.replicas,
        revision_history_limit: usize::try_from(spec.revision_history_limit).unwrap_or(0),
        progress_deadline: TimeDelta::seconds(i64::from(spec.progress_deadline_seconds)),
        strategy,
    })
}

fn canary_plan<'a>(
    at: &Field<'_>,
    canary: &'a crate::spec::CanaryStrategy,
) -> Result<CanaryPlan<'a>, SpecError> {
    if canary.steps.is_empty() {
        return Err(SpecError::Empty(at.key("steps").to_string()));
    }
    let routing = match &canary.traffic_routing {
        None => None,
        Some(routing) => {
            let gateway = &routing.gateway_api;
            let field = at.key("trafficRouting");
            let field = field.key("gatewayAPI");
            non_empty(&field.key("httpRoute"), &gateway.http_route)?;
            let because = "when trafficRouting is set";
            let stable_service =
                canary
                    .stable_service
                    .as_deref()
                    .ok_or_else(|| SpecError::Required {
                        field: at.key("stableService").to_string(),
                        because,
                    })?;
            let canary_service =
                canary
                    .canary_service
                    .as_deref()
                    .ok_or_else(|| SpecError::Required {
                        field: at.key("canaryService").to_string(),
                        because,
                    })?;
            Some(RoutingPlan {
                route: &gateway.http_route,
                namespace: gateway.namespace.as_deref(),
                stable_service,
                canary_service,
            })
        }
    };
    if canary.dynamic_stable_scale && routing.is_none() {
        return Err(SpecError::Required {
            field: at.key("trafficRouting").to_string(),
            because: "when dynamicStableScale is true",
        });
    }
    if let Some(stable) = &canary.stable_service {
        non_empty(&at.key("stableService"), stable)?;
    }
    if let Some(canary_service) = &canary.canary_service {
        non_empty(&at.key("canaryService"), canary_service)?;
        if canary.stable_service.as_ref() == Some(canary_service) {
            return Err(SpecError::SameAs {
                field: at.key("canaryService").to_string(),
                other: "stableService",
            });
        }
    }
    let steps_field = at.key("steps");
    let steps = canary
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let field = steps_field.index(index);
            Ok(match step {
                CanaryStep::SetWeight(weight) => {
                    percent(&field.key("setWeight"), i64::from(*weight))?;
                    StepPlan::SetWeight(*weight)
                }
                CanaryStep::Pause(pause) => {
                    let pause_field = field.key("pause");
                    StepPlan::Pause(
                        pause
                            .duration
                            .as_ref()
                            .map(|d| duration(&pause_field.key("duration"), d))
                            .transpose()?,
                    )
                }
                CanaryStep::SetHeaderRoute(route) => {
                    if routing.is_none() {
                        return Err(SpecError::HeaderRouteWithoutRouting(field.to_string()));
                    }
                    let route_field = field.key("setHeaderRoute");
                    non_empty(&route_field.key("name"), &route.name)?;
                    let matches = route_field.key("match");
                    for (m, header) in route.matches.iter().enumerate() {
                        non_empty(&matches.index(m).key("headerName"), &header.header_name)?;
                    }
                    StepPlan::SetHeaderRoute(route)
                }
                CanaryStep::Analysis(analysis) => {
                    StepPlan::Analysis(analysis_plan(&field.key("analysis"), analysis)?)
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let analysis = match &canary.analysis {
        None => None,
        Some(analysis) => {
            let field = at.key("analysis");
            let plan = analysis_plan(&field, analysis)?;
            let start = analysis.starting_step.unwrap_or(0);
            at_least(&field.key("startingStep"), start, 0)?;
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
    let scale_down_delay = delay_seconds(
        &at.key("scaleDownDelaySeconds"),
        canary.scale_down_delay_seconds,
    )?;
    let abort_scale_down_delay = delay_seconds(
        &at.key("abortScaleDownDelaySeconds"),
        canary.abort_scale_down_delay_seconds,
    )?;
    Ok(CanaryPlan {
        scale_down_delay,
        abort_scale_down_delay,
        stable_service: canary.stable_service.as_deref(),
        canary_service: canary.canary_service.as_deref(),
        dynamic_stable_scale: canary.dynamic_stable_scale,
        routing,
        steps,
        analysis,
    })
}

fn blue_green_plan<'a>(
    at: &Field<'_>,
    blue_green: &'a crate::spec::BlueGreenStrategy,
    replicas: i32,
) -> Result<BlueGreenPlan<'a>, SpecError> {
    non_empty(&at.key("activeService"), &blue_green.active_service)?;
    if let Some(preview) = &blue_green.preview_service {
        non_empty(&at.key("previewService"), preview)?;
        if *preview == blue_green.active_service {
            return Err(SpecError::SameAs {
                field: at.key("previewService").to_string(),
                other: "activeService",
            });
        }
    }
    let auto_seconds = blue_green.auto_promotion_seconds.unwrap_or(0);
    at_least(&at.key("autoPromotionSeconds"), auto_seconds, 0)?;
    let scale_down_delay = delay_seconds(
        &at.key("scaleDownDelaySeconds"),
        blue_green.scale_down_delay_seconds,
    )?;
    let abort_scale_down_delay = delay_seconds(
        &at.key("abortScaleDownDelaySeconds"),
        blue_green.abort_scale_down_delay_seconds,
    )?;
    let preview_replicas = match blue_green.preview_replica_count {
        Some(count) => {
            at_least(&at.key("previewReplicaCount"), count, 1)?;
            count
        }
        None => replicas,
    };
    let gate = |name: &'static str, analysis: &'a Option<AnalysisSpec>| {
        analysis
            .as_ref()
            .map(|a| analysis_plan(&at.key(name), a))
            .transpose()
    };
    Ok(BlueGreenPlan {
        active_service: &blue_green.active_service,
        preview_service: blue_green.preview_service.as_deref(),
        auto_promotion_enabled: blue_green.auto_promotion_enabled,
        auto_promotion_delay: TimeDelta::seconds(i64::from(auto_seconds)),
        scale_down_delay,
        abort_scale_down_delay,
        preview_replicas: preview_replicas.min(replicas),
        pre_promotion_analysis: gate("prePromotionAnalysis", &blue_green.pre_promotion_analysis)?,
        post_promotion_analysis: gate(
            "postPromotionAnalysis",
            &blue_green.post_promotion_analysis,
        )?,
    })
}

fn simple_plan<'a>(
    at: &Field<'_>,
    simple: &'a crate::spec::SimpleStrategy,
    replicas: i32,
) -> Result<SimplePlan<'a>, SpecError> {
    // As a Deployment does: surge rounds up, unavailability rounds down; 25% by default.
    let max_surge = match &simple.max_surge {
        Some(value) => scaled(&at.key("maxSurge"), value, replicas, true)?,
        None => quarter(replicas, true),
    };
    let max_unavailable = match &simple.max_unavailable {
        Some(value) => scaled(&at.key("maxUnavailable"), value, replicas, false)?,
        None => quarter(replicas, false),
    };
    if max_surge == 0 && max_unavailable == 0 && replicas > 0 {
        return Err(SpecError::NoRoomToMove);
    }
    Ok(SimplePlan {
        max_surge,
        max_unavailable,
        analysis: simple
            .analysis
            .as_ref()
            .map(|a| analysis_plan(&at.key("analysis"), a))
            .transpose()?,
    })
}

/// 25% of `total`, rounded as a Deployment rounds surge (up) or unavailability (down).
fn quarter(total: i32, round_up: bool) -> i32 {
    let scaled = i64::from(total) * 25;
    let count = if round_up {
        (scaled + 99) / 100
    } else {
        scaled / 100
    };
    i32::try_from(count).unwrap_or(i32::MAX)
}

fn analysis_plan<'a>(
    field: &Field<'_>,
    analysis: &'a AnalysisSpec,
) -> Result<AnalysisPlan<'a>, SpecError> {
    let interval_field = field.key("interval");
    let interval = duration(&interval_field, &analysis.interval)?;
    if interval <= TimeDelta::zero() {
        return Err(SpecError::TooSmall {
            field: interval_field.to_string(),
            min: 1,
            value: interval.num_seconds(),
        });
    }
    at_least(&field.key("failureLimit"), analysis.failure_limit, 0)?;
    at_least(
        &field.key("inconclusiveLimit"),
        analysis.inconclusive_limit,
        0,
    )?;
    at_least(&field.key("count"), analysis.count, 1)?;
    let prometheus = field.key("prometheus");
    non_empty(&prometheus.key("address"), &analysis.prometheus.address)?;
    let metrics_field = field.key("metrics");
    if analysis.metrics.is_empty() {
        return Err(SpecError::Empty(metrics_field.to_string()));
    }
    let mut initial_delays = Vec::with_capacity(analysis.metrics.len());
    for (index, metric) in analysis.metrics.iter().enumerate() {
        let at = metrics_field.index(index);
        initial_delays.push(match &metric.initial_delay {
            Some(delay) => duration(&at.key("initialDelay"), delay)?,
            None => TimeDelta::zero(),
        });
        non_empty(&at.key("name"), &metric.name)?;
        non_empty(&at.key("query"), &metric.query)?;
        if analysis.metrics[..index]
            .iter()
            .any(|m| m.name == metric.name)
        {
            return Err(SpecError::Duplicate {
                field: at.key("name").to_string(),
                name: metric.name.clone(),
            });
        }
        let range = metric.threshold_range;
        let range_field = at.key("thresholdRange");
        let bounds = [range.min, range.max];
        if bounds.iter().flatten().any(|bound| !bound.is_finite()) {
            return Err(SpecError::ThresholdNotFinite {
                field: range_field.to_string(),
            });
        }
        match (range.min, range.max) {
            (None, None) => {
                return Err(SpecError::Required {
                    field: range_field.to_string(),
                    because: "with a min or a max",
                });
            }
            (Some(min), Some(max)) if min > max => {
                return Err(SpecError::ThresholdRange {
                    field: range_field.to_string(),
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
        address: &analysis.prometheus.address,
        metrics: &analysis.metrics,
        initial_delays,
    })
}

/// A scale-down delay in whole seconds, zero or more.
fn delay_seconds(field: &Field<'_>, seconds: i32) -> Result<TimeDelta, SpecError> {
    at_least(field, seconds, 0)?;
    Ok(TimeDelta::seconds(i64::from(seconds)))
}

fn at_least(field: &Field<'_>, value: i32, min: i32) -> Result<(), SpecError> {
    if value < min {
        return Err(SpecError::TooSmall {
            field: field.to_string(),
            min: i64::from(min),
            value: i64::from(value),
        });
    }
    Ok(())
}

fn percent(field: &Field<'_>, value: i64) -> Result<(), SpecError> {
    if !(0..=100).contains(&value) {
        return Err(SpecError::Percent {
            field: field.to_string(),
            value,
        });
    }
    Ok(())
}

fn non_empty(field: &Field<'_>, value: &str) -> Result<(), SpecError> {
    if value.trim().is_empty() {
        return Err(SpecError::Empty(field.to_string()));
    }
    Ok(())
}

fn duration(field: &Field<'_>, value: &DurationString) -> Result<TimeDelta, SpecError> {
    value.parse().map_err(|source| SpecError::Duration {
        field: field.to_string(),
        source,
    })
}

/// An int-or-percent as a pod count out of `total`.
fn scaled(
    field: &Field<'_>,
    value: &IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, SpecError> {
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
pub fn selector_string(selector: &LabelSelector) -> String {
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
