//! The `kulta` command line: offline commands that read files and print to a writer, the
//! operator (`run`), and the commands for people that talk to a cluster.

pub mod control;
pub mod replay;
pub mod run;
pub mod simulate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kulta::RequestAction;

/// KULTA progressive delivery controller.
#[derive(Parser)]
#[command(name = "kulta", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the Rollout CustomResourceDefinition as YAML.
    Crd,
    /// Run a scenario file on virtual time and print its timeline.
    Simulate {
        /// The scenario (YAML).
        scenario: PathBuf,
        /// Also write the run's trace (JSON lines) here.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Print the timeline as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run `step` again over a recorded trace and print the timeline.
    Replay {
        /// The trace (JSON lines).
        trace: PathBuf,
        /// Exit non-zero at the first step whose outputs differ from the recording.
        #[arg(long)]
        verify: bool,
        /// Print one JSON object per step.
        #[arg(long)]
        json: bool,
        /// Print only the summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run the operator until SIGTERM.
    Run(Box<run::RunArgs>),
    /// List rollouts.
    Get {
        /// Namespace (all when absent).
        #[arg(long, short)]
        namespace: Option<String>,
    },
    /// Show a rollout's status; with --watch, follow it until it completes or fails.
    Status {
        /// Rollout name.
        name: String,
        /// Namespace.
        #[arg(long, short, default_value = "default")]
        namespace: String,
        /// Follow changes.
        #[arg(long, short)]
        watch: bool,
    },
    /// Skip the current pause or step (with --full: every remaining step and analysis).
    Promote {
        /// Rollout name.
        name: String,
        /// Namespace.
        #[arg(long, short, default_value = "default")]
        namespace: String,
        /// Promote all the way.
        #[arg(long)]
        full: bool,
    },
    /// Roll back now.
    Abort(Target),
    /// Start a failed rollout again from the first step.
    Retry(Target),
    /// Hold the rollout where it is.
    Pause(Target),
    /// Release a pause, or measure an inconclusive analysis again.
    Resume(Target),
}

/// A rollout named on the command line.
#[derive(clap::Args)]
struct Target {
    /// Rollout name.
    name: String,
    /// Namespace.
    #[arg(long, short, default_value = "default")]
    namespace: String,
}

/// Parse the command line and run the command; the exit code says how it went (0 ok, 1 found
/// what it looks for, 2 bad input or failure).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match cli.command {
        Command::Crd => crd(&mut out),
        Command::Simulate {
            scenario,
            trace,
            json,
        } => {
            let format = if json {
                simulate::Format::Json
            } else {
                simulate::Format::Text
            };
            simulate::simulate(&scenario, trace.as_deref(), format, &mut out)
        }
        Command::Replay {
            trace,
            verify,
            json,
            quiet,
        } => {
            let options = replay::Options {
                verify,
                json,
                quiet,
            };
            replay::replay(&trace, options, &mut out)
        }
        Command::Run(args) => on_runtime(async move {
            run::run(&args).await?;
            Ok(Outcome::Ok)
        }),
        Command::Get { namespace } => on_runtime(async {
            let client = control::client().await?;
            control::get(client, namespace.as_deref(), &mut out).await?;
            Ok(Outcome::Ok)
        }),
        Command::Status {
            name,
            namespace,
            watch,
        } => on_runtime(async {
            let client = control::client().await?;
            control::status(client, &namespace, &name, watch, &mut out).await?;
            Ok(Outcome::Ok)
        }),
        Command::Promote {
            name,
            namespace,
            full,
        } => {
            let action = if full {
                RequestAction::PromoteFull
            } else {
                RequestAction::Promote
            };
            ask(&Target { name, namespace }, action, &mut out)
        }
        Command::Abort(target) => ask(&target, RequestAction::Abort, &mut out),
        Command::Retry(target) => ask(&target, RequestAction::Retry, &mut out),
        Command::Pause(target) => ask(&target, RequestAction::Pause, &mut out),
        Command::Resume(target) => ask(&target, RequestAction::Resume, &mut out),
    };
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(Outcome::Ok), Ok(())) => ExitCode::SUCCESS,
        (Ok(Outcome::Found), Ok(())) => ExitCode::from(1),
        (Err(error), _) => report(&error),
        (_, Err(error)) => report(&CliError::Output(error)),
    }
}

fn on_runtime(
    work: impl std::future::Future<Output = Result<Outcome, CliError>>,
) -> Result<Outcome, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Output)?;
    runtime.block_on(work)
}

fn ask(target: &Target, action: RequestAction, out: &mut impl Write) -> Result<Outcome, CliError> {
    let Target { name, namespace } = target;
    on_runtime(async {
        let client = control::client().await?;
        let value = control::request(client, namespace, name, action).await?;
        writeln!(out, "rollout {namespace}/{name}: requested {value}")?;
        Ok(Outcome::Ok)
    })
}

fn crd(out: &mut impl Write) -> Result<Outcome, CliError> {
    let yaml = crate::crd_yaml()
        .map_err(|error| CliError::Output(std::io::Error::other(error.to_string())))?;
    out.write_all(yaml.as_bytes())?;
    Ok(Outcome::Ok)
}

/// Usage and input errors exit with 2, as is customary.
fn report(error: &CliError) -> ExitCode {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "kulta: {error}");
    ExitCode::from(2)
}

/// Why a command could not do its work (as opposed to finding a problem it reports).
#[derive(thiserror::Error, Debug)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A scenario file is not a scenario.
    #[error("{path}: {error}")]
    Scenario {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and field.
        error: kulta::sim::scenario::ScenarioError,
    },
    /// A trace file is not a trace.
    #[error("{path}: {error}")]
    Trace {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and field.
        error: kulta::trace::TraceError,
    },
    /// Output could not be written.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// Output could not be encoded.
    #[error("encoding output: {0}")]
    Encode(#[from] serde_json::Error),
    /// The operator failed.
    #[error("{0}")]
    Operator(#[from] crate::operator::OperatorError),
    /// A command talking to the cluster failed.
    #[error("{0}")]
    Control(#[from] control::ControlError),
}

/// How a command ended when it did its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All good.
    Ok,
    /// It found what it looks for: a divergence, a broken invariant.
    Found,
}
