//! `kulta`: the KULTA command line.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match kulta_interpreter::crd_yaml() {
            Ok(yaml) => {
                let mut out = std::io::stdout().lock();
                match out.write_all(yaml.as_bytes()) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => report(&error),
                }
            }
            Err(error) => report(&error),
        },
    }
}

fn report(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("kulta: {error}");
    ExitCode::FAILURE
}
