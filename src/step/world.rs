//! From the desired world to effects: compare with what was observed and emit only what
//! differs, in an order that keeps traffic safe (scale up, point Services, move traffic, then
//! scale down and clean up).
//!
//! Two rules hold whatever the strategy decided, judged on the observed world only (a write in
//! this same batch may fail or lag, so it counts for nothing yet):
//! - a Service is never re-pointed at a revision less able to serve it than the one it selects
//!   now (fewer ready pods than its observed share needs);
//! - a ReplicaSet is never scaled below the pods its observed traffic needs, nor below what it
//!   carried before the route last took traffic from it until the scale-down delay has passed
//!   (`traffic::pod_floor`).

use crate::effect::{BackendWeight, Effect, HeaderRouteRule, RouteRef};
use crate::revision::{replica_set_name, template_digest};

use super::{Cx, Desired, pods_for, traffic};

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
    // Services first: which are re-pointed in this batch, so that a scale-down below keeps
    // the pods a Service is about to be given.
    let mut repoint = Vec::new();
    for (service, revision) in &desired.services {
        let current = obs
            .services
            .iter()
            .find(|s| &s.name == service)
            .and_then(|s| s.revision.as_deref());
        if current == Some(revision.as_str()) {
            continue;
        }
        // How well a revision could serve what this Service carries: ready pods, up to the
        // number its observed share needs (at least one).
        let needed = pods_for(cx.plan.replicas, traffic::service_share(cx, service)).max(1);
        let serves = |revision: Option<&str>| match revision {
            Some(revision) => cx.ready(Some(revision)).clamp(0, needed),
            // A Service that selects no revision yet selects by the user's labels alone: it
            // may be serving pods the Rollout does not own (the Deployment it replaces, a
            // ReplicaSet it adopts), so take it as serving fully.
            None => needed,
        };
        if serves(Some(revision)) < serves(current) {
            continue;
        }
        repoint.push(Effect::PointService {
            service: service.clone(),
            revision: revision.clone(),
        });
    }
    let given = |revision: &str| {
        repoint
            .iter()
            .filter_map(|effect| match effect {
                Effect::PointService {
                    service,
                    revision: r,
                } if r == revision => Some(pods_for(
                    cx.plan.replicas,
                    traffic::service_share(cx, service),
                )),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    };
    let mut grow = Vec::new();
    let mut shrink = Vec::new();
    // A scale-down stops at the floor the revision's observed traffic needs.
    let shrink_to = |rs: &crate::observations::ObservedReplicaSet, wanted: i32| {
        let floor = traffic::pod_floor(cx, &rs.revision).max(given(&rs.revision));
        let to = wanted.max(floor.min(rs.replicas));
        (to < rs.replicas).then(|| Effect::ScaleReplicaSet {
            name: rs.name.clone(),
            replicas: to,
        })
    };
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
                shrink.extend(shrink_to(rs, *replicas));
            }
            Some(_) => {}
            // Only the template's revision can be created: older templates are not known.
            None if *revision == cx.revision && *replicas > 0 && cx.adopt.is_some() => {
                if let Some(orphan) = cx.adopt.map(|orphan| &orphan.replica_set) {
                    grow.push(Effect::AdoptReplicaSet {
                        name: orphan.name.clone(),
                        revision: revision.clone(),
                        digest: template_digest(&cx.spec.template),
                    });
                    if orphan.replicas < *replicas {
                        grow.push(Effect::ScaleReplicaSet {
                            name: orphan.name.clone(),
                            replicas: *replicas,
                        });
                    }
                }
            }
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
    // A revision the observed traffic needs more pods of than it has (the route edited by
    // hand, replicas raised) is scaled up to what that traffic needs.
    for rs in &obs.replica_sets {
        let floor = traffic::pod_floor(cx, &rs.revision).min(cx.plan.replicas.max(0));
        let wanted = wanted(&rs.revision).unwrap_or(0);
        let already = grow.iter().any(
            |effect| matches!(effect, Effect::ScaleReplicaSet { name, .. } if *name == rs.name),
        );
        if rs.replicas < floor && wanted < floor && !already {
            grow.push(Effect::ScaleReplicaSet {
                name: rs.name.clone(),
                replicas: floor,
            });
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
            shrink.extend(shrink_to(rs, 0));
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
    effects.extend(repoint);
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
    // The Deployment being replaced goes down with the rest of what is scaled down.
    effects.extend(
        cx.workload_ref
            .and_then(|reference| super::workload::scale(cx, reference)),
    );
    effects.extend(shrink);
    effects.extend(deletes);
    effects
}
