//! How the commands for people reach a cluster: the kubeconfig (or in-cluster) configuration,
//! the namespace its context names, and errors as sentences that name the object and the
//! server.

use std::error::Error as _;

use kube::{Api, Client};
use kulta::Rollout;

/// The API group and version of the Rollout kind.
const ROLLOUT_API: &str = "kulta.io/v1alpha1";

/// Why a command talking to a cluster failed.
#[derive(thiserror::Error, Debug)]
pub enum ControlError {
    /// No cluster configuration could be loaded.
    #[error(
        "no Kubernetes configuration could be loaded ({0}); set KUBECONFIG or run inside a cluster"
    )]
    Config(String),
    /// The Rollout CRD is missing.
    #[error(
        "the Rollout kind ({ROLLOUT_API}) is not installed on {server}; install it with `kulta crd | kubectl apply -f -`"
    )]
    NoCrd {
        /// The API server.
        server: String,
    },
    /// The object does not exist.
    #[error("{object} was not found on {server}")]
    NotFound {
        /// `rollout shop/checkout`.
        object: String,
        /// The API server.
        server: String,
    },
    /// The API server answered with an error.
    #[error("{server} refused to {verb} {object}: {message} (HTTP {code}, {reason})")]
    Refused {
        /// What was being done.
        verb: &'static str,
        /// `rollout shop/checkout`.
        object: String,
        /// The API server.
        server: String,
        /// The server's message.
        message: String,
        /// HTTP status.
        code: u16,
        /// The server's one-word reason.
        reason: String,
    },
    /// The API server could not be reached or answered something unreadable.
    #[error("could not {verb} {object} on {server}: {cause}")]
    Unreachable {
        /// What was being done.
        verb: &'static str,
        /// `rollout shop/checkout`.
        object: String,
        /// The API server.
        server: String,
        /// The chain of causes, as text.
        cause: String,
    },
    /// Output could not be written.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// Output could not be encoded.
    #[error("encoding output: {0}")]
    Encode(String),
    /// A duration on the command line is not one.
    #[error("--timeout {value:?} is not a duration such as 30s, 5m or 1h: {error}")]
    Timeout {
        /// What was given.
        value: String,
        /// Why it is not a duration.
        error: humantime::DurationError,
    },
}

/// A connection to a cluster, and the namespace its configuration names.
#[derive(Clone)]
pub struct Session {
    /// The client.
    pub client: Client,
    /// The kubeconfig context's namespace (or the pod's, in a cluster; `default` otherwise).
    pub namespace: String,
    /// The API server's URL, for messages.
    pub server: String,
}

impl Session {
    /// Load the configuration as kubectl would (`KUBECONFIG`, `~/.kube/config`, in-cluster).
    pub async fn connect() -> Result<Self, ControlError> {
        let config = kube::Config::infer()
            .await
            .map_err(|error| ControlError::Config(error.to_string()))?;
        Self::from_config(config)
    }

    /// A session on a client made elsewhere; messages call its server "the API server".
    pub fn from_client(client: Client) -> Self {
        Session {
            namespace: client.default_namespace().to_string(),
            client,
            server: "the API server".to_string(),
        }
    }

    /// A session on an explicit configuration.
    pub fn from_config(config: kube::Config) -> Result<Self, ControlError> {
        let namespace = config.default_namespace.clone();
        let server = config.cluster_url.to_string();
        let server = server.trim_end_matches('/').to_string();
        let client =
            Client::try_from(config).map_err(|error| ControlError::Config(error.to_string()))?;
        Ok(Session {
            client,
            namespace,
            server,
        })
    }

    /// The namespace given on the command line, or the context's.
    pub fn namespace_or_context(&self, given: Option<&str>) -> String {
        given.map_or_else(|| self.namespace.clone(), str::to_string)
    }

    /// The Rollouts of a namespace.
    pub fn rollouts(&self, namespace: &str) -> Api<Rollout> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Turn a client error into a sentence naming `object` and the server. A 404 for a
    /// missing kind (rather than a missing object) says how to install the CRD.
    pub async fn explain(
        &self,
        verb: &'static str,
        object: String,
        error: kube::Error,
    ) -> ControlError {
        match error {
            kube::Error::Api(status) if status.code == 404 => {
                if self.rollout_kind_served().await {
                    ControlError::NotFound {
                        object,
                        server: self.server.clone(),
                    }
                } else {
                    ControlError::NoCrd {
                        server: self.server.clone(),
                    }
                }
            }
            kube::Error::Api(status) => ControlError::Refused {
                verb,
                object,
                server: self.server.clone(),
                message: status.message.clone(),
                code: status.code,
                reason: status.reason.clone(),
            },
            other => ControlError::Unreachable {
                verb,
                object,
                server: self.server.clone(),
                cause: causes(&other),
            },
        }
    }

    /// Whether the server serves the Rollout kind.
    async fn rollout_kind_served(&self) -> bool {
        self.client
            .list_api_group_resources(ROLLOUT_API)
            .await
            .is_ok_and(|list| list.resources.iter().any(|r| r.name == "rollouts"))
    }
}

/// An error and its sources, innermost last, without the client's `Debug` dumps.
fn causes(error: &kube::Error) -> String {
    let mut text = match error {
        kube::Error::HyperError(_) | kube::Error::Service(_) => "the connection failed".to_string(),
        other => other.to_string(),
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `rollout shop/checkout`.
pub fn rollout_name(namespace: &str, name: &str) -> String {
    format!("rollout {namespace}/{name}")
}

/// Parse a `--timeout` value.
pub fn parse_timeout(value: &str) -> Result<std::time::Duration, ControlError> {
    humantime::parse_duration(value).map_err(|error| ControlError::Timeout {
        value: value.to_string(),
        error,
    })
}
