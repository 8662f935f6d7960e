//! Analysis runs: issue a round of queries every interval, judge each result exactly once,
//! and conclude when a limit is crossed or (for gates) enough successes are in.
//!
//! An empty result, NaN, ±Inf, a query error or a missing answer is inconclusive, never a
//! success. Failures and inconclusives are counted over the whole run, as both peers count
//! them: a success does not forgive an earlier failure. Rounds are issued only while the
//! measured revision serves its traffic, and each metric only after its initial delay.

use chrono::{DateTime, Utc};

use crate::effect::{MeasurementKey, MetricQuery};
use crate::observations::{MetricResult, MetricValue};
use crate::spec::ThresholdRange;
use crate::status::{AnalysisKind, AnalysisPhase, AnalysisRun, MeasurementOutcome, MetricStatus};
use crate::validate::AnalysisPlan;

/// Where a run stands after this step.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Still measuring.
    Running,
    /// A gate passed.
    Passed,
    /// A metric failed too often; the message says which, what value and which bound.
    Failed(String),
    /// A metric was inconclusive too often.
    Inconclusive(String),
}

/// Values substituted into queries.
pub(crate) struct QueryVars<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub stable_revision: &'a str,
}

/// What a run asks of the step: queries to send and when to wake up.
#[derive(Default)]
pub(crate) struct RunOutput {
    pub queries: Vec<MetricQuery>,
    pub wake_at: Option<DateTime<Utc>>,
}

/// A fresh run of `plan` for `revision`.
pub(crate) fn new_run(
    kind: AnalysisKind,
    step_index: Option<i32>,
    revision: &str,
    plan: &AnalysisPlan,
) -> AnalysisRun {
    AnalysisRun {
        kind,
        step_index,
        revision: revision.to_string(),
        serving_since: None,
        round: 0,
        next_measurement_time: None,
        phase: AnalysisPhase::Running,
        metrics: plan
            .metrics
            .iter()
            .map(|metric| MetricStatus {
                name: metric.name.clone(),
                last_value: None,
                last_outcome: None,
                last_round: 0,
                successes: 0,
                failures: 0,
                inconclusives: 0,
                queried_round: 0,
                message: None,
            })
            .collect(),
    }
}

/// Whether `run` is the run of this analysis for this revision.
pub(crate) fn is_run_of(
    run: &AnalysisRun,
    kind: AnalysisKind,
    step_index: Option<i32>,
    revision: &str,
) -> bool {
    run.kind == kind && run.step_index == step_index && run.revision == revision
}

/// Fold in results, conclude if a limit is crossed, and issue the next round when due, if the
/// measured revision is `serving` its traffic.
#[allow(clippy::too_many_arguments)]
pub(crate) fn advance(
    run: &mut AnalysisRun,
    plan: &AnalysisPlan,
    gating: bool,
    serving: bool,
    now: DateTime<Utc>,
    results: &[MetricResult],
    vars: &QueryVars<'_>,
    out: &mut RunOutput,
) -> Verdict {
    if run.phase != AnalysisPhase::Running {
        return verdict_of(run, plan);
    }
    take_results(run, plan, results);
    if let Some(verdict) = conclude(run, plan, gating) {
        return verdict;
    }
    if !serving {
        // Nothing to measure: the revision does not carry its traffic (yet, or any more).
        return Verdict::Running;
    }
    let since = *run.serving_since.get_or_insert(now);
    if run.next_measurement_time.is_none_or(|at| now >= at) {
        if run.round > 0 {
            close_round(run);
            if let Some(verdict) = conclude(run, plan, gating) {
                return verdict;
            }
        }
        start_round(run, plan, since, now, vars, out);
    }
    out.wake_at = run.next_measurement_time;
    Verdict::Running
}

/// Judge the results of this run's current round for metrics still waiting for one.
fn take_results(run: &mut AnalysisRun, plan: &AnalysisPlan, results: &[MetricResult]) {
    for result in results {
        let key = &result.key;
        let ours = key.analysis == run.kind
            && key.step_index == run.step_index
            && key.revision == run.revision
            && key.round == run.round;
        if !ours {
            continue;
        }
        let range = plan
            .metrics
            .iter()
            .find(|m| m.name == key.metric)
            .map(|m| m.threshold_range);
        let metric = run.metrics.iter_mut().find(|m| m.name == key.metric);
        if let (Some(metric), Some(range)) = (metric, range)
            && metric.last_round < run.round
            && metric.queried_round == run.round
        {
            let (outcome, value, message) = judge(&result.value, range);
            record(metric, run.round, outcome, value, message);
        }
    }
}

/// The next measurement is due: a metric queried this round with no result is inconclusive.
fn close_round(run: &mut AnalysisRun) {
    let round = run.round;
    for metric in run
        .metrics
        .iter_mut()
        .filter(|m| m.queried_round == round && m.last_round < round)
    {
        let message = Some(format!("no result for round {round}"));
        record(
            metric,
            round,
            MeasurementOutcome::Inconclusive,
            None,
            message,
        );
    }
}

/// Query every metric past its initial delay (measured from `since`, when the revision began
/// serving) in a new round; when none is yet, wake when the first one is.
fn start_round(
    run: &mut AnalysisRun,
    plan: &AnalysisPlan,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    vars: &QueryVars<'_>,
    out: &mut RunOutput,
) {
    let eligible_from = |index: usize| {
        let delay = plan.initial_delays.get(index).copied().unwrap_or_default();
        crate::duration::after(since, delay)
    };
    let eligible: Vec<usize> = (0..plan.metrics.len())
        .filter(|index| now >= eligible_from(*index))
        .collect();
    if eligible.is_empty() {
        run.next_measurement_time = (0..plan.metrics.len()).map(eligible_from).min();
        return;
    }
    run.round = run.round.saturating_add(1);
    run.next_measurement_time = Some(crate::duration::after(now, plan.interval));
    for index in eligible {
        let (Some(metric), Some(status)) = (plan.metrics.get(index), run.metrics.get_mut(index))
        else {
            continue;
        };
        status.queried_round = run.round;
        out.queries.push(MetricQuery {
            key: MeasurementKey {
                analysis: run.kind,
                step_index: run.step_index,
                revision: run.revision.clone(),
                round: run.round,
                metric: metric.name.clone(),
            },
            address: plan.address.to_string(),
            query: substitute(&metric.query, vars, &run.revision),
        });
    }
}

/// Measure an inconclusive run again, one interval from now: a result asked for at the
/// instant of the resume would meet the same empty window that made the run inconclusive.
/// The person accepted the inconclusive results seen so far; failures still count.
pub(crate) fn resume(run: &mut AnalysisRun, now: DateTime<Utc>, interval: chrono::TimeDelta) {
    if run.phase == AnalysisPhase::Inconclusive {
        run.phase = AnalysisPhase::Running;
        run.next_measurement_time = Some(crate::duration::after(now, interval));
        for metric in &mut run.metrics {
            metric.inconclusives = 0;
        }
    }
}

/// A person accepted an inconclusive gate: treat it as passed.
pub(crate) fn accept(run: &mut AnalysisRun) {
    run.phase = AnalysisPhase::Successful;
    run.next_measurement_time = None;
    for metric in &mut run.metrics {
        metric.inconclusives = 0;
    }
}

/// Stop measuring; the run keeps its figures for people to read.
pub(crate) fn stop(run: &mut AnalysisRun) {
    run.next_measurement_time = None;
}

fn conclude(run: &mut AnalysisRun, plan: &AnalysisPlan, gating: bool) -> Option<Verdict> {
    let verdict = verdict_of(run, plan);
    let phase = match verdict {
        Verdict::Failed(_) => AnalysisPhase::Failed,
        Verdict::Inconclusive(_) => AnalysisPhase::Inconclusive,
        Verdict::Passed | Verdict::Running => {
            let passed = gating && run.metrics.iter().all(|m| m.successes >= plan.count);
            if !passed {
                return None;
            }
            AnalysisPhase::Successful
        }
    };
    run.phase = phase;
    run.next_measurement_time = None;
    Some(match phase {
        AnalysisPhase::Successful => Verdict::Passed,
        _ => verdict,
    })
}

fn verdict_of(run: &AnalysisRun, plan: &AnalysisPlan) -> Verdict {
    let explain = |metric: &MetricStatus| {
        format!(
            "metric {:?} {}",
            metric.name,
            metric.message.as_deref().unwrap_or("has no measurement")
        )
    };
    if let Some(metric) = run.metrics.iter().find(|m| m.failures > plan.failure_limit) {
        return Verdict::Failed(explain(metric));
    }
    if let Some(metric) = run
        .metrics
        .iter()
        .find(|m| m.inconclusives > plan.inconclusive_limit)
    {
        return Verdict::Inconclusive(explain(metric));
    }
    match run.phase {
        AnalysisPhase::Successful => Verdict::Passed,
        // A person accepted or retried it; nothing crosses a limit any more.
        _ => Verdict::Running,
    }
}

/// The outcome of one measurement, the value as shown, and why it is not a success (a success
/// needs no explanation beyond its value).
fn judge(
    value: &MetricValue,
    range: ThresholdRange,
) -> (MeasurementOutcome, Option<String>, Option<String>) {
    match value {
        MetricValue::Sample(v) if v.is_nan() => (
            MeasurementOutcome::Inconclusive,
            Some("NaN".into()),
            Some("value NaN is not a number".into()),
        ),
        // No real measurement is infinite: a division by zero or an overflow says nothing
        // about the canary, whichever side of a one-sided bound it lands on.
        MetricValue::Sample(v) if v.is_infinite() => {
            let shown = format_sample(*v);
            (
                MeasurementOutcome::Inconclusive,
                Some(shown.clone()),
                Some(format!("value {shown} is not a finite number")),
            )
        }
        MetricValue::Sample(v) => {
            let shown = format_sample(*v);
            let (outcome, message) = match (range.min, range.max) {
                (Some(min), _) if *v < min => (
                    MeasurementOutcome::Failure,
                    Some(format!("value {shown} is below min {}", format_sample(min))),
                ),
                (_, Some(max)) if *v > max => (
                    MeasurementOutcome::Failure,
                    Some(format!("value {shown} is above max {}", format_sample(max))),
                ),
                _ => (MeasurementOutcome::Success, None),
            };
            (outcome, Some(shown), message)
        }
        MetricValue::Empty => (
            MeasurementOutcome::Inconclusive,
            None,
            Some("query returned no data".into()),
        ),
        MetricValue::Error(error) => (
            MeasurementOutcome::Inconclusive,
            None,
            Some(format!("query failed: {error}")),
        ),
    }
}

fn record(
    metric: &mut MetricStatus,
    round: u32,
    outcome: MeasurementOutcome,
    value: Option<String>,
    message: Option<String>,
) {
    metric.last_round = round;
    metric.last_outcome = Some(outcome);
    metric.last_value = value;
    metric.message = message;
    // Counted over the run: a success does not forgive an earlier failure.
    match outcome {
        MeasurementOutcome::Success => metric.successes = metric.successes.saturating_add(1),
        MeasurementOutcome::Failure => metric.failures = metric.failures.saturating_add(1),
        MeasurementOutcome::Inconclusive => {
            metric.inconclusives = metric.inconclusives.saturating_add(1);
        }
    }
}

/// A sample as Prometheus writes it, short enough for a status field: very large or very
/// small magnitudes in exponent form with six significant digits.
pub(crate) fn format_sample(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if value != 0.0 && !(1e-6..1e15).contains(&value.abs()) {
        format!("{value:.5e}")
    } else {
        let plain = format!("{value}");
        if plain.len() > 24 {
            format!("{value:.6}")
        } else {
            plain
        }
    }
}

fn substitute(query: &str, vars: &QueryVars<'_>, revision: &str) -> String {
    query
        .replace("{{namespace}}", vars.namespace)
        .replace("{{name}}", vars.name)
        .replace("{{revision}}", revision)
        .replace("{{stableRevision}}", vars.stable_revision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::MetricSpec;
    use chrono::{TimeDelta, TimeZone};

    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::seconds(seconds)
    }

    fn plan(failure_limit: u32, inconclusive_limit: u32) -> AnalysisPlan<'static> {
        AnalysisPlan {
            interval: TimeDelta::seconds(60),
            failure_limit,
            inconclusive_limit,
            count: 2,
            address: "http://prom:9090",
            // Leaked: a test plan lives as long as the test.
            metrics: Vec::leak(vec![MetricSpec {
                name: "error-rate".into(),
                query: "rate(errors{ns=\"{{namespace}}\",rev=\"{{revision}}\"}[1m])".into(),
                threshold_range: ThresholdRange {
                    min: None,
                    max: Some(0.05),
                },
                initial_delay: None,
            }]),
            initial_delays: vec![TimeDelta::zero()],
        }
    }

    fn vars() -> QueryVars<'static> {
        QueryVars {
            namespace: "shop",
            name: "web",
            stable_revision: "s1",
        }
    }

    fn answer(run: &AnalysisRun, value: MetricValue, at: i64) -> MetricResult {
        MetricResult {
            key: MeasurementKey {
                analysis: run.kind,
                step_index: run.step_index,
                revision: run.revision.clone(),
                round: run.round,
                metric: "error-rate".into(),
            },
            value,
            time: t(at),
        }
    }

    #[test]
    fn first_advance_issues_a_substituted_query_and_wakes_after_the_interval() {
        let plan = plan(0, 0);
        let mut run = new_run(AnalysisKind::Step, Some(2), "c1", &plan);
        let mut out = RunOutput::default();
        let verdict = advance(&mut run, &plan, true, true, t(0), &[], &vars(), &mut out);
        assert_eq!(verdict, Verdict::Running);
        assert_eq!(out.queries.len(), 1);
        assert_eq!(
            out.queries[0].query,
            "rate(errors{ns=\"shop\",rev=\"c1\"}[1m])"
        );
        assert_eq!(out.wake_at, Some(t(60)));
    }

    #[test]
    fn gate_passes_after_count_successes() {
        let plan = plan(0, 0);
        let mut run = new_run(AnalysisKind::Step, Some(0), "c1", &plan);
        let mut out = RunOutput::default();
        advance(&mut run, &plan, true, true, t(0), &[], &vars(), &mut out);
        let ok = answer(&run, MetricValue::Sample(0.01), 1);
        assert_eq!(
            advance(&mut run, &plan, true, true, t(1), &[ok], &vars(), &mut out),
            Verdict::Running
        );
        advance(&mut run, &plan, true, true, t(60), &[], &vars(), &mut out);
        let ok = answer(&run, MetricValue::Sample(0.02), 61);
        assert_eq!(
            advance(&mut run, &plan, true, true, t(61), &[ok], &vars(), &mut out),
            Verdict::Passed
        );
    }

    #[test]
    fn failure_beyond_the_limit_names_metric_value_and_bound() {
        let plan = plan(0, 0);
        let mut run = new_run(AnalysisKind::Background, None, "c1", &plan);
        let mut out = RunOutput::default();
        advance(&mut run, &plan, false, true, t(0), &[], &vars(), &mut out);
        let bad = answer(&run, MetricValue::Sample(0.12), 1);
        let verdict = advance(
            &mut run,
            &plan,
            false,
            true,
            t(1),
            &[bad],
            &vars(),
            &mut out,
        );
        assert_eq!(
            verdict,
            Verdict::Failed("metric \"error-rate\" value 0.12 is above max 0.05".into())
        );
        assert_eq!(run.phase, AnalysisPhase::Failed);
    }

    #[test]
    fn empty_nan_and_errors_are_inconclusive_never_success() {
        for value in [
            MetricValue::Empty,
            MetricValue::Sample(f64::NAN),
            MetricValue::Error("timeout".into()),
        ] {
            let plan = plan(0, 0);
            let mut run = new_run(AnalysisKind::Step, Some(0), "c1", &plan);
            let mut out = RunOutput::default();
            advance(&mut run, &plan, true, true, t(0), &[], &vars(), &mut out);
            let result = answer(&run, value.clone(), 1);
            let verdict = advance(
                &mut run,
                &plan,
                true,
                true,
                t(1),
                &[result],
                &vars(),
                &mut out,
            );
            assert!(
                matches!(verdict, Verdict::Inconclusive(_)),
                "{value:?}: {verdict:?}"
            );
            assert_eq!(run.metrics[0].successes, 0);
        }
    }

    #[test]
    fn a_missing_answer_counts_as_inconclusive_when_the_next_round_is_due() {
        let plan = plan(0, 1);
        let mut run = new_run(AnalysisKind::Background, None, "c1", &plan);
        let mut out = RunOutput::default();
        advance(&mut run, &plan, false, true, t(0), &[], &vars(), &mut out);
        advance(&mut run, &plan, false, true, t(60), &[], &vars(), &mut out);
        assert_eq!(run.metrics[0].inconclusives, 1);
        assert_eq!(run.round, 2);
        let verdict = advance(&mut run, &plan, false, true, t(120), &[], &vars(), &mut out);
        assert!(matches!(verdict, Verdict::Inconclusive(_)), "{verdict:?}");
    }

    #[test]
    fn each_round_is_judged_once_even_if_the_result_is_seen_twice() {
        let plan = plan(5, 5);
        let mut run = new_run(AnalysisKind::Background, None, "c1", &plan);
        let mut out = RunOutput::default();
        advance(&mut run, &plan, false, true, t(0), &[], &vars(), &mut out);
        let bad = answer(&run, MetricValue::Sample(1.0), 1);
        advance(
            &mut run,
            &plan,
            false,
            true,
            t(1),
            std::slice::from_ref(&bad),
            &vars(),
            &mut out,
        );
        advance(
            &mut run,
            &plan,
            false,
            true,
            t(2),
            &[bad],
            &vars(),
            &mut out,
        );
        assert_eq!(run.metrics[0].failures, 1);
    }
}
