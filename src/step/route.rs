//! The HTTPRoute as one concept in the core: what the managed parts of the route should carry,
//! and whether the observed route carries it. Both the canary's progress (a step counts only
//! once traffic really moved) and the effects (write only what differs) ask here.

use crate::effect::{BackendWeight, Effect, HeaderRouteRule, RouteRef};
use crate::observations::ObservedHttpRoute;
use crate::validate::RoutingPlan;

/// The managed parts of the HTTPRoute: the stable and canary backends' weights, and KULTA's
/// header rule.
#[derive(Debug)]
pub(crate) struct DesiredRoute {
    pub route: RouteRef,
    pub stable: BackendWeight,
    pub canary: BackendWeight,
    pub header: Option<HeaderRouteRule>,
}

impl DesiredRoute {
    /// The route of `routing` carrying canary `weight` (stable the rest) and `header`.
    pub fn new(
        routing: &RoutingPlan<'_>,
        rollout_namespace: &str,
        weight: i32,
        header: Option<&crate::spec::HeaderRoute>,
    ) -> Self {
        DesiredRoute {
            route: RouteRef {
                name: routing.route.to_string(),
                namespace: routing.namespace.unwrap_or(rollout_namespace).to_string(),
            },
            stable: BackendWeight {
                service: routing.stable_service.to_string(),
                weight: 100 - weight,
            },
            canary: BackendWeight {
                service: routing.canary_service.to_string(),
                weight,
            },
            header: header.map(|route| HeaderRouteRule {
                route: route.clone(),
                service: routing.canary_service.to_string(),
            }),
        }
    }

    /// The same parts, borrowed.
    fn parts(&self) -> RouteParts<'_> {
        RouteParts {
            stable_service: &self.stable.service,
            canary_service: &self.canary.service,
            canary_weight: self.canary.weight,
            header: self.header.as_ref().map(|rule| &rule.route),
        }
    }

    /// The writes that make the observed route carry it: each part only when it differs.
    pub fn effects(&self, observed: Option<&ObservedHttpRoute>) -> Vec<Effect> {
        let mut effects = Vec::new();
        let parts = self.parts();
        if !parts.weights_observed(observed) {
            effects.push(Effect::SetRouteWeights {
                route: self.route.clone(),
                stable: self.stable.clone(),
                canary: self.canary.clone(),
            });
        }
        if !parts.header_observed(observed) {
            effects.push(Effect::SetHeaderRoute {
                route: self.route.clone(),
                rule: self.header.clone(),
                stable_service: self.stable.service.clone(),
            });
        }
        effects
    }
}

/// The managed parts of the route, borrowed from the plan: what a check of the observed route
/// needs, with nothing to allocate.
pub(crate) struct RouteParts<'a> {
    pub stable_service: &'a str,
    pub canary_service: &'a str,
    pub canary_weight: i32,
    pub header: Option<&'a crate::spec::HeaderRoute>,
}

impl<'a> RouteParts<'a> {
    /// The route of `routing` carrying canary `weight` (stable the rest) and `header`.
    pub fn new(
        routing: &RoutingPlan<'a>,
        weight: i32,
        header: Option<&'a crate::spec::HeaderRoute>,
    ) -> Self {
        RouteParts {
            stable_service: routing.stable_service,
            canary_service: routing.canary_service,
            canary_weight: weight,
            header,
        }
    }

    /// Whether the observed route gives the two backends these weights.
    fn weights_observed(&self, observed: Option<&ObservedHttpRoute>) -> bool {
        observed.is_some_and(|route| {
            route.weight_of(self.stable_service) == Some(100 - self.canary_weight)
                && route.weight_of(self.canary_service) == Some(self.canary_weight)
        })
    }

    /// Whether the observed route has this header rule (or none, when none is wanted).
    fn header_observed(&self, observed: Option<&ObservedHttpRoute>) -> bool {
        observed.and_then(|route| route.header_route.as_ref()) == self.header
    }

    /// Whether the observed route carries all of it.
    pub fn observed(&self, observed: Option<&ObservedHttpRoute>) -> bool {
        self.weights_observed(observed) && self.header_observed(observed)
    }
}
