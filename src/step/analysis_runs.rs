//! Which analysis runs when, in which status slot, and what its verdict does to the rollout.
//! How a measurement is judged is `analysis.rs`'s.

use crate::conditions::reason;
use crate::effect::{EventType, WakeReason};
use crate::status::AnalysisKind;
use crate::validate::{AnalysisPlan, Plan, StrategyPlan};

use super::Cx;
use super::analysis::{self, QueryVars, RunOutput, Verdict};

/// Which status slot an analysis lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AnalysisSlot {
    /// `status.backgroundAnalysis`.
    Background,
    /// `status.gateAnalysis`.
    Gate,
}

impl Cx<'_> {
    /// Advance a gate analysis (one the rollout waits on) and act on its verdict: true once it
    /// passed; a failure fails the rollout, an inconclusive result pauses it.
    pub fn gate_passed(
        &mut self,
        kind: AnalysisKind,
        step_index: Option<i32>,
        plan: &AnalysisPlan,
        serving: bool,
    ) -> bool {
        match self.run_analysis(AnalysisSlot::Gate, kind, step_index, plan, serving) {
            Verdict::Passed => true,
            Verdict::Failed(message) => {
                self.fail(reason::ANALYSIS_FAILED, message);
                false
            }
            Verdict::Inconclusive(message) => {
                self.pause_inconclusive(message);
                false
            }
            Verdict::Running => false,
        }
    }

    /// Advance the analysis in `slot` (creating it for this revision if needed); it measures
    /// only while the revision is `serving` the traffic it was given.
    fn run_analysis(
        &mut self,
        slot: AnalysisSlot,
        kind: AnalysisKind,
        step_index: Option<i32>,
        plan: &AnalysisPlan,
        serving: bool,
    ) -> Verdict {
        let revision = self.status.canary_revision.clone().unwrap_or_default();
        let stable = self.status.stable_revision.clone().unwrap_or_default();
        let existing = match slot {
            AnalysisSlot::Background => self.status.background_analysis.take(),
            AnalysisSlot::Gate => self.status.gate_analysis.take(),
        };
        let mut run = existing
            .filter(|run| analysis::is_run_of(run, kind, step_index, &revision))
            .unwrap_or_else(|| analysis::new_run(kind, step_index, &revision, plan));
        let vars = QueryVars {
            namespace: &self.obs.rollout.namespace,
            name: &self.obs.rollout.name,
            stable_revision: &stable,
        };
        let mut out = RunOutput::default();
        let verdict = analysis::advance(
            &mut run,
            plan,
            slot == AnalysisSlot::Gate,
            serving,
            self.obs.now,
            &self.obs.metric_results,
            &vars,
            &mut out,
        );
        self.queries.extend(out.queries);
        if let Some(at) = out.wake_at {
            self.wake_at(at, WakeReason::AnalysisInterval);
        }
        if verdict == Verdict::Passed && run.round > 0 {
            let name = describe_analysis(kind, step_index);
            self.event(
                EventType::Normal,
                reason::ANALYSIS_PASSED,
                format!("{name} passed for revision {revision}"),
            );
        }
        match slot {
            AnalysisSlot::Background => self.status.background_analysis = Some(run),
            AnalysisSlot::Gate => self.status.gate_analysis = Some(run),
        }
        verdict
    }
    /// Advance the background analysis: a failure rolls back, too many inconclusives pause
    /// for a person.
    pub fn run_background_analysis(&mut self, plan: &AnalysisPlan, serving: bool) {
        let slot = AnalysisSlot::Background;
        match self.run_analysis(slot, AnalysisKind::Background, None, plan, serving) {
            Verdict::Failed(message) => self.fail(reason::ANALYSIS_FAILED, message),
            Verdict::Inconclusive(message) => self.pause_inconclusive(message),
            Verdict::Running | Verdict::Passed => {}
        }
    }
    /// Measure inconclusive analyses again, each one interval from now.
    pub fn resume_analyses(&mut self) {
        let now = self.obs.now;
        for slot in [AnalysisSlot::Background, AnalysisSlot::Gate] {
            let run = match slot {
                AnalysisSlot::Background => self.status.background_analysis.as_mut(),
                AnalysisSlot::Gate => self.status.gate_analysis.as_mut(),
            };
            let Some(run) = run else { continue };
            let interval = analysis_plan_of(self.plan, run.kind, run.step_index)
                .map_or(chrono::TimeDelta::minutes(1), |plan| plan.interval);
            analysis::resume(run, now, interval);
        }
    }
}

/// The analysis plan a run belongs to.
fn analysis_plan_of<'p>(
    plan: &'p Plan<'p>,
    kind: AnalysisKind,
    step_index: Option<i32>,
) -> Option<&'p AnalysisPlan<'p>> {
    match (&plan.strategy, kind) {
        (StrategyPlan::Canary(canary), AnalysisKind::Background) => {
            canary.analysis.as_ref().map(|(_, plan)| plan)
        }
        (StrategyPlan::Canary(canary), AnalysisKind::Step) => step_index
            .and_then(|index| usize::try_from(index).ok())
            .and_then(|index| canary.steps.get(index))
            .and_then(|step| match step {
                crate::validate::StepPlan::Analysis(plan) => Some(plan),
                _ => None,
            }),
        (StrategyPlan::BlueGreen(blue_green), AnalysisKind::PrePromotion) => {
            blue_green.pre_promotion_analysis.as_ref()
        }
        (StrategyPlan::BlueGreen(blue_green), AnalysisKind::PostPromotion) => {
            blue_green.post_promotion_analysis.as_ref()
        }
        (StrategyPlan::Simple(simple), AnalysisKind::Background) => simple.analysis.as_ref(),
        _ => None,
    }
}

fn describe_analysis(kind: AnalysisKind, step_index: Option<i32>) -> String {
    match (kind, step_index) {
        (AnalysisKind::Step, Some(index)) => format!("analysis step {index}"),
        (AnalysisKind::Background, _) => "background analysis".into(),
        (AnalysisKind::PrePromotion, _) => "pre-promotion analysis".into(),
        (AnalysisKind::PostPromotion, _) => "post-promotion analysis".into(),
        (AnalysisKind::Step, None) => "analysis step".into(),
    }
}
