//! One benchmark run: load, start the operators, converge, rest, then a round of simple
//! updates and a round of canary updates moved one weight step at a time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::Args;
use crate::api::{Api, Counted};
use crate::error::BenchError;
use crate::load::{self, CANARY_WEIGHTS, Kind, Loaded, Plan, SHARD_LABEL};
use crate::process::{self, OperatorArgs, Process, Usage};
use crate::report::{self, Operator, Rate, Report, Round, Step};
use crate::track::{Key, Target, Tracker};

/// A temporary directory for the kubeconfig and the operators' logs, removed at the end
/// unless the run failed (the logs explain why).
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Run the benchmark `args` describe.
pub async fn run(args: &Args) -> Result<Report, BenchError> {
    let kulta = process::binary(args.kulta.as_deref(), "kulta")?;
    let apisim = process::binary(args.apisim.as_deref(), "kulta-apisim")?;
    let mut dir = WorkDir {
        path: std::env::temp_dir().join(format!("kulta-scale-{}", std::process::id())),
        keep: true,
    };
    std::fs::create_dir_all(&dir.path)
        .map_err(|error| BenchError::Io(format!("{}: {error}", dir.path.display())))?;
    let kubeconfig = dir.path.join("kubeconfig");
    let (_sim, url) = process::start_apisim(&apisim, &kubeconfig, args.ready_after)?;
    let api = Api::new(&url)?;

    load::cluster(&api, args.namespaces).await?;
    let plan = Plan {
        rollouts: args.rollouts,
        namespaces: args.namespaces,
        shards: args.shards,
        canary_percent: args.canary_percent,
        concurrency: args.load_concurrency,
    };
    let (loaded, load_seconds) = load::rollouts(&api, plan).await?;
    let tracker = Tracker::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watches = tracker.follow(&api, stopped);

    let namespaces: Vec<String> = if args.all_namespaces {
        Vec::new()
    } else {
        (0..args.namespaces).map(load::namespace).collect()
    };
    let started = Instant::now();
    for rollout in &loaded {
        tracker.watch_for(
            rollout.key.clone(),
            rollout.revision.clone(),
            1,
            Target::Completed,
            started,
        );
    }
    let mut operators: Vec<(Process, String)> = Vec::new();
    for shard in 0..args.shards {
        let sharded = args.shards > 1;
        let operator = OperatorArgs {
            binary: &kulta,
            kubeconfig: &kubeconfig,
            namespaces: &namespaces,
            selector: sharded.then(|| format!("{SHARD_LABEL}={shard}")),
            lease: args.leader_election.then(|| format!("kulta-scale-{shard}")),
            log: dir.path.join(format!("operator-{shard}.log")),
            extra: &args.operator_args,
        };
        operators.push(process::start_operator(&operator, Duration::from_secs(60))?);
    }
    let all: Vec<Key> = loaded.iter().map(|r| r.key.clone()).collect();
    let converge = tracker
        .wait(&all, "converging", args.timeout)
        .await
        .map_err(|error| with_exits(error, &mut operators))?;
    let converged = usages(&operators)?;

    let before = api.counted().await?;
    tokio::time::sleep(args.rest).await;
    let rest = api.counted().await?.since(before);
    let at_rest = usages(&operators)?;
    let minutes = args.rest.as_secs_f64() / 60.0;

    let mut report = Report {
        rollouts: args.rollouts,
        namespaces: args.namespaces,
        shards: args.shards,
        canaries: count(&loaded, Kind::Canary),
        operator_build: build_of(&kulta),
        load_seconds,
        converge_seconds: converge.as_secs_f64(),
        rest_seconds: args.rest.as_secs_f64(),
        rest: Rate {
            writes_per_minute: rest.writes as f64 / minutes,
            reads_per_minute: rest.reads as f64 / minutes,
            lease_writes_per_minute: rest.lease_writes as f64 / minutes,
            watches_started: rest.watches,
        },
        simple: None,
        canary: None,
        canary_step: None,
        operators: Vec::new(),
        guard: Vec::new(),
    };

    if !args.no_updates {
        let simple = of_kind(&loaded, Kind::Simple);
        if !simple.is_empty() {
            report.simple = Some(
                ship(
                    &api,
                    &tracker,
                    &simple,
                    Target::Completed,
                    args,
                    "simple updates",
                )
                .await?,
            );
        }
        let canaries = of_kind(&loaded, Kind::Canary);
        if !canaries.is_empty() {
            let first = Target::Paused(CANARY_WEIGHTS[0]);
            report.canary =
                Some(ship(&api, &tracker, &canaries, first, args, "canary updates").await?);
            let second = Target::Paused(CANARY_WEIGHTS[1]);
            report.canary_step = Some(
                promote(
                    &api,
                    &tracker,
                    &canaries,
                    second,
                    args.timeout,
                    "one weight step",
                    1,
                )
                .await?,
            );
            promote(
                &api,
                &tracker,
                &canaries,
                Target::Completed,
                args.timeout,
                "canary completion",
                2,
            )
            .await?;
        }
    }

    let last = usages(&operators)?;
    for (index, ((_, address), usage)) in operators.iter().zip(&last).enumerate() {
        let metrics = api.metrics(address).await?;
        report.operators.push(Operator {
            shard: index as u32,
            rss_converged_mib: converged[index].rss_mib,
            rss_at_rest_mib: at_rest[index].rss_mib,
            rss_peak_mib: usage.peak_mib,
            cpu_seconds_converge: converged[index].cpu_seconds,
            cpu_seconds_rest: at_rest[index].cpu_seconds - converged[index].cpu_seconds,
            cpu_seconds_total: usage.cpu_seconds,
            metrics_bytes: metrics.len() as u64,
            metrics_series: metrics
                .lines()
                .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
                .count() as u64,
        });
    }
    report.guard = report::guard(&report);
    let _ = stop.send(true);
    for watch in watches {
        watch.abort();
    }
    dir.keep = false;
    Ok(report)
}

/// A timeout says whether an operator died meanwhile.
fn with_exits(error: BenchError, operators: &mut [(Process, String)]) -> BenchError {
    let died: Vec<String> = operators
        .iter_mut()
        .enumerate()
        .filter_map(|(shard, (process, _))| {
            process
                .exited()
                .map(|status| format!("operator {shard} exited ({status})"))
        })
        .collect();
    if died.is_empty() {
        error
    } else {
        BenchError::Proc(format!("{error}; {}", died.join("; ")))
    }
}

fn usages(operators: &[(Process, String)]) -> Result<Vec<Usage>, BenchError> {
    operators
        .iter()
        .map(|(process, _)| process.usage())
        .collect()
}

fn count(loaded: &[Loaded], kind: Kind) -> u32 {
    loaded.iter().filter(|r| r.kind == kind).count() as u32
}

fn of_kind(loaded: &[Loaded], kind: Kind) -> Vec<Key> {
    loaded
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.key.clone())
        .collect()
}

/// `release` or `debug`, from where the operator binary lives.
fn build_of(binary: &std::path::Path) -> String {
    let path = binary.display().to_string();
    if path.contains("/release/") {
        "release".into()
    } else if path.contains("/debug/") {
        "debug".into()
    } else {
        "unknown".into()
    }
}

/// Ship a new image to every Rollout of `keys`, one after another, and wait until each reaches
/// `target`.
async fn ship(
    api: &Api,
    tracker: &Tracker,
    keys: &[Key],
    target: Target,
    args: &Args,
    what: &str,
) -> Result<Round, BenchError> {
    let before = api.counted().await?;
    let started = Instant::now();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
    for (namespace, name) in keys {
        let sent = Instant::now();
        let updated = api
            .merge(
                &format!("/apis/kulta.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"),
                &patch,
            )
            .await?;
        let generation = updated["metadata"]["generation"].as_i64().unwrap_or(0);
        tracker.watch_for(
            (namespace.clone(), name.clone()),
            load::revision(&updated)?,
            generation,
            target,
            sent,
        );
        if !args.pace.is_zero() {
            tokio::time::sleep(args.pace).await;
        }
    }
    let shipped = started.elapsed().as_secs_f64();
    tracker.wait(keys, what, args.timeout).await?;
    let seconds = started.elapsed().as_secs_f64();
    let counted = api.counted().await?.since(before);
    let latencies = tracker.latencies(keys);
    Ok(Round {
        rollouts: keys.len() as u32,
        shipping_seconds: shipped,
        seconds,
        new_set_ms: report::Percentiles::of(latencies.new_set),
        reached_ms: report::Percentiles::of(latencies.reached),
        per_rollout: per(counted, keys.len()),
    })
}

/// Send a promote request to every Rollout of `keys` and wait until each reaches `target`.
async fn promote(
    api: &Api,
    tracker: &Tracker,
    keys: &[Key],
    target: Target,
    limit: Duration,
    what: &str,
    round: u32,
) -> Result<Step, BenchError> {
    let before = api.counted().await?;
    let started = Instant::now();
    for (namespace, name) in keys {
        let sent = Instant::now();
        let token = format!("kulta-scale-{round}");
        let patch = json!({"metadata": {"annotations": {kulta::REQUEST_ANNOTATION: format!("promote:{token}")}}});
        tracker.retarget(&(namespace.clone(), name.clone()), target, sent);
        api.merge(
            &format!("/apis/kulta.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"),
            &patch,
        )
        .await?;
    }
    tracker.wait(keys, what, limit).await?;
    let seconds = started.elapsed().as_secs_f64();
    let counted = api.counted().await?.since(before);
    let latencies = tracker.latencies(keys);
    Ok(Step {
        rollouts: keys.len() as u32,
        seconds,
        reached_ms: report::Percentiles::of(latencies.reached),
        per_rollout: per(counted, keys.len()),
    })
}

/// Requests per Rollout.
fn per(counted: Counted, rollouts: usize) -> report::PerRollout {
    let n = rollouts.max(1) as f64;
    report::PerRollout {
        writes: counted.writes as f64 / n,
        reads: counted.reads as f64 / n,
    }
}
