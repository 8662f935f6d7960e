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

use crate::effect::Effect;
use crate::observations::ObservedReplicaSet;
use crate::revision::{replica_set_name, template_digest};

use super::{Cx, Desired, pods_for, traffic};

pub(crate) fn effects(cx: &Cx<'_>, desired: &Desired) -> Vec<Effect> {
    let obs = cx.obs;
    let pinned = pinned(cx, desired);
    let repoint = repoint(cx, desired);
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
    let shrink_to = |rs: &ObservedReplicaSet, wanted: i32| {
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
    // An adoption cut short (its pods not all labelled yet) is carried out again.
    for rs in obs.replica_sets.iter().filter(|rs| rs.adopting) {
        grow.push(Effect::AdoptReplicaSet {
            name: rs.name.clone(),
            revision: rs.revision.clone(),
            digest: template_digest(&cx.spec.template),
        });
    }
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
            None => grow.extend(created(cx, revision, *replicas)),
        }
    }
    raise_to_traffic_floor(cx, desired, &mut grow);
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
        effects.extend(route.effects(obs.http_route.as_ref()));
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

/// Revisions a Service still selects but is to stop selecting: they keep their pods until the
/// Service has moved, so that a failed selector write never leaves a Service with no pods.
fn pinned<'a>(cx: &Cx<'a>, desired: &Desired) -> Vec<&'a str> {
    desired
        .services
        .iter()
        .filter_map(|(service, revision)| {
            let current = cx
                .obs
                .services
                .iter()
                .find(|s| &s.name == service)?
                .revision
                .as_deref()?;
            (current != revision).then_some(current)
        })
        .collect()
}

/// The Services re-pointed in this batch (decided first, so that a scale-down keeps the pods
/// a Service is about to be given): never at a revision less able to serve it.
fn repoint(cx: &Cx<'_>, desired: &Desired) -> Vec<Effect> {
    let mut repoint = Vec::new();
    for (service, revision) in &desired.services {
        let current = cx
            .obs
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
        // A Service that selects no revision selects by the user's labels alone. While the
        // first revision comes up it may be serving pods the Rollout does not own (the
        // Deployment it replaces, a ReplicaSet it adopts): it counts as serving fully. Later
        // (a Service recreated mid-rollout) it may be sending traffic to any revision's pods,
        // and is pointed at once.
        let taking_over = !cx.was_shipping;
        let serves = |revision: Option<&str>| match revision {
            Some(revision) => cx.ready(Some(revision)).clamp(0, needed),
            None if taking_over => needed,
            None => 0,
        };
        if serves(Some(revision)) < serves(current) {
            continue;
        }
        repoint.push(Effect::PointService {
            service: service.clone(),
            revision: revision.clone(),
        });
    }
    repoint
}

/// A revision with no ReplicaSet: the template's is adopted from a running one, or created.
/// Only the template's revision can be: older templates are not known.
fn created(cx: &Cx<'_>, revision: &str, replicas: i32) -> Vec<Effect> {
    if revision != cx.revision || replicas <= 0 {
        return Vec::new();
    }
    let Some(orphan) = cx.adopt.map(|orphan| &orphan.replica_set) else {
        return vec![Effect::CreateReplicaSet {
            name: replica_set_name(&cx.obs.rollout.name, revision),
            revision: revision.to_string(),
            replicas,
            template: Box::new(cx.spec.template.clone()),
        }];
    };
    let mut effects = vec![Effect::AdoptReplicaSet {
        name: orphan.name.clone(),
        revision: revision.to_string(),
        digest: template_digest(&cx.spec.template),
    }];
    if orphan.replicas < replicas {
        effects.push(Effect::ScaleReplicaSet {
            name: orphan.name.clone(),
            replicas,
        });
    }
    effects
}

/// A revision the observed traffic needs more pods of than it has (the route edited by hand,
/// replicas raised) is scaled up to what that traffic needs.
fn raise_to_traffic_floor(cx: &Cx<'_>, desired: &Desired, grow: &mut Vec<Effect>) {
    for rs in &cx.obs.replica_sets {
        let floor = traffic::pod_floor(cx, &rs.revision).min(cx.plan.replicas.max(0));
        let wanted = desired
            .replica_sets
            .iter()
            .find(|(r, _)| *r == rs.revision)
            .map_or(0, |(_, n)| *n);
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
}
