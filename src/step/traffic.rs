//! Traffic as observed: the share of requests each revision receives now (from the route and
//! the Services as the cluster shows them, never from what `step` decided), what it received
//! until recently, and how many pods that takes. Scale-downs and re-pointed Services are judged
//! against this, so a failed or lagging route write can never leave traffic without pods.

use chrono::TimeDelta;

use crate::status::{Phase, RevisionTraffic};
use crate::validate::StrategyPlan;

use super::{Cx, pods_for};

/// The share a Service carries when it is not weighted by a route: a Service that people or
/// other workloads call directly (blue-green preview, canary Services without routing). It
/// needs at least one pod.
const UNWEIGHTED_SHARE: i32 = 1;

/// A routed backend's share of the route (percent): its weight over the sum of the stable and
/// canary weights (Gateway API weights are relative). 0 without routing or a route.
pub(crate) fn route_share(cx: &Cx<'_>, service: &str) -> i32 {
    let Some(routing) = cx.plan.routing() else {
        return 0;
    };
    let route = cx.obs.http_route.as_ref();
    let raw = |s: &str| route.and_then(|r| r.weight_of(s)).unwrap_or(0).max(0);
    let total = i64::from(raw(routing.stable_service)) + i64::from(raw(routing.canary_service));
    let ours = service == routing.stable_service || service == routing.canary_service;
    if !ours || total <= 0 {
        return 0;
    }
    let share = (i64::from(raw(service)) * 100 + total - 1) / total;
    i32::try_from(share.min(100)).unwrap_or(100)
}

/// The share of traffic (percent) a Service KULTA points is observed carrying: its backend's
/// weight in the route, at least one pod's worth while the header rule sends requests to it,
/// and one pod's worth for a Service outside any route. 0 for Services the strategy does not
/// name.
pub(crate) fn service_share(cx: &Cx<'_>, service: &str) -> i32 {
    match &cx.plan.strategy {
        StrategyPlan::Canary(canary) => match &canary.routing {
            Some(routing) => {
                let route = cx.obs.http_route.as_ref();
                // Route weights are relative: a backend carries its share of their sum.
                let weight = route_share(cx, service);
                let header = service == routing.canary_service
                    && route.is_some_and(|r| r.header_route.is_some());
                if header {
                    weight.max(UNWEIGHTED_SHARE)
                } else {
                    weight
                }
            }
            None => {
                let named = canary.stable_service == Some(service)
                    || canary.canary_service == Some(service);
                if named { UNWEIGHTED_SHARE } else { 0 }
            }
        },
        StrategyPlan::BlueGreen(blue_green) if service == blue_green.active_service => 100,
        StrategyPlan::BlueGreen(blue_green) if blue_green.preview_service == Some(service) => {
            UNWEIGHTED_SHARE
        }
        StrategyPlan::BlueGreen(_) | StrategyPlan::Simple(_) => 0,
    }
}

/// Traffic share (percent) per revision, as observed; revisions carrying nothing are absent.
pub(crate) fn observed_shares(cx: &Cx<'_>) -> Vec<(String, i32)> {
    let mut shares: Vec<(String, i32)> = Vec::new();
    for service in cx.plan.service_names() {
        let share = service_share(cx, service);
        let Some(revision) = cx.service_revision(service) else {
            continue;
        };
        if share <= 0 {
            continue;
        }
        match shares.iter_mut().find(|(r, _)| r == revision) {
            Some((_, total)) => *total = total.saturating_add(share).min(100),
            None => shares.push((revision.to_string(), share.min(100))),
        }
    }
    shares
}

/// How long pods keep a share of traffic after the route took it away.
fn scale_down_delay(cx: &Cx<'_>) -> TimeDelta {
    let rolled_back = cx.status.phase == Some(Phase::Failed);
    match &cx.plan.strategy {
        StrategyPlan::Canary(canary) if rolled_back => canary.abort_scale_down_delay,
        StrategyPlan::Canary(canary) => canary.scale_down_delay,
        StrategyPlan::BlueGreen(blue_green) if rolled_back => blue_green.abort_scale_down_delay,
        StrategyPlan::BlueGreen(blue_green) => blue_green.scale_down_delay,
        StrategyPlan::Simple(_) => TimeDelta::zero(),
    }
}

/// Fold this step's observation into the status's memory of traffic: a revision whose share
/// dropped keeps its former share for the scale-down delay.
pub(crate) fn remember(cx: &mut Cx<'_>) {
    let now = cx.obs.now;
    let until = crate::duration::after(now, scale_down_delay(cx));
    let shares = observed_shares(cx);
    let previous = std::mem::take(&mut cx.status.traffic);
    let mut revisions: Vec<&str> = shares.iter().map(|(r, _)| r.as_str()).collect();
    for old in &previous {
        if !revisions.contains(&old.revision.as_str()) {
            revisions.push(&old.revision);
        }
    }
    let mut memory = Vec::new();
    for revision in revisions {
        let share = shares
            .iter()
            .find(|(r, _)| r == revision)
            .map_or(0, |(_, s)| *s);
        let entry = match previous.iter().find(|t| t.revision == revision) {
            None => RevisionTraffic {
                revision: revision.to_string(),
                share,
                peak: share,
                peak_until: None,
            },
            Some(old) => {
                let live = old.peak_until.is_some_and(|at| at > now);
                let (peak, peak_until) = if share < old.share {
                    let peak = if live {
                        old.peak.max(old.share)
                    } else {
                        old.share
                    };
                    (peak, Some(until))
                } else if live {
                    (old.peak.max(share), old.peak_until)
                } else {
                    (share, None)
                };
                RevisionTraffic {
                    revision: revision.to_string(),
                    share,
                    peak,
                    peak_until,
                }
            }
        };
        let forgotten = entry.share == 0 && entry.peak_until.is_none_or(|at| at <= now);
        if !forgotten {
            if let Some(at) = entry.peak_until.filter(|at| *at > now) {
                cx.wake_at(at, crate::effect::WakeReason::ScaleDownDelay);
            }
            memory.push(entry);
        }
    }
    memory.sort_by(|a, b| a.revision.cmp(&b.revision));
    cx.status.traffic = memory;
}

/// The share a revision must still be able to carry: what it carries now, or what it carried
/// before the route last took traffic away from it, until the scale-down delay has passed.
pub(crate) fn effective_share(cx: &Cx<'_>, revision: &str) -> i32 {
    let now = cx.obs.now;
    cx.status
        .traffic
        .iter()
        .find(|t| t.revision == revision)
        .map_or(0, |t| {
            if t.peak_until.is_some_and(|at| at > now) {
                t.peak.max(t.share)
            } else {
                t.share
            }
        })
}

/// The pods a revision must keep: enough for its effective share.
pub(crate) fn pod_floor(cx: &Cx<'_>, revision: &str) -> i32 {
    pods_for(cx.plan.replicas, effective_share(cx, revision))
}

/// The canary's share of traffic as observed: its backend's weight in the route, or without
/// routing its share of the ready pods. `None` for strategies without a canary weight, or when
/// the route or its canary backend is missing.
pub(crate) fn observed_canary_weight(cx: &Cx<'_>) -> Option<i32> {
    let StrategyPlan::Canary(canary) = &cx.plan.strategy else {
        return None;
    };
    if let Some(routing) = &canary.routing {
        return cx
            .obs
            .http_route
            .as_ref()
            .and_then(|route| route.weight_of(routing.canary_service))
            .map(|weight| weight.clamp(0, 100));
    }
    let canary_ready = i64::from(cx.ready(cx.status.canary_revision.as_deref()).max(0));
    let total: i64 = cx
        .obs
        .replica_sets
        .iter()
        .map(|rs| i64::from(rs.ready_replicas.max(0)))
        .sum();
    if total == 0 {
        return Some(0);
    }
    i32::try_from((canary_ready * 100 + total / 2) / total).ok()
}
