//! Fixtures: builders with a fixed start time.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kulta::effect::{CdEventKind, Effect, MeasurementKey};
use kulta::sim::{Sim, World};
use kulta::spec::{
    AnalysisSpec, BlueGreenStrategy, CanaryStep, CanaryStrategy, GatewayApiRouting, HeaderMatch,
    HeaderRoute, HeaderValueMatch, MetricSpec, PauseStep, PrometheusProvider, SimpleStrategy,
    Strategy, ThresholdRange, TrafficRouting,
};
use kulta::status::Phase;
use kulta::{ControlRequest, MetricValue, RequestAction, RolloutRef, RolloutSpec};

/// The fixed start of every test.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// `t0` plus some seconds.
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(seconds)
}

pub fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

pub fn rollout_ref() -> RolloutRef {
    RolloutRef {
        name: "web".into(),
        namespace: "shop".into(),
        uid: "0b5e4c1a-0000-4000-8000-000000000001".into(),
        generation: 1,
    }
}

pub const STABLE_SVC: &str = "web-stable";
pub const CANARY_SVC: &str = "web-canary";
pub const ACTIVE_SVC: &str = "web-active";
pub const PREVIEW_SVC: &str = "web-preview";
pub const ROUTE: &str = "web-route";

/// A Rollout spec under construction.
#[derive(Clone, Debug)]
pub struct Spec(pub RolloutSpec);

impl Spec {
    fn base(strategy: Strategy) -> Self {
        Spec(RolloutSpec {
            replicas: 4,
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                match_expressions: None,
            },
            template: template("registry.example.com/shop/web:1"),
            workload_ref: None,
            revision_history_limit: 2,
            progress_deadline_seconds: 600,
            strategy,
        })
    }

    /// Canary over an HTTPRoute with these steps.
    pub fn canary(steps: Vec<CanaryStep>) -> Self {
        Self::base(Strategy {
            canary: Some(CanaryStrategy {
                stable_service: Some(STABLE_SVC.into()),
                canary_service: Some(CANARY_SVC.into()),
                traffic_routing: Some(TrafficRouting {
                    gateway_api: GatewayApiRouting {
                        http_route: ROUTE.into(),
                        namespace: None,
                    },
                }),
                steps,
                analysis: None,
                dynamic_stable_scale: false,
                scale_down_delay_seconds: 30,
                abort_scale_down_delay_seconds: 30,
            }),
            ..Default::default()
        })
    }

    /// Canary whose weights are approximated by replica counts.
    pub fn canary_without_routing(steps: Vec<CanaryStep>) -> Self {
        let mut spec = Self::canary(steps);
        if let Some(canary) = spec.0.strategy.canary.as_mut() {
            canary.traffic_routing = None;
        }
        spec
    }

    pub fn blue_green() -> Self {
        Self::base(Strategy {
            blue_green: Some(BlueGreenStrategy {
                active_service: ACTIVE_SVC.into(),
                preview_service: Some(PREVIEW_SVC.into()),
                auto_promotion_enabled: true,
                auto_promotion_seconds: None,
                scale_down_delay_seconds: 30,
                abort_scale_down_delay_seconds: 30,
                preview_replica_count: None,
                pre_promotion_analysis: None,
                post_promotion_analysis: None,
            }),
            ..Default::default()
        })
    }

    pub fn simple() -> Self {
        Self::base(Strategy {
            simple: Some(SimpleStrategy::default()),
            ..Default::default()
        })
    }

    pub fn replicas(mut self, replicas: i32) -> Self {
        self.0.replicas = replicas;
        self
    }

    pub fn progress_deadline(mut self, seconds: i32) -> Self {
        self.0.progress_deadline_seconds = seconds;
        self
    }

    pub fn dynamic_stable_scale(mut self) -> Self {
        if let Some(canary) = self.0.strategy.canary.as_mut() {
            canary.dynamic_stable_scale = true;
        }
        self
    }

    pub fn background_analysis(mut self, analysis: AnalysisSpec) -> Self {
        if let Some(canary) = self.0.strategy.canary.as_mut() {
            canary.analysis = Some(analysis);
        } else if let Some(simple) = self.0.strategy.simple.as_mut() {
            simple.analysis = Some(analysis);
        }
        self
    }

    pub fn blue_green_with(mut self, edit: impl FnOnce(&mut BlueGreenStrategy)) -> Self {
        if let Some(blue_green) = self.0.strategy.blue_green.as_mut() {
            edit(blue_green);
        }
        self
    }

    pub fn build(self) -> RolloutSpec {
        self.0
    }
}

pub fn set_weight(weight: i32) -> CanaryStep {
    CanaryStep::SetWeight(weight)
}

pub fn pause() -> CanaryStep {
    CanaryStep::Pause(PauseStep { duration: None })
}

pub fn pause_for(duration: &str) -> CanaryStep {
    CanaryStep::Pause(PauseStep {
        duration: Some(kulta::duration::DurationString::new(duration)),
    })
}

pub fn header_route(name: &str, header: &str, value: &str) -> CanaryStep {
    CanaryStep::SetHeaderRoute(HeaderRoute {
        name: name.into(),
        matches: vec![HeaderMatch {
            header_name: header.into(),
            header_value: HeaderValueMatch::Exact(value.into()),
        }],
    })
}

pub fn remove_header_route(name: &str) -> CanaryStep {
    CanaryStep::SetHeaderRoute(HeaderRoute {
        name: name.into(),
        matches: Vec::new(),
    })
}

/// An error-rate analysis: success at or below `max`.
pub fn error_rate(max: f64) -> AnalysisSpec {
    AnalysisSpec {
        interval: kulta::duration::DurationString::new("30s"),
        failure_limit: 1,
        inconclusive_limit: 1,
        count: 2,
        starting_step: None,
        prometheus: PrometheusProvider {
            address: "http://prometheus:9090".into(),
        },
        metrics: vec![MetricSpec {
            name: "error-rate".into(),
            query: "sum(rate(http_errors{rollout=\"{{name}}\",rev=\"{{revision}}\"}[1m]))".into(),
            threshold_range: ThresholdRange {
                min: None,
                max: Some(max),
            },
            initial_delay: None,
        }],
    }
}

pub fn analysis_step(analysis: AnalysisSpec) -> CanaryStep {
    CanaryStep::Analysis(analysis)
}

/// A world matching the spec's Services and route, with metrics from `metrics`.
pub fn world(
    spec: &RolloutSpec,
    metrics: impl FnMut(&MeasurementKey, DateTime<Utc>) -> MetricValue + 'static,
) -> World {
    let mut services = Vec::new();
    let mut route = None;
    if let Some(canary) = &spec.strategy.canary {
        services.extend(canary.stable_service.as_deref());
        services.extend(canary.canary_service.as_deref());
        if canary.traffic_routing.is_some() {
            route = Some(vec![STABLE_SVC, CANARY_SVC]);
        }
    }
    if let Some(blue_green) = &spec.strategy.blue_green {
        services.push(blue_green.active_service.as_str());
        services.extend(blue_green.preview_service.as_deref());
    }
    World::new(t0(), rollout_ref(), &services, route.as_deref(), metrics)
}

/// Metrics that are always healthy.
pub fn healthy(_: &MeasurementKey, _: DateTime<Utc>) -> MetricValue {
    MetricValue::Sample(0.0)
}

/// A simulation whose first revision (`:1`) is deployed and ready.
pub fn deployed(spec: RolloutSpec) -> Sim {
    deployed_with(spec, healthy)
}

pub fn deployed_with(
    spec: RolloutSpec,
    metrics: impl FnMut(&MeasurementKey, DateTime<Utc>) -> MetricValue + 'static,
) -> Sim {
    let world = world(&spec, metrics);
    let mut sim = Sim::new(spec, world);
    sim.run_for(60);
    assert_eq!(sim.status.phase, Some(Phase::Completed));
    sim
}

/// Ship image `:2`.
pub fn ship_v2(sim: &mut Sim) {
    sim.edit(|spec| spec.template = template("registry.example.com/shop/web:2"));
}

pub fn revision_of(image: &str) -> String {
    kulta::pod_template_hash(&template(image))
}

pub fn v1() -> String {
    revision_of("registry.example.com/shop/web:1")
}

pub fn v2() -> String {
    revision_of("registry.example.com/shop/web:2")
}

pub fn request(action: RequestAction, token: &str) -> ControlRequest {
    ControlRequest {
        action,
        token: token.into(),
        revision: None,
    }
}

/// The CDEvent kinds emitted so far, in order.
pub fn cdevent_kinds(sim: &Sim) -> Vec<CdEventKind> {
    sim.effects()
        .filter_map(|effect| match effect {
            Effect::EmitCdEvent(event) => Some(event.kind),
            _ => None,
        })
        .collect()
}

/// The route weights over time as (stable, canary), deduplicated.
pub fn weight_history(sim: &Sim) -> Vec<(i32, i32)> {
    let mut history: Vec<(i32, i32)> = Vec::new();
    for effect in sim.effects() {
        if let Effect::SetRouteWeights { stable, canary, .. } = effect {
            let pair = (stable.weight, canary.weight);
            if history.last() != Some(&pair) {
                history.push(pair);
            }
        }
    }
    history
}

/// Reasons of the Kubernetes Events recorded so far.
pub fn event_reasons(sim: &Sim) -> Vec<String> {
    sim.effects()
        .filter_map(|effect| match effect {
            Effect::RecordEvent(event) => Some(event.reason.clone()),
            _ => None,
        })
        .collect()
}
