//! What can stop a benchmark run, each said as a sentence.

/// Why the benchmark stopped.
#[derive(thiserror::Error, Debug)]
pub enum BenchError {
    /// A binary to start is missing.
    #[error("{0}")]
    Binary(String),
    /// A process could not be started.
    #[error("cannot start {0}: {1}")]
    Spawn(String, #[source] std::io::Error),
    /// A process misbehaved or `/proc` could not be read.
    #[error("{0}")]
    Proc(String),
    /// The simulator or the operator could not be reached.
    #[error("{what}: {source}")]
    Http {
        /// The request.
        what: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The simulator refused a request.
    #[error("{what}: the API answered {code}: {body}")]
    Api {
        /// The request.
        what: String,
        /// Its status code.
        code: u16,
        /// The answer.
        body: String,
    },
    /// A wait took longer than allowed.
    #[error("{0}")]
    Timeout(String),
    /// A file could not be written.
    #[error("{0}")]
    Io(String),
}
