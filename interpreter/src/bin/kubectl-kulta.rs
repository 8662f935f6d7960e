//! `kubectl-kulta`: the `kulta` command line as a kubectl plugin (`kubectl kulta promote web`).

use std::process::ExitCode;

/// Replay and simulation allocate many small values; mimalloc serves them faster than the
/// system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    kulta_interpreter::cli::main_as(kulta_interpreter::cli::Program::Plugin)
}
