//! `kulta`: the KULTA command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kulta_interpreter::cli::{self, CliError, Outcome};

/// Replay and simulation allocate many small values; mimalloc serves them faster than the
/// system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
}

fn main() -> ExitCode {
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
                cli::simulate::Format::Json
            } else {
                cli::simulate::Format::Text
            };
            cli::simulate::simulate(&scenario, trace.as_deref(), format, &mut out)
        }
        Command::Replay {
            trace,
            verify,
            json,
            quiet,
        } => {
            let options = cli::replay::Options {
                verify,
                json,
                quiet,
            };
            cli::replay::replay(&trace, options, &mut out)
        }
    };
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(Outcome::Ok), Ok(())) => ExitCode::SUCCESS,
        (Ok(Outcome::Found), Ok(())) => ExitCode::from(1),
        (Err(error), _) => report(&error),
        (_, Err(error)) => report(&CliError::Output(error)),
    }
}

fn crd(out: &mut impl Write) -> Result<Outcome, CliError> {
    let yaml = kulta_interpreter::crd_yaml()
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
