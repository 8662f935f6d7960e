//! The `kulta` command line: offline commands that read files and print to a writer, the
//! operator (`run`), and the commands for people that talk to a cluster.

pub mod cluster;
pub mod control;
pub mod convert;
pub mod crds;
pub mod demo;
pub mod get;
pub mod lint;
pub mod manifest;
pub mod plan;
pub mod replay;
pub mod run;
pub mod simulate;
pub mod svg;
pub mod view;
pub mod wait;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use kulta::RequestAction;

use cluster::{ControlError, Session, parse_timeout};

/// The field manager of every write the commands make on a person's behalf (a request
/// annotation, the demo's objects), so the cluster can tell them from the operator's `kulta`.
pub const FIELD_MANAGER: &str = "kulta-cli";

/// Patch options naming [`FIELD_MANAGER`].
pub fn patch_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PatchParams::default()
    }
}

/// Create options naming [`FIELD_MANAGER`].
pub fn post_params() -> kube::api::PostParams {
    kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PostParams::default()
    }
}

/// KULTA progressive delivery controller.
#[derive(Parser)]
#[command(name = "kulta", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What `kubectl kulta --help` says: the plugin, not the binary.
const PLUGIN_ABOUT: &str = "KULTA progressive delivery, as a kubectl plugin: look at Rollouts \
(kulta.io/v1alpha1) and ask them to promote, abort, retry, pause or resume, in the namespace of \
your kubeconfig context unless -n says otherwise. Example: kubectl kulta get rollout web -w";

#[derive(Subcommand)]
enum Command {
    /// Run the whole product on an embedded simulated cluster: a canary that completes, then
    /// one that rolls back on a bad error rate. No cluster needed; finishes by itself.
    Demo(demo::DemoArgs),
    /// Print the Rollout CustomResourceDefinition as YAML.
    Crd {
        /// Print the Gateway API HTTPRoute CRD instead (as vendored in deploy/gateway-api/).
        #[arg(long)]
        httproute: bool,
    },
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
        /// Also draw the run as an SVG timeline here.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Turn Argo Rollouts Rollouts and Flagger Canaries into KULTA Rollouts (YAML on stdout),
    /// with a comment on every field that could not be carried over.
    Convert {
        /// Files with the Rollouts or Canaries and the templates and Deployments they use.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Exit 1 when any field was not carried over.
        #[arg(long)]
        strict: bool,
    },
    /// Check Rollout manifests offline: the CRD schema (unknown fields refused), the same
    /// validation the controller runs, and the Services and HTTPRoute they name when those are
    /// in the files too. Exit 1 when anything is wrong.
    Lint {
        /// Manifest files (several YAML documents each, as for `kubectl apply -f`); `-` reads
        /// standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show what a Rollout manifest would do before it ships: its timeline on a simulated
    /// cluster where the previous revision is stable and the template then changes, the time
    /// to full promotion, and the worst-case time to a rollback. Exit 1 when it would roll
    /// back, 3 when it would stall.
    Plan(plan::PlanArgs),
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
        /// Also draw the run as an SVG timeline here.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Run the operator until SIGTERM.
    Run(Box<run::RunArgs>),
    /// List rollouts, or show one as a live tree (`get rollout NAME --watch`).
    Get(GetArgs),
    /// Show a rollout's status; with --wait, follow it until it completes (exit 0), is rolled
    /// back (1), needs a person (3), has an invalid spec (2) or the timeout passes (124).
    Status {
        /// Rollout name.
        name: String,
        /// Namespace (the kubeconfig context's when absent).
        #[arg(long, short)]
        namespace: Option<String>,
        /// Follow the rollout until it finishes or needs a person.
        #[arg(long, short, visible_alias = "watch")]
        wait: bool,
        /// Give up waiting after this long (exit 124).
        #[arg(long, default_value = "10m")]
        timeout: String,
    },
    /// Skip the current pause or step (with --full: every remaining step and analysis).
    Promote {
        #[command(flatten)]
        request: RequestArgs,
        /// Promote all the way.
        #[arg(long)]
        full: bool,
    },
    /// Roll back now.
    Abort(RequestArgs),
    /// Start a failed rollout again from the first step.
    Retry(RequestArgs),
    /// Hold the rollout where it is.
    Pause(RequestArgs),
    /// Release a pause, or measure an inconclusive analysis again.
    Resume(RequestArgs),
}

/// The kinds `kulta get` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// Rollouts (also `rollouts`, `ro`).
    #[value(alias = "rollouts", alias = "ro")]
    Rollout,
}

/// `kulta get [rollout [NAME]]`.
#[derive(clap::Args)]
struct GetArgs {
    /// What to get: `rollout` (or `rollouts`, `ro`).
    kind: Option<Kind>,
    /// One rollout, shown as a tree.
    name: Option<String>,
    /// Namespace (the kubeconfig context's when absent).
    #[arg(long, short)]
    namespace: Option<String>,
    /// List rollouts in every namespace.
    #[arg(long, short = 'A')]
    all_namespaces: bool,
    /// Print the list as JSON, YAML, or a wider table.
    #[arg(long, short)]
    output: Option<get::Output>,
    /// Redraw the tree of one rollout as it changes.
    #[arg(long, short)]
    watch: bool,
    /// Stop watching after this long (default: until interrupted).
    #[arg(long)]
    timeout: Option<String>,
}

/// A rollout named on the command line, and whether to wait for the request to be handled.
#[derive(clap::Args)]
struct RequestArgs {
    /// Rollout name.
    name: String,
    /// Namespace (the kubeconfig context's when absent).
    #[arg(long, short)]
    namespace: Option<String>,
    /// Wait until the operator handled the request and say what happened (exit 1 when it was
    /// ignored, 124 on timeout).
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this long.
    #[arg(long, default_value = "2m")]
    timeout: String,
}

/// Which program the command line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `kulta`.
    Kulta,
    /// `kubectl-kulta`, run by kubectl as `kubectl kulta`.
    Plugin,
}

/// Parse the command line and run the command; the exit code says how it went (0 ok, 1 found
/// what it looks for or rolled back, 2 bad input or failure, 3 needs a person, 124 timed out).
pub fn main() -> ExitCode {
    main_as(Program::Kulta)
}

/// [`main`] for the given program: the plugin's help describes the plugin.
pub fn main_as(program: Program) -> ExitCode {
    let command = match program {
        Program::Kulta => Cli::command(),
        Program::Plugin => Cli::command()
            .name("kubectl-kulta")
            .bin_name("kubectl kulta")
            .about(PLUGIN_ABOUT),
    };
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    // Only the views for people are coloured (plain when piped); the offline commands write
    // their output untouched, without the cost of scanning it for escape codes.
    let coloured = matches!(cli.command, Command::Demo(_) | Command::Get(_));
    let (result, flushed) = if coloured {
        let mut out = std::io::BufWriter::new(anstream::AutoStream::auto(std::io::stdout().lock()));
        let result = dispatch(cli.command, &mut out);
        (result, out.flush())
    } else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let result = dispatch(cli.command, &mut out);
        (result, out.flush())
    };
    match (result, flushed) {
        (Ok(outcome), Ok(())) => outcome.exit_code(),
        (Err(error), _) => report(&error),
        (_, Err(error)) => report(&CliError::Output(error)),
    }
}

fn dispatch(command: Command, out: &mut impl Write) -> Result<Outcome, CliError> {
    match command {
        Command::Demo(args) => on_runtime(async move { Ok(demo::demo(&args, out).await?) }),
        Command::Crd { httproute } => crd(httproute, out),
        Command::Simulate {
            scenario,
            trace,
            json,
            svg,
        } => {
            let format = if json {
                simulate::Format::Json
            } else {
                simulate::Format::Text
            };
            simulate::simulate(&scenario, trace.as_deref(), svg.as_deref(), format, out)
        }
        Command::Convert { files, strict } => {
            convert::convert(&files, strict, out, &mut std::io::stderr().lock())
        }
        Command::Lint { files } => lint::lint(&files, out),
        Command::Plan(args) => plan::plan(&args, out),
        Command::Replay {
            trace,
            verify,
            json,
            quiet,
            svg,
        } => {
            let options = replay::Options {
                verify,
                json,
                quiet,
            };
            let outcome = replay::replay(&trace, options, out)?;
            if let Some(svg) = svg {
                svg::replay_to_file(&trace, &svg)?;
            }
            Ok(outcome)
        }
        Command::Run(args) => on_runtime(async move {
            run::run(&args).await?;
            Ok(Outcome::Ok)
        }),
        Command::Get(args) => on_runtime(async move {
            let session = Session::connect().await?;
            let namespace = session.namespace_or_context(args.namespace.as_deref());
            match (args.kind, args.name) {
                (Some(Kind::Rollout), Some(name)) => {
                    let watch = if args.watch {
                        Some(args.timeout.as_deref().map(parse_timeout).transpose()?)
                    } else {
                        None
                    };
                    get::one(&session, &namespace, &name, watch, out).await?;
                }
                _ => {
                    let scope = if args.all_namespaces {
                        get::Scope::All
                    } else {
                        get::Scope::Namespace(namespace)
                    };
                    get::list(&session, &scope, args.output, out).await?;
                }
            }
            Ok(Outcome::Ok)
        }),
        Command::Status {
            name,
            namespace,
            wait,
            timeout,
        } => {
            let timeout = parse_timeout(&timeout)?;
            on_runtime(async move {
                let session = Session::connect().await?;
                let namespace = session.namespace_or_context(namespace.as_deref());
                Ok(wait::status(&session, &namespace, &name, wait, timeout, out).await?)
            })
        }
        Command::Promote { request, full } => {
            let action = if full {
                RequestAction::PromoteFull
            } else {
                RequestAction::Promote
            };
            ask(&request, action, out)
        }
        Command::Abort(request) => ask(&request, RequestAction::Abort, out),
        Command::Retry(request) => ask(&request, RequestAction::Retry, out),
        Command::Pause(request) => ask(&request, RequestAction::Pause, out),
        Command::Resume(request) => ask(&request, RequestAction::Resume, out),
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

fn ask(
    args: &RequestArgs,
    action: RequestAction,
    out: &mut impl Write,
) -> Result<Outcome, CliError> {
    let timeout: Duration = parse_timeout(&args.timeout)?;
    on_runtime(async {
        let session = Session::connect().await?;
        let namespace = session.namespace_or_context(args.namespace.as_deref());
        let name = &args.name;
        let request = control::request_in(&session, &namespace, name, action).await?;
        writeln!(out, "rollout {namespace}/{name}: requested {request}")?;
        out.flush()?;
        if !args.wait {
            return Ok(Outcome::Ok);
        }
        Ok(wait::request_handled(&session, &namespace, name, &request, timeout, out).await?)
    })
}

fn crd(httproute: bool, out: &mut impl Write) -> Result<Outcome, CliError> {
    let yaml = if httproute {
        crds::httproute_crd_yaml()
    } else {
        crate::crd_yaml()
    }
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
    /// A manifest file is not YAML objects.
    #[error("{path}: {message}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the document and line.
        message: String,
    },
    /// A command-line argument cannot be used.
    #[error("{0}")]
    Usage(String),
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
    Control(#[from] ControlError),
    /// The demo failed.
    #[error("{0}")]
    Demo(#[from] demo::DemoError),
}

/// How a command ended when it did its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All good (exit 0).
    Ok,
    /// It found what it looks for: a divergence, a broken invariant (exit 1).
    Found,
    /// The rollout was rolled back, or a request was ignored (exit 1).
    Failed,
    /// The rollout waits for a person (exit 3).
    NeedsPerson,
    /// What was asked about cannot work as written: an invalid spec (exit 2).
    BadInput,
    /// The wait timed out (exit 124, as `timeout(1)`).
    TimedOut,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::Found | Outcome::Failed => ExitCode::from(1),
            Outcome::NeedsPerson => ExitCode::from(3),
            Outcome::BadInput => ExitCode::from(2),
            Outcome::TimedOut => ExitCode::from(124),
        }
    }
}
