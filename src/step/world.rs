//! From the desired world to effects: compare with what was observed and emit only what
//! differs, in an order that keeps traffic safe (scale up, point Services, move traffic, then
//! scale down and clean up).

use crate::effect::{BackendWeight, Effect, HeaderRouteRule, RouteRef};
use crate::revision::replica_set_name;

use super::{Cx, Desired};

/// The managed parts of the HTTPRoute.
#[derive(Debug)]
pub(crate) struct DesiredRoute {
    pub route: RouteRef,
    pub stable: BackendWeight,
    pub canary: BackendWeight,
    pub header: Option<HeaderRouteRule>,
}

pub(crate) fn effects(cx: &Cx<'_>, desired: &Desired) -> Vec<Effect> {
    let obs = cx.obs;
    // A revision that a Service still selects, but is to stop selecting, keeps its pods until
    // the Service has moved: a failed selector write must never leave a Service with no pods.
    let pinned: Vec<&str> = desired
        .services
        .iter()
        .filter_map(|(service, revision)| {
            let current = obs
                .services
                .iter()
                .find(|s| &s.name == service)?
                .revision
                .as_deref()?;
            (current != revision).then_some(current)
        })
        .collect();
    let mut grow = Vec::new();
    let mut shrink = Vec::new();
    let wanted = |revision: &str| {
        desired
            .replica_sets
            .iter()
            .find(|(r, _)| r == revision)
            .map(|(_, n)| *n)
    };
    for (revision, replicas) in &desired.replica_sets {
        match obs.replica_sets.iter().find(|rs| &rs.revision == revision) {
            Some(rs) if rs.replicas < *replicas => grow.push(Effect::ScaleReplicaSet {
                name: rs.name.clone(),
                replicas: *replicas,
            }),
            Some(rs) if rs.replicas > *replicas && !pinned.contains(&rs.revision.as_str()) => {
                shrink.push(Effect::ScaleReplicaSet {
                    name: rs.name.clone(),
                    replicas: *replicas,
                })
            }
            Some(_) => {}
            // Only the template's revision can be created: older templates are not known.
            None if *revision == cx.revision && *replicas > 0 => {
                grow.push(Effect::ApplyReplicaSet {
                    name: replica_set_name(&obs.rollout.name, revision),
                    revision: revision.clone(),
                    replicas: *replicas,
                    template: Box::new(cx.spec.template.clone()),
                });
            }
            None => {}
        }
    }
    let mut others: Vec<_> = obs
        .replica_sets
        .iter()
        .filter(|rs| wanted(&rs.revision).is_none())
        .collect();
    others.sort_by(|a, b| (b.created_at, &b.name).cmp(&(a.created_at, &a.name)));
    for rs in &others {
        if rs.replicas > 0 && !pinned.contains(&rs.revision.as_str()) {
            shrink.push(Effect::ScaleReplicaSet {
                name: rs.name.clone(),
                replicas: 0,
            });
        }
    }
    // Newest first: keep the history limit's worth of scaled-down ReplicaSets.
    let deletes = others
        .iter()
        .filter(|rs| rs.replicas == 0)
        .skip(cx.plan.revision_history_limit)
        .map(|rs| Effect::DeleteReplicaSet {
            name: rs.name.clone(),
        });

    let mut effects = grow;
    for (service, revision) in &desired.services {
        let current = obs.services.iter().find(|s| &s.name == service);
        if current.and_then(|s| s.revision.as_ref()) != Some(revision) {
            effects.push(Effect::PointService {
                service: service.clone(),
                revision: revision.clone(),
            });
        }
    }
    if let Some(route) = &desired.route {
        let observed = obs.http_route.as_ref();
        let weights = observed.map(|r| {
            (
                r.weight_of(&route.stable.service),
                r.weight_of(&route.canary.service),
            )
        });
        if weights != Some((Some(route.stable.weight), Some(route.canary.weight))) {
            effects.push(Effect::SetRouteWeights {
                route: route.route.clone(),
                stable: route.stable.clone(),
                canary: route.canary.clone(),
            });
        }
        let header = observed.and_then(|r| r.header_route.as_ref());
        let wanted_header = route.header.as_ref().map(|rule| &rule.route);
        if header != wanted_header {
            effects.push(Effect::SetHeaderRoute {
                route: route.route.clone(),
                rule: route.header.clone(),
            });
        }
    }
    effects.extend(shrink);
    effects.extend(deletes);
    effects
}
