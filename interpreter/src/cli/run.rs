//! `kulta run`: start the operator and run it until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use kulta::LeaseConfig;

use crate::operator::{self, LeaseSettings, OperatorError, Options, Retry, Settings, TokenSource};

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `kulta run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch only this namespace (repeatable); all namespaces when absent.
    #[arg(long = "namespace", short = 'n')]
    pub namespaces: Vec<String>,
    /// Only Rollouts matching this label selector, so that several controllers split a
    /// cluster (give each shard its own --lease-name).
    #[arg(long)]
    pub selector: Option<String>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Append every reconcile to DIR/<namespace>.<rollout>.jsonl (replay with `kulta replay`).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// CloudEvents HTTP sink for CDEvents.
    #[arg(long, value_name = "URL")]
    pub cdevents_sink: Option<String>,
    /// How long a CDEvent is retried before it is given up on (counted in
    /// kulta_cdevents_dropped_total and logged with its id).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub cdevents_retry_for: std::time::Duration,
    /// CDEvents environment id (default: the rollout's namespace).
    #[arg(long)]
    pub cdevents_environment: Option<String>,
    /// CloudEvents source of emitted events.
    #[arg(long, default_value = "/kulta")]
    pub cdevents_source: String,
    /// Bearer token for Prometheus, read from this file at every query.
    #[arg(long, value_name = "FILE", conflicts_with = "prometheus_token_secret")]
    pub prometheus_token_file: Option<PathBuf>,
    /// Bearer token for Prometheus from a Secret key, as NAMESPACE/NAME/KEY.
    #[arg(long, value_name = "NAMESPACE/NAME/KEY")]
    pub prometheus_token_secret: Option<String>,
    /// Timeout of each effect (API write, query).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub effect_timeout: Duration,
    /// Reconciles running at once, across every watched namespace.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// Reconcile every rollout at least this often.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub resync: Duration,
    /// Run without leader election (a single controller).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Namespace of the Lease.
    #[arg(long, default_value = "kulta-system")]
    pub lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, default_value = "kulta-controller")]
    pub lease_name: String,
    /// This controller's identity (default: $POD_NAME, else the host name and process id).
    #[arg(long)]
    pub identity: Option<String>,
    /// How long a lease lasts after its last renewal.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// The leader stops acting if it could not renew for this long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub renew_deadline: Duration,
    /// How often the leader renews and standbys retry.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry_period: Duration,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl RunArgs {
    /// The operator's options.
    pub fn options(&self) -> Result<Options, OperatorError> {
        let prometheus_token = match (&self.prometheus_token_file, &self.prometheus_token_secret) {
            (Some(path), _) => Some(TokenSource::File(path.clone())),
            (None, Some(reference)) => Some(secret_reference(reference)?),
            (None, None) => None,
        };
        let lease = (!self.no_leader_election).then(|| LeaseSettings {
            namespace: self.lease_namespace.clone(),
            name: self.lease_name.clone(),
            config: LeaseConfig {
                identity: self.identity.clone().unwrap_or_else(default_identity),
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
            },
        });
        Ok(Options {
            namespaces: self.namespaces.clone(),
            selector: self.selector.clone(),
            listen: Some(self.listen),
            record: self.record.clone(),
            cdevents_sink: self.cdevents_sink.clone(),
            sink_retry: Retry {
                attempts: u32::MAX,
                horizon: Some(self.cdevents_retry_for),
                ..Retry::default()
            },
            lease,
            workers: self.workers,
            settings: Settings {
                effect_timeout: self.effect_timeout,
                resync: self.resync,
                prometheus_token,
                cdevents_environment: self.cdevents_environment.clone(),
                cdevents_source: self.cdevents_source.clone(),
            },
        })
    }
}

fn secret_reference(reference: &str) -> Result<TokenSource, OperatorError> {
    let parts: Vec<&str> = reference.split('/').collect();
    match parts.as_slice() {
        [namespace, name, key] if !namespace.is_empty() && !name.is_empty() && !key.is_empty() => {
            Ok(TokenSource::Secret {
                namespace: namespace.to_string(),
                name: name.to_string(),
                key: key.to_string(),
            })
        }
        _ => Err(OperatorError::Config(format!(
            "--prometheus-token-secret {reference:?} is not NAMESPACE/NAME/KEY"
        ))),
    }
}

fn default_identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_else(|_| "kulta".into());
        format!("{host}-{}", std::process::id())
    })
}

/// Install the log subscriber (`RUST_LOG` filters; info by default).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Run until SIGTERM or Ctrl-C, then stop gracefully.
pub async fn run(args: &RunArgs) -> Result<(), OperatorError> {
    init_logging(args.log_format);
    let options = args.options()?;
    let client = kube::Client::try_default()
        .await
        .map_err(|error| OperatorError::Config(error.to_string()))?;
    let running = operator::start(client, options).await?;
    tracing::info!(health = ?running.health, "kulta is running");
    wait_for_signal().await;
    tracing::info!("shutting down: finishing reconciles in flight, then releasing the lease");
    running.stop().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; waiting for Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
