//! `kulta plan FILE`: what a Rollout manifest would do, before it ships.
//!
//! The Rollout runs through the core's simulated cluster ([`kulta::sim`]) under a default
//! world: its previous revision is stable at full scale with every Service and the route in
//! place, then the pod template changes to the one in the file. New pods are ready after
//! `--pods-ready-after`; every metric answers a value inside its threshold range (or the one
//! given with `--metric`); a person promotes each indefinite pause at once. The plan prints
//! the timeline, the time to full promotion, and the worst-case time to a rollback: the
//! metrics going bad at the latest moment that still rolls back, and pods that never become
//! ready (the progress deadline).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kulta::conditions::reason;
use kulta::duration::DurationString;
use kulta::sim::metrics::{MetricPhase, MetricScript, MetricTable};
use kulta::sim::{PodBehaviour, Record, Sim, World, check_invariants, timeline};
use kulta::spec::{AnalysisSpec, CanaryStep, MetricSpec, ThresholdRange};
use kulta::{ControlRequest, Effect, Phase, RequestAction, Rollout, RolloutRef, pod_template_hash};

use super::manifest::{self, Document};
use super::{CliError, Outcome, lint};

/// Arguments of `kulta plan`.
#[derive(clap::Args, Debug, Clone)]
pub struct PlanArgs {
    /// The manifest: a file with one or more kulta.io Rollouts (other objects are ignored).
    pub file: PathBuf,
    /// How long new pods take to become ready.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub pods_ready_after: Duration,
    /// The value a metric answers for the new revision (default: one inside its threshold
    /// range), as NAME=VALUE; repeat for several metrics.
    #[arg(long = "metric", value_name = "NAME=VALUE", value_parser = parse_metric)]
    pub metrics: Vec<(String, f64)>,
    /// Also draw the planned rollout as an SVG timeline here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

fn parse_metric(text: &str) -> Result<(String, f64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} in {text:?} is not a number"))?;
    if name.trim().is_empty() {
        return Err(format!("{text:?} has no metric name"));
    }
    Ok((name.trim().to_string(), value))
}

/// Virtual time a plan may cover before it gives up.
const HORIZON: TimeDelta = TimeDelta::days(7);
/// `step` calls a plan may make per run.
const MAX_STEPS: usize = 50_000;
/// Moments tried for the metrics going bad.
const MAX_MOMENTS: usize = 400;
/// What the previous revision's pod template carries, so that it differs from the file's.
const PREVIOUS_ANNOTATION: &str = "kulta.io/plan-revision";

/// Plan every Rollout in the file.
pub fn plan(args: &PlanArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let documents = manifest::read(&args.file)?;
    let rollouts: Vec<&Document> = documents
        .iter()
        .filter(|document| document.is(lint::GROUP, "Rollout"))
        .collect();
    if rollouts.is_empty() {
        let peer = documents.iter().any(|document| {
            document.is("argoproj.io", "Rollout") || document.is("flagger.app", "Canary")
        });
        let hint = if peer {
            "; `kulta convert` turns its Argo Rollouts Rollout or Flagger Canary into one"
        } else {
            ""
        };
        writeln!(
            out,
            "{}: no kulta.io Rollout in the file{hint}",
            args.file.display()
        )?;
        return Ok(Outcome::BadInput);
    }
    let ready_after = TimeDelta::from_std(args.pods_ready_after).map_err(|_| {
        CliError::Usage(format!(
            "--pods-ready-after {}: too long",
            humantime::format_duration(args.pods_ready_after)
        ))
    })?;
    let mut outcome = Outcome::Ok;
    for (index, document) in rollouts.iter().enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        let rollout = lint::rollout(document).and_then(|rollout| {
            with_workload_template(rollout, document, &documents).map_err(|problem| vec![problem])
        });
        let rollout = match rollout {
            Ok(rollout) => rollout,
            Err(problems) => {
                for problem in problems {
                    writeln!(
                        out,
                        "{}: {}: {problem}",
                        args.file.display(),
                        document.who()
                    )?;
                }
                outcome = worse(outcome, Outcome::BadInput);
                continue;
            }
        };
        let world = PlanWorld::new(&rollout, ready_after, &args.metrics);
        for name in args.metrics.iter().map(|(name, _)| name) {
            if !world.metrics.contains_key(name) {
                return Err(CliError::Usage(format!(
                    "--metric {name}: {} has no metric of that name",
                    document.who()
                )));
            }
        }
        let planned = plan_one(&world, document, args, out)?;
        outcome = worse(outcome, planned);
    }
    Ok(outcome)
}

/// A Rollout that ships a Deployment's template (`workloadRef`) is planned with that template,
/// read from the Deployment in the same file.
fn with_workload_template(
    mut rollout: Rollout,
    document: &Document,
    documents: &[Document],
) -> Result<Rollout, String> {
    let Some(reference) = rollout.spec.workload_ref.take() else {
        return Ok(rollout);
    };
    let deployment = documents
        .iter()
        .find(|other| {
            other.is("apps", "Deployment")
                && other.name() == Some(reference.name.as_str())
                && other.namespace() == document.namespace()
        })
        .ok_or_else(|| {
            format!(
                "spec.workloadRef names Deployment {}, which is not in the file; plan needs its pod template",
                reference.name
            )
        })?;
    let template = deployment
        .value
        .get("spec")
        .and_then(|spec| spec.get("template"))
        .cloned()
        .ok_or_else(|| format!("Deployment {} has no spec.template", reference.name))?;
    rollout.spec.template = serde_yaml_ng::from_value(template)
        .map_err(|error| format!("Deployment {}: spec.template: {error}", reference.name))?;
    Ok(rollout)
}

/// The more serious of two outcomes.
fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |outcome: Outcome| match outcome {
        Outcome::Ok => 0,
        Outcome::NeedsPerson => 1,
        Outcome::Found | Outcome::Failed => 2,
        Outcome::TimedOut => 3,
        Outcome::BadInput => 4,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn plan_one(
    world: &PlanWorld<'_>,
    document: &Document,
    args: &PlanArgs,
    out: &mut impl Write,
) -> Result<Outcome, CliError> {
    let happy = world.run(&Variant::AsPlanned);
    writeln!(
        out,
        "# {}: {}; new pods ready after {}",
        document.who(),
        world.describe(),
        humantime::format_duration(args.pods_ready_after)
    )?;
    for (name, metric) in &world.metrics {
        writeln!(
            out,
            "# metric {name} answers {} for the new revision (threshold {})",
            metric.value,
            range_text(&metric.range)
        )?;
    }
    writeln!(
        out,
        "# 0s is when the pod template changes; the previous revision (old) is stable at full scale"
    )?;
    let records = &happy.sim.records[happy.change_index..];
    for (index, record) in records.iter().enumerate() {
        if let Err(violation) = check_invariants(record) {
            writeln!(
                out,
                "step #{index}: a safety invariant broke: {violation}\nthis is a bug in KULTA; please report it with this manifest"
            )?;
            return Ok(Outcome::Found);
        }
    }
    let entries = timeline::timeline(records, happy.change_at, &world.aliases, world.name);
    out.write_all(timeline::render_text(&entries).as_bytes())?;
    if let Some(svg_path) = &args.svg {
        let frames: Vec<super::svg::Frame<'_>> = records
            .iter()
            .map(|record| super::svg::Frame {
                spec: &record.spec,
                after: &record.after,
                observations: &record.observations,
            })
            .collect();
        let title = format!("kulta plan {}", document.who());
        let svg = super::svg::render(
            &title,
            "the pod template changes at 0s",
            &frames,
            &world.aliases,
        );
        super::svg::write(svg_path, &svg)?;
    }
    let since = |at: DateTime<Utc>| offset_text(at - happy.change_at);
    let promotions = if happy.promotions.is_empty() {
        String::new()
    } else {
        let at: Vec<String> = happy.promotions.iter().map(|at| since(*at)).collect();
        format!(
            " (a person promotes at {}, as soon as asked)",
            at.join(", ")
        )
    };
    let outcome = match &happy.ending {
        Ending::Completed(at) => {
            writeln!(out, "full promotion after {}{promotions}", since(*at))?;
            Outcome::Ok
        }
        Ending::Failed(at, why) => {
            writeln!(out, "rolled back after {}: {why}", since(*at))?;
            Outcome::Failed
        }
        Ending::Stalled(at) => {
            writeln!(
                out,
                "stalled after {}: nothing more happens without a person",
                since(*at)
            )?;
            Outcome::NeedsPerson
        }
    };
    if !matches!(happy.ending, Ending::Completed(_)) {
        return Ok(outcome);
    }
    match worst_metric_rollback(world, &happy) {
        None if world.metrics.is_empty() => writeln!(
            out,
            "worst-case rollback on metrics: none, there is no analysis (only the progress deadline rolls back)"
        )?,
        None => writeln!(
            out,
            "worst-case rollback on metrics: none, a bad value is never measured before promotion"
        )?,
        Some(worst) => writeln!(
            out,
            "worst-case rollback on metrics: after {}, when the metrics go bad at {} ({} to notice)",
            offset_text(worst.rolled_back),
            offset_text(worst.bad_from),
            offset_text(worst.rolled_back - worst.bad_from)
        )?,
    }
    let stuck = world.run(&Variant::PodsNeverReady);
    match stuck.ending {
        Ending::Failed(at, why) => writeln!(
            out,
            "rollback when the new pods never become ready: after {} ({why})",
            offset_text(at - stuck.change_at)
        )?,
        Ending::Completed(at) | Ending::Stalled(at) => writeln!(
            out,
            "rollback when the new pods never become ready: none within {} of virtual time",
            offset_text(at - stuck.change_at)
        )?,
    }
    Ok(outcome)
}

/// The latest rollback the metrics can cause.
struct Worst {
    /// When the metrics went bad, from the change.
    bad_from: TimeDelta,
    /// When the rollout was rolled back, from the change.
    rolled_back: TimeDelta,
}

/// Try every moment the planned run decided something (and one second after it) as the moment
/// every metric of the new revision goes bad; keep the latest rollback.
fn worst_metric_rollback(world: &PlanWorld<'_>, happy: &Run) -> Option<Worst> {
    if world.metrics.is_empty() {
        return None;
    }
    let Ending::Completed(completed) = happy.ending else {
        return None;
    };
    let mut moments = BTreeSet::new();
    for record in &happy.sim.records[happy.change_index..] {
        let at = record.observations.now - happy.change_at;
        moments.insert(at);
        moments.insert(at + TimeDelta::seconds(1));
    }
    let mut worst: Option<Worst> = None;
    for bad_from in moments
        .into_iter()
        .filter(|at| happy.change_at + *at < completed)
        .take(MAX_MOMENTS)
    {
        let run = world.run(&Variant::MetricsBadFrom(happy.change_at + bad_from));
        if let Ending::Failed(at, _) = run.ending {
            let rolled_back = at - run.change_at;
            if worst
                .as_ref()
                .is_none_or(|worst| rolled_back > worst.rolled_back)
            {
                worst = Some(Worst {
                    bad_from,
                    rolled_back,
                });
            }
        }
    }
    worst
}

/// A duration as the timeline writes it.
fn offset_text(delta: TimeDelta) -> String {
    humantime::format_duration(delta.to_std().unwrap_or_default()).to_string()
}

fn range_text(range: &ThresholdRange) -> String {
    match (range.min, range.max) {
        (Some(min), Some(max)) => format!("{min}..={max}"),
        (Some(min), None) => format!(">= {min}"),
        (None, Some(max)) => format!("<= {max}"),
        (None, None) => "any".into(),
    }
}

/// One metric of the plan.
struct PlannedMetric {
    /// Its range (the first analysis that names it).
    range: ThresholdRange,
    /// What it answers while things go well.
    value: f64,
}

/// What differs between the runs of one plan.
enum Variant {
    /// Everything as configured.
    AsPlanned,
    /// Every metric of the new revision answers a bad value from this time on.
    MetricsBadFrom(DateTime<Utc>),
    /// The new revision's pods never become ready.
    PodsNeverReady,
}

/// How a run ended.
enum Ending {
    /// The new revision became stable.
    Completed(DateTime<Utc>),
    /// The new revision was rolled back, and why.
    Failed(DateTime<Utc>, String),
    /// Nothing more would happen (or the horizon passed).
    Stalled(DateTime<Utc>),
}

/// One run of the plan.
struct Run {
    sim: Sim,
    /// Index of the first record after the template change.
    change_index: usize,
    /// When the template changed.
    change_at: DateTime<Utc>,
    /// When a person promoted.
    promotions: Vec<DateTime<Utc>>,
    ending: Ending,
}

/// The default world of a plan, for one Rollout.
struct PlanWorld<'a> {
    rollout: &'a Rollout,
    name: &'a str,
    ready_after: TimeDelta,
    previous: PodTemplateSpec,
    new_revision: String,
    metrics: BTreeMap<String, PlannedMetric>,
    aliases: BTreeMap<String, String>,
}

impl<'a> PlanWorld<'a> {
    fn new(rollout: &'a Rollout, ready_after: TimeDelta, given: &[(String, f64)]) -> Self {
        let mut previous = rollout.spec.template.clone();
        previous
            .metadata
            .get_or_insert_with(Default::default)
            .annotations
            .get_or_insert_with(Default::default)
            .insert(PREVIOUS_ANNOTATION.into(), "previous".into());
        let new_revision = pod_template_hash(&rollout.spec.template);
        let aliases = BTreeMap::from([
            (pod_template_hash(&previous), "old".to_string()),
            (new_revision.clone(), "new".to_string()),
        ]);
        let mut metrics = BTreeMap::new();
        for metric in analysis_metrics(rollout) {
            metrics.entry(metric.name.clone()).or_insert_with(|| {
                let value = given
                    .iter()
                    .rev()
                    .find(|(name, _)| *name == metric.name)
                    .map_or_else(|| good_value(&metric.threshold_range), |(_, v)| *v);
                PlannedMetric {
                    range: metric.threshold_range,
                    value,
                }
            });
        }
        PlanWorld {
            rollout,
            name: rollout.metadata.name.as_deref().unwrap_or("rollout"),
            ready_after,
            previous,
            new_revision,
            metrics,
            aliases,
        }
    }

    /// The strategy in a few words.
    fn describe(&self) -> String {
        let spec = &self.rollout.spec;
        let strategy = match (&spec.strategy.canary, &spec.strategy.blue_green) {
            (Some(canary), _) => format!("canary in {} steps", canary.steps.len()),
            (None, Some(_)) => "blue-green".to_string(),
            (None, None) => "simple rolling update".to_string(),
        };
        let pods = if spec.replicas == 1 { "pod" } else { "pods" };
        format!("{strategy}, {} {pods}", spec.replicas)
    }

    fn run(&self, variant: &Variant) -> Run {
        let start = kulta::sim::scenario::start_time();
        let mut table = MetricTable {
            start,
            fallback: Some(MetricScript::Constant(0.0)),
            ..MetricTable::default()
        };
        for (name, metric) in &self.metrics {
            let good = MetricScript::Constant(metric.value);
            let script = match variant {
                Variant::MetricsBadFrom(at) => MetricScript::Steps(vec![
                    MetricPhase {
                        from: DurationString::new("0s"),
                        value: good,
                    },
                    MetricPhase {
                        from: DurationString::new(format!(
                            "{}ms",
                            (*at - start).num_milliseconds()
                        )),
                        value: MetricScript::Constant(bad_value(&metric.range)),
                    },
                ]),
                _ => good,
            };
            table
                .overrides
                .insert((name.clone(), self.new_revision.clone()), script);
            table.defaults.insert(
                name.clone(),
                MetricScript::Constant(good_value(&metric.range)),
            );
        }
        let (services, route) = match kulta::validate(&self.rollout.spec) {
            Ok(plan) => (
                plan.service_names()
                    .into_iter()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
                plan.routing()
                    .map(|routing| vec![routing.stable_service, routing.canary_service])
                    .map(|backends| backends.into_iter().map(str::to_string).collect::<Vec<_>>()),
            ),
            Err(_) => (Vec::new(), None),
        };
        let service_names: Vec<&str> = services.iter().map(String::as_str).collect();
        let route_names: Option<Vec<&str>> = route
            .as_ref()
            .map(|names| names.iter().map(String::as_str).collect());
        let rollout = RolloutRef {
            name: self.name.to_string(),
            namespace: self
                .rollout
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            uid: "00000000-0000-4000-8000-00000000a11a".into(),
            generation: 1,
        };
        let mut world = World::new(
            start,
            rollout,
            &service_names,
            route_names.as_deref(),
            table,
        );
        world.default_pods = PodBehaviour::ReadyAfter(self.ready_after);
        if let Variant::PodsNeverReady = variant {
            world
                .pods
                .insert(self.new_revision.clone(), PodBehaviour::NeverReady);
        }
        let mut spec = self.rollout.spec.clone();
        spec.template = self.previous.clone();
        let mut sim = Sim::new(spec, world);
        let previous = pod_template_hash(&self.previous);
        let mut promotions = Vec::new();
        let setup = drive(
            &mut sim,
            &self.aliases,
            &previous,
            false,
            &mut promotions,
            start + HORIZON,
        );
        let change_at = sim.world.now;
        let change_index = sim.records.len();
        if !matches!(setup, Ending::Completed(_)) {
            return Run {
                sim,
                change_index,
                change_at,
                promotions,
                ending: setup,
            };
        }
        let template = self.rollout.spec.template.clone();
        sim.edit(|spec| spec.template = template);
        let ending = drive(
            &mut sim,
            &self.aliases,
            &self.new_revision,
            true,
            &mut promotions,
            change_at + HORIZON,
        );
        Run {
            sim,
            change_index,
            change_at,
            promotions,
            ending,
        }
    }
}

/// Every metric of every analysis of the spec.
fn analysis_metrics(rollout: &Rollout) -> Vec<&MetricSpec> {
    let strategy = &rollout.spec.strategy;
    let mut analyses: Vec<&AnalysisSpec> = Vec::new();
    if let Some(canary) = &strategy.canary {
        analyses.extend(&canary.analysis);
        analyses.extend(canary.steps.iter().filter_map(|step| match step {
            CanaryStep::Analysis(analysis) => Some(analysis),
            _ => None,
        }));
    }
    if let Some(blue_green) = &strategy.blue_green {
        analyses.extend(&blue_green.pre_promotion_analysis);
        analyses.extend(&blue_green.post_promotion_analysis);
    }
    if let Some(simple) = &strategy.simple {
        analyses.extend(&simple.analysis);
    }
    analyses
        .into_iter()
        .flat_map(|analysis| &analysis.metrics)
        .collect()
}

/// A value inside the range: its middle, or the bound it has.
fn good_value(range: &ThresholdRange) -> f64 {
    match (range.min, range.max) {
        (Some(min), Some(max)) => min + (max - min) / 2.0,
        (Some(bound), None) | (None, Some(bound)) => bound,
        (None, None) => 0.0,
    }
}

/// A value clearly outside the range.
fn bad_value(range: &ThresholdRange) -> f64 {
    match (range.min, range.max) {
        (_, Some(max)) => max + max.abs().max(1.0),
        (Some(min), None) => min - min.abs().max(1.0),
        (None, None) => f64::NAN,
    }
}

/// Step the simulation until `target` is stable, fails, or nothing more happens; with
/// `person`, promote whenever the rollout waits for one.
fn drive(
    sim: &mut Sim,
    aliases: &BTreeMap<String, String>,
    target: &str,
    person: bool,
    promotions: &mut Vec<DateTime<Utc>>,
    horizon: DateTime<Utc>,
) -> Ending {
    sim.settle();
    let start = sim.records.len();
    loop {
        let now = sim.world.now;
        let status = &sim.status;
        match status.phase {
            Some(Phase::Completed) if status.stable_revision.as_deref() == Some(target) => {
                return Ending::Completed(now);
            }
            Some(Phase::Failed) => {
                return Ending::Failed(now, timeline::alias_text(&failure_reason(sim), aliases));
            }
            _ => {}
        }
        if sim.records.len() - start > MAX_STEPS {
            return Ending::Stalled(now);
        }
        if person && waits_for_person(sim) && promotions.last() != Some(&now) {
            promotions.push(now);
            sim.request(ControlRequest {
                action: RequestAction::Promote,
                token: format!("plan-promote-{}", promotions.len()),
                revision: Some(target.to_string()),
            });
            continue;
        }
        match next_event(sim) {
            Some(at) if at <= horizon => {
                sim.world.advance_to(at);
                sim.settle();
            }
            _ => return Ending::Stalled(now),
        }
    }
}

/// Whether the rollout holds until a person acts: a pause, or a promotable blue-green preview
/// without automatic promotion.
fn waits_for_person(sim: &Sim) -> bool {
    let status = &sim.status;
    match status.phase {
        Some(Phase::Paused) => true,
        Some(Phase::Preview) => {
            let automatic = sim
                .spec
                .strategy
                .blue_green
                .as_ref()
                .is_some_and(|blue_green| blue_green.auto_promotion_enabled);
            !automatic
                && status.blue_green.as_ref().is_some_and(|blue_green| {
                    blue_green.promotable_since.is_some() && !blue_green.promotion_requested
                })
        }
        _ => false,
    }
}

/// The next moment anything happens: the wake-up `step` asked for, a pod changing, a failure
/// window.
fn next_event(sim: &Sim) -> Option<DateTime<Utc>> {
    let requeue = sim.records.last().and_then(requeue_at);
    [
        requeue,
        sim.world.next_pod_event(),
        sim.world.next_failure_event(),
    ]
    .into_iter()
    .flatten()
    .filter(|at| *at > sim.world.now)
    .min()
}

fn requeue_at(record: &Record) -> Option<DateTime<Utc>> {
    record.effects.iter().find_map(|effect| match effect {
        Effect::RequeueAfter { after, .. } => TimeDelta::from_std(*after)
            .ok()
            .map(|delta| record.observations.now + delta),
        _ => None,
    })
}

/// The condition that says why the rollout failed.
fn failure_reason(sim: &Sim) -> String {
    let failures = [
        reason::ANALYSIS_FAILED,
        reason::PROGRESS_DEADLINE_EXCEEDED,
        reason::ABORTED,
        reason::ROLLOUT_FAILED,
    ];
    sim.status
        .conditions
        .iter()
        .find(|condition| failures.contains(&condition.reason.as_str()))
        .map_or_else(
            || "rolled back".to_string(),
            |condition| format!("{} {}", condition.reason, condition.message),
        )
}
