//! `kulta-scale`: KULTA's scale benchmark. It starts `kulta-apisim` and `kulta run` as separate
//! processes, loads N Rollouts (simple and canary, 2 replicas each, in one namespace or many),
//! and measures from outside what a user would see: time to converge, the operator's memory
//! and CPU, latencies from a template change to the new ReplicaSet and to the end of the
//! rollout, the operator's API requests at rest and per canary weight step (from the
//! simulator's request counts), and the size of `/metrics`.
//!
//! ```sh
//! cargo build --release -p kulta-apisim -p kulta-interpreter -p kulta-scale
//! target/release/kulta-scale --rollouts 10000 --namespaces 20
//! ```
//!
//! With `--guard` it exits non-zero when a figure breaks its CI bound (see [`report::guard`]).

mod api;
mod error;
mod load;
mod process;
mod report;
mod run;
mod track;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// KULTA's scale benchmark: the operator and the API simulator as separate processes.
#[derive(Parser, Debug, Clone)]
#[command(name = "kulta-scale", version, about)]
pub struct Args {
    /// Rollouts to load.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rollouts: u32,
    /// Namespaces to spread them over (round robin).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub namespaces: u32,
    /// Percentage of the Rollouts that are canaries (the rest are simple).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub canary_percent: u8,
    /// Operator processes, each taking the Rollouts labelled with its shard (`--selector`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub shards: u32,
    /// Watch every namespace instead of passing each with `--namespace`.
    #[arg(long)]
    pub all_namespaces: bool,
    /// Run the operators with leader election (each shard its own Lease).
    #[arg(long)]
    pub leader_election: bool,
    /// How long to watch the converged operator at rest.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub rest: Duration,
    /// Time from a ReplicaSet's spec change to its pods being ready (the simulator's model).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    pub ready_after: Duration,
    /// The longest any one wait may take before the run fails.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Pause between two template changes of a round (0: send them back to back, a flood that
    /// measures queueing more than latency).
    #[arg(long, default_value = "10ms", value_parser = humantime::parse_duration)]
    pub pace: Duration,
    /// Skip the update rounds (load, converge and rest only).
    #[arg(long)]
    pub no_updates: bool,
    /// Requests in flight while loading.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub load_concurrency: u16,
    /// An extra argument for `kulta run` (repeatable), such as --operator-arg=--workers=64.
    #[arg(long = "operator-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub operator_args: Vec<String>,
    /// The `kulta` binary (default: next to this one).
    #[arg(long, value_name = "PATH")]
    pub kulta: Option<PathBuf>,
    /// The `kulta-apisim` binary (default: next to this one).
    #[arg(long, value_name = "PATH")]
    pub apisim: Option<PathBuf>,
    /// Print the figures as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Fail (exit 1) if writes at rest are not 0, a p99 exceeds 5× its goal, or RSS exceeds 2×
    /// its goal.
    #[arg(long)]
    pub guard: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let report = match runtime.block_on(run::run(&args)) {
        Ok(report) => report,
        Err(error) => return fail(&error.to_string()),
    };
    let text = if args.json {
        serde_json::to_string_pretty(&report).unwrap_or_default()
    } else {
        report::table(&report)
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").is_err() {
        return ExitCode::FAILURE;
    }
    if args.guard && report.guard.iter().any(|check| !check.passed) {
        let _ = writeln!(
            std::io::stderr(),
            "kulta-scale: the guard failed: {}",
            report
                .guard
                .iter()
                .filter(|check| !check.passed)
                .map(|check| check.figure.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "kulta-scale: {message}");
    ExitCode::from(2)
}
