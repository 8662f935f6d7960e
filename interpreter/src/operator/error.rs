//! What can go wrong while operating, typed so that each has a metric label.

use kulta::ErrorCause;

/// An error of the operator's own work (not of a rollout: those are conditions).
#[derive(thiserror::Error, Debug)]
pub enum OperatorError {
    /// A Kubernetes API call failed.
    #[error("the Kubernetes API answered: {}", kube_message(.0))]
    Kube(#[from] kube::Error),
    /// The kubeconfig or in-cluster configuration could not be loaded.
    #[error("kubernetes configuration: {0}")]
    Config(String),
    /// Writing a trace or reading a token file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Serializing an object failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The health and metrics server could not start.
    #[error("metrics server on {address}: {source}")]
    Serve {
        /// Where it tried to listen.
        address: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A reconcile task panicked or was cancelled.
    #[error("reconcile task: {0}")]
    Task(String),
    /// The object lacks a field the API always sets.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// Lease timings that could elect two leaders.
    #[error("leader election: {0}")]
    Lease(#[from] kulta::leader::LeaseConfigError),
}

impl OperatorError {
    /// A short label for the `kulta_reconcile_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            OperatorError::Kube(_) => "kube",
            OperatorError::Config(_) => "config",
            OperatorError::Io { .. } => "io",
            OperatorError::Json(_) => "json",
            OperatorError::Serve { .. } => "serve",
            OperatorError::Missing(_) => "missing",
            OperatorError::Task(_) => "task",
            OperatorError::Lease(_) => "lease",
        }
    }
}

/// How a Kubernetes API error reads to a person acting on it.
pub fn kube_cause(error: &kube::Error) -> ErrorCause {
    match error {
        kube::Error::Api(status) => match status.code {
            404 => ErrorCause::NotFound,
            401 | 403 => ErrorCause::Forbidden,
            409 => ErrorCause::Conflict,
            400 | 422 => ErrorCause::Invalid,
            _ => ErrorCause::Server,
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => ErrorCause::Unreachable,
        _ => ErrorCause::Server,
    }
}

/// The message of a Kubernetes API error, without the client's wrapping.
pub fn kube_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// Whether an API error says the object does not exist.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// Whether an API error says the object changed since it was read.
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

/// Why an effect or a delivery failed, in the terms `step` reports to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// In a person's terms.
    pub cause: ErrorCause,
    /// The error.
    pub message: String,
}

impl Failure {
    /// A request that got no answer: refused, unresolvable, or timed out.
    pub fn unanswered(error: &reqwest::Error) -> Self {
        Failure {
            cause: if error.is_timeout() {
                ErrorCause::Timeout
            } else {
                ErrorCause::Unreachable
            },
            message: describe(error),
        }
    }
}

impl From<kube::Error> for Failure {
    fn from(error: kube::Error) -> Self {
        Failure {
            cause: kube_cause(&error),
            message: kube_message(&error),
        }
    }
}

impl From<super::system::httproute::edit::RouteError> for Failure {
    fn from(error: super::system::httproute::edit::RouteError) -> Self {
        Failure {
            cause: ErrorCause::Invalid,
            message: error.to_string(),
        }
    }
}

/// A reqwest error with its causes, which is where "connection refused" hides.
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
