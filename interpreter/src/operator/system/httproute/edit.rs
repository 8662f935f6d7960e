//! Translating a user-owned Gateway API `HTTPRoute`: what `step` observes of it, and the edits
//! of its managed parts (SPEC.md §3). No IO here.
//!
//! KULTA changes only the weights of the backends that name the stable and canary Services,
//! and adds, replaces or removes one rule of its own (named `kulta-<header route>`) for header
//! routing. Every other rule, filter, match and backend is left as the user wrote it, and no
//! rule is ever written with all of its backend weights at zero.

use gateway_api::httproutes::{
    HttpRoute, HttpRouteRules, HttpRouteRulesBackendRefs, HttpRouteRulesMatches,
    HttpRouteRulesMatchesHeaders, HttpRouteRulesMatchesHeadersType,
};
use kulta::spec::{HeaderMatch, HeaderRoute, HeaderValueMatch};
use kulta::{BackendWeight, HeaderRouteRule, ObservedBackend, ObservedHttpRoute};

/// Prefix of the name of the rule KULTA owns.
pub const OWNED_RULE_PREFIX: &str = "kulta-";

/// Why a route cannot carry the weights.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No rule references the stable Service.
    #[error("HTTPRoute {route} has no backendRef naming the stable Service {service}")]
    NoStableBackend {
        /// Route name.
        route: String,
        /// The stable Service.
        service: String,
    },
}

fn is_owned(rule: &HttpRouteRules) -> bool {
    rule.name
        .as_deref()
        .is_some_and(|name| name.starts_with(OWNED_RULE_PREFIX))
}

fn names(backend: &HttpRouteRulesBackendRefs, service: &str) -> bool {
    backend.name == service && backend.kind.as_deref().is_none_or(|kind| kind == "Service")
}

/// What the core needs to know of a route: the weights of the stable and canary backends in
/// the user's rules, and KULTA's header rule if present.
pub fn observe(route: &HttpRoute, stable: &str, canary: &str) -> ObservedHttpRoute {
    let mut backends = Vec::new();
    let mut header_route = None;
    for rule in route.spec.rules.iter().flatten() {
        if is_owned(rule) {
            header_route = Some(header_route_of(rule));
            continue;
        }
        for backend in rule.backend_refs.iter().flatten() {
            if names(backend, stable) || names(backend, canary) {
                backends.push(ObservedBackend {
                    service: backend.name.clone(),
                    // Gateway API: an unset weight is 1.
                    weight: backend.weight.unwrap_or(1),
                });
            }
        }
    }
    ObservedHttpRoute {
        backends,
        header_route,
    }
}

fn header_route_of(rule: &HttpRouteRules) -> HeaderRoute {
    let name = rule
        .name
        .as_deref()
        .and_then(|n| n.strip_prefix(OWNED_RULE_PREFIX))
        .unwrap_or_default()
        .to_string();
    let matches = rule
        .matches
        .iter()
        .flatten()
        .next()
        .and_then(|m| m.headers.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|header| HeaderMatch {
            header_name: header.name,
            header_value: match header.r#type {
                Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => {
                    HeaderValueMatch::Regex(header.value)
                }
                _ => HeaderValueMatch::Exact(header.value),
            },
        })
        .collect();
    HeaderRoute { name, matches }
}

/// Set the stable and canary weights in every user rule that names either Service. A rule
/// that names the stable Service but not the canary gets a canary backend beside it; a rule
/// whose weights would all be zero is left as it is.
pub fn set_weights(
    route: &mut HttpRoute,
    stable: &BackendWeight,
    canary: &BackendWeight,
) -> Result<(), RouteError> {
    let route_name = route.metadata.name.clone().unwrap_or_default();
    let mut found_stable = false;
    for rule in route.spec.rules.iter_mut().flatten() {
        if is_owned(rule) {
            continue;
        }
        let Some(backends) = rule.backend_refs.as_mut() else {
            continue;
        };
        let has_stable = backends.iter().any(|b| names(b, &stable.service));
        let has_canary = backends.iter().any(|b| names(b, &canary.service));
        if !has_stable && !has_canary {
            continue;
        }
        found_stable |= has_stable;
        let mut updated = backends.clone();
        if has_stable
            && !has_canary
            && let Some(template) = updated.iter().find(|b| names(b, &stable.service)).cloned()
        {
            updated.push(HttpRouteRulesBackendRefs {
                name: canary.service.clone(),
                ..template
            });
        }
        for backend in &mut updated {
            if names(backend, &stable.service) {
                backend.weight = Some(stable.weight);
            } else if names(backend, &canary.service) {
                backend.weight = Some(canary.weight);
            }
        }
        let total: i32 = updated.iter().map(|b| b.weight.unwrap_or(1).max(0)).sum();
        if total > 0 {
            *backends = updated;
        }
    }
    if !found_stable {
        return Err(RouteError::NoStableBackend {
            route: route_name,
            service: stable.service.clone(),
        });
    }
    Ok(())
}

/// Put KULTA's header rule on the route (replacing its previous one), or remove it. The rule
/// copies the matches of the first user rule naming the canary's stable side, adding the
/// header conditions, so that it is at least as specific as the rule it overrides.
pub fn set_header_rule(route: &mut HttpRoute, rule: Option<&HeaderRouteRule>, stable: &str) {
    let rules = route.spec.rules.get_or_insert_with(Vec::new);
    rules.retain(|r| !is_owned(r));
    let Some(rule) = rule else {
        return;
    };
    let base = rules
        .iter()
        .find(|r| r.backend_refs.iter().flatten().any(|b| names(b, stable)))
        .cloned();
    let headers: Vec<HttpRouteRulesMatchesHeaders> = rule
        .route
        .matches
        .iter()
        .map(|m| {
            let (r#type, value) = match &m.header_value {
                HeaderValueMatch::Exact(value) => (HttpRouteRulesMatchesHeadersType::Exact, value),
                HeaderValueMatch::Regex(value) => {
                    (HttpRouteRulesMatchesHeadersType::RegularExpression, value)
                }
            };
            HttpRouteRulesMatchesHeaders {
                name: m.header_name.clone(),
                r#type: Some(r#type),
                value: value.clone(),
            }
        })
        .collect();
    let base_matches = base
        .as_ref()
        .and_then(|b| b.matches.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| vec![HttpRouteRulesMatches::default()]);
    let matches = base_matches
        .into_iter()
        .map(|mut m| {
            let mut all = m.headers.take().unwrap_or_default();
            all.extend(headers.iter().cloned());
            m.headers = Some(all);
            m
        })
        .collect();
    let template = base
        .as_ref()
        .and_then(|b| {
            b.backend_refs
                .iter()
                .flatten()
                .find(|backend| names(backend, stable))
                .cloned()
        })
        .unwrap_or_else(|| HttpRouteRulesBackendRefs {
            name: rule.service.clone(),
            ..HttpRouteRulesBackendRefs::default()
        });
    rules.push(HttpRouteRules {
        name: Some(format!("{OWNED_RULE_PREFIX}{}", rule.route.name)),
        matches: Some(matches),
        backend_refs: Some(vec![HttpRouteRulesBackendRefs {
            name: rule.service.clone(),
            weight: Some(1),
            ..template
        }]),
        ..HttpRouteRules::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route() -> HttpRoute {
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-from", "value": "gw"}]}}],
                 "backendRefs": [{"name": "web-stable", "port": 80}, {"name": "web-canary", "port": 80, "weight": 0}, {"name": "mirror", "port": 80, "weight": 0}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
                 "backendRefs": [{"name": "cdn", "port": 80}]}
            ]}
        }))
        .unwrap()
    }

    fn weight(service: &str, weight: i32) -> BackendWeight {
        BackendWeight {
            service: service.into(),
            weight,
        }
    }

    fn header_rule() -> HeaderRouteRule {
        HeaderRouteRule {
            route: HeaderRoute {
                name: "beta".into(),
                matches: vec![HeaderMatch {
                    header_name: "X-Beta".into(),
                    header_value: HeaderValueMatch::Exact("1".into()),
                }],
            },
            service: "web-canary".into(),
        }
    }

    #[test]
    fn only_the_stable_and_canary_weights_change() {
        let mut edited = route();
        set_weights(
            &mut edited,
            &weight("web-stable", 80),
            &weight("web-canary", 20),
        )
        .unwrap();
        let before = serde_json::to_value(route()).unwrap();
        let after = serde_json::to_value(&edited).unwrap();
        assert_eq!(after["spec"]["rules"][0]["backendRefs"][0]["weight"], 80);
        assert_eq!(after["spec"]["rules"][0]["backendRefs"][1]["weight"], 20);
        let mut restored = after.clone();
        restored["spec"]["rules"][0]["backendRefs"][0]
            .as_object_mut()
            .unwrap()
            .remove("weight");
        restored["spec"]["rules"][0]["backendRefs"][1]["weight"] = json!(0);
        assert_eq!(restored, before, "nothing else changed");
        let observed = observe(&edited, "web-stable", "web-canary");
        assert_eq!(observed.weight_of("web-stable"), Some(80));
        assert_eq!(observed.weight_of("web-canary"), Some(20));
    }

    #[test]
    fn a_rule_naming_only_stable_gets_a_canary_backend_beside_it() {
        let mut edited: HttpRoute = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
            "spec": {"rules": [{"backendRefs": [{"name": "web-stable", "port": 8080}]}]}
        }))
        .unwrap();
        set_weights(
            &mut edited,
            &weight("web-stable", 90),
            &weight("web-canary", 10),
        )
        .unwrap();
        let backends = edited.spec.rules.unwrap()[0].backend_refs.clone().unwrap();
        assert_eq!(backends[1].name, "web-canary");
        assert_eq!(
            (backends[1].port, backends[1].weight),
            (Some(8080), Some(10))
        );
    }

    #[test]
    fn a_route_without_the_stable_service_is_an_error() {
        let mut edited = route();
        let error =
            set_weights(&mut edited, &weight("other", 100), &weight("web-canary", 0)).unwrap_err();
        assert!(
            error.to_string().contains("stable Service other"),
            "{error}"
        );
    }

    #[test]
    fn no_rule_is_written_with_all_weights_zero() {
        let mut edited: HttpRoute = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
            "spec": {"rules": [
                {"backendRefs": [{"name": "web-stable"}, {"name": "web-canary"}]},
                {"backendRefs": [{"name": "web-canary", "weight": 5}]}
            ]}
        }))
        .unwrap();
        set_weights(
            &mut edited,
            &weight("web-stable", 100),
            &weight("web-canary", 0),
        )
        .unwrap();
        let rules = edited.spec.rules.unwrap();
        assert_eq!(
            rules[1].backend_refs.as_ref().unwrap()[0].weight,
            Some(5),
            "left as it was"
        );
    }

    #[test]
    fn the_header_rule_copies_the_matches_it_overrides_and_reads_back() {
        let mut edited = route();
        set_header_rule(&mut edited, Some(&header_rule()), "web-stable");
        let rules = edited.spec.rules.clone().unwrap();
        assert_eq!(rules.len(), 3);
        let owned = &rules[2];
        assert_eq!(owned.name.as_deref(), Some("kulta-beta"));
        let matched = &owned.matches.as_ref().unwrap()[0];
        assert_eq!(
            matched.path.as_ref().unwrap().value.as_deref(),
            Some("/api")
        );
        assert_eq!(matched.headers.as_ref().unwrap()[0].name, "X-Beta");
        assert_eq!(owned.backend_refs.as_ref().unwrap()[0].name, "web-canary");
        let observed = observe(&edited, "web-stable", "web-canary");
        assert_eq!(observed.header_route, Some(header_rule().route));
        assert_eq!(
            observed.backends.len(),
            2,
            "the owned rule is not a weighted backend"
        );
        set_header_rule(&mut edited, None, "web-stable");
        assert_eq!(
            serde_json::to_value(&edited).unwrap(),
            serde_json::to_value(route()).unwrap()
        );
    }
}
