//! The figures of a run, their goals (issue 15) and the CI guard's bounds, as a table or JSON.

use std::fmt::Write as _;

use serde::Serialize;

/// Goals for 10,000 Rollouts (issue 15); a smaller run is held to the same ceilings.
pub mod goal {
    /// Operator RSS at rest, MiB.
    pub const RSS_AT_REST_MIB: f64 = 100.0;
    /// Operator RSS peak during the updates, MiB.
    pub const RSS_PEAK_MIB: f64 = 150.0;
    /// Time to converge, seconds.
    pub const CONVERGE_SECONDS: f64 = 10.0;
    /// p99 from a template change to the new ReplicaSet, milliseconds.
    pub const NEW_SET_P99_MS: f64 = 50.0;
    /// `/metrics`, bytes.
    pub const METRICS_BYTES: u64 = 1_000_000;
    /// Writes per canary weight step (scale, route, status), its Event not counted.
    pub const WRITES_PER_STEP: f64 = 3.0;
    /// The guard's allowance over a p99 goal.
    pub const GUARD_P99_FACTOR: f64 = 5.0;
    /// The guard's allowance over an RSS goal.
    pub const GUARD_RSS_FACTOR: f64 = 2.0;
}

/// Median and 99th percentile, milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// The percentiles of `samples`.
    pub fn of(mut samples: Vec<f64>) -> Percentiles {
        samples.sort_by(f64::total_cmp);
        let rank = |q: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            let index = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index]
        };
        Percentiles {
            count: samples.len(),
            p50: rank(0.5),
            p99: rank(0.99),
            max: samples.last().copied().unwrap_or(0.0),
        }
    }
}

/// The operators' API requests at rest, per minute (the benchmark's own left out).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Rate {
    /// create, update, patch, delete (Leases excepted).
    pub writes_per_minute: f64,
    /// get and list.
    pub reads_per_minute: f64,
    /// Lease renewals (with `--leader-election`).
    pub lease_writes_per_minute: f64,
    /// Watch streams started.
    pub watches_started: u64,
}

/// The operators' API requests per Rollout in a round.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct PerRollout {
    /// Writes (Leases excepted), Events included.
    pub writes: f64,
    /// Reads.
    pub reads: f64,
}

/// A round of template changes.
#[derive(Clone, Debug, Serialize)]
pub struct Round {
    /// Rollouts shipped.
    pub rollouts: u32,
    /// Time to send every template change (one after another).
    pub shipping_seconds: f64,
    /// From the first change until every Rollout reached its target.
    pub seconds: f64,
    /// Template change → new ReplicaSet.
    pub new_set_ms: Percentiles,
    /// Template change → Completed (simple) or paused at the first weight (canary).
    pub reached_ms: Percentiles,
    /// The operators' requests per Rollout.
    pub per_rollout: PerRollout,
}

/// One canary weight step, moved by a promote request to every canary.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Canaries moved.
    pub rollouts: u32,
    /// Until every one paused at the next weight.
    pub seconds: f64,
    /// Promote request → paused at the next weight.
    pub reached_ms: Percentiles,
    /// The operators' requests per canary for the step.
    pub per_rollout: PerRollout,
}

/// One operator process.
#[derive(Clone, Debug, Serialize)]
pub struct Operator {
    /// Its shard.
    pub shard: u32,
    /// VmRSS when every Rollout had converged, MiB.
    pub rss_converged_mib: f64,
    /// VmRSS at the end of the rest, MiB.
    pub rss_at_rest_mib: f64,
    /// VmHWM at the end of the run, MiB.
    pub rss_peak_mib: f64,
    /// CPU seconds until converged.
    pub cpu_seconds_converge: f64,
    /// CPU seconds during the rest.
    pub cpu_seconds_rest: f64,
    /// CPU seconds over the whole run.
    pub cpu_seconds_total: f64,
    /// Size of `/metrics` at the end.
    pub metrics_bytes: u64,
    /// Series in `/metrics`.
    pub metrics_series: u64,
}

/// One bound the guard checks.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The figure and its bound.
    pub figure: String,
    /// Its value.
    pub value: f64,
    /// The bound.
    pub bound: f64,
    /// Within it.
    pub passed: bool,
}

/// Every figure of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Rollouts loaded.
    pub rollouts: u32,
    /// Namespaces.
    pub namespaces: u32,
    /// Operator processes.
    pub shards: u32,
    /// Canaries among the Rollouts.
    pub canaries: u32,
    /// How the operator was built (from its path).
    pub operator_build: String,
    /// Time to load every Rollout.
    pub load_seconds: f64,
    /// Operator start → every Rollout Completed.
    pub converge_seconds: f64,
    /// How long the converged operators were watched at rest.
    pub rest_seconds: f64,
    /// Their requests at rest.
    pub rest: Rate,
    /// The round of simple updates.
    pub simple: Option<Round>,
    /// The round of canary updates, to the first pause.
    pub canary: Option<Round>,
    /// One canary weight step.
    pub canary_step: Option<Step>,
    /// Each operator process.
    pub operators: Vec<Operator>,
    /// The guard's checks.
    pub guard: Vec<Check>,
}

impl Report {
    fn max(&self, figure: impl Fn(&Operator) -> f64) -> f64 {
        self.operators.iter().map(figure).fold(0.0, f64::max)
    }

    fn sum(&self, figure: impl Fn(&Operator) -> f64) -> f64 {
        self.operators.iter().map(figure).sum()
    }
}

/// The guard: writes at rest 0, every p99 within 5× its goal, RSS within 2× its goal (per
/// operator process).
pub fn guard(report: &Report) -> Vec<Check> {
    let mut checks = vec![Check {
        figure: "writes at rest = 0".into(),
        value: report.rest.writes_per_minute,
        bound: 0.0,
        passed: report.rest.writes_per_minute == 0.0,
    }];
    let p99_bound = goal::NEW_SET_P99_MS * goal::GUARD_P99_FACTOR;
    for (name, round) in [("simple", &report.simple), ("canary", &report.canary)] {
        if let Some(round) = round {
            checks.push(Check {
                figure: format!("{name} p99 template change → new ReplicaSet ≤ {p99_bound} ms"),
                value: round.new_set_ms.p99,
                bound: p99_bound,
                passed: round.new_set_ms.p99 <= p99_bound,
            });
        }
    }
    for (name, value, bound) in [
        (
            "RSS at rest",
            report.max(|o| o.rss_at_rest_mib),
            goal::RSS_AT_REST_MIB * goal::GUARD_RSS_FACTOR,
        ),
        (
            "RSS peak",
            report.max(|o| o.rss_peak_mib),
            goal::RSS_PEAK_MIB * goal::GUARD_RSS_FACTOR,
        ),
    ] {
        checks.push(Check {
            figure: format!("{name} ≤ {bound} MiB"),
            value,
            bound,
            passed: value <= bound,
        });
    }
    checks
}

/// The figures as a table: figure, value, goal.
pub fn table(report: &Report) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut row = |figure: &str, value: String, goal: &str| {
        rows.push((figure.to_string(), value, goal.to_string()));
    };
    row(
        "Rollouts (canaries), namespaces, operators",
        format!(
            "{} ({}), {}, {} ({} build)",
            report.rollouts,
            report.canaries,
            report.namespaces,
            report.shards,
            report.operator_build
        ),
        "",
    );
    row("load", format!("{:.1} s", report.load_seconds), "");
    row(
        "converge (operator start → all Completed)",
        format!("{:.1} s", report.converge_seconds),
        &format!("≤ {} s at 10,000", goal::CONVERGE_SECONDS),
    );
    let shards = report.operators.len() > 1;
    let rss = |figure: fn(&Operator) -> f64| {
        if shards {
            format!(
                "{:.0} MiB (sum {:.0})",
                report.max(figure),
                report.sum(figure)
            )
        } else {
            format!("{:.0} MiB", report.max(figure))
        }
    };
    row("operator RSS converged", rss(|o| o.rss_converged_mib), "");
    row(
        &format!("operator RSS at rest (after {:.0} s)", report.rest_seconds),
        rss(|o| o.rss_at_rest_mib),
        &format!("≤ {} MiB at 10,000", goal::RSS_AT_REST_MIB),
    );
    row(
        "operator RSS peak (VmHWM)",
        rss(|o| o.rss_peak_mib),
        &format!("≤ {} MiB at 10,000", goal::RSS_PEAK_MIB),
    );
    row(
        "operator CPU: converge / rest / whole run",
        format!(
            "{:.1} / {:.2} / {:.1} s",
            report.sum(|o| o.cpu_seconds_converge),
            report.sum(|o| o.cpu_seconds_rest),
            report.sum(|o| o.cpu_seconds_total)
        ),
        "",
    );
    row(
        "writes at rest",
        format!("{:.1} /min", report.rest.writes_per_minute),
        "0",
    );
    let resync_reads = f64::from(report.rollouts) / 5.0;
    row(
        "reads at rest",
        format!(
            "{:.1} /min ({} watches started)",
            report.rest.reads_per_minute, report.rest.watches_started
        ),
        &format!("≤ 1 per Rollout per 5-min resync ({resync_reads:.0} /min)"),
    );
    if report.rest.lease_writes_per_minute > 0.0 {
        row(
            "Lease writes at rest",
            format!("{:.1} /min", report.rest.lease_writes_per_minute),
            "",
        );
    }
    for (name, round, reached) in [
        ("simple", &report.simple, "Completed"),
        ("canary", &report.canary, "first weight (paused)"),
    ] {
        if let Some(round) = round {
            row(
                &format!("{name} round: {} updates", round.rollouts),
                format!(
                    "{:.1} s ({:.1} s sending)",
                    round.seconds, round.shipping_seconds
                ),
                "",
            );
            row(
                &format!("{name}: template change → new ReplicaSet p50 / p99"),
                format!(
                    "{:.1} / {:.1} ms",
                    round.new_set_ms.p50, round.new_set_ms.p99
                ),
                &format!("p99 ≤ {} ms", goal::NEW_SET_P99_MS),
            );
            row(
                &format!("{name}: template change → {reached} p50 / p99"),
                format!(
                    "{:.0} / {:.0} ms",
                    round.reached_ms.p50, round.reached_ms.p99
                ),
                "",
            );
            row(
                &format!("{name}: writes / reads per update"),
                format!(
                    "{:.1} / {:.1}",
                    round.per_rollout.writes, round.per_rollout.reads
                ),
                "",
            );
        }
    }
    if let Some(step) = &report.canary_step {
        row(
            "canary: writes / reads per weight step (Events included)",
            format!(
                "{:.1} / {:.1}",
                step.per_rollout.writes, step.per_rollout.reads
            ),
            &format!("≤ {} writes plus its Event", goal::WRITES_PER_STEP),
        );
        row(
            "canary: promote → next weight p50 / p99",
            format!("{:.0} / {:.0} ms", step.reached_ms.p50, step.reached_ms.p99),
            "",
        );
    }
    row(
        "/metrics",
        format!(
            "{:.0} kB, {} series",
            report.max(|o| o.metrics_bytes as f64) / 1000.0,
            report.max(|o| o.metrics_series as f64)
        ),
        &format!("≤ {} bytes", goal::METRICS_BYTES),
    );
    for check in &report.guard {
        row(
            &format!("guard: {}", check.figure),
            format!("{:.1}", check.value),
            if check.passed { "pass" } else { "FAIL" },
        );
    }
    let width = |pick: fn(&(String, String, String)) -> &String| {
        rows.iter()
            .map(|r| pick(r).chars().count())
            .max()
            .unwrap_or(0)
    };
    let (first, second) = (width(|r| &r.0), width(|r| &r.1));
    let mut text = String::new();
    let _ = writeln!(text, "{:first$}  {:second$}  goal", "figure", "value");
    for (figure, value, goal) in &rows {
        let _ = writeln!(text, "{figure:first$}  {value:second$}  {goal}");
    }
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let samples: Vec<f64> = (1..=200).map(f64::from).collect();
        let p = Percentiles::of(samples);
        assert_eq!((p.count, p.p50, p.p99, p.max), (200, 100.0, 198.0, 200.0));
        assert_eq!(Percentiles::of(Vec::new()).p99, 0.0);
    }
}
