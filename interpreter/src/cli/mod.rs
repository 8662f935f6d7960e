//! The `kulta` command line's offline commands: they read files and print to a writer.

pub mod replay;
pub mod simulate;

use std::path::PathBuf;

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
}

/// How a command ended when it did its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All good.
    Ok,
    /// It found what it looks for: a divergence, a broken invariant.
    Found,
}
