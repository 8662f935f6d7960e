//! Simple: a rolling update within `maxSurge` / `maxUnavailable`, computed as a Deployment
//! does, toward the template's revision, or back toward stable after a failure.

use std::collections::BTreeMap;

use crate::effect::CdEventKind;
use crate::observations::ObservedReplicaSet;
use crate::request::RequestAction;
use crate::status::Phase;
use crate::validate::SimplePlan;

use super::strategy::Strategy;
use super::{Cx, Desired};

/// The simple strategy of one `step`.
pub(crate) struct Simple<'p> {
    pub plan: &'p SimplePlan<'p>,
    /// The move `advance` made toward the template's revision: that revision and the
    /// replicas of every revision.
    moved: Option<(String, BTreeMap<String, i32>)>,
    /// Held by a person or an inconclusive analysis: every revision keeps its replicas.
    frozen: bool,
}

impl<'p> Simple<'p> {
    pub fn new(plan: &'p SimplePlan<'p>) -> Self {
        Simple {
            plan,
            moved: None,
            frozen: false,
        }
    }
}

impl Strategy for Simple<'_> {
    fn settle_revision(&mut self, cx: &mut Cx<'_>) {
        cx.settle_revision(Phase::Progressing);
    }

    fn handle_request(&mut self, cx: &mut Cx<'_>, action: RequestAction) {
        match action {
            RequestAction::Retry => cx.restart_revision(Phase::Progressing, None),
            RequestAction::Promote if cx.status.analysis_inconclusive() => {
                cx.resume_analyses();
                cx.status.paused_by_user = false;
            }
            RequestAction::Promote => {
                cx.status.paused_by_user = false;
            }
            RequestAction::PromoteFull => cx.promote_fully(),
            RequestAction::Abort | RequestAction::Pause | RequestAction::Resume => {}
        }
    }

    fn advance(&mut self, cx: &mut Cx<'_>) {
        cx.progressing();
        if let (Some(background), false) = (&self.plan.analysis, cx.status.full_promotion) {
            let serving = cx.ready(cx.status.canary_revision.as_deref()) > 0;
            cx.run_background_analysis(background, serving);
        }
        if !cx.may_advance() {
            return;
        }
        let target = cx.status.canary_revision.clone().unwrap_or_default();
        let counts = rolling_update(&cx.obs.replica_sets, &target, cx.plan.replicas, self.plan);
        let observed = cx.replica_set(Some(&target));
        let before = observed.map_or(0, |rs| rs.replicas);
        let after = counts.get(&target).copied().unwrap_or(0);
        if after > before {
            cx.cdevent(
                CdEventKind::ServiceUpgraded,
                &target,
                &format!("replicas-{after}"),
            );
        }
        if rolled_out(&cx.obs.replica_sets, &target, cx.plan.replicas) {
            cx.complete();
        } else {
            let available = observed.map_or(0, |rs| rs.available_replicas);
            let old = super::saturating_sum(
                cx.obs
                    .replica_sets
                    .iter()
                    .filter(|rs| rs.revision != target)
                    .map(|rs| rs.replicas),
            );
            let replicas = cx.plan.replicas;
            cx.wait_for(
                available.saturating_sub(old),
                format!("{replicas} available pods of {target}"),
                format!("{available} available, {old} old"),
            );
        }
        self.moved = Some((target, counts));
    }

    fn hold(&mut self, cx: &mut Cx<'_>) {
        if self.moved.is_some() || cx.is_settled() {
            return;
        }
        // Held by a person or an inconclusive analysis: pods that are not ready still run the
        // deadline.
        self.frozen = true;
        let canary = cx.status.canary_revision.clone();
        let wanted = cx
            .replica_set(canary.as_deref())
            .map_or(0, |rs| rs.replicas);
        cx.wait_for_pods(canary.as_deref(), wanted);
    }

    fn desired(&self, cx: &Cx<'_>) -> Desired {
        let (target, counts) = match &self.moved {
            Some((target, counts)) => (target.clone(), counts.clone()),
            None => {
                let stable = cx.status.stable_revision.clone().unwrap_or_default();
                let counts = if self.frozen {
                    cx.obs
                        .replica_sets
                        .iter()
                        .map(|rs| (rs.revision.clone(), rs.replicas))
                        .collect()
                } else {
                    rolling_update(&cx.obs.replica_sets, &stable, cx.plan.replicas, self.plan)
                };
                (stable, counts)
            }
        };
        let mut replica_sets: Vec<(String, i32)> = counts.into_iter().collect();
        if !replica_sets.iter().any(|(revision, _)| *revision == target) && !target.is_empty() {
            replica_sets.push((target, 0));
        }
        Desired {
            replica_sets,
            services: Vec::new(),
            route: None,
        }
    }
}

/// The target is at full scale and available, and nothing else runs.
fn rolled_out(replica_sets: &[ObservedReplicaSet], target: &str, replicas: i32) -> bool {
    replica_sets.iter().all(|rs| {
        if rs.revision == target {
            rs.replicas == replicas && rs.available_replicas >= replicas
        } else {
            rs.replicas == 0
        }
    }) && replica_sets.iter().any(|rs| rs.revision == target)
}

/// One move of a Deployment-style rolling update: the desired replicas of every revision.
///
/// Computed in `i64` so that no observed count, however absurd, can overflow.
fn rolling_update(
    replica_sets: &[ObservedReplicaSet],
    target: &str,
    replicas: i32,
    plan: &SimplePlan,
) -> BTreeMap<String, i32> {
    let wide = |value: i32| i64::from(value.max(0));
    let mut counts: BTreeMap<String, i64> = replica_sets
        .iter()
        .map(|rs| (rs.revision.clone(), wide(rs.replicas)))
        .collect();
    let desired = wide(replicas);
    let total: i64 = counts.values().sum();
    let new = replica_sets.iter().find(|rs| rs.revision == target);
    let new_replicas = new.map_or(0, |rs| wide(rs.replicas));
    let new_available = new.map_or(0, |rs| wide(rs.available_replicas));
    // Scale up within the surge.
    let room = (desired + wide(plan.max_surge) - total).max(0);
    let scaled_up = if new_replicas < desired {
        new_replicas + room.min(desired - new_replicas)
    } else {
        desired
    };
    counts.insert(target.to_string(), scaled_up);
    // Scale old revisions down without going below the availability floor.
    let min_available = desired - wide(plan.max_unavailable);
    let new_unavailable = (new_replicas - new_available).max(0);
    let mut budget = total - min_available - new_unavailable;
    let mut old: Vec<&ObservedReplicaSet> = replica_sets
        .iter()
        .filter(|rs| rs.revision != target && rs.replicas > 0)
        .collect();
    old.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
    // Unavailable old pods go first: removing them costs no availability.
    for rs in &old {
        if budget <= 0 {
            break;
        }
        let unhealthy = (wide(rs.replicas) - wide(rs.available_replicas))
            .max(0)
            .min(budget);
        if let Some(count) = counts.get_mut(&rs.revision) {
            *count -= unhealthy;
        }
        budget -= unhealthy;
    }
    let available: i64 = replica_sets
        .iter()
        .map(|rs| wide(rs.available_replicas))
        .sum();
    let mut spare = (available - min_available).max(0).min(budget.max(0));
    for rs in &old {
        if spare <= 0 {
            break;
        }
        if let Some(count) = counts.get_mut(&rs.revision) {
            let down = (*count).min(spare);
            *count -= down;
            spare -= down;
        }
    }
    counts
        .into_iter()
        .map(|(revision, count)| (revision, i32::try_from(count).unwrap_or(i32::MAX)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(revision: &str, replicas: i32, available: i32) -> ObservedReplicaSet {
        ObservedReplicaSet {
            name: format!("web-{revision}"),
            revision: revision.into(),
            replicas,
            ready_replicas: available,
            available_replicas: available,
            created_at: None,
            template_digest: None,
            adopting: false,
        }
    }

    fn plan(max_surge: i32, max_unavailable: i32) -> SimplePlan<'static> {
        SimplePlan {
            max_surge,
            max_unavailable,
            analysis: None,
        }
    }

    #[test]
    fn first_move_surges_new_pods_and_drops_old_within_unavailability() {
        let counts = rolling_update(&[rs("old", 4, 4)], "new", 4, &plan(1, 1));
        assert_eq!(counts.get("new"), Some(&1));
        assert_eq!(counts.get("old"), Some(&3));
    }

    #[test]
    fn old_pods_stay_while_new_ones_are_not_available() {
        let counts = rolling_update(&[rs("old", 3, 3), rs("new", 2, 0)], "new", 4, &plan(1, 1));
        assert_eq!(counts.get("old"), Some(&3));
        assert_eq!(counts.get("new"), Some(&2));
    }

    #[test]
    fn total_never_exceeds_replicas_plus_surge() {
        let counts = rolling_update(&[rs("old", 10, 10)], "new", 10, &plan(3, 0));
        assert_eq!(counts.values().sum::<i32>(), 13);
        assert_eq!(counts.get("old"), Some(&10));
    }
}
